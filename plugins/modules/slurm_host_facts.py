#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slurm_host_facts
short_description: Compare a Slurm host with the state wanted of it, in one call
version_added: 0.1.0
description:
  - Reads, in one round trip, what the roles of this collection need to decide whether a
    host already is as they would make it, and compares it with the wanted state given in
    the options - packages installed, files with their checksum, owner, group and mode,
    text blocks, services active and enabled, users, and optionally the node's resources
    (C(slurmd -C)), a local munge round trip, the compute nodes' states as slurmctld sees
    them, a slurmrestd ping with a freshly minted token, and certificates' end and names.
  - Returns C(drift), one human-readable reason per difference; an empty list means the
    host is as wanted. The roles converge a host only when its drift is not empty.
  - Changes nothing. Secrets are never read into the result, only their checksums; the
    contents of C(files) are never returned, only those of the text files named in C(read).
  - Also sets the facts C(distribution), C(distribution_major_version), C(os_family),
    C(pkg_mgr) and C(service_mgr), so plays need not gather facts.
author:
  - aiinfra.slurm developers (@aiinfra)
options:
  packages:
    description: Packages that must be installed.
    type: list
    elements: str
    default: []
  files:
    description:
      - Files that must exist (or not) as described. A directory is compared by its owner,
        group and mode.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file.
        type: path
        required: true
      state:
        description: C(absent) when the file must not exist.
        type: str
        choices: [present, absent]
        default: present
      sha1:
        description: SHA-1 checksum of the wanted content. Not compared when omitted.
        type: str
      content_b64:
        description:
          - The wanted content, base64-encoded, for secrets known to the play (a vaulted key);
            only its checksum is compared, it is never returned.
        type: str
      owner:
        description: Wanted owner (user name).
        type: str
      group:
        description: Wanted group (group name).
        type: str
      mode:
        description: Wanted mode, octal, such as C("0400").
        type: str
  text_blocks:
    description: Blocks of text that must be present, verbatim, in a file (such as C(/etc/hosts)).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file.
        type: path
        required: true
      block:
        description: The text.
        type: str
        required: true
      name:
        description: What the block is, for the drift reason.
        type: str
        default: block
  services:
    description:
      - Services that must be active and enabled.
      - Each is reported in RV(ansible_facts.slurm_host) under C(services) with C(active) and C(enabled)
        and, under systemd, under C(service_states) with the unit's C(ActiveState) (C(activating) while
        it starts).
    type: list
    elements: str
    default: []
  users:
    description: Users that must exist.
    type: list
    elements: str
    default: []
  detect_resources:
    description: Run C(slurmd -C) and report the node's resources.
    type: bool
    default: false
  read:
    description:
      - Text files to return whole in C(texts), such as the controller's C(slurm.conf), so that a
        play learns the running configuration in the same round trip. Never name a secret here.
    type: list
    elements: path
    default: []
  munge_roundtrip:
    description: Encode a munge credential and decode it again locally; a failure is drift.
    type: bool
    default: false
  node_states:
    description: Compute node names that must be up as slurmctld sees them (C(sinfo)).
    type: list
    elements: str
    default: []
  certificates:
    description:
      - X.509 certificates (PEM) that must exist, stay valid for O(certificates[].valid_for) more
        seconds and, when O(certificates[].names) is given, name exactly those subject alternative
        names. Read with C(openssl x509) on the host; one missing, unreadable, ending sooner or
        naming other hosts is drift. Returned in C(certificates).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The certificate.
        type: path
        required: true
      valid_for:
        description: Seconds the certificate must stay valid from now (C(openssl x509 -checkend)).
        type: int
        default: 2592000
      names:
        description:
          - The subject alternative names it must carry, as C(DNS:name) or C(IP:address), compared
            as a set; IP addresses match in any notation. Not compared when omitted.
        type: list
        elements: str
  rest_ping:
    description:
      - Ping slurmctld through the slurmrestd on this host with a token minted by C(scontrol token);
        an answer other than HTTP 200 is drift.
    type: dict
    suboptions:
      port:
        description: Port slurmrestd listens on (on 127.0.0.1).
        type: int
        default: 6820
      user:
        description: User the token is for.
        type: str
        default: root
      version:
        description: OpenAPI version; default the one the Slurm release on the host serves.
        type: str
