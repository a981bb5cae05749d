# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# The CLI backend: Slurm through scontrol, squeue, sbatch and scancel on
# the managed host, always as argv lists through module.run_command (never a
# shell), so names and reasons cannot turn into commands.
#
# What it reads, checked on Slurm 22.05.8 and 24.11.5 (the exact command lines
# and their real output are in tests/unit/fixtures/slurm/cli-*/cmd-*.yml, made
# by capture_cli.py there):
#
# - Nodes: `scontrol show node [HOSTLIST]` as text on every version (see
#   parse_node_records): 0.07 s for 10,000 nodes, where 24.11's --json takes
#   1.5 s and 22.05's `sinfo --json` 0.6 s. Unknown names: "Node X not found"
#   after the others, rc 1.
# - Jobs: 22.05 `squeue --json` prints every job slurmctld knows, finished ones
#   included, and ignores --jobs. 23.02+: `scontrol show job [ID] --json`.
# - Partitions: 22.05 `scontrol --oneliner show partition` (text, one
#   partition a line of Key=Value words); 23.02+ `scontrol show partition --json`.
# - Cluster name: `scontrol show config` (ClusterName = lab).
#
# Pitfalls the callers are spared: plain `scancel N` exits 0 for an unknown
# job (cancel_job looks first); scontrol's errors are one terse line on stderr
# ("Invalid job id specified"), turned here into messages naming the job or
# nodes and the likely cause. Runs on managed hosts: Python 3.6, standard
# library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.aiinfra.slurm.plugins.module_utils.hostlist import compress
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_backend import SlurmBackend, job_id_list, name_list
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_data import (
    normalize_job,
    normalize_node,
    normalize_partition,
    number,
)
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_vocabulary import (
    integer,
    job_action,
    job_spec,
    node_state,
    signal_name,
    text,
    valid_job_id,
)

# `scontrol show node|job|partition --json` exists from this release on.
SCONTROL_JSON = (23, 2)
# POWER_DOWN_ASAP and POWER_DOWN_FORCE exist from this release on.
POWER_DOWN_VARIANTS = (21, 8)

_TIME = re.compile(r'(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)\Z')

# scontrol's and sbatch's terse errors (stderr), with what they mean for the
# caller. The first match wins; %(what)s names the nodes or the job.
_ERRORS = (
    ('Invalid node name specified', 'unknown node name in %(what)s'),
    ('Invalid node state specified',
     'Slurm refused this state change for %(what)s: not a valid transition from the current state (RESUME needs a '
     'drained, down or failed node, IDLE a down one; POWER_* states need power saving configured: SuspendProgram, '
     'ResumeProgram, SuspendTime)'),
    ('You must specify a reason', 'a reason is required to set %(what)s down or drained'),
    ('Invalid input: State=', 'scontrol does not know this node state'),
    ('Active features not subset of available features',
     'the active features of %(what)s would not be a subset of the available ones'),
    ('Invalid job id specified', '%(what)s does not exist'),
    # scontrol suspend/resume/hold say this for an unknown job, and when slurmctld is down.
    ('Unexpected message received', 'Slurm gave no usable answer for %(what)s: it may not exist, or slurmctld '
                                    'may be unreachable'),
    ('Job is pending execution', '%(what)s is pending: it must run first'),
    ('Job is not suspended', '%(what)s is not suspended'),
    ('Job has already finished', '%(what)s has already finished'),
    ('already completing or completed', '%(what)s has already finished'),
    ('Job can not be altered now', 'Slurm cannot signal %(what)s now (a pending job receives no signals)'),
    ('Invalid partition name specified', 'the partition does not exist'),
    ('Unable to contact slurm controller', 'slurmctld cannot be reached'),
    ('is DOWN', 'slurmctld is down'),
    ('Access/permission denied', 'permission denied (only root, SlurmUser or an operator may do this)'),
)
# What the commands say while slurmctld cannot be reached (restarting, say):
# worth asking again later. After a socket timeout the request may have
# been carried out.
_TRANSIENT = ('Unable to contact slurm controller', 'Connection refused', 'is DOWN', 'Socket timed out',
              'Zero Bytes were transmitted')
