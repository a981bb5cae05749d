"""Nodes join and leave a running cluster; one dead host never rewrites the others.

add_nodes installs a spare machine with the run limited to it, remove_nodes
takes it out again; the configuration of every other host follows without
reconverging them. Each operation runs while a witness job runs on a node it
does not target, which must complete.
"""
import pytest
from conftest import UNPLUGGED_ENV, daemon_pids, mitogen_strategy, node_states, wait_idle

SLURM_CONF = "/etc/slurm/slurm.conf"
NODES_CONF = "/etc/slurm/nodes.conf"
# The one task that writes, and restarts where needed, every cluster host outside a limited run.
OUTSIDE_WRITE = "Write the new configuration on the cluster hosts outside this run, restarting where Slurm needs it"


def _files(lab, hosts):
    """slurm.conf and nodes.conf of each host, as text."""
    return {host: lab.ssh(host, "cat", SLURM_CONF, NODES_CONF).stdout for host in hosts}


def _defined_nodes(lab):
    """The node names that the controller's nodes.conf defines, as Slurm expands them."""
    names = []
    for line in lab.ssh(lab.controller, "cat", NODES_CONF).stdout.splitlines():
        if line.startswith("NodeName="):
            names += lab.ssh(lab.controller, "scontrol", "show", "hostnames",
                             line.split()[0].split("=", 1)[1]).stdout.split()
    return names


def test_add_node_limited_to_it(deployed_lab, spare, grown):
    lab = deployed_lab
    before = _files(lab, lab.hosts)
    pids = daemon_pids(lab, lab.hosts)
    witness = lab.start_witness(lab.computes[0])
    try:
        run = lab.playbook("playbooks/add_nodes.yml", "-i", grown, "--limit", spare)
        assert run.rc == 0, run.explain()
        witness.assert_completed()
    finally:
        witness.release()
    # Before 23.11 a new node needs every Slurm daemon restarted, in the call that wrote its files;
    # from 23.11 one reconfigure does (which restarts the daemons in place: their PIDs change too).
    if lab.suite == "bookworm":
        assert "Reconfigure Slurm outside this run" not in run.changed_tasks(), run.changed_tasks()
        restarted = {host for host, pid in daemon_pids(lab, lab.hosts).items() if pid != pids[host]}
        assert restarted == set(lab.hosts), restarted
    else:
        assert "Reconfigure Slurm outside this run" in run.changed_tasks(), run.changed_tasks()
    print("\nadd one node (add_nodes.yml --limit, 1+2 -> 1+3): %.1f s; cold 1+2 install (site.yml): %.1f s"
          % (run.seconds, lab.first_deploy.seconds))
    # Only the new host is in the run; the others were reached by delegation.
    assert set(run.stats) == {spare}, run.stats
    after = _files(lab, lab.hosts + [spare])
    assert len(set(after.values())) == 1, after
    assert all(after[host] != before[host] for host in lab.hosts)
    wait_idle(lab, lab.computes + [spare])
    out = lab.ssh(lab.controller, "srun", "--nodelist", spare, "--nodes=1", "hostname").stdout
    assert out.split() == [spare]

    # The -e nodes form over the same host: nothing left to do.
    run = lab.playbook("playbooks/add_nodes.yml", "-i", grown, "-e", "nodes=" + spare)
    assert run.rc == 0, run.explain()
    assert run.changed() == {spare: 0}, run.changed_tasks()


def test_restart_only_setting_in_two_slices(deployed_lab, spare, grown):
    """site.yml in two --limit halves (the controller in the first), as AWX job slicing runs it."""
    lab = deployed_lab
    first, second = "%s:%s" % (lab.controller, lab.computes[0]), ":".join(lab.computes[1:] + [spare])
    # SchedulerType: before 23.11 only a restart applies it; from 23.11 reconfigure does.
    change = ("-e", '{"slurm_config": {"SchedulerType": "sched/builtin"}}')
    outside = lab.computes[1:] + [spare]
    pids = daemon_pids(lab, outside)
    witness = lab.start_witness(lab.computes[0])
    try:
        run = lab.playbook("playbooks/site.yml", "-i", grown, "--limit", first, *change)
        assert run.rc == 0, run.explain()
        changed = run.changed_tasks()
        assert OUTSIDE_WRITE in changed, changed
        if lab.suite == "bookworm":
            assert {"Restart slurmctld for the new configuration", "Restart slurmd for the new configuration"} \
                <= set(changed), changed
            assert "Reconfigure Slurm" not in changed, changed
            # The second slice's slurmds restarted in the same call that wrote their files.
            assert all(pid != pids[host] for host, pid in daemon_pids(lab, outside).items()), (pids, daemon_pids(lab, outside))
        else:
            assert "Reconfigure Slurm" in changed, changed
            assert not [task for task in changed if task.startswith("Restart")], changed
        assert "sched/builtin" in lab.ssh(lab.controller, "scontrol", "show", "config").stdout
        # The first slice already gave the second one's hosts their files.
        run = lab.playbook("playbooks/site.yml", "-i", grown, "--limit", second, *change)
        assert run.rc == 0, run.explain()
        assert sum(run.changed().values()) == 0, run.changed_tasks()
        # Back, in one run; then one more full run has nothing left to do.
        run = lab.playbook("playbooks/site.yml", "-i", grown)
        assert run.rc == 0, run.explain()
        run = lab.playbook("playbooks/site.yml", "-i", grown)
        assert run.rc == 0, run.explain()
        assert sum(run.changed().values()) == 0, run.changed_tasks()
        witness.assert_completed()
    finally:
        witness.release()
    assert "sched/backfill" in lab.ssh(lab.controller, "scontrol", "show", "config").stdout
    wait_idle(lab, lab.computes + [spare])


