"""Deploy a cluster onto pure lab machines with playbooks/site.yml and check it."""
import base64
import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor

import yaml

from conftest import slurmd_verbose_with_slurmctld_stopped


def test_machines_start_pure(pure_lab):
    for host in pure_lab.hosts:
        result = pure_lab.ssh(host, "dpkg-query", "-W", "-f=${Status}\\n", "munge", "slurmctld", "slurmd",
                              check=False)
        assert "install ok installed" not in result.stdout, "%s is not pure: %s" % (host, result.stdout)


def test_site_deploys_from_pure_machines(deployed_lab):
    run = deployed_lab.first_deploy
    assert run.rc == 0, run.explain()
    assert all(count > 0 for count in run.changed().values())
    # Every daemon started with the files this run wrote: nothing restarts or reconfigures.
    assert _handlers_that_ran(run) == [], run.changed_tasks()


def test_every_compute_node_is_idle(deployed_lab):
    out = deployed_lab.ssh(deployed_lab.controller, "sinfo", "--noheader", "--Node", "--format=%N %t").stdout
    states = dict(line.split() for line in out.splitlines())
    assert states == {node: "idle" for node in deployed_lab.computes}


def test_srun_runs_on_every_compute_node(deployed_lab):
    count = str(len(deployed_lab.computes))
    out = deployed_lab.ssh(deployed_lab.controller, "srun", "-N", count, "-n", count, "hostname").stdout
    assert sorted(out.split()) == sorted(deployed_lab.computes)


def test_munge_key_is_one_cluster_key_with_strict_mode(deployed_lab):
    sums = {}
    for host in deployed_lab.hosts:
        # Only the checksum and metadata leave the host, never the key.
        out = deployed_lab.ssh(host, "sh", "-c", "sha256sum /etc/munge/munge.key; "
                                                 "stat -c '%U %G %a %s' /etc/munge/munge.key").stdout.split("\n")
        sums[host] = out[0].split()[0]
        owner, group, mode, size = out[1].split()
        # Debian's package makes a 128-byte key; the role makes 1024 bytes where none exists.
        assert (owner, group, mode) == ("munge", "munge", "400") and int(size) >= 128, "%s: %s" % (host, out[1])
    assert len(set(sums.values())) == 1, sums


def test_credential_from_controller_decodes_on_every_node(deployed_lab):
    credential = deployed_lab.ssh(deployed_lab.controller, "munge", "-n").stdout
    for host in deployed_lab.computes:
        out = deployed_lab.ssh(host, "unmunge", stdin=credential).stdout
        assert re.search(r"STATUS:\s+Success \(0\)", out), out


def test_slurm_conf_is_identical_everywhere(deployed_lab):
    sums = {host: deployed_lab.ssh(host, "sha256sum", "/etc/slurm/slurm.conf", "/etc/slurm/nodes.conf").stdout
            for host in deployed_lab.hosts}
    assert len(set(sums.values())) == 1, sums


def test_second_run_changes_nothing(deployed_lab):
    run = deployed_lab.playbook("playbooks/site.yml")
    assert run.rc == 0, run.explain()
    assert run.changed() == {host: 0 for host in deployed_lab.hosts}, run.changed_tasks()


def test_check_diff_run_changes_nothing(deployed_lab):
    run = deployed_lab.playbook("playbooks/site.yml", "--check", "--diff")
    assert run.rc == 0, run.explain()
    assert run.changed() == {host: 0 for host in deployed_lab.hosts}, run.changed_tasks()


def _running_job(lab):
    out = lab.ssh(lab.controller, "sbatch", "--parsable", "--job-name=survivor", "--wrap", "sleep 600").stdout
    job_id = out.strip().split(";")[0]
    for _attempt in range(30):
        state = lab.ssh(lab.controller, "squeue", "--noheader", "--jobs", job_id, "--format=%T").stdout.strip()
        if state == "RUNNING":
            return job_id
        lab.ssh(lab.controller, "sleep", "1")
    raise AssertionError("job %s did not start: %s" % (job_id, state))


def _job_state(lab, job_id):
    return lab.ssh(lab.controller, "squeue", "--noheader", "--jobs", job_id, "--format=%T").stdout.strip()


def _handlers_that_ran(run):
    return [name for name in run.changed_tasks() if name.startswith(("Restart slurm", "Reconfigure Slurm"))]


def _node_change_handlers(lab):
    """What applies a node change: restarts before 23.11, a reconfigure from 23.11."""
    version = lab.ssh(lab.controller, "scontrol", "--version").stdout.split()[-1]
    if tuple(int(part) for part in version.split(".")[:2]) < (23, 11):
        return ["Restart slurmctld for the new configuration", "Restart slurmd for the new configuration"]
    return ["Reconfigure Slurm"]


