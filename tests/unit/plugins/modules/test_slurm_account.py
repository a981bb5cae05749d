# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# slurm_account fed with real sacctmgr and squeue output (tests/unit/fixtures/
# accounting/sacctmgr-VERSION.json, made by capture.py there). The cases are
# data (test_slurm_account.yml): the accounting state the reads answer from
# (the capture's "empty" or "tree" step), the params, the exact sacctmgr
# writes expected in order, and what the result must hold.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
from pathlib import Path

import pytest
import yaml

from ansible_collections.aiinfra.slurm.plugins.modules import slurm_account
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.slurm_cases import assert_subset, run_module

FIXTURES = Path(__file__).parents[2] / 'fixtures' / 'accounting'
VERSIONS = sorted(path.stem[len('sacctmgr-'):] for path in FIXTURES.glob('sacctmgr-*.json'))


def steps(version):
    return json.loads((FIXTURES / ('sacctmgr-%s.json' % version)).read_text())['steps']


class FakeSlurm(object):
    """Reads answer from the captured `state` (empty, tree); writes are recorded and answered by `answers`."""

    def __init__(self, version, state, jobs=False, answers=None):
        captured = steps(version)
        self.reads = dict((tuple(step['argv']), step) for step in captured if step['name'].startswith(state + '-'))
        self.named = dict((step['name'], step) for step in captured)
        self.active = self.named['squeue-active'] if jobs else None
        self.answers = answers or {}
        self.writes = []

    def run_command(self, args, environ_update=None, **kwargs):
        argv = [os.path.basename(args[0])] + [str(arg) for arg in args[1:]]
        assert environ_update == {'LC_ALL': 'C'}
        if tuple(argv) in self.reads:
            step = self.reads[tuple(argv)]
            return step['rc'], step['stdout'], step['stderr']
        if argv[0] == 'squeue':
            assert tuple(argv) == tuple(self.named['squeue-active']['argv'])
            return 0, self.active['stdout'] if self.active else '', ''
        assert argv[:2] in (['sacctmgr', '--immediate'], ['scancel', argv[1]]) and argv[1] != '--parsable2', \
            'unexpected read %s' % argv
        self.writes.append(argv)
        if argv[0] == 'scancel':
            self.active = None
        step = self.named.get(self.answers.get(len(self.writes)))
        return (step['rc'], step['stdout'], step['stderr']) if step else (0, '', '')


CASES = [pytest.param(case, version, id='%s-%s' % (version, case['id']))
         for case in yaml.safe_load(Path(__file__).with_suffix('.yml').read_text()) for version in VERSIONS]


@pytest.mark.parametrize('case, version', CASES)
def test_slurm_account(case, version):
    fake = FakeSlurm(version, case.get('state', 'tree'), jobs=case.get('jobs', False), answers=case.get('answers'))
    result = run_module(slurm_account.main, case['params'], fake, check_mode=case.get('check_mode', False),
                        diff=case.get('diff', False))
    jobs = [line.split('|')[0] for line in fake.named['squeue-active']['stdout'].split()]
    # "$JOBS" in an expected argv stands for the captured active job ids.
    writes = [sum([jobs if arg == '$JOBS' else [arg] for arg in argv], []) for argv in case['writes']]
    assert fake.writes == writes
    assert_subset(case['result'], result)
    if not case.get('check_mode') and not result.get('failed'):
        assert result['commands'] == [argv for argv in writes if argv[0] == 'sacctmgr']


def test_no_sacctmgr_fails_clearly():
    fake = FakeSlurm(VERSIONS[0], 'tree')
    result = run_module(slurm_account.main, {'accounts': [{'name': 'x'}]}, fake, bin_paths={})
    assert result['failed'] and 'sacctmgr not found' in result['msg'] and fake.writes == []
