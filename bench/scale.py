"""Node operations over 10,000 nodes: one slurm_node task versus one scontrol per node.

The lab's controller gets 10,000 extra nodes (slurm_extra_nodes) whose address
is 127.0.0.2, where no slurmd answers: they are real nodes to slurmctld, shown
as down, and drain and resume work on them. Then, in one run:

  drain-all     one slurm_node task draining all of them
  resume-all    one slurm_node task resuming all of them
  facts         one slurm_cluster_facts task
                each through the CLI on the controller (over SSH) and through slurmrestd from
                here (REST API v0.0.38 of Slurm 22.05 cannot update nodes: facts only), three
                rounds each, the median shown; before each timed task slurmctld has handed the
                last one's 10,000 node events to slurmdbd (see bench/playbooks/scale.yml)
  per-node      one `scontrol update` per node, timed on a sample, times 10,000
  inventory     how long Ansible takes to load the aiinfra.slurm.slurm inventory plugin's source
                (cache off; what every ansible-playbook run pays before its first task), with
                source: rest (slurmrestd through the lab's TLS proxy) and source: ssh (scontrol
                show node on the controller), next to a static YAML file of the same hosts and
                variables; each must hold the 10,000 nodes

Prints seconds and the ratio per-node / drain-all. The extra nodes are removed
again at the end. A lab of that suite that is up already is used as it is (for
example one made with --compute or --shared), else `lab/lab up` makes one. Run as
root from the checkout (make bench-scale SUITE=...).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

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


def task_seconds(playbook_path, env):
    """{task name: [seconds of each round]} of the timed tasks that ran (the waits left out)."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        playbook(playbook_path, env=dict(env, ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "bench" / "callback_plugins"),
                                         ANSIBLE_CALLBACKS_ENABLED="task_seconds", TASK_SECONDS_FILE=out.name,
                                         SCALE_NODES=NODES))
        seconds = {}
        for row in map(json.loads, Path(out.name).read_text().splitlines()):
            if row["task"].endswith(("(cli)", "(rest)")) and not row["skipped"]:
                seconds.setdefault(row["task"], []).append(row["seconds"])
        return seconds


def lab_controller():
    """(machine name, address, the inventory's `all` group) of the lab's controller."""
    lab = yaml.safe_load(Path(INVENTORY).read_text())["all"]
    name, host = next(iter(lab["children"]["slurm_controller"]["hosts"].items()))
    return name, host["ansible_host"], lab


def root_token(name, lifespan):
    """A root JWT minted on the controller, for the environment only (never a file)."""
    said = subprocess.run([LAB, "ssh", name, "scontrol token lifespan=%d username=root" % lifespan], check=True,
                          capture_output=True, text=True).stdout.strip()
    return said.split("=", 1)[1]


def rest_env(suite):
    """What bench/playbooks/scale.yml needs for its slurmrestd play: URL, CA, a root token."""
    name, address, _lab = lab_controller()
    return {"SCALE_REST_URL": "https://%s:6821" % address,
            "SLURM_REST_CA_PATH": str(Path(INVENTORY).parent / "slurmrestd-ca.crt"),
            "SLURM_JWT": root_token(name, 1800),
            "SCALE_REST_NODE_UPDATES": "no" if suite == "bookworm" else "yes"}


def per_node_seconds(sample):
    names = " ".join("scale%05d" % i for i in range(1, sample + 1))
    script = ("for n in %s; do scontrol update NodeName=$n State=DRAIN Reason=bench; done; "
              "for n in %s; do scontrol update NodeName=$n State=RESUME || true; done" % (names, names))
    start = time.monotonic()
    subprocess.run([LAB, "ssh", "lab-ctl", script], check=True, capture_output=True)
    return (time.monotonic() - start) / 2 / sample


def lab_is_up(suite):
    """Whether this lab is up with that suite, its repository served and every machine answering."""
    status = subprocess.run([LAB, "status"], capture_output=True, text=True, check=False).stdout.splitlines()
    if not status or not re.match(r"\S+: %s, .*\(up\)$" % re.escape(suite), status[0]):
        return False
    machines = [line for line in status[1:] if line.startswith("lab-")]
    return bool(machines) and not any(line.endswith(("stopped", "no SSH answer")) for line in machines)


