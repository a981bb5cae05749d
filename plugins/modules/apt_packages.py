#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: apt_packages
short_description: Install or remove Debian packages with apt-get, without python3-apt
version_added: 0.3.0
description:
  - Installs the packages of O(name) that are not installed, or removes those that are, with
    one C(apt-get) call, after one C(dpkg-query) call; a host that already matches runs nothing
    else.
  - Needs no python3-apt on the host, unlike M(ansible.builtin.apt), which installs it first on
    a pure host (a dpkg run on every host), and which under Mitogen's strategies cannot start
    again after installing it.
  - Before an install, refreshes the package lists (C(apt-get update)) when there are none, when
    a file of the package sources changed since the last refresh, or when they are older than
    O(cache_valid_time), so that a site repository written just before is used.
  - With O(policy_rc_d), a temporary C(/usr/sbin/policy-rc.d) keeps the packages' maintainer
    scripts from starting daemons that are not configured yet; one that was there is put back.
  - Package names are checked before anything runs; a name that apt-get could read as an
    option, a version or a release is refused.
  - With O(note), the same call keeps a list on the host of the packages it installed, for an
    uninstall that removes those and nothing else.
author:
  - aiinfra.slurm developers (@aiinfra)
options:
  name:
    description: The packages, by name (C(pkg) or C(pkg:arch)).
    type: list
    elements: str
    required: true
  state:
    description: Whether the packages are installed or not.
    type: str
    choices: [present, absent]
    default: present
  purge:
    description: With O(state=absent), remove the configuration files too (also of packages
      already removed without them).
    type: bool
    default: false
  install_recommends:
    description: Install the packages' recommended packages too.
    type: bool
    default: false
  policy_rc_d:
    description: Exit code of a temporary C(/usr/sbin/policy-rc.d) during the apt-get call;
      C(101) keeps every daemon from starting. Unset, none is written.
    type: int
  cache_valid_time:
    description: Refresh the package lists before an install when they are older than this
      many seconds.
    type: int
    default: 86400
  note:
    description:
      - A file on the host that lists the packages this module installed, one name a line.
      - After an install, the packages it added are appended (names listed already stay once);
        the file (root, mode 0644) and its directory (mode 0755) are made when missing.
      - Not written in check mode, when nothing was installed, or with O(state=absent).
    type: path
  note_dependencies:
    description:
      - Note the packages the install pulled in as dependencies too (from C(dpkg-query) before
        and after it), not only those of O(name) that were missing.
      - apt keeps some of them after a removal (a package that provides what another one also
        provides), so only a list of them all takes the host back to what it had.
    type: bool
    default: false
extends_documentation_fragment:
  - aiinfra.slurm.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - Answers configuration file prompts as M(ansible.builtin.apt) does (keep the changed file,
    take the default), and waits up to 120 s for another apt or dpkg to finish.
  - The roles of this collection install and remove their packages with it on apt hosts.
seealso:
  - module: ansible.builtin.apt
"""

EXAMPLES = r"""
- name: Install munge, no daemon started by the package
  aiinfra.slurm.apt_packages:
    name: [munge]
    policy_rc_d: 101

- name: Install MariaDB and list on the host everything the install added
  aiinfra.slurm.apt_packages:
    name: [mariadb-server]
    note: /var/lib/aiinfra-slurm/slurmdbd.installed
    note_dependencies: true

- name: Purge slurmd and what it pulled in
  aiinfra.slurm.apt_packages:
    name: [slurmd, slurm-wlm-basic-plugins]
    state: absent
    purge: true
"""

RETURN = r"""
changed_packages:
  description: The packages installed or removed (to be, in check mode).
  returned: success
  type: list
  elements: str
  sample: [munge]
noted:
  description: The names added to O(note) (to be, in check mode, the named packages only).
  returned: when O(note) is set and O(state=present)
  type: list
  elements: str
  sample: [mariadb-server, mariadb-client, galera-4]
cache_updated:
  description: Whether the package lists were refreshed.
  returned: success
  type: bool
  sample: true
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiinfra.slurm.plugins.module_utils.apt_packages import (
    added_packages,
    install_argv,
    invalid_names,
    lists_stale,
    noted_text,
    package_states,
    query_argv,
    remove_argv,
    to_change,
)
from ansible_collections.aiinfra.slurm.plugins.module_utils.file_replace import replace_file

LISTS_DIR = "/var/lib/apt/lists"
SOURCES = ["/etc/apt/sources.list", "/etc/apt/sources.list.d"]
POLICY_RC_D = "/usr/sbin/policy-rc.d"
ENVIRONMENT = {"DEBIAN_FRONTEND": "noninteractive", "DEBIAN_PRIORITY": "critical", "LC_ALL": "C"}


