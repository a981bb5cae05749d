# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Replace a file atomically from inside a module: readers see the old file or the new one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

NEW_FILE_MODE = 0o644


def replace_file(module, path, data, mode=None):
    """Write bytes `data` to `path` through a private temporary file beside it, then rename.

    An existing file keeps its owner, group and mode (AnsibleModule.atomic_move copies them).
    A new file gets NEW_FILE_MODE, or `mode` when given; `mode` also applies to an existing file.
    atomic_move alone would give a new file 0666 less the umask of the module's process; here a
    new file is never more open than 0600 before its mode is set.
    """
    handle, staged = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=os.path.dirname(path) or ".")
    creating = not os.path.exists(path)
    # atomic_move sets a new file to 0666 less the umask after the rename: under umask 077 that
    # is 0600, never looser than the mode set right after.
    old_umask = os.umask(0o077) if creating else None
    try:
        with os.fdopen(handle, "wb") as staged_file:
            staged_file.write(data)
        module.atomic_move(staged, path)
    finally:
        if old_umask is not None:
            os.umask(old_umask)
        if os.path.exists(staged):
            os.unlink(staged)
    if mode is not None or creating:
        os.chmod(path, NEW_FILE_MODE if mode is None else mode)
