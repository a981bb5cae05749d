"""Rolling maintenance (issue 10) on the deployed lab, one node per batch.

The operator's tasks (tests/integration/playbooks/rolling_maintenance_tasks.yml)
write a marker with the time into /shared and restart munge and slurmd, as a
reboot would (a systemd-nspawn machine that reboots is gone: nothing boots it
again).
"""
import json
import re
import threading
import time
import uuid
from pathlib import Path

from conftest import wait_idle

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = "playbooks/rolling_maintenance.yml"
TASKS = "tests/integration/playbooks/rolling_maintenance_tasks.yml"
ADMIN_REASON = "admin disk check"
PREFIX = "aiinfra.slurm rolling_maintenance"


def _node(lab, name):
    """State (IDLE, MIXED+DRAIN, ...) and reason of a node, as scontrol shows them."""
    out = lab.ssh(lab.controller, "scontrol", "--oneliner", "show", "node", name).stdout
    state = out.split(" State=", 1)[1].split()[0]
    reason = out.split(" Reason=", 1)[1].split(" [")[0] if " Reason=" in out else ""
    return state, reason


def _rolling(lab, marker_dir, *args):
    return lab.playbook(PLAYBOOK, "-e", "rolling_maintenance_tasks=%s" % (ROOT / TASKS),
                        "-e", "rolling_test_marker_dir=/shared/%s" % marker_dir.name, *args)


def _marker_dir(lab):
    path = lab.shared_dir / ("rolling-" + uuid.uuid4().hex[:8])
    path.mkdir()
    path.chmod(0o777)
    return path


def _wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(1)


def test_rolling_maintenance_waits_for_jobs_and_resumes_its_own_nodes(deployed_lab, tmp_path):
    lab = deployed_lab
    first, second = lab.computes[:2]
    markers = _marker_dir(lab)
    report = tmp_path / "report.json"
    # The witness runs on the second batch's node: the run must wait for it, not kill it.
    witness = lab.start_witness(second)
    try:
        result = {}
        thread = threading.Thread(target=lambda: result.setdefault("run", _rolling(
            lab, markers, "-e", "rolling_maintenance_report=%s" % report)))
        thread.start()
        try:
            # The first batch is done; the second is drained and waits for the witness.
            _wait_for("%s maintained and %s draining" % (first, second),
                      lambda: (markers / first).exists() and _node(lab, second)[1].startswith(PREFIX), 180)
            time.sleep(10)
            witness.assert_running()
            assert not (markers / second).exists(), "maintained while its job ran"
            state = _node(lab, second)[0]
            assert state.endswith("+DRAIN") and not state.startswith("IDLE"), state
            assert _node(lab, first) == ("IDLE", ""), _node(lab, first)
            released = time.time()
            witness.assert_completed()
        finally:
            witness.release()
            thread.join(600)
        run = result["run"]
        assert run.rc == 0, run.explain()
    finally:
        witness.release()
    assert float((markers / second).read_text()) > released
    for node in (first, second):
        assert _node(lab, node) == ("IDLE", ""), _node(lab, node)
    found = {entry["node"]: entry for entry in json.loads(report.read_text())["nodes"]}
    assert found[first]["done"] == ["drained", "maintained", "resumed"], found[first]
    assert found[second]["found"]["state"] in ("mixed", "allocated"), found[second]
    assert json.loads(report.read_text())["run"].startswith(PREFIX + " ")


