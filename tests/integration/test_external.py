"""Clusters we only connect to (issue 10).

external_cluster.sh makes a one-host Slurm cluster on the lab's last spare machine
the way an administrator following Debian's packages would (not with our roles).
Then this collection reads it without writing anything there: the inventory
plugin with two clusters in one source (that one over SSH, the lab's own over
REST/TLS) and its inventory cache, and slurm_cluster_facts run on it over SSH
(CLI backend). The script starts no slurmrestd: REST to a cluster the
collection did not deploy is the same client test_inventory and test_rest_tls
cover. At the end the cluster's daemons are stopped; the machine is left as it is.
"""
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import INVENTORY, ROOT
from test_inventory import plain

SCRIPT = Path(__file__).resolve().with_name("external_cluster.sh")
CLUSTER = "extern"
# What must not change on the external host while we read it: owners, modes, sizes and checksums of
# its Slurm and munge configuration, its packages, and no file under /etc, /usr or dpkg's and apt's
# state newer than the marker the fixture leaves before the first read.
MARKER = "/run/aiinfra-external-marker"
SNAPSHOT = ("find /etc/slurm /etc/munge -xdev -printf '%p %u:%g %m %s\\n' | sort; "
            "find /etc/slurm /etc/munge -xdev -type f -exec sha256sum {} + | sort; "
            "dpkg-query -W -f '${Package} ${Version} ${Status}\\n'")


