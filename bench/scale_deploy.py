"""Deploy timings at scale (1 controller + N compute, default 100), with their floors, in one run.

  install   floor of cold: the packages installed directly over SSH on the pure machines, all at once
  cold      pure machines -> playbooks/site.yml -> every compute node idle
  noop      site.yml again (must report changed=0), once per execution strategy
  setup     floor of noop: a bare `ansible all -m setup`
  add       playbooks/add_nodes.yml --limit <one new machine>: the new node idle, and which hosts changed
            (--node-down: with one compute machine off the network meanwhile, as is usual at scale)

Strategies measured on the no-op rerun (and on the cold deploy with --cold-strategies): the
default (linear, forks = number of hosts), `free`, and Mitogen's linear strategy when the
`mitogen` package is installed. For each phase the CPU seconds and the peak memory of the
control processes (ansible-playbook and its forks) are reported, and the memory of the lab
machines once deployed. --strategy times every phase with one strategy instead. The lab is
taken down at the end (--keep-lab leaves it up; a failed phase always does). Not part of
`make test`: run as root from the checkout (make bench-scale-deploy SUITE=... COMPUTE=100).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploy import install_floor, mitogen_strategy_dir  # noqa: E402  pylint: disable=wrong-import-position

ROOT = Path(__file__).resolve().parents[1]
LAB = str(ROOT / "lab" / "lab")
LAB_ID = os.environ.get("LAB_ID", "0")
INVENTORY = str(ROOT / "inventories" / ("lab" if LAB_ID in ("", "0") else "lab" + LAB_ID) / "hosts.yml")
PREFIX = "" if LAB_ID in ("", "0") else "l%s-" % LAB_ID


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, cwd=ROOT, **kwargs)


class Measure:
    """Wall time, CPU seconds and peak RSS of one phase's command and the processes it started."""

    def __init__(self, argv, env=None):
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            start = time.monotonic()
            process = subprocess.Popen(argv, stdout=out, stderr=err, text=True, cwd=ROOT,
                                       env=dict(os.environ, **(env or {})))  # pylint: disable=R1732
            # wait4 gives this command's own resource usage, its reaped descendants (the forks) included:
            # ru_maxrss is then the largest single process of this phase, not of every phase so far.
            _pid, status, usage = os.wait4(process.pid, 0)
            self.seconds = time.monotonic() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            self.result = subprocess.CompletedProcess(argv, process.returncode, out.read(), err.read())
        self.cpu = usage.ru_utime + usage.ru_stime
        self.peak_mib = usage.ru_maxrss / 1024.0  # KiB

    def check(self, what):
        if self.result.returncode != 0:
            # Parse and option errors (rc 4, 5) are only on stderr.
            sys.exit("%s failed (rc %d):\n%s\n%s" % (
                what, self.result.returncode, self.result.stdout[-4000:], self.result.stderr[-2000:]))
        return self

    def changed_hosts(self):
        recap = self.result.stdout.split("PLAY RECAP")[-1]
        return sorted(host for host, changed in re.findall(r"^(\S+)\s+:.*?changed=(\d+)", recap, re.M)
                      if int(changed) > 0)

    def reached_hosts(self):
        """Every host a task ran on or was delegated to (`[host]`, `[host -> other(address)]`)."""
        found = set()
        for first, delegated in re.findall(r"^(?:ok|changed|fatal|failed): \[([^\] ]+)(?: -> ([^\](]+))?",
                                           self.result.stdout, re.M):
            found.update(name for name in (first, delegated) if name)
        return sorted(found)

    def row(self, name, floor=None):
        ratio = ("   %5.2fx" % (self.seconds / floor)) if floor else ""
        return "%-28s %8.1f s%s   cpu %7.1f s   peak rss %6.0f MiB" % (
            name, self.seconds, ratio, self.cpu, self.peak_mib)


def machine_memory_mib(names):
    """Proportional set size of every process in each machine's network namespace."""
    sizes = {}
    for name in names:
        pids = subprocess.run(["ip", "netns", "pids", PREFIX + name], capture_output=True, text=True,
                              check=False).stdout.split()
        total_kib = 0
        for pid in pids:
            try:
                text = Path("/proc/%s/smaps_rollup" % pid).read_text()
            except OSError:
                continue  # gone meanwhile, or a kernel thread
            match = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
            total_kib += int(match.group(1)) if match else 0
        sizes[name] = total_kib / 1024.0
    return sizes


def all_idle(controller, computes, timeout=120):
    """Whether every one of computes is idle in sinfo, waiting up to timeout seconds for slurmd to register."""
    deadline = time.monotonic() + timeout
    while True:
        states = run([LAB, "ssh", controller, "sinfo --noheader --Node --format='%N %t'"]).stdout.split("\n")
        idle = {line.split()[0] for line in states if line.endswith(" idle")}
        if set(computes) <= idle or time.monotonic() > deadline:
            return set(computes) <= idle
        time.sleep(2)


