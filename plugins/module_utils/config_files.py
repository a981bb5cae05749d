# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# What config_files writes: whole text files and marked blocks inside files,
# all of one host in one module run. Everything is read and planned before the
# first write, so bad input changes nothing.
# Runs on managed hosts: Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


class ConfigFilesError(Exception):
    """Bad input or a host that cannot take the files: nothing was written."""


def _read(path):
    """The file's bytes, None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ConfigFilesError("%s is a directory, not a file" % path)
    except OSError as exc:
        raise ConfigFilesError("cannot read %s: %s" % (path, exc.strerror or exc))


def with_block(original, block, marker):
    """original (bytes or None) with block between its markers, as blockinfile writes it.

    The block replaces whatever lies between the markers; without both markers
    it goes on top of the file. The result is byte for byte what
    ansible.builtin.blockinfile writes with insertbefore=BOF, so hosts it wrote
    before are not rewritten.
    """
    begin = marker.replace("{mark}", "BEGIN").encode() + b"\n"
    end = marker.replace("{mark}", "END").encode() + b"\n"
    body = block.encode()
    if body and not body.endswith(b"\n"):
        body += b"\n"
    lines = original.splitlines(True) if original else []
    first = last = None
    for index, line in enumerate(lines):
        if line == begin:
            first = index
        if line == end:
            last = index
    if first is None or last is None:
        at = 0
    else:
        at = min(first, last)
        del lines[at:max(first, last) + 1]
    if at > 0 and not lines[at - 1].endswith(b"\n"):
        lines[at - 1] += b"\n"
    lines[at:at] = [begin] + body.splitlines(True) + [end] if body else []
    return b"".join(lines)


def plan(files, text_blocks, only_existing, check_mode=False):
    """One entry per path to write: its current and wanted bytes and attributes.

    Raises ConfigFilesError, before anything is written, for a path named
    twice, a relative path, a marker without {mark}, a missing directory (not
    in check mode, where a package the run would install may bring it), or a
    text block's file that does not exist (unless only_existing, which leaves
    every missing file missing). A whole file replaces a symbolic link at its
    path, as ansible.builtin.copy does; a text block goes into the file the
    link points to, as ansible.builtin.blockinfile does (entry "target").
    """
    entries = []
    seen = set()
    for kind, spec in [("file", spec) for spec in files] + [("block", spec) for spec in text_blocks]:
        path = spec["path"]
        if not os.path.isabs(path):
            raise ConfigFilesError("path %s is not absolute" % path)
        target = os.path.realpath(path) if kind == "block" else path
        if path in seen or target in seen:
            raise ConfigFilesError("%s is named twice; give each path once" % path)
        seen.update([path, target])
        if kind == "block" and "{mark}" not in spec["marker"]:
            raise ConfigFilesError("the marker for %s must contain {mark}: %s" % (path, spec["marker"]))
        current = _read(target)
        if current is None:
            if only_existing:
                continue
            if kind == "block":
                raise ConfigFilesError("%s does not exist: a text block goes into an existing file" % path)
            if not check_mode and not os.path.isdir(os.path.dirname(path)):
                raise ConfigFilesError("the directory of %s does not exist" % path)
        if kind == "file":
            wanted = spec["content"].encode()
        else:
            wanted = with_block(current, spec["block"], spec["marker"])
        entries.append(dict(path=path, target=target, current=current, wanted=wanted, owner=spec.get("owner"),
                            group=spec.get("group"), mode=spec.get("mode"), backup=spec.get("backup", False)))
    return entries
