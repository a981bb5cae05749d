#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: config_files
short_description: Write a host's configuration files and text blocks in one call
version_added: 0.2.0
description:
  - Compares text files (C(slurm.conf), C(nodes.conf)) and marked blocks inside files
    (C(/etc/hosts)) with the content wanted, and writes those that differ, with their owner,
    group and mode, in one round trip; reports which paths changed. With O(only_existing), hosts
    that never got a file keep it absent, so that the same call updates a cluster's other
    hosts without installing anything there.
  - Every path is read and checked before the first write, so bad input changes nothing. Each
    file is replaced atomically (written beside it, then renamed).
  - A text block sits between two marker lines and is written byte for byte as
    M(ansible.builtin.blockinfile) with C(insertbefore=BOF) writes it, so files that module
    wrote are not rewritten.
  - For configuration, not secrets, whose content shows in the task's arguments at C(-vvv) and
    in C(--diff); write keys with M(aiinfra.slurm.secret_file), and keep passwords out of these
    files.
author:
  - aiinfra.slurm developers (@aiinfra)
options:
  files:
    description: Whole files and their wanted content.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file; its directory must exist.
        type: path
        required: true
      content:
        description: The whole content, as text.
        type: str
        required: true
      owner:
        description: Owner (user name); unchanged when omitted.
        type: str
      group:
        description: Group (group name); unchanged when omitted.
        type: str
      mode:
        description: Mode, octal, such as C("0644"); unchanged when omitted (a new file gets C("0644"), whatever the umask).
        type: str
      backup:
        description: Keep a copy of the file it replaces, beside it, named as M(ansible.builtin.copy) names it.
        type: bool
        default: false
  text_blocks:
    description: Blocks of text kept between two marker lines in an existing file.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file, which must exist.
        type: path
        required: true
      block:
        description: The lines between the markers; an empty block removes the markers too.
        type: str
        required: true
      marker:
        description:
          - The marker line, with C({mark}) where C(BEGIN) and C(END) go. Without both markers in
            the file, the block goes on top of it.
        type: str
        required: true
      mode:
        description: Mode of the file, octal; unchanged when omitted.
        type: str
  only_existing:
    description: Leave files that do not exist absent, instead of creating them (or failing, for text blocks).
    type: bool
    default: false
  restart:
    description:
      - Services to restart, in the order given, once every file is written, when one of the paths
        in O(restart.when_changed) changed; so that a host outside a play takes a new configuration
        in the same round trip. With systemd through C(systemctl), with OpenRC through
        C(rc-service), otherwise through C(service). A service that does not run is started.
    type: dict
    suboptions:
      services:
        description: The services.
        type: list
        elements: str
        required: true
      when_changed:
        description: The paths (of O(files) or O(text_blocks)) whose change needs the restart.
        type: list
        elements: path
        required: true
extends_documentation_fragment:
  - aiinfra.slurm.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - The roles of this collection write a host's Slurm configuration with it, and update each
    cluster host outside a limited run (C(--limit), C(add_nodes)) with one call.
  - A whole file replaces a symbolic link at its path, as M(ansible.builtin.copy) does; a text
    block is written into the file a link points to, as M(ansible.builtin.blockinfile) does.
  - In check mode a file whose directory does not exist yet is reported as one to create (a
    package the same run would install may bring the directory).
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.blockinfile
"""

EXAMPLES = r"""
- name: Write slurm.conf and nodes.conf, and the cluster's hosts into /etc/hosts
  aiinfra.slurm.config_files:
    files:
      - {path: /etc/slurm/slurm.conf, content: "{{ slurm_conf }}", owner: root, group: root, mode: "0644", backup: true}
      - {path: /etc/slurm/nodes.conf, content: "{{ nodes_conf }}", owner: root, group: root, mode: "0644"}
    text_blocks:
      - {path: /etc/hosts, block: "10.0.0.10 ctl\n10.0.0.11 cn001", marker: "# {mark} cluster hosts"}
  register: written

- name: Restart slurmd when nodes.conf changed
  ansible.builtin.service:
    name: slurmd
    state: restarted
  when: "'/etc/slurm/nodes.conf' in written.changed_paths"

