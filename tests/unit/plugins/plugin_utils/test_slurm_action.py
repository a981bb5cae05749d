# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# When the action plugins run an operation in the worker process, and what
# that gives: the same result, failure and warnings as the module would, with
# no_log values removed.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex
from unittest import mock

import pytest

from ansible.plugins.loader import connection_loader

from ansible_collections.aiinfra.slurm.plugins.action.slurm_job import ActionModule as JobAction
from ansible_collections.aiinfra.slurm.plugins.action.slurm_node import ActionModule as NodeAction
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.plugin_utils import slurm_action
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.slurm_cases import fixtures

REST = {'api': 'rest', 'rest_url': 'http://slurm.example:6820', 'rest_token': 'a.b.c'}


def action(cls, args, transport='local', check_mode=False, diff=False, become=False, environment=None):
    """An action plugin for a task with `args` on a connection of `transport`."""
    task = mock.Mock(args=args, async_val=0, environment=environment)
    connection = mock.Mock(transport=transport)
    play_context = mock.Mock(check_mode=check_mode, diff=diff, become=become)
    plugin = cls(task, connection, play_context, loader=mock.Mock(), templar=mock.Mock(),
                 shared_loader_obj=mock.Mock())
    plugin._execute_module = mock.Mock(return_value={'changed': False, 'ran': 'module'})
    return plugin


@pytest.mark.parametrize('args, transport, scontrol, in_process', [
    (dict(REST, names='n1', state='resume'), 'local', None, True),
    (dict(REST, names='n1', state='resume'), 'ssh', None, False),
    (dict(REST, names='n1', state='resume'), 'local', '/usr/bin/scontrol', False),
    (dict(names='n1', state='resume'), 'local', None, False),
    (dict(REST, names='n1', state='resume', api='auto'), 'local', None, True),
    (dict(REST, names='n1', state='resume', api='cli'), 'local', None, False),
    (dict(REST, names='n1', rest_token=None, state='resume'), 'local', None, False),
    # Invalid options go to the module, which reports them as always.
    (dict(REST, names='n1', state='sideways'), 'local', None, False),
    (dict(REST, names='n1', state='resume', bogus=1), 'local', None, False),
])
def test_in_process_only_for_rest_on_the_control_node(monkeypatch, args, transport, scontrol, in_process):
    monkeypatch.setattr(slurm_action.shutil, 'which', lambda name: scontrol)
    params = action(NodeAction, args, transport).in_process_params()
    assert (params is not None) == in_process
    if in_process:
        assert params['node_results'] == 'auto' and params['rest_timeout'] == 30


@pytest.mark.parametrize('keywords', [{'become': True}, {'environment': [{'SLURM_REST_API_URL': 'http://other:6820'}]}])
def test_become_or_task_environment_go_to_the_module(keywords):
    assert action(NodeAction, dict(REST, names='n1', state='resume'), **keywords).in_process_params() is None


def test_token_and_url_from_the_environment(monkeypatch):
    monkeypatch.setenv('SLURM_JWT', 'x.y.z')
    monkeypatch.setenv('SLURM_REST_API_URL', 'http://slurm.example:6820')
    params = action(JobAction, {'action': 'status', 'job_id': 7}).in_process_params()
    assert params['rest_token'] == 'x.y.z' and params['rest_url'] == 'http://slurm.example:6820'


def test_module_runs_elsewhere():
    plugin = action(NodeAction, dict(REST, names='n1', state='resume'), transport='ssh')
    assert plugin.run(task_vars={})['ran'] == 'module'
    assert plugin._execute_module.call_args.kwargs['module_name'] == 'aiinfra.slurm.slurm_node'


class FakeOperation(object):
    """Stands for slurm_nodes.NodeManager: records what it is given, warns, fails on drain."""

    token_lifespan = None
    seen = {}

    def __init__(self, params):
        self.params = params

    def run(self, backend, check_mode=False, diff=False, warn=None):
        self.seen.update(check_mode=check_mode, diff=diff, names=self.params['names'], backend=backend)
        warn('careful')
        if self.params['state'] == 'drain':
            # A secret in an error text must not come back (AnsibleModule would remove it too).
            raise SlurmError('refused with token %s' % self.params['rest_token'], rc=1)
        return {'changed': True, 'backend': backend.name}


