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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "os")
COLLECTION = os.path.dirname(os.path.dirname(HERE))
ROLES = os.path.join(COLLECTION, "roles")
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
SOURCES_KEYS = ["__package_sources_wanted_files", "__package_sources_wanted_blocks",
                "__package_sources_wanted_packages", "__package_sources_drift", "__package_sources_epel_wanted",
                "__package_sources_nologin", "__package_sources_apk_key"]


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


def _playbook(out_dir):
    tasks = [{"name": "Pretend to be the OS", "ansible.builtin.set_fact": dict(
        ((key, "{{ os_facts.%s }}" % key) for key in EXPECTED["facts"]["Debian_12"]), cacheable=True)}]
    for role in VAR_ROLES + ["package_sources"]:
        path = os.path.join(ROLES, role, "vars", "main.yml")
        if os.path.exists(path):
            tasks.append({"name": "Load %s/vars" % role, "ansible.builtin.include_vars": path})
        if role != "package_sources":
            tasks.append(_os_vars_task(role))
    values = dict((role, "{{ dict(keys.%s | zip(query('ansible.builtin.vars', *keys.%s))) }}" % (role, role))
                  for role in VAR_ROLES)
    values["package_sources"] = "{{ dict(sources_keys | zip(query('ansible.builtin.vars', *sources_keys))) }}"
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
        keys = dict((role, sorted(EXPECTED["expected"][name].get(role, {}))) for role in VAR_ROLES)
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
        assert chosen[name][role] == values, "%s on %s" % (role, name)


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
    # This machine's own root (uid 0, gid 0), read with getent as on a cluster host.
    "other_uid": {"uid": 4242, "gid": 0, "problems": ["user root has uid 0"]},
    "other_gid": {"uid": 0, "gid": 4242, "problems": ["group root has gid 0"]},
    "same_ids": {"uid": 0, "gid": 0, "problems": []},
}


@pytest.fixture(scope="module")
def user_run():
    """package_sources' user.yml on this machine in check mode, one pretend host per case."""
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
        # On to the group and user tasks (which in check mode only say what they would change).
        assert not fatal and recap.group(2) == "0", user_run[-3000:]
        assert re.search(r"^(ok|changed): \[%s\]" % name, user_run.split("Create user root")[1], re.M)
