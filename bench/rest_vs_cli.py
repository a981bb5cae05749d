"""One node operation and one job operation through slurmrestd versus the CLI over SSH.

In one playbook run on the lab (bench/playbooks/rest_vs_cli.yml): the CLI tasks
run slurm_node (drain, resume) and slurm_job (hold, release of a pending job)
on the controller over SSH; the REST tasks do the same on the control node
against slurmrestd. Each operation is repeated six times, every time a real
change; the median seconds per operation and the ratio REST / CLI are printed. Slurm 22.05's REST
API (v0.0.38) cannot update nodes, so on bookworm only the job operation runs.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = str(ROOT / "lab" / "lab")
LAB_ID = os.environ.get("LAB_ID", "0")
INVENTORY = str(ROOT / "inventories" / ("lab" if LAB_ID in ("", "0") else "lab" + LAB_ID) / "hosts.yml")


def lab_ssh(command):
    return subprocess.run([LAB, "ssh", "lab-ctl", command], check=True, capture_output=True, text=True).stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="trixie")
    args = parser.parse_args()
    subprocess.run([LAB, "up", "--suite", args.suite], check=True, capture_output=True)
    subprocess.run(["ansible-playbook", "-i", INVENTORY, "playbooks/site.yml"], cwd=ROOT, check=True,
                   capture_output=True)
    version = lab_ssh("scontrol --version").split()[-1]
    token = lab_ssh("scontrol token lifespan=900 username=root").strip().split("=", 1)[1]
    # Pending for an hour (BeginTime): hold and release change it every time.
    job = lab_ssh("sbatch --parsable --begin=now+3600 -o /dev/null --wrap 'sleep 900'").strip()
    node_ops = "no" if version.startswith("22.") else "yes"
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        env = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "bench" / "callback_plugins"),
                   ANSIBLE_CALLBACKS_ENABLED="task_seconds", TASK_SECONDS_FILE=out.name,
                   BENCH_NODE="lab-node1", BENCH_JOB=job, BENCH_NODE_OPS=node_ops,
                   SLURM_JWT=token,
                   # From the control node slurmrestd is behind nginx with TLS (aiinfra.slurm.slurmrestd_proxy).
                   BENCH_REST_URL="https://10.77.%s.10:6821" % (LAB_ID or "0"),
                   SLURM_REST_CA_PATH=str(Path(INVENTORY).parent / "slurmrestd-ca.crt"))
        result = subprocess.run(["ansible-playbook", "-i", INVENTORY, "bench/playbooks/rest_vs_cli.yml"], cwd=ROOT,
                                env=env, capture_output=True, text=True, check=False)
        lab_ssh("scancel %s" % job)
        if result.returncode != 0:
            sys.exit("benchmark playbook failed:\n" + result.stdout[-3000:])
        rows = {row["task"]: row["items"] for row in map(json.loads, Path(out.name).read_text().splitlines())}
    print("suite %s (Slurm %s): median seconds per operation, one task each" % (args.suite, version))
    for operation in ("Node operation", "Job operation"):
        cli, rest = rows.get(operation + " (cli)"), rows.get(operation + " (rest)")
        if not cli or not rest:
            print("%-15s not run on this version" % operation)
            continue
        cli_s, rest_s = statistics.median(cli), statistics.median(rest)
        print("%-15s cli over ssh %.3f s   rest %.3f s   rest/cli %.2f" % (operation, cli_s, rest_s, rest_s / cli_s))


if __name__ == "__main__":
    main()
