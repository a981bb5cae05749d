# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The handlers' rule (test plugin first_start), on probes parsed from
# `systemctl show` output captured in the lab (tests/unit/fixtures/host).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_host
from ansible_collections.aiinfra.slurm.plugins.test import first_start as plugin
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.test_slurm_host_facts import (
    NO_WANTS,
    ReplayModule,
)

first_start = plugin.first_start

HERE = Path(__file__).resolve()
FIXTURES = HERE.parents[2] / "fixtures" / "host"
PLUGIN_DIR = HERE.parents[4] / "plugins" / "test"
NAMES = ["munge", "slurmd", "slurmctld", "nosuch"]


def probe_of(fixture):
    """A slurm_host_facts register as the roles hold it: inspect() on captured `systemctl show` output."""
    module = ReplayModule({"systemctl": (0, (FIXTURES / fixture).read_text(), ""),
                           "sinfo": (0, (FIXTURES / "sinfo-V-lab-node1.txt").read_text(), "")})
    host, _drift = slurm_host.inspect(module, dict(NO_WANTS, services=NAMES),
                                      {"pkg_mgr": "apt", "service_mgr": "systemd"})
    return {"changed": False, "ansible_facts": {"slurm_host": host}}


NODE1 = probe_of("systemctl-show-lab-node1.txt")
# slurmd caught while it starts (an ExecStartPre that sleeps), munge running.
STARTING = probe_of("systemctl-show-slurmd-activating-lab-node1.txt")
CHANGED = {"changed": True}
UNCHANGED = {"changed": False}


def test_the_probe_keeps_the_active_state_beside_the_two_flags():
    host = STARTING["ansible_facts"]["slurm_host"]
    assert host["service_states"] == {"munge": "active", "slurmd": "activating", "slurmctld": "inactive",
                                      "nosuch": "inactive"}
    # The roles' absent paths stop a service whose flags are any true: only the two flags live there.
    assert host["services"] == {"munge": {"active": True, "enabled": True},
                                "slurmd": {"active": False, "enabled": True},
                                "slurmctld": {"active": False, "enabled": False},
                                "nosuch": {"active": False, "enabled": False}}
    assert not any(host["services"]["slurmctld"].values())


@pytest.mark.parametrize("started, probe, service, expected", [
    # slurmctld is not running on the compute node: a start that changed is its first.
    (CHANGED, NODE1, "slurmctld", True),
    # munged ran: its start task changed only by enabling it, so it must restart.
    (CHANGED, NODE1, "munge", False),
    # slurmd was starting at the probe: it read its files then, as a running one did.
    (CHANGED, STARTING, "slurmd", False),
    # A start task that reports no change started nothing.
    (UNCHANGED, NODE1, "slurmctld", False),
    # A start task that did not run (the role's default of an empty register).
    ({}, NODE1, "slurmctld", False),
    # A skipped start task.
    ({"changed": False, "skipped": True}, NODE1, "slurmctld", False),
    # A service the probe did not report counts as running: restarting is the safe side.
    (CHANGED, NODE1, "slurmdbd", False),
    (CHANGED, {}, "munge", False),
    (CHANGED, {"skipped": True, "changed": False}, "munge", False),
])
def test_first_start(started, probe, service, expected):
    assert first_start(started, probe, service) is expected


@pytest.mark.parametrize("state, expected", [
    ("active", False), ("activating", False), ("reloading", False), ("refreshing", False),
    # Stopping or stopped: the start task really starts it, with the new files.
    ("deactivating", True), ("inactive", True), ("failed", True),
    # A block without ActiveState: active (False) decides.
    ("", True),
])
def test_which_states_count_as_running(state, expected):
    probe = {"ansible_facts": {"slurm_host": {"services": {"slurmd": {"active": state == "active", "enabled": True}},
                                              "service_states": {"slurmd": state}}}}
    assert first_start(CHANGED, probe, "slurmd") is expected


