# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A system user and its group with fixed ids: what differs, and the commands that make it.

The host is read once, in account_entries(); everything decided from its entries is a pure
function, testable without root.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import grp
import pwd

Passwd = collections.namedtuple("Passwd", "name uid gid home shell")
Group = collections.namedtuple("Group", "name gid")


def _entry_lines(lookups, fields):
    """Each distinct entry found by (lookup, key), as getent prints it, without any password field."""
    lines = []
    for lookup, key in lookups:
        try:
            entry = lookup(key)
        except (KeyError, OverflowError, TypeError):
            continue
        line = ":".join(fields(entry))
        if line not in lines:
            lines.append(line)
    return lines


def account_entries(name, uid, gid):
    """The passwd entries of user `name` and of `uid`, and the group entries of group `name` and of `gid`
    ({passwd: [...], group: [...]}), as `getent passwd NAME UID` and `getent group NAME GID` print them."""
    return {
        "passwd": _entry_lines(((pwd.getpwnam, name), (pwd.getpwuid, uid)), lambda entry: [
            entry.pw_name, "x", str(entry.pw_uid), str(entry.pw_gid), entry.pw_gecos, entry.pw_dir, entry.pw_shell]),
        "group": _entry_lines(((grp.getgrnam, name), (grp.getgrgid, gid)), lambda entry: [
            entry.gr_name, "x", str(entry.gr_gid), ",".join(entry.gr_mem)]),
    }


def from_entries(entries):
    """(users, groups) from getent-style lines, as account_entries() returns them."""
    users = [Passwd(f[0], int(f[2]), int(f[3]), f[5], f[6]) for f in (line.split(":") for line in entries["passwd"])]
    groups = [Group(f[0], int(f[2])) for f in (line.split(":") for line in entries["group"])]
    return users, groups


def id_problems(wanted, users, groups):
    """What stops the wanted ids: the name has other ids, or the ids belong to another name."""
    problems = []
    for user in users:
        if user.name == wanted["name"] and user.uid != wanted["uid"]:
            problems.append("user %s has uid %d" % (user.name, user.uid))
        if user.name != wanted["name"] and user.uid == wanted["uid"]:
            problems.append("uid %d belongs to user %s" % (user.uid, user.name))
    for group in groups:
        if group.name == wanted["name"] and group.gid != wanted["gid"]:
            problems.append("group %s has gid %d" % (group.name, group.gid))
        if group.name != wanted["name"] and group.gid == wanted["gid"]:
            problems.append("gid %d belongs to group %s" % (group.gid, group.name))
    return problems


def commands(wanted, user, group, tools):
    """The argv lists that make the host match wanted, in order (empty when it does).

    user and group: the host's entries of that name, or None. tools: "shadow" (groupadd,
    useradd, usermod) or "busybox" (addgroup, adduser: Alpine without the shadow package).
    """
    name = wanted["name"]
    argvs = []
    if group is None:
        if tools == "shadow":
            argvs.append(["groupadd", "--system", "--gid", str(wanted["gid"]), name])
        else:
            argvs.append(["addgroup", "-S", "-g", str(wanted["gid"]), name])
    if user is None:
        if tools == "shadow":
            argvs.append(["useradd", "--system", "--uid", str(wanted["uid"]), "--gid", name,
                          "--home-dir", wanted["home"], "--no-create-home", "--shell", wanted["shell"], name])
        else:
            # -D: no password, -H: no home directory made.
            argvs.append(["adduser", "-S", "-D", "-H", "-u", str(wanted["uid"]), "-G", name,
                          "-h", wanted["home"], "-s", wanted["shell"], name])
        return argvs
    changes = []
    if user.gid != wanted["gid"]:
        changes += ["--gid", name]
    if user.home != wanted["home"]:
        changes += ["--home", wanted["home"]]
    if user.shell != wanted["shell"]:
        changes += ["--shell", wanted["shell"]]
    if changes:
        argvs.append(["usermod"] + changes + [name])
    return argvs


def entry_dict(user):
    return dict(user._asdict()) if user is not None else {}