def test_state_save_location_change_is_refused(deployed_lab, grown):
    lab = deployed_lab
    before = _files(lab, [lab.controller])
    pids = daemon_pids(lab, [lab.controller])
    run = lab.playbook("playbooks/site.yml", "-i", grown,
                       "-e", '{"slurm_config": {"StateSaveLocation": "/var/lib/slurm/elsewhere"}}')
    assert run.rc != 0
    assert "StateSaveLocation would change" in run.stdout and "slurm_state_save_move" in run.stdout, run.stdout[-3000:]
    assert _files(lab, [lab.controller]) == before
    assert daemon_pids(lab, [lab.controller]) == pids


def test_node_with_a_job_is_not_removed(deployed_lab, spare, grown):
    lab = deployed_lab
    before = _files(lab, lab.hosts + [spare])
    job = lab.start_witness(spare)
    try:
        # The inventory without the spare: it would leave nodes.conf while its job runs.
        run = lab.playbook("playbooks/site.yml")
        assert run.rc != 0
        assert "would leave the cluster's configuration" in run.stdout and job.job_id in run.stdout, \
            run.stdout[-3000:]
        assert _files(lab, lab.hosts + [spare]) == before
        # remove_nodes drains, waits, then reports the job that still runs and stops.
        run = lab.playbook("playbooks/remove_nodes.yml", "-i", grown, "-e", "nodes=" + spare,
                           "-e", "remove_nodes_timeout=4")
        assert run.rc != 0
        assert "still run on " + spare in run.stdout and job.job_id in run.stdout, run.stdout[-3000:]
        assert _files(lab, lab.hosts + [spare]) == before
        job.assert_completed()
    finally:
        job.release()


def test_remove_node_and_uninstall(deployed_lab, spare, grown):
    lab = deployed_lab
    witness = lab.start_witness(lab.computes[0])
    try:
        run = lab.playbook("playbooks/remove_nodes.yml", "-i", grown, "-e", "nodes=" + spare, "-e", "uninstall=true")
        assert run.rc == 0, run.explain()
        witness.assert_completed()
    finally:
        witness.release()
    print("\nremove one node with uninstall: %.1f s" % run.seconds)
    after = _files(lab, lab.hosts)
    assert len(set(after.values())) == 1, after
    assert spare not in list(after.values())[0]
    assert spare not in node_states(lab)
    wait_idle(lab, lab.computes)
    out = lab.ssh(spare, "dpkg-query", "-W", "-f=${Status}\\n", "munge", "slurmd", check=False).stdout
    assert "install ok installed" not in out, out
    # Back to the lab's own inventory (the spare in no group): only the /etc/hosts
    # blocks lose it, on the controller and, from there, on the others; no restart.
    run = lab.playbook("playbooks/site.yml", "--limit", lab.controller)
    assert run.rc == 0, run.explain()
    assert set(run.changed_tasks()) <= {"Write every cluster host into /etc/hosts", OUTSIDE_WRITE}, \
        run.changed_tasks()
    for host in lab.hosts:
        assert spare not in lab.ssh(host, "cat", "/etc/hosts").stdout, host


def test_add_and_remove_node_under_mitogen(deployed_lab, spare, grown):
    """add_nodes and remove_nodes under Mitogen's linear strategy, on the spare left by the test above
    (remove_nodes' drain and removal plays pin plain linear; its uninstall play runs under Mitogen).

    Without python3-apt, as on a pure machine: under Mitogen the apt module could not install it
    for itself ("Could not import the python3-apt module"); the roles install with
    aiinfra.slurm.apt_packages, which needs none, and leave none.
    """
    lab = deployed_lab
    mitogen = mitogen_strategy()
    lab.ssh(spare, "dpkg", "--remove", "python3-apt")
    witness = lab.start_witness(lab.computes[0])
    try:
        run = lab.playbook("playbooks/add_nodes.yml", "-i", grown, "--limit", spare, env=mitogen)
        assert run.rc == 0, run.explain()
        status = lab.ssh(spare, "dpkg-query", "-W", "-f=${db:Status-Abbrev}", "python3-apt", check=False).stdout
        assert not status.startswith("ii"), status
        assert "Install the Slurm packages" in run.changed_tasks(), run.changed_tasks()
        # Not the witness's node: it is busy.
        wait_idle(lab, lab.computes[1:] + [spare])
        out = lab.ssh(lab.controller, "srun", "--nodelist", spare, "--nodes=1", "hostname").stdout
        assert out.split() == [spare]
        after = _files(lab, lab.hosts + [spare])
        assert len(set(after.values())) == 1, after
        assert sorted(_defined_nodes(lab)) == sorted(lab.computes + [spare])
        run = lab.playbook("playbooks/remove_nodes.yml", "-i", grown, "-e", "nodes=" + spare, "-e", "uninstall=true",
                           env=mitogen)
        assert run.rc == 0, run.explain()
        witness.assert_completed()
    finally:
        witness.release()
    assert spare not in node_states(lab)
    run = lab.playbook("playbooks/site.yml", "--limit", lab.controller, env=mitogen)
    assert run.rc == 0, run.explain()
    after = _files(lab, lab.hosts)
    assert len(set(after.values())) == 1, after
    assert sorted(_defined_nodes(lab)) == sorted(lab.computes)
    wait_idle(lab, lab.computes)


