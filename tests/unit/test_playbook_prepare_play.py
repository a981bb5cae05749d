# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml and add_nodes.yml: the play before the slurm play (the role's prepare.yml).

Under an order-free strategy it must run on every host of the slurm play: they read the
controller's files there before any of them writes (a host missing from it would read them
late and could miss a restart). Under linear it matches no host. The plays' own host
expressions are rendered with Ansible's templating, the configured strategy put in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

PLAYBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "playbooks")
STRATEGY_LOOKUP = "lookup('ansible.builtin.config', 'DEFAULT_STRATEGY')"


def _plays(name):
    with open(os.path.join(PLAYBOOKS, name)) as handle:
        plays = yaml.safe_load(handle)
    prepare = [play for play in plays if any(
        (task.get("ansible.builtin.include_role") or {}).get("tasks_from") == "prepare.yml"
        for task in play.get("tasks", []))]
    slurm = [play for play in plays if any(
        (role if isinstance(role, str) else role.get("role")) == "aiinfra.slurm.slurm"
        for role in play.get("roles", []))]
    assert len(prepare) == 1 and len(slurm) == 1, name
    return prepare[0]["hosts"], slurm[0]["hosts"]


def _hosts(expression, **variables):
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template(expression.replace(STRATEGY_LOOKUP, "configured_strategy")))


@pytest.mark.parametrize("playbook", ["site.yml", "add_nodes.yml"])
@pytest.mark.parametrize("extra", [{}, {"nodes": "lab-node3:lab-node4"}])
def test_the_play_before_covers_the_slurm_play_under_order_free_strategies(playbook, extra):
    prepare, slurm = _plays(playbook)
    assert STRATEGY_LOOKUP in prepare
    wanted = _hosts(slurm, **extra).strip()
    for strategy in ("free", "host_pinned", "mitogen_free", "ansible.builtin.free"):
        assert _hosts(prepare, configured_strategy=strategy, **extra).strip() == wanted, strategy
    for strategy in ("linear", "mitogen_linear", "ansible.builtin.linear"):
        assert _hosts(prepare, configured_strategy=strategy, **extra).strip() == "all:!all", strategy
