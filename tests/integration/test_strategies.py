"""The collection under the execution strategies that users reach for at scale (issue 13).

Mitogen's mitogen_linear strategy runs modules inside interpreters of its own on the hosts and
takes over how action plugins run them; Ansible's free strategy lets each host go through a
play on its own and runs run_once tasks on every host. On the deployed lab:

- the operation modules (slurm_node, slurm_job, slurm_cluster_facts: action plugins, which run
  in the control process for slurmrestd) work under mitogen_linear, with both backends;
- site.yml under free and under mitogen_linear takes a changed setting to every host and back,
  then changes nothing, and no host gets python3-apt (the roles install with apt-get through
  aiinfra.slurm.apt_packages; test_membership adds a pure machine under Mitogen).

A witness job runs on a node that no operation targets, and must complete.
"""
import pytest

from conftest import mitogen_strategy
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
