# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# When the action plugins run a module's execute() in the worker process, and
# what that gives: the same result, failure and warnings as the module would.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from unittest import mock

import pytest

from ansible_collections.aiinfra.slurm.plugins.action.slurm_job import ActionModule as JobAction
from ansible_collections.aiinfra.slurm.plugins.action.slurm_node import ActionModule as NodeAction
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


def test_in_process_result_failure_and_warnings(monkeypatch):
    seen = {}

    def execute(module):
        seen.update(check_mode=module.check_mode, diff=module._diff, names=module.params['names'])
        module.warn('careful')
        if module.params['state'] == 'drain':
            module.fail_json(msg='refused', rc=1)
        return {'changed': True, 'backend': 'rest'}

    monkeypatch.setattr(NodeAction.MODULE, 'execute', execute)
    result = action(NodeAction, dict(REST, names='n[1-2]', state='resume'), check_mode=True,
                    diff=True).run(task_vars={})
    assert result['changed'] is True and result['warnings'] == ['careful']
    assert seen == {'check_mode': True, 'diff': True, 'names': 'n[1-2]'}
    failed = action(NodeAction, dict(REST, names='n1', state='drain', reason='x')).run(task_vars={})
    assert failed['failed'] is True and failed['msg'] == 'refused' and failed['rc'] == 1


def test_the_stand_in_runs_no_command():
    module = slurm_action.InProcessModule({}, False, False)
    assert module.get_bin_path('scontrol') is None
    with pytest.raises(AssertionError):
        module.run_command(['scontrol', 'ping'])