def strategies(forks):
    found = [("linear, forks %d" % forks, {"ANSIBLE_FORKS": str(forks)}),
             ("free, forks %d" % forks, {"ANSIBLE_FORKS": str(forks), "ANSIBLE_STRATEGY": "free"})]
    plugin_dir = mitogen_strategy_dir()
    if plugin_dir:
        found.append(("mitogen_linear, forks %d" % forks,
                      {"ANSIBLE_FORKS": str(forks), "ANSIBLE_STRATEGY": "mitogen_linear",
                       "ANSIBLE_STRATEGY_PLUGINS": plugin_dir}))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--compute", type=int, default=100)
    parser.add_argument("--forks", type=int, default=0, help="default: one per host")
    parser.add_argument("--cold-strategies", action="store_true",
                        help="also time a cold deploy with each strategy (a reset and a deploy each)")
    parser.add_argument("--linear-only", action="store_true",
                        help="time the no-op rerun with the default strategy only (about 10 min less)")
    parser.add_argument("--strategy", choices=["linear", "free", "mitogen_linear"],
                        help="time every phase (cold, no-op, add) with this strategy only")
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab up at the end (default: down)")
    parser.add_argument("--node-down", action="store_true",
                        help="add the node while the last compute machine is off the network (it keeps its files)")
    parser.add_argument("--configless", action="store_true",
                        help="deploy with slurm_configless=true (compute hosts fetch slurm.conf from slurmctld)")
    args = parser.parse_args()

    # One spare machine, outside the cluster, is the node added at the end.
    run([LAB, "up", "--suite", args.suite, "--compute", str(args.compute), "--spare", "1"])
    inventory = yaml.safe_load(Path(INVENTORY).read_text())
    children = inventory["all"]["children"]
    controller = next(iter(children["slurm_controller"]["hosts"]))
    computes = list(children["slurm_compute"]["hosts"])
    spare = next(iter(children["lab_spare"]["hosts"]))
    lab_vars = inventory["all"]["vars"]
    repo_url = "http://%s.1:8077/%s" % (lab_vars["lab_net"], lab_vars["lab_suite"])
    forks = args.forks or len(computes) + 1
    modes = strategies(forks)[:1] if args.linear_only else strategies(forks)
    if args.strategy:
        modes = [mode for mode in strategies(forks) if mode[0].startswith(args.strategy + ",")]
        if not modes:
            sys.exit("strategy %s is not available (mitogen_linear needs the mitogen package)" % args.strategy)
    rows = []

    def measured(row):
        # Shown as soon as measured (to stderr): a phase that fails later does not lose the earlier ones.
        rows.append(row)
        print(row, file=sys.stderr, flush=True)

    run([LAB, "reset"])
    install = install_floor(controller, computes, repo_url)
    measured("%-28s %8.1f s" % ("install floor", install))

    extra_vars = ["-e", "slurm_configless=true"] if args.configless else []
    site = ["ansible-playbook", "-i", INVENTORY, "playbooks/site.yml"] + extra_vars
    for index, (name, env) in enumerate(modes if args.cold_strategies else modes[:1]):
        run([LAB, "reset"])
        cold = Measure(site, env).check("cold deploy (%s)" % name)
        if not all_idle(controller, computes):
            sys.exit("not every compute node is idle after the cold deploy (%s)" % name)
        measured(cold.row("cold deploy, " + name, install))
        if index == 0:
            memory = machine_memory_mib([controller] + computes)

    # The hosts of site.yml only: the spare is in `all` too, and not yet part of the cluster.
    setup = Measure(["ansible", "-i", INVENTORY, ",".join([controller] + computes), "-f", str(forks),
                     "-m", "ansible.builtin.setup"])
    setup.check("ansible -m setup")
    measured(setup.row("setup floor"))
    for name, env in modes:
        noop = Measure(site, env).check("no-op rerun (%s)" % name)
        if noop.changed_hosts():
            sys.exit("the no-op rerun (%s) changed %s" % (name, ", ".join(noop.changed_hosts())))
        measured(noop.row("no-op rerun, " + name, setup.seconds))

    add_env = dict(modes[0][1])
    down = computes[-1] if args.node_down else None
    if down:
        run([LAB, "unplug", down])
        # New SSH connections only (a master kept from the no-op to the cut machine would hang), a short timeout.
        add_env.update(ANSIBLE_SSH_ARGS="-o PreferredAuthentications=publickey", ANSIBLE_TIMEOUT="10")
    with tempfile.NamedTemporaryFile("w", suffix=".yml", dir=Path(INVENTORY).parent) as extra:
        yaml.safe_dump({"all": {"children": {"slurm_compute": {"hosts": {spare: {}}}}}}, extra)
        extra.flush()
        add = Measure(["ansible-playbook", "-i", INVENTORY, "-i", extra.name, "playbooks/add_nodes.yml",
                       "--limit", spare] + extra_vars, add_env).check("add_nodes")
        if not all_idle(controller, [name for name in computes if name != down] + [spare]):
            sys.exit("%s is not idle after add_nodes" % spare)
    if down:
        run([LAB, "plug", down])
    measured(add.row("add one node (%s)%s, %s" % (spare, ", %s down" % down if down else "", modes[0][0])))

    mode = ", configless" if args.configless else ""
    print("suite %s, 1 controller + %d compute, forks %d%s" % (args.suite, len(computes), forks, mode))
    for line in rows:
        print(line)
    print("hosts changed by add_nodes: %s" % ", ".join(add.changed_hosts()))
    reached = add.reached_hosts()
    print("hosts add_nodes reached (delegated tasks included): %d: %s" % (
        len(reached), ", ".join(reached) if len(reached) <= 10 else ", ".join(reached[:10]) + ", ..."))
    if down:
        told = re.findall(r'"msg": "([^"]*%s[^"]*cannot be reached[^"]*)"' % re.escape(down), add.result.stdout)
        print("add_nodes said of %s: %s" % (down, told[0] if told else "nothing"))
    node_sizes = [memory[name] for name in computes]
    print("memory per machine (PSS): controller %.0f MiB, compute mean %.0f MiB, max %.0f MiB, all %.0f MiB"
          % (memory[controller], sum(node_sizes) / len(node_sizes), max(node_sizes), sum(memory.values())))
    # A failed phase exits above and leaves the lab up, to look at.
    if not args.keep_lab:
        run([LAB, "down"])


if __name__ == "__main__":
    main()
