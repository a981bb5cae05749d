# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the roles select and write on OSes the lab cannot boot (EL 8/9, Rocky 9, Alpine).

No EL or Alpine repository is reachable from the lab, so these paths are checked
statically: one ansible-playbook run on local pretend hosts, one per OS, whose facts
are set as the roles' slurm_host_facts would set them. Each host runs every role's
own variable selection (the include_vars task of set_vars.yml or main.yml, copied
from the role as it is) and the templates that differ per OS; the results are
compared with fixtures/os/expected.yml, and the EL and Alpine values with the
excerpts of EPEL's slurm.spec and aports (fixtures/os/*.txt) they come from.

The same run also decides, on every pretend host, which of the roles' per-OS
tasks and handlers it would run (SELECTIONS): each is copied with its own
`when:`, `loop:` and arguments onto a debug task, so Ansible evaluates the
conditions exactly as in the role, with made-up results of the tasks before.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import concurrent.futures
import copy
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "os")
COLLECTION = os.path.dirname(os.path.dirname(HERE))
ROLES = os.path.join(COLLECTION, "roles")
# The roles' tasks call the collection's plugins (the test first_start, the modules' argument specs).
PLUGINS = os.path.join(COLLECTION, "plugins")
VAR_ROLES = ["munge", "slurm", "slurmrestd", "slurmdbd", "slurmrestd_proxy"]

with open(os.path.join(FIXTURES, "expected.yml")) as _handle:
    EXPECTED = yaml.safe_load(_handle)
with open(os.path.join(FIXTURES, "epel-slurm.spec.txt")) as _handle:
    SPEC = _handle.read()
with open(os.path.join(FIXTURES, "aports.txt")) as _handle:
    APORTS = _handle.read()

# The site repository of each pretend host, and what package_sources renders from it.
SITES = {
    "RedHat_9": {"package_sources_site_url": "https://repo.example.org/el9",
                 "package_sources_site_gpg_key": "https://repo.example.org/RPM-GPG-KEY-site"},
    "Rocky_9": {"package_sources_site_url": "https://repo.example.org/el9", "package_sources_site_trusted": True,
                "package_sources_site_only": True},
    "RedHat_8": {},
    "Alpine_3": {"package_sources_site_url": "https://repo.example.org/alpine/v3.20/site",
                 "package_sources_site_gpg_key": "https://repo.example.org/keys/site-5f2c.rsa.pub",
                 "package_sources_site_only": True},
    "Debian_12": {},
}
# What a slurp of an init script returns: none there, the package's own (aports'
# munge.initd, excerpt) and the role's (its template rendered on the host).
SCRIPT_MISSING = {"failed": True, "msg": "file not found: /etc/init.d/x"}
SCRIPT_PACKAGED = {"content": base64.b64encode(
    ("#!/sbin/openrc-run\n" + re.search(r"^command=.*$", APORTS, re.M).group(0) + "\n").encode()).decode()}


def _script_of_role(role, script):
    return {"content": "{{ lookup('ansible.builtin.template', '%s') | b64encode }}" % os.path.join(
        ROLES, role, "templates", "openrc", script + ".j2")}


