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
#
# token_from_host: with REST chosen and no token given, the token is minted
# here with `scontrol token` on that inventory host, through a connection
# built from the host's inventory variables as Ansible builds one for
# delegate_to (SSH with its user, key and options). The token comes back on
# the command's stdout only: never on a command line, never displayed (the
# connection runs with no_log, which keeps -vvv from printing its output),
# and removed from every result; the module, when it runs, gets it as its
# no_log option rest_token.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex
import shutil

from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import to_text
from ansible.playbook.play_context import PlayContext
from ansible.plugins.action import ActionBase

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import (
    backend_from_options,
    mint_token,
    wants_rest,
)
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError

# The options of AnsibleModule(**MODULE_ARGS) that ArgumentSpecValidator checks too.
_CHECKS = ('mutually_exclusive', 'required_together', 'required_one_of', 'required_if', 'required_by')


class _NoTaskOverrides(object):
    """What PlayContext.set_task_and_variable_override reads of a task: nothing set, so only the
    minting host's variables count (not the play's `connection: local`, nor its become)."""

    delegate_to = None
    check_mode = None
    diff = None


class SlurmAction(ActionBase):
    """Run the operation in process for REST on the control node, else the module."""

    # The module's FQCN, its MODULE_ARGS and operation class (see module_utils/slurm_module.py).
    MODULE_NAME = None
    MODULE_ARGS = None
    OPERATION = None

    def run(self, tmp=None, task_vars=None):
        result = super(SlurmAction, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        validated = self._validate()
        token = None
        try:
            params = validated and validated.validated_parameters
            if params and wants_rest(params.get) and not params.get('rest_token') and params.get('token_from_host'):
                lifespan = self.OPERATION(params).token_lifespan
                token = self.mint_token_on(params['token_from_host'], task_vars, params.get('rest_user'), lifespan)
                params['rest_token'] = token
            if params is None or not self._runs_here(params):
                args = dict(self._task.args)
                if token:
                    args['rest_token'] = token
                outcome = self._execute_module(module_name=self.MODULE_NAME, module_args=args, task_vars=task_vars)
            else:
                outcome = self._run_here(params)
        except SlurmError as err:
            outcome = dict(err.details, failed=True, msg=err.msg)
        # As AnsibleModule does for its results: no secret given as an option (or minted here) comes back.
        hidden = set(validated._no_log_values) if validated else set()
        if token:
            hidden.add(token)
        result.update(remove_values(outcome, hidden) if hidden else outcome)
        return result

    def _run_here(self, params):
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
        return outcome

    def in_process_params(self):
        """The validated options when the task can run in this process, else None."""
        validated = self.validated()
        return None if validated is None else validated.validated_parameters

    def validated(self):
        """The ValidationResult of the options when the task can run in this process as given, else None.

        That is: the connection is local, REST is chosen, a token is given (or in
        the environment), and no Slurm command is installed here that the module
        might use. Tasks with become or an `environment` keyword go to the module,
        which gets them. Options that do not validate go to the module too, which
        reports them as it always does.
        """
        validated = self._validate()
        if validated is None or not validated.validated_parameters.get('rest_token'):
            return None
        try:
            return validated if self._runs_here(validated.validated_parameters) else None
        except SlurmError:
            return None

    def _validate(self):
        """The ValidationResult of the task's options, or None when they do not validate."""
        checks = dict((key, self.MODULE_ARGS[key]) for key in _CHECKS if key in self.MODULE_ARGS)
        validator = ArgumentSpecValidator(self.MODULE_ARGS['argument_spec'], **checks)
        validated = validator.validate(dict(self._task.args))
        return None if validated.error_messages else validated

    def _runs_here(self, params):
        """Whether validated `params` (with a token) can run in this process (see validated())."""
        if getattr(self._connection, 'transport', None) != 'local' or shutil.which('scontrol'):
            return False
        # ansible-core 2.19 gives every task the environment [{}]: only a non-empty one counts.
        if self._play_context.become or any(self._task.environment or ()):
            return False
        return bool(wants_rest(params.get) and params.get('rest_token'))

    def mint_token_on(self, host, task_vars, user=None, lifespan=None):
        """A fresh token from `scontrol token` on the inventory host `host`, over its own connection."""
        hostvars = task_vars.get('hostvars') or {}
        if host not in hostvars:
            raise SlurmError('token_from_host: %s is not a host of the inventory; name the host (for example the '
                             'Slurm controller) where scontrol can mint a token' % host)
        host_vars = hostvars[host]

        def read(names):
            # One by one: each is templated on access, and the host's other variables may not template here.
            return dict((name, host_vars[name]) for name in names if name in host_vars)

        magic = set(name for names in C.MAGIC_VARIABLE_MAPPING.values() for name in names)
        variables = read(magic | set(['inventory_hostname']))
        context = PlayContext().set_task_and_variable_override(
            task=_NoTaskOverrides(), variables=variables, templar=self._templar)
        context.remote_addr = context.remote_addr or host
        # The connection plugin prints a command's output at -vvv unless no_log is set.
        context.no_log = True
        loader = self._shared_loader_obj.connection_loader
        connection = loader.get(context.connection or C.DEFAULT_TRANSPORT, context, None)
        if connection is None:
            raise SlurmError('token_from_host: no connection plugin %r for %s' % (context.connection, host))
        connection.set_options(var_options=read(C.config.get_plugin_vars('connection', connection._load_name)))
        where = 'on %s' % host

        def run(argv):
            # A fixed argv, quoted for the remote shell; the token is only in what it prints.
            try:
                rc, out, err = connection.exec_command(' '.join(shlex.quote(arg) for arg in argv), sudoable=False)
            except Exception as exc:  # the connection plugin's own errors (unreachable, auth)
                raise SlurmError('token_from_host: cannot reach %s to mint a slurmrestd token: %s'
                                 % (host, to_text(exc)))
            if rc != 0:
                raise SlurmError('token_from_host: `%s` failed %s (rc %d): %s' % (
                    ' '.join(argv), where, rc, to_text(err).strip() or 'no error text'), rc=rc)
            return to_text(out)

        try:
            return mint_token(run, user=user, lifespan=lifespan)
        finally:
            connection.close()
