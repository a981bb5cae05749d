# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The operations (slurm_nodes, slurm_jobs) where Slurm fails half-way, and
# the records and answers that are not what Slurm normally sends: a backend
# that fails on cue, fed with nodes and jobs captured from real Slurm.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from unittest import mock

import pytest

from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_cli, slurm_data
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_cli import CliBackend
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_jobs import SUBMIT_TAG, JobManager
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_jobs import MODULE_ARGS as JOB_ARGS
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_nodes import MODULE_ARGS as NODE_ARGS
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_nodes import NodeManager
from ansible_collections.aiinfra.slurm.tests.unit.plugins.module_utils.test_slurm_rest import FakeSlurmrestd, backend
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.slurm_cases import (
    FakeCommands,
    fake_module,
    fixtures,
)


def params(module_args, **given):
    result = dict((key, spec.get('default')) for key, spec in module_args['argument_spec'].items())
    result.update(given)
    return result


def captured_nodes():
    """lab-node1 and lab-node2, idle, as `scontrol show node` printed them on 24.11."""
    return slurm_cli.parse_node_records(fixtures('24.11')['commands']['cluster/nodes_idle']['stdout'])


def captured_job():
    """Job `running_job` as `scontrol show job ID --json` printed it on 24.11."""
    return slurm_data.normalize_job(json.loads(fixtures('24.11')['commands']['jobs/running']['stdout'])['jobs'][0])


class Backend(object):
    """Slurm on cue: nodes and jobs as captured; update_nodes and submit_job fail as told."""

    name = 'cli'

    def __init__(self, update_errors=(), submit_errors=(), jobs=None, jobs_error=None):
        self.state = dict((node['name'], node) for node in captured_nodes())
        self.update_errors = list(update_errors)
        self.submit_errors = list(submit_errors)
        self.listed = jobs or []
        self.jobs_error = jobs_error
        self.calls = []

    def nodes(self, names=None):
        return [self.state[name] for name in names or sorted(self.state) if name in self.state]

    def update_nodes(self, names, state=None, reason=None, weight=None, features=None):
        self.calls.append(('update_nodes', list(names), state, weight))
        error = self.update_errors.pop(0)
        if error:
            raise error
        for name in names:
            self.state[name] = dict(self.state[name], weight=weight if weight is not None else
                                    self.state[name]['weight'])

    def submit_job(self, spec):
        self.calls.append(('submit_job', dict(spec)))
        error = self.submit_errors.pop(0)
        if error:
            raise error
        return 4242

    def jobs(self, job_ids=None):
        self.calls.append(('jobs', job_ids))
        if self.jobs_error and job_ids is None:
            raise self.jobs_error
        return [job for job in self.listed if job_ids is None or job['job_id'] in job_ids]


# -- slurm_node: a later group fails (issue 11, #7) ------------------------------------

def test_a_later_group_failing_reports_what_was_applied():
    slurm = Backend(update_errors=[None, SlurmError('slurmctld cannot be reached', rc=1)])
    # lab-node1 has the feature and needs the weight only, lab-node2 both: two groups, two calls.
    slurm.state['lab-node1'] = dict(slurm.state['lab-node1'], features=['capture_a'])
    manager = NodeManager(params(NODE_ARGS, names='lab-node[1-2]', weight=3, features=['capture_a']))
    with pytest.raises(SlurmError) as caught:
        manager.run(slurm)
    assert sorted(call[1] for call in slurm.calls) == [['lab-node1'], ['lab-node2']]
    err = caught.value
    assert err.details['changed'] is True
    assert err.details['updates'] == [dict(names=slurm.calls[0][1][0], weight=3, **(
        {'features': ['capture_a']} if slurm.calls[0][1] == ['lab-node2'] else {}))]
    assert err.details['failed_update']['names'] == slurm.calls[1][1][0]
    assert err.details['rc'] == 1 and '1 of 2 updates were applied' in err.msg


def test_the_first_group_failing_changed_nothing():
    slurm = Backend(update_errors=[SlurmError('slurmctld cannot be reached', rc=1)])
    manager = NodeManager(params(NODE_ARGS, names=['lab-node1', 'lab-node2'], weight=9))
    with pytest.raises(SlurmError) as caught:
        manager.run(slurm)
    assert caught.value.details['changed'] is False and caught.value.details['updates'] == []
    assert caught.value.msg == 'slurmctld cannot be reached'


def test_names_are_expanded_once_and_reach_the_backend_as_a_list():
    slurm = Backend(update_errors=[None])
    result = NodeManager(params(NODE_ARGS, names='lab-node[1-2],lab-node1', weight=9)).run(slurm)
    assert slurm.calls == [('update_nodes', ['lab-node1', 'lab-node2'], None, 9)]
    assert result['changed'] is True and result['updates'] == [{'names': 'lab-node[1-2]', 'weight': 9}]


# -- slurm_job submit: a lost answer never makes a second job (issue 11, #8) -----------

def _timeout():
    return SlurmError('slurmrestd at http://ctl:6820 did not answer within 30 seconds', transient=True,
                      unsure=True, url='http://ctl:6820')


def _submit_params():
    return params(JOB_ARGS, action='submit', wrap='sleep 600', name='capture-running')


def test_submit_is_tagged():
    slurm = Backend(submit_errors=[None])
    JobManager(_submit_params()).submit(slurm, check_mode=False)
    comment = slurm.calls[0][1]['comment']
    assert comment.startswith(SUBMIT_TAG) and len(comment) == len(SUBMIT_TAG) + 32