EL = ["RedHat_8", "RedHat_9", "Rocky_9"]
SYSTEMD = EL + ["Debian_12"]
# The roles' tasks (and handlers) that differ per OS: (id, role, file, task name,
# module, made-up variables, hosts that run it). The name alone is not unique:
# the apt and the generic install task share one.
SELECTIONS = [
    ("munge apt", "munge", "tasks/converge.yml", "Install munge", "aiinfra.slurm.apt_packages", {}, ["Debian_12"]),
    ("munge package", "munge", "tasks/converge.yml", "Install munge", "ansible.builtin.package", {}, EL),
    ("munge apk", "munge", "tasks/converge.yml", "Install munge with apk", "ansible.builtin.include_role", {},
     ["Alpine_3"]),
    ("munge read script", "munge", "tasks/converge.yml", "Read munge's init script under OpenRC",
     "ansible.builtin.slurp", {}, ["Alpine_3"]),
    ("munge script, none", "munge", "tasks/converge.yml", "Install the role's OpenRC script for munge",
     "ansible.builtin.template", {"__munge_init_script": SCRIPT_MISSING}, ["Alpine_3"]),
    ("munge script, packaged", "munge", "tasks/converge.yml", "Install the role's OpenRC script for munge",
     "ansible.builtin.template", {"__munge_init_script": SCRIPT_PACKAGED}, []),
    ("munge script, the role's", "munge", "tasks/converge.yml", "Install the role's OpenRC script for munge",
     "ansible.builtin.template", {"__munge_init_script": _script_of_role("munge", "munge")}, ["Alpine_3"]),
    ("slurm apt", "slurm", "tasks/install.yml", "Install the Slurm packages", "aiinfra.slurm.apt_packages", {},
     ["Debian_12"]),
    ("slurm package", "slurm", "tasks/install.yml", "Install the Slurm packages", "ansible.builtin.package", {}, EL),
    ("slurm apk", "slurm", "tasks/install.yml", "Install the Slurm packages with apk",
     "ansible.builtin.include_role", {}, ["Alpine_3"]),
    ("slurm read scripts", "slurm", "tasks/converge.yml", "Read the Slurm daemons' init scripts under OpenRC",
     "ansible.builtin.slurp", {}, ["Alpine_3"]),
    # slurmctld's script missing, slurmd's the package's: only slurmctld's is written.
    ("slurm scripts, none and packaged", "slurm", "tasks/converge.yml",
     "Install the role's OpenRC scripts for the Slurm daemons", "ansible.builtin.template",
     {"__slurm_init_scripts": {"results": [dict(SCRIPT_MISSING, item="controller"),
                                           dict(SCRIPT_PACKAGED, item="compute")]}}, ["Alpine_3"]),
    ("slurm scripts, the role's", "slurm", "tasks/converge.yml",
     "Install the role's OpenRC scripts for the Slurm daemons", "ansible.builtin.template",
     {"__slurm_init_scripts": {"results": [dict(_script_of_role("slurm", "slurmctld"), item="controller"),
                                           dict(_script_of_role("slurm", "slurmd"), item="compute")]}},
     ["Alpine_3"]),
    ("slurmrestd apt", "slurmrestd", "tasks/converge.yml", "Install slurmrestd", "aiinfra.slurm.apt_packages", {},
     ["Debian_12"]),
    ("slurmrestd package", "slurmrestd", "tasks/converge.yml", "Install slurmrestd", "ansible.builtin.package",
     {}, EL),
    ("slurmrestd apk", "slurmrestd", "tasks/converge.yml", "Install slurmrestd with apk",
     "ansible.builtin.include_role", {}, ["Alpine_3"]),
    ("slurmrestd drop-in directory", "slurmrestd", "tasks/converge.yml",
     "Create the slurmrestd unit's drop-in directory", "ansible.builtin.file", {}, SYSTEMD),
    ("slurmrestd drop-in", "slurmrestd", "tasks/converge.yml", "Run slurmrestd as its own user with JWT authentication",
     "ansible.builtin.copy", {}, SYSTEMD),
    ("slurmrestd conf.d", "slurmrestd", "tasks/converge.yml", "Configure slurmrestd for OpenRC",
     "ansible.builtin.template", {}, ["Alpine_3"]),
    ("slurmrestd read script", "slurmrestd", "tasks/converge.yml", "Read slurmrestd's init script under OpenRC",
     "ansible.builtin.slurp", {}, ["Alpine_3"]),
    ("slurmrestd script, none", "slurmrestd", "tasks/converge.yml", "Install the role's OpenRC script for slurmrestd",
     "ansible.builtin.template", {"__slurmrestd_init_script": SCRIPT_MISSING}, ["Alpine_3"]),
    ("slurmrestd script, packaged", "slurmrestd", "tasks/converge.yml",
     "Install the role's OpenRC script for slurmrestd", "ansible.builtin.template",
     {"__slurmrestd_init_script": SCRIPT_PACKAGED}, []),
    ("slurmrestd script, the role's", "slurmrestd", "tasks/converge.yml",
     "Install the role's OpenRC script for slurmrestd", "ansible.builtin.template",
     {"__slurmrestd_init_script": _script_of_role("slurmrestd", "slurmrestd")}, ["Alpine_3"]),
    ("slurmrestd start, systemd", "slurmrestd", "tasks/converge.yml", "Start slurmrestd",
     "ansible.builtin.systemd_service", {}, SYSTEMD),
    ("slurmrestd start, OpenRC", "slurmrestd", "tasks/converge.yml", "Start slurmrestd under OpenRC",
     "ansible.builtin.service", {}, ["Alpine_3"]),
    ("slurmrestd restart, systemd", "slurmrestd", "handlers/main.yml", "Restart slurmrestd",
     "ansible.builtin.systemd_service", {"__slurmrestd_started": {"changed": False}}, SYSTEMD),
    ("slurmrestd restart, OpenRC", "slurmrestd", "handlers/main.yml", "Restart slurmrestd under OpenRC",
     "ansible.builtin.service", {"__slurmrestd_started_openrc": {"changed": False}}, ["Alpine_3"]),
    # The handler has no OS condition of its own (only OpenRC tasks notify it):
    # slurmctld, started from stopped by this run with its new script, is left alone.
    ("slurm restart for a new script", "slurm", "handlers/main.yml",
     "Restart the Slurm daemons for a new OpenRC script", "ansible.builtin.service",
     {"__slurm_init_scripts_written": {"results": [{"item": {"item": "controller"}, "changed": True},
                                                   {"item": {"item": "compute"}, "changed": True}]},
      "__slurm_slurmctld_started": {"changed": True}, "__slurm_slurmd_started": {"changed": False},
      "__slurm_probe": {"ansible_facts": {"slurm_host": {"services": {
          "slurmctld": {"active": False}, "slurmd": {"active": True}}}}}},
     sorted(EXPECTED["facts"])),
    # Both ran before the run, not enabled: their start tasks changed (enabling), both restart.
    ("slurm restart for a new script, running", "slurm", "handlers/main.yml",
     "Restart the Slurm daemons for a new OpenRC script", "ansible.builtin.service",
     {"__slurm_init_scripts_written": {"results": [{"item": {"item": "controller"}, "changed": True},
                                                   {"item": {"item": "compute"}, "changed": True}]},
      "__slurm_slurmctld_started": {"changed": True}, "__slurm_slurmd_started": {"changed": True},
      "__slurm_probe": {"ansible_facts": {"slurm_host": {"services": {
          "slurmctld": {"active": True}, "slurmd": {"active": True}}}}}},
     sorted(EXPECTED["facts"])),
    # A running slurmctld whose start task only enabled it restarts for a restart-only setting; one the
    # run stopped to move its state (move_state.yml) and started again does not.
    ("slurmctld restart, running", "slurm", "handlers/main.yml", "Restart slurmctld for the new configuration",
     "ansible.builtin.service", {"__slurm_restart": True, "__slurm_slurmctld_started": {"changed": True},
                                 "__slurm_probe": {"ansible_facts": {"slurm_host": {"services": {
                                     "slurmctld": {"active": True}}}}}}, sorted(EXPECTED["facts"])),
    # A slurmctld caught starting ("activating") may have read the old files: it restarts too.
    ("slurmctld restart, starting", "slurm", "handlers/main.yml", "Restart slurmctld for the new configuration",
     "ansible.builtin.service", {"__slurm_restart": True, "__slurm_slurmctld_started": {"changed": True},
                                 "__slurm_probe": {"ansible_facts": {"slurm_host": {"services": {
                                     "slurmctld": {"active": False}},
                                     "service_states": {"slurmctld": "activating"}}}}},
     sorted(EXPECTED["facts"])),
    ("slurmctld restart, stopped", "slurm", "handlers/main.yml", "Restart slurmctld for the new configuration",
     "ansible.builtin.service", {"__slurm_restart": True, "__slurm_slurmctld_started": {"changed": True},
                                 "__slurm_probe": {"ansible_facts": {"slurm_host": {"services": {
                                     "slurmctld": {"active": False}},
                                     "service_states": {"slurmctld": "failed"}}}}}, []),
    ("slurmctld restart, state moved", "slurm", "handlers/main.yml", "Restart slurmctld for the new configuration",
     "ansible.builtin.service", {"__slurm_restart": True, "__slurm_slurmctld_started": {"changed": True},
                                 "__slurm_state_move_stopped": {"changed": True},
                                 "__slurm_probe": {"ansible_facts": {"slurm_host": {"services": {
                                     "slurmctld": {"active": True}}}}}}, []),
    # Configless: a slurmd that runs, or was caught starting, restarts to fetch the new files; one that
    # does not run fetches them when the role starts it.
    ("configless fetch notice, starting", "slurm", "tasks/converge.yml",
     "Note that slurmd fetches the new configuration when it restarts", "ansible.builtin.debug",
     {"slurm_configless": True, "__slurm_parts": ["compute"], "__slurm_restart": True, "__slurm_source_switched": False,
      "__slurm_probe": {"ansible_facts": {"slurm_host": {"services": {"slurmd": {"active": False}},
                                                         "service_states": {"slurmd": "activating"}}}}},
     sorted(EXPECTED["facts"])),
    ("configless fetch notice, stopped", "slurm", "tasks/converge.yml",
     "Note that slurmd fetches the new configuration when it restarts", "ansible.builtin.debug",
     {"slurm_configless": True, "__slurm_parts": ["compute"], "__slurm_restart": True, "__slurm_source_switched": False,
      "__slurm_probe": {"ansible_facts": {"slurm_host": {"services": {"slurmd": {"active": False}},
                                                         "service_states": {"slurmd": "inactive"}}}}}, []),
    # The reconfigure: on a cluster that had a configuration, also when this run started slurmctld
    # (the slurmds that ran keep the old one in memory); never on a first deploy. Here no host has the
    # controller's probe, so the controller's read (cluster.yml) decides.
    ("reconfigure, configured", "slurm", "handlers/main.yml", "Reconfigure Slurm", "ansible.builtin.command",
     {"__slurm_controller": "Debian_12", "__slurm_current": {"configured": True},
      "__slurm_slurmctld_started": {"changed": True}}, sorted(EXPECTED["facts"])),
    ("reconfigure, first deploy", "slurm", "handlers/main.yml", "Reconfigure Slurm", "ansible.builtin.command",
     {"__slurm_controller": "Debian_12", "__slurm_current": {"configured": False}}, []),
    ("slurmrestd user", "slurmrestd", "tasks/converge.yml", "Create the slurmrestd user", "ansible.builtin.user",
     {}, sorted(EXPECTED["facts"])),
    ("slurmrestd probe", "slurmrestd", "tasks/main.yml", "Compare slurmrestd on the host with the wanted state",
     "aiinfra.slurm.slurm_host_facts", {}, sorted(EXPECTED["facts"])),
    ("slurmrestd stop, systemd", "slurmrestd", "tasks/absent.yml", "Stop and disable slurmrestd",
     "ansible.builtin.systemd_service", {"__slurmrestd_left": {"ansible_facts": {"slurm_host": {"services": {
         "slurmrestd": {"active": True, "enabled": True}}}}}}, SYSTEMD),
    ("slurmrestd stop, OpenRC", "slurmrestd", "tasks/absent.yml", "Stop and disable slurmrestd under OpenRC",
     "ansible.builtin.service", {"__slurmrestd_left": {"ansible_facts": {"slurm_host": {"services": {
         "slurmrestd": {"active": True, "enabled": True}}}}}}, ["Alpine_3"]),
    ("slurmrestd OpenRC leftovers", "slurmrestd", "tasks/absent.yml",
     "Remove slurmrestd's OpenRC configuration and the role's init script", "ansible.builtin.file",
     {"__slurmrestd_left_script": _script_of_role("slurmrestd", "slurmrestd")}, ["Alpine_3"]),
    # What install_apk.yml asks apk for, munge installed already.
    ("apk add", "package_sources", "tasks/install_apk.yml", "Install {{ __package_sources_apk_missing | join(', ') }}",
     "ansible.builtin.command", {"__package_sources_install": ["munge", "munge-openrc"],
                                 "__package_sources_apk_installed": {"stdout_lines": ["munge"]}},
     sorted(EXPECTED["facts"])),
]
# Every host is a controller, a compute node and a login node for the Slurm tasks.
SELECTION_VARS = {"__slurm_parts": ["controller", "compute", "login"]}
# Values of the roles that expected.yml does not list, checked by the tests below.
EXTRA_KEYS = {"slurmrestd": ["__slurmrestd_nologin", "__slurmrestd_config_file", "__slurmrestd_config_template"]}
SOURCES_KEYS = ["__package_sources_wanted_files", "__package_sources_wanted_blocks",
                "__package_sources_wanted_packages", "__package_sources_drift", "__package_sources_epel_wanted",
                "__package_sources_nologin", "__package_sources_apk_key"]


