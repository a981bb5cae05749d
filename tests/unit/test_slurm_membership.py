# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the slurm role sees a cluster that is only partly in the run.

The role reads the controller's slurm.conf and nodes.conf (templates/current.j2),
works out the members of the cluster from the inventory and the run
(cluster.j2), renders nodes.conf from that (nodes.conf.j2) and judges the
settings' changes (changes.j2). These tests render those templates with
Ansible's own filters and tests, fed with the files captured from the lab's
controller (fixtures/membership/README.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.aiinfra.slurm.plugins.filter.hostlist import FilterModule

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "membership")
TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "roles", "slurm", "templates")
FILTERS = FilterModule().filters()
RESOURCE_KEYS = ["CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory"]
# The role's vars/main.yml lists, as the templates get them.
PRE_2311 = ["AuthType", "SchedulerType", "SelectType", "StateSaveLocation", "TaskPlugin"]
FROM_2311 = ["AuthType", "StateSaveLocation", "SwitchType"]


def _render(template, **variables):
    """The role's template rendered by Ansible's own templating, with these variables."""
    with open(os.path.join(TEMPLATES, template)) as handle:
        text = handle.read()
    templar = Templar(loader=DataLoader(), variables=variables)
    # The collection's filters by their full names, without depending on how (or
    # whether) another test set up Ansible's collection loader.
    templar.environment.filters.update(("aiinfra.slurm." + name, func) for name, func in FILTERS.items())
    result = templar.template(trust_as_template(text))
    return result if isinstance(result, str) else json.dumps(result)


def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def _read(*names, version="22.05.8"):
    """What the role's read of the controller (slurm_host_facts, read:) registers: a missing file is None."""
    texts = dict(("/etc/slurm/" + name, _fixture(name) if name in names else None)
                 for name in ("slurm.conf", "nodes.conf"))
    return {"ansible_facts": {"slurm_host": {"texts": texts, "slurm_version": version}}}


def _current(*names):
    return json.loads(_render("current.j2", __slurm_current_read=_read(*names), __slurm_config_dir="/etc/slurm"))


def _inventory(computes, play, live=(), remove=()):
    """Variables for cluster.j2 and nodes.conf.j2: lab-ctl and `computes`, `play` in the run, `live` of them read."""
    hosts = ["lab-ctl"] + list(computes)
    address = dict((host, "10.77.1.%d" % (10 + index)) for index, host in enumerate(hosts))
    return {
        "slurm_controller_group": "slurm_controller", "slurm_compute_group": "slurm_compute",
        "slurm_login_group": "slurm_login",
        "groups": {"slurm_controller": ["lab-ctl"], "slurm_compute": list(computes), "slurm_login": []},
        "hostvars": dict((host, {"ansible_host": address[host]}) for host in hosts),
        "ansible_play_hosts_all": list(play), "ansible_play_hosts": [host for host in play if host in live],
        "slurm_remove_hosts": list(remove), "slurm_extra_nodes": [], "slurm_configless": False,
    }


def _cluster(variables, current):
    # As cluster.yml does: every host's entry once (cluster_hosts.j2), then the cluster from it.
    hosts = json.loads(_render("cluster_hosts.j2", **variables))
    return json.loads(_render("cluster.j2", __slurm_current=current, __slurm_cluster_hosts=hosts, **variables))


def _render_nodes(cluster, current, variables):
    """nodes.conf.j2 with the detected resources collected as render_nodes.yml collects them."""
    detected = dict((host, variables["hostvars"][host].get("__slurm_resources", {}))
                    for host in variables["ansible_play_hosts"])
    return _render("nodes.conf.j2", __slurm_cluster=cluster, __slurm_current=current,
                   __slurm_detected_resources=detected, __slurm_resource_keys=RESOURCE_KEYS,
                   ansible_managed="Ansible managed", slurm_cluster_name="lab", **variables)


def _node_lines(text):
    return [line for line in text.splitlines() if line.startswith("NodeName=")]


def test_current_reads_the_controllers_settings_and_node_lines():
    current = _current("slurm.conf", "nodes.conf")
    assert current["configured"] is True
    assert current["config"]["ClusterName"] == "lab"
    assert current["config"]["SelectType"] == "select/cons_tres"
    assert "Include" not in current["config"] and "PartitionName" not in current["config"]
    assert sorted(current["nodes"]) == ["lab-node1", "lab-node2", "lab-node3"]
    for spec in current["nodes"].values():
        assert spec["CPUs"] and spec["RealMemory"] and "State" not in spec