def test_a_timed_out_submit_that_went_through_is_found_by_its_tag():
    job = captured_job()
    slurm = Backend(submit_errors=[_timeout()])

    def jobs(job_ids=None):
        tag = slurm.calls[0][1]['comment']
        slurm.calls.append(('jobs', job_ids))
        return [dict(job, comment=tag)]

    slurm.jobs = jobs
    result = JobManager(_submit_params()).submit(slurm, check_mode=False)
    assert result['job_id'] == job['job_id'] and result['changed'] is True
    assert [call[0] for call in slurm.calls] == ['submit_job', 'jobs', 'jobs']


def test_a_timed_out_submit_that_did_not_go_through_is_made_again_with_the_same_tag():
    slurm = Backend(submit_errors=[_timeout(), None], jobs=[captured_job()])
    result = JobManager(_submit_params()).submit(slurm, check_mode=False)
    submits = [call[1] for call in slurm.calls if call[0] == 'submit_job']
    assert len(submits) == 2 and submits[0]['comment'] == submits[1]['comment']
    assert result['job_id'] == 4242


def test_submit_gives_up_after_a_few_attempts_naming_the_tag():
    slurm = Backend(submit_errors=[_timeout(), _timeout(), _timeout()])
    with pytest.raises(SlurmError) as caught:
        JobManager(_submit_params()).submit(slurm, check_mode=False)
    assert 'submitted 3 times, no job with comment aiinfra-submit-' in caught.value.msg
    assert caught.value.details['submit_tag'].startswith(SUBMIT_TAG)


def test_when_the_tag_cannot_be_looked_for_the_error_says_so():
    slurm = Backend(submit_errors=[_timeout()], jobs_error=SlurmError('slurmctld cannot be reached'))
    with pytest.raises(SlurmError, match='the job may have been submitted: look for comment aiinfra-submit-'):
        JobManager(_submit_params()).submit(slurm, check_mode=False)
    assert len([call for call in slurm.calls if call[0] == 'submit_job']) == 1


def test_a_refused_submit_is_not_repeated():
    slurm = Backend(submit_errors=[SlurmError('the partition does not exist', rc=1)])
    with pytest.raises(SlurmError, match='the partition does not exist'):
        JobManager(_submit_params()).submit(slurm, check_mode=False)
    assert [call[0] for call in slurm.calls] == ['submit_job']


# -- which errors are worth waiting out ------------------------------------------------

@pytest.mark.parametrize('release, name, transient, unsure', [
    ('24.11', 'slurmctld-stopped', True, False),
    ('22.05', 'slurmctld-stopped', True, False),
    ('24.11', 'slurmrestd-stopped', True, False),
    ('22.05', 'slurmrestd-stopped', True, False),
    ('24.11', 'auth-bad-token', False, False),
    ('22.05', 'router-unknown-path', False, False),
])
def test_rest_errors_say_whether_they_pass(monkeypatch, release, name, transient, unsure):
    server = FakeSlurmrestd(monkeypatch, release)
    record = server.serve(name)
    path = record['request']['path']
    pinned = path.split('/')[2]
    rest = backend(api_version=pinned) if pinned.startswith('v0.0.') else backend()
    with pytest.raises(SlurmError) as caught:
        rest._call(record['request']['method'], path.split('/', 3)[3])
    assert (caught.value.transient, caught.value.unsure) == (transient, unsure)
    assert 'transient' not in caught.value.details and 'unsure' not in caught.value.details


@pytest.mark.parametrize('version', ['22.05', '24.11'])
def test_cli_errors_say_whether_they_pass(version):
    runner = FakeCommands(version, ['down/update'])
    with pytest.raises(SlurmError) as caught:
        CliBackend(fake_module(runner)).update_nodes(['lab-node1'], state='DRAIN', reason='capture')
    assert caught.value.transient and not caught.value.unsure
    runner = FakeCommands(version, ['jobs/submit_bad_partition'])
    with pytest.raises(SlurmError) as caught:
        CliBackend(fake_module(runner)).submit_job({'name': 'capture-bad', 'wrap': 'true',
                                                    'partition': 'nosuch-partition'})
    assert not caught.value.transient


# -- answers that are not what Slurm sends (issue 11, #10) ------------------------------

@pytest.mark.parametrize('normalize, what', [(slurm_data.normalize_node, 'node'), (slurm_data.normalize_job, 'job'),
                                             (slurm_data.normalize_partition, 'partition')])
@pytest.mark.parametrize('raw', ['lab-node1', ['a'], None, 7])
def test_records_that_are_not_objects(normalize, what, raw):
    with pytest.raises(SlurmError, match='Slurm sent a %s record that is not a JSON object' % what):
        normalize(raw)


@pytest.mark.parametrize('stdout', ['[]', '"jobs"', '7', 'null'])
def test_cli_json_that_is_not_an_object(stdout):
    module = fake_module(FakeCommands('24.11', []))
    module.run_command.side_effect = None
    module.run_command.return_value = (0, stdout, '')
    with mock.patch.object(slurm_cli, '_ReadAll', lambda: None):
        with pytest.raises(SlurmError, match='printed JSON that is not an object'):
            CliBackend(module)._json(['squeue', '--json'])


def test_rest_lists_of_non_objects(monkeypatch):
    server = FakeSlurmrestd(monkeypatch, '24.11')
    record = server.serve('v0.0.42-nodes-idle')
    record['body'] = dict(record['body'], nodes=['lab-node1'])
    with pytest.raises(SlurmError, match='not a JSON object'):
        backend().nodes()
