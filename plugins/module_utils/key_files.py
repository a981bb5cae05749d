# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# How secret_file writes a key: byte-exact, never through a symlink, checked on
# disk before it replaces the old one, first keys created exclusively.
# Runs on managed hosts: Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import errno
import grp
import hashlib
import os
import pwd
import stat
import time


# The temporary file's prefix; a leftover from a killed run is recognisable.
_TMP_PREFIX = ".secret_file."


class SecretFileError(Exception):
    """A failure to report as it is: the message names the path and the cause."""


def _oserror(action, path, exc, outcome="the existing file, if any, is unchanged"):
    return SecretFileError("cannot %s %s: %s (%s)" % (action, path, exc.strerror or exc, outcome))


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


class _SecretFile(object):
    """One secret file, reached through a descriptor of its directory.

    Every operation is relative to that descriptor and never follows a symlink
    at the file's name: the owner of the directory (the munge user owns
    /etc/munge) could otherwise plant one and have root write the key elsewhere.
    """

    def __init__(self, path):
        self.path = path
        self.directory = os.path.dirname(path) or "."
        self.name = os.path.basename(path)
        if not self.name:
            raise SecretFileError("path %s names a directory, not a file" % path)
        try:
            self.dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise SecretFileError("the directory of %s does not exist" % path)
            raise _oserror("open the directory of", path, exc)

    def close(self):
        os.close(self.dir_fd)

    def lstat(self):
        """The file's stat, None when absent; refuses anything but a regular file."""
        try:
            st = os.lstat(self.name, dir_fd=self.dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _oserror("inspect", self.path, exc)
        if stat.S_ISLNK(st.st_mode):
            raise SecretFileError("%s is a symbolic link: refused, a secret is never written or read "
                                  "through a link (remove it if it is not expected)" % self.path)
        if not stat.S_ISREG(st.st_mode):
            raise SecretFileError("%s exists and is not a regular file" % self.path)
        return st

    def _open_existing(self, flags):
        try:
            return os.open(self.name, flags | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK, dir_fd=self.dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self.lstat()
            raise _oserror("open", self.path, exc)

    def read(self):
        """(content, stat) of the file, (None, None) when it does not exist."""
        if self.lstat() is None:
            return None, None
        fd = self._open_existing(os.O_RDONLY)
        if fd is None:
            return None, None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise SecretFileError("%s exists and is not a regular file" % self.path)
            return _read_all(fd), st
        except OSError as exc:
            raise _oserror("read", self.path, exc)
        finally:
            os.close(fd)

    def repair(self, uid, gid, mode):
        """Owner, group and mode of the existing file, on its descriptor; content untouched."""
        fd = self._open_existing(os.O_RDONLY)
        if fd is None:
            raise SecretFileError("%s disappeared while the task ran" % self.path)
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        except OSError as exc:
            raise _oserror("set owner and mode of", self.path, exc, "its content is unchanged")
        finally:
            os.close(fd)

    def _stage(self, data, uid, gid, mode):
        """A complete, checked and synced copy of data under a temporary name."""
        for attempt in range(100):
            tmp = "%s%s.%d" % (_TMP_PREFIX, base64.b32encode(os.urandom(5)).decode().lower(), attempt)
            try:
                # Mode 0600 from the start: the key never exists with a loose mode.
                fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=self.dir_fd)
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise _oserror("create a temporary file beside", self.path, exc)
        else:
            raise SecretFileError("cannot find a free temporary name beside %s" % self.path)
        try:
            _write_all(fd, data)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
            # What is on disk, not what we meant to write, decides.
            written = _read_all(fd)
            if len(written) != len(data) or hashlib.sha256(written).digest() != hashlib.sha256(data).digest():
                raise SecretFileError("%s: wrote %d bytes but %d different bytes are on disk; the existing file "
                                      "is unchanged" % (self.path, len(data), len(written)))
        except OSError as exc:
            os.close(fd)
            self._discard(tmp)
            raise _oserror("write", self.path, exc)
        except BaseException:
            os.close(fd)
            self._discard(tmp)
            raise
        os.close(fd)
        return tmp

    def _discard(self, tmp):
        try:
            os.unlink(tmp, dir_fd=self.dir_fd)
        except OSError:
            pass

    def _sync_directory(self):
        try:
            os.fsync(self.dir_fd)
        except OSError as exc:
            raise _oserror("sync the directory of", self.path, exc,
                           "the new file is in place but may not survive a crash; run again")

    def create(self, data, uid, gid, mode):
        """Create the file only if it does not exist; False when another writer was first."""
        tmp = self._stage(data, uid, gid, mode)
        try:
            # link() never replaces: of two concurrent first runs, one wins and
            # the other reads the winner's key instead of installing its own.
            os.link(tmp, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd, follow_symlinks=False)
        except FileExistsError:
            return False
        except OSError as exc:
            raise _oserror("create", self.path, exc)
        finally:
            self._discard(tmp)
        self._sync_directory()
        return True

    def replace(self, data, uid, gid, mode, backup):
        """Replace the file atomically; the previous one kept as a hard link when backup."""
        tmp = self._stage(data, uid, gid, mode)
        backup_name = None
        try:
            if backup:
                backup_name = self._link_backup()
            os.rename(tmp, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except OSError as exc:
            self._discard(tmp)
            raise _oserror("replace", self.path, exc)
        except BaseException:
            self._discard(tmp)
            raise
        self._sync_directory()
        return os.path.join(self.directory, backup_name) if backup_name else None

    def _link_backup(self):
        # A second name for the old file: same bytes, owner and mode, no copy
        # that could be truncated, and link() never follows a planted name.
        stamp = time.strftime("%Y-%m-%d@%H:%M:%S")
        for suffix in ("", ".%d" % os.getpid()) + tuple(".%d.%d" % (os.getpid(), n) for n in range(1, 50)):
            backup_name = "%s.%s%s~" % (self.name, stamp, suffix)
            try:
                os.link(self.name, backup_name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd,
                        follow_symlinks=False)
                return backup_name
            except FileExistsError:
                continue
            except OSError as exc:
                raise _oserror("keep a backup of", self.path, exc)
        raise SecretFileError("cannot find a free backup name beside %s" % self.path)


def _write_all(fd, data):
    # os.write may write less than asked (a full disk, a signal): loop until
    # every byte is written, and treat no progress as an error.
    view = memoryview(data)
    while view:
        count = os.write(fd, view)
        if count <= 0:
            raise OSError(errno.EIO, "no progress writing the file")
        view = view[count:]


def _read_all(fd):
    chunks, offset = [], 0
    while True:
        chunk = os.pread(fd, 65536, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _describe(exists, sha, owner, group, file_mode):
    if not exists:
        return "absent\n"
    return "sha256 %s owner %s group %s mode %04o\n" % (sha, owner, group, file_mode)


def run(params, check_mode, diff):
    """Bring the file to the wanted state; return the module result or raise SecretFileError."""
    path = params["path"]
    try:
        mode = int(params["mode"], 8)
    except ValueError:
        raise SecretFileError("mode must be an octal number such as 0400, not %r" % params["mode"])
    if not 0 <= mode <= 0o7777:
        raise SecretFileError("mode must be between 0000 and 7777, not %s" % params["mode"])
    if not 1 <= params["size"] <= 65536:
        raise SecretFileError("size must be between 1 and 65536 bytes, not %d" % params["size"])
    try:
        uid = pwd.getpwnam(params["owner"]).pw_uid
    except KeyError:
        raise SecretFileError("owner %r does not exist on this host" % params["owner"])
    try:
        gid = grp.getgrnam(params["group"]).gr_gid
    except KeyError:
        raise SecretFileError("group %r does not exist on this host" % params["group"])

    wanted = None
    if params["content"] is not None:
        try:
            wanted = base64.b64decode(params["content"], validate=True)
        except (binascii.Error, ValueError):
            raise SecretFileError("content is not valid base64 (the secret itself is not shown)")
        if not wanted:
            raise SecretFileError("content decodes to zero bytes")

    secret = _SecretFile(path)
    try:
        current, st = secret.read()
        before = (current, st)
        generated = False
        backup_file = None
        if wanted is None:
            if current is None:
                wanted = os.urandom(params["size"])
                generated = True
            else:
                wanted = current
        content_changed = current != wanted
        changed = content_changed or (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (uid, gid, mode)

        if changed and not check_mode:
            if current is None:
                if not secret.create(wanted, uid, gid, mode):
                    # Another run created the file first: theirs is the key.
                    current, st = secret.read()
                    if current is None:
                        raise SecretFileError("%s appeared and disappeared while the task ran" % path)
                    if params["content"] is None:
                        wanted, generated = current, False
                    if current != wanted:
                        backup_file = secret.replace(wanted, uid, gid, mode, params["backup"])
                    elif (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (uid, gid, mode):
                        secret.repair(uid, gid, mode)
            elif content_changed:
                backup_file = secret.replace(wanted, uid, gid, mode, params["backup"])
            else:
                secret.repair(uid, gid, mode)
    finally:
        secret.close()

    result = dict(changed=changed, sha256=hashlib.sha256(wanted).hexdigest(), generated=generated)
    if backup_file:
        result["backup_file"] = backup_file
    if diff:
        # Checksums only: enough to see that a key changes, useless to steal it.
        old, old_st = before
        result["diff"] = dict(
            before_header=path,
            after_header=path,
            before=_describe(
                old is not None,
                hashlib.sha256(old).hexdigest() if old is not None else "",
                _name(pwd.getpwuid, old_st.st_uid) if old_st else "",
                _name(grp.getgrgid, old_st.st_gid) if old_st else "",
                (old_st.st_mode & 0o7777) if old_st else 0,
            ),
            after=_describe(True, result["sha256"], params["owner"], params["group"], mode),
        )
    return result
