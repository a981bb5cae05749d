# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# secret_file against a real directory, with the file-system faults that a
# host can really hit (short writes, a full disk, a read-only file system, a
# planted symlink, two first runs at once) injected at the system-call level.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import grp
import hashlib
import json
import os
import pwd
import threading
from unittest import mock

import pytest

from ansible_collections.aiinfra.slurm.plugins.module_utils import key_files
from ansible_collections.aiinfra.slurm.plugins.modules import secret_file
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.module_runner import run_module

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
OLD = bytes(range(256)) * 4
NEW = os.urandom(1024)


def run_main(path, check_mode=False, diff=False, **params):
    """Run the module's main() as Ansible would; return (result, failed)."""
    args = dict(path=str(path), owner=OWNER, group=GROUP)
    args.update(params)
    return run_module(secret_file, args, check_mode, diff)


def b64(data):
    return base64.b64encode(data).decode()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def leftovers(directory):
    return [name for name in os.listdir(str(directory)) if name.startswith(".secret_file.")]


@pytest.fixture
def key(tmp_path):
    """An existing key, mode 0400, as the munge role leaves it."""
    path = tmp_path / "munge.key"
    path.write_bytes(OLD)
    path.chmod(0o400)
    return path


def test_generates_once_then_never_again(tmp_path):
    path = tmp_path / "munge.key"
    first, failed = run_main(path)
    assert not failed and first["changed"] and first["generated"]
    data = path.read_bytes()
    assert len(data) == 1024 and first["sha256"] == sha(data)
    assert oct(path.stat().st_mode & 0o7777) == "0o400"
    second, failed = run_main(path)
    assert not failed and not second["changed"] and not second["generated"]
    assert path.read_bytes() == data and second["sha256"] == first["sha256"]


def test_generated_size(tmp_path):
    result, failed = run_main(tmp_path / "jwt.key", size=32)
    assert not failed and (tmp_path / "jwt.key").stat().st_size == 32 and result["generated"]


def test_content_is_written_byte_exact_and_idempotent(key):
    result, failed = run_main(key, content=b64(NEW))
    assert not failed and result["changed"] and not result["generated"]
    assert key.read_bytes() == NEW and result["sha256"] == sha(NEW)
    assert "backup_file" not in result and sorted(os.listdir(str(key.parent))) == ["munge.key"]
    again, failed = run_main(key, content=b64(NEW))
    assert not failed and not again["changed"]


def test_backup_keeps_the_previous_key_beside_it(key):
    result, failed = run_main(key, content=b64(NEW), backup=True)
    assert not failed and result["changed"]
    backup = result["backup_file"]
    assert os.path.dirname(backup) == str(key.parent) and backup.endswith("~")
    with open(backup, "rb") as handle:
        assert handle.read() == OLD
    assert oct(os.stat(backup).st_mode & 0o7777) == "0o400"
    assert key.read_bytes() == NEW
    # Unchanged content: no second backup.
    again, failed = run_main(key, content=b64(NEW), backup=True)
    assert not failed and not again["changed"] and "backup_file" not in again
    assert len(os.listdir(str(key.parent))) == 2


def test_owner_and_mode_repaired_without_rewriting_content(key):
    key.chmod(0o644)
    inode = key.stat().st_ino
    result, failed = run_main(key, mode="0400")
    assert not failed and result["changed"] and not result["generated"]
    assert key.stat().st_ino == inode and key.read_bytes() == OLD
    assert oct(key.stat().st_mode & 0o7777) == "0o400"
    # The same with the content given: still no rewrite.
    key.chmod(0o640)
    result, failed = run_main(key, content=b64(OLD), mode="0400")
    assert not failed and result["changed"] and key.stat().st_ino == inode