def test_first_deployment_finds_nothing():
    # No files and no Slurm installed on the controller yet.
    current = json.loads(_render("current.j2", __slurm_current_read=_read(version=None), __slurm_config_dir="/etc/slurm"))
    assert current == {"config": {}, "nodes": {}, "configured": False, "configless": False, "version": "0"}
    assert _current("slurm.conf", "nodes.conf")["version"] == "22.05.8"


def test_current_tells_a_configless_cluster_by_its_relative_include():
    """Only slurm_configless includes nodes.conf by a relative path; the role refuses to switch the
    mode in a run that leaves hosts out, so it must tell which mode the controller runs."""
    assert _current("slurm.conf", "nodes.conf")["configless"] is False
    texts = {"/etc/slurm/slurm.conf": _fixture("slurm.configless.conf"), "/etc/slurm/nodes.conf": None}
    read = {"ansible_facts": {"slurm_host": {"texts": texts, "slurm_version": "24.11.5"}}}
    current = json.loads(_render("current.j2", __slurm_current_read=read, __slurm_config_dir="/etc/slurm"))
    assert current["configless"] is True and current["config"]["SlurmctldParameters"] == "enable_configless"
    # A hand-written slurm.conf may include nodes.conf relatively without serving it: not configless.
    texts["/etc/slurm/slurm.conf"] = "\n".join(line for line in _fixture("slurm.configless.conf").splitlines()
                                               if not line.startswith("SlurmctldParameters="))
    assert "Include nodes.conf" in texts["/etc/slurm/slurm.conf"]
    current = json.loads(_render("current.j2", __slurm_current_read=read, __slurm_config_dir="/etc/slurm"))
    assert current["configless"] is False


def test_hosts_outside_the_run_keep_their_line_byte_for_byte():
    current = _current("slurm.conf", "nodes.conf")
    computes = ["lab-node1", "lab-node2", "lab-node3"]
    # add_nodes --limit lab-node3, which is read: the others only through the controller's file.
    variables = _inventory(computes, play=["lab-node3"], live=["lab-node3"])
    cluster = _cluster(variables, current)
    assert cluster["members"] == computes and cluster["outside"] == ["lab-ctl", "lab-node1", "lab-node2"]
    assert cluster["pending"] == [] and cluster["unknown"] == [] and cluster["removed"] == []
    variables["hostvars"]["lab-node3"]["__slurm_resources"] = current["nodes"]["lab-node3"]
    rendered = _render_nodes(cluster, current, variables)
    assert _node_lines(rendered) == _node_lines(_fixture("nodes.conf"))


def test_configless_lines_name_each_address_and_drop_the_old_ones():
    """slurm_configless: every node line carries NodeAddr from the inventory (other nodes never see a new
    node in /etc/hosts); an address in the controller's current line is not kept over the inventory's."""
    current = _current("slurm.conf", "nodes.conf")
    computes = ["lab-node1", "lab-node2", "lab-node3"]
    current["nodes"]["lab-node1"] = dict(current["nodes"]["lab-node1"], NodeAddr="10.0.0.99")
    variables = _inventory(computes, play=["lab-node3"], live=["lab-node3"])
    variables["slurm_configless"] = True
    cluster = _cluster(variables, current)
    variables["hostvars"]["lab-node3"]["__slurm_resources"] = current["nodes"]["lab-node3"]
    lines = _node_lines(_render_nodes(cluster, current, variables))
    # One line per node (the addresses differ); resources as before, the address after them.
    assert [line.split()[0] for line in lines] == ["NodeName=" + host for host in computes]
    for index, line in enumerate(lines):
        fields = line.split()
        assert fields.count("NodeAddr=10.77.1.%d" % (11 + index)) == 1, line
        assert "NodeAddr=10.0.0.99" not in fields and fields[-1] == "State=UNKNOWN", line
        assert fields.index("RealMemory=" + current["nodes"][computes[index]]["RealMemory"]) < fields.index(
            "NodeAddr=10.77.1.%d" % (11 + index)), line


def test_unreachable_host_keeps_its_line_and_one_never_known_is_named():
    current = _current("slurm.conf", "nodes.conf")
    computes = ["lab-node1", "lab-node2", "lab-node3", "lab-node4"]
    everyone = ["lab-ctl"] + computes
    cluster = _cluster(_inventory(computes, play=everyone, live=["lab-ctl", "lab-node1", "lab-node3"]), current)
    assert cluster["lost"] == ["lab-node2", "lab-node4"]
    # lab-node2 keeps its line; lab-node4 has none: the role stops before any write.
    assert "lab-node2" in cluster["members"] and cluster["unknown"] == ["lab-node4"]


