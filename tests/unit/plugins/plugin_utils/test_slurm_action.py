# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# When the action plugins run an operation in the worker process, and what
# that gives: the same result, failure and warnings as the module would, with
# no_log values removed.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from unittest import mock

import pytest

from ansible_collections.aiinfra.slurm.plugins.action.slurm_job import ActionModule as JobAction
from ansible_collections.aiinfra.slurm.plugins.action.slurm_node import ActionModule as NodeAction
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.plugin_utils import slurm_action

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


@pytest.fixture(autouse=True)
def no_scontrol_here(monkeypatch):
    monkeypatch.setattr(slurm_action.shutil, 'which', lambda name: None)
    for name in ('USE_SLURMRESTD', 'SLURM_REST_API_URL', 'SLURM_JWT', 'SLURM_JWT_TOKEN', 'SLURM_REST_API_USER'):
        monkeypatch.delenv(name, raising=False)


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