def test_check_mode_and_diff_never_write_nor_show_the_key(key):
    result, failed = run_main(key, check_mode=True, diff=True, content=b64(NEW))
    assert not failed and result["changed"] and key.read_bytes() == OLD
    shown = json.dumps(result)
    assert b64(NEW) not in shown and b64(OLD) not in shown
    assert result["diff"]["before"].startswith("sha256 %s " % sha(OLD))
    assert result["diff"]["after"].startswith("sha256 %s " % sha(NEW))
    absent, failed = run_main(key.parent / "other.key", check_mode=True, diff=True)
    assert not failed and absent["changed"] and absent["diff"]["before"] == "absent\n"
    assert not (key.parent / "other.key").exists()


def test_short_writes_are_completed(tmp_path):
    real_write = os.write
    calls = []

    def short_write(fd, data):
        calls.append(len(data))
        return real_write(fd, bytes(data[:100]))

    path = tmp_path / "munge.key"
    with mock.patch.object(key_files.os, "write", short_write):
        result, failed = run_main(path, content=b64(NEW))
    assert not failed and len(calls) == 11
    assert path.read_bytes() == NEW and result["sha256"] == sha(NEW)


def test_bytes_lost_on_the_way_are_caught_before_the_rename(key):
    real_write = os.write

    def lying_write(fd, data):
        # Claims the whole buffer, writes a tenth: the read-back check must see it.
        real_write(fd, bytes(data[:len(data) // 10]))
        return len(data)

    with mock.patch.object(key_files.os, "write", lying_write):
        result, failed = run_main(key, content=b64(NEW))
    assert failed and "1024 bytes" in result["msg"] and "unchanged" in result["msg"]
    assert key.read_bytes() == OLD and leftovers(key.parent) == []


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "No space left on device"),
    (errno.EIO, "Input/output error"),
])
def test_write_errors_fail_clearly_with_the_old_key_intact(key, code, words):
    real_write = os.write
    state = {"calls": 0}

    def failing_write(fd, data):
        state["calls"] += 1
        if state["calls"] > 1:
            raise OSError(code, os.strerror(code))
        return real_write(fd, bytes(data[:512]))

    with mock.patch.object(key_files.os, "write", failing_write):
        result, failed = run_main(key, content=b64(NEW))
    assert failed and words in result["msg"] and str(key) in result["msg"]
    assert "Traceback" not in result["msg"]
    assert key.read_bytes() == OLD and leftovers(key.parent) == []


def test_read_only_file_system(key):
    real_open = os.open

    def read_only_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, flags, *args, **kwargs)

    with mock.patch.object(key_files.os, "open", read_only_open):
        result, failed = run_main(key, content=b64(NEW))
    assert failed and "Read-only file system" in result["msg"] and key.read_bytes() == OLD


def test_permission_denied_at_the_rename(key):
    with mock.patch.object(key_files.os, "rename", side_effect=OSError(errno.EACCES, os.strerror(errno.EACCES))):
        result, failed = run_main(key, content=b64(NEW), backup=True)
    assert failed and "Permission denied" in result["msg"]
    assert key.read_bytes() == OLD and leftovers(key.parent) == []


def test_backup_that_cannot_be_made_keeps_the_old_key(key):
    # A file system without hard links: no backup, so no replacement either.
    with mock.patch.object(key_files.os, "link", side_effect=OSError(errno.EPERM, os.strerror(errno.EPERM))):
        result, failed = run_main(key, content=b64(NEW), backup=True)
    assert failed and "keep a backup of" in result["msg"] and "Operation not permitted" in result["msg"]
    assert key.read_bytes() == OLD and sorted(os.listdir(str(key.parent))) == ["munge.key"]


def test_fsync_failure_keeps_the_old_key(key):
    with mock.patch.object(key_files.os, "fsync", side_effect=OSError(errno.EIO, os.strerror(errno.EIO))):
        result, failed = run_main(key, content=b64(NEW))
    assert failed and "Input/output error" in result["msg"]
    assert key.read_bytes() == OLD and leftovers(key.parent) == []