_UNSURE = ('Socket timed out',)


class CliBackend(SlurmBackend):
    """Slurm through its commands on this host. `module` runs them (run_command, get_bin_path)."""

    name = 'cli'

    def __init__(self, module):
        self.module = module
        self._paths = {}
        self._release = None
        self._version = None
        self._cluster = None

    # -- running commands -----------------------------------------------------

    def run(self, argv, data=None, environ=None, what=None, secret=False, large=False, accept=None):
        """Run one Slurm command (argv[0] looked up in PATH); return its stdout.

        Raises SlurmError when it exits non-zero, explained where the error is
        known (`what` names the nodes or job in the message), unless
        accept(rc, stdout, stderr) says that exit is fine. With `secret` stdout
        stays out of the error (a token). `large`: output of many MB (see
        _ReadAll).
        """
        command = argv[0]
        if command not in self._paths:
            path = self.module.get_bin_path(command)
            if not path:
                raise SlurmError('%s is not installed on this host: run the module where the Slurm client commands '
                                 'work (e.g. the controller), or use api=rest' % command)
            self._paths[command] = path
        cmd = [self._paths[command]] + list(argv[1:])
        read = _ReadAll() if large else None
        # binary_data: a script goes to sbatch exactly as given (no extra newline).
        # expand_user_and_vars off: "$USER" or "~" in a reason stays text, as slurmctld stores it.
        rc, out, err = self.module.run_command(cmd, data=data, binary_data=True, environ_update=environ,
                                               before_communicate_callback=read, expand_user_and_vars=False)
        if read is not None and read.data is not None:
            out = read.data
        if rc != 0 and not (accept and accept(rc, out, err)):
            details = dict(cmd=cmd, rc=rc, stderr=err)
            if not secret:
                details['stdout'] = out
            said = err or out or ''
            details['transient'] = any(needle in said for needle in _TRANSIENT)
            details['unsure'] = any(needle in said for needle in _UNSURE)
            raise SlurmError(_explain(command, rc, out if not secret else '', err, what), **details)
        return out

    def _json(self, argv):
        for attempt in (1, 2):
            doc = self._json_document(argv)
            errors = [error for error in doc.get('errors') or [] if isinstance(error, dict)]
            if not errors:
                return doc
            # 22.05 says only "Unspecified error" (errno -1), exit 0, when slurmctld is
            # down: ask it, so that the message says so. When it answers, it may have
            # come back in between (a restart): ask once more before failing.
            self.run(['scontrol', 'ping'], what='slurmctld')
        said = '; '.join(error.get('description') or error.get('error') or str(error) for error in errors)
        raise SlurmError('%s failed: %s' % (' '.join(argv), said), cmd=argv, errors=errors)

    def _json_document(self, argv):
        out = self.run(argv, large=True)
        try:
            doc = json.loads(out)
        except ValueError as err:
            raise SlurmError('%s printed no valid JSON: %s' % (' '.join(argv), err), cmd=argv, stdout=out[:4000])
        if not isinstance(doc, dict):
            raise SlurmError('%s printed JSON that is not an object: %s' % (' '.join(argv), out[:200]), cmd=argv,
                             stdout=out[:4000])
        return doc

    # -- what the cluster is --------------------------------------------------

    def version(self):
        """Slurm's release, e.g. "22.05.8" (of the client commands here)."""
        if self._release is None:
            out = self.run(['scontrol', '--version'])
            # "slurm 24.11.5", Debian: "slurm-wlm 22.05.8"
            match = re.search(r'(\d+)\.(\d+)\.(\S+)', out)
            if not match:
                raise SlurmError('cannot read the Slurm version from scontrol --version: %r' % out.strip())
            self._release = match.group(0)
            self._version = (int(match.group(1)), int(match.group(2)))
        return self._release

    def version_tuple(self):
        """(major, minor), e.g. (22, 5)."""
        self.version()
        return self._version

    def cluster_name(self):
        if self._cluster is None:
            out = self.run(['scontrol', 'show', 'config'])
            match = re.search(r'^ClusterName\s*=\s*(\S+)', out, re.M)
            if not match:
                raise SlurmError('scontrol show config names no ClusterName')
            self._cluster = match.group(1)
        return self._cluster

    def _scontrol_json(self):
        return self.version_tuple() >= SCONTROL_JSON

    # -- reading ----------------------------------------------------------------

    def nodes(self, names=None):
        """Normalized nodes: all of them, or those of `names` that exist, in the order asked."""
        wanted = None if names is None else name_list(names)
        if wanted is not None and not wanted:
            return []
        argv = ['scontrol', 'show', 'node'] + ([compress(wanted)] if wanted else [])
        # Unknown names: scontrol prints "Node X not found" after the others, rc 1.
        out = self.run(argv, large=True, accept=_only_unknown_nodes)
        nodes = parse_node_records(out)
        if wanted is None:
            return nodes
        found = dict((node['name'], node) for node in nodes)
        return [found[name] for name in wanted if name in found]

    def partitions(self):
        if self._scontrol_json():
            return [normalize_partition(raw) for raw in
                    self._json(['scontrol', 'show', 'partition', '--json']).get('partitions') or []]
        out = self.run(['scontrol', '--oneliner', 'show', 'partition'])
        return [parse_partition_line(line) for line in out.splitlines() if line.startswith('PartitionName=')]

    def jobs(self, job_ids=None):
        wanted = None if job_ids is None else [valid_job_id(one) for one in job_id_list(job_ids)]
        if wanted is not None and not wanted:
            return []
        if not self._scontrol_json():
            argv = ['squeue', '--json']
        elif wanted is not None and len(wanted) == 1:
            argv = ['scontrol', 'show', 'job', str(wanted[0]), '--json']
        else:
            argv = ['scontrol', 'show', 'job', '--json']
        for attempt in (1, 2):
            raw = self._json(argv).get('jobs') or []
            if wanted is None:
                jobs = [normalize_job(record) for record in raw]
            else:
                # An array job's id also brings its tasks: keep the records asked for.
                found = dict((job['job_id'], job) for job in
                             (normalize_job(record) for record in raw if number(record.get('job_id')) in wanted))
                jobs = [found[job_id] for job_id in wanted if job_id in found]
            if not self._scontrol_json() or (raw and len(jobs) == len(wanted or jobs)):
                break
            # 24.11's `scontrol show job --json` prints no job, no error and exits 0
            # when slurmctld is down: "no such job" must not be said then. When it
            # answers the ping, it may have come back in between: ask once more.
            self.run(['scontrol', 'ping'], what='slurmctld')
        return jobs

    # -- nodes --------------------------------------------------------------------

    def can_update_nodes(self):
        return True

    def update_nodes(self, names, state=None, reason=None, weight=None, features=None):
        """One `scontrol update NodeName=<hostlist> ...` for all names."""
        wanted = name_list(names)
        if not wanted:
            raise SlurmError('no node names given to update')
        hostlist = compress(wanted)
        argv = ['scontrol', 'update', 'NodeName=' + hostlist]
        if state is not None:
            state = node_state(state)
            if state in ('POWER_DOWN_ASAP', 'POWER_DOWN_FORCE') and self.version_tuple() < POWER_DOWN_VARIANTS:
                raise SlurmError('Slurm %s has no node state %s (it came with 21.08)' % (self.version(), state))
            argv.append('State=' + state)
        if reason is not None:
            argv.append('Reason=' + text(reason, 'reason'))
        if weight is not None:
            argv.append('Weight=%d' % integer(weight, 'weight'))
        if features is not None:
            value = ','.join(text(name, 'feature') for name in features if name)
            # Active features with the available ones, as slurm.conf sets them without a
            # node features plugin: dropping an active one alone fails ("Active features
            # not subset of available features").
            argv += ['AvailableFeatures=' + value, 'ActiveFeatures=' + value]
        if len(argv) == 3:
            return None
        self.run(argv, what='node(s) ' + hostlist)
        return None

    # -- jobs -------------------------------------------------------------------

    def control_job(self, job_id, action):
        action, job_id = job_action(action), valid_job_id(job_id)
        self.run(['scontrol', action, str(job_id)], what='job %d' % job_id)

    def cancel_job(self, job_id, signal=None):
        job_id = valid_job_id(job_id)
        argv = ['scancel']
        if signal is not None:
            argv.append('--signal=' + signal_name(signal))
        # Plain `scancel N` says nothing and exits 0 when job N does not exist.
        if not self.jobs([job_id]):
            raise SlurmError('job %d does not exist (or slurmctld has forgotten it: MinJobAge)' % job_id,
                             job_id=job_id)
        self.run(argv + [str(job_id)], what='job %d' % job_id)

    def submit_job(self, spec):
        spec = job_spec(spec)
        environ = spec['environment']
        argv = ['sbatch', '--parsable']
        options = (('name', '--job-name'), ('partition', '--partition'), ('nodes', '--nodes'), ('ntasks', '--ntasks'),
                   ('cpus_per_task', '--cpus-per-task'), ('time_limit', '--time'), ('comment', '--comment'),
                   ('working_directory', '--chdir'), ('output', '--output'))
        argv.extend('%s=%s' % (flag, spec[key]) for key, flag in options if key in spec)
        # Names only: the values travel in sbatch's own environment, so commas and
        # quotes in them need no escaping; the job gets these and SLURM_* only.
        argv.append('--export=' + ','.join(sorted(environ)))
        if 'wrap' in spec:
            argv.append('--wrap=' + spec['wrap'])
        out = self.run(argv, data=spec.get('script'), environ=environ, what='the job')
        # --parsable: "ID" or "ID;CLUSTER"
        match = re.match(r'\s*(\d+)', out)
        if not match:
            raise SlurmError('sbatch printed no job id: %r' % out.strip(), cmd=argv, stdout=out)
        return int(match.group(1))


