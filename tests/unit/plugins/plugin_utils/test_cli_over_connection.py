# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# slurm_node and slurm_cluster_facts with the CLI, run by the action plugin
# with each Slurm command sent over the task's connection: every case the
# modules pass (test_slurm_node.yml, test_slurm_cluster_facts.yml, real Slurm
# 22.05 and 24.11 output) must give the same result this way, each argv must
# reach the host as the same words, and what needs the module still goes there.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex
from pathlib import Path
from unittest import mock

import pytest

from ansible_collections.aiinfra.slurm.plugins.action.slurm_cluster_facts import ActionModule as FactsAction
from ansible_collections.aiinfra.slurm.plugins.action.slurm_job import ActionModule as JobAction
from ansible_collections.aiinfra.slurm.plugins.action.slurm_node import ActionModule as NodeAction
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.plugin_utils import slurm_action
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.slurm_cases import (
    FakeCommands,
    assert_absent,
    assert_subset,
    cases,
    fixtures,
    substitute,
)

MODULES = Path(__file__).parents[1] / 'modules'


def action(cls, args, check_mode=False, diff=False, become=False, environment=None):
    """The action plugin of a task with `args` on an SSH connection; the module must not be needed."""
    task = mock.Mock(args=args, async_val=0, environment=environment, delegate_to=None)
    play_context = mock.Mock(check_mode=check_mode, diff=diff, become=become, remote_addr='10.0.0.1')
    plugin = cls(task, mock.Mock(transport='ssh'), play_context, loader=mock.Mock(), templar=mock.Mock(),
                 shared_loader_obj=mock.Mock())
    plugin._execute_module = mock.Mock(return_value={'changed': False, 'ran': 'module'})
    plugin._low_level_execute_command = mock.Mock(side_effect=AssertionError('no command expected'))
    return plugin


def over(plugin, runner):
    """Let `plugin` run its commands on `runner` (FakeCommands), as the host's shell would split them."""
    def execute(command, sudoable=True, in_data=None):
        assert sudoable is False
        rc, out, err = runner.run_command(shlex.split(command), data=in_data)
        return {'rc': rc, 'stdout': out, 'stderr': err}
    plugin._low_level_execute_command = mock.Mock(side_effect=execute)
    return plugin


def _over_connection_cases():
    chosen = []
    for cls, name in ((NodeAction, 'test_slurm_node.yml'), (FactsAction, 'test_slurm_cluster_facts.yml')):
        for param in cases(MODULES / name):
            case, version = param.values
            # Options that do not validate, and accounting, go to the module (tested below).
            if 'bin_paths' in case or 'accounting' in (case['params'].get('gather_subset') or []):
                continue
            chosen.append(pytest.param(cls, case, version, id=param.id))
    return chosen


@pytest.mark.parametrize('cls, case, version', _over_connection_cases())
def test_module_cases_give_the_same_result_over_the_connection(cls, case, version):
    variables = fixtures(version)['vars']
    runner = FakeCommands(version, case['commands'], tagged=True)
    plugin = over(action(cls, substitute(case['params'], variables), check_mode=case.get('check_mode', False),
                         diff=case.get('diff', False)), runner)
    result = plugin.run(task_vars={})
    if plugin._execute_module.called:
        # Only options that do not validate may reach the module, which reports them.
        assert case['result'].get('failed') and not case['commands']
        return
    assert_subset(substitute(case['result'], variables), result)
    assert_absent(case.get('absent') or [], result)
    runner.check_done()


def test_a_reason_with_shell_words_stays_one_argument():
    reason = "x'; touch /tmp/owned; echo \"$(id)\" `id` >"
    plugin = action(NodeAction, {'names': 'lab-node1', 'state': 'drain', 'reason': reason})
    commands = []

    idle = fixtures('24.11')['commands']['nodes/n1_idle']['stdout']

    def execute(command, sudoable=True, in_data=None):
        commands.append(command)
        return {'rc': 0, 'stdout': idle if 'show' in command else '', 'stderr': ''}
    plugin._low_level_execute_command = mock.Mock(side_effect=execute)
    plugin.run(task_vars={})
    assert shlex.split(commands[1]) == ['scontrol', 'update', 'NodeName=lab-node1', 'State=DRAIN',
                                        'Reason=' + reason]


