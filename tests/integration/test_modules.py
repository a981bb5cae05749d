"""slurm_node, slurm_job and slurm_cluster_facts against the real lab cluster.

Every test runs with each backend (MODES): the CLI on the controller, and
slurmrestd from localhost with a token minted over SSH (given the way AWX
does, in the environment). Some also run "rest_ctl": slurmrestd from the
controller, where the module mints its own token and the CLI does what
slurmrestd cannot. The modules run through tests/integration/playbooks/
slurm_steps.yml; what they report is checked against what scontrol says.
"""
import json
import os
import re
import time
import uuid

import pytest

MODES = ["cli", "rest"]
ALL_MODES = ["cli", "rest", "rest_ctl"]
STEPS = "tests/integration/playbooks/slurm_steps.yml"
# Created only if a value reached a shell; unique, as several labs may run tests on this machine at once.
SHELL_TRAP = "/tmp/aiinfra-slurm-pwned-" + uuid.uuid4().hex[:12]


def node(check=False, diff=False, **args):
    return {"module": "slurm_node", "args": args, "check": check, "diff": diff}


def job(check=False, diff=False, **args):
    return {"module": "slurm_job", "args": args, "check": check, "diff": diff}


def facts(**args):
    return {"module": "slurm_cluster_facts", "args": args}


