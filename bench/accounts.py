"""Loading 1,000 users into 50 accounts: one slurm_account task versus one sacctmgr call per user.

On a lab with accounting (slurmdbd), from the checkout:

  first     playbooks/accounts.yml with the whole tree (50 accounts, 1,000 users) on an empty tree
  noop      the same again (must report changed=0)
  per-user  the floor-style comparison: the same tree made by one `sacctmgr -i add` per account and per
            user (1,050 calls), run in one shell on the controller, so without any Ansible overhead

Prints seconds and the number of sacctmgr calls of each. Removes the bench accounts and users before
and after (names bench_*). Run as root: LAB_ID=K python bench/accounts.py
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = str(ROOT / "lab" / "lab")
LAB_ID = os.environ.get("LAB_ID", "0")
INVENTORY = str(ROOT / "inventories" / ("lab" if LAB_ID in ("", "0") else "lab" + LAB_ID) / "hosts.yml")
ACCOUNTS = ["bench_a%02d" % index for index in range(50)]
USERS = ["bench_u%04d" % index for index in range(1000)]


def account_of(index):
    return ACCOUNTS[index % len(ACCOUNTS)]


def tree(state="present", force=False):
    if state == "absent":
        return {"force": force, "users": [{"name": user, "state": "absent"} for user in USERS],
                "accounts": [{"name": account, "state": "absent"} for account in ACCOUNTS]}
    return {"accounts": [{"name": account, "fairshare": 10, "max_jobs": 100} for account in ACCOUNTS],
            "users": [{"name": user, "accounts": [account_of(index)], "max_jobs": 4}
                      for index, user in enumerate(USERS)]}


def playbook(variables):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"accounting_tree": variables}, handle)
    try:
        start = time.monotonic()
        result = subprocess.run(["ansible-playbook", "-i", INVENTORY, "playbooks/accounts.yml", "-e",
                                 "@" + handle.name], cwd=ROOT, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - start
    finally:
        os.unlink(handle.name)
    if result.returncode != 0:
        sys.exit("accounts.yml failed:\n" + result.stdout[-3000:])
    calls = int(re.search(r"(\d+) sacctmgr calls", result.stdout).group(1))
    changed = sum(int(n) for n in re.findall(r"changed=(\d+)", result.stdout.split("PLAY RECAP")[-1]))
    return seconds, calls, changed


def lab_ssh(command, data=None):
    return subprocess.run([LAB, "ssh", "lab-ctl", command], input=data, check=True, capture_output=True,
                          text=True).stdout


def main():
    version = lab_ssh("sacctmgr --version").split()[-1]
    playbook(tree("absent", force=True))
    first = playbook(tree())
    noop = playbook(tree())
    playbook(tree("absent", force=True))
    if noop[2] != 0:
        sys.exit("the no-op rerun reported changed=%d" % noop[2])
    script = "".join(["sacctmgr -i add account %s Fairshare=10 MaxJobs=100 >/dev/null\n" % account
                      for account in ACCOUNTS] +
                     ["sacctmgr -i add user %s account=%s DefaultAccount=%s MaxJobs=4 >/dev/null\n"
                      % (user, account_of(index), account_of(index)) for index, user in enumerate(USERS)])
    start = time.monotonic()
    lab_ssh("sh -e", data=script)
    per_user = time.monotonic() - start
    check = lab_ssh("sacctmgr -n -P show assoc format=User | grep -c '^bench_u' || true").strip()
    playbook(tree("absent", force=True))
    print("Slurm %s: 1,000 users into 50 accounts (seconds, sacctmgr calls)" % version)
    print("  slurm_account, first run   %7.1f s  %5d calls" % (first[0], first[1]))
    print("  slurm_account, no-op rerun %7.1f s  %5d calls  changed=%d" % (noop[0], noop[1], noop[2]))
    print("  one sacctmgr call per user %7.1f s  %5d calls  (%s user associations made)"
          % (per_user, len(ACCOUNTS) + len(USERS), check))
    print("  ratio per-user / first run %7.1f" % (per_user / first[0]))


if __name__ == "__main__":
    main()
