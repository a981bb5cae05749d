"""Configless Slurm (slurm_configless): the compute hosts fetch slurm.conf from slurmctld.

The running lab is switched to configless and back (refused in a run that leaves hosts out),
a slurmd that missed slurmctld's push is caught up, the lab is restored from a backup, and a
spare machine joins and leaves it, each while a witness job runs on a node the operation does
not target, which must complete. From 23.11 a node that joins changes only itself and the
controller: the other compute hosts are not reached (their files, /etc/hosts included, stay as
they are) and get the new node from slurmctld.
"""
import json

from conftest import node_states, wait_idle

CONFIGLESS = ("-e", "slurm_configless=true")
LOCAL_FILES = ("/etc/slurm/slurm.conf", "/etc/slurm/nodes.conf")
FETCHED_NODES = "/run/slurm/conf/nodes.conf"
DROPIN = "/etc/systemd/system/slurmd.service.d/aiinfra-slurm-configless.conf"


def _exists(lab, host, path):
    return lab.ssh(host, "test", "-e", path, check=False).returncode == 0


def _slurmd_command(lab, host):
    return lab.ssh(host, "ps", "-o", "args=", "-C", "slurmd").stdout.strip()


def _fetched_names(lab, host):
    """The node names in the nodes.conf that slurmd on `host` fetched."""
    lines = lab.ssh(host, "cat", FETCHED_NODES).stdout.splitlines()
    return [line.split()[0].split("=", 1)[1] for line in lines if line.startswith("NodeName=")]


