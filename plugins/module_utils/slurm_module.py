# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# The one main() of the operation modules (slurm_node, slurm_job,
# slurm_cluster_facts): declare the options, build the operation and the
# backend, run, and turn a SlurmError into the module's failure, here and
# nowhere below. Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import backend_from_options
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError

# What a result's invocation shows instead of an option it must not echo.
NOT_SHOWN = 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'


def run_module(module_args, operation, hidden=()):
    """Run `operation` (a class: operation(params), .token_lifespan, .run(backend, check_mode, diff, warn)).

    `hidden`: options whose values stay out of the result's invocation (a job's
    script and environment), besides the no_log ones Ansible hides itself.
    """
    module = AnsibleModule(**module_args)
    invocation = {'module_args': dict((key, NOT_SHOWN if key in hidden and value is not None else value)
                                      for key, value in module.params.items())}
    try:
        task = operation(module.params)
        backend = backend_from_options(module.params.get, module, token_lifespan=task.token_lifespan, warn=module.warn)
        result = task.run(backend, check_mode=module.check_mode, diff=module._diff, warn=module.warn)
    except SlurmError as err:
        module.fail_json(msg=err.msg, invocation=invocation, **err.details)
    module.exit_json(invocation=invocation, **result)
