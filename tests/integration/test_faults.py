"""Faults on the running lab cluster: daemons that stop or restart under the modules, a node that never
registered, a corrupted munge key, two site.yml runs at once, and a job that lives through every handler.

Each test leaves the cluster as it found it: every daemon running, every node idle, the same slurm.conf.
A witness job (conftest's Lab.start_witness) runs on a node the fault does not touch and must complete.
"""
import base64
import hashlib
import json
import re
import threading
import time

import pytest

from test_modules import Cluster, facts, failed_without_change, job, node

MUNGE_KEY = "/etc/munge/munge.key"
# Every error a module gives while slurmctld is down must say so.
SLURMCTLD_DOWN = r"slurmctld (is down|cannot be reached)|slurmrestd cannot reach slurmctld"
# Except slurmrestd 22.05 seen from a host without scontrol: it says the same for a refused token.
SLURMCTLD_DOWN_OR_TOKEN = r"slurmctld refuses the token \(wrong or expired\) or cannot be reached"


@pytest.fixture(scope="module")
def cluster(deployed_lab, tmp_path_factory):
    cluster = Cluster(deployed_lab, tmp_path_factory.mktemp("faults"))
    cluster.reset()
    # Minted now: no token can be had while slurmctld is down.
    cluster.token()
    return cluster


def slurmctld_answers(c):
    return c.ssh("scontrol", "ping", check=False).stdout.count("is UP") > 0


def wait_slurmctld(c, timeout=120):
    deadline = time.time() + timeout
    while not slurmctld_answers(c):
        assert time.time() < deadline, "slurmctld did not come back:\n" + c.ssh(
            "sh", "-c", "systemctl status slurmctld; journalctl -u slurmctld -n 40 --no-pager", check=False).stdout
        time.sleep(1)


def start_slurmctld(c):
    """Start slurmctld again after a test stopped it; fail with its log when it does not come back."""
    c.ssh("systemctl", "start", "slurmctld", check=False)
    wait_slurmctld(c)


def key_sha1(lab, host):
    data = base64.b64decode(lab.ssh(host, "base64", "-w0", MUNGE_KEY).stdout.strip())
    return hashlib.sha1(data).hexdigest()


def srun_everywhere(lab):
    out = lab.ssh(lab.controller, "timeout", "60", "srun", "-N%d" % len(lab.computes), "hostname",
                  timeout=90).stdout.split()
    assert sorted(out) == sorted(lab.computes), out


# slurmctld and slurmrestd away -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["cli", "rest"])
def test_wait_survives_a_slurmctld_restart(cluster, mode):
    c = cluster
    witness = c.lab.start_witness(c.node2)
    job_id = c.sbatch("-w", c.node1, "--wrap", "sleep 30")
    c.wait_job(job_id, ["RUNNING"])
    results = []

    def wait():
        try:
            results.extend(c.run(mode, job(action="wait", job_id=job_id, timeout=150, poll_interval=1)))
        except AssertionError as err:  # the playbook failed: keep its output for the assertions below
            results.append({"failed": True, "msg": str(err)})

    waiter = threading.Thread(target=wait)
    waiter.start()
    # The module is polling by now (a playbook starts in ~3 s): take slurmctld away under it.
    time.sleep(6)
    c.ssh("systemctl", "stop", "slurmctld")
    try:
        time.sleep(2)
        assert not slurmctld_answers(c)
        time.sleep(6)
        # The module was waiting through the outage.
        assert waiter.is_alive() and not results, results
    finally:
        start_slurmctld(c)
    waiter.join(240)
    assert not waiter.is_alive(), "the wait did not end"
    waited, = results
    assert not waited.get("failed"), waited
    assert waited["job"]["state"] == "COMPLETED", waited
    witness.assert_completed()


def test_slurmctld_down_gives_clear_errors_and_changes_nothing(cluster):
    c = cluster
    witness = c.lab.start_witness(c.node2)
    results = {}
    c.ssh("systemctl", "stop", "slurmctld")
    try:
        # One outage for both ways in (REST from the controller would fail sooner: no token can be minted).
        for mode in ("cli", "rest"):
            results[mode] = c.run(mode, node(names=c.node1, state="drain", reason="it fault"),
                                  job(action="status", job_id=witness.job_id), facts(gather_subset=["nodes"]))
    finally:
        start_slurmctld(c)
    for mode, steps in results.items():
        said = SLURMCTLD_DOWN_OR_TOKEN if mode == "rest" and c.version < (23, 2) else SLURMCTLD_DOWN
        for result in steps:
            assert result.get("failed") and re.search(said, result["msg"]), (mode, result)
            assert not result.get("changed"), (mode, result)
    assert "DRAIN" not in c.node_state(c.node1)[0]
    witness.assert_completed()


