# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The accounting layer alone: value normalization (tables), the reader fed
# with real sacctmgr output, grouping at scale, and finished jobs from real
# sacct output (tests/unit/fixtures/accounting/sacctmgr-VERSION.json).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time
from pathlib import Path

import pytest

from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_accounts as acc
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError

FIXTURES = Path(__file__).parents[2] / 'fixtures' / 'accounting'
VERSIONS = sorted(path.stem[len('sacctmgr-'):] for path in FIXTURES.glob('sacctmgr-*.json'))


def steps(version):
    return dict((step['name'], step) for step in json.loads(
        (FIXTURES / ('sacctmgr-%s.json' % version)).read_text())['steps'])


def reader(version, state):
    """run(argv) -> (rc, out, err) answering the reads of a captured state; writes are refused."""
    captured = dict((tuple(step['argv']), step) for name, step in steps(version).items()
                    if name.startswith(state + '-'))

    def run(argv):
        step = captured[tuple(argv)]
        return step['rc'], step['stdout'], step['stderr']
    return run


@pytest.mark.parametrize('value, expected', [
    (90, 90), ('90', 90), ('01:30:00', 90), ('2-00:00:00', 2880), ('2-12', 3600), ('1-02:03', 1563),
    ('10:30', 11), ('00:00:59', 1), (-1, None), ('-1', None), ('', None), (None, None), ('UNLIMITED', None),
])
def test_minutes(value, expected):
    assert acc.minutes(value) == expected


@pytest.mark.parametrize('value', ['3 days', '1:2:3:4', -5, '1.5', True])
def test_minutes_refused(value):
    with pytest.raises(SlurmError, match='max_wall must be minutes or a Slurm time'):
        acc.minutes(value)


@pytest.mark.parametrize('value, expected', [
    ('cpu=10,mem=4G', 'cpu=10,mem=4096'), ({'mem': '1T', 'cpu': 2}, 'cpu=2,mem=1048576'),
    ('mem=512M,gres/gpu:a100=2', 'gres/gpu:a100=2,mem=512'), ('cpu=4,mem=-1', 'cpu=4'), ('', ''), (-1, ''),
    ({'node': 3}, 'node=3'),
])
def test_tres(value, expected):
    assert acc.tres(value, 'grp_tres') == expected


@pytest.mark.parametrize('value, message', [
    ('cpu=-3', 'TRES cpu must be a whole number'), ('cpu', 'TRES cpu has no count'), ('cpu=1x', 'whole number'),
    ('CPU;rm=1', 'invalid TRES name'), (['cpu=1'], 'must be "name=count,..." or a dict'),
])
def test_tres_refused(value, message):
    with pytest.raises(SlurmError, match=message):
        acc.tres(value, 'grp_tres')


@pytest.mark.parametrize('value', ['a b', 'a,b', 'a=b', 'a;b', 'a\nb', '$(x)', 'A', '', '-a', 'a' * 65, None, 3])
def test_names_refused(value):
    with pytest.raises(SlurmError, match='invalid account name'):
        acc.name(value, 'account')


@pytest.mark.parametrize('version', VERSIONS)
def test_read_the_captured_tree(version):
    tree = acc.AccountingTree(reader(version, 'tree'))
    assert tree.cluster() == 'lab'
    state = tree.read('lab')
    assert state['qos']['cap_hi'] == {
        'description': 'cap_hi', 'priority': 10, 'grp_tres': 'cpu=8,mem=2048', 'grp_tres_mins': 'cpu=6000',
        'grp_jobs': None, 'grp_submit_jobs': None, 'max_jobs_per_user': 3, 'max_submit_jobs_per_user': None,
        'max_tres_per_job': '', 'max_tres_per_user': 'cpu=4', 'max_wall': 2880}
    phys = state['accounts']['cap_phys']
    assert phys == {
        'description': 'physics', 'organization': 'sci', 'parent': 'root', 'users': [], 'fairshare': 10,
        'grp_jobs': None, 'grp_submit_jobs': None, 'grp_tres': 'cpu=10,mem=4096', 'grp_tres_mins': 'cpu=1000',
        'max_jobs': 5, 'max_submit_jobs': 20, 'max_wall': 90, 'qos': ['cap_hi', 'normal'], 'default_qos': 'normal'}
    # WOPLimits: cap_theo shows nothing of cap_phys's limits.
    assert state['accounts']['cap_theo']['max_jobs'] is None and state['accounts']['cap_theo']['parent'] == 'cap_phys'
    assert sorted(state['accounts']['cap_theo']['users']) == ['cap_alice', 'cap_bob', 'root']
    assert state['users']['cap_alice']['admin_level'] == 'operator'
    assert state['users']['cap_alice']['accounts']['cap_theo']['max_jobs'] == 1
    assert state['users']['root']['accounts']['cap_theo']['fairshare'] == 'parent'
    assert sorted(state['users']['root']['accounts']) == ['cap_theo', 'root']


