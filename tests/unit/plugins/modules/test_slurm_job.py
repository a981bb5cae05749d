# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# slurm_job with the CLI backend, fed with real Slurm 22.05 and 24.11 output:
# the cases are data (test_slurm_job.yml, see slurm_cases.py).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path
from unittest import mock

import pytest

from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_jobs
from ansible_collections.aiinfra.slurm.plugins.modules import slurm_job
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.slurm_cases import cases, check_case


@pytest.mark.parametrize('case, version', cases(Path(__file__).with_suffix('.yml')))
def test_slurm_job(case, version):
    # `wait` polls: no real sleeping here.
    with mock.patch('time.sleep'):
        check_case(slurm_job.main, case, version)


@pytest.mark.parametrize('job, held', [
    ({'state': 'PENDING', 'hold': True, 'reason': 'JobHeldUser'}, True),
    ({'state': 'RUNNING', 'hold': True, 'reason': 'JobHeldAdmin'}, True),
    # Slurm zeroes a suspended job's priority: not held.
    ({'state': 'SUSPENDED', 'hold': True, 'reason': ''}, False),
    ({'state': 'PENDING', 'hold': False, 'reason': 'Resources'}, False),
])
def test_is_held(job, held):
    assert slurm_jobs.is_held(job) is held
