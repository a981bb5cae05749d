"""Fixtures for the lab tests: real machines booted by lab/lab, real Slurm.

Each session boots a fresh, pure lab of one Debian suite (`--suite`), so a
run covers one Slurm version; `make test` runs the suite twice.
"""
import contextlib
import json
import os
import re
import shlex
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# LAB_ID selects one of several labs that can run side by side (lab/lab).
LAB_ID = os.environ.get("LAB_ID", "0")
INVENTORY = ROOT / "inventories" / ("lab" if LAB_ID in ("", "0") else "lab" + LAB_ID) / "hosts.yml"
LAB = ROOT / "lab" / "lab"


def mitogen_strategy():
    """The environment of a run under Mitogen's linear strategy (mitogen is in requirements.txt)."""
    import ansible_mitogen  # pylint: disable=import-outside-toplevel

    return {"ANSIBLE_STRATEGY": "mitogen_linear",
            "ANSIBLE_STRATEGY_PLUGINS": str(Path(ansible_mitogen.__file__).parent / "plugins" / "strategy")}


def pytest_addoption(parser):
    parser.addoption("--suite", default="bookworm", choices=["bookworm", "trixie"],
                     help="Debian suite of the lab machines (bookworm: Slurm 22.05, trixie: 24.11)")
    parser.addoption("--compute", default=2, type=int, help="number of compute nodes")
    parser.addoption("--spare", default=5, type=int,
                     help="number of spare pure machines (inventory group lab_spare) for add/attach tests")


class Lab:
    """The running lab: its inventory, SSH into its machines, ansible runs."""

    def __init__(self, suite, compute):
        self.suite = suite
        self.compute = compute
        self.inventory = yaml.safe_load(INVENTORY.read_text())
        children = self.inventory["all"]["children"]
        self.controller = next(iter(children["slurm_controller"]["hosts"]))
        self.computes = list(children["slurm_compute"]["hosts"])
        self.hosts = [self.controller] + self.computes
        # Pure machines in no slurm_* group: the tests that add or attach hosts take them.
        self.spares = list((children.get("lab_spare") or {}).get("hosts") or {})
        self.address = children["slurm_controller"]["hosts"][self.controller]["ansible_host"]
        # slurmrestd listens on the controller's loopback; other hosts reach it through
        # nginx with TLS (aiinfra.slurm.slurmrestd_proxy), checked with the site CA the
        # lab's group_vars copy next to the inventory.
        self.rest_url = "https://%s:6821" % self.address
        self.rest_ca_path = INVENTORY.parent / "slurmrestd-ca.crt"
        # The host side of /shared in every machine (lab/lab up --shared).
        shared = self.inventory["all"]["vars"].get("lab_shared_dir")
        self.shared_dir = Path(shared) if shared else None

    def ssh(self, host, *argv, check=True, stdin=None, timeout=120):
        # lab ssh hands the command to the remote shell: quote each argument.
        result = subprocess.run([str(LAB), "ssh", host, shlex.join(argv)], input=stdin, capture_output=True, check=False,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError("%s on %s failed (rc %d): %s %s" % (
                " ".join(argv), host, result.returncode, result.stdout, result.stderr))
        return result

    def playbook(self, playbook, *args, env=None, on_line=None, inventory=INVENTORY):
        """Run a playbook; return its PlaybookRun. `on_line` sees each line of output as it comes."""
        environment = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                           ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", **(env or {}))
        argv = ["ansible-playbook", "-i", str(inventory), str(ROOT / playbook), *args]
        start = time.monotonic()
        # One path for every run: stdout line by line (for `on_line`), stderr to a file so neither pipe can fill.
        with tempfile.TemporaryFile(mode="w+") as stderr, \
                subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT,
                                 env=environment) as process:
            # A hung run is killed after 15 minutes, as a failure of the test that started it.
            watchdog = threading.Timer(900, process.kill)
            watchdog.start()
            lines = []
            try:
                for line in process.stdout:
                    lines.append(line)
                    if on_line is not None:
                        on_line(line.rstrip("\n"))
                rc = process.wait()
            finally:
                watchdog.cancel()
            stderr.seek(0)
            return PlaybookRun(rc, "".join(lines), stderr.read(), time.monotonic() - start)

    def unplug(self, host):
        """Take a machine off the lab network; it keeps running, as a host behind a failed link."""
        subprocess.run([str(LAB), "unplug", host], check=True)

    def plug(self, host):
        subprocess.run([str(LAB), "plug", host], check=True)

    def start_witness(self, node, seconds=900):
        """Start a job on `node` that runs until `assert_completed` (at most `seconds`); return it running."""
        assert self.shared_dir, "the witness needs the lab's shared directory (lab/lab up --shared)"
        witness = Witness(self, node, seconds)
        witness.start()
        return witness


