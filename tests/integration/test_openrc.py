"""The roles on OpenRC hosts: apt + sysvinit + OpenRC, for real (issue 14).

lab/lab up --openrc 2 boots two more pure machines of the per-suite lab from the
image SUITE-openrc (sysvinit-core and openrc instead of systemd-sysv, init is
sysvinit's /sbin/init, which runs OpenRC). They are in the inventory group
lab_openrc only, not in lab_spare nor any slurm_* group: the lab's cluster and the
other tests do not see them. This file deploys a cluster of its own onto them with
playbooks/site.yml (controller with slurmrestd and its TLS proxy on the first,
compute node on the second; no slurmdbd), from an inventory of its own next to the
lab's settings (group_vars), and checks that Ansible sees OpenRC, that every daemon
runs and is enabled under OpenRC (rc-service status, rc-update), that a job runs
to completion, and that a second run changes nothing. At the end the OpenRC
machines are stopped (lab/lab up without --openrc): the lab's own machines were
not touched, so test_uninstall, which runs later, finds them as it expects.
"""
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import INVENTORY, LAB, ROOT, PlaybookRun

OPENRC_MACHINES = 2


class OpenRCCluster:
    def __init__(self, lab, hosts, directory):
        self.lab = lab
        self.controller, self.node = hosts
        self.hosts = list(hosts)
        self.inventory = Path(directory) / "hosts.yml"
        lab_vars = dict(lab.inventory["all"]["vars"])
        addresses = yaml.safe_load(INVENTORY.read_text())["all"]["children"]["lab_openrc"]["hosts"]
        # The lab's own settings (package repo on the bridge, ids, /etc/hosts, ...) apply as they are.
        (Path(directory) / "group_vars").symlink_to(ROOT / "inventories" / "lab" / "group_vars")
        self.inventory.write_text(yaml.safe_dump({"all": {"vars": lab_vars, "children": {
            "slurm_controller": {"hosts": {self.controller: addresses[self.controller]}},
            "slurm_compute": {"hosts": {self.node: addresses[self.node]}},
            "slurm_restd": {"hosts": {self.controller: None}},
        }}}))

    def playbook(self, playbook, *args):
        environment = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                           ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
        start = time.monotonic()
        result = subprocess.run(["ansible-playbook", "-i", str(self.inventory), str(ROOT / playbook), *args],
                                capture_output=True, text=True, cwd=ROOT, env=environment, timeout=900, check=False)
        return PlaybookRun(result.returncode, result.stdout, result.stderr, time.monotonic() - start)


def _lab_up(config, openrc):
    """The per-suite lab as conftest's pure_lab made it, with `openrc` OpenRC machines: only those change."""
    subprocess.run([str(LAB), "up", "--suite", config.getoption("--suite"), "--compute",
                    str(config.getoption("--compute")), "--spare", str(config.getoption("--spare")), "--shared",
                    "--openrc", str(openrc)], check=True)


@pytest.fixture(scope="module")
def openrc_cluster(pure_lab, request):
    started = time.monotonic()
    _lab_up(request.config, OPENRC_MACHINES)
    print("OpenRC machines up in %.1f s" % (time.monotonic() - started))
    hosts = list(yaml.safe_load(INVENTORY.read_text())["all"]["children"]["lab_openrc"]["hosts"])
    assert len(hosts) == OPENRC_MACHINES, hosts
    with tempfile.TemporaryDirectory(prefix="openrc-cluster-") as directory:
        cluster = OpenRCCluster(pure_lab, hosts, directory)
        yield cluster
        # Only the OpenRC machines go; the lab's own keep running untouched.
        _lab_up(request.config, 0)


@pytest.fixture(scope="module")
def deployed(openrc_cluster):
    run = openrc_cluster.playbook("playbooks/site.yml")
    print("site.yml on OpenRC: %.1f s" % run.seconds)
    assert run.rc == 0 and not run.failures(), run.explain()
    return run


def test_the_machines_run_openrc_not_systemd(openrc_cluster):
    cluster = openrc_cluster
    for host in cluster.hosts:
        assert cluster.lab.ssh(host, "cat", "/proc/1/comm").stdout.strip() == "init"
        assert cluster.lab.ssh(host, "test", "-d", "/run/systemd/system", check=False).returncode != 0
        assert "Runlevel: default" in cluster.lab.ssh(host, "rc-status").stdout
    out = subprocess.run(["ansible", "-i", str(cluster.inventory), "all", "-m", "ansible.builtin.setup",
                          "-a", "filter=ansible_service_mgr", "-o"], capture_output=True, text=True, check=True,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))).stdout
    assert out.count('"ansible_service_mgr": "openrc"') == len(cluster.hosts), out


