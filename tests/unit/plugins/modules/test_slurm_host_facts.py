"""slurm_host_facts parsers and drift, fed with output captured from the lab (tests/unit/fixtures/host)."""
import base64
import grp
import hashlib
import os
import pwd
from pathlib import Path

import pytest

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_host as facts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "host"


def fixture(name):
    return (FIXTURES / name).read_text()


# The options of a call that wants nothing.
NO_WANTS = {"packages": [], "files": [], "text_blocks": [], "services": [], "users": [], "detect_resources": False,
            "munge_roundtrip": False, "node_states": [], "rest_ping": None, "read": [],
            "certificates": []}


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


# Drift: what the roles print and act on.

class ReplayModule:
    """Answers each command with what the lab printed for it (tests/unit/fixtures/host)."""

    def __init__(self, outputs):
        self.outputs = outputs
        self.commands = []

    def get_bin_path(self, name):
        return "/usr/bin/" + name

    def run_command(self, argv, data=None):
        self.commands.append(argv)
        return self.outputs.get(os.path.basename(argv[0]), (127, "", "not captured"))


def test_a_compute_node_as_wanted_has_no_drift():
    module = ReplayModule({
        "dpkg-query": (0, fixture("dpkg-query-lab-node1.txt"), ""),
        "systemctl": (0, fixture("systemctl-show-lab-node1.txt"), ""),
        "sinfo": (0, fixture("sinfo-V-lab-node1.txt"), ""),
        "slurmd": (0, fixture("slurmd-C-lab-node1.txt"), ""),
    })
    params = dict(NO_WANTS, packages=["munge", "slurmd"], services=["munge", "slurmd"], detect_resources=True)
    host, drift = facts.inspect(module, params, {"pkg_mgr": "apt", "service_mgr": "systemd"})
    assert drift == []
    assert host["slurm_version"] == "22.05.8"
    assert host["resources"]["RealMemory"] == "24105"


def test_the_controller_wanted_as_a_compute_node_drifts_with_reasons():
    module = ReplayModule({
        "dpkg-query": (0, fixture("dpkg-query-lab-ctl.txt"), ""),
        "systemctl": (0, fixture("systemctl-show-lab-ctl.txt"), ""),
    })
    params = dict(NO_WANTS, packages=["munge", "slurmd"], services=["munge", "slurmd"])
    _host, drift = facts.inspect(module, params, {"pkg_mgr": "apt", "service_mgr": "systemd"})
    assert drift == ["package slurmd missing", "service slurmd stopped and not enabled"]


def test_nodes_not_up_are_drift_and_a_silent_slurmctld_says_so():
    states = facts.parse_node_states(fixture("sinfo-states-drained-lab-ctl.txt"))
    assert facts.node_drift(states, ["lab-node1", "lab-node2", "lab-node3"]) == ["node lab-node3 not up (missing)"]
    assert facts.node_drift({"n1": "down*"}, ["n1"]) == ["node n1 not up (down*)"]
    module = ReplayModule({"sinfo": (1, "", fixture("sinfo-states-slurmctld-down-lab-ctl.stderr.txt"))})
    _host, drift = facts.inspect(module, dict(NO_WANTS, node_states=["lab-node1"]), {"pkg_mgr": "apt",
                                                                                     "service_mgr": "systemd"})
    assert drift == ["node states unknown: sinfo failed (rc 1): slurm_load_partitions: "
                     "Unable to contact slurm controller (connect failure)"]


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "munge.key"
    path.write_bytes(KEY)
    path.chmod(0o400)
    return str(path)


KEY = bytes(range(256)) * 4
ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def test_a_file_as_wanted_has_no_drift(key_file):
    spec = {"path": key_file, "owner": ME, "group": MY_GROUP, "mode": "0400", "sha1": hashlib.sha1(KEY).hexdigest()}
    assert facts.file_drift(spec, facts.file_facts(key_file)) == []
    # A vaulted key is compared by the checksum of its decoded bytes.
    spec = {"path": key_file, "content_b64": base64.b64encode(KEY).decode(), "mode": "400"}
    assert facts.file_drift(spec, facts.file_facts(key_file)) == []


def test_wrong_owner_group_mode_and_content_are_each_a_reason(key_file):
    spec = {"path": key_file, "owner": "munge", "group": "munge", "mode": "0600", "sha1": "0" * 40}
    assert facts.file_drift(spec, facts.file_facts(key_file)) == [
        "file %s: owner %s, wanted munge" % (key_file, ME),
        "file %s: group %s, wanted munge" % (key_file, MY_GROUP),
        "file %s: mode 0400, wanted 0600" % key_file,
        "file %s: content differs" % key_file,
    ]
    spec = {"path": key_file, "content_b64": base64.b64encode(b"another key").decode()}
    assert facts.file_drift(spec, facts.file_facts(key_file)) == ["file %s: content differs" % key_file]


def test_missing_and_unwanted_files(tmp_path, key_file):
    missing = str(tmp_path / "nothing")
    assert facts.file_drift({"path": missing}, facts.file_facts(missing)) == ["file %s missing" % missing]
    assert facts.file_drift({"path": missing, "state": "absent"}, None) == []
    assert facts.file_drift({"path": key_file, "state": "absent"}, facts.file_facts(key_file)) == [
        "file %s present, wanted absent" % key_file]


def test_a_directory_is_compared_by_owner_group_and_mode(tmp_path):
    directory = tmp_path / "tls"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    found = facts.file_facts(str(directory))
    assert found["sha1"] is None
    spec = {"path": str(directory), "owner": ME, "group": MY_GROUP, "mode": "0700"}
    assert facts.file_drift(spec, found) == ["file %s: mode 0755, wanted 0700" % directory]
    directory.chmod(0o700)
    assert facts.file_drift(spec, facts.file_facts(str(directory))) == []