def test_rolling_maintenance_keeps_an_admin_drain_and_stops_at_the_timeout(deployed_lab):
    lab = deployed_lab
    first, second = lab.computes[:2]
    lab.ssh(lab.controller, "scontrol", "update", "NodeName=" + first, "State=DRAIN", "Reason=" + ADMIN_REASON)
    job = None
    try:
        # A job on the second node outlives the timeout: the run stops, naming it.
        job = lab.ssh(lab.controller, "sbatch", "--parsable", "-w", second, "-N1", "--output=/dev/null",
                      "--wrap", "sleep 300").stdout.strip().split(";")[0]
        _wait_for("job %s running" % job, lambda: lab.ssh(
            lab.controller, "squeue", "--noheader", "--jobs", job, "--format=%T").stdout.strip() == "RUNNING", 60)
        markers = _marker_dir(lab)
        # The admin's node is out already: one more would exceed a maximum of one unavailable.
        run = _rolling(lab, markers, "--limit", second, "-e", "rolling_maintenance_max_unavailable=1")
        assert run.rc != 0
        assert "1 other node(s) are unavailable already (%s)" % first in run.stdout, run.explain()
        assert _node(lab, second)[1] == ""

        run = _rolling(lab, markers, "-e", "rolling_maintenance_drain_timeout=6")
        assert run.rc != 0
        assert "%s: 1 job(s) still running after 6 s" % second in run.stdout, run.explain()
        assert job in run.explain()
        state, reason = _node(lab, second)
        assert state.endswith("+DRAIN") and reason.startswith(PREFIX), (state, reason)
        assert _node(lab, first) == ("IDLE+DRAIN", ADMIN_REASON)
        assert list(markers.iterdir()) == []

        # The job gone, a new run takes over the node it left drained; the admin's node is skipped.
        lab.ssh(lab.controller, "scancel", job)
        markers = _marker_dir(lab)
        run = _rolling(lab, markers)
        assert run.rc == 0, run.explain()
        assert "%s: found idle DRAIN (%s); skipped" % (first, ADMIN_REASON) in run.stdout, run.stdout[-3000:]
        assert sorted(path.name for path in markers.iterdir()) == [second]
        assert _node(lab, second) == ("IDLE", "")
        assert _node(lab, first) == ("IDLE+DRAIN", ADMIN_REASON)

        # Maintained on request, and still not resumed.
        markers = _marker_dir(lab)
        run = _rolling(lab, markers, "--limit", first, "-e", "rolling_maintenance_admin_drained=maintain")
        assert run.rc == 0, run.explain()
        assert sorted(path.name for path in markers.iterdir()) == [first]
        assert _node(lab, first) == ("IDLE+DRAIN", ADMIN_REASON)
    finally:
        if job:
            lab.ssh(lab.controller, "scancel", job, check=False)
        lab.ssh(lab.controller, "scontrol", "update", "NodeName=" + first, "State=RESUME", check=False)
        lab.ssh(lab.controller, "scontrol", "update", "NodeName=" + second, "State=RESUME", check=False)


def test_rolling_maintenance_keeps_drains_made_during_the_run(deployed_lab):
    """During the first node's maintenance an admin drains it again with a reason of their own, and
    drains the second node, whose batch has not begun. The first stays drained with the admin's reason
    (it used to be resumed), the second is skipped with its reason kept (it used to be drained again
    with this run's reason, and then resumed). The witness on the second node completes."""
    lab = deployed_lab
    first, second = lab.computes[:2]
    reasons = {first: "admin bad DIMM seen in maintenance", second: "admin GPU ECC errors"}
    wait_idle(lab, lab.computes)
    markers = _marker_dir(lab)
    witness = lab.start_witness(second)
    try:
        run = _rolling(lab, markers, "-e", json.dumps({"rolling_test_admin_drains": reasons}))
        assert run.rc == 0, run.explain()
        assert sorted(path.name for path in markers.iterdir()) == [first]
        for node in (first, second):
            state, reason = _node(lab, node)
            assert "DRAIN" in state and reason == reasons[node], (node, state, reason)
        assert ("%s: found idle; drained, maintained, not resumed: drained by someone else during the maintenance"
                % first) in run.stdout, run.stdout[-3000:]
        # Found as the admin left it just before its batch, the witness running there.
        assert re.search(r"%s: found (mixed|allocated) DRAIN \(%s\); skipped" % (second, re.escape(reasons[second])),
                         run.stdout), run.stdout[-3000:]
        witness.assert_completed()
    finally:
        witness.release()
        for node in (first, second):
            lab.ssh(lab.controller, "scontrol", "update", "NodeName=" + node, "State=RESUME", check=False)
    wait_idle(lab, lab.computes)


def test_rolling_maintenance_check_mode_changes_nothing(deployed_lab):
    lab = deployed_lab
    # Slurm 24.11 flags a resumed node NOT_RESPONDING until its next ping (about
    # a second): the node must be found plain idle, so wait for that first.
    wait_idle(lab, lab.computes)
    markers = _marker_dir(lab)
    run = _rolling(lab, markers, "--check", "--limit", lab.computes[0])
    assert run.rc == 0, run.explain()
    assert ("%s: found idle; would have drained, would have maintained, would have resumed; now idle"
            % lab.computes[0]) in run.stdout, run.stdout[-3000:]
    assert list(markers.iterdir()) == []
    for node in lab.computes:
        assert _node(lab, node) == ("IDLE", ""), _node(lab, node)
