# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# slurm_cluster_facts with the CLI backend, fed with real Slurm 22.05 and 24.11
# output: the cases are data (test_slurm_cluster_facts.yml, see slurm_cases.py).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest

from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_facts
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.modules import slurm_cluster_facts
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.slurm_cases import cases, check_case


@pytest.mark.parametrize('case, version', cases(Path(__file__).with_suffix('.yml')))
def test_slurm_cluster_facts(case, version):
    check_case(slurm_cluster_facts.main, case, version)


class _NoClusterName(object):
    """A backend that cannot tell the cluster name (slurmrestd 22.05 with no job and no scontrol)."""

    name = 'rest'

    def version(self):
        return '22.05.8'

    def cluster_name(self):
        raise SlurmError('Slurm 22.05.8 answers the cluster name through REST API v0.0.38 only in job records')


def test_unknown_cluster_name_is_a_warning():
    warnings = []
    facts = slurm_facts.gather(_NoClusterName(), {'version'}, warnings.append)
    assert facts == {'version': '22.05.8', 'cluster_name': None}
    assert warnings and 'only in job records' in warnings[0]
