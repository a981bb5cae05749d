# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Debian packages through apt-get and dpkg-query: names, states, and the argv lists.

No python3-apt: a pure host lacks it, and installing it costs every host a dpkg run
(and, under Mitogen, the apt module cannot start again once it has installed it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters,
# starting with a letter or digit. An optional :arch. Nothing that apt-get would read
# as an option or a version or release pin.
PACKAGE_NAME = re.compile(r"\A[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?\Z")

# The query's format: one line per known package.
QUERY_FORMAT = "${Package}\t${db:Status-Abbrev}\n"

# dpkg's status letters (second column of Status-Abbrev) of an installed package:
# installed, triggers awaited, triggers pending.
INSTALLED_STATUS = "iWt"

# Answers to configuration file prompts, as the apt module gives them.
APT_GET_OPTIONS = ["-y", "-q", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
                   "-o", "DPkg::Lock::Timeout=120"]


def invalid_names(names):
    return [name for name in names if not PACKAGE_NAME.match(name)]


def query_argv(names):
    return ["dpkg-query", "-W", "-f=" + QUERY_FORMAT, "--"] + [name.split(":")[0] for name in names]


def package_states(stdout):
    """{package: status letters} from dpkg-query's output; unknown packages are absent."""
    states = {}
    for line in stdout.splitlines():
        fields = line.split("\t", 1)
        if fields[0]:
            states[fields[0]] = fields[1].strip() if len(fields) > 1 else ""
    return states


def is_installed(status):
    return len(status) >= 2 and status[1] in INSTALLED_STATUS


def has_files(status):
    """Installed, or removed with its configuration files left (what a purge still removes)."""
    return len(status) >= 2 and status[1] != "n"


def is_unpacked(status):
    """More than configuration files on disk, also half-installed (what a remove removes)."""
    return len(status) >= 2 and status[1] not in "nc"


def to_change(names, states, state, purge):
    """The packages the task must install (state present) or remove (absent), in the given order."""
    if state == "present":
        return [name for name in names if not is_installed(states.get(name.split(":")[0], ""))]
    wanted_gone = has_files if purge else is_unpacked
    return [name for name in names if wanted_gone(states.get(name.split(":")[0], ""))]


def installed_names(states):
    return set(name for name, status in states.items() if is_installed(status))


def added_packages(before, after):
    """The packages installed in `after` and not in `before` (dpkg-query outputs of all packages), sorted."""
    return sorted(installed_names(package_states(after)) - installed_names(package_states(before)))


def noted_text(text, names):
    """A note's text with `names` added: the names it had, then the new ones, one a line, each once."""
    listed = []
    for name in [line.strip() for line in text.splitlines()] + list(names):
        if name and name not in listed:
            listed.append(name)
    return "".join(name + "\n" for name in listed)


def install_argv(names, install_recommends):
    recommends = "--install-recommends" if install_recommends else "--no-install-recommends"
    return ["apt-get"] + APT_GET_OPTIONS + [recommends, "install", "--"] + names


def remove_argv(names, purge):
    return ["apt-get"] + APT_GET_OPTIONS + ["purge" if purge else "remove", "--"] + names


def lists_stale(lists_mtime, list_names, sources_mtimes, now, cache_valid_time):
    """Whether apt-get update must run before an install.

    lists_mtime: of /var/lib/apt/lists (apt-get update renames new lists into it; the lists'
    own times are the server's). Stale when no Packages list is there, a source file or
    directory changed since, or it is older than cache_valid_time seconds.
    """
    if not any("_Packages" in name for name in list_names):
        return True
    if any(mtime > lists_mtime for mtime in sources_mtimes):
        return True
    return now - lists_mtime > cache_valid_time
