# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# slurm_node with the CLI backend, fed with real Slurm 22.05 and 24.11 output:
# the cases are data (test_slurm_node.yml, see slurm_cases.py); then the state
# rules alone.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest

from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_nodes
from ansible_collections.aiinfra.slurm.plugins.modules import slurm_node
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.slurm_cases import cases, check_case


@pytest.mark.parametrize('case, version', cases(Path(__file__).with_suffix('.yml')))
def test_slurm_node(case, version):
    check_case(slurm_node.main, case, version)


def node(state='idle', flags=(), reason=''):
    return {'name': 'n1', 'state': state, 'flags': list(flags), 'reason': reason, 'weight': 1, 'features': []}


# (node, state, reason, whether State= must be sent)
RULES = [
    (node(), 'resume', None, False),
    (node('allocated'), 'resume', None, False),
    (node('mixed', ['DRAIN']), 'resume', None, True),
    (node('down', ['NOT_RESPONDING']), 'resume', None, True),
    (node('future'), 'resume', None, True),
    (node('idle', ['REBOOT_REQUESTED']), 'resume', None, True),
    (node('idle', ['POWERING_DOWN']), 'resume', None, True),
    (node('idle', ['DRAIN'], 'x'), 'drain', 'x', False),
    (node('idle', ['DRAIN'], 'x'), 'drain', 'y', True),
    (node('down', [], 'x'), 'down', 'x', False),
    (node('idle', ['DRAIN']), 'idle', None, True),
    (node('allocated'), 'idle', None, True),
    (node('idle', ['POWERED_DOWN']), 'power_down_asap', None, False),
    (node('mixed', ['POWER_DOWN']), 'power_down_force', None, True),
    (node('idle', ['POWER_DOWN']), 'power_down_force', None, False),
    (node('idle', ['POWERING_UP']), 'power_up', None, False),
    (node('idle', ['POWER_DOWN', 'POWER_UP']), 'power_up', None, True),
]


@pytest.mark.parametrize('current, state, reason, send', RULES)
def test_needs_state(current, state, reason, send):
    assert slurm_nodes.needs_state(current, state, reason) is send


def test_expected_after_power_down_asap():
    after = slurm_nodes.expected(node('mixed'), 'power_down_asap', None)
    assert after['flags'] == ['DRAIN', 'POWER_DOWN'] and after['state'] == 'mixed'


def test_node_groups_name_nodes_alike_with_one_hostlist_in_order():
    drained = {'state': 'down', 'flags': ['DRAIN'], 'reason': 'x'}
    down = {'state': 'down', 'flags': [], 'reason': ''}
    views = [('scale%05d' % i, True, down, drained) for i in range(1, 10001)]
    views.insert(5, ('gpu1', False, drained, drained))
    groups = slurm_nodes.node_groups(views)
    assert groups == [
        {'names': 'scale[00001-10000]', 'count': 10000, 'changed': True, 'before': down, 'after': drained},
        {'names': 'gpu1', 'count': 1, 'changed': False, 'before': drained, 'after': drained},
    ]
