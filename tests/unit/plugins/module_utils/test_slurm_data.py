# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The normalizers against real records: every JSON shape of Slurm 22.05 and
# 24.11 (tests/unit/fixtures/slurm/{rest,cli}-*/, made by capture_rest.py
# there), taken at the same moments of one scenario. What the scenario made
# (a drained busy node, a job that timed out, ...) must come out the same from
# every shape; the corners no capture reaches use small records marked
# synthetic.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from pathlib import Path

import pytest

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_data import (
    INFINITE,
    NO_VAL,
    TERMINAL_JOB_STATES,
    node_status,
    normalize_job,
    normalize_node,
    normalize_partition,
    number,
)

FIXTURES = Path(__file__).parents[2] / 'fixtures' / 'slurm'


def load(path):
    """The JSON document of a fixture: a REST answer's body, or a CLI's output."""
    doc = json.loads((FIXTURES / path).read_text())
    return doc['body'] if 'request' in doc else doc


# Every shape, per moment of the scenario. {label} is busy, done or down.
NODE_SOURCES = [
    'rest-22.05/v0.0.38-nodes-{label}.json',
    'cli-22.05/sinfo-json-{label}.json',
    'rest-24.11/v0.0.40-nodes-{label}.json',
    'rest-24.11/v0.0.41-nodes-{label}.json',
    'rest-24.11/v0.0.42-nodes-{label}.json',
    'cli-24.11/scontrol-show-node-json-{label}.json',
]
JOB_SOURCES = [
    'rest-22.05/v0.0.38-jobs-{label}.json',
    'cli-22.05/squeue-json-{label}.json',
    'rest-24.11/v0.0.40-jobs-{label}.json',
    'rest-24.11/v0.0.41-jobs-{label}.json',
    'rest-24.11/v0.0.42-jobs-{label}.json',
    'cli-24.11/scontrol-show-job-json-{label}.json',
    'cli-24.11/squeue-json-{label}.json',
]
PARTITION_SOURCES = [
    'rest-22.05/v0.0.38-partitions-{label}.json',
    'rest-24.11/v0.0.40-partitions-{label}.json',
    'rest-24.11/v0.0.41-partitions-{label}.json',
    'rest-24.11/v0.0.42-partitions-{label}.json',
    'cli-24.11/scontrol-show-partition-json-{label}.json',
]


def nodes_of(source, label):
    return {node['name']: node for node in map(normalize_node, load(source.format(label=label))['nodes'])}


def jobs_of(source, label):
    return {job['name']: job for job in map(normalize_job, load(source.format(label=label))['jobs'])}


# What capture_rest.py made happen, as (moment, node, expected fields, status).
# Flags are checked as a subset: a node can be NOT_RESPONDING for a moment
# after a state change, and the capture keeps that.
NODE_CASES = [
    ('busy', 'lab-node1', {'state': 'allocated', 'features': ['cap', 'fast'], 'weight': 7}, set(), None),
    ('busy', 'lab-node2', {'state': 'allocated', 'reason': 'cap drain', 'features': [], 'weight': 1},
     {'DRAIN'}, 'failed'),
    ('done', 'lab-node1', {'state': 'mixed', 'features': ['cap', 'fast'], 'weight': 7}, set(), None),
    ('done', 'lab-node2', {'state': 'idle', 'reason': 'cap drain'}, {'DRAIN'}, 'failed'),
    ('down', 'lab-node1', {'state': 'down', 'reason': 'cap-down'}, set(), 'failed'),
    ('down', 'lab-node2', {'state': 'idle', 'reason': 'cap drain'}, {'DRAIN'}, 'failed'),
]


@pytest.mark.parametrize('source', NODE_SOURCES)
@pytest.mark.parametrize('label, name, fields, flags, status', NODE_CASES)
def test_node_scenario(source, label, name, fields, flags, status):
    node = nodes_of(source, label)[name]
    assert dict((key, node[key]) for key in fields) == fields
    assert flags <= set(node['flags'])
    assert node['partitions'] == ['main']
    assert node['address'] == name
    assert node['cpus'] > 0 and node['real_memory'] > 0
    if status:
        assert node_status(node) == status