# For a run while a machine is unplugged: no SSH connection reused from earlier runs (a
# master to the cut machine would hang), and a short connect timeout.
UNPLUGGED_ENV = {"ANSIBLE_SSH_ARGS": "-o PreferredAuthentications=publickey", "ANSIBLE_TIMEOUT": "10"}


class Witness:
    """A batch job pinned to one node, started before an operation and released after it.

    It must run through the operation untouched: it completes with exit 0 and
    prints its marker into /shared only if nothing killed or requeued it and it
    was released before `seconds` ran out.
    """

    def __init__(self, lab, node, seconds):
        self.lab, self.node, self.seconds = lab, node, seconds
        self.tag = "witness-%s-%s" % (node, uuid.uuid4().hex[:8])
        self.marker = self.tag + " completed"
        self.job_id = None

    def _path(self, suffix):
        return self.lab.shared_dir / (self.tag + suffix)

    def start(self, timeout=60):
        release = "/shared/%s.release" % self.tag
        script = ('echo "%s started on $(hostname)"; i=0; '
                  'while [ ! -e %s ] && [ $i -lt %d ]; do sleep 1; i=$((i + 1)); done; '
                  '[ -e %s ] && echo "%s"') % (self.tag, release, self.seconds, release, self.marker)
        out = self.lab.ssh(self.lab.controller, "sbatch", "--parsable", "--job-name=" + self.tag, "-w", self.node,
                           "-N1", "--output=/shared/%s.out" % self.tag, "--wrap", script).stdout
        self.job_id = out.strip().split(";")[0]
        deadline = time.monotonic() + timeout
        while True:
            state = self._squeue()
            if state.startswith("RUNNING"):
                assert state.split()[1] == self.node, state
                return
            assert time.monotonic() < deadline, "witness job %s did not start on %s: %r" % (
                self.job_id, self.node, state)
            time.sleep(1)

    def _squeue(self):
        return self.lab.ssh(self.lab.controller, "squeue", "--noheader", "--jobs", self.job_id,
                            "--format=%T %N", check=False).stdout.strip()

    def assert_running(self):
        state = self._squeue()
        assert state.startswith("RUNNING"), "witness job %s on %s: %r" % (self.job_id, self.node, state)

    def release(self):
        """Let the job end (also after a failed test, so that it does not hold its node)."""
        self._path(".release").touch()

    def assert_completed(self, timeout=60):
        """Release the job; it must finish with exit 0 and its marker in its output."""
        self.release()
        deadline = time.monotonic() + timeout
        while self._squeue():
            assert time.monotonic() < deadline, "witness job %s still queued: %s" % (self.job_id, self._squeue())
            time.sleep(1)
        # slurmctld keeps a finished job for MinJobAge (300 s) seconds.
        record = self.lab.ssh(self.lab.controller, "scontrol", "--oneliner", "show", "job", self.job_id,
                              check=False).stdout
        if "JobState=" in record:
            assert "JobState=COMPLETED" in record and "ExitCode=0:0" in record, record
        output = self._path(".out").read_text() if self._path(".out").exists() else ""
        assert self.marker in output, "witness job %s: %r" % (self.job_id, output)


TASK_LINE = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?:[^\]]+ : )?(?P<name>.*)\] \*+$")
RESULT_LINE = re.compile(r"^(?P<status>ok|changed|fatal|failed|skipping|unreachable): \[(?P<host>[^\] ]+)")
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
                        r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)")