def _weights(lab):
    out = lab.ssh(lab.controller, "sinfo", "--noheader", "--Node", "--format=%N %w").stdout
    return {line.split()[1] for line in out.splitlines()}


def test_partition_change_reconfigures_and_keeps_jobs(deployed_lab):
    job_id = _running_job(deployed_lab)
    changed = ('{"slurm_partitions": [{"name": "main", "nodes": "ALL", "default": true,'
               ' "options": {"MaxTime": "INFINITE", "State": "UP", "DefaultTime": "60"}}]}')
    run = deployed_lab.playbook("playbooks/site.yml", "-e", changed)
    assert run.rc == 0, run.explain()
    assert _handlers_that_ran(run) == ["Reconfigure Slurm"]
    assert _job_state(deployed_lab, job_id) == "RUNNING"
    out = deployed_lab.ssh(deployed_lab.controller, "scontrol", "show", "partition", "main").stdout
    assert "DefaultTime=01:00:00" in out
    deployed_lab.ssh(deployed_lab.controller, "scancel", job_id)


def test_node_change_applies_as_the_version_needs_and_keeps_jobs(deployed_lab):
    job_id = _running_job(deployed_lab)
    run = deployed_lab.playbook("playbooks/site.yml", "-e", '{"slurm_node_resources": {"Weight": 7}}')
    assert run.rc == 0, run.explain()
    assert _handlers_that_ran(run) == _node_change_handlers(deployed_lab)
    assert _job_state(deployed_lab, job_id) == "RUNNING"
    assert _weights(deployed_lab) == {"7"}
    deployed_lab.ssh(deployed_lab.controller, "scancel", job_id)


def test_vaulted_munge_key_is_installed_byte_exact_and_never_printed(deployed_lab):
    key = os.urandom(1024)
    encoded = base64.b64encode(key).decode()
    run = deployed_lab.playbook("playbooks/site.yml", "-e", "munge_key_b64=" + encoded, "--diff")
    assert run.rc == 0, run.explain()
    assert encoded[:40] not in run.stdout + run.stderr
    for host in deployed_lab.hosts:
        out = deployed_lab.ssh(host, "sha256sum", "/etc/munge/munge.key").stdout
        assert out.split()[0] == hashlib.sha256(key).hexdigest(), host
    count = str(len(deployed_lab.computes))
    out = deployed_lab.ssh(deployed_lab.controller, "srun", "-N", count, "hostname").stdout
    assert sorted(out.split()) == sorted(deployed_lab.computes)
    # The vaulted key is compared by checksum: the same key again changes nothing.
    again = deployed_lab.playbook("playbooks/site.yml", "-e", "munge_key_b64=" + encoded)
    assert again.rc == 0, again.explain()
    assert again.changed() == {host: 0 for host in deployed_lab.hosts}, again.changed_tasks()
    assert encoded[:40] not in again.stdout + again.stderr


def test_daemons_running_but_not_enabled_still_take_a_node_change(deployed_lab):
    """slurmctld and slurmd running but not enabled: a run with a node change enables them and applies the
    change as the version needs, though their start tasks report a change (for the enabling only)."""
    lab = deployed_lab
    witness = lab.start_witness(lab.computes[-1])
    try:
        lab.ssh(lab.controller, "systemctl", "disable", "--quiet", "slurmctld")
        for host in lab.computes:
            lab.ssh(host, "systemctl", "disable", "--quiet", "slurmd")
        # 9: a weight no other test sets, so this is a change whatever ran before.
        run = lab.playbook("playbooks/site.yml", "-e", '{"slurm_node_resources": {"Weight": 9}}')
        assert run.rc == 0, run.explain()
        expected = _node_change_handlers(lab)
        # The scenario: the start tasks changed (they enabled the running daemons).
        assert {"Start slurmctld", "Start slurmd"} <= set(run.changed_tasks()), run.changed_tasks()
        assert _handlers_that_ran(run) == expected, run.changed_tasks()
        assert _weights(lab) == {"9"}
        assert lab.ssh(lab.controller, "systemctl", "is-enabled", "slurmctld").stdout.strip() == "enabled"
        for host in lab.computes:
            assert lab.ssh(host, "systemctl", "is-enabled", "slurmd").stdout.strip() == "enabled", host
        back = lab.playbook("playbooks/site.yml")
        assert back.rc == 0 and _handlers_that_ran(back) == expected, back.explain()
        # The lab's inventory sets no Weight: Slurm's default, whatever an earlier test left.
        assert _weights(lab) == {"1"}
        witness.assert_completed()
    finally:
        witness.release()


