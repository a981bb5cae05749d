# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The slurm role's stop for first deploys under an order-free strategy.

Under `free` a host reaches the rendering of nodes.conf while other compute nodes
have not read their resources yet; on a 1 + 100 first deploy that wrote
different files on different hosts. The guard task of present.yml, copied
from the role as it is, runs here on local pretend hosts, with the resources read
by some of them, as each case has it: the race is set up, not waited for.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import concurrent.futures
import copy
import json
import os
import subprocess
import sys
import tempfile

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
PRESENT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "roles", "slurm", "tasks", "present.yml")
GUARD = "Stop when a new compute node of this run has not read its resources yet"
COMPUTES = ["node1", "node2"]

# read: the hosts that have read their resources before the guard ("own": each
# compute host of the batch, as under linear). current: nodes with a line in the
# running configuration. stopped: who the guard names (None: it lets the run on).
CASES = {
    "first deploy, node2 behind (free)": dict(read=["node1"], current=[], stopped=["node2"]),
    "first deploy, both behind (free)": dict(read=[], current=[], stopped=["node1", "node2"]),
    "running cluster, node2 behind (free)": dict(read=["node1"], current=["node2"], stopped=None),
    "first deploy, every node read (linear)": dict(read="own", current=[], stopped=None),
    "first deploy in batches of one (serial)": dict(read="own", current=[], stopped=None, serial=1),
}


def _guard():
    with open(PRESENT) as handle:
        tasks = yaml.safe_load(handle)
    task = copy.deepcopy(next(task for task in tasks if task.get("name") == GUARD))
    # Keep the run going to record what the guard said.
    task.update(ignore_errors=True, register="guard")
    return task


def _run(case):
    tmp = tempfile.mkdtemp(prefix="strategy-guard-")
    read = case["read"]
    note = {"name": "Note the compute node's resources", "ansible.builtin.set_fact": {
        "__slurm_resources": {"CPUs": 2, "RealMemory": 1000}}}
    if read == "own":
        note["when"] = "inventory_hostname in %s" % json.dumps(COMPUTES)
    else:
        # Set on every host of the batch for the hosts that have read theirs: as
        # the other hosts' facts look to the host that reaches the guard first.
        note["delegate_to"] = "{{ item }}"
        note["delegate_facts"] = True
        note["loop"] = read
        note["run_once"] = True
    record = {"name": "Record what the guard said", "run_once": True, "delegate_to": "localhost",
              "ansible.builtin.copy": {
                  "dest": os.path.join(tmp, "{{ ansible_play_batch | join('-') }}.json"),
                  "content": "{{ {'failed': guard.failed | default(false), 'msg': guard.msg | default('')} | to_json }}"}}
    play = {"name": "Guard", "hosts": "ctl:node1:node2", "gather_facts": False, "order": "inventory",
            "vars": {
                "__slurm_cluster": {"members": COMPUTES,
                                    "hosts": dict((host, {"name": host}) for host in ["ctl"] + COMPUTES)},
                "__slurm_current": {"nodes": dict((host, "CPUs=2") for host in case["current"])}},
            "tasks": [note, _guard(), record]}
    if case.get("serial"):
        play["serial"] = case["serial"]
    with open(os.path.join(tmp, "ansible.cfg"), "w") as handle:
        handle.write("[defaults]\n")
    with open(os.path.join(tmp, "play.yml"), "w") as handle:
        yaml.safe_dump([play], handle)
    with open(os.path.join(tmp, "hosts.yml"), "w") as handle:
        yaml.safe_dump({"all": {"hosts": {"ctl": {}, "node1": {}, "node2": {}}, "vars": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}, handle)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(tmp, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "tmp"), ANSIBLE_HOME=os.path.join(tmp, "home"))
    result = subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-i", "hosts.yml", "play.yml"],
                            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, check=False)
    records = {}
    for name in sorted(os.listdir(tmp)):
        if name.endswith(".json") and name != "hosts.json":
            with open(os.path.join(tmp, name)) as handle:
                records[name[:-len(".json")]] = json.load(handle)
    return result.returncode, result.stdout, records


@pytest.fixture(scope="module")
def runs():
    with concurrent.futures.ThreadPoolExecutor(len(CASES)) as pool:
        futures = dict((name, pool.submit(_run, case)) for name, case in CASES.items())
    return dict((name, future.result()) for name, future in futures.items())


@pytest.mark.parametrize("name", sorted(CASES))
def test_guard(runs, name):
    rc, out, records = runs[name]
    case = CASES[name]
    assert rc == 0, out[-3000:]
    batches = [["ctl"], ["node1"], ["node2"]] if case.get("serial") else [["ctl", "node1", "node2"]]
    assert sorted(records) == sorted("-".join(batch) for batch in batches), out[-3000:]
    said = [records["-".join(batch)] for batch in batches]
    if case["stopped"] is None:
        assert not any(record["failed"] for record in said), said
    else:
        record, = said
        assert record["failed"], out[-3000:]
        named = record["msg"].split(" have not read")[0].split(", ")
        assert named == case["stopped"], record["msg"]
        assert "linear" in record["msg"]
