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
  - The file is written under a temporary name in the same directory, in a loop
    until every byte is written, checked on disk (size and checksum), synced, and
    only then renamed over the old one, and the directory is synced; any failure
    (disk full, read-only file system, permission) fails the task with the old
    file intact.
  - A symbolic link at O(path) is refused, never followed; owner and mode are set
    on the open file, never through the path.
  - A file that does not exist yet is created with C(link()), which never
    replaces; of two runs that create it at once, one wins and the other takes
    the winner's content, so the hosts never end with two different keys.
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
  backup:
    description:
      - When the content of an existing file is replaced, keep the previous file
        beside it under a name with a timestamp (a hard link, so same bytes, owner
        and mode).
    type: bool
    default: false
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

- name: Write the same bytes on every host, keeping the previous key beside it
  aiinfra.slurm.secret_file:
    path: /etc/munge/munge.key
    content: "{{ munge_key.content }}"
    owner: munge
    group: munge
    mode: "0400"
    backup: true
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
backup_file:
  description: Path of the previous file, kept because O(backup) was set.
  returned: when the content was replaced with O(backup=true)
  type: str
  sample: /etc/munge/munge.key.2026-12-02@02:10:00~
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiinfra.slurm.plugins.module_utils.key_files import (
    SecretFileError,
    run,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            content=dict(type="str", no_log=True),
            size=dict(type="int", default=1024),
            owner=dict(type="str", required=True),
            group=dict(type="str", required=True),
            mode=dict(type="str", default="0400"),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode, module._diff)
    except SecretFileError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
