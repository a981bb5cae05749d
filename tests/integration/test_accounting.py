"""slurm_account and accounting records against the real lab cluster (slurmdbd on the controller).

Needs a lab with accounting: slurmdbd answering `sacctmgr show cluster`, and
AccountingStorageEnforce=associations,limits,qos in slurm.conf (for the limit
test). Without slurmdbd every test here is skipped with the reason. The
module runs on the controller through ad-hoc `ansible -m`, its one-line
result parsed; Slurm's own view (sacctmgr, squeue, sacct) is read over SSH.
Everything made here is named it_* and removed before and after.
"""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import INVENTORY, ROOT

ACCOUNT, SUB = "it_acct", "it_sub"
CLEAN = {"force": True, "users": [{"name": "it_user", "state": "absent"}, {"name": "root", "accounts": ["root"]}],
         "accounts": [{"name": SUB, "state": "absent"}, {"name": ACCOUNT, "state": "absent"}],
         "qos": [{"name": "it_qos", "state": "absent"}]}


class Accounting:
    def __init__(self, lab):
        self.lab = lab
        self.ctl = lab.controller

    def ssh(self, *argv, check=True):
        return self.lab.ssh(self.ctl, *argv, check=check)

    def module(self, args, check=False, diff=False, name="aiinfra.slurm.slurm_account"):
        """Run a module (slurm_account) on the controller; return its result (with failed when it failed)."""
        argv = ["ansible", "-i", str(INVENTORY), self.ctl, "-o", "-m", name,
                "-a", json.dumps(args)] + ["--check"] * check + ["--diff"] * diff
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        out = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600, check=False)
        line = next((line for line in out.stdout.splitlines() if line.startswith(self.ctl + " | ")), None)
        assert line, out.stdout[-2000:] + out.stderr[-2000:]
        result = json.loads(line.split(" => ", 1)[1])
        result["failed"] = "FAILED" in line.split(" => ")[0] or result.get("failed", False)
        return result

    def tree(self):
        """Slurm's view of everything it_*: associations, users and QOS, as text."""
        assoc = self.ssh("sacctmgr", "-n", "-P", "show", "assoc", "WOPLimits",
                         "format=Account,User,ParentName,Share,GrpTRES,MaxJobs,MaxWall,QOS,DefaultQOS").stdout
        qos = self.ssh("sacctmgr", "-n", "-P", "show", "qos", "format=Name,MaxWall,MaxJobsPerUser").stdout
        users = self.ssh("sacctmgr", "-n", "-P", "show", "user", "format=User,DefaultAccount,AdminLevel").stdout
        return [line for line in (assoc + qos + users).splitlines() if "it_" in line]

    def sbatch(self, *args):
        out = self.ssh("sbatch", "--parsable", "-o", "/dev/null", *args).stdout
        return out.strip().split(";")[0]

    def squeue(self, job):
        return self.ssh("squeue", "-h", "-j", job, "-o", "%T %r", check=False).stdout.strip()

    def wait_gone(self, job, timeout=120):
        deadline = time.time() + timeout
        while self.squeue(job):
            assert time.time() < deadline, "job %s still queued: %s" % (job, self.squeue(job))
            time.sleep(1)


@pytest.fixture(scope="module")
def acct(deployed_lab):
    accounting = Accounting(deployed_lab)
    probe = accounting.ssh("sacctmgr", "-n", "-P", "show", "cluster", "format=Cluster", check=False)
    # The lab deploys slurmdbd (group slurm_dbd): its absence is a failure, not a reason to skip.
    assert probe.returncode == 0 and probe.stdout.strip(), (
        "no accounting on this lab (`sacctmgr show cluster` failed: %s)"
        % (probe.stderr.strip() or probe.stdout.strip() or "no cluster registered"))
    assert not accounting.module(CLEAN)["failed"]
    yield accounting
    accounting.module(CLEAN)


TREE = {
    "qos": [{"name": "it_qos", "max_wall": "1-00:00:00", "max_jobs_per_user": 5}],
    "accounts": [{"name": ACCOUNT, "fairshare": 20, "grp_tres": {"cpu": 64, "mem": "8G"}, "max_wall": 600,
                  "qos": ["normal", "it_qos"], "default_qos": "normal"},
                 {"name": SUB, "parent": ACCOUNT, "max_submit_jobs": 50}],
    "users": [{"name": "it_user", "accounts": [SUB, {"name": ACCOUNT, "max_jobs": 3}], "default_account": SUB},
              {"name": "root", "accounts": ["root", {"name": ACCOUNT, "max_jobs": 1}], "default_account": "root"}],
}


