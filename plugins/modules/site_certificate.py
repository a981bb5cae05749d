#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: site_certificate
short_description: A site CA made once on the host, and a server certificate it signs, kept current in one call
version_added: 0.3.0
description:
  - Makes, in one round trip, what a TLS endpoint signed by its own site CA needs, with
    C(openssl) run through argument lists; the keys never leave the host and are never returned.
  - The directory O(directory) (root, mode 0700) and the openssl settings O(config) in it
    (C(openssl.cnf), mode 0600) are written when they differ.
  - The CA's key and certificate and the server key are made once, when missing. A missing CA key
    makes a new CA certificate too. Keys are made under umask 077, so they never exist with a
    looser mode; keys are root's with mode 0600, certificates 0644.
  - What a call makes is made under temporary names beside the files and renamed into place only
    when all of it (the signed certificate included) is made, so a failed call leaves the files as
    they were, never a key without its certificate.
  - A site CA that has expired stops the call with a message that says how to make a new one.
  - The server certificate is signed again when it is missing or unreadable, ends within
    O(valid_for) seconds, does not carry exactly O(names), is not signed by the CA or not for the
    server key on the host, or when this call made a new CA or a new server key. Otherwise it is kept.
  - Names and end are judged as M(aiinfra.slurm.slurm_host_facts) does with its C(certificates)
    option, so a role's probe and this module agree on when to sign.
author:
  - aiinfra.slurm developers (@aiinfra)
options:
  directory:
    description: Directory of the keys, the certificates and C(openssl.cnf); made when missing.
    type: path
    required: true
  config:
    description:
      - The content of C(openssl.cnf), written byte-exact.
      - It must define the extension sections C(v3_ca) (the CA certificate) and C(v3_server) (the
        server certificate, with its C(subjectAltName)), and a C(req) section that needs no prompt.
    type: str
    required: true
  ca_key:
    description: Path of the CA's private key. This and the other paths must be absolute.
    type: path
    required: true
  ca_certificate:
    description: Path of the CA's certificate, which clients trust.
    type: path
    required: true
  ca_name:
    description: Common name of the CA, at most 64 characters, without a slash, a backslash or a line break.
    type: str
    required: true
  ca_days:
    description: Days the CA certificate is valid for, from the run that makes it.
    type: int
    default: 3650
  key:
    description: Path of the server's private key.
    type: path
    required: true
  certificate:
    description: Path of the server certificate.
    type: path
    required: true
  days:
    description: Days a newly signed server certificate is valid for.
    type: int
    required: true
  names:
    description:
      - The subject alternative names the certificate must carry, as openssl prints them
        (V(DNS:name), V(IP:address)); the order does not matter.
    type: list
    elements: str
    required: true
  valid_for:
    description: Seconds the certificate must still be valid for; one that ends sooner is signed again.
    type: int
    required: true
extends_documentation_fragment:
  - aiinfra.slurm.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows C(openssl.cnf) and the files that would be made or signed, never a key.
notes:
  - Needs C(openssl) 3.0 or later on the host (C(openssl req -x509 -CA)).
seealso:
  - module: aiinfra.slurm.slurm_host_facts
"""

EXAMPLES = r"""
- name: Keep a site CA and the proxy's certificate for this host's names
  aiinfra.slurm.site_certificate:
    directory: /etc/aiinfra-slurmrestd-tls
    config: "{{ lookup('ansible.builtin.template', 'openssl.cnf.j2') }}"
    ca_key: /etc/aiinfra-slurmrestd-tls/ca.key
    ca_certificate: /etc/aiinfra-slurmrestd-tls/ca.crt
    ca_name: aiinfra.slurm site CA on {{ inventory_hostname }}
    key: /etc/aiinfra-slurmrestd-tls/server.key
    certificate: /etc/aiinfra-slurmrestd-tls/server.crt
    days: 365
    names: ["DNS:{{ inventory_hostname }}", "IP:{{ ansible_host }}"]
    valid_for: 2592000
  notify: Reload nginx