class _ReadAll(object):
    """Read a command's whole stdout before run_command's own loop does.

    AnsibleModule.run_command collects output with `stdout += chunk` (32 kB
    chunks), which is quadratic in the size: 23 MB of node JSON took 6 s of
    copying, and 10,000 nodes are still 5 MB of text. Given as before_communicate_callback,
    this reads stdout to its end in one linear read (the pipe is still
    blocking then); run_command then finds it at EOF. Only for commands whose
    stderr stays small (a full stderr pipe would block the command meanwhile).
    """

    def __init__(self):
        self.data = None

    def __call__(self, process):
        self.data = process.stdout.read().decode('utf-8', 'surrogateescape')


# Parsing -----------------------------------------------------------------------

# Lines of `scontrol show node` that hold one free-text field each (spaces and
# "=" allowed); every other line is Key=Value words without spaces.
_FREE_TEXT_FIELDS = ('OS', 'Reason', 'Comment', 'Extra')
# Only the fields _raw_node reads. One pass of one regex over the text: a
# free-text field takes the rest of its line (so a "State=" inside a reason is
# not a field), a word field one word. At 10,000 nodes (5.9 MB) this is half
# the time of splitting every line into words.
_NODE_FIELD = re.compile(r'[\n ](?:(%s)=([^\n]*)|(%s)=(\S*))' % (
    '|'.join(_FREE_TEXT_FIELDS),
    '|'.join(('NodeName', 'State', 'CPUTot', 'RealMemory', 'AvailableFeatures', 'Partitions', 'Weight', 'NodeAddr'))))
