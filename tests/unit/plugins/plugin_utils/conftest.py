# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.aiinfra.slurm.plugins.plugin_utils import slurm_action


@pytest.fixture(autouse=True)
def no_scontrol_here(monkeypatch):
    """No Slurm command on the control node, and none of the connection variables in its environment."""
    monkeypatch.setattr(slurm_action.shutil, 'which', lambda name: None)
    for name in ('USE_SLURMRESTD', 'SLURM_REST_API_URL', 'SLURM_JWT', 'SLURM_JWT_TOKEN', 'SLURM_REST_API_USER',
                 'SLURM_TOKEN_FROM_HOST'):
        monkeypatch.delenv(name, raising=False)