def test_daemons_run_and_are_enabled_under_openrc(openrc_cluster, deployed):
    cluster = openrc_cluster
    services = {cluster.controller: ["munge", "slurmctld", "slurmrestd", "nginx"], cluster.node: ["munge", "slurmd"]}
    for host, names in services.items():
        enabled = cluster.lab.ssh(host, "rc-update", "show", "default").stdout
        for name in names:
            status = cluster.lab.ssh(host, "rc-service", name, "status", check=False)
            assert status.returncode == 0, "%s on %s: %s %s" % (name, host, status.stdout, status.stderr)
            assert any(line.split()[:1] == [name] for line in enabled.splitlines()), "%s not enabled on %s: %s" % (
                name, host, enabled)
    # Debian's packages bring LSB scripts for munge, slurmctld and slurmd, which OpenRC runs;
    # slurmrestd's package has none: the role's script runs it, as the slurmrestd user.
    script = cluster.lab.ssh(cluster.controller, "cat", "/etc/init.d/slurmrestd").stdout
    assert script.startswith("#!/sbin/openrc-run") and "installed by aiinfra.slurm" in script, script[:500]
    user = cluster.lab.ssh(cluster.controller, "ps", "-o", "user=", "-C", "slurmrestd").stdout.split()
    assert user and set(user) == {"slurmrestd"}, user
    # What the roles' own probe reads: no drift in the services.
    conf = cluster.lab.ssh(cluster.controller, "cat", "/etc/conf.d/slurmrestd").stdout
    assert "SLURM_JWT=daemon" in conf, conf


def _wait_idle(cluster, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        state = cluster.lab.ssh(cluster.controller, "sinfo", "-h", "-N", "-n", cluster.node, "-o", "%T",
                                check=False).stdout.strip()
        if state == "idle" or time.monotonic() > deadline:
            assert state == "idle", "%s is %r" % (cluster.node, state)
            return
        time.sleep(1)


def test_a_job_runs_to_completion(openrc_cluster, deployed):
    cluster = openrc_cluster
    _wait_idle(cluster)
    job = cluster.lab.ssh(cluster.controller, "sbatch", "--parsable", "-N1", "-w", cluster.node, "--wrap",
                          "hostname; echo openrc-job-done").stdout.strip().split(";")[0]
    deadline = time.monotonic() + 60
    while cluster.lab.ssh(cluster.controller, "squeue", "-h", "-j", job, check=False).stdout.strip():
        assert time.monotonic() < deadline, "job %s still queued" % job
        time.sleep(1)
    record = cluster.lab.ssh(cluster.controller, "scontrol", "-o", "show", "job", job).stdout
    assert "JobState=COMPLETED" in record and "ExitCode=0:0" in record, record
    out = cluster.lab.ssh(cluster.node, "cat", "/root/slurm-%s.out" % job).stdout
    assert out.split() == [cluster.node, "openrc-job-done"], out


def test_a_second_run_changes_nothing(openrc_cluster, deployed):
    run = openrc_cluster.playbook("playbooks/site.yml")
    print("second site.yml on OpenRC: %.1f s" % run.seconds)
    assert run.rc == 0 and not run.failures(), run.explain()
    assert run.changed() == {host: 0 for host in openrc_cluster.hosts}, run.changed_tasks()
    # The probes found no drift: conf.d and the init script count as slurmrestd's files under OpenRC.
    assert ("Install and configure slurmrestd", openrc_cluster.controller, "skipping") in run.results, [
        result for result in run.results if result[0].startswith("Install and configure")]


def test_the_lab_machines_keep_their_shared_directory_and_cgroups(openrc_cluster):
    """Booting the OpenRC machines left the lab's own as they were: their /shared is still the
    host's directory (a new one made under running machines left them writing nowhere: the
    next witness job failed at once), and every machine, OpenRC or not, runs in cgroups of its
    own (shared ones let one machine's systemd remove a unit's cgroup under another's)."""
    lab = openrc_cluster.lab
    shared = Path(lab.inventory["all"]["vars"]["lab_shared_dir"])
    for host in [lab.controller, *lab.computes]:
        name = "openrc-probe-%d.%s" % (os.getpid(), host)
        lab.ssh(host, "sh", "-c", "hostname > /shared/%s" % name)
        assert (shared / name).read_text().strip() == host
        (shared / name).unlink()
    machines = Path(lab.inventory["all"]["vars"]["ansible_ssh_private_key_file"]).parents[1] / "machines"
    cgroups = {}
    for pid_file in machines.glob("*/pid"):
        with open("/proc/%s/cgroup" % pid_file.read_text().strip(), encoding="ascii") as cgroup:
            cgroups[pid_file.parent.name] = cgroup.read()
    assert len(cgroups) >= 1 + len(lab.computes) + len(openrc_cluster.hosts), cgroups
    assert len(set(cgroups.values())) == len(cgroups), cgroups
