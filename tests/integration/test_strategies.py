"""The collection under the execution strategies that users reach for at scale (issue 13).

Mitogen's mitogen_linear strategy runs modules inside interpreters of its own on the hosts and
takes over how action plugins run them; Ansible's free strategy lets each host go through a
play on its own and runs run_once tasks on every host. On the deployed lab:

- the operation modules (slurm_node, slurm_job, slurm_cluster_facts: action plugins, which run
  in the control process for slurmrestd) work under mitogen_linear, with both backends;
- site.yml under free and under mitogen_linear takes a changed setting to every host and back,
  then changes nothing, and no host gets python3-apt (the roles install with apt-get through
  aiinfra.slurm.apt_packages; test_membership adds a pure machine under Mitogen);
- site.yml under free, slurmctld stopped, a changed setting: the reconfigure waits for slurmctld and
  every running slurmd takes the setting;
- site.yml under free deploys a cluster of its own onto three pure spare machines: the slurm
  play's hosts install Slurm and read their resources in a play before the slurm play, so that no
  host renders nodes.conf before another has read them (without it, the role stopped there);
- a compute host that reaches the slurm play under free only after the controller has written its
  new slurm.conf still restarts its slurmd for a restart-only setting: its settings are judged
  against the controller's files as read in that play before, not as the late host found them
  (the new files, and no change).
- the slurm play in serial batches of one host, after that play or alone: the later batches restart
  their slurmd for a restart-only setting too (they used to read the files the first batch wrote; alone,
  the first batch now hands them its read); a node dropped from the inventory there is dropped by the
  first batch and not looked up again by the later ones.

A witness job runs on a node that no operation targets, and must complete.
"""
import copy
import hashlib
import time

import pytest
import yaml

from conftest import INVENTORY, mitogen_strategy, scheduler_type_builtin, slurmd_verbose_with_slurmctld_stopped
from test_modules import Cluster, facts, job, node


FREE = {"ANSIBLE_STRATEGY": "free"}


@pytest.fixture(scope="module")
def cluster(deployed_lab, tmp_path_factory):
    cluster = Cluster(deployed_lab, tmp_path_factory.mktemp("strategies"))
    cluster.reset()
    yield cluster
    cluster.reset()


@pytest.mark.parametrize("mode", ["cli", "rest"])
def test_operation_modules_under_mitogen(cluster, mode):
    c = cluster
    mitogen = mitogen_strategy()
    reason = "it-mitogen-%s" % mode
    witness = c.lab.start_witness(c.node2)
    try:
        if mode == "cli" or c.rest_updates_nodes():
            drained, again, seen = c.run(mode, node(diff=True, names=c.node1, state="drain", reason=reason),
                                         node(names=c.node1, state="drain", reason=reason),
                                         facts(gather_subset=["nodes"]), env=mitogen)
            assert drained["changed"] and drained["diff"]["after"][c.node1]["reason"] == reason, drained
            assert "DRAIN" in drained["diff"]["after"][c.node1]["flags"], drained
            assert not again["changed"] and not again.get("failed"), again
            assert c.node_state(c.node1)[1] == reason
            nodes = {item["name"]: item for item in seen["ansible_facts"]["slurm_cluster"]["nodes"]}
            assert sorted(nodes) == sorted(c.lab.computes), nodes
            assert "DRAIN" in nodes[c.node1]["flags"] and nodes[c.node1]["reason"] == reason, nodes[c.node1]
            resumed, = c.run(mode, node(names=c.node1, state="resume"), env=mitogen)
            assert resumed["changed"] and not resumed.get("failed"), resumed
            assert "DRAIN" not in c.node_state(c.node1)[0]
        else:
            # slurmrestd 22.05 (v0.0.38) updates no nodes: the facts only.
            seen, = c.run(mode, facts(gather_subset=["nodes"]), env=mitogen)
            assert sorted(item["name"] for item in seen["ansible_facts"]["slurm_cluster"]["nodes"]) \
                == sorted(c.lab.computes), seen
        # Wherever Slurm puts it, beside the witness or not, the job must complete.
        submitted, = c.run(mode, job(action="submit", name=reason, wrap="sleep 1", time_limit=5), env=mitogen)
        assert submitted["changed"] and isinstance(submitted["job_id"], int), submitted
        waited, = c.run(mode, job(action="wait", job_id=submitted["job_id"], timeout=120), env=mitogen)
        assert waited["job"]["state"] == "COMPLETED" and waited["job"]["exit_code"] == 0, waited
        assert c.job_state(submitted["job_id"])[0] == "COMPLETED"
        witness.assert_completed()
    finally:
        witness.release()