def test_check_mode_then_apply_then_no_change(acct):
    before = acct.tree()
    check = acct.module(TREE, check=True)
    assert not check["failed"] and check["changed"] and check["commands"], check
    assert acct.tree() == before, "check mode changed Slurm"
    first = acct.module(TREE)
    assert not first["failed"] and first["changed"], first
    # Grouped: the QOS, two account levels, the users' associations, no call per limit.
    assert len(first["commands"]) <= 7, first["commands"]
    tree = acct.tree()
    assert "%s||root|20|cpu=64,mem=8G||10:00:00|it_qos,normal|normal" % ACCOUNT in tree, tree
    assert "%s|root||1||1|||" % ACCOUNT in tree, tree
    assert "it_user|%s|None" % SUB in tree, tree
    second = acct.module(TREE)
    assert not second["failed"] and not second["changed"] and second["commands"] == [], second
    assert acct.tree() == tree


def test_job_record_in_sacct_with_account_and_exit_code(acct):
    acct.module(TREE)
    job = acct.sbatch("-A", ACCOUNT, "--wrap", "exit 3")
    acct.wait_gone(job)
    deadline = time.time() + 60
    while True:
        out = acct.ssh("sacct", "-n", "-P", "-X", "-j", job, "-o", "JobID,JobName,Account,State,ExitCode").stdout
        # Right after the end, slurmdbd may hold a partial record (JobName "allocation").
        if out.strip() and "allocation" not in out or time.time() > deadline:
            break
        time.sleep(2)
    assert out.strip() == "%s|wrap|%s|FAILED|3:0" % (job, ACCOUNT), out


def test_accounting_facts_the_same_from_sacct_and_slurmrestd(acct):
    """slurm_cluster_facts gather_subset=accounting: jobs by state per account, equal from both backends."""
    acct.module(TREE)
    # The window opens now, in the controller's local time (both backends run there).
    since = acct.ssh("date", "+%Y-%m-%dT%H:%M:%S").stdout.strip()
    time.sleep(1)
    failed = acct.sbatch("-A", ACCOUNT, "--wrap", "exit 3")
    # root may run one job at a time in it (MaxJobs=1): the second waits for the first.
    done = acct.sbatch("-A", ACCOUNT, "--wrap", "true")
    acct.wait_gone(failed)
    acct.wait_gone(done)
    deadline = time.time() + 60
    while True:
        out = acct.ssh("sacct", "-n", "-P", "-X", "-j", "%s,%s" % (failed, done), "-o", "JobID,JobName,State").stdout
        if sorted(out.split()) == sorted(["%s|wrap|FAILED" % failed, "%s|wrap|COMPLETED" % done]):
            break
        assert time.time() < deadline, "sacct has no final record yet: %r" % out
        time.sleep(2)
    args = {"gather_subset": ["accounting"], "accounting_start": since}
    cli = acct.module(dict(args, api="cli"), name="aiinfra.slurm.slurm_cluster_facts")
    rest = acct.module(dict(args, api="rest", rest_url="http://127.0.0.1:6820"), name="aiinfra.slurm.slurm_cluster_facts")
    assert not cli["failed"] and cli["backend"] == "cli", cli
    assert not rest["failed"] and rest["backend"] == "rest", rest
    by_cli = cli["ansible_facts"]["slurm_cluster"]["accounting"]
    by_rest = rest["ansible_facts"]["slurm_cluster"]["accounting"]
    # Jobs of other accounts may overlap the window (a witness of another test); ours are exact.
    assert by_cli["accounts"][ACCOUNT] == {"FAILED": 1, "COMPLETED": 1} and SUB not in by_cli["accounts"], by_cli
    assert by_cli["end"] - by_cli["start"] < 600, by_cli
    # A job of another account may end between the two reads: it counts in both, maybe in another state.
    assert by_rest["accounts"][ACCOUNT] == by_cli["accounts"][ACCOUNT], (by_cli, by_rest)
    assert sorted(by_rest["accounts"]) == sorted(by_cli["accounts"]), (by_cli, by_rest)
    assert (by_rest["jobs"], by_rest["start"]) == (by_cli["jobs"], by_cli["start"]), (by_cli, by_rest)
    assert sum(by_rest["job_state_counts"].values()) == by_rest["jobs"], by_rest
    bad = acct.module({"gather_subset": ["accounting"], "accounting_start": "yesterday"},
                      name="aiinfra.slurm.slurm_cluster_facts")
    assert bad["failed"] and "accounting_start must be now" in bad["msg"], bad


