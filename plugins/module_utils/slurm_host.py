# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# What slurm_host_facts reads of a host and how it compares it with the state
# wanted of it (drift): packages, files, services, users, node states, munge,
# slurmrestd and certificates. The parsers are unit-tested with output captured from the lab.
# Runs on managed hosts: Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import grp
import hashlib
import ipaddress
import json
import os
import pwd
import re
from stat import S_ISDIR

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError

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
UP_STATES = ("idle", "mix", "alloc", "comp", "resv", "maint", "plnd", "drain", "drng")


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


def os_facts(module):
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


def package_drift(found):
    return ["package %s missing" % name for name, version in found.items() if version is None]


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


def file_facts(path):
    """SHA-1 (None for a directory), owner, group and mode of a file; None when it does not exist."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    digest = None
    if not S_ISDIR(stat.st_mode):
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
        "sha1": digest.hexdigest() if digest else None,
        "owner": name(pwd.getpwuid, stat.st_uid),
        "group": name(grp.getgrgid, stat.st_gid),
        "mode": "%04o" % (stat.st_mode & 0o7777),
    }


def wanted_sha1(spec):
    """The checksum a file spec asks for: sha1, or that of content_b64; None when content is not compared."""
    if spec.get("content_b64"):
        try:
            return hashlib.sha1(base64.b64decode(spec["content_b64"], validate=True)).hexdigest()
        except (binascii.Error, ValueError):
            # Never echo the value: it is a secret.
            raise SlurmError("content_b64 of %s is not valid base64" % spec["path"])
    return spec.get("sha1")


def file_drift(spec, found):
    """Reasons why a file (file_facts() or None) is not as its spec wants it."""
    path = spec["path"]
    if spec.get("state") == "absent":
        return ["file %s present, wanted absent" % path] if found else []
    if found is None:
        return ["file %s missing" % path]
    reasons = []
    for key in ("owner", "group", "mode"):
        want = spec.get(key)
        if key == "mode" and want and re.match(r"\A[0-7]{1,4}\Z", want):
            want = "%04o" % int(want, 8)
        if want and found[key] != want:
            reasons.append("file %s: %s %s, wanted %s" % (path, key, found[key], want))
    sha1 = wanted_sha1(spec)
    if sha1 and found["sha1"] != sha1:
        reasons.append("file %s: content differs" % path)
    return reasons


def parse_systemctl_show(out, names):
    """Active and enabled states from `systemctl show --property=Id,ActiveState,UnitFileState UNIT...`.

    systemctl prints one block per unit, in the order asked, separated by blank lines.
    `state` keeps the ActiveState itself (inspect() reports it as service_states): a unit
    that is "activating" is not active (a role starts it) but may have read the old files
    (the test plugin first_start).
    """
    blocks = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
              for block in out.strip().split("\n\n")]
    states = {}
    for name, block in zip(names, blocks):
        states[name] = {"active": block.get("ActiveState") == "active",
                        "enabled": block.get("UnitFileState") == "enabled",
                        "state": block.get("ActiveState", "")}
    for name in names:
        states.setdefault(name, {"active": False, "enabled": False})
    return states


def service_drift(states):
    reasons = []
    for name, state in states.items():
        problems = [word for word, ok in (("stopped", state["active"]), ("not enabled", state["enabled"])) if not ok]
        if problems:
            reasons.append("service %s %s" % (name, " and ".join(problems)))
    return reasons


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


def parse_node_states(out):
    """{node: compact state} from `sinfo --noheader --Node --format='%N %t'`."""
    return dict(line.split(None, 1) for line in out.splitlines() if line.strip())


def nodes_not_up(states, names):
    """The named nodes that are not up, with their state ('missing' when sinfo did not list them)."""
    return dict((name, states.get(name, "missing")) for name in names if states.get(name) not in UP_STATES)


def node_drift(states, names):
    return ["node %s not up (%s)" % item for item in sorted(nodes_not_up(states, names).items())]


def _node_states(module, names):
    """({node: state}, error or None) as slurmctld sees them."""
    sinfo = module.get_bin_path("sinfo")
    if not sinfo:
        return {}, "sinfo is not installed"
    rc, out, err = module.run_command(
        [sinfo, "--noheader", "--Node", "--format=%N %t", "--nodes=" + ",".join(names)])
    if rc != 0:
        first = ((err or out).strip().splitlines() or [""])[0]
        return {}, "sinfo failed (rc %d): %s" % (rc, first)
    return parse_node_states(out), None


def text_block_drift(spec, text):
    if text is None:
        return ["file %s missing or unreadable (wanted the %s)" % (spec["path"], spec["name"])]
    if spec["block"] not in text:
        return ["file %s: %s missing or different" % (spec["path"], spec["name"])]
    return []


def _subject_alt_name(name):
    """'DNS:x' or 'IP:address' with the address in one notation (openssl prints IPv6 in full)."""
    kind, _sep, value = name.strip().replace("IP Address:", "IP:").partition(":")
    value = value.strip()
    if kind == "IP":
        try:
            value = ipaddress.ip_address(value).compressed
        except ValueError:
            pass
    return "%s:%s" % (kind, value)


def parse_openssl_x509(out):
    """{'current': True/False/None, 'names': [...]} from `openssl x509 -noout -checkend N -ext subjectAltName`.

    current is None when openssl said neither "will expire" nor "will not expire" (unreadable).
    """
    current = None
    names = []
    lines = out.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "Certificate will not expire":
            current = True
        elif line.strip() == "Certificate will expire":
            current = False
        elif line.startswith("X509v3 Subject Alternative Name") and index + 1 < len(lines):
            names = [_subject_alt_name(name) for name in lines[index + 1].split(",") if name.strip()]
    return {"current": current, "names": sorted(names)}


def certificate_drift(spec, found):
    path = spec["path"]
    if not found["exists"]:
        return ["certificate %s missing" % path]
    if found["current"] is None:
        return ["certificate %s unreadable: %s" % (path, found.get("error") or "no answer from openssl")]
    reasons = []
    if not found["current"]:
        days, rest = divmod(spec["valid_for"], 86400)
        reasons.append("certificate %s ends within %s" % (
            path, "%d days" % days if not rest else "%d seconds" % spec["valid_for"]))
    if spec.get("names") is not None:
        wanted = sorted(set(_subject_alt_name(name) for name in spec["names"]))
        if sorted(set(found["names"])) != wanted:
            reasons.append("certificate %s names %s, wanted %s" % (
                path, ", ".join(found["names"]) or "nothing", ", ".join(wanted)))
    return reasons


def read_certificate(module, spec):
    """What openssl says of the certificate at spec["path"]: its end against spec["valid_for"], its names."""
    if not os.path.exists(spec["path"]):
        return {"exists": False, "current": None, "names": []}
    openssl = module.get_bin_path("openssl")
    if not openssl:
        return {"exists": True, "current": None, "names": [], "error": "openssl is not installed"}
    # rc 1 both for "will expire" and for a file openssl cannot read: the text tells them apart.
    _rc, out, err = module.run_command([openssl, "x509", "-in", spec["path"], "-noout",
                                        "-checkend", str(spec["valid_for"]), "-ext", "subjectAltName"])
    found = dict(parse_openssl_x509(out), exists=True)
    if found["current"] is None:
        found["error"] = ((err or out).strip().splitlines() or [""])[0][:200]
    return found


def _read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError, UnicodeDecodeError):
        return None


def _rest_ping(module, spec, slurm_version):
    """(HTTP status or -1, error text or None). The token never leaves this function."""
    # Imported here: slurm_client brings both backends, which every other
    # call of this module (each role's probe on every re-run) would compile.
    from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import mint_token, rest_version_for

    def run(argv):
        rc, out, err = module.run_command(argv)
        if rc != 0:
            raise SlurmError("%s failed (rc %d): %s" % (argv[0], rc, err.strip()))
        return out

    try:
        token = mint_token(run, user=spec["user"])
    except SlurmError as error:
        return -1, error.msg
    url = "http://127.0.0.1:%s/slurm/%s/ping" % (spec["port"], spec.get("version") or rest_version_for(slurm_version))
    try:
        # Imported here: only the slurmrestd check needs it, and it is the
        # heaviest import of the per-host probes.
        from ansible.module_utils.urls import open_url

        response = open_url(url, headers={"X-SLURM-USER-NAME": spec["user"], "X-SLURM-USER-TOKEN": token}, timeout=5)
        json.loads(response.read())
        return response.getcode(), None
    except Exception as error:  # pylint: disable=broad-except
        return getattr(error, "code", -1), str(error)[:200]


def inspect(module, params, facts):
    """(slurm_host facts, drift) of this host against the wanted state in params."""
    drift = []
    host = {"packages": _packages(module, facts["pkg_mgr"], params["packages"])}
    drift += package_drift(host["packages"])
    host["files"] = {}
    for spec in params["files"]:
        found = file_facts(spec["path"])
        host["files"][spec["path"]] = found
        drift += file_drift(spec, found)
    for spec in params["text_blocks"]:
        drift += text_block_drift(spec, _read_text(spec["path"]))
    states = _services(module, facts["service_mgr"], params["services"])
    # services keeps its two flags only (the roles test `.values() is any`);
    # systemd's ActiveState goes beside it.
    host["services"] = dict((name, {"active": state["active"], "enabled": state["enabled"]})
                            for name, state in states.items())
    host["service_states"] = dict((name, state["state"]) for name, state in states.items() if "state" in state)
    drift += service_drift(host["services"])

    def user_exists(name):
        try:
            pwd.getpwnam(name)
            return True
        except KeyError:
            return False

    host["users"] = dict((name, user_exists(name)) for name in params["users"])
    drift += ["user %s missing" % name for name, exists in host["users"].items() if not exists]
    # Whole text files the caller asked for (configuration, never secrets); None when missing.
    host["texts"] = dict((path, _read_text(path)) for path in params["read"])
    host["slurm_version"] = _slurm_version(module)
    if params["detect_resources"]:
        host["resources"] = _resources(module)
    if params["munge_roundtrip"]:
        host["munge_roundtrip"] = _munge_roundtrip(module)
        if not host["munge_roundtrip"]:
            drift.append("munge round trip fails")
    if params["node_states"]:
        host["node_states"], error = _node_states(module, params["node_states"])
        if error:
            drift.append("node states unknown: %s" % error)
        else:
            drift += node_drift(host["node_states"], params["node_states"])
    host["certificates"] = {}
    for spec in params["certificates"]:
        found = read_certificate(module, spec)
        host["certificates"][spec["path"]] = found
        drift += certificate_drift(spec, found)
    if params["rest_ping"]:
        host["rest_ping"], error = _rest_ping(module, params["rest_ping"], host["slurm_version"])
        if host["rest_ping"] != 200:
            drift.append("slurmrestd ping answered %s%s" % (
                "nothing" if host["rest_ping"] == -1 else "HTTP %s" % host["rest_ping"],
                " (%s)" % error if error else ""))
    return host, drift