# "Reason=disk check [root@2026-11-30T23:17:40]": who set it and when.
_REASON_SET_BY = re.compile(r'\s*\[[^\[\]\s]*@[^\[\]\s]*\]\s*$')
_NODE_NOT_FOUND = re.compile(r'^Node \S+ not found$', re.M)


def parse_node_records(out):
    """`scontrol show node` (multi-line, not --oneliner) as normalized nodes.

    The same records as `scontrol show node --json` (24.11) and `sinfo --json`
    (22.05) give, checked on both versions against captured output.
    Multi-line, because there Reason, Comment, Extra and OS, which may hold
    blanks and "=", are alone on their lines; on one line they cannot be told
    apart reliably.
    """
    records = []
    fields = None
    # Every record starts with "NodeName=" at the start of a line.
    for free_key, free_value, key, value in _NODE_FIELD.findall('\n' + out):
        if key == 'NodeName':
            fields = {'NodeName': value}
            records.append(fields)
        elif fields is not None:
            if free_key:
                fields[free_key] = free_value.rstrip()
            else:
                fields[key] = value
    return [normalize_node(_raw_node(fields)) for fields in records]


def _raw_node(fields):
    """The fields of one `scontrol show node` record in the shape of a JSON node record."""
    def listed(value):
        return '' if value in (None, '(null)') else value

    return {
        'name': fields.get('NodeName', ''),
        'state': (fields.get('State') or 'UNKNOWN').split('+'),
        'cpus': _field_number(fields.get('CPUTot')),
        'real_memory': _field_number(fields.get('RealMemory')),
        'features': listed(fields.get('AvailableFeatures')),
        'partitions': listed(fields.get('Partitions')),
        'reason': _REASON_SET_BY.sub('', fields.get('Reason') or ''),
        'weight': _field_number(fields.get('Weight')),
        'address': fields.get('NodeAddr', ''),
    }


