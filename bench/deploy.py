"""Deploy timings on the lab, with their floors, measured in one run.

  cold      pure machines -> playbooks/site.yml -> every compute node idle
  noop      site.yml again on the deployed cluster (must report changed=0)
  install   floor of cold: the same packages installed directly over SSH on
            the same pure machines, all at once, daemons kept from starting
  setup     floor of noop: a bare `ansible all -m setup`

Prints seconds and the ratios cold/install and noop/setup. --strategy runs both
site.yml runs with linear (the default), free or mitogen_linear. Run as root from
the checkout (make bench SUITE=... COMPUTE=... STRATEGY=...).
"""
import argparse
import concurrent.futures
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LAB = str(ROOT / "lab" / "lab")
LAB_ID = os.environ.get("LAB_ID", "0")
INVENTORY = str(ROOT / "inventories" / ("lab" if LAB_ID in ("", "0") else "lab" + LAB_ID) / "hosts.yml")

# What the roles install on each kind of host (Debian names), python3-apt
# included: Ansible's apt module needs it and installs it on first use.
# The lab controller also runs slurmdbd on MariaDB and nginx in front of slurmrestd.
CONTROLLER_PACKAGES = ["munge", "slurmctld", "slurm-client", "slurmrestd", "slurm-wlm-jwt-plugin", "python3-apt",
                       "slurmdbd", "mariadb-server", "nginx", "openssl"]
COMPUTE_PACKAGES = ["munge", "slurmd", "slurm-client", "python3-apt"]


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, cwd=ROOT, **kwargs)


def timed(argv, env=None):
    start = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False,
                            env=dict(os.environ, **(env or {})))
    return time.monotonic() - start, result


def mitogen_strategy_dir():
    try:
        import ansible_mitogen  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return str(Path(ansible_mitogen.__file__).parent / "plugins" / "strategy")


def strategy_env(name):
    """The environment that runs ansible-playbook with strategy `name` (linear: Ansible's default)."""
    if name == "linear":
        return {}
    if name == "mitogen_linear":
        plugin_dir = mitogen_strategy_dir()
        if not plugin_dir:
            sys.exit("mitogen_linear needs the mitogen package (requirements.txt)")
        return {"ANSIBLE_STRATEGY": name, "ANSIBLE_STRATEGY_PLUGINS": plugin_dir}
    return {"ANSIBLE_STRATEGY": name}


def changed_total(output):
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output.split("PLAY RECAP")[-1]))


def install_directly(host, repo_url, packages):
    script = " && ".join([
        "echo 'deb [trusted=yes] %s ./' > /etc/apt/sources.list" % repo_url,
        "rm -f /etc/apt/sources.list.d/debian.sources",
        "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d",
        "apt-get update -q",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends %s" % " ".join(packages),
        "rm -f /usr/sbin/policy-rc.d",
    ])
    run([LAB, "ssh", host, "sh -c " + shlex.quote(script)])


def install_floor(controller, computes, repo_url):
    """Seconds to install the roles' packages directly on every (pure) machine at once."""
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(computes) + 1) as pool:
        jobs = [pool.submit(install_directly, controller, repo_url, CONTROLLER_PACKAGES)]
        jobs += [pool.submit(install_directly, host, repo_url, COMPUTE_PACKAGES) for host in computes]
        for job in jobs:
            job.result()
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--compute", type=int, default=2)
    parser.add_argument("--strategy", choices=["linear", "free", "mitogen_linear"], default="linear",
                        help="the execution strategy of both site.yml runs")
    args = parser.parse_args()
    env = strategy_env(args.strategy)

    run([LAB, "up", "--suite", args.suite, "--compute", str(args.compute)])
    inventory = yaml.safe_load(Path(INVENTORY).read_text())
    children = inventory["all"]["children"]
    controller = next(iter(children["slurm_controller"]["hosts"]))
    computes = list(children["slurm_compute"]["hosts"])
    # The lab's repository, as inventories/lab/group_vars/all.yml derives it.
    lab_vars = inventory["all"]["vars"]
    repo_url = "http://%s.1:8077/%s" % (lab_vars["lab_net"], lab_vars["lab_suite"])

    # Floor of the cold deploy, on pure machines.
    run([LAB, "reset"])
    install = install_floor(controller, computes, repo_url)

    run([LAB, "reset"])
    playbook = ["ansible-playbook", "-i", INVENTORY, "playbooks/site.yml"]
    cold, result = timed(playbook, env)
    if result.returncode != 0:
        sys.exit("cold deploy failed:\n" + result.stdout[-3000:])
    states = run([LAB, "ssh", controller, "sinfo --noheader --Node --format='%N %t'"]).stdout.split("\n")
    idle = sorted(line.split()[0] for line in states if line.endswith(" idle"))
    if idle != sorted(computes):
        sys.exit("not every compute node is idle after the deploy: %s" % states)

    noop, result = timed(playbook, env)
    if result.returncode != 0 or changed_total(result.stdout) != 0:
        sys.exit("the no-op rerun failed or changed something:\n" + result.stdout[-3000:])
    setup, result = timed(["ansible", "-i", INVENTORY, "all", "-m", "ansible.builtin.setup"])
    if result.returncode != 0:
        sys.exit("ansible -m setup failed:\n" + result.stdout[-3000:])

    print("suite %s, 1 controller + %d compute, strategy %s" % (args.suite, len(computes), args.strategy))
    print("cold deploy   %6.1f s   install floor %6.1f s   ratio %.2f" % (cold, install, cold / install))
    print("no-op rerun   %6.1f s   setup floor   %6.1f s   ratio %.2f" % (noop, setup, noop / setup))


if __name__ == "__main__":
    main()