class PlaybookRun:
    """What one ansible-playbook run did, read from the default callback's output."""

    def __init__(self, rc, stdout, stderr, seconds):
        self.rc, self.stdout, self.stderr, self.seconds = rc, stdout, stderr, seconds
        self.stats, self.results = {}, []
        task = None
        for line in stdout.splitlines():
            if TASK_LINE.match(line):
                task = TASK_LINE.match(line).group("name")
            elif RESULT_LINE.match(line) and task:
                match = RESULT_LINE.match(line)
                self.results.append((task, match.group("host"), match.group("status")))
            elif RECAP_LINE.match(line):
                match = RECAP_LINE.match(line)
                self.stats[match.group("host")] = {key: int(match.group(key))
                                                   for key in ("ok", "changed", "unreachable", "failed")}

    def changed(self):
        return {host: stats["changed"] for host, stats in self.stats.items()}

    def failures(self):
        return {host: stats for host, stats in self.stats.items() if stats["failed"] or stats["unreachable"]}

    def changed_tasks(self):
        names = []
        for task, _host, status in self.results:
            if status == "changed" and task not in names:
                names.append(task)
        return names

    def explain(self):
        failed = [line for line in self.stdout.splitlines() if line.startswith(("fatal:", "failed:"))]
        return "\n".join(failed)[-4000:] or (self.stdout[-3000:] + self.stderr[-2000:])


@pytest.fixture(scope="session")
def pure_lab(request):
    """A freshly booted lab whose machines have only sshd and Python."""
    suite = request.config.getoption("--suite")
    compute = request.config.getoption("--compute")
    subprocess.run([str(LAB), "down"], check=True)
    spare = request.config.getoption("--spare")
    subprocess.run([str(LAB), "up", "--suite", suite, "--compute", str(compute), "--spare", str(spare), "--shared"],
                   check=True)
    return Lab(suite, compute)


@pytest.fixture(scope="session")
def deployed_lab(pure_lab):
    """The lab after one site.yml run from pure machines (asserted in test_deploy)."""
    run = pure_lab.playbook("playbooks/site.yml")
    pure_lab.first_deploy = run
    assert run.rc == 0 and not run.failures(), run.explain()
    return pure_lab


@pytest.fixture(scope="module")
def spare(deployed_lab):
    """A pure machine of the lab in no slurm_* group, for the tests that add a node."""
    assert deployed_lab.spares, "the lab has no spare machine (lab/lab up --spare N)"
    return deployed_lab.spares[0]


@pytest.fixture(scope="module")
def grown(deployed_lab, spare, tmp_path_factory):
    """An inventory file that adds the spare machine to slurm_compute (its address is in the lab's)."""
    path = tmp_path_factory.mktemp("grown") / "grown.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"slurm_compute": {"hosts": {spare: None}}}}}))
    return str(path)


def node_states(lab):
    """{node: short state} as sinfo on the controller gives them."""
    out = lab.ssh(lab.controller, "sinfo", "--noheader", "--Node", "--format=%N %t").stdout
    return dict(line.split() for line in out.splitlines())


def slurmd_debug_levels(lab):
    """The log level each slurmd holds in memory (`scontrol show slurmd` asks the slurmd on that host)."""
    levels = {}
    for host in lab.computes:
        out = lab.ssh(host, "scontrol", "show", "slurmd").stdout
        levels[host] = re.search(r"^Slurmd Debug\s*=\s*(\d+)", out, re.M).group(1)
    return levels


def wait_slurmd_debug(lab, level):
    """The levels once every slurmd has taken LEVEL (a reconfigure reaches them within seconds),
    or as they are after 15 s."""
    for _attempt in range(15):
        levels = slurmd_debug_levels(lab)
        if set(levels.values()) == {level}:
            return levels
        lab.ssh(lab.controller, "sleep", "1")
    return levels


class SettingTrial:
    """What a setting trial below ran: `run` (the change), `back` (to the inventory)."""

    run = None
    back = None