@pytest.mark.parametrize('label', ['busy', 'done', 'down'])
@pytest.mark.parametrize('release', ['22.05', '24.11'])
def test_node_shapes_agree(release, label):
    """At one moment, every shape of one release normalizes to the same nodes."""
    sources = [source for source in NODE_SOURCES if release in source]
    first = nodes_of(sources[0], label)
    for source in sources[1:]:
        assert nodes_of(source, label) == first, source


def test_node_exact_22_05():
    node = nodes_of('rest-22.05/v0.0.38-nodes-{label}.json', 'busy')['lab-node2']
    assert node == {
        'name': 'lab-node2', 'state': 'allocated', 'flags': ['DRAIN'], 'cpus': 2, 'real_memory': 24105,
        'features': [], 'partitions': ['main'], 'reason': 'cap drain', 'weight': 1, 'address': 'lab-node2',
    }


def test_node_exact_24_11():
    node = nodes_of('rest-24.11/v0.0.42-nodes-{label}.json', 'done')['lab-node1']
    assert node == {
        'name': 'lab-node1', 'state': 'mixed', 'flags': [], 'cpus': 2, 'real_memory': 24105,
        'features': ['cap', 'fast'], 'partitions': ['main'], 'reason': node['reason'], 'weight': 7,
        'address': 'lab-node1',
    }


# node_status() on synthetic normalized nodes: (base, flags, status).
NODE_STATUS_CASES = [
    ('idle', [], 'running'),
    ('allocated', [], 'running'),
    ('mixed', [], 'running'),
    ('idle', ['POWERED_DOWN'], 'running'),
    ('down', [], 'failed'),
    ('down', ['NOT_RESPONDING'], 'failed'),
    ('error', [], 'failed'),
    ('idle', ['DRAIN'], 'failed'),
    ('allocated', ['DRAIN'], 'failed'),
    ('mixed', ['FAIL'], 'failed'),
    # Failed wins over maintenance.
    ('idle', ['DRAIN', 'MAINTENANCE'], 'failed'),
    ('idle', ['MAINTENANCE'], 'maintenance'),
    ('allocated', ['RESERVED'], 'maintenance'),
    ('reserved', [], 'maintenance'),
    ('idle', ['NOT_RESPONDING'], 'unknown'),
    ('unknown', [], 'unknown'),
    ('future', [], 'unknown'),
]


@pytest.mark.parametrize('state, flags, status', NODE_STATUS_CASES)
def test_node_status(state, flags, status):
    assert node_status({'state': state, 'flags': flags}) == status


# Node state shapes: (raw state, raw state_flags, base, flags); synthetic.
NODE_STATE_CASES = [
    ('idle', [], 'idle', []),
    ('mixed', ['DRAIN'], 'mixed', ['DRAIN']),
    (['IDLE'], None, 'idle', []),
    (['IDLE', 'DRAIN', 'NOT_RESPONDING'], None, 'idle', ['DRAIN', 'NOT_RESPONDING']),
    (['DRAIN', 'DOWN'], None, 'down', ['DRAIN']),
    (['CLOUD'], None, 'unknown', ['CLOUD']),
    (None, None, 'unknown', []),
]


@pytest.mark.parametrize('state, state_flags, base, flags', NODE_STATE_CASES)
def test_node_state_shapes(state, state_flags, base, flags):
    node = normalize_node({'name': 'n1', 'state': state, 'state_flags': state_flags})
    assert (node['state'], node['flags']) == (base, flags)


