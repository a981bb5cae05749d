"""slurm_host_facts parsers, fed with output captured from the lab (tests/unit/fixtures/host)."""
from pathlib import Path

import pytest

from ansible_collections.aiinfra.slurm.plugins.modules import slurm_host_facts as facts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "host"


def fixture(name):
    return (FIXTURES / name).read_text()


@pytest.mark.parametrize("host, expected", [
    ("lab-ctl", {"munge": "0.5.15-2+deb12u1", "slurmd": None, "slurmctld": "22.05.8-4+deb12u3", "nosuch": None}),
    ("lab-node1", {"munge": "0.5.15-2+deb12u1", "slurmd": "22.05.8-4+deb12u3", "slurmctld": None, "nosuch": None}),
])
def test_installed_packages_from_dpkg_query(host, expected):
    names = ["munge", "slurmd", "slurmctld", "nosuch"]
    assert facts.parse_dpkg_query(fixture("dpkg-query-%s.txt" % host), names) == expected


@pytest.mark.parametrize("host, expected", [
    ("lab-ctl", {"munge": (True, True), "slurmd": (False, False), "slurmctld": (True, True),
                 "nosuch": (False, False)}),
    ("lab-node1", {"munge": (True, True), "slurmd": (True, True), "slurmctld": (False, False),
                   "nosuch": (False, False)}),
])
def test_service_states_from_systemctl_show(host, expected):
    names = ["munge", "slurmd", "slurmctld", "nosuch"]
    states = facts.parse_systemctl_show(fixture("systemctl-show-%s.txt" % host), names)
    assert {name: (state["active"], state["enabled"]) for name, state in states.items()} == expected


def test_resources_from_slurmd_c():
    assert facts.parse_slurmd_c(fixture("slurmd-C-lab-node1.txt")) == {
        "NodeName": "lab-node1", "CPUs": "2", "Boards": "1", "SocketsPerBoard": "1",
        "CoresPerSocket": "2", "ThreadsPerCore": "1", "RealMemory": "24105"}


def test_no_resources_without_output():
    assert facts.parse_slurmd_c("") is None


def test_idle_nodes_are_up():
    states = facts.parse_node_states(fixture("sinfo-states-lab-ctl.txt"))
    assert states == {"lab-node1": "idle", "lab-node2": "idle"}
    assert facts.nodes_not_up(states, ["lab-node1", "lab-node2"]) == {}


def test_drained_nodes_count_as_up_and_unlisted_ones_as_missing():
    states = facts.parse_node_states(fixture("sinfo-states-drained-lab-ctl.txt"))
    assert states["lab-node2"] == "drain"
    assert facts.nodes_not_up(states, ["lab-node1", "lab-node2", "lab-node3"]) == {"lab-node3": "missing"}


@pytest.mark.parametrize("state", ["down*", "idle*", "unk*", "down", "fail", "futr"])
def test_down_or_not_responding_nodes_are_not_up(state):
    assert facts.nodes_not_up({"n1": state}, ["n1"]) == {"n1": state}
