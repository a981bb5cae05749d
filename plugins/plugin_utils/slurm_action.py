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
# hold through REST, measured on the lab). With the CLI, slurm_node and
# slurm_cluster_facts (without accounting) also run here, and only their
# scontrol commands go over the task's connection (CommandsOverConnection).
# Everywhere else (slurm_job's CLI, become, a task `environment`, a
# token to mint with scontrol, the CLI fallback of the REST backend) the
# module runs as usual. All paths validate the same argument spec and run the
# same operation, so they give the same results; here a SlurmError becomes a
# failed result, and no_log values (the token, secret_environment) are
# removed from it.
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

import re
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
            if params is not None and self._runs_here(params):
                outcome = self._run_here(params)
            elif params is not None and self._cli_over_connection(params):
                host = self._task.delegate_to or task_vars.get('inventory_hostname') or self._play_context.remote_addr
                outcome = self._run_here(params, commands=CommandsOverConnection(self, host))
            else:
                args = dict(self._task.args)
                if token:
                    args['rest_token'] = token
                outcome = self._execute_module(module_name=self.MODULE_NAME, module_args=args, task_vars=task_vars)
        except SlurmError as err:
            outcome = dict(err.details, failed=True, msg=err.msg)
        # As AnsibleModule does for its results: no secret given as an option (or minted here) comes back.
        hidden = set(validated._no_log_values) if validated else set()
        if token:
            hidden.add(token)
        result.update(remove_values(outcome, hidden) if hidden else outcome)
        return result

    def _run_here(self, params, commands=None):
        warnings = []
        try:
            task = self.OPERATION(params)
            backend = backend_from_options(params.get, commands, token_lifespan=task.token_lifespan,
                                           warn=warnings.append)
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
        if self._module_gets_task_keywords():
            return False
        return bool(wants_rest(params.get) and params.get('rest_token'))

    def _module_gets_task_keywords(self):
        """Whether the task has become or an `environment`, which only the module on the host gets.
        ansible-core 2.19 gives every task the environment [{}]: only a non-empty one counts."""
        return bool(self._play_context.become or any(self._task.environment or ()))

    def _cli_over_connection(self, params):
        """Whether validated `params` choose the CLI for an operation that can run its commands over the
        task's connection (see CommandsOverConnection): no become, no `environment` keyword (the module
        gets those), and the operation says its commands need nothing else of the host."""
        if self._module_gets_task_keywords():
            return False
        over_connection = getattr(self.OPERATION, 'cli_over_connection', None)
        return bool(over_connection and over_connection(params) and not wants_rest(params.get))

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


_CONNECTION_CLOSED = re.compile(r'^Shared connection to \S+ closed\.\r?\n?\Z', re.M)


class CommandsOverConnection(object):
    """What CliBackend needs of AnsibleModule (get_bin_path, run_command), done over the task's connection.

    For an operation whose only work on the host is to run Slurm commands
    (slurm_node, slurm_cluster_facts), each command runs through the
    connection Ansible keeps open to the host, and the operation runs here:
    no module to pack, send and start in Python on the host, which is most of
    a small task's time (a one-node drain: 0.29 s as a module, 0.05 s this
    way, measured on the lab). Each argv is quoted for the remote shell word
    by word (as mint_token_on does), so a name or reason stays one argument;
    the remote shell's PATH finds the command, as a module's run_command
    would. No environment: it would have to go on the command line, which
    -vvv shows (slurm_job's sbatch gets one, so it stays a module).
    """

    def __init__(self, action, host):
        self._action = action
        self._host = host

    def get_bin_path(self, command):
        return command

    def run_command(self, argv, data=None, binary_data=False, environ_update=None, before_communicate_callback=None,
                    expand_user_and_vars=False):
        if environ_update:
            raise SlurmError('%s needs an environment, which is not sent over the connection: run it as a module'
                             % argv[0])
        command = ' '.join(shlex.quote(arg) for arg in argv)
        said = self._action._low_level_execute_command(command, sudoable=False, in_data=data)
        # Mitogen's connection (and ssh with a tty) adds this line to every command's stderr; the
        # backend reads stderr (an unknown node is rc 1 with nothing there), so it goes.
        rc, out, err = said['rc'], said.get('stdout', ''), _CONNECTION_CLOSED.sub('', said.get('stderr', ''))
        if rc == 127:
            # The shell's "not found": the same advice the module gives.
            raise SlurmError('%s is not installed on %s: run the module where the Slurm client commands work '
                             '(e.g. the controller), or use api=rest' % (argv[0], self._host), rc=rc, stderr=err)
        return rc, out, err