# Jobs of the scenario: (moment, job name, expected fields). Pending and running
# jobs are in every source; squeue leaves out those that are over.
COMMON_JOB = {'user': 'root', 'partition': 'main', 'flags': []}
JOB_CASES = [
    ('busy', 'cap-complete', {'state': 'COMPLETED', 'exit_code': 0, 'hold': False, 'reason': '',
                              'time_limit': None}),
    ('busy', 'cap-fail', {'state': 'FAILED', 'exit_code': 3, 'reason': 'NonZeroExitCode'}),
    # Cancelled through REST while running: killed by TERM.
    ('busy', 'cap-cancel', {'state': 'CANCELLED', 'exit_code': 143, 'nodes': 'lab-node1'}),
    ('busy', 'cap-run', {'state': 'RUNNING', 'exit_code': None, 'nodes': 'lab-node1', 'hold': False,
                         'time_limit': None}),
    ('busy', 'cap-timeout', {'state': 'RUNNING', 'time_limit': 1, 'nodes': 'lab-node1'}),
    ('busy', 'cap-excl', {'state': 'RUNNING', 'nodes': 'lab-node2'}),
    # Held through REST, then its time limit set to 30 minutes.
    ('busy', 'cap-pend', {'state': 'PENDING', 'hold': True, 'priority': 0, 'reason': 'JobHeldAdmin',
                          'time_limit': 30, 'nodes': '', 'exit_code': None, 'start_time': None}),
    ('busy', 'cap-held', {'state': 'PENDING', 'hold': True, 'priority': 0, 'reason': 'JobHeldUser'}),
    # Completed, then `scontrol requeuehold`.
    ('busy', 'cap-requeue', {'state': 'PENDING', 'hold': True, 'reason': 'JobHeldUser', 'exit_code': None}),
    ('done', 'cap-timeout', {'state': 'TIMEOUT', 'exit_code': 143, 'reason': 'TimeLimit', 'time_limit': 1}),
    # Sent TERM through REST: the batch script dies of it.
    ('done', 'cap-excl', {'state': 'FAILED', 'exit_code': 143, 'nodes': 'lab-node2'}),
    ('done', 'cap-run', {'state': 'RUNNING'}),
]


@pytest.mark.parametrize('source', JOB_SOURCES)
@pytest.mark.parametrize('label, name, fields', JOB_CASES)
def test_job_scenario(source, label, name, fields):
    jobs = jobs_of(source, label)
    if name not in jobs:
        assert 'squeue' in source and fields['state'] in TERMINAL_JOB_STATES, 'missing from ' + source
        return
    job = jobs[name]
    expected = dict(COMMON_JOB, **fields)
    assert dict((key, job[key]) for key in expected) == expected
    assert job['job_id'] > 0
    assert job['submit_time'] > 1.7e9
    if job['state'] != 'PENDING':
        assert job['start_time'] >= job['submit_time']


@pytest.mark.parametrize('source', [source for source in JOB_SOURCES if 'rest-' in source])
def test_rest_submitted_jobs(source):
    """The jobs the capture submitted through REST, with a 5 minute limit."""
    jobs = jobs_of(source, 'busy')
    submitted = [job for name, job in jobs.items() if name.startswith('cap-rest-')]
    assert submitted
    for job in submitted:
        assert (job['state'], job['exit_code'], job['time_limit']) == ('COMPLETED', 0, 5)


@pytest.mark.parametrize('label', ['busy', 'done'])
@pytest.mark.parametrize('release', ['22.05', '24.11'])
def test_job_shapes_agree(release, label):
    """At one moment, every shape of one release normalizes to the same jobs."""
    sources = [source for source in JOB_SOURCES if release in source]
    first = jobs_of(sources[0], label)
    for source in sources[1:]:
        jobs = jobs_of(source, label)
        assert jobs == dict((name, first[name]) for name in jobs), source


# Job state shapes: (raw job_state, base, flags); synthetic. v0.0.38 names a
# flag alone while it is set; v0.0.40+ list the base first.
JOB_STATE_CASES = [
    ('RUNNING', 'RUNNING', []),
    ('COMPLETING', 'RUNNING', ['COMPLETING']),
    ('CONFIGURING', 'RUNNING', ['CONFIGURING']),
    ('REQUEUED', 'PENDING', ['REQUEUED']),
    ('REQUEUE_HOLD', 'PENDING', ['REQUEUE_HOLD']),
    (['PENDING'], 'PENDING', []),
    (['CANCELLED', 'COMPLETING'], 'CANCELLED', ['COMPLETING']),
    (['COMPLETING', 'COMPLETED'], 'COMPLETED', ['COMPLETING']),
    (['PENDING', 'REQUEUED'], 'PENDING', ['REQUEUED']),
    (['OUT_OF_MEMORY'], 'OUT_OF_MEMORY', []),
    (None, 'UNKNOWN', []),
]


