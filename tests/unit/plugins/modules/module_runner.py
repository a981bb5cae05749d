# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Runs a module's main() in the test process as Ansible would run it on a host,
# for the modules tested against a real directory (secret_file, config_files).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from unittest import mock

import pytest

from ansible.module_utils import basic


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super(ModuleExit, self).__init__(result.get("msg", ""))
        self.result, self.failed = result, failed


def run_module(module, args, check_mode=False, diff=False):
    """main() of module with args; returns (result, failed)."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)

    def exit_json(self, **result):
        raise ModuleExit(result, False)

    def fail_json(self, msg, **result):
        result["msg"] = msg
        raise ModuleExit(result, True)

    with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()), \
            mock.patch.object(basic, "_ANSIBLE_PROFILE", "legacy", create=True), \
            mock.patch.object(basic.AnsibleModule, "exit_json", exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", fail_json):
        with pytest.raises(ModuleExit) as info:
            module.main()
    return info.value.result, info.value.failed