@contextlib.contextmanager
def slurmd_verbose_with_slurmctld_stopped(lab, setup="true", undo="true", env=None):
    """A reconfigure-only setting while slurmctld is stopped, with a witness job on the last compute node.

    Runs SETUP and stops slurmctld, runs site.yml with SlurmdDebug=verbose (ENV: a strategy) and yields
    a SettingTrial for the caller's checks of the run. Then every slurmd must hold level 4 (verbose);
    UNDO runs, site.yml goes back to the inventory (in trial.back), every slurmd must hold 3 again and
    the witness job must have completed. Whatever happens, UNDO has run and slurmctld runs on the way
    out, and site.yml runs once more if the way back did not succeed.
    """
    trial = SettingTrial()
    witness = lab.start_witness(lab.computes[-1])
    try:
        # info (3), the lab's default; "verbose" is 4 and is not a restart-only setting.
        assert set(slurmd_debug_levels(lab).values()) == {"3"}
        lab.ssh(lab.controller, "sh", "-c", "%s && systemctl stop slurmctld" % setup)
        trial.run = lab.playbook("playbooks/site.yml", "-e", '{"slurm_config": {"SlurmdDebug": "verbose"}}',
                                 env=env)
        assert trial.run.rc == 0 and not trial.run.failures(), trial.run.explain()
        yield trial
        assert set(wait_slurmd_debug(lab, "4").values()) == {"4"}, slurmd_debug_levels(lab)
        lab.ssh(lab.controller, "sh", "-c", undo)
        trial.back = lab.playbook("playbooks/site.yml")
        assert trial.back.rc == 0, trial.back.explain()
        assert set(wait_slurmd_debug(lab, "3").values()) == {"3"}, slurmd_debug_levels(lab)
        witness.assert_completed()
    finally:
        witness.release()
        lab.ssh(lab.controller, "sh", "-c", "%s; systemctl start slurmctld" % undo)
        # Should this fail half-way, the tests after this one find the inventory's settings.
        if trial.back is None or trial.back.rc != 0:
            lab.playbook("playbooks/site.yml")


@contextlib.contextmanager
def scheduler_type_builtin(lab, playbook, variables=None, env=None):
    """A restart-only setting before 23.11, with a witness job on the last compute node.

    Runs PLAYBOOK with SchedulerType=sched/builtin (beside VARIABLES; ENV: a strategy) and yields a
    SettingTrial for the caller's checks of the run. Then slurmctld must hold the setting. Before 23.11
    (bookworm) it needs every slurmd restarted: each compute host's restart handler ran and every
    slurmd PID changed. From 23.11 (trixie) a reconfigure applies it and nothing restarts (slurmd then
    starts itself anew, so its PID changes too). site.yml goes back to the inventory (in trial.back,
    sched/backfill) and the witness job must have completed. Whatever happens, site.yml runs once more
    if the way back did not succeed.
    """
    trial = SettingTrial()
    pids = daemon_pids(lab, lab.computes)
    witness = lab.start_witness(lab.computes[-1])
    try:
        setting = dict(variables or {}, slurm_config={"SchedulerType": "sched/builtin"})
        trial.run = lab.playbook(playbook, "-e", json.dumps(setting), env=env)
        assert trial.run.rc == 0 and not trial.run.failures(), trial.run.explain()
        yield trial
        assert "sched/builtin" in lab.ssh(lab.controller, "scontrol", "show", "config").stdout
        if lab.suite == "bookworm":
            for host in lab.computes:
                assert ("Restart slurmd for the new configuration", host, "changed") in trial.run.results, \
                    trial.run.changed_tasks()
            after = daemon_pids(lab, lab.computes)
            assert all(after[host] != pids[host] for host in lab.computes), (pids, after)
        else:
            changed = trial.run.changed_tasks()
            assert "Reconfigure Slurm" in changed, changed
            assert not [task for task in changed if task.startswith("Restart")], changed
        trial.back = lab.playbook("playbooks/site.yml")
        assert trial.back.rc == 0, trial.back.explain()
        assert "sched/backfill" in lab.ssh(lab.controller, "scontrol", "show", "config").stdout
        witness.assert_completed()
    finally:
        witness.release()
        if trial.back is None or trial.back.rc != 0:
            lab.playbook("playbooks/site.yml")
    wait_idle(lab, lab.computes, timeout=120)


def daemon_pids(lab, hosts, unit=None):
    """The main PID of unit (default: slurmctld or slurmd) on each host: it changes when the daemon restarts."""
    pids = {}
    for host in hosts:
        name = unit or ("slurmctld" if host == lab.controller else "slurmd")
        pids[host] = lab.ssh(host, "systemctl", "show", "--property=MainPID", "--value", name).stdout.strip()
    return pids


def wait_idle(lab, nodes, timeout=90):
    for _attempt in range(timeout // 2):
        states = node_states(lab)
        if all(states.get(node) == "idle" for node in nodes):
            return states
        lab.ssh(lab.controller, "sleep", "2")
    raise AssertionError("not all of %s idle: %s" % (nodes, node_states(lab)))
