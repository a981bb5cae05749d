"""Node operations over 10,000 nodes: one slurm_node task versus one scontrol per node.

The lab's controller gets 10,000 extra nodes (slurm_extra_nodes) whose address
is 127.0.0.2, where no slurmd answers: they are real nodes to slurmctld, shown
as down, and drain and resume work on them. Then, in one run:

  drain-all     one slurm_node task draining all of them
  resume-all    one slurm_node task resuming all of them
  facts         one slurm_cluster_facts task
  per-node      one `scontrol update` per node, timed on a sample, times 10,000

Prints seconds and the ratio per-node / drain-all. The extra nodes are removed
again at the end. Run as root from the checkout (make bench-scale SUITE=...).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = str(ROOT / "lab" / "lab")
LAB_ID = os.environ.get("LAB_ID", "0")
INVENTORY = str(ROOT / "inventories" / ("lab" if LAB_ID in ("", "0") else "lab" + LAB_ID) / "hosts.yml")
COUNT = 10000
NODES = "scale[00001-%05d]" % COUNT
EXTRA = json.dumps({"slurm_extra_nodes": ["NodeName=%s NodeAddr=127.0.0.2 CPUs=1 RealMemory=100 State=UNKNOWN"
                                          % NODES]})


def playbook(*args, env=None):
    result = subprocess.run(["ansible-playbook", "-i", INVENTORY] + list(args), cwd=ROOT, capture_output=True,
                            text=True, env=dict(os.environ, **(env or {})), check=False)
    if result.returncode != 0:
        sys.exit("ansible-playbook %s failed:\n%s" % (" ".join(args), result.stdout[-3000:]))
    return result


def task_seconds(playbook_path):
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        playbook(playbook_path, env={
            "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "bench" / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "task_seconds", "TASK_SECONDS_FILE": out.name, "SCALE_NODES": NODES})
        return {row["task"]: row["seconds"] for row in map(json.loads, Path(out.name).read_text().splitlines())}


def per_node_seconds(sample):
    names = " ".join("scale%05d" % i for i in range(1, sample + 1))
    script = ("for n in %s; do scontrol update NodeName=$n State=DRAIN Reason=bench; done; "
              "for n in %s; do scontrol update NodeName=$n State=RESUME || true; done" % (names, names))
    start = time.monotonic()
    subprocess.run([LAB, "ssh", "lab-ctl", script], check=True, capture_output=True)
    return (time.monotonic() - start) / 2 / sample


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--sample", type=int, default=200)
    args = parser.parse_args()
    subprocess.run([LAB, "up", "--suite", args.suite], check=True, capture_output=True)
    playbook("playbooks/site.yml", "-e", EXTRA)
    try:
        seconds = task_seconds("bench/playbooks/scale.yml")
        per_node = per_node_seconds(args.sample) * COUNT
    finally:
        playbook("playbooks/site.yml")
    drain = seconds["Drain every pretend node"]
    print("suite %s, %d pretend nodes" % (args.suite, COUNT))
    print("drain all, one slurm_node task   %6.2f s" % drain)
    print("resume all, one slurm_node task  %6.2f s" % seconds["Resume every pretend node"])
    print("slurm_cluster_facts              %6.2f s" % seconds["Read the cluster facts"])
    print("one scontrol per node (sample %d) %6.1f s   ratio %.0f" % (args.sample, per_node, per_node / drain))


if __name__ == "__main__":
    main()