def test_a_munged_running_but_not_enabled_restarts_with_a_new_key(deployed_lab):
    """munged running but not enabled on one node: a new key reaches its memory too (the role's own check,
    a controller's credential decoded on every host, passes), and munge is enabled again."""
    lab = deployed_lab
    host = lab.computes[0]
    witness = lab.start_witness(lab.computes[-1])
    try:
        lab.ssh(host, "systemctl", "disable", "--quiet", "munge")
        key = os.urandom(1024)
        encoded = base64.b64encode(key).decode()
        run = lab.playbook("playbooks/site.yml", "-e", "munge_key_b64=" + encoded)
        assert run.rc == 0, run.explain()
        assert ("Start munge", host, "changed") in run.results, run.changed_tasks()
        assert ("Restart munge", host, "changed") in run.results, run.changed_tasks()
        assert encoded[:40] not in run.stdout + run.stderr
        assert lab.ssh(host, "systemctl", "is-enabled", "munge").stdout.strip() == "enabled"
        # The run checked the new key in memory: the controller's credential decoded on that host too.
        assert ("Decode the key source host's credential on every host", host, "ok") in run.results
        count = str(len(lab.computes))
        out = lab.ssh(lab.controller, "srun", "-N", count, "hostname").stdout
        assert sorted(out.split()) == sorted(lab.computes)
        witness.assert_completed()
    finally:
        witness.release()
        # Should this fail, munged there must not keep an old key for the tests after this one.
        lab.ssh(host, "systemctl", "enable", "--now", "--quiet", "munge")
        lab.ssh(host, "systemctl", "restart", "munge")


def test_a_stopped_slurmctld_started_with_a_change_still_reconfigures_the_running_slurmds(deployed_lab):
    """slurmctld stopped when a setting changes: the run starts it with the new files, and the slurmds that
    ran through take the setting too (before, the handlers skipped the reconfigure as for a first deploy)."""
    lab = deployed_lab
    with slurmd_verbose_with_slurmctld_stopped(lab) as trial:
        assert ("Start slurmctld", lab.controller, "changed") in trial.run.results, trial.run.changed_tasks()
        assert _handlers_that_ran(trial.run) == ["Reconfigure Slurm"], trial.run.changed_tasks()
    assert _handlers_that_ran(trial.back) == ["Reconfigure Slurm"], trial.back.changed_tasks()


def test_back_to_the_inventory_and_idempotent(deployed_lab):
    run = deployed_lab.playbook("playbooks/site.yml")
    assert run.rc == 0, run.explain()
    run = deployed_lab.playbook("playbooks/site.yml")
    assert run.changed() == {host: 0 for host in deployed_lab.hosts}, run.changed_tasks()


def _owner(lab, host, path):
    return lab.ssh(host, "stat", "-c", "%U %G %a", path).stdout.split()


def _repaired_alone(lab, host, path, wanted, role):
    """Give a key on one host the wrong owner and group; a re-run repairs it there only, saying why."""
    lab.ssh(host, "chown", "root:root", path)
    run = lab.playbook("playbooks/site.yml")
    assert run.rc == 0, run.explain()
    changed = run.changed()
    assert changed[host] > 0 and [name for name, count in changed.items() if count] == [host], run.changed_tasks()
    assert _owner(lab, host, path) == wanted
    # The run says why it did not skip the host, and for that host only.
    reasons = re.search(r"TASK \[[^\]]*Converge %s because\] \*+\n(.*?)\n\n" % role, run.stdout, re.S).group(1)
    assert "ok: [%s]" % host in reasons and reasons.count("ok: [") == 1, reasons
    for word in ("owner root, wanted %s" % wanted[0], "group root, wanted %s" % wanted[1]):
        assert "file %s: %s" % (path, word) in reasons, reasons


def test_munge_key_with_wrong_owner_and_group_is_repaired_on_that_host_only(deployed_lab):
    _repaired_alone(deployed_lab, deployed_lab.computes[-1], "/etc/munge/munge.key", ["munge", "munge", "400"],
                    "munge")
    count = str(len(deployed_lab.computes))
    out = deployed_lab.ssh(deployed_lab.controller, "srun", "-N", count, "hostname").stdout
    assert sorted(out.split()) == sorted(deployed_lab.computes)


def test_jwt_key_with_wrong_owner_and_group_is_repaired_on_that_host_only(deployed_lab):
    _repaired_alone(deployed_lab, deployed_lab.controller, "/etc/slurm/jwt_hs256.key", ["slurm", "slurm", "600"],
                    "Slurm")
    run = deployed_lab.playbook("playbooks/site.yml")
    assert run.changed() == {host: 0 for host in deployed_lab.hosts}, run.changed_tasks()


