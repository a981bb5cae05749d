# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# apt_packages: names, dpkg-query's answers (captured on the lab's controller,
# trixie), the commands, when the lists are refreshed; and the module in check
# mode against this machine's own dpkg, where it has one.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.aiinfra.slurm.plugins.module_utils.apt_packages import (
    added_packages,
    install_argv,
    invalid_names,
    lists_stale,
    noted_text,
    package_states,
    query_argv,
    remove_argv,
    to_change,
)
from ansible_collections.aiinfra.slurm.plugins.modules import apt_packages
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.module_runner import run_module

# `dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\n' -- munge slurmd slurmctld python3-apt
# no-such-package` on lab-ctl (rc 1; stderr named slurmd and no-such-package).
LAB_CTL = "munge\tii \npython3-apt\tii \nslurmctld\tii \n"
# A package removed without purge, and one half-configured (dpkg's own letters).
REMOVED = "munge\trc \nslurmd\tiF \n"


def test_states_of_known_packages_only():
    assert package_states(LAB_CTL) == {"munge": "ii", "python3-apt": "ii", "slurmctld": "ii"}


def test_install_only_what_is_missing_in_the_given_order():
    states = package_states(LAB_CTL)
    assert to_change(["slurmd", "munge", "slurm-client"], states, "present", False) == ["slurmd", "slurm-client"]
    # Half-configured is not installed; apt-get install finishes it.
    assert to_change(["munge", "slurmd"], package_states(REMOVED), "present", False) == ["munge", "slurmd"]


def test_remove_and_purge():
    assert to_change(["munge", "slurmd"], package_states(LAB_CTL), "absent", False) == ["munge"]
    # A purge also takes what a remove left: configuration files.
    assert to_change(["munge", "slurmd"], package_states(REMOVED), "absent", True) == ["munge", "slurmd"]
    assert to_change(["munge", "slurmd"], package_states(REMOVED), "absent", False) == ["slurmd"]


@pytest.mark.parametrize("name", ["-o", "--allow-unauthenticated", "munge=0.5", "munge/trixie", "Munge", "a",
                                  "munge slurmd", "munge;reboot", ""])
def test_names_apt_get_would_read_otherwise_are_refused(name):
    assert invalid_names(["munge", name]) == [name]


def test_valid_names():
    assert invalid_names(["munge", "slurm-wlm-basic-plugins", "libc6:amd64", "g++", "python3.11"]) == []


def test_commands_are_argv_lists_with_the_names_after_the_options():
    assert query_argv(["munge", "libc6:amd64"])[-3:] == ["--", "munge", "libc6"]
    install = install_argv(["munge"], False)
    assert install[0] == "apt-get" and install[-3:] == ["install", "--", "munge"]
    assert "--no-install-recommends" in install and "Dpkg::Options::=--force-confold" in install
    assert "--install-recommends" in install_argv(["munge"], True)
    assert remove_argv(["munge"], True)[-3:] == ["purge", "--", "munge"]
    assert remove_argv(["munge"], False)[-3:] == ["remove", "--", "munge"]


# /var/lib/apt/lists on lab-ctl: the lists keep the server's times, the directory the refresh's.
LISTS = ["10.77.2.1:8077_trixie_._Packages", "auxfiles", "lock", "partial"]


@pytest.mark.parametrize("lists, sources, age, stale", [
    (LISTS, [100.0], 60, False),
    (LISTS, [100.0, 1500.0], 60, True),
    (["auxfiles", "lock", "partial"], [100.0], 60, True),
    (LISTS, [100.0], 90000, True),
], ids=["fresh", "source changed since", "no lists", "older than a day"])
def test_when_the_lists_are_refreshed(lists, sources, age, stale):
    assert lists_stale(1000.0, lists, sources, 1000.0 + age, 86400) is stale


FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "host")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def test_the_packages_an_install_added_dependencies_included():
    # `dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\n' --` on lab-node1 (bookworm) before and
    # after `apt-get install --no-install-recommends nginx`.
    before = fixture("dpkg-query-all-before-nginx-lab-node1.txt")
    after = fixture("dpkg-query-all-after-nginx-lab-node1.txt")
    assert added_packages(before, after) == ["nginx", "nginx-common"]
    assert added_packages(after, after) == []
    # A package left with its configuration files only is not installed.
    assert added_packages(before, after.replace("nginx-common\tii", "nginx-common\trc")) == ["nginx"]


def test_a_note_keeps_its_names_and_adds_the_new_ones_once():
    assert noted_text("", ["nginx", "openssl"]) == "nginx\nopenssl\n"
    assert noted_text("openssl\n", ["nginx", "openssl"]) == "openssl\nnginx\n"
    assert noted_text("openssl\n\n", []) == "openssl\n"
    assert noted_text("", []) == ""


def test_the_note_and_its_directory_are_made_then_added_to(tmp_path):
    # AnsibleModule's own atomic_move, under a umask that would leave a new file group-writable.
    module = mock.Mock(atomic_move=lambda src, dest: basic.AnsibleModule.atomic_move(mock.Mock(
        selinux_enabled=lambda: False, check_file_absent_if_check_mode=lambda path: False), src, dest))
    note = str(tmp_path / "notes" / "slurmdbd.installed")
    old_umask = os.umask(0o002)
    try:
        apt_packages.write_note(module, note, ["mariadb-server", "galera-4"])
    finally:
        os.umask(old_umask)
    assert open(note).read() == "mariadb-server\ngalera-4\n"
    assert oct(os.stat(note).st_mode & 0o777) == "0o644"
    assert oct(os.stat(str(tmp_path / "notes")).st_mode & 0o777) == "0o755"
    apt_packages.write_note(module, note, ["galera-4", "gawk"])
    assert open(note).read() == "mariadb-server\ngalera-4\ngawk\n"
    assert os.listdir(str(tmp_path / "notes")) == ["slurmdbd.installed"]


needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg on this machine")


@needs_dpkg
def test_check_mode_plans_the_missing_package_and_changes_nothing():
    result, failed = run_module(apt_packages, dict(name=["dpkg", "aiinfra-no-such-package"]), check_mode=True,
                                diff=True)
    assert not failed and result["changed"] and result["changed_packages"] == ["aiinfra-no-such-package"]
    assert result["diff"]["after"] == "aiinfra-no-such-package installed\n"
    assert result["cache_updated"] is False


@needs_dpkg
def test_check_mode_writes_no_note(tmp_path):
    note = str(tmp_path / "proxy.installed")
    result, failed = run_module(apt_packages, dict(name=["dpkg", "aiinfra-no-such-package"], note=note,
                                                   note_dependencies=True), check_mode=True)
    assert not failed and result["noted"] == ["aiinfra-no-such-package"]
    assert not os.path.exists(note)


@needs_dpkg
def test_an_installed_package_is_no_change():
    result, failed = run_module(apt_packages, dict(name=["dpkg"]))
    assert not failed and not result["changed"] and result["changed_packages"] == []
    result, failed = run_module(apt_packages, dict(name=["aiinfra-no-such-package"], state="absent", purge=True))
    assert not failed and not result["changed"]


def test_a_bad_name_fails_before_anything_runs():
    result, failed = run_module(apt_packages, dict(name=["munge", "--allow-unauthenticated"]))
    assert failed and "'--allow-unauthenticated'" in result["msg"] and result["msg"].endswith("Nothing was changed.")
