#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: secret_file
short_description: Write or generate a binary secret file (munge key, JWT key) byte-exact
version_added: 0.1.0
description:
  - Writes a key file from base64 content, or generates random bytes once when the
    file does not exist, with strict owner, group and mode.
  - The content is handled as bytes from end to end, never as text, so binary keys
    such as C(munge.key) are not mangled on the way. It is never printed or returned;
    only its SHA-256 checksum is.
  - An existing file is rewritten only when its bytes differ from O(content).
    With O(content) unset, an existing file is kept as it is, so a generated key is
    generated once and never again.
author:
  - aiinfra.slurm developers (@aiinfra)
options:
  path:
    description: Path of the secret file.
    type: path
    required: true
  content:
    description:
      - The secret, base64-encoded (for example from C(ansible.builtin.slurp) or a
        vaulted variable).
      - When unset, random bytes are generated if O(path) does not exist yet.
    type: str
  size:
    description: Number of random bytes to generate when O(content) is unset.
    type: int
    default: 1024
  owner:
    description: Owner of the file.
    type: str
    required: true
  group:
    description: Group of the file.
    type: str
    required: true
  mode:
    description: Mode of the file, in octal.
    type: str
    default: "0400"
extends_documentation_fragment:
  - aiinfra.slurm.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows checksums, owner, group and mode, never the content.
"""

EXAMPLES = r"""
- name: Generate the cluster's munge key once on the controller
  aiinfra.slurm.secret_file:
    path: /etc/munge/munge.key
    owner: munge
    group: munge
    mode: "0400"

- name: Read it
  ansible.builtin.slurp:
    src: /etc/munge/munge.key
  register: munge_key
  no_log: true

- name: Write the same bytes on every host
  aiinfra.slurm.secret_file:
    path: /etc/munge/munge.key
    content: "{{ munge_key.content }}"
    owner: munge
    group: munge
    mode: "0400"
"""

RETURN = r"""
sha256:
  description: SHA-256 checksum of the file's content after the task (of the planned content in check mode).
  returned: success
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
generated:
  description: Whether random content was generated.
  returned: success
  type: bool
  sample: false
"""

import base64
import binascii
import grp
import hashlib
import os
import pwd
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _write_atomically(path, data, uid, gid, mode):
    # Written to a private temporary file beside the target, then renamed, so a
    # reader never sees a partial key and the key never exists with a loose mode.
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".secret_file.")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        os.close(fd)
        fd = None
        os.rename(tmp, path)
    finally:
        if fd is not None:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            content=dict(type="str", no_log=True),
            size=dict(type="int", default=1024),
            owner=dict(type="str", required=True),
            group=dict(type="str", required=True),
            mode=dict(type="str", default="0400"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"]

    try:
        mode = int(params["mode"], 8)
    except ValueError:
        module.fail_json(msg="mode must be an octal number such as 0400, not %r" % params["mode"])
    if not 1 <= params["size"] <= 65536:
        module.fail_json(msg="size must be between 1 and 65536 bytes, not %d" % params["size"])
    try:
        uid = pwd.getpwnam(params["owner"]).pw_uid
    except KeyError:
        module.fail_json(msg="owner %r does not exist on this host" % params["owner"])
    try:
        gid = grp.getgrnam(params["group"]).gr_gid
    except KeyError:
        module.fail_json(msg="group %r does not exist on this host" % params["group"])
    if not os.path.isdir(os.path.dirname(path) or "."):
        module.fail_json(msg="the directory of %s does not exist" % path)

    current = _read(path)
    generated = False
    if params["content"] is not None:
        try:
            wanted = base64.b64decode(params["content"], validate=True)
        except (binascii.Error, ValueError):
            module.fail_json(msg="content is not valid base64 (the secret itself is not shown)")
        if not wanted:
            module.fail_json(msg="content decodes to zero bytes")
    elif current is None:
        wanted = os.urandom(params["size"])
        generated = True
    else:
        wanted = current

    content_changed = current != wanted
    stat = os.stat(path) if current is not None else None
    meta_changed = stat is not None and (
        stat.st_uid != uid or stat.st_gid != gid or (stat.st_mode & 0o7777) != mode
    )
    changed = content_changed or meta_changed

    if changed and not module.check_mode:
        if content_changed:
            _write_atomically(path, wanted, uid, gid, mode)
        else:
            os.chown(path, uid, gid)
            os.chmod(path, mode)

    def describe(exists, sha, owner, group, file_mode):
        if not exists:
            return "absent\n"
        return "sha256 %s owner %s group %s mode %04o\n" % (sha, owner, group, file_mode)

    result = dict(
        changed=changed,
        sha256=hashlib.sha256(wanted).hexdigest(),
        generated=generated,
    )
    if module._diff:
        # Checksums only: enough to see that a key changes, useless to steal it.
        result["diff"] = dict(
            before_header=path,
            after_header=path,
            before=describe(
                current is not None,
                hashlib.sha256(current).hexdigest() if current is not None else "",
                _name(pwd.getpwuid, stat.st_uid) if stat else "",
                _name(grp.getgrgid, stat.st_gid) if stat else "",
                (stat.st_mode & 0o7777) if stat else 0,
            ),
            after=describe(True, result["sha256"], params["owner"], params["group"], mode),
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