def _only_unknown_nodes(rc, out, err):
    """scontrol show node's exit for names it does not know (the others are printed)."""
    return rc == 1 and not err.strip() and bool(_NODE_NOT_FOUND.search(out))


def parse_partition_line(line):
    """One line of `scontrol --oneliner show partition` as a normalized partition.

    The line is Key=Value words separated by spaces; values hold no spaces
    (TRES=cpu=4,mem=48210M,... keeps its own "=").
    """
    fields = dict(word.split('=', 1) for word in line.split() if '=' in word)
    return {
        'name': fields.get('PartitionName', ''),
        'state': fields.get('State', '').upper(),
        'nodes': '' if fields.get('Nodes') == '(null)' else fields.get('Nodes', ''),
        'total_nodes': _field_number(fields.get('TotalNodes')),
        'total_cpus': _field_number(fields.get('TotalCPUs')),
        'default': fields.get('Default') == 'YES' if 'Default' in fields else None,
        'max_time': parse_minutes(fields.get('MaxTime')),
    }


def parse_minutes(value):
    """scontrol's time limit ("UNLIMITED", "2-00:00:00", "12:00:00") in minutes, None when unlimited.

    Slurm keeps time limits in whole minutes; the seconds are always 00.
    """
    match = _TIME.match(value or '')
    if not match:
        return None
    days, hours, minutes = (int(part or 0) for part in match.groups()[:3])
    return days * 1440 + hours * 60 + minutes


def _explain(command, rc, out, err, what):
    said = (err or out or '').strip()
    for needle, meaning in _ERRORS:
        if needle in said:
            meaning = meaning % {'what': what or 'the target'}
            return '%s (%s failed, rc %d: %s)' % (meaning, command, rc, _line_with(said, needle))
    return '%s failed (rc %d): %s' % (command, rc, said or 'no output')


def _line_with(said, needle):
    """The line that says `needle` (scontrol ping follows it with a banner of asterisks)."""
    return next((line.strip() for line in said.splitlines() if needle in line), said.strip())


def _field_number(value):
    """A number field of scontrol's text, 0 when absent or not a number (N/A): Slurm's output is read leniently."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