"""

RETURN = r"""
made:
  description: The files made (or that would be made, in check mode) by this call, by option name, in order.
  returned: success
  type: list
  elements: str
  sample: [ca_key, ca_certificate, key, certificate]
signed:
  description: Whether the server certificate was (or would be) signed.
  returned: success
  type: bool
  sample: true
reasons:
  description: Why the certificate was signed; empty when it was kept.
  returned: success
  type: list
  elements: str
  sample: ["certificate /etc/aiinfra-slurmrestd-tls/server.crt ends within 30 days"]
"""

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.aiinfra.slurm.plugins.module_utils.file_replace import replace_file
from ansible_collections.aiinfra.slurm.plugins.module_utils.site_certificate import (
    ca_argv,
    key_argv,
    sign_argv,
    steps,
)
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_host import certificate_drift, read_certificate

KEYS = ("ca_key", "key")


def invalid(params):
    """Problems of the input, before anything is touched."""
    problems = []
    name = params["ca_name"]
    if not name or len(name) > 64 or any(char in name for char in "/\\\r\n\0"):
        problems.append("ca_name must be 1-64 characters without /, \\ or line breaks, got %r" % name[:80])
    for option in ("ca_days", "days", "valid_for"):
        if params[option] < 1:
            problems.append("%s must be 1 or more, got %d" % (option, params[option]))
    if not params["names"] or any(not re.match(r"(DNS|IP):[^\s,]+\Z", name) for name in params["names"]):
        problems.append("names must be DNS:name or IP:address entries, got %s" % params["names"])
    paths = [params[option] for option in ("directory", "ca_key", "ca_certificate", "key", "certificate")]
    if any(not os.path.isabs(path) for path in paths):
        problems.append("directory, ca_key, ca_certificate, key and certificate must be absolute paths")
    if len(set(paths[1:])) != len(paths[1:]):
        problems.append("ca_key, ca_certificate, key and certificate must be four different files")
    return problems


def run(module, argv, umask):
    rc, _out, err = module.run_command(argv, umask=umask)
    if rc != 0:
        # openssl's own message: it names a file or a setting, never a key's content.
        module.fail_json(msg="%s %s failed (rc %d): %s" % (os.path.basename(argv[0]), argv[1], rc, err.strip()[-2000:]))


def pairing_problems(module, openssl, params):
    """Why a certificate with good names and end does not belong with the CA and key on the host
    (a run that made a new key or CA and failed before signing leaves such a pair)."""
    certificate = params["certificate"]
    problems = []
    # Only the site CA is trusted here, not the system's store.
    rc, _out, _err = module.run_command([openssl, "verify", "-no-CApath", "-no-CAstore", "-CAfile",
                                         params["ca_certificate"], certificate])
    if rc != 0:
        problems.append("certificate %s is not signed by the site CA %s" % (certificate, params["ca_certificate"]))
    rc_certificate, certificate_public, _err = module.run_command([openssl, "x509", "-in", certificate, "-noout",
                                                                   "-pubkey"])
    # Only the public half is read from the key; neither is returned.
    rc_key, key_public, _err = module.run_command([openssl, "pkey", "-in", params["key"], "-pubout"])
    if rc_certificate or rc_key or certificate_public != key_public:
        problems.append("certificate %s is not for the key %s" % (certificate, params["key"]))
    return problems


def make(module, openssl, params, todo, config_path):
    """Make the files of `todo` under temporary names, then rename them all into place."""
    staged = {}

    def current(name):
        return staged.get(name, params[name])

    try:
        for name in todo:
            # mkstemp: a new, private (0600) name beside the file, which openssl then writes into.
            handle, staged[name] = tempfile.mkstemp(prefix="." + os.path.basename(params[name]) + ".",
                                                    dir=os.path.dirname(params[name]))
            os.close(handle)
            if name in KEYS:
                run(module, key_argv(openssl, staged[name]), 0o077)
            elif name == "ca_certificate":
                run(module, ca_argv(openssl, dict(params, ca_key=current("ca_key"), ca_certificate=staged[name]),
                                    config_path), 0o077)
            else:
                run(module, sign_argv(openssl, dict(params, ca_key=current("ca_key"), key=current("key"),
                                                    ca_certificate=current("ca_certificate"),
                                                    certificate=staged[name]), config_path), 0o077)
        for name in todo:
            os.chmod(staged[name], 0o600 if name in KEYS else 0o644)
            os.rename(staged.pop(name), params[name])
    finally:
        for leftover in staged.values():
            if os.path.exists(leftover):
                os.unlink(leftover)


def set_attributes(module, path, mode):
    return module.set_fs_attributes_if_different(
        dict(path=path, owner="root", group="root", mode=mode, secontext=None, attributes=None), False)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directory=dict(type="path", required=True),
            config=dict(type="str", required=True),
            ca_key=dict(type="path", required=True, no_log=False),
            ca_certificate=dict(type="path", required=True),
            ca_name=dict(type="str", required=True),
            ca_days=dict(type="int", default=3650),
            key=dict(type="path", required=True, no_log=False),
            certificate=dict(type="path", required=True),
            days=dict(type="int", required=True),
            names=dict(type="list", elements="str", required=True),
            valid_for=dict(type="int", required=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    problems = invalid(params)
    if problems:
        module.fail_json(msg="site_certificate: " + "; ".join(problems))
    # In check mode on a host that gets openssl in the same run, the plan is made without it.
    openssl = module.get_bin_path("openssl", required=not module.check_mode)
    directory = params["directory"]
    config_path = os.path.join(directory, "openssl.cnf")
    wanted_config = to_bytes(params["config"])
    current_config = None
    if os.path.exists(config_path):
        with open(config_path, "rb") as handle:
            current_config = handle.read()

    missing = [option for option in ("ca_key", "ca_certificate", "key", "certificate")
               if not os.path.exists(params[option])]
    spec = dict(path=params["certificate"], valid_for=params["valid_for"], names=params["names"])
    found = read_certificate(module, spec)
    reasons = certificate_drift(spec, found)
    if "ca_key" not in missing and "ca_certificate" not in missing and openssl:
        ca_found = read_certificate(module, dict(path=params["ca_certificate"], valid_for=1))
        if ca_found["current"] is False:
            module.fail_json(msg="the site CA %s has expired: a certificate it signs is not trusted. Remove %s and "
                                 "%s to make a new CA (clients then need the new CA certificate)" % (
                                     params["ca_certificate"], params["ca_certificate"], params["ca_key"]))
    if not missing and not reasons and openssl:
        reasons = pairing_problems(module, openssl, params)
    todo, reasons = steps(missing, reasons)

    diff = dict(before_header=config_path, after_header=config_path,
                before=to_text(current_config or b""), after=to_text(wanted_config)) if module._diff else None
    if module._diff and todo:
        diff["after"] += "".join("# %s: %s\n" % ("signed" if name == "certificate" else "made", params[name])
                                 for name in todo)
    changed = bool(todo) or current_config != wanted_config or not os.path.isdir(directory)
    if not module.check_mode:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        if current_config != wanted_config:
            replace_file(module, config_path, wanted_config, mode=0o600)
        make(module, openssl, params, todo, config_path)
    # In check mode the attributes of what exists are judged, nothing is set.
    for path, mode in [(directory, "0700"), (config_path, "0600")] + [
            (params[name], "0600" if name in KEYS else "0644") for name in ("ca_key", "key", "ca_certificate", "certificate")]:
        if os.path.exists(path):
            changed = set_attributes(module, path, mode) or changed

    result = dict(changed=changed, made=todo, signed="certificate" in todo, reasons=reasons)
    if diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
