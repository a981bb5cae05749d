"""Fixtures for the lab tests: real machines booted by lab/lab, real Slurm.

Each session boots a fresh, pure lab of one Debian suite (`--suite`), so a
run covers one Slurm version; `make test` runs the suite twice.
"""
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# LAB_ID selects one of several labs that can run side by side (lab/lab).
LAB_ID = os.environ.get("LAB_ID", "0")
INVENTORY = ROOT / "inventories" / ("lab" if LAB_ID in ("", "0") else "lab" + LAB_ID) / "hosts.yml"
LAB = ROOT / "lab" / "lab"


def pytest_addoption(parser):
    parser.addoption("--suite", default="bookworm", choices=["bookworm", "trixie"],
                     help="Debian suite of the lab machines (bookworm: Slurm 22.05, trixie: 24.11)")
    parser.addoption("--compute", default=2, type=int, help="number of compute nodes")


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

    def ssh(self, host, *argv, check=True, stdin=None, timeout=120):
        # lab ssh hands the command to the remote shell: quote each argument.
        result = subprocess.run([str(LAB), "ssh", host, shlex.join(argv)], input=stdin, capture_output=True, check=False,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError("%s on %s failed (rc %d): %s %s" % (
                " ".join(argv), host, result.returncode, result.stdout, result.stderr))
        return result

    def playbook(self, playbook, *args, env=None):
        """Run a playbook; return its PlaybookRun."""
        environment = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                           ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", **(env or {}))
        start = time.monotonic()
        result = subprocess.run(["ansible-playbook", "-i", str(INVENTORY), str(ROOT / playbook), *args],
                                capture_output=True, text=True, cwd=ROOT, env=environment, timeout=900, check=False)
        return PlaybookRun(result.returncode, result.stdout, result.stderr, time.monotonic() - start)


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
    subprocess.run([str(LAB), "up", "--suite", suite, "--compute", str(compute)], check=True)
    return Lab(suite, compute)


@pytest.fixture(scope="session")
def deployed_lab(pure_lab):
    """The lab after one site.yml run from pure machines (asserted in test_deploy)."""
    run = pure_lab.playbook("playbooks/site.yml")
    pure_lab.first_deploy = run
    assert run.rc == 0 and not run.failures(), run.explain()
    return pure_lab