def test_host_outside_the_run_and_not_yet_known_joins_later():
    current = _current("slurm.conf", "nodes.conf")
    computes = ["lab-node1", "lab-node2", "lab-node3", "lab-node4"]
    # The first slice of a sliced run: lab-node4 is not in it and was never installed.
    cluster = _cluster(_inventory(computes, play=["lab-ctl", "lab-node1"], live=["lab-ctl", "lab-node1"]), current)
    assert cluster["pending"] == ["lab-node4"] and "lab-node4" not in cluster["members"]
    assert cluster["unknown"] == []


def test_nodes_taken_out_are_removed():
    current = _current("slurm.conf", "nodes.conf")
    everyone = ["lab-ctl", "lab-node1", "lab-node2", "lab-node3"]
    # Out of the inventory group...
    cluster = _cluster(_inventory(["lab-node1", "lab-node2"], play=everyone[:3], live=everyone[:3]), current)
    assert cluster["removed"] == ["lab-node3"]
    # ... or still in it, and taken out by remove_nodes.
    cluster = _cluster(_inventory(everyone[1:], play=["lab-node3"], live=["lab-node3"], remove=["lab-node3"]),
                       current)
    assert cluster["removed"] == ["lab-node3"] and cluster["leaving"] == ["lab-node3"]
    assert "lab-node3" not in cluster["members"]


def _changes(current, version, **overrides):
    wanted = dict(current["config"], **overrides)
    return json.loads(_render("changes.j2", __slurm_current=dict(current, version=version.split()[-1]),
                              __slurm_config_wanted=wanted,
                              __slurm_restart_keys_pre2311=PRE_2311, __slurm_restart_keys_2311=FROM_2311))


def test_restart_only_settings_depend_on_the_version():
    current = _current("slurm.conf", "nodes.conf")
    assert _changes(current, "slurm 22.05.8")["changed_keys"] == []
    old = _changes(current, "slurm 22.05.8", SchedulerType="sched/builtin")
    assert old["changed_keys"] == ["schedulertype"] and old["restart_keys"] == ["schedulertype"]
    new = _changes(current, "slurm 24.11.5", SchedulerType="sched/builtin")
    assert new["changed_keys"] == ["schedulertype"] and new["restart_keys"] == []


def test_state_save_location_change_is_seen():
    current = _current("slurm.conf", "nodes.conf")
    # Written with other capitals: Slurm reads keys case-insensitively.
    wanted = dict((key, value) for key, value in current["config"].items() if key != "StateSaveLocation")
    wanted["statesavelocation"] = "/srv/slurm/state"
    changes = json.loads(_render("changes.j2", __slurm_current=current, __slurm_config_wanted=wanted,
                                 __slurm_restart_keys_pre2311=PRE_2311, __slurm_restart_keys_2311=FROM_2311))
    assert changes["state_save"] == {"from": current["config"]["StateSaveLocation"], "to": "/srv/slurm/state"}
    assert changes["changed_keys"] == ["statesavelocation"]


def test_unreachable_host_keeps_its_line_as_it_is_when_the_inventory_changes():
    current = _current("slurm.conf", "nodes.conf")
    computes = ["lab-node1", "lab-node2", "lab-node3"]
    everyone = ["lab-ctl"] + computes
    variables = _inventory(computes, play=everyone, live=["lab-ctl", "lab-node1", "lab-node3"])
    for host in computes:
        variables["hostvars"][host]["slurm_node_resources"] = {"Weight": 3}
        variables["hostvars"][host]["__slurm_resources"] = current["nodes"][host]
    cluster = _cluster(variables, current)
    rendered = _render_nodes(cluster, current, variables)
    lines = _node_lines(rendered)
    # lab-node2 cannot be read: its line stays; the others take the new weight.
    assert [line for line in lines if "Weight=3" not in line] == [
        line.replace("lab-node[1-3]", "lab-node2") for line in _node_lines(_fixture("nodes.conf"))]
    assert len(lines) == 2 and "NodeName=lab-node[1,3] " in lines[0] + lines[1]


def _task_var(tasks_file, task_name, var):
    """A task's var in the role's tasks file, as the YAML loader gives it to Ansible."""
    import yaml  # pylint: disable=import-outside-toplevel
    with open(os.path.join(os.path.dirname(TEMPLATES), "tasks", tasks_file)) as handle:
        tasks = yaml.safe_load(handle)
    return next(task for task in tasks if task["name"] == task_name)["vars"][var]