def test_invalid_settings_fail_before_any_change(deployed_lab):
    bad_runs = ('{"slurm_cluster_name": "lab;reboot"}',
                '{"slurm_partitions": [{"name": "main\\nNodeName=evil", "nodes": "ALL"}]}',
                '{"slurm_extra_nodes": ["PartitionName=sneaky Nodes=ALL"]}',
                # Line injection (issue 11): a trailing newline, a value, a key.
                '{"slurm_partitions": [{"name": "main\\n", "nodes": "ALL"}]}',
                '{"slurm_partitions": [{"name": "main", "nodes": "ALL", "options": {"MaxTime": "1\\nNodeName=evil CPUs=1"}}]}',
                '{"slurm_config": {"SchedulerParameters\\nPartitionName=evil": "x"}}',
                '{"slurm_config": {"SchedulerParameters": "x PartitionName=evil"}}',
                '{"slurm_node_features": ["gpu,evil"]}',
                '{"slurm_node_resources": {"Weight": "1\\rNodeName=evil"}}',
                '{"slurm_cgroup_config": {"ConstrainCores": "yes\\nConstrainDevices=no"}}')
    # Each run stops before any change, so they can run at the same time (two site.yml runs at once
    # are a case of their own in test_faults); most of a run is waiting for the hosts.
    with ThreadPoolExecutor(max_workers=5) as pool:
        runs = list(pool.map(lambda bad: deployed_lab.playbook("playbooks/site.yml", "-e", bad), bad_runs))
    for bad, run in zip(bad_runs, runs):
        assert run.rc != 0, bad
        # The first role that reads the setting refuses it (slurmdbd's runs before slurm's).
        assert re.search(r"Invalid (Slurm|slurmdbd) settings", run.stdout), run.stdout[-2000:]
        assert run.changed() == {host: 0 for host in deployed_lab.hosts}, (bad, run.changed_tasks())


def test_an_unreachable_compute_node_keeps_its_line_while_the_others_change(deployed_lab, tmp_path):
    node = deployed_lab.computes[-1]
    others = [host for host in deployed_lab.hosts if host != node]

    def line_of(text):
        return [line for line in text.splitlines() if line.startswith("NodeName=")]

    before = deployed_lab.ssh(deployed_lab.controller, "cat", "/etc/slurm/nodes.conf").stdout
    # The node's address moves to one where nothing answers, as if it were down.
    controller_addr = deployed_lab.inventory["all"]["children"]["slurm_controller"]["hosts"][
        deployed_lab.controller]["ansible_host"]
    gone = tmp_path / "gone.yml"
    gone.write_text(yaml.safe_dump({"all": {"hosts": {node: {
        "ansible_host": controller_addr.rsplit(".", 1)[0] + ".99"}}}}))
    # A change of every node's line: the reachable ones take it, the unreachable one keeps its line.
    run = deployed_lab.playbook("playbooks/site.yml", "-i", str(gone), "-e", '{"slurm_node_resources": {"Weight": 3}}')
    assert run.rc != 0
    assert "%s cannot be read" % node in run.stdout, run.stdout[-3000:]
    after = {host: deployed_lab.ssh(host, "cat", "/etc/slurm/nodes.conf").stdout for host in others}
    assert len(set(after.values())) == 1, after
    kept = [line for line in line_of(after[deployed_lab.controller]) if "Weight=3" not in line]
    assert kept == [line.replace(line.split()[0], "NodeName=" + node) for line in line_of(before)], after
    # Back: the next run converges it.
    run = deployed_lab.playbook("playbooks/site.yml")
    assert run.rc == 0, run.explain()
    run = deployed_lab.playbook("playbooks/site.yml")
    assert run.changed() == {host: 0 for host in deployed_lab.hosts}, run.changed_tasks()


def test_a_setting_slurm_rejects_fails_before_any_write_and_jobs_run_on(deployed_lab):
    job_id = _running_job(deployed_lab)
    before = {host: deployed_lab.ssh(host, "sha256sum", "/etc/slurm/slurm.conf", "/etc/slurm/nodes.conf").stdout
              for host in deployed_lab.hosts}
    # Passes our checks (one token), but no such plugin exists.
    run = deployed_lab.playbook("playbooks/site.yml", "-e", '{"slurm_config": {"SelectType": "select/bogus"}}')
    assert run.rc != 0
    assert "Slurm rejects the new configuration" in run.stdout and "select/bogus" in run.stdout, run.stdout[-3000:]
    assert run.changed() == {host: 0 for host in deployed_lab.hosts}, run.changed_tasks()
    after = {host: deployed_lab.ssh(host, "sha256sum", "/etc/slurm/slurm.conf", "/etc/slurm/nodes.conf").stdout
             for host in deployed_lab.hosts}
    assert after == before
    assert _job_state(deployed_lab, job_id) == "RUNNING"
    deployed_lab.ssh(deployed_lab.controller, "scancel", job_id)