@pytest.mark.parametrize("params", [
    {},                                  # generate once
    {"content": b64(NEW)},               # install a given key
    {"content": b64(OLD), "mode": "0600"},  # owner and mode only
])
def test_symlink_at_the_path_is_refused_never_followed(tmp_path, params):
    target = tmp_path / "elsewhere"
    target.write_bytes(OLD)
    target.chmod(0o644)
    link = tmp_path / "munge.key"
    link.symlink_to(target)
    result, failed = run_main(link, **params)
    assert failed and "symbolic link" in result["msg"] and str(link) in result["msg"]
    assert link.is_symlink() and target.read_bytes() == OLD
    assert oct(target.stat().st_mode & 0o7777) == "0o644"


def test_dangling_symlink_does_not_create_its_target(tmp_path):
    link = tmp_path / "munge.key"
    link.symlink_to(tmp_path / "planted")
    result, failed = run_main(link)
    assert failed and "symbolic link" in result["msg"] and not (tmp_path / "planted").exists()


def test_symlink_planted_between_check_and_open_is_not_followed(key, tmp_path):
    # The race the lstat alone cannot close: O_NOFOLLOW refuses the link.
    target = tmp_path / "elsewhere"
    target.write_bytes(b"not a key")
    real_lstat = os.lstat
    state = {"calls": 0}

    def lstat_then_plant(name, *args, **kwargs):
        state["calls"] += 1
        st = real_lstat(name, *args, **kwargs)
        if state["calls"] == 1:
            key.unlink()
            key.symlink_to(target)
        return st

    with mock.patch.object(key_files.os, "lstat", lstat_then_plant):
        result, failed = run_main(key, content=b64(NEW))
    assert failed and "symbolic link" in result["msg"]
    assert target.read_bytes() == b"not a key"


def test_not_a_regular_file(tmp_path):
    (tmp_path / "munge.key").mkdir()
    result, failed = run_main(tmp_path / "munge.key")
    assert failed and "not a regular file" in result["msg"]


def test_missing_directory(tmp_path):
    result, failed = run_main(tmp_path / "nowhere" / "munge.key")
    assert failed and "does not exist" in result["msg"]


@pytest.mark.parametrize("params, words", [
    ({"content": "not base64!"}, "not valid base64"),
    ({"content": ""}, "zero bytes"),
    ({"mode": "0x400"}, "octal"),
    ({"size": 0}, "between 1 and 65536"),
    ({"owner": "no-such-user-here"}, "does not exist"),
])
def test_bad_input(tmp_path, params, words):
    result, failed = run_main(tmp_path / "munge.key", **params)
    assert failed and words in result["msg"] and not (tmp_path / "munge.key").exists()


def _race(tmp_path, params_list):
    """Run the module in threads that all reach the creation at the same moment."""
    path = tmp_path / "munge.key"
    barrier = threading.Barrier(len(params_list), timeout=10)
    real_create = key_files._SecretFile.create

    def create_together(self, *args):
        barrier.wait()
        return real_create(self, *args)

    results = [None] * len(params_list)

    def worker(index, params):
        results[index] = key_files.run(dict(dict(path=str(path), owner=OWNER, group=GROUP, mode="0400",
                                                 size=1024, content=None, backup=False), **params),
                                       check_mode=False, diff=False)

    with mock.patch.object(key_files._SecretFile, "create", create_together):
        threads = [threading.Thread(target=worker, args=(i, p)) for i, p in enumerate(params_list)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    return path, results


def test_concurrent_first_runs_end_with_one_key(tmp_path):
    path, results = _race(tmp_path, [{}, {}, {}])
    assert None not in results
    data = path.read_bytes()
    # Every run reports the key that is on disk; exactly one generated it.
    assert {result["sha256"] for result in results} == {sha(data)}
    assert sorted(result["generated"] for result in results) == [False, False, True]
    assert leftovers(tmp_path) == []


def test_concurrent_first_run_with_content_wins_over_a_generated_key(tmp_path):
    # A run that was given the key replaces whatever a generating run created.
    path, results = _race(tmp_path, [{}, {"content": b64(NEW)}])
    assert None not in results
    assert path.read_bytes() == NEW and results[1]["sha256"] == sha(NEW)
    assert leftovers(tmp_path) == []
