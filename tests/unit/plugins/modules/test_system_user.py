# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# system_user: the id checks and the commands, from passwd and group lines as
# hosts print them, and the module itself in check mode against this machine's
# own databases (it must change nothing here).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import pwd
import shutil
import subprocess

import pytest

from ansible_collections.aiinfra.slurm.plugins.module_utils.system_user import (
    account_entries,
    commands,
    from_entries,
    id_problems,
)
from ansible_collections.aiinfra.slurm.plugins.modules import system_user
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.module_runner import run_module

MUNGE = {"name": "munge", "uid": 64231, "gid": 64231, "home": "/nonexistent", "shell": "/usr/sbin/nologin"}


def passwd(line):
    return from_entries({"passwd": [line], "group": []})[0][0]


def group(line):
    return from_entries({"passwd": [], "group": [line]})[1][0]


# A lab host after the deploy (getent passwd munge; getent group munge), and one
# where Debian's munge package came first and picked a dynamic id.
DEPLOYED = ([passwd("munge:x:64231:64231::/nonexistent:/usr/sbin/nologin")], [group("munge:x:64231:")])
PACKAGE_FIRST = ([passwd("munge:x:100:101::/nonexistent:/usr/sbin/nologin")], [group("munge:x:101:")])


@pytest.mark.parametrize("users, groups, problems", [
    (DEPLOYED[0], DEPLOYED[1], []),
    ([], [], []),
    (PACKAGE_FIRST[0], PACKAGE_FIRST[1], ["user munge has uid 100", "group munge has gid 101"]),
    ([passwd("slurm:x:64231:64230::/nonexistent:/usr/sbin/nologin")], [group("slurm:x:64231:")],
     ["uid 64231 belongs to user slurm", "gid 64231 belongs to group slurm"]),
], ids=["deployed", "pure", "package first", "ids taken"])
def test_id_problems_name_each_conflict(users, groups, problems):
    assert id_problems(MUNGE, users, groups) == problems


def test_a_pure_host_gets_the_group_then_the_user():
    assert commands(MUNGE, None, None, "shadow") == [
        ["groupadd", "--system", "--gid", "64231", "munge"],
        ["useradd", "--system", "--uid", "64231", "--gid", "munge", "--home-dir", "/nonexistent",
         "--no-create-home", "--shell", "/usr/sbin/nologin", "munge"]]
    assert commands(MUNGE, None, None, "busybox") == [
        ["addgroup", "-S", "-g", "64231", "munge"],
        ["adduser", "-S", "-D", "-H", "-u", "64231", "-G", "munge", "-h", "/nonexistent", "-s",
         "/usr/sbin/nologin", "munge"]]


def test_a_deployed_host_needs_nothing():
    assert commands(MUNGE, DEPLOYED[0][0], DEPLOYED[1][0], "shadow") == []


def test_an_existing_user_gets_the_wanted_group_home_and_shell():
    user = passwd("munge:x:64231:100:MUNGE:/var/lib/munge:/bin/false")
    assert commands(MUNGE, user, DEPLOYED[1][0], "shadow") == [
        ["usermod", "--gid", "munge", "--home", "/nonexistent", "--shell", "/usr/sbin/nologin", "munge"]]


def test_a_group_alone_gets_its_user():
    assert commands(MUNGE, None, DEPLOYED[1][0], "shadow") == [
        ["useradd", "--system", "--uid", "64231", "--gid", "munge", "--home-dir", "/nonexistent",
         "--no-create-home", "--shell", "/usr/sbin/nologin", "munge"]]


# The module against this machine's databases, in check mode only.
ROOT = pwd.getpwuid(0)


def root_params(**changes):
    params = dict(name=ROOT.pw_name, uid=0, gid=grp.getgrnam(ROOT.pw_name).gr_gid, home=ROOT.pw_dir,
                  shell=ROOT.pw_shell, id_settings=["the_uid_var", "the_gid_var"])
    params.update(changes)
    return params


def test_a_matching_user_is_left_alone():
    result, failed = run_module(system_user, root_params(), check_mode=True, diff=True)
    assert not failed and not result["changed"] and result["commands"] == []
    assert result["diff"]["before"] == result["diff"]["after"]


def test_another_shell_is_a_change_it_only_plans_in_check_mode():
    result, failed = run_module(system_user, root_params(shell="/usr/sbin/nologin"), check_mode=True, diff=True)
    assert not failed and result["changed"]
    assert result["commands"] == [["usermod", "--shell", "/usr/sbin/nologin", ROOT.pw_name]]
    assert result["diff"]["after"]["shell"] == "/usr/sbin/nologin"
    assert pwd.getpwuid(0).pw_shell == ROOT.pw_shell


def test_other_ids_stop_with_the_problem_and_the_settings():
    result, failed = run_module(system_user, root_params(uid=4242), check_mode=True)
    assert failed
    assert result["msg"].startswith("user %s has uid 0." % ROOT.pw_name)
    assert "(the_uid_var, the_gid_var)" in result["msg"] and result["msg"].endswith("Nothing was changed.")


def test_a_missing_user_is_planned_with_its_group():
    name = "aiinfra-no-such-user"
    with pytest.raises(KeyError):
        pwd.getpwnam(name)
    result, failed = run_module(system_user, dict(name=name, uid=64999, gid=64999, home="/nonexistent",
                                                  shell="/usr/sbin/nologin"), check_mode=True)
    if any(entry.pw_uid == 64999 for entry in pwd.getpwall()) or any(entry.gr_gid == 64999 for entry in grp.getgrall()):
        assert failed and "64999 belongs to" in result["msg"]
        return
    assert not failed and result["changed"]
    assert [argv[0] for argv in result["commands"]] in (["groupadd", "useradd"], ["addgroup", "adduser"])
    with pytest.raises(KeyError):
        pwd.getpwnam(name)


@pytest.mark.parametrize("name", ["", "a:b", "a b"])
def test_an_invalid_name_changes_nothing(name):
    result, failed = run_module(system_user, dict(name=name, uid=64999, gid=64999, home="/nonexistent",
                                                  shell="/usr/sbin/nologin"))
    assert failed and "no valid user name" in result["msg"]


def getent(database, *keys):
    """What getent prints on this machine (exit 2: some key was not found), password fields as "x"."""
    result = subprocess.run(["getent", database] + [str(key) for key in keys], capture_output=True, text=True,
                            check=False)
    assert result.returncode in (0, 2), result.stderr
    return set(":".join(fields[:1] + ["x"] + fields[2:]) for fields in (line.split(":") for line in result.stdout.splitlines()))


@pytest.mark.skipif(shutil.which("getent") is None, reason="getent is not installed")
@pytest.mark.parametrize("name, uid, gid", [
    ("root", 0, 0),                    # one user found by name and id: printed once
    ("root", 65534, 65534),            # the id is another user's (nobody): both entries
    ("no-such-user-here", 0, 0),       # only the id's owner
    ("no-such-user-here", 4242424, 4242424),  # nothing at all, as on a pure host
])
def test_account_entries_are_what_getent_prints(name, uid, gid):
    entries = account_entries(name, uid, gid)
    assert set(entries["passwd"]) == getent("passwd", name, uid)
    assert set(entries["group"]) == getent("group", name, gid)
    assert len(entries["passwd"]) == len(set(entries["passwd"]))