def test_limit_set_by_the_module_is_enforced(acct):
    acct.module(TREE)
    first = acct.sbatch("-A", ACCOUNT, "--wrap", "sleep 120")
    second = acct.sbatch("-A", ACCOUNT, "--wrap", "sleep 120")
    try:
        deadline = time.time() + 30
        while not acct.squeue(second).startswith("PENDING AssocMaxJobsLimit") and time.time() < deadline:
            time.sleep(1)
        assert acct.squeue(second) == "PENDING AssocMaxJobsLimit", acct.squeue(second)
        assert acct.squeue(first).split()[0] in ("RUNNING", "PENDING"), acct.squeue(first)
    finally:
        acct.ssh("scancel", first, second)
        acct.wait_gone(first)
        acct.wait_gone(second)


@pytest.mark.parametrize("args, message", [
    ({"accounts": [{"name": "it_new", "parent": "it_nosuch"}]}, "unknown parent account it_nosuch"),
    ({"accounts": [{"name": "it_new"}, {"name": ACCOUNT, "max_jobs": -2}]}, "max_jobs must be a whole number >= 0"),
    ({"accounts": [{"name": "it_new\nx"}]}, "invalid account name"),
    ({"users": [{"name": "it_u;touch /tmp/it", "accounts": [ACCOUNT]}]}, "invalid user name"),
    ({"qos": [{"name": "it_new", "grp_tres": "cpu=-5"}]}, "TRES cpu must be a whole number"),
])
def test_bad_input_fails_clearly_and_changes_nothing(acct, args, message):
    acct.module(TREE)
    before = acct.tree()
    result = acct.module(args)
    assert result["failed"] and message in result["msg"], result
    assert acct.tree() == before
    assert acct.ssh("test", "-e", "/tmp/it", check=False).returncode != 0


def test_no_removal_with_a_pending_job_unless_forced(acct):
    acct.module(TREE)
    job = acct.sbatch("-A", ACCOUNT, "--hold", "--wrap", "true")
    gone = {"accounts": [{"name": SUB, "state": "absent"}, {"name": ACCOUNT, "state": "absent"}],
            "users": [{"name": "it_user", "state": "absent"}, {"name": "root", "accounts": ["root"]}]}
    try:
        before = acct.tree()
        refused = acct.module(gone)
        assert refused["failed"] and "pending or running jobs" in refused["msg"] and job in refused["msg"], refused
        assert acct.tree() == before and acct.squeue(job).startswith("PENDING")
        forced = acct.module(dict(gone, force=True))
        assert not forced["failed"] and forced["changed"] and forced["cancelled_jobs"] == [job], forced
        left = [line for line in acct.tree() if re.search(r"\bit_(acct|sub|user)\b", line)]
        assert left == [], left
        acct.wait_gone(job)
    finally:
        acct.ssh("scancel", job, check=False)


def test_status_of_a_job_slurmctld_forgot_comes_from_accounting(acct):
    """slurm_job reads a finished job from slurmdbd once slurmctld has purged it (MinJobAge)."""
    conf = acct.ssh("cat", "/etc/slurm/slurm.conf").stdout
    acct.ssh("sh", "-c", "cp /etc/slurm/slurm.conf /tmp/it-slurm.conf && echo MinJobAge=2 >> /etc/slurm/slurm.conf "
             "&& scontrol reconfigure")
    try:
        job = acct.sbatch("--wrap", "exit 3")
        acct.wait_gone(job)
        # slurmctld purges old jobs on its own schedule (about once a minute).
        deadline = time.time() + 180
        while "JobState=" in acct.ssh("scontrol", "-o", "show", "job", job, check=False).stdout:
            assert time.time() < deadline, "slurmctld did not forget job %s" % job
            time.sleep(3)
        result = acct.module({"action": "status", "job_id": int(job)}, name="aiinfra.slurm.slurm_job")
        assert not result["failed"], result
        record = result["job"]
        assert record["source"] == "accounting" and record["job_id"] == int(job), record
        assert record["state"] == "FAILED" and record["exit_code"] == 3 and record["nodes"], record
        assert record["account"] == "root" and record["elapsed"] is not None, record
        # wait works for a job that ended long ago.
        waited = acct.module({"action": "wait", "job_id": int(job), "timeout": 30, "wait_for": ["FAILED"]},
                             name="aiinfra.slurm.slurm_job")
        assert not waited["failed"] and waited["job"]["state"] == "FAILED", waited
    finally:
        acct.ssh("sh", "-c", "cp /tmp/it-slurm.conf /etc/slurm/slurm.conf && scontrol reconfigure")
    assert acct.ssh("cat", "/etc/slurm/slurm.conf").stdout == conf


