# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The action side of slurm_node, slurm_job and slurm_cluster_facts.
#
# Through slurmrestd a task needs nothing of the host it runs on, and most run
# on the control node itself (localhost, an AWX execution environment). There
# the module's own code runs in Ansible's worker process: no Python to start,
# no AnsiballZ payload to unpack and compile, which is most of a task's time
# (0.6 s of 0.65 s for a hold through REST, measured on the lab). Everywhere
# else, and whenever the module could need the Slurm commands (the CLI, a
# token minted with scontrol, the CLI fallback of the REST backend), the
# module runs as usual. Both paths run the same execute() of the module file
# with the same validated options, so they give the same results.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shutil

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import wants_rest


class _ModuleFailed(Exception):
    def __init__(self, result):
        super(_ModuleFailed, self).__init__(result.get('msg'))
        self.result = result


class InProcessModule(object):
    """What a module's execute() uses of AnsibleModule, for the REST backend in the worker process."""

    def __init__(self, params, check_mode, diff):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []
        self.no_log_values = set()

    def warn(self, warning):
        self.warnings.append(warning)

    def fail_json(self, msg, **kwargs):
        raise _ModuleFailed(dict(kwargs, failed=True, msg=msg))

    def get_bin_path(self, name, required=False, opt_dirs=None):
        # Only used where no Slurm command is installed (see SlurmAction.in_process_params).
        return None

    def run_command(self, *args, **kwargs):
        raise AssertionError('no command runs in the worker process')


class SlurmAction(ActionBase):
    """Run the module's execute() in process for REST on the control node, else the module."""

    # The module's FQCN and its Python module (ARGUMENT_SPEC, MODULE_OPTIONS, execute).
    MODULE_NAME = None
    MODULE = None

    def run(self, tmp=None, task_vars=None):
        result = super(SlurmAction, self).run(tmp, task_vars)
        params = self.in_process_params()
        if params is None:
            result.update(self._execute_module(module_name=self.MODULE_NAME, module_args=self._task.args,
                                               task_vars=task_vars))
            return result
        module = InProcessModule(params, bool(self._play_context.check_mode), bool(self._play_context.diff))
        try:
            outcome = self.MODULE.execute(module)
        except _ModuleFailed as failed:
            outcome = failed.result
        if module.warnings:
            outcome['warnings'] = module.warnings
        result.update(outcome)
        return result

    def in_process_params(self):
        """The validated options when the task can run in this process, else None.

        That is: the connection is local, REST is chosen, a token is given (or in
        the environment), and no Slurm command is installed here that the module
        might use. Tasks with become or an `environment` keyword go to the module,
        which gets them. Options that do not validate go to the module too, which
        reports them as it always does.
        """
        if getattr(self._connection, 'transport', None) != 'local' or shutil.which('scontrol'):
            return None
        if self._play_context.become or self._task.environment:
            return None
        options = self.MODULE.MODULE_OPTIONS
        validator = ArgumentSpecValidator(self.MODULE.ARGUMENT_SPEC,
                                          mutually_exclusive=options.get('mutually_exclusive'))
        validated = validator.validate(dict(self._task.args))
        if validated.error_messages:
            return None
        params = validated.validated_parameters
        if not wants_rest(params) or not params.get('rest_token'):
            return None
        return params