@pytest.mark.parametrize('version', VERSIONS)
def test_thousand_users_in_fifty_accounts_take_a_few_dozen_calls(version):
    accounts = [{'name': 'acct%02d' % index} for index in range(50)]
    users = [{'name': 'user%04d' % index, 'accounts': ['acct%02d' % (index % 50)], 'max_jobs': 10}
             for index in range(1000)]
    manager = acc.AccountsManager({'accounts': accounts, 'users': users})
    result = manager.run(reader(version, 'empty'), check_mode=True)
    assert len(result['commands']) == 51
    assert result['commands'][0][:5] == ['sacctmgr', '--immediate', 'add', 'account', ','.join(
        a['name'] for a in accounts)]
    first = result['commands'][1]
    assert first[4] == ','.join('user%04d' % index for index in range(0, 1000, 50))
    assert first[5:] == ['account=acct00', 'cluster=lab', 'DefaultAccount=acct00', 'MaxJobs=10']


@pytest.mark.parametrize('version', VERSIONS)
@pytest.mark.parametrize('name, expected', [
    ('completed', {'state': 'COMPLETED', 'exit_code': 0, 'nodes': 'lab-node[1-2]', 'name': 'wrap', 'time_limit': 90}),
    ('failed', {'state': 'FAILED', 'exit_code': 3, 'nodes': 'lab-node1'}),
    ('killed', {'state': 'FAILED', 'exit_code': 137, 'nodes': 'lab-node2'}),
    ('cancelled', {'state': 'CANCELLED', 'exit_code': 0, 'nodes': ''}),
])
def test_job_from_accounting(version, name, expected):
    step = steps(version)['sacct-' + name]
    job_id = step['argv'][step['argv'].index('-j') + 1]
    seen = []

    def run(argv):
        seen.append(argv)
        return step['stdout']
    job = acc.job_from_accounting(run, int(job_id))
    assert seen == [step['argv']]
    assert dict((key, job[key]) for key in expected) == expected
    assert job['job_id'] == int(job_id) and job['account'] == 'cap_theo' and job['user'] == 'root'
    first = step['stdout'].split('\n')[0].split('|')
    # ElapsedRaw, whole seconds: 0 or 1 for these short jobs depending on the run.
    assert job['partition'] and job['source'] == 'accounting' and job['elapsed'] == int(first[5])
    submit = first[10]
    assert job['submit_time'] == int(time.mktime(time.strptime(submit, '%Y-%m-%dT%H:%M:%S')))
    assert job['end_time'] >= job['submit_time']


@pytest.mark.parametrize('version', VERSIONS)
def test_job_from_accounting_unknown_job(version):
    step = steps(version)['sacct-unknown']
    assert acc.job_from_accounting(lambda argv: step['stdout'], 999999) is None


def test_sacctmgr_refusal_becomes_a_slurm_error_with_its_words():
    step = steps(VERSIONS[0])['delete-busy-account']
    tree = acc.AccountingTree(lambda argv: (step['rc'], step['stdout'], step['stderr']))
    with pytest.raises(SlurmError, match='Slurm refuses while jobs are active') as err:
        tree.call(step['argv'], 'sacctmgr delete account')
    assert err.value.details['rc'] == 1 and 'JobID' in err.value.details['stderr']


@pytest.mark.parametrize('version', VERSIONS)
def test_a_deep_new_branch_is_added_parent_first(version):
    chain = [{'name': 'lvl%02d' % index, 'parent': 'lvl%02d' % (index - 1) if index else 'root'} for index in range(12)]
    result = acc.AccountsManager({'accounts': list(reversed(chain))}).run(reader(version, 'empty'), check_mode=True)
    assert [argv[4] for argv in result['commands']] == ['lvl%02d' % index for index in range(12)]
    assert [argv[5] for argv in result['commands']] == ['parent=root'] + ['parent=lvl%02d' % i for i in range(11)]
