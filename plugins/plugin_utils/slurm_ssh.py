# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# Slurm's commands on a cluster host reached with the OpenSSH client, from the
# control node (the inventory plugin's `ssh` source). The local command is an
# argv list (never a local shell). OpenSSH itself hands the remote command to
# the remote user's shell as one string, so every word of it is quoted here
# with shlex.quote; the words are the plugin's own (scontrol, show, node) plus
# a validated path to scontrol, never free text from the cluster.
#
# Authentication: a key (BatchMode=yes: no prompt can hang the run), or a
# password given to sshpass through its environment (SSHPASS), never on a
# command line where `ps` would show it. Host keys: checked against the known
# hosts file (StrictHostKeyChecking=yes) or recorded on first contact
# (accept-new); never ignored.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shlex
import subprocess

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError

HOST_KEY_CHECKING = {'strict': 'yes', 'accept-new': 'accept-new'}
# One word, not an option: an ssh destination or user can never become a flag.
_WORD = re.compile(r'\A[^\s\x00-\x1f\x7f-][^\s\x00-\x1f\x7f]*\Z')
_PATH = re.compile(r'\A[^\x00-\x1f\x7f]+\Z')


class SshTarget(object):
    """A host to run Slurm commands on over SSH, with how to log in and how to check its host key."""

    def __init__(self, host, user=None, port=None, private_key_file=None, password=None, host_key_checking='strict',
                 known_hosts_file=None, ssh_args=None, timeout=30, scontrol_path='scontrol'):
        self.host = _word(host, 'ssh_host')
        self.user = _word(user, 'ssh_user') if user else None
        self.port = _port(port) if port not in (None, '') else None
        self.private_key_file = _path(private_key_file, 'ssh_private_key_file') if private_key_file else None
        # A vaulted value decrypts to text here.
        self.password = str(password) if password else None
        if host_key_checking not in HOST_KEY_CHECKING:
            raise SlurmError('ssh_host_key_checking must be one of %s, not %r'
                             % (', '.join(sorted(HOST_KEY_CHECKING)), host_key_checking))
        self.host_key_checking = host_key_checking
        self.known_hosts_file = _path(known_hosts_file, 'ssh_known_hosts_file') if known_hosts_file else None
        if not isinstance(ssh_args or [], list) or not all(isinstance(arg, str) for arg in ssh_args or []):
            raise SlurmError('ssh_args must be a list of strings, one ssh argument each')
        self.ssh_args = list(ssh_args or [])
        try:
            self.timeout = int(timeout)
        except (TypeError, ValueError):
            raise SlurmError('ssh_timeout must be a number of seconds, not %r' % (timeout,))
        self.scontrol_path = _path(scontrol_path or 'scontrol', 'scontrol_path')

    def argv(self, remote_argv):
        """The local argv that runs `remote_argv` on the host (each remote word quoted for the remote shell)."""
        options = ['-o', 'StrictHostKeyChecking=' + HOST_KEY_CHECKING[self.host_key_checking],
                   '-o', 'ConnectTimeout=%d' % self.timeout]
        if self.known_hosts_file:
            options += ['-o', 'UserKnownHostsFile=' + self.known_hosts_file]
        if self.password:
            # sshpass answers the password prompt; BatchMode would suppress that prompt.
            command = ['sshpass', '-e', 'ssh']
            options += ['-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1',
                        '-o', 'PreferredAuthentications=password,keyboard-interactive']
        else:
            command = ['ssh']
            options += ['-o', 'BatchMode=yes']
        if self.private_key_file:
            options += ['-i', self.private_key_file, '-o', 'IdentitiesOnly=yes']
        if self.port:
            options += ['-p', str(self.port)]
        if self.user:
            options += ['-l', self.user]
        return command + options + self.ssh_args + ['--', self.host, ' '.join(shlex.quote(word) for word in remote_argv)]

    def run(self, remote_argv):
        """Run `remote_argv` on the host; return its stdout. SlurmError (never with the password) on failure."""
        env = None
        if self.password:
            env = dict(os.environ, SSHPASS=self.password)
        argv = self.argv(remote_argv)
        shown = ' '.join(remote_argv)
        try:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=env, timeout=self.timeout * 4, check=False)
        except OSError as err:
            if self.password:
                raise SlurmError('ssh_password needs the sshpass command on the control node (%s): install it, or log '
                                 'in with a key (ssh_private_key_file)' % err.strerror)
            raise SlurmError('the ssh client is not installed on the control node (%s)' % err.strerror)
        except subprocess.TimeoutExpired:
            raise SlurmError('%s on %s did not finish within %d s' % (shown, self.host, self.timeout * 4))
        out = result.stdout.decode('utf-8', 'surrogateescape')
        err = result.stderr.decode('utf-8', 'surrogateescape').strip()
        if result.returncode == 0:
            return out
        said = _last_lines(err or out)
        if result.returncode == 255 or (self.password and result.returncode in (5, 6)):
            # 255: ssh's own failure; sshpass 5: wrong password, 6: host key unknown.
            hint = ''
            if 'Host key verification failed' in err or result.returncode == 6:
                hint = (': the host key of %s is not in the known hosts file; add it (ssh-keyscan, checked '
                        'out of band) or set ssh_host_key_checking: accept-new' % self.host)
            elif 'Permission denied' in err or result.returncode == 5:
                hint = ': login refused (user, key or password)'
            raise SlurmError('cannot reach %s over SSH (rc %d)%s: %s' % (self.host, result.returncode, hint, said),
                             rc=result.returncode, stderr=err)
        raise SlurmError('%s on %s failed (rc %d): %s' % (shown, self.host, result.returncode, said),
                         rc=result.returncode, stderr=err)


def _word(value, name):
    if not isinstance(value, str) or not _WORD.match(value):
        raise SlurmError('%s must be one word that does not start with "-", not %r' % (name, value))
    return value


def _path(value, name):
    if not isinstance(value, str) or not _PATH.match(value):
        raise SlurmError('%s must be a path without control characters, not %r' % (name, value))
    return value


def _port(value):
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise SlurmError('ssh_port must be a TCP port (1-65535), not %r' % (value,))
    return port


def _last_lines(said, count=3):
    lines = [line.strip() for line in (said or '').splitlines() if line.strip()]
    return ' / '.join(lines[-count:]) or 'no output'
