# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.aiinfra.slurm.plugins.module_utils.file_replace import replace_file


def module_with_real_atomic_move():
    # AnsibleModule's own atomic_move: it is what gives a new file 0666 less the umask.
    return mock.Mock(atomic_move=lambda src, dest: basic.AnsibleModule.atomic_move(mock.Mock(
        selinux_enabled=lambda: False, check_file_absent_if_check_mode=lambda path: False), src, dest))


def mode_of(path):
    return oct(os.stat(path).st_mode & 0o777)


def under_umask(umask, call, *args, **kwargs):
    old_umask = os.umask(umask)
    try:
        call(*args, **kwargs)
    finally:
        os.umask(old_umask)


def test_a_new_file_is_0644_whatever_the_umask(tmp_path):
    path = str(tmp_path / "slurm.conf")
    under_umask(0o002, replace_file, module_with_real_atomic_move(), path, b"ClusterName=lab\n")
    assert open(path, "rb").read() == b"ClusterName=lab\n"
    assert mode_of(path) == "0o644"
    assert os.listdir(str(tmp_path)) == ["slurm.conf"]


def test_an_existing_file_keeps_its_mode_unless_one_is_given(tmp_path):
    path = str(tmp_path / "slurmdbd.conf")
    with open(path, "wb") as handle:
        handle.write(b"old\n")
    os.chmod(path, 0o600)
    replace_file(module_with_real_atomic_move(), path, b"new\n")
    assert open(path, "rb").read() == b"new\n" and mode_of(path) == "0o600"
    replace_file(module_with_real_atomic_move(), path, b"newer\n", mode=0o640)
    assert open(path, "rb").read() == b"newer\n" and mode_of(path) == "0o640"
    assert os.listdir(str(tmp_path)) == ["slurmdbd.conf"]


def test_a_failed_move_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = str(tmp_path / "cgroup.conf")
    with open(path, "wb") as handle:
        handle.write(b"old\n")

    def failing_move(src, dest):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_file(mock.Mock(atomic_move=failing_move), path, b"new\n")
    assert open(path, "rb").read() == b"old\n"
    assert os.listdir(str(tmp_path)) == ["cgroup.conf"]


def test_a_new_file_is_never_more_open_than_0600_before_its_mode(tmp_path):
    path = str(tmp_path / "openssl.cnf")
    seen = []
    real = module_with_real_atomic_move()

    def watching_move(src, dest):
        real.atomic_move(src, dest)
        seen.append(mode_of(dest))

    under_umask(0o000, replace_file, mock.Mock(atomic_move=watching_move), path, b"[req]\n", mode=0o600)
    assert seen == ["0o600"] and mode_of(path) == "0o600"
    assert os.umask(0o022) == 0o022, "the umask of the process was not put back"