@pytest.mark.parametrize('job_state, base, flags', JOB_STATE_CASES)
def test_job_state_shapes(job_state, base, flags):
    job = normalize_job({'job_id': 1, 'job_state': job_state})
    assert (job['state'], job['flags']) == (base, flags)


# exit_code: (raw exit_code, expected) for a job that is over; synthetic but
# in the captured shapes (22.05: the wait status; 24.11: status, code, signal).
EXIT_CODE_CASES = [
    (0, 0),
    (768, 3),
    (15, 143),
    (9, 137),
    (None, None),
    ({'status': ['SUCCESS'], 'return_code': {'set': True, 'infinite': False, 'number': 0},
      'signal': {'id': {'set': False, 'infinite': False, 'number': 0}, 'name': ''}}, 0),
    ({'status': ['ERROR'], 'return_code': {'set': True, 'infinite': False, 'number': 3},
      'signal': {'id': {'set': False, 'infinite': False, 'number': 0}, 'name': ''}}, 3),
    ({'status': ['SIGNALED'], 'return_code': {'set': False, 'infinite': False, 'number': 0},
      'signal': {'id': {'set': True, 'infinite': False, 'number': 9}, 'name': 'KILL'}}, 137),
]


@pytest.mark.parametrize('raw, expected', EXIT_CODE_CASES)
def test_exit_code(raw, expected):
    assert normalize_job({'job_state': 'FAILED', 'exit_code': raw})['exit_code'] == expected
    # Not over yet: no exit code, whatever Slurm fills in.
    assert normalize_job({'job_state': ['RUNNING'], 'exit_code': raw})['exit_code'] is None


@pytest.mark.parametrize('label', ['busy', 'done', 'down'])
@pytest.mark.parametrize('source', PARTITION_SOURCES)
def test_partition(source, label):
    partitions = [normalize_partition(raw) for raw in load(source.format(label=label))['partitions']]
    # 24.11's records have no Default flag at all.
    default = True if '22.05' in source else None
    assert partitions == [{'name': 'main', 'state': 'UP', 'nodes': 'lab-node[1-2]', 'total_nodes': 2,
                           'total_cpus': partitions[0]['total_cpus'], 'default': default, 'max_time': None}]
    assert partitions[0]['total_cpus'] == 4


def test_partition_limits():
    # Synthetic: a 2-day MaxTime in both shapes, and a partition that is not the default.
    assert normalize_partition({'name': 'p', 'state': 'DOWN', 'flags': [], 'max_time_limit': 2880}) == {
        'name': 'p', 'state': 'DOWN', 'nodes': '', 'total_nodes': 0, 'total_cpus': 0, 'default': False,
        'max_time': 2880}
    raw = {'name': 'p', 'nodes': {'configured': 'n[1-2]', 'total': 2}, 'cpus': {'total': 8},
           'partition': {'state': ['DRAIN']}, 'maximums': {'time': {'set': True, 'infinite': False, 'number': 2880}}}
    assert normalize_partition(raw)['max_time'] == 2880
    assert normalize_partition(raw)['state'] == 'DRAIN'


NUMBER_CASES = [
    (5, 5),
    (0, 0),
    (-1, -1),
    (None, None),
    (True, None),
    (2.0, 2),
    ('24', 24),
    ('x', None),
    (NO_VAL, None),
    (INFINITE, None),
    ({'set': True, 'infinite': False, 'number': 30}, 30),
    ({'set': False, 'infinite': False, 'number': 0}, None),
    ({'set': False, 'infinite': True, 'number': 0}, None),
    ({'set': True, 'infinite': True, 'number': 0}, None),
]


@pytest.mark.parametrize('value, expected', NUMBER_CASES)
def test_number(value, expected):
    assert number(value) == expected


def test_number_default_and_infinite():
    assert number(None, 0) == 0
    assert number({'set': False, 'infinite': True, 'number': 0}, 7) == 7


def test_terminal_states():
    assert TERMINAL_JOB_STATES == {'COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED',
                                   'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY'}