# Run by the venv's Python: how long Ansible takes to load one inventory source (what every
# ansible-playbook run pays before its first task), and the hosts it holds. With --dump, the
# hosts and their variables go to a static YAML file: the floor of the same inventory.
LOAD_INVENTORY = """
import json, sys, time
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
start = time.monotonic()
inventory = InventoryManager(loader=DataLoader(), sources=[sys.argv[1]])
seconds = time.monotonic() - start
hosts = [host for host in inventory.get_hosts() if host.name.startswith("scale")]
if len(sys.argv) > 2:
    dump = {host.name: {key: value for key, value in host.vars.items() if not key.startswith("inventory_")}
            for host in hosts}
    with open(sys.argv[2], "w") as out:  # through JSON: plain str for Ansible's tagged ones
        yaml.safe_dump({"all": {"hosts": json.loads(json.dumps(dump))}}, out)
print(json.dumps({"seconds": seconds, "hosts": len(hosts)}))
"""


def load_seconds(source, env, dump=None):
    """Seconds Ansible takes to load the inventory `source`; it must hold the 10,000 pretend nodes."""
    argv = [sys.executable, "-c", LOAD_INVENTORY, str(source)] + ([str(dump)] if dump else [])
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit("loading the inventory %s failed:\n%s" % (source, result.stderr[-3000:]))
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    if loaded["hosts"] != COUNT:
        sys.exit("the inventory %s holds %d of the %d pretend nodes" % (source, loaded["hosts"], COUNT))
    return loaded["seconds"]


def inventory_seconds():
    """Load seconds of the plugin (cache off) with source rest and ssh, and of a static YAML file of the
    same hosts and variables (the floor: what Ansible needs to hold 10,000 hosts at all)."""
    name, controller, lab = lab_controller()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM")}
    # A source that fails to parse fails the load (by default only a warning).
    env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true"
    env["SLURM_JWT"] = root_token(name, 600)
    known_hosts = re.search(r"UserKnownHostsFile=(\S+)", lab["vars"]["ansible_ssh_common_args"]).group(1)
    configs = {
        # slurmrestd is on the controller's loopback; the lab reaches it through the TLS proxy.
        "rest": {"rest_url": "https://%s:6821" % controller, "rest_timeout": 120,
                 "ca_path": str(Path(INVENTORY).parent / "slurmrestd-ca.crt")},
        "ssh": {"ssh_host": controller, "ssh_user": "root", "ssh_known_hosts_file": known_hosts,
                "ssh_private_key_file": lab["vars"]["ansible_ssh_private_key_file"]},
    }
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        static = Path(tmp) / "static.yml"
        for source, options in configs.items():
            path = Path(tmp) / ("bench-%s.slurm.yml" % source)  # the plugin takes files named *.slurm.yml
            path.write_text(yaml.safe_dump(dict(options, plugin="aiinfra.slurm.slurm", source=source, cache=False)))
            seconds[source] = load_seconds(path, env, dump=static if source == "rest" else None)
        seconds["static"] = load_seconds(static, env)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--sample", type=int, default=200)
    args = parser.parse_args()
    if not lab_is_up(args.suite):
        subprocess.run([LAB, "up", "--suite", args.suite], check=True, capture_output=True)
    playbook("playbooks/site.yml", "-e", EXTRA)
    try:
        seconds = task_seconds("bench/playbooks/scale.yml", rest_env(args.suite))
        per_node = per_node_seconds(args.sample) * COUNT
        inventory = inventory_seconds()
    finally:
        playbook("playbooks/site.yml")
    print("suite %s, %d pretend nodes; median of %d rounds (each round's seconds)"
          % (args.suite, COUNT, len(seconds["Read the cluster facts (cli)"])))
    for task in ("Drain every pretend node", "Resume every pretend node", "Read the cluster facts"):
        for api in ("cli", "rest"):
            rounds = seconds.get("%s (%s)" % (task, api))
            if rounds:
                label = task.split(" every", maxsplit=1)[0].replace("Read the ", "")
                each = ", ".join("%.2f" % seconds_of_round for seconds_of_round in rounds)
                print("%-26s %-4s %6.2f s   (%s)" % (label, api, statistics.median(rounds), each))
    drain = statistics.median(seconds["Drain every pretend node (cli)"])
    print("one scontrol per node (sample %d) %6.1f s   ratio to drain (cli) %.0f"
          % (args.sample, per_node, per_node / drain))
    for source in ("rest", "ssh"):
        print("inventory plugin, source %-4s     %6.2f s   ratio to a static file %.2f   (cache off)"
              % (source, inventory[source], inventory[source] / inventory["static"]))
    print("static YAML file, same hosts/vars %6.2f s   (what Ansible needs to hold them at all)" % inventory["static"])


if __name__ == "__main__":
    main()