def source_mtimes():
    mtimes = []
    for path in SOURCES:
        if os.path.exists(path):
            mtimes.append(os.stat(path).st_mtime)
        if os.path.isdir(path):
            mtimes += [os.stat(os.path.join(path, name)).st_mtime for name in os.listdir(path)]
    return mtimes


def run_apt_get(module, argv, what):
    rc, out, err = module.run_command(argv, environ_update=ENVIRONMENT)
    if rc != 0:
        lines = [line for line in (err or out).splitlines() if line.strip()]
        module.fail_json(msg="%s failed (rc %d): %s" % (what, rc, " ".join(lines[-5:])), rc=rc,
                         stdout=out, stderr=err)
    return out


class PolicyRcD(object):
    """A policy-rc.d that answers code for the duration; the one that was there comes back."""

    def __init__(self, code):
        self.code, self.saved = code, None

    def __enter__(self):
        if self.code is None:
            return self
        if os.path.lexists(POLICY_RC_D):
            self.saved = POLICY_RC_D + ".aiinfra-slurm-saved"
            os.rename(POLICY_RC_D, self.saved)
        with open(POLICY_RC_D, "w") as handle:
            handle.write("#!/bin/sh\n# aiinfra.slurm.apt_packages: no daemon starts during this install\nexit %d\n"
                         % self.code)
        os.chmod(POLICY_RC_D, 0o755)
        return self

    def __exit__(self, *exc):
        if self.code is None:
            return False
        os.remove(POLICY_RC_D)
        if self.saved:
            os.rename(self.saved, POLICY_RC_D)
        return False


def query(module, names):
    # rc 1 only says that some name is unknown to dpkg: those are not installed.
    rc, out, err = module.run_command(query_argv(names), environ_update={"LC_ALL": "C"})
    if rc not in (0, 1):
        module.fail_json(msg="dpkg-query failed (rc %d): %s" % (rc, err.strip()))
    return out


def write_note(module, path, names):
    """Append `names` to the note at `path` (made when missing)."""
    text = ""
    if os.path.exists(path):
        with open(path) as handle:
            text = handle.read()
    wanted = noted_text(text, names)
    if wanted == text:
        return
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory)
        os.chmod(directory, 0o755)
    # 0644 whatever the umask or an earlier mode: the uninstall purges, as root, what it lists.
    replace_file(module, path, wanted.encode(), mode=0o644)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="list", elements="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            purge=dict(type="bool", default=False),
            install_recommends=dict(type="bool", default=False),
            policy_rc_d=dict(type="int"),
            cache_valid_time=dict(type="int", default=86400),
            note=dict(type="path"),
            note_dependencies=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    names = params["name"]
    bad = invalid_names(names)
    if bad:
        module.fail_json(msg="Not a Debian package name: %s. Nothing was changed." % ", ".join(repr(name) for name in bad))
    if not names:
        module.exit_json(changed=False, changed_packages=[], cache_updated=False,
                         **(dict(noted=[]) if params["note"] and params["state"] == "present" else {}))

    changing = to_change(names, package_states(query(module, names)), params["state"], params["purge"])
    noting = params["note"] and params["state"] == "present"

    result = dict(changed=bool(changing), changed_packages=changing, cache_updated=False)
    if noting:
        result["noted"] = changing
    if module._diff:
        verb = "installed" if params["state"] == "present" else ("purged" if params["purge"] else "removed")
        result["diff"] = dict(before="", after="".join("%s %s\n" % (name, verb) for name in changing))
    if not changing or module.check_mode:
        module.exit_json(**result)

    if params["state"] == "present":
        lists = os.listdir(LISTS_DIR) if os.path.isdir(LISTS_DIR) else []
        lists_mtime = os.stat(LISTS_DIR).st_mtime if lists else 0
        if lists_stale(lists_mtime, lists, source_mtimes(), time.time(), params["cache_valid_time"]):
            run_apt_get(module, ["apt-get", "update", "-q"], "apt-get update")
            result["cache_updated"] = True
        argv, what = install_argv(changing, params["install_recommends"]), "apt-get install"
    else:
        argv, what = remove_argv(changing, params["purge"]), "apt-get " + ("purge" if params["purge"] else "remove")
    before = query(module, []) if noting and params["note_dependencies"] else None
    with PolicyRcD(params["policy_rc_d"]):
        run_apt_get(module, argv, what)
    if noting:
        if before is not None:
            result["noted"] = added_packages(before, query(module, []))
        write_note(module, params["note"], result["noted"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