def test_slurmdbd_and_mariadb_restarts_lose_no_history(acct):
    """slurmdbd and MariaDB restarted under a running job: the job finishes, every record stays."""
    lab = acct.lab
    done = acct.sbatch("--wrap", "exit 0")
    acct.wait_gone(done)
    witness = lab.start_witness(lab.computes[-1])
    for service in ("slurmdbd", "mariadb"):
        acct.ssh("systemctl", "restart", service)
        # slurmctld keeps scheduling meanwhile: a job submitted now runs.
        during = acct.sbatch("--wrap", "exit 0")
        acct.wait_gone(during)
    witness.assert_completed()
    deadline = time.time() + 90
    while True:
        records = acct.ssh("sacct", "-n", "-P", "-X", "-j", "%s,%s" % (done, witness.job_id), "-o", "JobID,State",
                           check=False).stdout.split()
        if sorted(records) == sorted(["%s|COMPLETED" % done, "%s|COMPLETED" % witness.job_id]) \
                or time.time() > deadline:
            break
        time.sleep(3)
    assert sorted(records) == sorted(["%s|COMPLETED" % done, "%s|COMPLETED" % witness.job_id]), records


def test_a_running_daemon_that_was_not_enabled_still_reads_its_changed_settings(acct):
    """MariaDB, slurmdbd, nginx and slurmrestd running but not enabled, their settings edited: the next run
    enables them, and restarts (nginx: reloads) each, though its start task reports a change; then nothing."""
    lab = acct.lab
    services = ("mariadb", "slurmdbd", "nginx", "slurmrestd")
    edited = ("/etc/mysql/mariadb.conf.d/60-slurmdbd.cnf", "/etc/slurm/slurmdbd.conf",
              "/etc/nginx/conf.d/aiinfra-slurmrestd.conf", "/etc/systemd/system/slurmrestd.service.d/aiinfra-slurm.conf")

    def main_pids():
        return acct.ssh("systemctl", "show", "--property=MainPID", "--value", *services).stdout.split()

    witness = lab.start_witness(lab.computes[-1])
    try:
        acct.ssh("systemctl", "disable", "--quiet", *services)
        for path in edited:
            acct.ssh("sh", "-c", 'echo "# edited by the test" >> "$1"', "sh", path)
        before = main_pids()
        run = lab.playbook("playbooks/site.yml")
        assert run.rc == 0, run.explain()
        handlers = ["Restart MariaDB for slurmdbd", "Restart slurmdbd", "Reload nginx for slurmrestd",
                    "Restart slurmrestd"]
        assert [name for name in handlers if name not in run.changed_tasks()] == [], run.changed_tasks()
        assert acct.ssh("systemctl", "is-enabled", *services).stdout.split() == ["enabled"] * 4
        # grep, not cat: slurmdbd.conf holds the database password.
        for path in edited:
            assert acct.ssh("grep", "-c", "edited by the test", path, check=False).stdout.strip() == "0", path
        after = main_pids()
        # MariaDB, slurmdbd and slurmrestd run anew; nginx's master keeps its pid through a reload.
        assert after[0] != before[0] and after[1] != before[1] and after[2] == before[2], (before, after)
        assert after[3] != before[3], (before, after)
        again = lab.playbook("playbooks/site.yml")
        assert again.rc == 0 and set(again.changed().values()) == {0}, again.changed_tasks()
        witness.assert_completed()
    finally:
        witness.release()