def test_slurmrestd_down_gives_clear_errors(cluster):
    c = cluster
    c.ssh("systemctl", "stop", "slurmrestd")
    try:
        results = c.run("rest", node(names=c.node1, state="drain", reason="it fault"),
                        job(action="status", job_id=1), facts(gather_subset=["nodes"]))
    finally:
        c.ssh("systemctl", "start", "slurmrestd")
    for result in results:
        # From other hosts slurmrestd is behind nginx (TLS), which answers 502 for it.
        assert c.rest_url in result["msg"], result
        failed_without_change(result, r"HTTP 502.*cannot reach it: is slurmrestd running\?")
    assert "DRAIN" not in c.node_state(c.node1)[0]
    deadline = time.time() + 30
    while c.run("rest", facts(gather_subset=["version"]))[0].get("failed"):
        assert time.time() < deadline, "slurmrestd did not come back"
        time.sleep(1)


# A node that never registered --------------------------------------------------------------------------------

SLURMD_FAILS = "/etc/systemd/system/slurmd.service.d/zz-it-fault.conf"


@pytest.fixture
def unregistered(cluster):
    """lab-node2 defined in slurm.conf but never registered since slurmctld started: slurmd stopped and
    unable to start, slurmctld restarted without its saved node states (they come back as nodes register)."""
    c = cluster
    c.reset()
    name = c.node2
    c.lab.ssh(name, "sh", "-c", "mkdir -p %s && printf '[Service]\\nExecStartPre=/bin/false\\n' > %s && "
              "systemctl daemon-reload && systemctl stop slurmd" % (SLURMD_FAILS.rsplit("/", 1)[0], SLURMD_FAILS))
    state_dir = re.search(r"^StateSaveLocation\s*=\s*(\S+)", c.ssh("scontrol", "show", "config").stdout,
                          re.M).group(1)
    c.ssh("sh", "-c", "systemctl stop slurmctld && mkdir -p /root/it-fault && mv %s/node_state* /root/it-fault/ "
          "&& systemctl start slurmctld" % state_dir)
    wait_slurmctld(c)
    try:
        deadline = time.time() + 30
        while "UNKNOWN" not in c.node_state(name)[0]:
            assert time.time() < deadline, c.node_state(name)
            time.sleep(1)
        yield c
    finally:
        c.lab.ssh(name, "sh", "-c", "rm -f %s && systemctl daemon-reload && systemctl start slurmd" % SLURMD_FAILS)
        c.ssh("sh", "-c", "rm -rf /root/it-fault; sleep 2; scontrol update nodename=%s state=resume "
              "2>/dev/null; true" % name)
        # Also ends a witness left by a failed test.
        c.reset()


def test_a_node_that_never_registered(unregistered):
    c = unregistered
    witness = c.lab.start_witness(c.node1)
    # The role's verify names it (and nothing else changes: slurmd cannot start there).
    run = c.lab.playbook("playbooks/site.yml", "-e", json.dumps({"slurm_verify_timeout": 6}))
    assert run.rc != 0
    verdict = [line for line in run.stdout.splitlines() if "not every compute node is up" in line]
    assert verdict and c.node2 in verdict[0] and c.node1 not in verdict[0].split(":", 1)[1], run.explain()
    assert set(run.failures()) <= {c.node2, c.ctl}, run.failures()

    # Drain and resume work on it with both backends (REST where the version can update nodes).
    modes = ["cli", "rest_ctl"] + (["rest"] if c.rest_updates_nodes() else [])
    for mode in modes:
        drain, drain_again, resume = c.run(mode, node(names=c.node2, state="drain", reason="it never " + mode),
                                           node(names=c.node2, state="drain", reason="it never " + mode),
                                           node(names=c.node2, state="resume"))
        assert drain["changed"] and "DRAIN" in drain["nodes"][0]["after"]["flags"], (mode, drain)
        assert not drain_again["changed"], (mode, drain_again)
        assert resume["changed"] and not resume.get("failed"), (mode, resume)
        state = c.node_state(c.node2)[0]
        assert "DRAIN" not in state and "UNKNOWN" in state, (mode, state)
    witness.assert_completed()


