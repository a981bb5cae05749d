"""The aiinfra.slurm.slurm inventory plugin against the lab's slurmrestd."""
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def plain(value):
    """ansible-inventory --list marks values from an inventory plugin as unsafe (they are remote data)."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


class Inventory:
    def __init__(self, lab, tmp_path):
        self.lab = lab
        self.config = tmp_path / "lab.slurm.yml"
        self.config.write_text("plugin: aiinfra.slurm.slurm\nrest_url: %s\nca_path: %s\n"
                               "groups:\n  gpu_capable: \"'gpu' in slurm_features\"\n" % (lab.rest_url, lab.rest_ca_path))
        self.token = lab.ssh(lab.controller, "scontrol", "token", "lifespan=600",
                             "username=root").stdout.strip().split("=", 1)[1]

    def list(self, token=None):
        env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM")}
        # A source that fails to parse fails the command (by default only a warning).
        env.update(SLURM_JWT=token or self.token, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
                   ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
        return subprocess.run(["ansible-inventory", "-i", str(self.config), "--list"], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=False, timeout=120)

    def scontrol_nodes(self):
        """{name: (set of State words, partitions)} from scontrol's one-line output."""
        nodes = {}
        for line in self.lab.ssh(self.lab.controller, "scontrol", "-o", "show", "node").stdout.splitlines():
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            nodes[fields["NodeName"]] = (set(fields["State"].split("+")), fields.get("Partitions", ""))
        return nodes


@pytest.fixture
def inventory(deployed_lab, tmp_path):
    return Inventory(deployed_lab, tmp_path)


def test_hosts_groups_and_vars_match_scontrol(inventory):
    lab = inventory.lab
    lab.ssh(lab.controller, "scontrol", "update", "nodename=" + lab.computes[0], "state=drain", "reason=inv test")
    lab.ssh(lab.controller, "scontrol", "update", "nodename=" + lab.computes[1], "availablefeatures=gpu",
            "activefeatures=gpu")
    try:
        result = inventory.list()
        assert result.returncode == 0, result.stderr
        listing = json.loads(result.stdout)
        nodes = inventory.scontrol_nodes()
    finally:
        lab.ssh(lab.controller, "scontrol", "update", "nodename=" + lab.computes[0], "state=resume")
        lab.ssh(lab.controller, "scontrol", "update", "nodename=" + lab.computes[1], "availablefeatures=",
                "activefeatures=")
    hostvars = plain(listing["_meta"]["hostvars"])
    assert sorted(hostvars) == sorted(nodes) == sorted(lab.computes)
    for name, (states, partitions) in nodes.items():
        assert hostvars[name]["slurm_partitions"] == partitions.split(",")
        assert ("DRAIN" in states) == ("DRAIN" in hostvars[name]["slurm_flags"])
        for partition in partitions.split(","):
            assert name in listing["slurm_partition_" + partition]["hosts"]
    assert listing["slurm_status_failed"]["hosts"] == [lab.computes[0]]
    assert hostvars[lab.computes[0]]["slurm_reason"] == "inv test"
    assert listing["slurm_feature_gpu"]["hosts"] == [lab.computes[1]]
    assert listing["gpu_capable"]["hosts"] == [lab.computes[1]]
    assert inventory.token not in result.stdout + result.stderr


def test_wrong_token_is_a_clear_error(inventory):
    bad = inventory.token[:-4] + ("AAAA" if not inventory.token.endswith("AAAA") else "BBBB")
    result = inventory.list(token=bad)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "aiinfra.slurm.slurm inventory from https://" in output
    assert bad not in output and inventory.token not in output
    # No hosts came of it.
    assert '"slurm_status_' not in result.stdout