def test_in_process_result_failure_and_warnings(monkeypatch):
    monkeypatch.setattr(NodeAction, 'OPERATION', FakeOperation)
    result = action(NodeAction, dict(REST, names='n[1-2]', state='resume'), check_mode=True,
                    diff=True).run(task_vars={})
    # The token went over plain HTTP to another host: said first, then the operation's own warning.
    assert result['changed'] is True and len(result['warnings']) == 2 and result['warnings'][1] == 'careful'
    assert 'plain HTTP' in result['warnings'][0] and REST['rest_token'] not in result['warnings'][0]
    seen = dict(FakeOperation.seen)
    backend = seen.pop('backend')
    assert seen == {'check_mode': True, 'diff': True, 'names': 'n[1-2]'}
    # In process there is no Slurm command to run: REST alone, no CLI fallback.
    assert backend.name == 'rest' and backend.cli is None and backend.token == REST['rest_token']
    failed = action(NodeAction, dict(REST, names='n1', state='drain', reason='x')).run(task_vars={})
    assert failed['failed'] is True and failed['rc'] == 1
    assert failed['msg'] == 'refused with token ********'
    assert REST['rest_token'] not in str(failed)


def test_bad_input_in_process_is_a_failed_result(monkeypatch):
    # The operation checks what the argument spec cannot, and raises; no module runs.
    result = action(NodeAction, dict(REST, names='n[1-', state='resume')).run(task_vars={})
    assert result['failed'] is True and 'invalid node names' in result['msg']


def test_secret_environment_never_comes_back(monkeypatch):
    class Echo(FakeOperation):
        def run(self, backend, check_mode=False, diff=False, warn=None):
            return {'changed': True, 'msg': 'env %s' % self.params['secret_environment']['KEY']}

    monkeypatch.setattr(JobAction, 'OPERATION', Echo)
    result = action(JobAction, dict(REST, action='submit', wrap='true',
                                    secret_environment={'KEY': 's3cr3t-value'})).run(task_vars={})
    assert 's3cr3t-value' not in str(result) and result['msg'] == 'env ********'


# token_from_host: the token minted over the minting host's own connection.
MINTED = 'eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJyb290In0.minted-signature'
NO_TOKEN = {'api': 'rest', 'rest_url': 'https://slurm.example:6821', 'token_from_host': 'ctl'}
HOSTVARS = {'hostvars': {'ctl': {'inventory_hostname': 'ctl', 'ansible_host': '10.0.0.1', 'ansible_user': 'slurmadm',
                                 'ansible_ssh_private_key_file': '/keys/id', 'unrelated': 'x'}}}


class FakeConnection(object):
    """Stands for the ssh connection plugin: answers `scontrol token` as Slurm prints it."""

    _load_name = 'ssh'

    def __init__(self, play_context, rc=0, out='SLURM_JWT=%s\n' % MINTED, err=''):
        self.play_context, self.rc, self.out, self.err = play_context, rc, out, err
        self.commands, self.options, self.closed = [], None, False

    def set_options(self, task_keys=None, var_options=None, direct=None):
        self.options = var_options

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self.commands.append(cmd)
        return self.rc, self.out.encode(), self.err.encode()

    def close(self):
        self.closed = True


def minting(monkeypatch, cls, args, transport='local', **answer):
    """An action plugin whose connection loader hands out one FakeConnection (returned too)."""
    # Loading the real ssh plugin teaches Ansible's configuration its options (which variables it reads).
    connection_loader.get('ssh', class_only=True)
    plugin = action(cls, args, transport)
    made = {}

    def get(name, play_context, new_stdin, *rest, **kwargs):
        made['name'] = name
        made['connection'] = FakeConnection(play_context, **answer)
        return made['connection']

    monkeypatch.setattr(connection_loader, 'get', get)
    return plugin, made


class EchoToken(FakeOperation):
    """Says which token it was given, as a careless error text could."""

    def run(self, backend, check_mode=False, diff=False, warn=None):
        return {'changed': False, 'backend': backend.name, 'msg': 'token %s' % backend.token}


def test_token_minted_on_the_named_host_never_comes_back(monkeypatch):
    monkeypatch.setattr(NodeAction, 'OPERATION', EchoToken)
    plugin, made = minting(monkeypatch, NodeAction, dict(NO_TOKEN, names='n1', state='resume'))
    result = plugin.run(task_vars=HOSTVARS)
    connection = made['connection']
    # Over ssh to the host's address as its user, with no_log so that -vvv does not print the output.
    assert made['name'] == 'ssh' and connection.closed
    assert (connection.play_context.remote_addr, connection.play_context.remote_user) == ('10.0.0.1', 'slurmadm')
    assert connection.play_context.no_log is True
    assert connection.options == {'ansible_host': '10.0.0.1', 'ansible_user': 'slurmadm',
                                  'ansible_ssh_private_key_file': '/keys/id', 'inventory_hostname': 'ctl'}
    assert connection.commands == ['scontrol token lifespan=600']
    # The operation ran here with the minted token; the result does not show it.
    assert result['backend'] == 'rest' and result['msg'] == 'token ********', result
    assert MINTED not in str(result)
    plugin._execute_module.assert_not_called()


