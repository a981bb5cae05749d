#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slurm_host_facts
short_description: Inspect a Slurm host in one call (OS, packages, files, services, daemons)
version_added: 0.1.0
description:
  - Reads, in one round trip, what the roles of this collection need to decide whether a
    host already is as they would make it - the operating system, which packages are
    installed, checksums and ownership of files, whether services are active and enabled,
    and optionally the node's resources (C(slurmd -C)), a local munge round trip, the
    compute nodes' states as slurmctld sees them, and a slurmrestd health check with a
    freshly minted token.
  - Changes nothing. Secrets are never read into the result, only their checksums.
  - Also sets the facts C(distribution), C(distribution_major_version), C(os_family),
    C(pkg_mgr) and C(service_mgr), so plays need not gather facts.
author:
  - aiinfra.slurm developers (@aiinfra)
options:
  packages:
    description: Package names whose installed version to report.
    type: list
    elements: str
    default: []
  files:
    description: Paths whose SHA-1 checksum, owner, group and mode to report.
    type: list
    elements: path
    default: []
  read_text:
    description: Small, non-secret text files whose content to report, such as C(/etc/hosts).
    type: list
    elements: path
    default: []
  services:
    description: Services whose active and enabled state to report.
    type: list
    elements: str
    default: []
  users:
    description: Users whose existence to report.
    type: list
    elements: str
    default: []
  detect_resources:
    description: Run C(slurmd -C) and report the node's resources.
    type: bool
    default: false
  munge_roundtrip:
    description: Encode a munge credential and decode it again locally.
    type: bool
    default: false
  node_states:
    description: Compute node names whose Slurm state (C(sinfo) compact form) to report.
    type: list
    elements: str
    default: []
  rest_ping:
    description:
      - Ping slurmctld through the slurmrestd on this host with a 60-second token minted
        by C(scontrol token). Keys C(port), C(user), and C(version) (default v0.0.38 on
        Slurm before 23.02, else v0.0.40).
    type: dict
extends_documentation_fragment:
  - aiinfra.slurm.attributes
  - aiinfra.slurm.attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
notes:
  - The roles use it to skip work on hosts that are already converged, which keeps
    re-runs fast.
"""

EXAMPLES = r"""
- name: Inspect the host
  aiinfra.slurm.slurm_host_facts:
    packages: [munge]
    files: [/etc/munge/munge.key]
    services: [munge]
    munge_roundtrip: true

- name: Show whether munge runs
  ansible.builtin.debug:
    msg: "{{ ansible_facts.slurm_host.services.munge }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts about the host.
  returned: always
  type: dict
  contains:
    slurm_host:
      description: What was inspected.
      type: dict
      sample:
        packages: {munge: "0.5.15-2+deb12u1", slurmd: null}
        missing_packages: [slurmd]
        text: {/etc/hosts: "127.0.0.1 localhost\\n"}
        stopped_services: [slurmd]
        nodes_not_up: {node2: "down*"}
        files: {/etc/munge/munge.key: {sha1: "5d4f...", owner: munge, group: munge, mode: "0400"}}
        services: {munge: {active: true, enabled: true}}
        users: {slurmrestd: true}
        slurm_version: "22.05.8"
        resources: {CPUs: "2", RealMemory: "24105"}
        munge_roundtrip: true
        node_states: {node1: idle}
        rest_ping: 200
    os_family:
      description: OS family, as in Ansible's own facts (Debian, RedHat, Alpine).
      type: str
      sample: Debian