def test_site_under_free_and_mitogen(cluster):
    c = cluster
    lab = c.lab
    # SchedulerType: before 23.11 slurmctld and every slurmd restart for it; from 23.11 a reconfigure.
    change = ("-e", '{"slurm_config": {"SchedulerType": "sched/builtin"}}')
    witness = lab.start_witness(c.node2)
    try:
        run = lab.playbook("playbooks/site.yml", *change, env=FREE)
        assert run.rc == 0 and not run.failures(), run.explain()
        assert "sched/builtin" in c.ssh("scontrol", "show", "config").stdout
        for host in [lab.controller] + lab.computes:
            assert "SchedulerType=sched/builtin" in lab.ssh(host, "cat", "/etc/slurm/slurm.conf").stdout, host
        # Under Mitogen: nothing left to do for the same setting.
        run = lab.playbook("playbooks/site.yml", *change, env=mitogen_strategy())
        assert run.rc == 0 and sum(run.changed().values()) == 0, run.changed_tasks()
        # Back under Mitogen.
        run = lab.playbook("playbooks/site.yml", env=mitogen_strategy())
        assert run.rc == 0 and not run.failures(), run.explain()
        # The roles install with apt_packages (apt-get), so no host got python3-apt.
        status = lab.ssh(c.node1, "dpkg-query", "-W", "-f=${db:Status-Abbrev}", "python3-apt", check=False).stdout
        assert not status.startswith("ii"), status
        assert "sched/backfill" in c.ssh("scontrol", "show", "config").stdout
        # And the default strategy finds nothing left to do.
        run = lab.playbook("playbooks/site.yml")
        assert run.rc == 0 and sum(run.changed().values()) == 0, run.changed_tasks()
        witness.assert_completed()
    finally:
        witness.release()
    c.wait_idle(*lab.computes)


SLOW_SLURMCTLD = "/run/systemd/system/slurmctld.service.d/it-slow.conf"


def test_a_setting_under_free_while_slurmctld_is_stopped(cluster):
    """slurmctld stopped and a setting changed, site.yml under free: the compute hosts reach the reconfigure
    before the controller has started slurmctld (its start made 15 s slower here, so that they do), wait for
    it, and every running slurmd takes the setting."""
    lab = cluster.lab
    slow = ("mkdir -p %s && printf '[Service]\\nExecStartPre=/bin/sleep 15\\n' > %s && systemctl daemon-reload"
            % (SLOW_SLURMCTLD.rsplit("/", 1)[0], SLOW_SLURMCTLD))
    with slurmd_verbose_with_slurmctld_stopped(lab, setup=slow, env=FREE,
                                               undo="rm -f %s && systemctl daemon-reload" % SLOW_SLURMCTLD) as trial:
        run = trial.run
        waited = [host for host in lab.computes
                  if "FAILED - RETRYING: [%s -> %s]: Reconfigure Slurm" % (host, lab.controller) in run.stdout]
        assert waited, run.stdout[-3000:]
        for host in [lab.controller] + lab.computes:
            assert ("Reconfigure Slurm", host, "changed") in run.results, run.changed_tasks()


def _reads(run, task):
    """{host: status} of the hosts that ran task."""
    return dict((host, status) for name, host, status in run.results if name == task)


READ_AHEAD = "Read the controller's current settings before any host writes them"
HANDED_READ = "Give the hosts of later batches this read of the controller"


def test_a_compute_host_late_under_free_still_restarts_for_a_restart_only_setting(cluster):
    """site.yml's Slurm plays under free, lab-node1 held back until the controller has written the new
    slurm.conf. The late host used to read the controller's new file, find no change and keep its
    slurmd through SchedulerType (bookworm: its PID unchanged); now every host of the slurm play read
    the controller in the play before, and the settings are judged against that read."""
    lab = cluster.lab
    late = cluster.node1
    with scheduler_type_builtin(lab, "tests/integration/playbooks/late_host_under_free.yml",
                                {"late_host": late, "late_setting": "^SchedulerType=sched/builtin$"}, env=FREE) as trial:
        run = trial.run
        # It did wait: the controller had written its file before the late host began the role.
        assert ("Hold the late host back until the controller has written its new slurm.conf", late, "ok") \
            in run.results, run.results
        ahead = _reads(run, READ_AHEAD)
        assert sorted(ahead) == sorted([lab.controller] + lab.computes), run.results
        assert set(ahead.values()) == {"ok"}, ahead


@pytest.mark.parametrize("play_before", [True, False], ids=["after-the-play-before", "alone"])
def test_serial_batches(cluster, play_before):
    """The slurm play with serial: 1 (tests/integration/playbooks/serial_batches.yml), after prepare.yml
    on every host or alone. The compute hosts' batches used to read the controller's slurm.conf that
    the first batch wrote, find no change and keep their slurmd through SchedulerType (bookworm: both
    PIDs unchanged). Now they take the read of the play before, or, alone, the first batch's read,
    which it hands to the later batches."""
    lab = cluster.lab
    with scheduler_type_builtin(lab, "tests/integration/playbooks/serial_batches.yml",
                                {"serial_play_before": play_before}) as trial:
        run = trial.run
        handed = _reads(run, HANDED_READ)
        if play_before:
            assert set(_reads(run, READ_AHEAD).values()) == {"ok"}, run.results
            assert handed and set(handed.values()) == {"skipping"}, handed
        else:
            # The controller's batch comes first and hands its read to the compute hosts, which
            # hand nothing on.
            assert handed == dict([(lab.controller, "ok")] + [(host, "skipping") for host in lab.computes]), handed