def test_node_lines_without_resources_are_found_before_any_write():
    """converge.yml's last check before writing: node lines that carry no resources (a host of the
    run that failed before `slurmd -C`), with or without the NodeAddr of configless, are named."""
    expression = _task_var("converge.yml", "Check that every compute node's resources are known",
                           "__slurm_unknown_nodes")
    # It reads the nodes.conf that render_nodes.yml has just set, not a second rendering.
    assert "__slurm_nodes_conf.splitlines()" in expression and "lookup(" not in expression
    known = _node_lines(_fixture("nodes.conf"))[0]
    rendered = "\n".join(["# header", known, "NodeName=lab-node57 State=UNKNOWN",
                          "NodeName=lab-node59 NodeAddr=10.77.4.69 State=UNKNOWN",
                          "NodeName=lab-node60 NodeAddr=10.77.4.70 CPUs=2 State=UNKNOWN"])
    templar = Templar(loader=DataLoader(), variables={"__slurm_nodes_conf": rendered})
    found = templar.template(trust_as_template(expression))
    assert list(found) == ["lab-node57", "lab-node59"]


def test_a_rendered_line_without_resources_is_found_before_any_write():
    """The same check on nodes.conf.j2's own output: a node of the run that read no resources and has
    no line yet (a first deploy where it failed, or ran behind under `free`) gets a line with two
    spaces where its resources would be, which a one-space pattern had let through."""
    expression = _task_var("converge.yml", "Check that every compute node's resources are known",
                           "__slurm_unknown_nodes")
    current = _current("slurm.conf", "nodes.conf")
    computes = ["lab-node1", "lab-node2", "lab-node3"]
    del current["nodes"]["lab-node3"]
    variables = _inventory(computes, play=["lab-node3"], live=["lab-node3"])
    cluster = _cluster(variables, current)
    rendered = _render_nodes(cluster, current, variables)
    empty = [line for line in _node_lines(rendered) if line.startswith("NodeName=lab-node3")]
    assert empty == ["NodeName=lab-node3  State=UNKNOWN"], rendered
    templar = Templar(loader=DataLoader(), variables={"__slurm_nodes_conf": rendered})
    assert list(templar.template(trust_as_template(expression))) == ["lab-node3"]


SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}


def test_the_read_before_the_slurm_play_wins_over_a_later_one():
    """Under free, prepare.yml reads the controller before any host writes (__slurm_current_read_ahead);
    in serial batches the first batch hands its read to the later ones. A host's own later read of the
    files the controller has just written must not hide the run's change (no restart for a restart-only
    setting): settings and version come from the read before. Node lines come from the host's own read
    (always run): a node an earlier batch dropped is gone from the controller, and no longer leaving."""
    # prepare.yml reads slurm.conf alone; a batch's handed read has nodes.conf too.
    before = _read("slurm.conf")
    handed = _read("slurm.conf", "nodes.conf")
    written = _fixture("slurm.conf").replace("SchedulerType=sched/backfill", "SchedulerType=sched/builtin")
    assert written != _fixture("slurm.conf")
    dropped = _fixture("nodes.conf").replace("lab-node[1-3]", "lab-node[1-2]")
    assert dropped != _fixture("nodes.conf")
    # Taken after the first batch wrote (and, say, upgraded Slurm on the controller).
    after = {"ansible_facts": {"slurm_host": {"slurm_version": "24.11.5", "texts": {
        "/etc/slurm/slurm.conf": written, "/etc/slurm/nodes.conf": dropped}}}}
    common = dict(__slurm_config_dir="/etc/slurm", __slurm_restart_keys_pre2311=PRE_2311,
                  __slurm_restart_keys_2311=FROM_2311)

    def current(**reads):
        return json.loads(_render("current.j2", **dict(common, **reads)))

    def changes(**reads):
        found = current(**reads)
        wanted = dict(found["config"], SchedulerType="sched/builtin")
        return json.loads(_render("changes.j2", __slurm_current=found, __slurm_config_wanted=wanted,
                                  **dict(common, **reads)))

    # The late host's own read alone: the change is already there, nothing to restart.
    assert changes(__slurm_current_read=after)["restart_keys"] == []
    # With a read before it, the play before's or a handed one, the change shows, with the version
    # of that read, and the node lines are the host's own.
    for ahead in (before, handed):
        found = changes(__slurm_current_read_ahead=ahead, __slurm_current_read=after)
        assert found["restart_keys"] == ["schedulertype"] and found["version"] == "22.05.8", found
        assert sorted(current(__slurm_current_read_ahead=ahead, __slurm_current_read=after)["nodes"]) == [
            "lab-node1", "lab-node2"]
    # A read before that was skipped (no controller in that play) leaves the host's own read.
    found = changes(__slurm_current_read_ahead=SKIPPED, __slurm_current_read=handed)
    assert found["restart_keys"] == ["schedulertype"], found
    current = json.loads(_render("current.j2", __slurm_current_read_ahead=SKIPPED, __slurm_current_read=_read(),
                                 __slurm_config_dir="/etc/slurm"))
    assert current["configured"] is False