# Cut before the run, the host cannot be read at all; cut when the Slurm play starts, it was read by the
# plays before (munge) and drops out in the middle: either way the others keep its line and run on.
@pytest.mark.parametrize("cut", ["before the run", "mid-play"])
def test_unreachable_node_keeps_its_line(deployed_lab, cut):
    lab = deployed_lab
    down, up = lab.computes[-1], lab.computes[0]
    before = _files(lab, [lab.controller, up])
    pids = daemon_pids(lab, [lab.controller, up])
    witness = lab.start_witness(up)
    cuts = []

    def cut_at_the_slurm_play(line):
        if line.startswith("PLAY [Deploy Slurm]") and not cuts:
            lab.unplug(down)
            cuts.append(line)

    if cut == "before the run":
        lab.unplug(down)
        cuts.append(cut)
    try:
        run = lab.playbook("playbooks/site.yml", env=UNPLUGGED_ENV, on_line=cut_at_the_slurm_play)
    finally:
        lab.plug(down)
    try:
        assert cuts, "the run never reached the Slurm play:\n" + run.stdout[-3000:] + run.stderr[-2000:]
        assert run.rc != 0
        assert run.stats.get(down, {}).get("unreachable"), (run.stats, run.stdout[-3000:] + run.stderr[-2000:])
        if cut == "before the run":
            assert down + " cannot be read" in run.stdout, run.stdout[-3000:]
        else:
            assert "fatal: [%s]: UNREACHABLE!" % down in run.stdout, run.stdout[-3000:]
            assert run.stats[down]["ok"] > 0, run.stats
        assert _files(lab, [lab.controller, up]) == before
        assert daemon_pids(lab, [lab.controller, up]) == pids
        assert "Restart" not in " ".join(run.changed_tasks()), run.changed_tasks()
        witness.assert_completed()
    finally:
        witness.release()
    # Back on the network: a run over it converges (nothing changed meanwhile).
    wait_idle(lab, lab.computes)
    run = lab.playbook("playbooks/site.yml", "--limit", down, env=UNPLUGGED_ENV)
    assert run.rc == 0, run.explain()
    assert run.changed() == {down: 0}, run.changed_tasks()


def test_a_setting_with_a_host_outside_the_run_unreachable(deployed_lab):
    """site.yml --limit to the controller and node1 with a changed setting, node2 (outside the run) cut off
    the network: node2 is reported and keeps its files, and the run goes on to its end (slurmctld
    reconfigured, changed=... on the hosts in the run, rc 0). Outside.yml's run_once writes with
    ignore_unreachable used to end the play for every host, silently (rc 2, no reconfigure)."""
    lab = deployed_lab
    up, down = lab.computes[0], lab.computes[-1]
    before = _files(lab, [down])
    witness = lab.start_witness(up)
    back = None
    lab.unplug(down)
    try:
        run = lab.playbook("playbooks/site.yml", "--limit", "%s,%s" % (lab.controller, up),
                           "-e", '{"slurm_config": {"SlurmdDebug": "verbose"}}', env=UNPLUGGED_ENV)
    finally:
        lab.plug(down)
    try:
        assert run.rc == 0, run.explain()
        assert "%s cannot be reached and keep their current" % down in run.stdout, run.stdout[-3000:]
        assert "Reconfigure Slurm" in run.changed_tasks(), run.changed_tasks()
        assert "SlurmdDebug=verbose" in lab.ssh(lab.controller, "cat", SLURM_CONF).stdout
        assert _files(lab, [down]) == before
        back = lab.playbook("playbooks/site.yml")
        assert back.rc == 0, back.explain()
        assert "SlurmdDebug=verbose" not in lab.ssh(down, "cat", SLURM_CONF).stdout
        witness.assert_completed()
    finally:
        witness.release()
        if back is None or back.rc != 0:
            lab.playbook("playbooks/site.yml")
    wait_idle(lab, lab.computes)