def test_serial_batches_drop_a_node(cluster):
    """The slurm play with serial: 1 alone, node2 left out of the inventory: the controller's batch
    drops it and slurmctld forgets it. node1's batch takes the settings from that batch's read but the
    node lines from its own: judged by the first batch's read alone, node2 was still leaving, and its
    jobs were looked up again with slurmctld no longer knowing it. Then site.yml puts it back."""
    c = cluster
    lab = c.lab
    dropped, kept = c.node2, c.node1
    inventory = copy.deepcopy(lab.inventory)
    del inventory["all"]["children"]["slurm_compute"]["hosts"][dropped]
    path = INVENTORY.parent / "serial-drop.yml"
    path.write_text(yaml.safe_dump(inventory))
    path.chmod(0o600)
    back = None
    witness = lab.start_witness(kept)
    try:
        run = lab.playbook("tests/integration/playbooks/serial_batches.yml", "-e", '{"serial_play_before": false}',
                           inventory=path)
        assert run.rc == 0 and not run.failures(), run.explain()
        # Only the controller's batch looked for jobs on the leaving node.
        looked = _reads(run, "Look for jobs on the nodes leaving the configuration")
        assert looked == {lab.controller: "ok", kept: "skipping"}, looked
        names = c.ssh("sinfo", "--noheader", "--Node", "--format=%N").stdout.split()
        assert dropped not in names and kept in names, names
        for host in (lab.controller, kept):
            text = lab.ssh(host, "cat", "/etc/slurm/nodes.conf").stdout
            assert dropped not in text and kept in text, (host, text)
        back = lab.playbook("playbooks/site.yml")
        assert back.rc == 0, back.explain()
        witness.assert_completed()
    finally:
        witness.release()
        path.unlink()
        if back is None or back.rc != 0:
            lab.playbook("playbooks/site.yml")
    c.wait_idle(*lab.computes)


def test_a_first_deploy_under_free(deployed_lab):
    """1 + 2 pure spare machines, a cluster of their own, deployed by site.yml under free."""
    lab = deployed_lab
    # spares[0] joins the lab's cluster (test_membership), spares[-1] is test_external's.
    assert len(lab.spares) >= 5, "this test needs five spare machines (lab/lab up --spare 5)"
    controller, *computes = lab.spares[1:4]
    spares = lab.inventory["all"]["children"]["lab_spare"]["hosts"]
    # Beside the lab's hosts.yml, so that the lab's group_vars apply; no slurm_dbd, no slurm_restd.
    path = INVENTORY.parent / "free-first-deploy.yml"
    path.write_text(yaml.safe_dump({"all": {"vars": lab.inventory["all"]["vars"], "children": {
        "slurm_controller": {"hosts": {controller: spares[controller]}},
        "slurm_compute": {"hosts": dict((host, spares[host]) for host in computes)}}}}))
    path.chmod(0o600)
    try:
        run = lab.playbook("playbooks/site.yml", env=FREE, inventory=path)
        assert run.rc == 0 and not run.failures(), run.explain()
        # A first deploy, whatever order the hosts ran in: nothing restarts or reconfigures.
        handlers = [name for name in run.changed_tasks() if name.startswith(("Restart ", "Reconfigure "))]
        assert handlers == [], run.changed_tasks()
        # The play before the slurm play read every host, the compute nodes' resources with it.
        read = [host for task, host, status in run.results
                if task == "Read whether Slurm is installed and the node's resources" and status == "ok"]
        assert sorted(read) == sorted([controller] + computes), run.results
        states = {}
        for _attempt in range(30):
            out = lab.ssh(controller, "sinfo", "--noheader", "--Node", "--format=%N %t").stdout
            states = dict(line.split() for line in out.splitlines())
            if states == dict((host, "idle") for host in computes):
                break
            time.sleep(2)
        assert states == dict((host, "idle") for host in computes), states
        # One nodes.conf on every host, every node line with its resources.
        texts = [lab.ssh(host, "cat", "/etc/slurm/nodes.conf").stdout for host in [controller] + computes]
        assert len(set(hashlib.sha1(text.encode()).hexdigest() for text in texts)) == 1, texts
        lines = [line for line in texts[0].splitlines() if line.startswith("NodeName=")]
        assert lines and all(" CPUs=" in line and " RealMemory=" in line for line in lines), lines
        out = lab.ssh(controller, "srun", "--nodes=2", "hostname").stdout
        assert sorted(out.split()) == sorted(computes), out
        # The default strategy finds nothing left to do.
        again = lab.playbook("playbooks/site.yml", inventory=path)
        assert again.rc == 0 and sum(again.changed().values()) == 0, again.changed_tasks()
    finally:
        path.unlink()
        for host in [controller] + computes:
            lab.ssh(host, "systemctl", "stop", "slurmctld", "slurmd", "munge", check=False)
