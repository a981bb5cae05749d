# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The one check of each kind of input (slurm_vocabulary), and that both
# backends use it: a bad value fails the same way through the CLI and REST.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_vocabulary as vocabulary
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_cli import CliBackend
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.tests.unit.plugins.module_utils.test_slurm_rest import FakeSlurmrestd, backend
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.slurm_cases import FakeCommands, fake_module


@pytest.mark.parametrize('given, name', [('TERM', 'TERM'), ('sigusr1', 'USR1'), (15, 'TERM'), ('15', 'TERM'),
                                         (' KILL ', 'KILL'), ('SIGCONT', 'CONT')])
def test_signal_names(given, name):
    assert vocabulary.signal_name(given) == name


@pytest.mark.parametrize('given', ['TERM; reboot', '-9', '', True, 'FOO', 'SIGFOO', 999, 'WINCH'])
def test_bad_signals(given):
    with pytest.raises(SlurmError, match='invalid signal'):
        vocabulary.signal_name(given)


@pytest.mark.parametrize('call', [
    lambda backend: backend.cancel_job(5, signal='FOO'),
    lambda backend: backend.cancel_job('5;rm', signal='TERM'),
    lambda backend: backend.control_job(5, 'explode'),
    lambda backend: backend.update_nodes(['n1'], state='BOGUS'),
    lambda backend: backend.update_nodes(['n1'], state='DRAIN', reason='a\nb'),
    lambda backend: backend.update_nodes(['n1'], weight='heavy'),
    lambda backend: backend.update_nodes('n[1-2]', state='DRAIN', reason='x'),
    lambda backend: backend.submit_job({'wrap': 'true', 'environment': {'A B': '1'}}),
    lambda backend: backend.submit_job({'wrap': 'true', 'environment': {'L': [1, 2]}}),
    lambda backend: backend.submit_job({'wrap': 'true', 'name': 'a\nb'}),
    lambda backend: backend.submit_job({'wrap': 'true', 'comment': 'a\rb'}),
])
def test_both_backends_refuse_alike_before_asking_slurm(monkeypatch, call):
    """The same message from both; no command runs, nothing is sent to slurmrestd (it only tells its version)."""
    server = FakeSlurmrestd(monkeypatch, '24.11')
    runner = FakeCommands('24.11', [])
    messages = []
    for chosen in (CliBackend(fake_module(runner)), backend()):
        with pytest.raises(SlurmError) as caught:
            call(chosen)
        messages.append(caught.value.msg)
    assert messages[0] == messages[1], messages
    assert runner.ran == [] and [request['path'] for request in server.requests] in ([], ['/slurm/v0.0.42/ping'])


@pytest.mark.parametrize('names, expected', [
    ('lab-node[1-2]', ['lab-node1', 'lab-node2']),
    (['lab-node2', 'lab-node[1-2]'], ['lab-node2', 'lab-node1']),
    ('n1,n1', ['n1']),
])
def test_node_names_expand_once_and_unique(names, expected):
    assert vocabulary.node_names(names) == expected


@pytest.mark.parametrize('names, message', [
    ('lab-node[1-', 'invalid node names: unbalanced or nested brackets'),
    ('lab-node1;reboot', "invalid character ';'"),
    ('', 'no node names given'),
    ([], 'no node names given'),
])
def test_bad_node_names(names, message):
    with pytest.raises(SlurmError, match=message):
        vocabulary.node_names(names)


def test_environment_values():
    """Numbers and booleans become text (documented); lists and dicts are refused."""
    assert vocabulary.environment({'A': 1, 'B': True, 'C': False, 'D': 'x', 'E': 1.5}) == {
        'A': '1', 'B': 'true', 'C': 'false', 'D': 'x', 'E': '1.5'}
    for value, kind in (([1, 2], 'list'), ({'a': 1}, 'dict')):
        with pytest.raises(SlurmError, match='environment variable V must be text, a number or a boolean, not a '
                                             + kind):
            vocabulary.environment({'V': value})
    with pytest.raises(SlurmError, match='invalid environment variable name'):
        vocabulary.environment({'1A': 'x'})
    with pytest.raises(SlurmError, match='must not contain a NUL'):
        vocabulary.environment({'A': 'x\x00y'})


@pytest.mark.parametrize('check, value, message', [
    (lambda value: vocabulary.text(value, 'reason'), 'a\x7fb', 'reason must not contain newlines'),
    (lambda value: vocabulary.text(value, 'wrap', newlines=True), 'a\x00b', 'wrap must not contain'),
    (lambda value: vocabulary.integer(value, 'ntasks', minimum=1), 0, 'ntasks must be at least 1, got 0'),
    (lambda value: vocabulary.integer(value, 'ntasks'), True, 'ntasks must be an integer, got True'),
    (vocabulary.valid_job_id, '0', 'invalid job id'),
    (vocabulary.valid_job_id, False, 'invalid job id'),
    (vocabulary.node_count, '2; reboot', 'nodes must be a number of nodes'),
    (vocabulary.node_state, 'sideways', "unknown node state 'sideways'"),
    (vocabulary.feature, 'a b', "invalid feature name 'a b'"),
    (vocabulary.job_action, 'explode', "unknown job action 'explode'"),
])
def test_refused(check, value, message):
    with pytest.raises(SlurmError, match=message):
        check(value)


def test_accepted():
    assert vocabulary.text('line\nnext\tx', 'wrap', newlines=True) == 'line\nnext\tx'
    assert vocabulary.valid_job_id(' 42 ') == 42 and vocabulary.valid_job_id(7) == 7
    assert vocabulary.node_count(2) == '2' and vocabulary.node_count('1-4') == '1-4'
    assert vocabulary.node_state('power_down_asap') == 'POWER_DOWN_ASAP'
    assert vocabulary.job_action('HOLD') == 'hold'