def test_a_list_of_start_registers_changed_when_one_did():
    # slurmrestd: the systemd start skipped, the OpenRC one changed.
    assert first_start([{"skipped": True, "changed": False}, CHANGED], NODE1, "slurmctld") is True
    assert first_start([UNCHANGED, {}], NODE1, "slurmctld") is False


def test_a_stop_after_the_probe_makes_a_running_daemon_start_anew():
    # move_state.yml stops slurmctld after the probe found it running.
    assert first_start(CHANGED, NODE1, "munge", stopped_after_probe=CHANGED) is True
    assert first_start(CHANGED, NODE1, "munge", stopped_after_probe=UNCHANGED) is False
    assert first_start(CHANGED, NODE1, "munge", stopped_after_probe={}) is False
    # Without a start that changed there is no start at all.
    assert first_start(UNCHANGED, NODE1, "munge", stopped_after_probe=CHANGED) is False


def test_probes_without_a_state_fall_back_to_active():
    # OpenRC: slurm_host_facts reports only active and enabled.
    openrc = {"ansible_facts": {"slurm_host": {"services": {"slurmd": {"active": False, "enabled": True}}}}}
    assert first_start(CHANGED, openrc, "slurmd") is True
    openrc["ansible_facts"]["slurm_host"]["services"]["slurmd"]["active"] = True
    assert first_start(CHANGED, openrc, "slurmd") is False


def test_a_loop_register_changed_when_an_item_did():
    assert first_start({"changed": False, "results": [UNCHANGED, CHANGED]}, NODE1, "slurmctld") is True


@pytest.mark.parametrize("probe, service, message", [
    (NODE1, "", "service must be a unit name"),
    (NODE1, None, "service must be a unit name"),
    ("slurmd", "slurmd", "probe must be the register of aiinfra.slurm.slurm_host_facts, got str"),
    ([NODE1], "slurmd", "probe must be the register of aiinfra.slurm.slurm_host_facts, got list"),
])
def test_bad_arguments_are_named(probe, service, message):
    with pytest.raises(AnsibleFilterError, match="first_start: " + message):
        first_start(CHANGED, probe, service)


@pytest.mark.parametrize("probe, service, expected", [
    (NODE1, "munge", True), (NODE1, "slurmd", True), (NODE1, "slurmctld", False),
    # Caught starting: it may have read the old files, as a running one did.
    (STARTING, "slurmd", True), (STARTING, "slurmctld", False),
    # Not reported: running, so that what follows restarts it (the safe side).
    (NODE1, "slurmdbd", True), ({}, "munge", True),
])
def test_found_running(probe, service, expected):
    assert plugin.found_running(probe, service) is expected


def test_found_running_names_bad_arguments():
    with pytest.raises(AnsibleFilterError, match="found_running: service must be a unit name"):
        plugin.found_running(NODE1, "")
    with pytest.raises(AnsibleFilterError, match="found_running: probe must be the register"):
        plugin.found_running("slurmd", "slurmd")


def test_the_test_is_registered_and_documented_as_called():
    assert plugin.TestModule().tests() == {"first_start": first_start, "found_running": plugin.found_running}
    doc = yaml.safe_load((PLUGIN_DIR / "found_running.yml").read_text())["DOCUMENTATION"]
    assert doc["name"] == "found_running" and doc["positional"] == "service"
    assert sorted(doc["options"]) == ["_input", "service"]
    doc = yaml.safe_load((PLUGIN_DIR / "first_start.yml").read_text())
    documented = doc["DOCUMENTATION"]
    assert documented["name"] == "first_start"
    positional = [name.strip() for name in documented["positional"].split(",")]
    assert positional == list(inspect.signature(first_start).parameters)[1:]
    assert sorted(documented["options"]) == sorted(["_input"] + positional)
    assert [task["name"] for task in yaml.safe_load(doc["EXAMPLES"])] == [
        "Start munged", "Restart munged for a new key"]