def test_read_returns_whole_text_files_and_none_for_a_missing_one(tmp_path):
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=lab\nSlurmctldHost=lab-ctl\n")
    module = ReplayModule({"sinfo": (0, fixture("sinfo-V-lab-node1.txt"), "")})
    params = dict(NO_WANTS, read=[str(conf), str(tmp_path / "nodes.conf")])
    host, drift = facts.inspect(module, params, {"pkg_mgr": "apt", "service_mgr": "systemd"})
    assert drift == []
    assert host["texts"] == {str(conf): "ClusterName=lab\nSlurmctldHost=lab-ctl\n", str(tmp_path / "nodes.conf"): None}
    assert host["slurm_version"] == "22.05.8"


def test_a_bad_base64_key_fails_without_showing_it():
    with pytest.raises(SlurmError) as error:
        facts.wanted_sha1({"path": "/etc/munge/munge.key", "content_b64": "not*base64"})
    assert "not*base64" not in str(error.value.msg)


def test_text_blocks():
    spec = {"path": "/etc/hosts", "block": "10.77.0.10 lab-ctl", "name": "cluster hosts block"}
    assert facts.text_block_drift(spec, "127.0.0.1 localhost\n10.77.0.10 lab-ctl\n") == []
    assert facts.text_block_drift(spec, "127.0.0.1 localhost\n") == [
        "file /etc/hosts: cluster hosts block missing or different"]
    assert facts.text_block_drift(spec, None) == ["file /etc/hosts missing or unreadable (wanted the cluster hosts block)"]


# Certificates: the proxy's, read by `openssl x509 -noout -checkend N -ext subjectAltName`.

LAB_CTL_NAMES = ["DNS:lab-ctl", "DNS:localhost", "IP:10.77.2.10", "IP:127.0.0.1"]


@pytest.mark.parametrize("name, expected", [
    ("openssl-x509-server-lab-ctl.txt", {"current": True, "names": LAB_CTL_NAMES}),
    ("openssl-x509-server-10y-lab-ctl.txt", {"current": False, "names": LAB_CTL_NAMES}),
    # The site CA's own certificate has no subjectAltName.
    ("openssl-x509-ca-lab-ctl.txt", {"current": True, "names": []}),
    # openssl prints an IPv6 address in full and upper case.
    ("openssl-x509-ipv6-1day-lab-ctl.txt", {"current": False,
                                            "names": ["DNS:lab-ctl", "IP:10.77.2.10", "IP:fd00::10"]}),
])
def test_certificate_end_and_names_from_openssl(name, expected):
    assert facts.parse_openssl_x509(fixture(name)) == expected


def certificate_probe(tmp_path, rc, out, err="", **spec):
    path = tmp_path / "server.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    module = ReplayModule({"openssl": (rc, out, err)})
    params = dict(NO_WANTS, certificates=[dict({"path": str(path), "valid_for": 2592000, "names": None}, **spec)])
    host, drift = facts.inspect(module, params, {"pkg_mgr": "apt", "service_mgr": "systemd"})
    return module, host["certificates"][str(path)], [reason.replace(str(path), "CERT") for reason in drift]


def test_a_current_certificate_with_the_wanted_names_has_no_drift(tmp_path):
    # Wanted in the role's order and notation; openssl's are sorted and shortened.
    wanted = ["DNS:lab-ctl", "DNS:localhost", "IP:127.0.0.1", "IP:10.77.2.10"]
    module, found, drift = certificate_probe(tmp_path, 0, fixture("openssl-x509-server-lab-ctl.txt"), names=wanted)
    assert drift == []
    assert found == {"exists": True, "current": True, "names": LAB_CTL_NAMES}
    openssl = [argv for argv in module.commands if argv[0].endswith("/openssl")]
    assert openssl[0][1:] == ["x509", "-in", str(tmp_path / "server.crt"), "-noout", "-checkend", "2592000",
                                      "-ext", "subjectAltName"]


def test_a_certificate_that_ends_soon_or_names_others_drifts(tmp_path):
    _module, _found, drift = certificate_probe(tmp_path, 1, fixture("openssl-x509-server-10y-lab-ctl.txt"),
                                               names=["DNS:lab-ctl", "IP:10.77.2.10"])
    assert drift == ["certificate CERT ends within 30 days",
                     "certificate CERT names DNS:lab-ctl, DNS:localhost, IP:10.77.2.10, IP:127.0.0.1, "
                     "wanted DNS:lab-ctl, IP:10.77.2.10"]


def test_an_ipv6_name_matches_in_any_notation(tmp_path):
    _module, _found, drift = certificate_probe(tmp_path, 1, fixture("openssl-x509-ipv6-1day-lab-ctl.txt"),
                                               valid_for=3600, names=["DNS:lab-ctl", "IP:10.77.2.10", "IP:FD00::10"])
    assert drift == ["certificate CERT ends within 3600 seconds"]


def test_a_missing_or_unreadable_certificate_drifts(tmp_path):
    module = ReplayModule({})
    params = dict(NO_WANTS, certificates=[{"path": str(tmp_path / "none.crt"), "valid_for": 60, "names": None}])
    _host, drift = facts.inspect(module, params, {"pkg_mgr": "apt", "service_mgr": "systemd"})
    assert drift == ["certificate %s missing" % (tmp_path / "none.crt")]
    assert not [argv for argv in module.commands if argv[0].endswith("/openssl")]
    _module, found, drift = certificate_probe(tmp_path, 1, "", "Could not open file or uri for loading certificate")
    assert found["current"] is None
    assert drift == ["certificate CERT unreadable: Could not open file or uri for loading certificate"]
