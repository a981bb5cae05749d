"""The munge and Slurm users have the cluster's ids on every host (issue 14).

The lab's group_vars give ids other than Debian's (slurm 64030, munge dynamic),
so this passes only if the roles made the users before the packages did. Reads
the deployed lab only: no change, no playbook run.
"""
from pathlib import Path

import yaml

GROUP_VARS = Path(__file__).resolve().parents[2] / "inventories" / "lab" / "group_vars" / "all.yml"


def wanted_ids():
    settings = yaml.safe_load(GROUP_VARS.read_text())
    return {"munge": (settings["munge_user_uid"], settings["munge_user_gid"]),
            "slurm": (settings["slurm_user_uid"], settings["slurm_user_gid"])}


def test_every_host_has_the_cluster_ids(deployed_lab):
    wanted = wanted_ids()
    assert wanted["slurm"][0] != 64030, "the lab must not use Debian's own slurm id"
    for host in deployed_lab.hosts:
        for name, (uid, gid) in wanted.items():
            entry = deployed_lab.ssh(host, "getent", "passwd", name).stdout.strip().split(":")
            assert (int(entry[2]), int(entry[3])) == (uid, gid), (host, entry)
            # A system user: no home of its own, no login (aiinfra.slurm.system_user).
            assert entry[5:] == ["/nonexistent", "/usr/sbin/nologin"], (host, entry)
            group = deployed_lab.ssh(host, "getent", "group", name).stdout.strip().split(":")
            assert int(group[2]) == gid, (host, group)
        # The daemons run as those users and own their files.
        munged = deployed_lab.ssh(host, "ps", "-o", "uid=", "-C", "munged").stdout.split()
        assert munged and set(munged) == {str(wanted["munge"][0])}, (host, munged)
        key = deployed_lab.ssh(host, "stat", "-c", "%u:%g", "/etc/munge/munge.key").stdout.strip()
        assert key == "%d:%d" % wanted["munge"], (host, key)
    slurmctld = deployed_lab.ssh(deployed_lab.controller, "ps", "-o", "uid=", "-C", "slurmctld").stdout.split()
    assert slurmctld and set(slurmctld) == {str(wanted["slurm"][0])}, slurmctld
    # A job runs across the nodes with these ids.
    out = deployed_lab.ssh(deployed_lab.controller, "srun", "-N", str(len(deployed_lab.computes)), "hostname").stdout
    assert sorted(out.split()) == sorted(deployed_lab.computes)
