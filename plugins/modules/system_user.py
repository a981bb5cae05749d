#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: system_user
short_description: Make a system user and its group with fixed ids, or stop when the ids are taken
version_added: 0.3.0
description:
  - Makes the group O(name) with gid O(gid) and the system user O(name) with uid O(uid) in it,
    in one round trip, where M(ansible.builtin.group), M(ansible.builtin.user) and a check of the
    ids took three or more.
  - Every host of a cluster needs the same ids for the munge and Slurm users (as soon as a file
    system is shared), so the roles make them before the packages that would pick ids of their
    own.
  - Before anything is changed, the host's passwd and group databases are read. When the user or
    group exists with other ids, or the ids belong to another user or group, the task fails
    naming each problem, and nothing is changed. Renumbering a user under running daemons leaves
    files owned by the old id; that is for an operator to do by hand.
  - An existing user with the right ids gets the wanted primary group, home and shell.
  - Uses C(groupadd), C(useradd) and C(usermod) where they exist, and BusyBox C(addgroup) and
    C(adduser) otherwise (Alpine without the shadow package), never a shell.
author:
  - aiinfra.slurm developers (@aiinfra)
options:
  name:
    description: Name of the user and of its group.
    type: str
    required: true
  uid:
    description: The user's id.
    type: int
    required: true
  gid:
    description: The group's id.
    type: int
    required: true
  home:
    description: The user's home directory, which is not created.
    type: path
    required: true
  shell:
    description: The user's login shell, usually C(nologin).
    type: path
    required: true
  id_settings:
    description: Names of the settings the ids come from; a failure names them, so that the
      operator knows what to change.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - aiinfra.slurm.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - Reads the entries of the name and of the ids as C(getent) does, so users from
    a directory service count too.
  - BusyBox has no C(usermod); there, an existing user's group, home or shell is left as it is,
    with a warning.
seealso:
  - module: ansible.builtin.user
  - module: ansible.builtin.group
"""

EXAMPLES = r"""
- name: Make the munge user with the cluster's ids
  aiinfra.slurm.system_user:
    name: munge
    uid: 64231
    gid: 64231
    home: /nonexistent
    shell: /usr/sbin/nologin
    id_settings: [munge_user_uid, munge_user_gid]
"""

RETURN = r"""
user:
  description: The user's passwd entry after the task (as planned, in check mode).
  returned: success
  type: dict
  sample: {name: munge, uid: 64231, gid: 64231, home: /nonexistent, shell: /usr/sbin/nologin}
commands:
  description: The commands run (to be run, in check mode), as argument lists.
  returned: success
  type: list
  elements: list
  sample: [[groupadd, --system, --gid, "64231", munge]]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiinfra.slurm.plugins.module_utils.system_user import (
    Passwd,
    account_entries,
    commands,
    entry_dict,
    from_entries,
    id_problems,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            uid=dict(type="int", required=True),
            gid=dict(type="int", required=True),
            home=dict(type="path", required=True),
            shell=dict(type="path", required=True),
            id_settings=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    wanted = dict((key, module.params[key]) for key in ("name", "uid", "gid", "home", "shell"))
    if not wanted["name"] or ":" in wanted["name"] or any(c.isspace() for c in wanted["name"]):
        module.fail_json(msg="name %r is no valid user name. Nothing was changed." % wanted["name"])

    # The entries of the name and of the ids, as getent reads them (directory users too).
    users, groups = from_entries(account_entries(wanted["name"], wanted["uid"], wanted["gid"]))
    problems = id_problems(wanted, users, groups)
    if problems:
        settings = " (%s)" % ", ".join(module.params["id_settings"]) if module.params["id_settings"] else ""
        module.fail_json(msg=(
            "%s. The cluster wants %s with uid %d and gid %d on every host%s: set them to the ids this "
            "user has on every host, or renumber it here by hand (daemons stopped, usermod/groupmod, "
            "then chown its files). Nothing was changed."
            % ("; ".join(problems), wanted["name"], wanted["uid"], wanted["gid"], settings)))

    user = next((u for u in users if u.name == wanted["name"]), None)
    group = next((g for g in groups if g.name == wanted["name"]), None)
    tools = "shadow" if module.get_bin_path("useradd") else "busybox"
    argvs = commands(wanted, user, group, tools)
    if tools == "busybox" and argvs and argvs[-1][0] == "usermod":
        module.warn("BusyBox has no usermod: user %s keeps its group, home and shell (%s)."
                    % (wanted["name"], " ".join(argvs[-1][1:-1])))
        argvs = argvs[:-1]

    after = Passwd(wanted["name"], wanted["uid"], wanted["gid"], wanted["home"], wanted["shell"]) if argvs else user
    result = dict(changed=bool(argvs), commands=argvs, user=entry_dict(after))
    if module._diff:
        result["diff"] = dict(before=entry_dict(user), after=entry_dict(after))
    if module.check_mode:
        module.exit_json(**result)
    for argv in argvs:
        argv = [module.get_bin_path(argv[0], required=True)] + argv[1:]
        rc, out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg="%s failed (rc %d): %s" % (" ".join(argv), rc, (err or out).strip()),
                             commands=argvs)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