# Keys ----------------------------------------------------------------------------------------------------------


def test_a_corrupted_munge_key_on_one_node_is_repaired_there_only(cluster):
    c = cluster
    lab = c.lab
    good = key_sha1(lab, lab.controller)
    witness = lab.start_witness(c.node1)
    lab.ssh(c.node2, "sh", "-c", "head -c 1024 /dev/urandom > %s && systemctl restart munge" % MUNGE_KEY)
    assert key_sha1(lab, c.node2) != good
    # Credentials of lab-node2 no longer decode on the controller.
    credential = lab.ssh(c.node2, "munge", "--no-input").stdout
    assert lab.ssh(lab.controller, "unmunge", stdin=credential, check=False).returncode != 0

    run = lab.playbook("playbooks/site.yml")
    assert run.rc == 0 and not run.failures(), run.explain()
    changed = run.changed()
    assert changed[c.node2] > 0 and all(changed[host] == 0 for host in lab.hosts if host != c.node2), changed
    assert {host: key_sha1(lab, host) for host in lab.hosts} == dict.fromkeys(lab.hosts, good)
    srun_everywhere(lab)
    witness.assert_completed()


def test_two_site_runs_at_once_agree_on_one_munge_key(cluster):
    c = cluster
    lab = c.lab
    before = key_sha1(lab, lab.controller)
    witness = lab.start_witness(c.node1)
    # No key anywhere: each run would make one on the controller (munged keeps its key in memory).
    for host in lab.hosts:
        lab.ssh(host, "rm", "-f", MUNGE_KEY)
    runs = []
    threads = [threading.Thread(target=lambda: runs.append(lab.playbook("playbooks/site.yml"))) for _attempt in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = {host: key_sha1(lab, host) for host in lab.hosts}
    assert len(set(keys.values())) == 1 and before not in keys.values(), keys
    # At least one run converged the cluster; a run that lost a race says what it lost.
    assert any(run.rc == 0 for run in runs), [run.explain() for run in runs]
    for run in runs:
        assert run.rc == 0 or run.explain().strip(), run.stdout[-3000:]
    srun_everywhere(lab)
    witness.assert_completed()


# Handlers ------------------------------------------------------------------------------------------------------


def pids(c):
    """Main PIDs of slurmctld and slurmrestd on the controller, and of slurmd on the first node."""
    def pid(host, unit):
        return c.lab.ssh(host, "systemctl", "show", "-p", "MainPID", "--value", unit).stdout.strip()
    return {"slurmctld": pid(c.ctl, "slurmctld"), "slurmrestd": pid(c.ctl, "slurmrestd"),
            "slurmd": pid(c.node1, "slurmd")}


def test_jobs_live_through_the_node_change_and_slurmrestd_restart_handlers(cluster):
    """munge rotation and JWT regeneration: test_keys.py; here the other handler paths."""
    c = cluster
    lab = c.lab
    held = c.sbatch("--hold", "--wrap", "true")
    witness = lab.start_witness(c.node1)
    before = pids(c)
    try:
        run = lab.playbook("playbooks/site.yml", "-e", json.dumps(
            {"slurm_node_features": ["it_handlers"], "slurmrestd_port": 6822}))
        assert run.rc == 0 and not run.failures(), run.explain()
        after = pids(c)
        assert after["slurmrestd"] != before["slurmrestd"], run.changed_tasks()
        if c.version < (23, 11):
            # New nodes.conf: slurmctld and every slurmd restart, the witness's node's too.
            assert after["slurmctld"] != before["slurmctld"] and after["slurmd"] != before["slurmd"], \
                run.changed_tasks()
        assert c.node_state(c.node1)[3] == ["it_handlers"]
        assert c.job_state(held) == ("PENDING", "JobHeldUser")
        witness.assert_running()
        ok, = c.run("rest", facts(gather_subset=["version"]))
        assert not ok.get("failed"), ok
    finally:
        restore = lab.playbook("playbooks/site.yml")
    assert restore.rc == 0 and not restore.failures(), restore.explain()
    assert c.node_state(c.node1)[3] == []
    assert c.job_state(held) == ("PENDING", "JobHeldUser")
    witness.assert_completed()
    c.ssh("scancel", str(held))