extends_documentation_fragment:
  - aiinfra.slurm.attributes
  - aiinfra.slurm.attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
notes:
  - The roles use it to skip work on hosts that are already converged, which keeps
    re-runs fast, and print its drift when they do not skip.
"""

EXAMPLES = r"""
- name: Compare munge on the host with what it should be
  aiinfra.slurm.slurm_host_facts:
    packages: [munge]
    files:
      - {path: /etc/munge/munge.key, owner: munge, group: munge, mode: "0400"}
    services: [munge]
    munge_roundtrip: true
  register: probe

- name: Say why the host is not converged
  ansible.builtin.debug:
    msg: "{{ probe.drift }}"
  when: probe.drift | length > 0
"""

RETURN = r"""
drift:
  description: One reason per difference between the host and the wanted state; empty when there is none.
  returned: always
  type: list
  elements: str
  sample:
    - "package slurmd missing"
    - "file /etc/munge/munge.key: owner root, wanted munge"
    - "file /etc/slurm/slurm.conf: content differs"
    - "service munge stopped"
    - "node lab-node2 not up (down*)"
ansible_facts:
  description: Facts about the host.
  returned: always
  type: dict
  contains:
    slurm_host:
      description: What was inspected.
      type: dict
      sample:
        packages: {munge: "0.5.15-2+deb12u1", slurmd: null}
        files: {/etc/munge/munge.key: {sha1: "5d4f...", owner: munge, group: munge, mode: "0400"}}
        services: {munge: {active: true, enabled: true}}
        service_states: {munge: active}
        users: {slurmrestd: true}
        texts: {/etc/slurm/nodes.conf: "NodeName=lab-node1 CPUs=2 ...\n"}
        slurm_version: "22.05.8"
        resources: {CPUs: "2", RealMemory: "24105"}
        munge_roundtrip: true
        node_states: {lab-node1: idle}
        rest_ping: 200
        certificates: {/etc/aiinfra-slurmrestd-tls/server.crt: {exists: true, current: true,
                       names: ["DNS:lab-ctl", "IP:127.0.0.1"]}}
    os_family:
      description: OS family, as in Ansible's own facts (Debian, RedHat, Alpine).
      type: str
      sample: Debian
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_host import (
    SlurmError,
    inspect,
    os_facts,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type="list", elements="str", default=[]),
            files=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                state=dict(type="str", choices=["present", "absent"], default="present"),
                sha1=dict(type="str"),
                content_b64=dict(type="str", no_log=True),
                owner=dict(type="str"),
                group=dict(type="str"),
                mode=dict(type="str"),
            )),
            text_blocks=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                block=dict(type="str", required=True),
                name=dict(type="str", default="block"),
            )),
            services=dict(type="list", elements="str", default=[]),
            users=dict(type="list", elements="str", default=[]),
            detect_resources=dict(type="bool", default=False),
            read=dict(type="list", elements="path", default=[]),
            munge_roundtrip=dict(type="bool", default=False),
            node_states=dict(type="list", elements="str", default=[]),
            certificates=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                valid_for=dict(type="int", default=2592000),
                names=dict(type="list", elements="str"),
            )),
            rest_ping=dict(type="dict", options=dict(
                port=dict(type="int", default=6820),
                user=dict(type="str", default="root"),
                version=dict(type="str"),
            )),
        ),
        supports_check_mode=True,
    )
    facts = os_facts(module)
    try:
        facts["slurm_host"], drift = inspect(module, module.params, facts)
    except SlurmError as error:
        module.fail_json(msg=error.msg, **error.details)
    module.exit_json(changed=False, drift=drift, ansible_facts=facts)


if __name__ == "__main__":
    main()