def test_token_for_another_user_and_a_longer_wait(monkeypatch):
    # The lifespan the operation asks for (slurm_job: its wait's timeout + 300 s).
    monkeypatch.setattr(JobAction, 'OPERATION', type('LongWait', (EchoToken,), {'token_lifespan': 3900}))
    plugin, made = minting(monkeypatch, JobAction, dict(NO_TOKEN, action='wait', job_id=7, timeout=3600, rest_user='alice'))
    plugin.run(task_vars=HOSTVARS)
    assert made['connection'].commands == ['scontrol token lifespan=3900 username=alice']


def test_minted_token_goes_to_the_module_as_its_no_log_option(monkeypatch):
    plugin, made = minting(monkeypatch, NodeAction, dict(NO_TOKEN, names='n1', state='resume'), transport='ssh')
    plugin._execute_module.return_value = {'changed': False, 'msg': 'echo %s' % MINTED}
    result = plugin.run(task_vars=HOSTVARS)
    args = plugin._execute_module.call_args.kwargs['module_args']
    assert args['rest_token'] == MINTED and args['names'] == 'n1'
    assert MINTED not in str(result) and result['msg'] == 'echo ********'


def test_a_given_token_is_not_minted_again(monkeypatch):
    monkeypatch.setattr(NodeAction, 'OPERATION', EchoToken)
    plugin, made = minting(monkeypatch, NodeAction, dict(NO_TOKEN, names='n1', state='resume', rest_token='a.b.c'))
    plugin.run(task_vars=HOSTVARS)
    assert made == {}


def _scontrol_over_the_connection(plugin):
    """The task's connection answers every command with a captured `scontrol show node` of lab-node1, idle."""
    idle = fixtures('24.11')['commands']['nodes/n1_idle']['stdout']
    plugin._low_level_execute_command = mock.Mock(return_value={'rc': 0, 'stdout': idle, 'stderr': ''})
    return plugin


def test_cli_chosen_mints_nothing(monkeypatch):
    plugin, made = minting(monkeypatch, NodeAction, dict(NO_TOKEN, names='lab-node1', state='resume', api='cli'),
                           transport='ssh')
    result = _scontrol_over_the_connection(plugin).run(task_vars=HOSTVARS)
    assert made == {} and result['backend'] == 'cli' and result['changed'] is False
    assert [shlex.split(call.args[0]) for call in plugin._low_level_execute_command.call_args_list] == [
        ['scontrol', 'show', 'node', 'lab-node1']]


def test_minting_host_not_in_the_inventory(monkeypatch):
    plugin, made = minting(monkeypatch, NodeAction, dict(NO_TOKEN, names='n1', state='resume'))
    result = plugin.run(task_vars={'hostvars': {}})
    assert result['failed'] and 'token_from_host: ctl is not a host of the inventory' in result['msg']
    assert made == {}


def test_failed_minting_names_the_host_and_keeps_stdout_out(monkeypatch):
    plugin, made = minting(monkeypatch, NodeAction, dict(NO_TOKEN, names='n1', state='resume'), rc=1,
                           out='SLURM_JWT=half-%s' % MINTED, err='scontrol: error: Invalid user for token\n')
    result = plugin.run(task_vars=HOSTVARS)
    assert result['failed'] and result['rc'] == 1
    assert result['msg'] == ('token_from_host: `scontrol token lifespan=600` failed on ctl (rc 1): '
                             'scontrol: error: Invalid user for token')
    assert MINTED not in str(result) and made['connection'].closed
    plugin._execute_module.assert_not_called()


def test_no_token_printed_is_a_clear_error(monkeypatch):
    plugin, _made = minting(monkeypatch, NodeAction, dict(NO_TOKEN, names='n1', state='resume'), out='')
    result = plugin.run(task_vars=HOSTVARS)
    assert result['failed'] and 'scontrol token printed no token' in result['msg']


def test_use_slurmrestd_false_keeps_the_cli_and_mints_nothing(monkeypatch):
    monkeypatch.setenv('USE_SLURMRESTD', 'false')
    args = {'names': 'n1', 'state': 'resume', 'rest_url': 'https://slurm.example:6821', 'token_from_host': 'ctl'}
    plugin, made = minting(monkeypatch, NodeAction, dict(args, names='lab-node1'))
    result = _scontrol_over_the_connection(plugin).run(task_vars=HOSTVARS)
    assert made == {} and result['backend'] == 'cli'


def test_the_empty_environment_every_task_has_is_no_environment():
    # ansible-core 2.19 gives each task `environment: [{}]`; only a real one sends the task to the module.
    assert action(NodeAction, dict(REST, names='n1', state='resume'), environment=[{}]).in_process_params()