"""

import grp
import hashlib
import json
import os
import pwd
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

# os-release ID to Ansible's distribution and os_family names.
_DISTRIBUTIONS = {
    "debian": ("Debian", "Debian"),
    "ubuntu": ("Ubuntu", "Debian"),
    "rocky": ("Rocky", "RedHat"),
    "rhel": ("RedHat", "RedHat"),
    "almalinux": ("AlmaLinux", "RedHat"),
    "centos": ("CentOS", "RedHat"),
    "fedora": ("Fedora", "RedHat"),
    "alpine": ("Alpine", "Alpine"),
}


# sinfo's compact states of a node that is up: serving jobs, or drained by an
# operator. Not up: down, fail, unknown, future, or not responding (a `*`).
_UP_STATES = ("idle", "mix", "alloc", "comp", "resv", "maint", "plnd", "drain", "drng")


def _os_release():
    values = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        if os.path.exists(path):
            with open(path) as handle:
                for line in handle:
                    key, sep, value = line.strip().partition("=")
                    if sep:
                        values[key] = value.strip('"')
            break
    return values


def _os_facts(module):
    release = _os_release()
    distribution, family = _DISTRIBUTIONS.get(release.get("ID", ""), (release.get("NAME", "Unknown"), None))
    if family is None:
        like = release.get("ID_LIKE", "").split()
        family = next((_DISTRIBUTIONS[item][1] for item in like if item in _DISTRIBUTIONS), "Unknown")
    version = release.get("VERSION_ID", "")
    pkg_mgr = next((name for name in ("apt", "dnf", "apk") if module.get_bin_path(
        "apt-get" if name == "apt" else name)), "unknown")
    if os.path.isdir("/run/systemd/system"):
        service_mgr = "systemd"
    elif module.get_bin_path("openrc") or os.path.exists("/sbin/openrc-run"):
        service_mgr = "openrc"
    else:
        service_mgr = "service"
    return {
        "distribution": distribution,
        "distribution_major_version": version.split(".")[0] if version else "",
        "distribution_version": version,
        "os_family": family,
        "pkg_mgr": pkg_mgr,
        "service_mgr": service_mgr,
    }


def parse_dpkg_query(out, names):
    """Installed versions from `dpkg-query -W -f='${Package} ${Status} ${Version}\\n'`; None if not installed."""
    found = dict((name, None) for name in names)
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] in found and parts[1:4] == ["install", "ok", "installed"]:
            found[parts[0]] = parts[4]
    return found


def parse_rpm_query(out, names):
    """Installed versions from `rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\\n'`."""
    found = dict((name, None) for name in names)
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in found:
            found[parts[0]] = parts[1]
    return found


def _packages(module, pkg_mgr, names):
    if not names:
        return {}
    if pkg_mgr == "apt":
        _rc, out, _err = module.run_command(["dpkg-query", "-W", "-f=${Package} ${Status} ${Version}\\n"] + names)
        return parse_dpkg_query(out, names)
    if pkg_mgr == "dnf":
        _rc, out, _err = module.run_command(["rpm", "-q", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n"] + names)
        return parse_rpm_query(out, names)
    found = dict((name, None) for name in names)
    if pkg_mgr == "apk":
        for name in names:
            rc, out, _err = module.run_command(["apk", "info", "-e", name])
            if rc == 0 and out.strip():
                found[name] = "installed"
    return found


def _file(path):
    try:
        stat = os.stat(path)
    except OSError:
        return None
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)

    def name(lookup, ident):
        try:
            return lookup(ident)[0]
        except KeyError:
            return str(ident)

    return {
        "sha1": digest.hexdigest(),
        "owner": name(pwd.getpwuid, stat.st_uid),
        "group": name(grp.getgrgid, stat.st_gid),
        "mode": "%04o" % (stat.st_mode & 0o7777),
    }


def parse_systemctl_show(out, names):
    """Active and enabled states from `systemctl show --property=Id,ActiveState,UnitFileState UNIT...`.

    systemctl prints one block per unit, in the order asked, separated by blank lines.
    """
    blocks = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
              for block in out.strip().split("\n\n")]
    states = {}
    for name, block in zip(names, blocks):
        states[name] = {"active": block.get("ActiveState") == "active",
                        "enabled": block.get("UnitFileState") == "enabled"}
    for name in names:
        states.setdefault(name, {"active": False, "enabled": False})
    return states


def _services(module, service_mgr, names):
    if not names:
        return {}
    if service_mgr == "systemd":
        _rc, out, _err = module.run_command(
            ["systemctl", "show", "--property=Id,ActiveState,UnitFileState"] + ["%s.service" % n for n in names])
        return parse_systemctl_show(out, names)
    states = {}
    _rc, enabled, _err = module.run_command(["rc-update", "show", "default"])
    for name in names:
        rc, _out, _err = module.run_command(["rc-service", name, "status"])
        states[name] = {"active": rc == 0,
                        "enabled": re.search(r"^\s*%s\s" % re.escape(name), enabled, re.M) is not None}
    return states


def parse_slurmd_c(out):
    """Resources from the first line of `slurmd -C`: {"CPUs": "2", "RealMemory": "24105", ...}."""
    lines = out.splitlines()
    return dict(re.findall(r"(\w+)=(\S+)", lines[0])) if lines else None


def _resources(module):
    slurmd = module.get_bin_path("slurmd")
    if not slurmd:
        return None
    rc, out, _err = module.run_command([slurmd, "-C"])
    if rc != 0 or not out:
        return None
    return parse_slurmd_c(out)


def _slurm_version(module):
    for name in ("sinfo", "slurmd", "slurmctld", "slurmrestd"):
        binary = module.get_bin_path(name)
        if binary:
            rc, out, _err = module.run_command([binary, "-V"])
            if rc == 0 and out.split():
                return out.split()[-1]
    return None


def _munge_roundtrip(module):
    munge, unmunge = module.get_bin_path("munge"), module.get_bin_path("unmunge")
    if not (munge and unmunge):
        return False
    rc, credential, _err = module.run_command([munge, "--no-input"])
    if rc != 0:
        return False
    rc, out, _err = module.run_command([unmunge], data=credential)
    return rc == 0 and re.search(r"STATUS:\s+Success \(0\)", out) is not None


def _node_states(module, names):
    if not names:
        return {}
    sinfo = module.get_bin_path("sinfo")
    if not sinfo:
        return {}
    rc, out, _err = module.run_command(
        [sinfo, "--noheader", "--Node", "--format=%N %t", "--nodes=" + ",".join(names)])
    if rc != 0:
        return {}
    return parse_node_states(out)


def parse_node_states(out):
    """{node: compact state} from `sinfo --noheader --Node --format='%N %t'`."""
    return dict(line.split(None, 1) for line in out.splitlines() if line.strip())


def nodes_not_up(states, names):
    """The named nodes that are not up, with their state ('missing' when sinfo did not list them)."""
    return dict((name, states.get(name, "missing")) for name in names if states.get(name) not in _UP_STATES)


def _read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError, UnicodeDecodeError):
        return None


def _rest_ping(module, spec, slurm_version):
    scontrol = module.get_bin_path("scontrol")
    if not scontrol:
        return None
    user = spec.get("user") or "root"
    rc, out, _err = module.run_command([scontrol, "token", "lifespan=60", "username=%s" % user])
    if rc != 0 or "=" not in out:
        return None
    token = out.strip().split("=", 1)[1]
    version = spec.get("version")
    if not version:
        # 22.05 serves v0.0.38 only; 24.11 no longer serves it.
        major_minor = tuple(int(part) for part in (slurm_version or "99.0").split(".")[:2])
        version = "v0.0.38" if major_minor < (23, 2) else "v0.0.40"
    url = "http://127.0.0.1:%s/slurm/%s/ping" % (spec.get("port", 6820), version)
    try:
        response = open_url(url, headers={"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": token}, timeout=5)
        json.loads(response.read())
        return response.getcode()
    except Exception as error:  # pylint: disable=broad-except
        return getattr(error, "code", -1)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type="list", elements="str", default=[]),
            files=dict(type="list", elements="path", default=[]),
            services=dict(type="list", elements="str", default=[]),
            users=dict(type="list", elements="str", default=[]),
            detect_resources=dict(type="bool", default=False),
            munge_roundtrip=dict(type="bool", default=False),
            node_states=dict(type="list", elements="str", default=[]),
            rest_ping=dict(type="dict"),
            read_text=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    facts = _os_facts(module)

    def user_exists(name):
        try:
            pwd.getpwnam(name)
            return True
        except KeyError:
            return False

    host = {
        "packages": _packages(module, facts["pkg_mgr"], params["packages"]),
        "files": dict((path, _file(path)) for path in params["files"]),
        "services": _services(module, facts["service_mgr"], params["services"]),
        "users": dict((name, user_exists(name)) for name in params["users"]),
    }
    if params["detect_resources"]:
        host["resources"] = _resources(module)
    if params["munge_roundtrip"]:
        host["munge_roundtrip"] = _munge_roundtrip(module)
    host["slurm_version"] = _slurm_version(module)
    host["missing_packages"] = [name for name, version in host["packages"].items() if version is None]
    host["stopped_services"] = [name for name, state in host["services"].items()
                                if not (state["active"] and state["enabled"])]
    host["text"] = dict((path, _read_text(path)) for path in params["read_text"])
    if params["node_states"]:
        states = _node_states(module, params["node_states"])
        host["node_states"] = states
        host["nodes_not_up"] = nodes_not_up(states, params["node_states"])
    if params["rest_ping"]:
        host["rest_ping"] = _rest_ping(module, params["rest_ping"], host["slurm_version"])
    facts["slurm_host"] = host
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