# ansible-test units runs each test in a fork of its own (its ansible_forked plugin,
# under pytest-xdist): a module-scoped fixture's value dies with the fork, so every
# test would run ansible-playbook again (60 tests: minutes). The runs' results are
# kept on disk instead, under a digest of everything they read (the roles, these
# fixtures, this file, the Python and Ansible used): the first test of a session
# runs the playbook, under a lock that the others (and the other xdist workers)
# wait on, then they read its result. A failed run is kept for this session only.
CACHE_DIR = os.path.join(tempfile.gettempdir(), "aiinfra-slurm-os-static")


def _digest():
    digest = hashlib.sha256(sys.executable.encode())
    import ansible.release  # pylint: disable=import-outside-toplevel
    digest.update(ansible.release.__version__.encode())
    for top in (ROLES, PLUGINS, FIXTURES, os.path.abspath(__file__)):
        paths = [top] if os.path.isfile(top) else sorted(
            os.path.join(root, name) for root, _dirs, names in os.walk(top) for name in names)
        for path in paths:
            digest.update(os.path.relpath(path, COLLECTION).encode() + b"\0")
            with open(path, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()[:20]


def _once(name, compute):
    """compute()'s JSON-able result, computed once for all the forks of a session (see above)."""
    if not os.path.isdir(CACHE_DIR):
        os.makedirs(CACHE_DIR, exist_ok=True)
    base = os.path.join(CACHE_DIR, "%s-%s" % (name, _digest()))
    # Without xdist there are no forks either: the fixture runs once anyway.
    session = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    failed = "%s.failed-%s" % (base, session) if session else None
    with open(base + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed and os.path.exists(failed):
            with open(failed) as handle:
                pytest.fail("an earlier test of this session found: " + handle.read(), pytrace=False)
        if os.path.exists(base + ".json"):
            with open(base + ".json") as handle:
                return json.load(handle)
        try:
            value = compute()
        except BaseException as error:
            if failed:
                with open(failed, "w") as handle:
                    handle.write(str(error)[-4000:])
            raise
        with open(base + ".tmp", "w") as handle:
            json.dump(value, handle)
        os.rename(base + ".tmp", base + ".json")
    # Results of other trees and versions go after a day.
    for entry in os.listdir(CACHE_DIR):
        path = os.path.join(CACHE_DIR, entry)
        if not entry.startswith(os.path.basename(base)) and os.path.getmtime(path) < time.time() - 86400:
            os.remove(path)
    return value


def _load(path):
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def _os_vars_task(role):
    """The role's include_vars task of the OS files, as the role has it."""
    for name in ("set_vars.yml", "main.yml"):
        path = os.path.join(ROLES, role, "tasks", name)
        if not os.path.exists(path):
            continue
        for task in _load(path):
            if "ansible.builtin.include_vars" in task:
                task = copy.deepcopy(task)
                task.setdefault("vars", {})["role_path"] = os.path.join(ROLES, role)
                return task
    raise AssertionError("no include_vars task in %s" % role)


def _role_task(role, path, name, module):
    """The task (or handler) of the role with this name and module, as the role has it."""
    found = [task for task in _load(os.path.join(ROLES, role, path))
             if task.get("name") == name and module in task]
    assert len(found) == 1, "%s %s: %s (%s)" % (role, path, name, module)
    return found[0]


def _selection_task(number, selection):
    """A debug task with the role task's conditions, loop and arguments: skipped where the role's is."""
    _id, role, path, name, module, made_up, _hosts = selection
    task = _role_task(role, path, name, module)
    # What the module would be given, without file contents (templates of the role's own directory).
    args = dict((key, value) for key, value in task[module].items() if key != "content")
    if "vars" in task:
        args["vars"] = task["vars"]
    copied = {"name": "Would %s run: %s" % (role, name), "ansible.builtin.debug": {"msg": args},
              "vars": dict(SELECTION_VARS, **dict(task.get("vars", {}), **made_up)),
              "register": "selection_%d" % number}
    for key in ("when", "loop", "loop_control"):
        if key in task:
            copied[key] = task[key]
    return copied


def _playbook(out_dir):
    tasks = [{"name": "Pretend to be the OS", "ansible.builtin.set_fact": dict(
        ((key, "{{ os_facts.%s }}" % key) for key in EXPECTED["facts"]["Debian_12"]), cacheable=True)}]
    for role in VAR_ROLES + ["package_sources"]:
        path = os.path.join(ROLES, role, "vars", "main.yml")
        if os.path.exists(path):
            tasks.append({"name": "Load %s/vars" % role, "ansible.builtin.include_vars": path})
        if role != "package_sources":
            tasks.append(_os_vars_task(role))
    tasks.extend(_selection_task(number, selection) for number, selection in enumerate(SELECTIONS))
    values = dict((role, "{{ dict(keys.%s | zip(query('ansible.builtin.vars', *keys.%s))) }}" % (role, role))
                  for role in VAR_ROLES)
    values["package_sources"] = "{{ dict(sources_keys | zip(query('ansible.builtin.vars', *sources_keys))) }}"
    values["selections"] = dict((selection[0], "{{ selection_%d }}" % number)
                                for number, selection in enumerate(SELECTIONS))
    values["templates"] = {
        "dnf": "{{ lookup('ansible.builtin.template', 'dnf-site.repo.j2') }}",
        "apk": "{{ lookup('ansible.builtin.template', 'apk-repositories.j2') }}",
        "confd": "{{ lookup('ansible.builtin.template', '%s') }}" % os.path.join(
            ROLES, "slurmrestd", "templates", "openrc", "slurmrestd.confd.j2"),
    }
    for script, spec in EXPECTED["openrc"].items():
        values["templates"]["openrc_" + script] = "{{ lookup('ansible.builtin.template', '%s') }}" % os.path.join(
            ROLES, spec["role"], "templates", "openrc", script + ".j2")
    tasks.append({"name": "Write what the roles chose", "ansible.builtin.copy": {
        "content": "{{ chosen | to_nice_json }}", "dest": os.path.join(out_dir, "{{ inventory_hostname }}.json"),
        "mode": "0644"}, "vars": {"chosen": values}})
    return [{"name": "Render each OS", "hosts": "all", "gather_facts": False, "tasks": tasks}]


def _inventory():
    hosts = {}
    for name, facts in EXPECTED["facts"].items():
        keys = dict((role, sorted(set(EXPECTED["expected"][name].get(role, {})) | set(EXTRA_KEYS.get(role, []))))
                    for role in VAR_ROLES)
        host = {"os_facts": facts, "keys": keys, "sources_keys": SOURCES_KEYS,
                # What the probe of package_sources found: nothing amiss.
                "__package_sources_probe": {"drift": []},
                "__slurmrestd_version_number": "24.11.5", "slurmrestd_accounting": True}
        host.update(SITES[name])
        hosts[name] = host
    # The roles' defaults, below the hosts' own variables as in a play.
    defaults = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    for role in VAR_ROLES + ["package_sources"]:
        path = os.path.join(ROLES, role, "defaults", "main.yml")
        if os.path.exists(path):
            defaults.update(_load(path))
    return {"all": {"hosts": hosts, "vars": defaults}}


@pytest.fixture(scope="module")
def chosen():
    """{os name: what the roles chose there}, from one ansible-playbook run."""
    return _run("chosen")


def _chosen():
    tmp = tempfile.mkdtemp(prefix="os-static-")
    out = os.path.join(tmp, "out")
    os.mkdir(out)
    # lookup('template') finds package_sources' templates next to the playbook.
    os.symlink(os.path.join(ROLES, "package_sources", "templates"), os.path.join(tmp, "templates"))
    with open(os.path.join(tmp, "play.yml"), "w") as handle:
        yaml.safe_dump(_playbook(out), handle)
    with open(os.path.join(tmp, "hosts.yml"), "w") as handle:
        yaml.safe_dump(_inventory(), handle)
    # An empty configuration: nothing of the caller's ansible.cfg applies.
    with open(os.path.join(tmp, "ansible.cfg"), "w") as handle:
        handle.write("[defaults]\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION))),
               ANSIBLE_CACHE_PLUGIN="memory", ANSIBLE_CONFIG=os.path.join(tmp, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "tmp"), ANSIBLE_HOME=os.path.join(tmp, "home"))
    result = subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-i", "hosts.yml", "play.yml"],
                            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:]
    found = {}
    for name in EXPECTED["facts"]:
        with open(os.path.join(out, name + ".json")) as handle:
            found[name] = json.load(handle)
    return found


@pytest.mark.parametrize("name", sorted(EXPECTED["expected"]))
def test_each_role_selects_the_expected_values(chosen, name):
    for role, values in EXPECTED["expected"][name].items():
        found = dict((key, value) for key, value in chosen[name][role].items() if key in values)
        assert found == values, "%s on %s" % (role, name)


def _ran(result):
    """What a copied task ran with: its arguments, one per item for a loop; None when skipped."""
    if "results" in result:
        items = [item["msg"] for item in result["results"] if not item.get("skipped")]
        return items or None
    return None if result.get("skipped") else result["msg"]


@pytest.mark.parametrize("selection", SELECTIONS, ids=[selection[0] for selection in SELECTIONS])
def test_each_os_runs_its_own_tasks(chosen, selection):
    """apt, dnf and apk hosts each install their own way; OpenRC and systemd hosts start their own way."""
    ran_on = sorted(name for name in chosen if _ran(chosen[name]["selections"][selection[0]]) is not None)
    assert ran_on == sorted(selection[6])


@pytest.mark.parametrize("role, packages_var", [
    ("munge", "__munge_packages"), ("slurm", "__slurm_packages"), ("slurmrestd", "__slurmrestd_packages")])
def test_alpine_installs_through_install_apk(chosen, role, packages_var):
    """No ansible.builtin.package on apk (it would need community.general): package_sources' apk tasks."""
    include = _ran(chosen["Alpine_3"]["selections"][role + " apk"])
    assert include["name"] == "aiinfra.slurm.package_sources"
    assert os.path.exists(os.path.join(ROLES, "package_sources", "tasks", include["tasks_from"]))
    assert include["tasks_from"] == "install_apk.yml"
    wanted = chosen["Alpine_3"][role][packages_var]
    if role == "slurm":
        wanted = sorted(set(sum(wanted.values(), [])))
    assert include["vars"]["__package_sources_install"] == wanted
    # apk adds only what is missing, signed unless the site repository is trusted.
    assert _ran(chosen["Alpine_3"]["selections"]["apk add"])["argv"] == ["apk", "add", "--no-progress", "munge-openrc"]


def _handler_names(role):
    handlers = _load(os.path.join(ROLES, role, "handlers", "main.yml"))
    return dict((name, handler) for handler in handlers for name in [handler["name"], handler.get("listen")] if name)


@pytest.mark.parametrize("role, selection, services", [
    ("munge", "munge script, none", ["munge"]),
    ("slurm", "slurm scripts, none and packaged", ["slurmctld"]),
    ("slurm", "slurm scripts, the role's", ["slurmctld", "slurmd"]),
    ("slurmrestd", "slurmrestd script, none", ["slurmrestd"]),
])
def test_openrc_hosts_get_the_role_s_init_script(chosen, role, selection, services):
    """Where the package brings none: /etc/init.d/SERVICE, executable, from the role's template."""
    written = _ran(chosen["Alpine_3"]["selections"][selection])
    written = written if isinstance(written, list) else [written]
    assert [args["dest"] for args in written] == ["/etc/init.d/" + service for service in services]
    for args in written:
        assert args["mode"] == "0755" and args["owner"] == "root"
        assert os.path.exists(os.path.join(ROLES, role, "templates", args["src"]))
        assert args["src"] == "openrc/%s.j2" % os.path.basename(args["dest"])
    # The script goes in before the daemon starts, and a changed one restarts it.
    tasks = _load(os.path.join(ROLES, role, "tasks", "converge.yml"))
    names = [task.get("name") for task in tasks]
    script_task = names.index(next(name for name in names if name.startswith("Install the role's OpenRC script")))
    starts = [number for number, task in enumerate(tasks) if task.get("name", "").startswith("Start ")
              and ("ansible.builtin.service" in task)]
    assert starts and all(script_task < number for number in starts)
    assert tasks[script_task]["notify"] in _handler_names(role)


def test_slurm_restarts_only_the_daemons_it_did_not_just_start(chosen):
    restarted = _ran(chosen["Alpine_3"]["selections"]["slurm restart for a new script"])
    assert [args["name"] for args in restarted] == ["slurmd"]
    # A daemon whose start task only enabled it (it ran) still restarts with its new script.
    restarted = _ran(chosen["Alpine_3"]["selections"]["slurm restart for a new script, running"])
    assert [args["name"] for args in restarted] == ["slurmctld", "slurmd"]
    # Only the OpenRC script task notifies it.
    handler = "Restart the Slurm daemons for a new OpenRC script"
    notifying = [task["name"] for task in _load(os.path.join(ROLES, "slurm", "tasks", "converge.yml"))
                 if task.get("notify") == handler]
    assert notifying == ["Install the role's OpenRC scripts for the Slurm daemons"]


def test_slurmrestd_on_openrc_gets_conf_d_instead_of_the_drop_in(chosen):
    confd = _ran(chosen["Alpine_3"]["selections"]["slurmrestd conf.d"])
    assert confd["dest"] == chosen["Alpine_3"]["slurmrestd"]["__slurmrestd_openrc_confd"]
    # The init script reads /etc/conf.d/ under its own name.
    assert confd["dest"] == "/etc/conf.d/" + chosen["Alpine_3"]["slurmrestd"]["__slurmrestd_service"]
    assert os.path.exists(os.path.join(ROLES, "slurmrestd", "templates", confd["src"]))
    # Both restart handlers answer the one notification; each runs on its own service manager.
    restarts = [handler for handler in _load(os.path.join(ROLES, "slurmrestd", "handlers", "main.yml"))
                if "Restart slurmrestd" in (handler["name"], handler.get("listen"))]
    assert len(restarts) == 2
    for selection in ("slurmrestd drop-in directory", "slurmrestd drop-in", "slurmrestd start, systemd",
                      "slurmrestd restart, systemd"):
        assert _ran(chosen["Alpine_3"]["selections"][selection]) is None, selection
        assert _ran(chosen["Debian_12"]["selections"][selection]) is not None, selection


@pytest.mark.parametrize("name", sorted(EXPECTED["facts"]))
def test_slurmrestd_user_gets_the_os_nologin(chosen, name):
    """/sbin/nologin on Alpine and EL, /usr/sbin/nologin on Debian: the role's OS vars, as package_sources has it."""
    user = _ran(chosen[name]["selections"]["slurmrestd user"])
    assert user["shell"] == chosen[name]["slurmrestd"]["__slurmrestd_nologin"]
    assert user["shell"] == chosen[name]["package_sources"]["__package_sources_nologin"]
    assert user["shell"] == ("/usr/sbin/nologin" if name.startswith("Debian") else "/sbin/nologin")


@pytest.mark.parametrize("name", sorted(EXPECTED["facts"]))
def test_slurmrestd_drift_looks_at_the_file_of_its_service_manager(chosen, name):
    """The probe and the content check follow conf.d and the init script under OpenRC, the drop-in elsewhere."""
    restd = chosen[name]["slurmrestd"]
    files = _ran(chosen[name]["selections"]["slurmrestd probe"])["files"]
    if name == "Alpine_3":
        assert restd["__slurmrestd_config_file"] == "/etc/conf.d/slurmrestd"
        assert restd["__slurmrestd_config_template"] == "openrc/slurmrestd.confd.j2"
        assert [(spec["path"], spec["mode"]) for spec in files] == [
            ("/etc/conf.d/slurmrestd", "0644"), ("/etc/init.d/slurmrestd", "0755")]
    else:
        assert restd["__slurmrestd_config_file"] == "/etc/systemd/system/slurmrestd.service.d/aiinfra-slurm.conf"
        assert restd["__slurmrestd_config_template"] == "override.conf.j2"
        assert [spec["path"] for spec in files] == [restd["__slurmrestd_config_file"]]
    assert os.path.exists(os.path.join(ROLES, "slurmrestd", "templates", restd["__slurmrestd_config_template"]))
    # What converge writes is what the drift compares.
    dest = _ran(chosen[name]["selections"]["slurmrestd conf.d" if name == "Alpine_3" else "slurmrestd drop-in"])["dest"]
    assert dest == restd["__slurmrestd_config_file"]


def test_slurmrestd_absent_on_openrc_takes_conf_d_and_the_role_s_script(chosen):
    removed = _ran(chosen["Alpine_3"]["selections"]["slurmrestd OpenRC leftovers"])
    assert [args["path"] for args in removed] == ["/etc/conf.d/slurmrestd", "/etc/init.d/slurmrestd"]
    assert all(args["state"] == "absent" for args in removed)


def _spec_expand(text):
    macros = {"_sysconfdir": "/etc", "_var": "/var", "_rundir": "/run", "_libdir": "/usr/lib64",
              "_sbindir": "/usr/sbin", "_bindir": "/usr/bin", "name": "slurm"}
    return re.sub(r"%\{(\w+)\}", lambda match: macros.get(match.group(1), match.group(0)), text)


def _spec_files(section):
    """The expanded lines of a %files section of the spec excerpt ('' = the main package)."""
    lines, current = [], None
    for line in SPEC.splitlines():
        if line.startswith("%files"):
            current = line[len("%files"):].strip()
        elif current == section:
            lines.append(_spec_expand(line))
    return lines


@pytest.mark.parametrize("name", ["RedHat_8", "RedHat_9", "Rocky_9"])
def test_el_values_come_from_the_epel_spec(chosen, name):
    subpackages = set("slurm-" + package for package in re.findall(r"^%package (\S+)$", SPEC, re.M))
    slurm, restd, dbd = chosen[name]["slurm"], chosen[name]["slurmrestd"], chosen[name]["slurmdbd"]
    chosen_packages = list(slurm["__slurm_packages"].values())
    chosen_packages += [restd["__slurmrestd_packages"], dbd["__slurmdbd_packages"]]
    for packages in chosen_packages:
        assert set(packages) <= subpackages | {"slurm"}
    assert "slurm-slurmctld" in slurm["__slurm_packages"]["controller"]
    assert "slurm-slurmd" in slurm["__slurm_packages"]["compute"]
    # The JWT plugin is in the main package (so no plugin package), built against libjwt.
    assert slurm["__slurm_jwt_plugin"] in _spec_files("")
    assert slurm["__slurm_jwt_packages"] == [] and dbd["__slurmdbd_jwt_packages"] == []
    assert "BuildRequires:  libjwt-devel" in SPEC
    for directory in (slurm["__slurm_state_dir"], slurm["__slurm_spool_dir"], slurm["__slurm_log_dir"],
                      slurm["__slurm_run_dir"], slurm["__slurm_config_dir"]):
        assert "%dir " + directory in _spec_files(""), directory
    assert "--sysconfdir=" + slurm["__slurm_config_dir"] in _spec_expand(SPEC).replace(" \\", "").split()
    services = dict((section, [line for line in _spec_files(section) if line.endswith(".service")])
                    for section in ("slurmctld", "slurmd", "slurmrestd", "slurmdbd"))
    for section, service in (("slurmctld", slurm["__slurm_services"]["controller"]),
                             ("slurmd", slurm["__slurm_services"]["compute"]),
                             ("slurmrestd", restd["__slurmrestd_service"]),
                             ("slurmdbd", dbd["__slurmdbd_service"])):
        assert "%{_unitdir}/" + service + ".service" in services[section]
    assert restd["__slurmrestd_binary"] in _spec_files("slurmrestd")
    assert "%ghost " + dbd["__slurmdbd_pid_file"] in _spec_files("slurmdbd")
    assert dbd["__slurmdbd_config_dir"] + "/slurmdbd.conf" in " ".join(_spec_files("slurmdbd"))


def test_alpine_values_come_from_aports(chosen):
    munge = chosen["Alpine_3"]["munge"]
    subpackages = re.search(r'^subpackages="([^"]*)"', APORTS, re.M).group(1).replace("$pkgname", "munge").split()
    assert set(munge["__munge_packages"]) <= set(subpackages) | {"munge"}
    assert "munge-openrc" in munge["__munge_packages"]
    init = re.search(r'"\$pkgdir/etc/init.d/([^"]+)"', APORTS).group(1).replace("$pkgname", "munge")
    assert munge["__munge_service"] == init
    assert munge["__munge_user_home"] == re.search(r"-h (\S+)", APORTS).group(1)
    # The only slurm in aports is another program: Slurm must come from a site repository.
    assert 'pkgdesc="Yet another network load monitor"' in APORTS
    assert chosen["Alpine_3"]["slurm"]["__slurm_packages"]["controller"] == ["slurm"]


def test_alpine_without_a_site_repository_is_refused():
    tasks = _load(os.path.join(ROLES, "package_sources", "tasks", "apk.yml"))
    refusal = tasks[0]
    assert "ansible.builtin.fail" in refusal
    assert refusal["when"] == "package_sources_site_url | length == 0"
    assert "network load monitor" in refusal["ansible.builtin.fail"]["msg"]
    drift = _load(os.path.join(ROLES, "package_sources", "vars", "main.yml"))["__package_sources_drift"]
    assert "Alpine needs a site repository" in drift


def test_package_sources_compares_dnf_and_apk_sources(chosen):
    """dnf and apk hosts are compared like apt ones, so a re-run changes nothing."""
    rocky = chosen["Rocky_9"]["package_sources"]
    assert rocky["__package_sources_drift"] == []
    assert rocky["__package_sources_epel_wanted"] is False
    assert [spec["path"] for spec in rocky["__package_sources_wanted_files"]] == [
        "/etc/yum.repos.d/aiinfra-slurm-site/aiinfra-slurm-site.repo"]
    assert rocky["__package_sources_wanted_blocks"] == [{
        "path": "/etc/dnf/dnf.conf", "block": "reposdir=/etc/yum.repos.d/aiinfra-slurm-site",
        "name": "site-only reposdir"}]
    redhat = chosen["RedHat_9"]["package_sources"]
    assert redhat["__package_sources_epel_wanted"] is True
    assert redhat["__package_sources_wanted_packages"] == ["epel-release"]
    # apt hosts need no package of their own (apt_packages works without python3-apt).
    assert rocky["__package_sources_wanted_packages"] == []
    assert chosen["Debian_12"]["package_sources"]["__package_sources_wanted_packages"] == []
    assert [spec["path"] for spec in redhat["__package_sources_wanted_files"]] == [
        "/etc/yum.repos.d/aiinfra-slurm-site.repo"]
    alpine = chosen["Alpine_3"]["package_sources"]
    assert alpine["__package_sources_drift"] == []
    assert [spec["path"] for spec in alpine["__package_sources_wanted_files"]] == [
        "/etc/apk/repositories", "/etc/apk/keys/site-5f2c.rsa.pub"]
    assert alpine["__package_sources_apk_key"] == "/etc/apk/keys/site-5f2c.rsa.pub"
    for name in ("RedHat_9", "Rocky_9", "Alpine_3"):
        assert chosen[name]["package_sources"]["__package_sources_nologin"] == "/sbin/nologin"
    assert chosen["Debian_12"]["package_sources"]["__package_sources_nologin"] == "/usr/sbin/nologin"


@pytest.mark.parametrize("name, template, fixture", [
    ("RedHat_9", "dnf", "dnf-site-key.repo"),
    ("Rocky_9", "dnf", "dnf-site-trusted.repo"),
    ("Alpine_3", "apk", "apk-repositories"),
    ("Alpine_3", "confd", "slurmrestd.confd"),
])
def test_rendered_files(chosen, name, template, fixture):
    with open(os.path.join(FIXTURES, "rendered", fixture)) as handle:
        wanted = handle.read()
    rendered = chosen[name]["templates"][template]
    assert re.sub(r"^# .*\n", "# Ansible managed\n", rendered, count=1) == wanted
    if template in ("dnf", "apk"):
        # What the probe compares is what converge writes.
        files = chosen[name]["package_sources"]["__package_sources_wanted_files"]
        assert files[0]["sha1"] == hashlib.sha1(rendered.encode()).hexdigest()


@pytest.mark.parametrize("script", sorted(EXPECTED["openrc"]))
def test_openrc_scripts(chosen, script):
    """The OpenRC scripts the roles write (templates/openrc/NAME.j2), as rendered for Alpine."""
    spec = EXPECTED["openrc"][script]
    text = chosen["Alpine_3"]["templates"]["openrc_" + script]
    assert text.startswith("#!/sbin/openrc-run\n")
    assert 'command="%s"' % spec["command"] in text
    for line in spec.get("lines", []):
        assert line in text.splitlines()
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as handle:
        handle.write(text)
        handle.flush()
        subprocess.run(["sh", "-n", handle.name], check=True)
    # The script's name is the service the role starts there.
    services = [chosen["Alpine_3"][spec["role"]].get(spec["service_var"])] if "service_var" in spec else \
        list(chosen["Alpine_3"]["slurm"]["__slurm_services"].values())
    assert script in services
    if script == "munge":
        # The same daemon as aports' own script starts.
        assert 'command="%s"' % spec["command"] in APORTS


USER_CASES = {
    # This machine's own root (uid 0, gid 0), read by system_user as on a cluster host.
    "other_uid": {"uid": 4242, "gid": 0, "problems": ["user root has uid 0"]},
    "other_gid": {"uid": 0, "gid": 4242, "problems": ["group root has gid 0"]},
    "same_ids": {"uid": 0, "gid": 0, "problems": []},
}


@pytest.fixture(scope="module")
def user_run():
    """package_sources' user.yml on this machine in check mode, one pretend host per case."""
    return _run("user_run")


def _both():
    """Both playbook runs at once (they wait mostly on Ansible's own start): {name: value or error}."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {"chosen": pool.submit(_chosen), "user_run": pool.submit(_user_run)}
    results = {}
    for name, future in futures.items():
        try:
            results[name] = {"value": future.result()}
        except Exception as error:  # pylint: disable=broad-except
            results[name] = {"error": "%s: %s" % (type(error).__name__, error)}
    return results


def _run(name):
    result = _once("runs", _both)[name]
    if "error" in result:
        pytest.fail(result["error"], pytrace=False)
    return result["value"]


def _user_run():
    tmp = tempfile.mkdtemp(prefix="os-static-user-")
    hosts = dict((name, {"__package_sources_user": {
        "name": "root", "uid": case["uid"], "gid": case["gid"], "home": "/root",
        "uid_var": "the_uid_var", "gid_var": "the_gid_var"}}) for name, case in USER_CASES.items())
    play = [{"name": "Users", "hosts": "all", "gather_facts": False, "tasks": [{
        "name": "Create root with given ids", "ansible.builtin.include_role": {
            "name": "aiinfra.slurm.package_sources", "tasks_from": "user.yml"}}]}]
    with open(os.path.join(tmp, "ansible.cfg"), "w") as handle:
        handle.write("[defaults]\n")
    with open(os.path.join(tmp, "play.yml"), "w") as handle:
        yaml.safe_dump(play, handle)
    with open(os.path.join(tmp, "hosts.yml"), "w") as handle:
        yaml.safe_dump({"all": {"hosts": hosts, "vars": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION))),
               ANSIBLE_CONFIG=os.path.join(tmp, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "tmp"), ANSIBLE_HOME=os.path.join(tmp, "home"))
    # Check mode: the ids are read for real, the group and user tasks change nothing.
    result = subprocess.run([sys.executable, "-m", "ansible.cli.playbook", "-i", "hosts.yml", "--check", "play.yml"],
                            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, check=False)
    return result.stdout


@pytest.mark.parametrize("name", sorted(USER_CASES))
def test_a_user_with_other_ids_stops_the_run(user_run, name):
    """user.yml refuses to renumber an existing user and names the problem and the variables."""
    fatal = [line for line in user_run.splitlines() if line.startswith("fatal: [%s]" % name)]
    recap = re.search(r"^%s\s+: ok=\d+\s+changed=(\d+).*failed=(\d+)" % name, user_run, re.M)
    assert recap, user_run[-3000:]
    problems = USER_CASES[name]["problems"]
    if problems:
        assert len(fatal) == 1 and recap.group(2) == "1", user_run[-3000:]
        for problem in problems:
            assert problem in fatal[0]
        assert "(the_uid_var, the_gid_var)" in fatal[0] and "Nothing was changed" in fatal[0]
    else:
        # On to the task that makes the user (which in check mode only says what it would change).
        assert not fatal and recap.group(2) == "0", user_run[-3000:]
        assert re.search(r"^(ok|changed): \[%s\]" % name, user_run.split("Make the user and its group with the cluster's ids, root")[1], re.M)