def test_scontrol_missing_on_the_host_is_a_clear_error():
    plugin = action(NodeAction, {'names': 'lab-node1', 'state': 'resume'})
    plugin._low_level_execute_command = mock.Mock(
        return_value={'rc': 127, 'stdout': '', 'stderr': '/bin/sh: 1: scontrol: not found\n'})
    result = plugin.run(task_vars={'inventory_hostname': 'lab-ctl'})
    assert result['failed'] and result['msg'].startswith('scontrol is not installed on lab-ctl:')
    plugin._execute_module.assert_not_called()


@pytest.mark.parametrize('cls, args, keywords', [
    (NodeAction, {'names': 'n1', 'state': 'resume'}, {'become': True}),
    (NodeAction, {'names': 'n1', 'state': 'resume'}, {'environment': [{'SLURM_CONF': '/etc/slurm/other.conf'}]}),
    (FactsAction, {'gather_subset': ['nodes', 'accounting']}, {}),
    # Job scripts and their environment go to sbatch through the module only.
    (JobAction, {'action': 'status', 'job_id': 7}, {}),
    (NodeAction, {'names': 'n1', 'state': 'resume', 'api': 'rest', 'rest_url': 'https://ctl:6821'}, {}),
    (NodeAction, {'names': 'n1', 'state': 'sideways'}, {}),
])
def test_what_needs_the_module_goes_there(cls, args, keywords):
    plugin = action(cls, args, **keywords)
    assert plugin.run(task_vars={'hostvars': {}})['ran'] == 'module'
    plugin._low_level_execute_command.assert_not_called()


def test_the_empty_environment_every_task_has_keeps_the_connection_path():
    runner = FakeCommands('24.11', ['nodes/n1_idle'])
    plugin = over(action(NodeAction, {'names': 'lab-node1', 'state': 'resume'}, environment=[{}]), runner)
    assert plugin.run(task_vars={})['changed'] is False
    runner.check_done()


def test_an_environment_is_never_put_on_a_command_line():
    plugin = action(NodeAction, {'names': 'lab-node1', 'state': 'resume'})
    commands = slurm_action.CommandsOverConnection(plugin, 'lab-ctl')
    with pytest.raises(SlurmError, match='sbatch needs an environment'):
        commands.run_command(['sbatch', '--parsable'], environ_update={'SBATCH_SECRET': 'x'})
    plugin._low_level_execute_command.assert_not_called()


@pytest.mark.parametrize('closed', ['Shared connection to 10.77.3.10 closed.\n',
                                    'Shared connection to 10.77.3.10 closed.\r\n'])
def test_the_line_mitogen_adds_to_stderr_does_not_hide_an_unknown_node(closed):
    # ansible_mitogen's exec_command ends every stderr with it; an unknown node is rc 1 with stderr empty.
    runner = FakeCommands('24.11', ['nodes/n1_and_unknown_node'])

    def execute(command, sudoable=True, in_data=None):
        rc, out, err = runner.run_command(shlex.split(command), data=in_data)
        return {'rc': rc, 'stdout': out, 'stderr': err + closed}
    plugin = action(NodeAction, {'names': ['lab-node1', 'nosuch-node'], 'state': 'drain', 'reason': 'x'})
    plugin._low_level_execute_command = mock.Mock(side_effect=execute)
    result = plugin.run(task_vars={})
    assert result['failed'] and result['unknown'] == ['nosuch-node']
    assert result['msg'] == 'unknown node(s): nosuch-node; nothing was changed'
    runner.check_done()