class Cluster:
    """The deployed lab, the module steps, and what scontrol says."""

    def __init__(self, lab, tmp_path):
        self.lab = lab
        self.ctl = lab.controller
        self.node1, self.node2 = lab.computes[:2]
        self.rest_url = lab.rest_url
        self.rest_ca_path = str(lab.rest_ca_path)
        self.tmp = tmp_path
        self.runs = 0
        self.release = self.ssh("scontrol", "--version").stdout.split()[-1]
        self.version = tuple(int(part) for part in self.release.split(".")[:2])
        self._token = None

    def ssh(self, *argv, check=True):
        return self.lab.ssh(self.ctl, *argv, check=check)

    def token(self):
        if self._token is None:
            out = self.ssh("scontrol", "token", "lifespan=7200", "username=root").stdout
            self._token = out.strip().split("=", 1)[1]
        return self._token

    def run(self, mode, *steps, token=None, env=None):
        """Run the steps in one playbook (`env`: more environment, e.g. a strategy); return their results."""
        self.runs += 1
        results = self.tmp / ("results-%d.json" % self.runs)
        extra = self.tmp / ("vars-%d.json" % self.runs)
        extra.write_text(json.dumps({"steps": list(steps), "mode": mode, "rest_url": self.rest_url,
                                     "ca_path": self.rest_ca_path,
                                     "results_file": str(results)}))
        env = dict(env or {}, **({"SLURM_JWT": token or self.token()} if mode == "rest" else {}))
        run = self.lab.playbook(STEPS, "-e", "@%s" % extra, env=env)
        assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert self._token is None or self._token not in run.stdout, "the token was printed"
        return json.loads(results.read_text())

    # -- what Slurm says -------------------------------------------------------

    def node_state(self, name):
        """(set of State words, reason, weight, features) of `scontrol -o show node`."""
        out = self.ssh("scontrol", "-o", "show", "node", name).stdout
        state = set(re.search(r"\bState=(\S+)", out).group(1).split("+"))
        reason = re.search(r"\bReason=(.*?)(?: \[[^\]]*\])?\s*$", out)
        weight = int(re.search(r"\bWeight=(\d+)", out).group(1))
        features = re.search(r"\bAvailableFeatures=(\S+)", out).group(1)
        return state, reason.group(1) if reason else "", weight, [] if features == "(null)" else features.split(",")

    def job_state(self, job_id):
        out = self.ssh("scontrol", "-o", "show", "job", str(job_id), check=False).stdout
        match = re.search(r"\bJobState=(\S+) Reason=(\S+)", out)
        return (match.group(1), match.group(2)) if match else (None, None)

    def wait_job(self, job_id, states, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.job_state(job_id)[0] in states:
                return
            time.sleep(1)
        raise AssertionError("job %s not %s: %s" % (job_id, states, self.job_state(job_id)))

    def wait_step(self, job_id):
        for _attempt in range(60):
            if self.ssh("squeue", "-h", "-s", "-j", str(job_id), "-o", "%i").stdout.strip():
                return
            time.sleep(1)
        raise AssertionError("job %s started no step" % job_id)

    def clear_trap(self, mode):
        """No trap where the module of `mode` runs, after proving that shell_ran sees one there."""
        if mode == "rest":
            open(SHELL_TRAP, "w").close()
            assert self.shell_ran(mode)
            os.remove(SHELL_TRAP)
        else:
            self.ssh("touch", SHELL_TRAP)
            assert self.shell_ran(mode)
            self.ssh("rm", "-f", SHELL_TRAP)
        assert not self.shell_ran(mode)

    def shell_ran(self, mode):
        """Whether SHELL_TRAP exists where the module ran: the controller (cli, rest_ctl), or this
        machine for rest (slurm_steps.yml delegates to localhost, where the action plugin runs it)."""
        if mode == "rest":
            return os.path.exists(SHELL_TRAP)
        return self.ssh("test", "-e", SHELL_TRAP, check=False).returncode == 0

    def sbatch(self, *options):
        out = self.ssh("sbatch", "--parsable", "-o", "/dev/null", *options).stdout
        return int(out.strip().split(";")[0])

    def wait_idle(self, *names, timeout=120):
        """Wait until the nodes are idle (sinfo without -n: with -n, 24.11 showed stale states)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            states = dict(line.split() for line in self.ssh("sinfo", "-h", "-N", "-o", "%N %T").stdout.splitlines())
            if all(states.get(name) == "idle" for name in names):
                return
            time.sleep(1)
        raise AssertionError("not idle: %s" % states)

    def reset(self):
        """No jobs, every node in service, weight 1, no features."""
        self.ssh("sh", "-c", "scancel --user=root; sleep 1; for n in %s %s; do "
                 "scontrol update nodename=$n state=resume 2>/dev/null; "
                 "scontrol update nodename=$n weight=1 availablefeatures= activefeatures=; done; true"
                 % (self.node1, self.node2))
        self.wait_idle(self.node1, self.node2)

    def rest_updates_nodes(self):
        """Whether slurmrestd itself can update nodes (v0.0.39 and later, not 22.05)."""
        return self.version >= (23, 2)


@pytest.fixture(scope="module")
def cluster(deployed_lab, tmp_path_factory):
    cluster = Cluster(deployed_lab, tmp_path_factory.mktemp("modules"))
    cluster.reset()
    return cluster


@pytest.fixture
def clean(cluster):
    cluster.reset()
    yield cluster
    cluster.reset()


def failed_without_change(result, pattern):
    assert result.get("failed") and re.search(pattern, result["msg"]), result
    assert not result.get("changed"), result


# Nodes ---------------------------------------------------------------------------------------------------


def node_updates_work(cluster, mode):
    return mode != "rest" or cluster.rest_updates_nodes()


@pytest.mark.parametrize("mode", ALL_MODES)
def test_drain_and_undrain(clean, mode):
    c = clean
    reason = "it %s disk check" % mode
    results = c.run(mode,
                    node(check=True, diff=True, names=c.node1, state="drain", reason=reason),
                    node(names=c.node1, state="drain", reason=reason))
    if not node_updates_work(c, mode):
        # 22.05's slurmrestd has no node updates, and localhost has no scontrol.
        assert results[0]["changed"], results[0]
        failed_without_change(results[1], r"Slurm 22\.05\.\d+ cannot update nodes through REST API v0\.0\.38")
        assert "DRAIN" not in c.node_state(c.node1)[0]
        return
    check, drain = results
    assert check["changed"] and check["diff"]["after"][c.node1]["flags"] == ["DRAIN"], check
    assert drain["changed"] and drain["nodes"][0]["after"]["flags"] == ["DRAIN"], drain
    assert drain["nodes"][0]["after"]["reason"] == reason
    assert c.node_state(c.node1)[:2] == ({"IDLE", "DRAIN"}, reason)

    again, other, undrain, undrain_again = c.run(
        mode,
        node(names=c.node1, state="drain", reason=reason),
        node(names=c.node1, state="drain", reason=reason + " 2"),
        node(names=c.node1, state="undrain"),
        node(names=c.node1, state="undrain"))
    assert not again["changed"] and again["updates"] == [], again
    assert other["changed"] and other["nodes"][0]["after"]["reason"] == reason + " 2", other
    assert undrain["changed"] and "DRAIN" not in undrain["nodes"][0]["after"]["flags"], undrain
    assert not undrain_again["changed"], undrain_again
    assert "DRAIN" not in c.node_state(c.node1)[0]


def test_check_mode_changes_nothing(clean):
    c = clean
    results = c.run("cli",
                    node(check=True, names=[c.node1, c.node2], state="down", reason="it check"),
                    node(check=True, names=c.node1, weight=9, features=["it_check"]))
    assert all(result["changed"] for result in results), results
    for name in (c.node1, c.node2):
        state, reason, weight, features = c.node_state(name)
        assert "DOWN" not in state and weight == 1 and features == [], (name, state, weight, features)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_down_fail_idle_resume(clean, mode):
    c = clean
    if not node_updates_work(c, mode):
        result, = c.run(mode, node(names=c.node1, state="down", reason="it cable"))
        failed_without_change(result, r"cannot update nodes through REST API v0\.0\.38")
        assert "DOWN" not in c.node_state(c.node1)[0]
        return
    down, down_again = c.run(mode, node(names=c.node1, state="down", reason="it cable"),
                             node(names=c.node1, state="down", reason="it cable"))
    assert down["changed"] and down["nodes"][0]["after"]["state"] == "down", down
    assert not down_again["changed"], down_again
    assert "DOWN" in c.node_state(c.node1)[0]

    resume, = c.run(mode, node(names=c.node1, state="resume"))
    assert resume["changed"] and resume["updates"] == [{"names": c.node1, "state": "RESUME"}], resume
    assert "DOWN" not in c.node_state(c.node1)[0]
    c.wait_idle(c.node1)

    # Slurm refuses RESUME on an idle node; the module does not send it.
    resume_idle, fail, fail_again = c.run(mode, node(names=c.node1, state="resume"),
                                          node(names=c.node1, state="fail", reason="it ecc"),
                                          node(names=c.node1, state="fail", reason="it ecc"))
    assert not resume_idle["changed"] and resume_idle["updates"] == [], resume_idle
    assert fail["changed"] and "FAIL" in fail["nodes"][0]["after"]["flags"], fail
    assert not fail_again["changed"], fail_again
    assert "FAIL" in c.node_state(c.node1)[0]

    resume_failed, down, idle, idle_again = c.run(mode, node(names=c.node1, state="resume"),
                                                  node(names=c.node1, state="down", reason="it again"),
                                                  node(names=c.node1, state="idle"),
                                                  node(names=c.node1, state="idle"))
    assert resume_failed["changed"], resume_failed
    assert down["changed"] and idle["changed"] and not idle_again["changed"], (down, idle, idle_again)
    state = c.node_state(c.node1)[0]
    assert "IDLE" in state and not state & {"DOWN", "DRAIN", "FAIL"}, state


@pytest.mark.parametrize("mode", ALL_MODES)
def test_drain_busy_nodes_in_one_update(clean, mode):
    c = clean
    if not node_updates_work(c, mode):
        result, = c.run(mode, node(names=[c.node1, c.node2], state="drain", reason="it rack"))
        failed_without_change(result, r"cannot update nodes through REST API v0\.0\.38")
        return
    busy = c.sbatch("-w", c.node2, "--wrap", "sleep 600")
    c.wait_job(busy, ["RUNNING"])
    drain, = c.run(mode, node(names="%s,%s" % (c.node2, c.node1), state="drain", reason="it rack"))
    assert drain["changed"] and len(drain["updates"]) == 1, drain
    assert drain["updates"][0]["names"] == "lab-node[1-2]", drain
    after = dict((item["name"], item["after"]) for item in drain["nodes"])
    assert after[c.node2]["state"] in ("mixed", "allocated") and "DRAIN" in after[c.node2]["flags"], after
    # Draining: the job keeps running.
    assert c.job_state(busy)[0] == "RUNNING"
    assert "DRAIN" in c.node_state(c.node2)[0] and "DRAIN" in c.node_state(c.node1)[0]
    # Cancelled before the resume: a job cancelled right after its node was resumed
    # can leave the node "mixed" for minutes on 24.11 (seen in the lab).
    c.ssh("scancel", str(busy))
    c.wait_job(busy, ["CANCELLED"])
    resume, = c.run(mode, node(names=[c.node1, c.node2], state="resume"))
    assert resume["changed"] and resume["updates"] == [{"names": "lab-node[1-2]", "state": "RESUME"}], resume
    assert not any("DRAIN" in c.node_state(name)[0] for name in (c.node1, c.node2))


@pytest.mark.parametrize("mode", ALL_MODES)
def test_weight_and_features(clean, mode):
    c = clean
    results = c.run(mode, node(names=c.node1, weight=7, features=["it_a", "it_b"]),
                    node(names=c.node1, weight=7, features=["it_b", "it_a"]))
    if not node_updates_work(c, mode):
        failed_without_change(results[0], r"cannot update nodes through REST API v0\.0\.38")
        assert c.node_state(c.node1)[2:] == (1, [])
        return
    first, second = results
    assert first["changed"] and first["nodes"][0]["after"]["weight"] == 7, first
    assert not second["changed"], second
    assert c.node_state(c.node1)[2:] == (7, ["it_a", "it_b"])
    reset, = c.run(mode, node(names=c.node1, weight=1, features=[]))
    assert reset["changed"], reset
    assert c.node_state(c.node1)[2:] == (1, [])


@pytest.mark.parametrize("mode", MODES)
def test_bad_node_input_changes_nothing(clean, mode):
    c = clean
    c.clear_trap(mode)
    results = c.run(
        mode,
        node(names="nosuch-node", state="drain", reason="it"),
        node(names=[c.node1, "nosuch-node"], state="drain", reason="it"),
        node(names="lab-node[1-", state="drain", reason="it"),
        node(names="%s;touch %s" % (c.node1, SHELL_TRAP), state="resume"),
        node(names="$(touch %s)" % SHELL_TRAP, state="resume"),
        node(names=c.node1, state="drain", reason="it\nState=RESUME"),
        node(names=c.node1, state="drain", reason="it; touch %s" % SHELL_TRAP),
        node(names=c.node1, features=["a b"]),
        node(names=c.node1, features=["x\ny"]),
        node(names=c.node1, state="bogus"),
        node(names=c.node1, state="drain"),
    )
    unknown, partly, malformed, semicolon, dollar, newline, metachar_reason, blank, newline_feature, bogus, \
        no_reason = results
    failed_without_change(unknown, r"unknown node\(s\): nosuch-node; nothing was changed")
    failed_without_change(partly, r"unknown node\(s\): nosuch-node; nothing was changed")
    failed_without_change(malformed, r"invalid node names: unbalanced or nested brackets")
    failed_without_change(semicolon, r"invalid character ';'")
    failed_without_change(dollar, r"invalid character '\$'")
    failed_without_change(newline, r"reason must not contain newlines")
    failed_without_change(blank, r"invalid feature name 'a b'")
    failed_without_change(newline_feature, r"invalid feature name")
    failed_without_change(bogus, r"value of state must be one of")
    failed_without_change(no_reason, r"state is drain but all of the following are missing: reason")
    # Shell metacharacters in a reason are just text, never a command.
    if node_updates_work(c, mode):
        assert metachar_reason["changed"], metachar_reason
        assert c.node_state(c.node1)[1] == "it; touch %s" % SHELL_TRAP
    assert not c.shell_ran(mode), "a shell ran"
    assert "nosuch-node" not in c.ssh("sinfo", "-h", "-N", "-o", "%N").stdout


# Jobs ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_submit_and_wait(clean, mode):
    c = clean
    script = "#!/bin/sh\necho \"IT_VAR=$IT_VAR\"\necho \"IT_SECRET=$IT_SECRET\"\nhostname\n"
    check, wrapped, scripted = c.run(
        mode,
        job(check=True, action="submit", name="it-check-%s" % mode, wrap="sleep 1"),
        job(action="submit", name="it-wrap-%s" % mode, wrap="sleep 2", time_limit=5),
        job(action="submit", name="it-script-%s" % mode, script=script, nodes="1", ntasks=1, cpus_per_task=1,
            time_limit=5, working_directory="/tmp", output="/tmp/it-%j.out",
            environment={"IT_VAR": "a,b c'\"$HOME", "PATH": "/usr/bin:/bin"},
            secret_environment={"IT_SECRET": "it-s3cret-value"}))
    assert check["changed"] and check["job_id"] is None and check["job"] is None, check
    # Check mode submitted nothing.
    assert not c.ssh("squeue", "-h", "-t", "all", "-n", "it-check-" + mode, "-o", "%i").stdout.strip()
    for result, name in ((wrapped, "it-wrap-" + mode), (scripted, "it-script-" + mode)):
        assert result["changed"] and result["job"]["name"] == name, result
        assert result["job"]["job_id"] == result["job_id"]
    assert wrapped["job"]["time_limit"] == 5
    # Each submission carries its tag (issue 11, #8), as Slurm shows it back.
    for result in (wrapped, scripted):
        assert re.match(r"aiinfra-submit-[0-9a-f]{32}$", result["job"]["comment"]), result["job"]
    # Neither the environment nor the script comes back (issue 11, #6).
    assert "a,b c" not in json.dumps(scripted) and "hostname" not in json.dumps(scripted), scripted
    assert "it-s3cret-value" not in json.dumps([check, wrapped, scripted])
    waited, status = c.run(mode, job(action="wait", job_id=wrapped["job_id"], timeout=120),
                           job(action="status", job_id=scripted["job_id"]))
    assert waited["job"]["state"] == "COMPLETED" and waited["job"]["exit_code"] == 0, waited
    assert c.job_state(wrapped["job_id"])[0] == "COMPLETED"
    c.wait_job(scripted["job_id"], ["COMPLETED"])
    ran_on = c.ssh("squeue", "-h", "-t", "all", "-j", str(scripted["job_id"]), "-o", "%N").stdout.strip()
    output = c.lab.ssh(ran_on, "cat", "/tmp/it-%d.out" % scripted["job_id"]).stdout
    # The environment arrived whole, commas, quotes and all, with either backend.
    assert "IT_VAR=a,b c'\"$HOME" in output.splitlines(), output
    assert "IT_SECRET=it-s3cret-value" in output.splitlines(), output


@pytest.mark.parametrize("mode", MODES)
def test_hold_release_cancel(clean, mode):
    c = clean
    # Every CPU of the lab taken: the module's job waits.
    blocker = c.sbatch("-N", "2", "-n", "4", "--wrap", "sleep 600")
    c.wait_job(blocker, ["RUNNING"])
    submitted, = c.run(mode, job(action="submit", name="it-pending", wrap="sleep 600"))
    job_id = submitted["job_id"]
    assert c.job_state(job_id)[0] == "PENDING"
    check, hold, hold_again = c.run(mode, job(check=True, action="hold", job_id=job_id),
                                    job(action="hold", job_id=job_id, diff=True),
                                    job(action="hold", job_id=job_id))
    assert check["changed"] and not check["job"]["hold"], check
    assert hold["changed"] and hold["job"]["hold"] and hold["diff"]["after"]["hold"], hold
    assert not hold_again["changed"] and hold_again["msg"] == "job %d is already held" % job_id, hold_again
    assert c.job_state(job_id) == ("PENDING", "JobHeldAdmin")

    release, release_again = c.run(mode, job(action="release", job_id=job_id),
                                   job(action="release", job_id=job_id))
    assert release["changed"] and not release["job"]["hold"], release
    assert not release_again["changed"], release_again
    assert c.job_state(job_id)[1] != "JobHeldAdmin"

    check_cancel, cancel, cancel_again = c.run(mode, job(check=True, action="cancel", job_id=job_id),
                                               job(action="cancel", job_id=job_id),
                                               job(action="cancel", job_id=job_id))
    assert check_cancel["changed"], check_cancel
    assert cancel["changed"] and cancel["job"]["state"] == "CANCELLED", cancel
    assert not cancel_again["changed"] and "already finished (CANCELLED)" in cancel_again["msg"], cancel_again
    assert c.job_state(job_id)[0] == "CANCELLED"
    assert c.job_state(blocker)[0] == "RUNNING"


@pytest.mark.parametrize("mode", ALL_MODES)
def test_suspend_resume_requeue(clean, mode):
    c = clean
    submitted, = c.run(mode, job(action="submit", name="it-susp", wrap="sleep 600"))
    job_id = submitted["job_id"]
    running, = c.run(mode, job(action="wait", job_id=job_id, wait_for=["RUNNING"], timeout=60))
    assert running["job"]["state"] == "RUNNING", running
    suspend, = c.run(mode, job(action="suspend", job_id=job_id))
    if mode == "rest":
        # slurmrestd cannot suspend, resume or requeue, and localhost has no scontrol.
        failed_without_change(suspend, r"slurmrestd cannot suspend jobs in any API version \(Slurm %s"
                              % re.escape(c.release))
        assert c.job_state(job_id)[0] == "RUNNING"
        requeue, = c.run(mode, job(action="requeue", job_id=job_id))
        failed_without_change(requeue, r"slurmrestd cannot requeue jobs")
        return
    assert suspend["changed"] and suspend["job"]["state"] == "SUSPENDED", suspend
    assert c.job_state(job_id)[0] == "SUSPENDED"
    suspend_again, release, resume, resume_again = c.run(
        mode, job(action="suspend", job_id=job_id), job(action="release", job_id=job_id),
        job(action="resume", job_id=job_id), job(action="resume", job_id=job_id))
    assert not suspend_again["changed"], suspend_again
    # Slurm zeroes a suspended job's priority; it is not held for all that.
    assert not release["changed"], release
    assert resume["changed"] and resume["job"]["state"] == "RUNNING", resume
    assert not resume_again["changed"], resume_again
    assert c.job_state(job_id)[0] == "RUNNING"

    requeue, = c.run(mode, job(action="requeue", job_id=job_id))
    assert requeue["changed"], requeue
    state = c.job_state(job_id)[0]
    assert state in ("PENDING", "REQUEUED", "COMPLETING", "RUNNING"), state
    # Back in the queue, it starts again (after Slurm's requeue delay).
    running_again, = c.run(mode, job(action="wait", job_id=job_id, wait_for=["RUNNING", "PENDING"], timeout=120))
    assert running_again["job"]["state"] in ("RUNNING", "PENDING"), running_again
    out = c.ssh("scontrol", "-o", "show", "job", str(job_id)).stdout
    assert re.search(r"\bRestarts=1\b", out), out


@pytest.mark.parametrize("mode", MODES)
def test_signal_reaches_the_steps(clean, mode):
    c = clean
    submitted, = c.run(mode, job(action="submit", name="it-signal", wrap="srun sleep 600"))
    job_id = submitted["job_id"]
    c.wait_job(job_id, ["RUNNING"])
    c.wait_step(job_id)
    signal, waited = c.run(mode, job(action="cancel", job_id=job_id, signal="TERM"),
                           job(action="wait", job_id=job_id, timeout=60))
    assert signal["changed"] and signal["msg"] == "sent signal TERM to job %d" % job_id, signal
    assert waited["job"]["state"] in ("FAILED", "CANCELLED", "COMPLETED"), waited
    assert c.job_state(job_id)[0] == waited["job"]["state"]


@pytest.mark.parametrize("mode", MODES)
def test_bad_job_input(clean, mode):
    c = clean
    c.clear_trap(mode)
    blocker = c.sbatch("-N", "2", "-n", "4", "--wrap", "sleep 600")
    c.wait_job(blocker, ["RUNNING"])
    pending = c.sbatch("--wrap", "sleep 600")
    results = c.run(
        mode,
        job(action="status", job_id=999999),
        job(action="hold", job_id=999999),
        job(action="cancel", job_id=999999),
        job(action="suspend", job_id=pending),
        job(action="submit", wrap="true", partition="nosuch-partition"),
        job(action="submit", wrap="true", name="it\nx"),
        job(action="submit", wrap="true", nodes="1; touch %s" % SHELL_TRAP),
        job(action="hold", job_id="1; touch %s" % SHELL_TRAP),
        job(action="cancel", job_id=pending, signal="TERM"),
        job(action="wait", job_id=pending, timeout=2, poll_interval=1),
    )
    status, hold, cancel, suspend, partition, newline, nodes, job_id, signal, timeout = results
    for result in (status, hold, cancel):
        failed_without_change(result, r"job 999999 does not exist")
    failed_without_change(suspend, r"job %d is PENDING: only running jobs can be suspended" % pending)
    failed_without_change(partition, r"(?i)partition")
    failed_without_change(newline, r"name must not contain newlines")
    failed_without_change(nodes, r"nodes must be a number of nodes")
    failed_without_change(job_id, r"job_id")
    failed_without_change(signal, r"job %d is pending" % pending)
    failed_without_change(timeout, r"timed out after 2 seconds waiting for job %d" % pending)
    assert c.job_state(pending)[0] == "PENDING"
    assert not c.shell_ran(mode), "a shell ran"


# Facts ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_facts_match_scontrol_and_sinfo(clean, mode):
    c = clean
    busy = c.sbatch("-w", c.node2, "--wrap", "sleep 600")
    c.wait_job(busy, ["RUNNING"])
    c.ssh("scontrol", "update", "nodename=" + c.node1, "state=drain", "reason=it facts")
    everything, only_nodes = c.run(mode, facts(), facts(gather_subset=["nodes"]))
    cluster = everything["ansible_facts"]["slurm_cluster"]
    assert cluster["version"] == c.release
    config = c.ssh("scontrol", "show", "config").stdout
    assert cluster["cluster_name"] == re.search(r"^ClusterName\s*=\s*(\S+)", config, re.M).group(1)

    sinfo = {}
    for line in c.ssh("sinfo", "-h", "-N", "-o", "%N|%T|%c|%m|%P|%E").stdout.splitlines():
        name, state, cpus, memory, partition, reason = line.split("|")
        sinfo[name] = (state, int(cpus), int(memory), partition.rstrip("*"), reason)
    nodes = dict((item["name"], item) for item in cluster["nodes"])
    assert sorted(nodes) == sorted(sinfo)
    for name, (state, cpus, memory, partition, reason) in sinfo.items():
        item = nodes[name]
        assert (item["cpus"], item["real_memory"], item["partitions"]) == (cpus, memory, [partition]), item
        # sinfo's long state: "drained" is idle + DRAIN, "mixed" is mixed.
        if state == "drained":
            assert item["state"] == "idle" and "DRAIN" in item["flags"] and item["status"] == "failed", item
            assert item["reason"] == reason == "it facts"
        else:
            assert item["state"] == state and item["status"] == "running", item
    assert cluster["node_state_counts"] == {"idle": 1, nodes[c.node2]["state"]: 1}

    partitions = c.ssh("scontrol", "-o", "show", "partition").stdout.splitlines()
    assert [item["name"] for item in cluster["partitions"]] == [
        re.search(r"PartitionName=(\S+)", line).group(1) for line in partitions]
    assert cluster["partitions"][0]["nodes"] == re.search(r"\bNodes=(\S+)", partitions[0]).group(1)

    running = c.ssh("squeue", "-h", "-t", "R", "-o", "%i").stdout.split()
    assert sorted(str(item["job_id"]) for item in cluster["running_jobs"]) == sorted(running) == [str(busy)]
    assert cluster["job_state_counts"]["RUNNING"] == 1

    only = only_nodes["ansible_facts"]["slurm_cluster"]
    assert set(only) == {"nodes", "node_state_counts", "node_status_counts"}
    assert only["nodes"] == cluster["nodes"]


# Connection failures -------------------------------------------------------------------------------------


def test_wrong_and_expired_tokens(clean):
    c = clean
    good = c.token()
    wrong = good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB")
    expired = c.ssh("scontrol", "token", "lifespan=1", "username=root").stdout.strip().split("=", 1)[1]
    time.sleep(3)
    wrong_result, = c.run("rest", facts(gather_subset=["nodes"]), token=wrong)
    expired_result, = c.run("rest", facts(gather_subset=["nodes"]), token=expired)
    for result in (wrong_result, expired_result):
        assert result.get("failed"), result
        assert re.search(r"token|credentials", result["msg"]), result["msg"]
    ok, = c.run("rest", facts(gather_subset=["nodes"]))
    assert not ok.get("failed"), ok


def test_rest_mints_its_own_token_on_the_controller(clean):
    c = clean
    result, = c.run("rest_ctl", facts(gather_subset=["version"]))
    assert result["backend"] == "rest" and result["ansible_facts"]["slurm_cluster"]["version"] == c.release, result


# Power saving -----------------------------------------------------------------------------------------------

POWER_SAVING = {"SuspendProgram": "/bin/true", "ResumeProgram": "/bin/true", "SuspendTime": 3600,
                "SuspendTimeout": 5, "ResumeTimeout": 10}


def test_power_states_need_power_saving(clean):
    c = clean
    result, = c.run("cli", node(names=c.node2, state="power_down"))
    failed_without_change(result, r"POWER_\* states need power saving configured")


@pytest.fixture(scope="module")
def power_saving(cluster):
    """Power saving on (slurm_config through site.yml), and off again afterwards."""
    lab = cluster.lab
    run = lab.playbook("playbooks/site.yml", "-e", json.dumps({"slurm_config": POWER_SAVING}))
    assert run.rc == 0, run.explain()
    cluster.ssh("systemctl", "restart", "slurmctld")
    cluster.wait_idle(cluster.node1, cluster.node2)
    yield cluster
    cluster.reset()
    run = lab.playbook("playbooks/site.yml")
    assert run.rc == 0, run.explain()
    cluster.ssh("systemctl", "restart", "slurmctld")
    cluster.wait_idle(cluster.node1, cluster.node2)


def recover(c, name):
    """After POWER_UP: lab machines cannot reboot, so slurmctld marks the node down at
    ResumeTimeout; slurmd registering again returns it to service."""
    deadline = time.time() + 60
    while time.time() < deadline:
        if "DOWN" in c.node_state(name)[0]:
            break
        time.sleep(1)
    c.lab.ssh(name, "systemctl", "restart", "slurmd")
    c.ssh("sh", "-c", "sleep 2; scontrol update nodename=%s state=resume 2>/dev/null; true" % name)
    c.wait_idle(name)


def wait_flag(c, name, flag, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if flag in c.node_state(name)[0]:
            return
        time.sleep(1)
    raise AssertionError("%s has no %s: %s" % (name, flag, c.node_state(name)))


@pytest.mark.parametrize("mode", ALL_MODES)
def test_power_down_and_up(power_saving, mode):
    c = power_saving
    c.reset()
    if not node_updates_work(c, mode):
        result, = c.run(mode, node(names=c.node2, state="power_down"))
        failed_without_change(result, r"cannot update nodes through REST API v0\.0\.38")
        return
    down, down_again = c.run(mode, node(names=c.node2, state="power_down"), node(names=c.node2, state="power_down"))
    assert down["changed"] and not down_again["changed"], (down, down_again)
    wait_flag(c, c.node2, "POWERED_DOWN")
    up, up_again = c.run(mode, node(names=c.node2, state="power_up"), node(names=c.node2, state="power_up"))
    assert up["changed"] and not up_again["changed"], (up, up_again)
    assert "POWERED_DOWN" not in up["nodes"][0]["after"]["flags"] or "POWER_UP" in up["nodes"][0]["after"]["flags"]
    recover(c, c.node2)

    busy = c.sbatch("-w", c.node2, "--wrap", "sleep 600")
    c.wait_job(busy, ["RUNNING"])
    asap, = c.run(mode, node(names=c.node2, state="power_down_asap"))
    assert asap["changed"] and {"DRAIN", "POWER_DOWN"} <= set(asap["nodes"][0]["after"]["flags"]), asap
    assert c.job_state(busy)[0] == "RUNNING"
    force, = c.run(mode, node(names=c.node2, state="power_down_force"))
    assert force["changed"], force
    c.wait_job(busy, ["CANCELLED", "FAILED", "NODE_FAIL", "REQUEUED", "PENDING"])
    wait_flag(c, c.node2, "POWERED_DOWN")
    c.ssh("scancel", str(busy), check=False)
    c.run(mode, node(names=c.node2, state="power_up"))
    recover(c, c.node2)