def _wait_fetched(lab, host, names, timeout=60):
    for _attempt in range(timeout // 2):
        if sorted(_fetched_names(lab, host)) == sorted(names):
            return
        lab.ssh(host, "sleep", "2")
    raise AssertionError("%s fetched %s, not %s" % (host, _fetched_names(lab, host), names))


def _slurmd_pid(lab, host):
    return lab.ssh(host, "systemctl", "show", "--property=MainPID", "--value", "slurmd").stdout.strip()


def _backup(lab, backup_dir):
    """The archive of playbooks/backup.yml, written under `backup_dir` on the control node."""
    run = lab.playbook("playbooks/backup.yml", "-e", "backup_dir=%s" % backup_dir)
    assert run.rc == 0, run.explain()
    (archive,) = backup_dir.glob("slurm-backup-*.tar.gz")
    return archive


def _untouched(lab, hosts):
    """What a run that must not reach `hosts` would change there: /etc/hosts and /etc/slurm."""
    return {host: lab.ssh(host, "sh", "-c", "sha1sum /etc/hosts; ls -la --time-style=+%s /etc/slurm").stdout
            for host in hosts}


def test_switch_to_configless_and_back_with_a_node_joining_and_leaving(deployed_lab, spare, grown, tmp_path):
    lab = deployed_lab
    witness = lab.start_witness(lab.computes[0])
    try:
        # Switching needs every host in the run: one left out would keep reading slurm.conf the old way.
        run = lab.playbook("playbooks/site.yml", "--limit", lab.computes[0], *CONFIGLESS)
        assert run.rc != 0 and "slurm_configless would switch on, but" in run.stdout, run.explain()
        assert set(run.changed().values()) == {0}, run.changed_tasks()
        assert all(_exists(lab, lab.computes[0], path) for path in LOCAL_FILES)
        # A backup of the cluster with its own files: no slurm.conf a configless slurmd could fetch.
        local_backup = _backup(lab, tmp_path / "local")
        run = lab.playbook("playbooks/site.yml", *CONFIGLESS)
        assert run.rc == 0, run.explain()
        for host in lab.computes:
            assert not any(_exists(lab, host, path) for path in LOCAL_FILES), host
            assert "--conf-server=" + lab.address in _slurmd_command(lab, host), host
            # The client commands there read what slurmd fetched.
            assert sorted(_fetched_names(lab, host)) == sorted(lab.computes), host
        assert all(_exists(lab, lab.controller, path) for path in LOCAL_FILES)
        config = lab.ssh(lab.controller, "scontrol", "show", "config").stdout
        assert "enable_configless" in config, config
        wait_idle(lab, lab.computes[1:])
        run = lab.playbook("playbooks/site.yml", *CONFIGLESS)
        assert run.rc == 0 and set(run.changed().values()) == {0}, run.changed_tasks()
        # SLURMD_OPTIONS in one host's slurmd environment file would replace --conf-server there:
        # every host stops before writing.
        env_file = "/etc/default/slurmd"
        lab.ssh(lab.computes[1], "sh", "-c", "cp %s /tmp/slurmd.env && echo 'SLURMD_OPTIONS=-v' >> %s"
                % (env_file, env_file))
        try:
            run = lab.playbook("playbooks/site.yml", *CONFIGLESS)
        finally:
            lab.ssh(lab.computes[1], "mv", "/tmp/slurmd.env", env_file)
        assert run.rc != 0 and "SLURMD_OPTIONS is set in %s on %s" % (env_file, lab.computes[1]) in run.stdout, \
            run.explain()
        assert sorted(run.failures()) == sorted(lab.hosts), run.failures()
        assert set(run.changed().values()) == {0}, run.changed_tasks()
        # The doctor compares what slurmd fetched with the controller's files.
        report = tmp_path / "doctor.json"
        run = lab.playbook("playbooks/doctor.yml", "-e", "doctor_report=%s" % report)
        assert run.rc == 0, run.explain()
        verdict = json.loads(report.read_text())
        checks = {check["check"]: check for check in verdict["hosts"][lab.computes[1]]["checks"]}
        assert checks["slurm.conf"]["ok"] and "slurm.conf, nodes.conf" in checks["slurm.conf"]["detail"], checks

        # A slurmd that missed slurmctld's push (its copy older than the controller's) is restarted and fetches.
        lab.ssh(lab.computes[1], "sh", "-c", "echo '# missed a push' >> /run/slurm/conf/slurm.conf")
        run = lab.playbook("playbooks/site.yml", *CONFIGLESS)
        assert run.rc == 0, run.explain()
        assert "Restart slurmd that still runs with an older configuration" in run.changed_tasks(), run.changed_tasks()
        assert (lab.ssh(lab.computes[1], "cat", "/run/slurm/conf/slurm.conf").stdout
                == lab.ssh(lab.controller, "cat", LOCAL_FILES[0]).stdout)
        wait_idle(lab, lab.computes[1:])

        # Restore: the local-files backup is refused before any change.
        config = lab.ssh(lab.controller, "sha1sum", *LOCAL_FILES).stdout
        run = lab.playbook("playbooks/restore.yml", "-e", "restore_archive=%s" % local_backup, *CONFIGLESS)
        assert run.rc != 0 and "is not configless" in run.stdout, run.explain()
        assert lab.ssh(lab.controller, "sha1sum", *LOCAL_FILES).stdout == config
        # Nor are the backed-up keys left unpacked on the controller.
        assert lab.ssh(lab.controller, "find", "/tmp", "-maxdepth", "1", "-name", "slurm-restore.*").stdout == ""
        # A configless backup goes back onto the controller only; its slurmds restart and fetch it.
        configless_backup = _backup(lab, tmp_path / "configless")
        lab.ssh(lab.controller, "sh", "-c", "echo '# edited after the backup' >> /etc/slurm/slurm.conf")
        started = {host: _slurmd_pid(lab, host) for host in lab.computes}
        run = lab.playbook("playbooks/restore.yml", "-e", "restore_archive=%s" % configless_backup, *CONFIGLESS)
        assert run.rc == 0, run.explain()
        assert lab.ssh(lab.controller, "sha1sum", *LOCAL_FILES).stdout == config
        for host in lab.computes:
            assert not any(_exists(lab, host, path) for path in LOCAL_FILES), host
            assert _slurmd_pid(lab, host) != started[host], host
            fetched = lab.ssh(host, "cat", "/run/slurm/conf/slurm.conf").stdout
            assert fetched == lab.ssh(lab.controller, "cat", LOCAL_FILES[0]).stdout, host
        wait_idle(lab, lab.computes[1:])
        witness.assert_running()

        others = _untouched(lab, lab.computes)
        run = lab.playbook("playbooks/add_nodes.yml", "-i", grown, "--limit", spare, *CONFIGLESS)
        assert run.rc == 0, run.explain()
        assert set(run.stats) == {spare}, run.stats
        print("\nadd one node, configless (add_nodes.yml --limit, 1+2 -> 1+3): %.1f s" % run.seconds)
        assert "--conf-server=" + lab.address in _slurmd_command(lab, spare)
        if lab.suite != "bookworm":
            # 23.11+: the controller's reconfigure hands the others the new node; nothing else reaches them.
            assert _untouched(lab, lab.computes) == others
            assert "Restart slurmd outside this run to fetch the new configuration" not in run.changed_tasks()
        else:
            # 22.05: every slurmd restarts for a new node, and fetches it then.
            assert "Restart slurmd outside this run to fetch the new configuration" in run.changed_tasks(), \
                run.changed_tasks()
        for host in lab.computes:
            _wait_fetched(lab, host, lab.computes + [spare])
        wait_idle(lab, lab.computes[1:] + [spare])
        # The doctor does not ask the other compute hosts to resolve the new node's name: they use NodeAddr.
        run = lab.playbook("playbooks/doctor.yml", "-i", grown, *CONFIGLESS)
        assert run.rc == 0, run.explain()
        out = lab.ssh(lab.controller, "srun", "--nodelist", spare, "--nodes=1", "hostname").stdout
        assert out.split() == [spare]
        # A step over nodes that learned each other from slurmctld only.
        out = lab.ssh(lab.controller, "srun", "--nodelist", "%s,%s" % (lab.computes[-1], spare), "--nodes=2",
                      "hostname").stdout
        assert sorted(out.split()) == sorted([lab.computes[-1], spare]), out

        run = lab.playbook("playbooks/remove_nodes.yml", "-i", grown, "-e", "nodes=" + spare, "-e", "uninstall=true",
                           *CONFIGLESS)
        assert run.rc == 0, run.explain()
        assert spare not in node_states(lab)
        assert not _exists(lab, spare, DROPIN)
        for host in lab.computes:
            _wait_fetched(lab, host, lab.computes)

        # Back to the lab's own files on every host (and the spare out of every /etc/hosts).
        run = lab.playbook("playbooks/site.yml")
        assert run.rc == 0, run.explain()
        for host in lab.computes:
            assert all(_exists(lab, host, path) for path in LOCAL_FILES) and not _exists(lab, host, DROPIN), host
            assert "--conf-server" not in _slurmd_command(lab, host), host
        files = {host: lab.ssh(host, "cat", *LOCAL_FILES).stdout for host in lab.hosts}
        assert len(set(files.values())) == 1 and "enable_configless" not in files[lab.controller], files
        wait_idle(lab, lab.computes[1:])
        witness.assert_completed()
    finally:
        witness.release()
    run = lab.playbook("playbooks/site.yml")
    assert run.rc == 0 and set(run.changed().values()) == {0}, run.changed_tasks()