class External:
    def __init__(self, lab, host):
        self.lab = lab
        self.host = host
        lab_vars = lab.inventory["all"]["vars"]
        self.address = lab.inventory["all"]["children"]["lab_spare"]["hosts"][host]["ansible_host"]
        self.key_file = lab_vars["ansible_ssh_private_key_file"]
        self.known_hosts = re.search(r"UserKnownHostsFile=(\S+)", lab_vars["ansible_ssh_common_args"]).group(1)
        self.repo = "http://%s.1:8077/%s" % (lab_vars["lab_net"], lab.suite)

    def script(self, *args, timeout=300):
        return self.lab.ssh(self.host, "bash", "-s", *args, stdin=SCRIPT.read_text(), timeout=timeout)

    def snapshot(self):
        return self.lab.ssh(self.host, "sh", "-c", SNAPSHOT).stdout

    def scontrol(self, *args):
        return self.lab.ssh(self.host, "scontrol", *args)

    def wait_idle(self, timeout=60):
        """Until slurmctld sees the node plain idle (no drain, responding)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.lab.ssh(self.host, "sinfo", "-h", "-N", "-n", self.host, "-o", "%T", check=False).stdout.strip()
            if state == "idle" or time.monotonic() > deadline:
                assert state == "idle", "%s is %r on the external cluster" % (self.host, state)
                return
            time.sleep(1)


@pytest.fixture(scope="module")
def external(deployed_lab):
    lab = deployed_lab
    assert lab.spares, "test_external needs a spare machine (lab/lab up --spare N: group lab_spare)"
    cluster = External(lab, lab.spares[-1])
    started = time.monotonic()
    cluster.script("up", cluster.repo)
    cluster.setup_seconds = time.monotonic() - started
    print("external cluster on %s set up in %.1f s" % (cluster.host, cluster.setup_seconds))
    cluster.before = cluster.snapshot()
    lab.ssh(cluster.host, "touch", MARKER)
    yield cluster
    cluster.script("stop")
    states = lab.ssh(cluster.host, "systemctl", "is-active", "slurmd", "slurmctld", "munge", check=False).stdout.split()
    assert states == ["inactive"] * 3, states


def inventory_config(path, external, cache_dir):
    lab = external.lab
    config = {
        "plugin": "aiinfra.slurm.slurm",
        "ssh_user": "root",
        "ssh_private_key_file": external.key_file,
        "ssh_known_hosts_file": external.known_hosts,
        "cache": True,
        "cache_plugin": "ansible.builtin.jsonfile",
        "cache_connection": str(cache_dir),
        "cache_timeout": 600,
        "clusters": [
            {"name": CLUSTER, "ssh_host": external.address},
            {"name": "lab", "rest_url": lab.rest_url, "ca_path": str(lab.rest_ca_path),
             "rest_token_env": "LAB_SLURM_JWT"},
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def inventory_list(config, token, *extra):
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM")}
    env.update(LAB_SLURM_JWT=token, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
    started = time.monotonic()
    result = subprocess.run(["ansible-inventory", "-i", str(config), "--list", *extra], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False, timeout=120)
    result.seconds = time.monotonic() - started
    return result


def lab_node_states(lab):
    """{node: (base state in lower case, drained)} of the lab cluster, from scontrol on its controller."""
    states = {}
    for line in lab.ssh(lab.controller, "scontrol", "-o", "show", "node").stdout.splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        words = fields["State"].split("+")
        states[fields["NodeName"]] = (words[0].lower(), "DRAIN" in words)
    return states


def members(listing, group):
    return sorted(listing.get(group, {}).get("hosts", []))


def test_inventory_reads_two_clusters_over_ssh_and_rest_and_caches_them(external, tmp_path):
    lab = external.lab
    token = lab.ssh(lab.controller, "scontrol", "token", "lifespan=600", "username=root").stdout.strip().split("=", 1)[1]
    config = inventory_config(tmp_path / "two.slurm.yml", external, tmp_path / "cache")
    # A state to find: the external node drained with a reason (the test's own doing, undone below).
    external.scontrol("update", "nodename=" + external.host, "state=drain", "reason=ext inv")
    try:
        lab_states = [lab_node_states(lab)]
        first = inventory_list(config, token)
        lab_states.append(lab_node_states(lab))
    finally:
        external.scontrol("update", "nodename=" + external.host, "state=resume")
        external.wait_idle()
    assert first.returncode == 0, first.stderr
    listing = json.loads(first.stdout)
    hostvars = plain(listing["_meta"]["hostvars"])
    # One group per cluster, with the right hosts, and the per-cluster partition and status groups.
    assert members(listing, "slurm_" + CLUSTER) == [external.host]
    assert members(listing, "slurm_lab") == sorted(lab.computes)
    assert members(listing, "slurm_%s_partition_debug" % CLUSTER) == [external.host]
    assert members(listing, "slurm_lab_partition_main") == sorted(lab.computes)
    assert members(listing, "slurm_%s_status_failed" % CLUSTER) == [external.host]
    assert sorted(hostvars) == sorted([external.host] + lab.computes)
    ext_vars = hostvars[external.host]
    assert ext_vars["slurm_cluster"] == CLUSTER and ext_vars["slurm_node_name"] == external.host
    assert "DRAIN" in ext_vars["slurm_flags"] and ext_vars["slurm_reason"] == "ext inv"
    # The lab cluster's nodes as its slurmctld had them just before or just after the read.
    for name in lab.computes:
        assert hostvars[name]["slurm_cluster"] == "lab"
        seen = [scontrol[name] for scontrol in lab_states]
        state = hostvars[name]["slurm_state"]
        assert (state, "DRAIN" in hostvars[name]["slurm_flags"]) in seen, (name, state, seen)
        assert name in members(listing, "slurm_lab_state_" + state)
    assert token not in first.stdout + first.stderr

    # Cached: a second parse answers the same (the node is resumed by now) and reaches neither
    # cluster; a token slurmrestd would refuse proves REST is not asked.
    second = inventory_list(config, "not-a-token")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == listing
    assert "not-a-token" not in second.stdout + second.stderr
    # --flush-cache reads both again: the fresh state.
    fresh = inventory_list(config, token, "--flush-cache")
    assert fresh.returncode == 0, fresh.stderr
    fresh_listing = json.loads(fresh.stdout)
    assert members(fresh_listing, "slurm_%s_status_running" % CLUSTER) == [external.host], fresh.stdout
    assert "slurm_%s_status_failed" % CLUSTER not in fresh_listing
    print("inventory of two clusters: %.2f s read, %.2f s from the cache, %.2f s after --flush-cache"
          % (first.seconds, second.seconds, fresh.seconds))


def test_unknown_host_key_is_refused_by_name(external, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = tmp_path / "strict.slurm.yml"
    config.write_text(yaml.safe_dump({
        "plugin": "aiinfra.slurm.slurm", "ssh_host": external.address, "ssh_user": "root",
        "ssh_private_key_file": external.key_file, "ssh_known_hosts_file": str(empty)}))
    result = inventory_list(config, "unused")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "ssh://root@%s" % external.address in output and "host key" in output, output
    # Strict: nothing was recorded on first contact.
    assert empty.read_text() == ""


def test_cluster_facts_over_ssh_with_the_cli(external):
    # The module runs on the external host through Ansible's SSH connection, as on any managed host.
    lab = external.lab
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(["ansible", "-i", str(INVENTORY), external.host, "-o", "-m", "aiinfra.slurm.slurm_cluster_facts", "-a", "api=cli"],
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=180)
    assert result.returncode == 0 and " | SUCCESS => " in result.stdout, result.stdout + result.stderr
    answer = json.loads(result.stdout.split(" | SUCCESS => ", 1)[1])
    facts = answer["ansible_facts"]["slurm_cluster"]
    assert answer["backend"] == "cli" and answer["changed"] is False
    assert facts["cluster_name"] == CLUSTER
    assert facts["version"].startswith({"bookworm": "22.05.", "trixie": "24.11."}[lab.suite])
    assert [(node["name"], node["state"], node["partitions"]) for node in facts["nodes"]] == [
        (external.host, "idle", ["debug"])]
    assert [partition["name"] for partition in facts["partitions"]] == ["debug"]


def test_nothing_written_on_the_external_cluster(external):
    lab = external.lab
    assert external.snapshot() == external.before
    newer = lab.ssh(external.host, "find", "/etc", "/usr", "/var/lib/dpkg", "/var/lib/apt", "-xdev", "-newer", MARKER,
                    "-print").stdout.split()
    assert newer == []