- name: Update only the hosts that already have nodes.conf, and restart slurmd where it changed
  aiinfra.slurm.config_files:
    files:
      - {path: /etc/slurm/nodes.conf, content: "{{ nodes_conf }}", owner: root, group: root, mode: "0644"}
    only_existing: true
    restart:
      services: [slurmd]
      when_changed: [/etc/slurm/nodes.conf]
  delegate_to: "{{ item }}"
  loop: "{{ groups['slurm_compute'] }}"
"""

RETURN = r"""
changed_paths:
  description: The paths whose content, owner, group or mode changed (would change, in check mode), in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/slurm/nodes.conf]
restarted:
  description: The services restarted (would be restarted, in check mode).
  returned: always
  type: list
  elements: str
  sample: [slurmd]
backup_files:
  description: The copy kept of each file replaced with O(files[].backup).
  returned: when a file with backup was replaced
  type: dict
  sample: {/etc/slurm/nodes.conf: /etc/slurm/nodes.conf.4242.2026-12-03@17:50:01~}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.aiinfra.slurm.plugins.module_utils.config_files import (
    ConfigFilesError,
    plan,
)
from ansible_collections.aiinfra.slurm.plugins.module_utils.file_replace import replace_file
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_host import os_facts


def _write(module, entry):
    """Replace one file atomically; returns the backup's name or None."""
    path = entry["target"]
    backup = module.backup_local(path) if entry["backup"] and entry["current"] is not None else None
    replace_file(module, path, entry["wanted"])
    return backup


def _restart(module, services, changed_paths):
    service_mgr = os_facts(module)["service_mgr"]
    for name in services:
        if service_mgr == "systemd":
            argv = ["systemctl", "restart", name]
        elif service_mgr == "openrc":
            argv = ["rc-service", name, "restart"]
        else:
            argv = ["service", name, "restart"]
        rc, out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg="%s failed (rc %d): %s; the files are written: %s" % (
                " ".join(argv), rc, (err or out).strip(), ", ".join(changed_paths)),
                changed=True, changed_paths=changed_paths)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                content=dict(type="str", required=True),
                owner=dict(type="str"),
                group=dict(type="str"),
                mode=dict(type="str"),
                backup=dict(type="bool", default=False),
            )),
            text_blocks=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                block=dict(type="str", required=True),
                marker=dict(type="str", required=True),
                mode=dict(type="str"),
            )),
            only_existing=dict(type="bool", default=False),
            restart=dict(type="dict", options=dict(
                services=dict(type="list", elements="str", required=True),
                when_changed=dict(type="list", elements="path", required=True),
            )),
        ),
        supports_check_mode=True,
    )
    try:
        entries = plan(module.params["files"], module.params["text_blocks"], module.params["only_existing"],
                       module.check_mode)
    except ConfigFilesError as error:
        module.fail_json(msg=str(error), changed=False, changed_paths=[])

    changed_paths, backups, diffs = [], {}, []
    for entry in entries:
        path = entry["path"]
        content_changed = entry["current"] != entry["wanted"]
        if content_changed and module._diff:
            diffs.append(dict(before_header=path, after_header=path,
                              before=to_text(entry["current"] or b""), after=to_text(entry["wanted"])))
        try:
            if content_changed and not module.check_mode:
                backup = _write(module, entry)
                if backup:
                    backups[path] = backup
            attributes = dict(path=entry["target"], owner=entry["owner"], group=entry["group"], mode=entry["mode"],
                              secontext=None, attributes=None)
            attribute_diff = dict(before_header="%s (attributes)" % path, after_header="%s (attributes)" % path,
                                  before={}, after={})
            if entry["current"] is None and module.check_mode:
                # Nothing to compare attributes with: the file would be new.
                attributes_changed = False
            else:
                attributes_changed = module.set_fs_attributes_if_different(attributes, False, attribute_diff)
        except (OSError, IOError) as exc:
            module.fail_json(msg="cannot write %s: %s; written before it: %s" % (
                path, to_text(exc), ", ".join(changed_paths) or "nothing"),
                changed=bool(changed_paths), changed_paths=changed_paths)
        if attributes_changed and module._diff:
            diffs.append(attribute_diff)
        if content_changed or attributes_changed:
            changed_paths.append(path)

    restart = module.params["restart"]
    restarted = []
    if restart and set(restart["when_changed"]) & set(changed_paths):
        restarted = restart["services"]
        if not module.check_mode:
            _restart(module, restarted, changed_paths)

    result = dict(changed=bool(changed_paths), changed_paths=changed_paths, restarted=restarted)
    if backups:
        result["backup_files"] = backups
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
