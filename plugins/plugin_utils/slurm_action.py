# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The action side of slurm_node, slurm_job and slurm_cluster_facts.
#
# Through slurmrestd a task needs nothing of the host it runs on, and most run
# on the control node itself (localhost, an AWX execution environment). There
# the operation (module_utils/slurm_nodes.py, slurm_jobs.py, slurm_facts.py)
# runs in Ansible's worker process: no Python to start, no AnsiballZ payload
# to unpack and compile, which is most of a task's time (0.6 s of 0.65 s for a
# hold through REST, measured on the lab). Everywhere else, and whenever the
# module could need the Slurm commands (the CLI, a token minted with
# scontrol, the CLI fallback of the REST backend), the module runs as usual.
# Both paths validate the same argument spec and run the same operation, so
# they give the same results; here a SlurmError becomes a failed result, and
# no_log values (the token, secret_environment) are removed from it.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shutil

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import backend_from_options, wants_rest
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError

# The options of AnsibleModule(**MODULE_ARGS) that ArgumentSpecValidator checks too.
_CHECKS = ('mutually_exclusive', 'required_together', 'required_one_of', 'required_if', 'required_by')


class SlurmAction(ActionBase):
    """Run the operation in process for REST on the control node, else the module."""

    # The module's FQCN, its MODULE_ARGS and operation class (see module_utils/slurm_module.py).
    MODULE_NAME = None
    MODULE_ARGS = None
    OPERATION = None

    def run(self, tmp=None, task_vars=None):
        result = super(SlurmAction, self).run(tmp, task_vars)
        validated = self.validated()
        if validated is None:
            result.update(self._execute_module(module_name=self.MODULE_NAME, module_args=self._task.args,
                                               task_vars=task_vars))
            return result
        params = validated.validated_parameters
        warnings = []
        try:
            task = self.OPERATION(params)
            backend = backend_from_options(params.get, token_lifespan=task.token_lifespan, warn=warnings.append)
            outcome = task.run(backend, check_mode=bool(self._play_context.check_mode),
                               diff=bool(self._play_context.diff), warn=warnings.append)
        except SlurmError as err:
            outcome = dict(err.details, failed=True, msg=err.msg)
        if warnings:
            outcome['warnings'] = warnings
        # As AnsibleModule does for its results: no secret given as an option comes back.
        result.update(remove_values(outcome, validated._no_log_values))
        return result

    def in_process_params(self):
        """The validated options when the task can run in this process, else None."""
        validated = self.validated()
        return None if validated is None else validated.validated_parameters

    def validated(self):
        """The ValidationResult of the options when the task can run in this process, else None.

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
        checks = dict((key, self.MODULE_ARGS[key]) for key in _CHECKS if key in self.MODULE_ARGS)
        validator = ArgumentSpecValidator(self.MODULE_ARGS['argument_spec'], **checks)
        validated = validator.validate(dict(self._task.args))
        if validated.error_messages:
            return None
        params = validated.validated_parameters
        if not wants_rest(params.get) or not params.get('rest_token'):
            return None
        return validated
