# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# RestBackend against real slurmrestd answers of Slurm 22.05 and 24.11
# (tests/unit/fixtures/slurm/rest-*/, made by capture_rest.py there), served by
# a fake open_url. Where the capture sent what the backend sends, the test
# also checks that the backend's request body is exactly the captured one.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import io
import json
import re
from pathlib import Path
from urllib.error import HTTPError, URLError

import pytest
import yaml
from unittest.mock import MagicMock

from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_rest
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_cli import CliBackend
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_data import normalize_job, normalize_node
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_rest import RestBackend

FIXTURES = Path(__file__).parents[2] / 'fixtures' / 'slurm'
URL = 'http://slurm.example:6820'
OFFERED = {'22.05': ('v0.0.38',), '24.11': ('v0.0.40', 'v0.0.41', 'v0.0.42')}


def jwt(claims):
    """A token shaped like `scontrol token`'s (not signed: slurmrestd is fake here)."""
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip('=')
    return '%s.%s.c2lnbmF0dXJl' % (part({'alg': 'HS256', 'typ': 'JWT'}), part(claims))


TOKEN = jwt({'exp': 1795436000, 'iat': 1795432400, 'sun': 'root'})


def fixture(release, name):
    return json.loads((FIXTURES / ('rest-' + release) / (name + '.json')).read_text())


def job_id_in(record):
    return int(re.search(r'/job/(\d+)', record['request']['path']).group(1))


class Response:
    def __init__(self, status, text, content_type):
        self.status, self.text = status, text
        self.headers = {'Content-Type': content_type}

    def getcode(self):
        return self.status

    def read(self):
        return self.text.encode()


class FakeSlurmrestd:
    """Answers requests with captured records, by method and path."""

    def __init__(self, monkeypatch, release):
        self.release = release
        self.routes = {}
        self.requests = []
        monkeypatch.setattr(slurm_rest, 'open_url', self.open_url)
        # Negotiation: the ping of each version the release serves, the router's 404 (the same text for any
        # unknown URL) for the others, and the list of versions.
        self.serve('openapi-v3')
        for version in slurm_rest.SUPPORTED_API_VERSIONS:
            if version in OFFERED[release]:
                self.serve(version + '-ping')
            else:
                self.serve('router-unknown-version', path='/slurm/%s/ping' % version)

    def serve(self, name, method=None, path=None):
        """Answer method+path (default: the captured request's) with fixture `name`."""
        record = fixture(self.release, name)
        key = (method or record['request']['method'], (path or record['request']['path']).rstrip('/'))
        self.routes[key] = record
        return record

    def open_url(self, url, data=None, headers=None, method=None, **kwargs):
        assert url.startswith(URL)
        path = url[len(URL):].rstrip('/')
        self.requests.append({'method': method, 'path': path, 'headers': dict(headers or {}),
                              'body': json.loads(data) if data else None, 'timeout': kwargs.get('timeout')})
        record = self.routes.get((method, path))
        if record is None:
            raise AssertionError('unexpected request %s %s' % (method, path))
        if 'error' in record:
            # What urllib raised at capture time (its text is in the record).
            assert 'Connection refused' in record['error']
            raise URLError(ConnectionRefusedError(111, 'Connection refused'))
        body = record['body']
        text = body if isinstance(body, str) else json.dumps(body)
        if record['status'] >= 400:
            raise HTTPError(url, record['status'], 'error', {'Content-Type': record['content_type']},
                            io.BytesIO(text.encode()))
        return Response(record['status'], text, record['content_type'])

    def sent(self, method=None):
        return [request for request in self.requests if method in (None, request['method'])]


@pytest.fixture
def old(monkeypatch):
    """Slurm 22.05.8, REST v0.0.38."""
    return FakeSlurmrestd(monkeypatch, '22.05')


@pytest.fixture
def new(monkeypatch):
    """Slurm 24.11.5, REST v0.0.40 to v0.0.42."""
    return FakeSlurmrestd(monkeypatch, '24.11')


class FakeCli:
    """The CLI backend as RestBackend sees it: records what it is handed."""

    def __init__(self):
        self.calls = []

    def update_nodes(self, names, **kwargs):
        self.calls.append(('update_nodes', names, kwargs))

    def control_job(self, job_id, action):
        self.calls.append(('control_job', job_id, action))

    def cluster_name(self):
        return 'from-cli'


def backend(**kwargs):
    return RestBackend(URL, TOKEN, **kwargs)


# -- negotiation and headers ----------------------------------------------------

@pytest.mark.parametrize('release, expected', [('22.05', 'v0.0.38'), ('24.11', 'v0.0.42')])
def test_negotiates_newest_version(monkeypatch, release, expected):
    server = FakeSlurmrestd(monkeypatch, release)
    rest = backend()
    assert rest.api_version == expected
    # The newest version's ping; the list of versions (1.6 MB from 24.11) only where that is missing.
    assert [(request['method'], request['path']) for request in server.requests] == \
        [('GET', '/slurm/v0.0.42/ping')] + ([('GET', '/openapi/v3')] if release == '22.05' else [])
    request = server.requests[0]
    # 22.05 wants both; the user name comes from the token.
    assert request['headers']['X-SLURM-USER-NAME'] == 'root'
    assert request['headers']['X-SLURM-USER-TOKEN'] == TOKEN


def test_pinned_version(new):
    rest = backend(api_version='v0.0.40', user='alice')
    assert rest.api_version == 'v0.0.40'
    new.serve('v0.0.40-ping')
    assert rest.version() == '24.11.5'
    assert new.requests[-1]['headers']['X-SLURM-USER-NAME'] == 'alice'


def test_pinned_version_not_offered(new):
    with pytest.raises(SlurmError, match=r'does not offer Slurm REST API v0.0.39 \(it offers: v0.0.40, v0.0.41, '
                                         r'v0.0.42\)'):
        backend(api_version='v0.0.39').nodes()


def test_pinned_version_not_offered_and_no_list(new):
    new.serve('router-unknown-version', path='/openapi/v3')
    with pytest.raises(SlurmError, match=r'does not offer Slurm REST API v0.0.39 \(its ping: HTTP 404, and no list'):
        backend(api_version='v0.0.39').nodes()
    assert [request['path'] for request in new.requests] == ['/slurm/v0.0.39/ping', '/openapi/v3']


def test_unsupported_version_refused():
    with pytest.raises(SlurmError, match='unsupported Slurm REST API version'):
        backend(api_version='v0.0.37')


@pytest.mark.parametrize('path', ['/slurm/v0.0.42/ping', '/openapi/v3'])
def test_negotiation_needs_the_token(old, path):
    # 22.05 refuses a request without credentials whatever its URL (the same answer for any path).
    old.serve('openapi-v3-noauth', path=path)
    with pytest.raises(SlurmError, match='HTTP 401: Authentication failure.*token is missing, wrong or expired'):
        backend().nodes()


def test_token_user_unknown_without_jwt():
    assert RestBackend(URL, 'not-a-jwt').user is None


# -- version, cluster -------------------------------------------------------------

def test_version_and_cluster_24_11(new):
    new.serve('v0.0.42-ping')
    rest = backend()
    assert (rest.version(), rest.cluster_name()) == ('24.11.5', 'lab')
    # The ping that chose the version answers both.
    assert [request['path'] for request in new.requests] == ['/slurm/v0.0.42/ping']


def test_version_and_cluster_22_05(old):
    old.serve('v0.0.38-ping')
    old.serve('v0.0.38-jobs-busy')
    rest = backend()
    assert rest.version() == '22.05.8'
    # v0.0.38 has the cluster name only in job records.
    assert rest.cluster_name() == 'lab'


def test_cluster_22_05_without_jobs(old):
    old.serve('v0.0.38-ping')
    old.serve('v0.0.38-jobs-idle')
    with pytest.raises(SlurmError, match='only in job records'):
        backend().cluster_name()
    assert backend(cli=FakeCli()).cluster_name() == 'from-cli'


# -- reading ------------------------------------------------------------------------

@pytest.mark.parametrize('release, version', [('22.05', 'v0.0.38'), ('24.11', 'v0.0.42')])
def test_nodes_list(monkeypatch, release, version):
    server = FakeSlurmrestd(monkeypatch, release)
    record = server.serve('%s-nodes-busy' % version)
    assert backend().nodes() == [normalize_node(raw) for raw in record['body']['nodes']]


@pytest.mark.parametrize('release, version', [('22.05', 'v0.0.38'), ('24.11', 'v0.0.42'), ('24.11', 'v0.0.40')])
def test_nodes_by_name_skips_unknown(monkeypatch, release, version):
    server = FakeSlurmrestd(monkeypatch, release)
    server.serve('%s-node-idle' % version)
    # 22.05: HTTP 500 errno 2018; 24.11: HTTP 200 with "No error" (errno 0).
    server.serve('%s-node-unknown' % version)
    nodes = backend(api_version=version).nodes(['lab-node1', 'nosuch'])
    assert [node['name'] for node in nodes] == ['lab-node1']
    assert nodes[0]['state'] == 'idle'


def test_many_names_read_the_list(new):
    new.serve('v0.0.42-nodes-busy')
    names = ['lab-node2', 'lab-node1'] + ['gone%d' % i for i in range(slurm_rest.FEW)]
    assert [node['name'] for node in backend().nodes(names)] == ['lab-node2', 'lab-node1']
    assert [request['path'] for request in new.requests] == ['/slurm/v0.0.42/ping', '/slurm/v0.0.42/nodes']


def test_names_come_expanded(new):
    # slurm_vocabulary.node_names expands hostlists, once, before a backend sees them.
    with pytest.raises(SlurmError, match="node names must be a list of names, got 'lab-node\\[1-2'"):
        backend().nodes('lab-node[1-2')
    assert not new.requests


@pytest.mark.parametrize('release, version', [('22.05', 'v0.0.38'), ('24.11', 'v0.0.41')])
def test_jobs_list_and_ids(monkeypatch, release, version):
    server = FakeSlurmrestd(monkeypatch, release)
    listed = server.serve('%s-jobs-busy' % version)
    rest = backend(api_version=version)
    assert rest.jobs() == [normalize_job(raw) for raw in listed['body']['jobs']]
    running = server.serve('%s-job-running' % version)
    server.serve('%s-job-unknown' % version)
    job_id = job_id_in(running)
    jobs = rest.jobs([job_id, 999999])
    assert [(job['job_id'], job['name'], job['state']) for job in jobs] == [(job_id, 'cap-run', 'RUNNING')]


def test_partitions(old):
    old.serve('v0.0.38-partitions')
    assert [(p['name'], p['default'], p['nodes']) for p in backend().partitions()] == [('main', True,
                                                                                        'lab-node[1-2]')]


# -- node updates --------------------------------------------------------------------

def test_no_node_updates_on_22_05(old):
    old.serve('v0.0.38-ping')
    rest = backend()
    assert not rest.can_update_nodes()
    with pytest.raises(SlurmError, match=r'Slurm 22\.05\.8 cannot update nodes through REST API v0\.0\.38') as err:
        rest.update_nodes(['lab-node2'], state='DRAIN', reason='cap')
    assert err.value.details['operation'] == 'update_nodes'
    assert not old.sent('POST')


def test_node_updates_on_22_05_go_to_the_cli(old):
    cli = FakeCli()
    backend(cli=cli).update_nodes(['lab-node1', 'lab-node2'], state='DRAIN', reason='disk')
    assert cli.calls == [('update_nodes', ['lab-node1', 'lab-node2'],
                          {'state': 'DRAIN', 'reason': 'disk', 'weight': None, 'features': None})]
    assert not old.sent('POST')


def test_the_405_that_22_05_answers(old):
    """What a POST node/ on v0.0.38 gets, should it be sent anyway."""
    record = old.serve('v0.0.38-node-update')
    rest = backend()
    with pytest.raises(SlurmError, match='HTTP 405: Requested REST method is not defined') as err:
        rest._call('POST', 'node/lab-node2', record['request']['body'])
    assert err.value.details['status'] == 405


@pytest.mark.parametrize('version', ['v0.0.40', 'v0.0.41', 'v0.0.42'])
def test_bulk_update_is_one_request(new, version):
    record = new.serve('%s-nodes-drain' % version)
    rest = backend(api_version=version)
    assert rest.can_update_nodes()
    rest.update_nodes(['lab-node2', 'lab-node1'], state='drain', reason='cap bulk')
    posts = new.sent('POST')
    assert len(posts) == 1
    expected = {'name': ['lab-node[1-2]'], 'state': ['DRAIN'], 'reason': 'cap bulk'}
    assert posts[0]['body'] == record['request']['body'] == expected
    assert posts[0]['headers']['Content-Type'] == 'application/json'


@pytest.mark.parametrize('version', ['v0.0.40', 'v0.0.42'])
def test_update_one_node(new, version):
    drain = new.serve('%s-node-drain' % version)
    rest = backend(api_version=version)
    rest.update_nodes(['lab-node2'], state='DRAIN', reason='cap drain ' + version)
    features = new.serve('%s-node-features' % version)
    rest.update_nodes(['lab-node1'], weight=7, features=['cap', 'fast'])
    clear = new.serve('%s-node-features-clear' % version)
    rest.update_nodes(['lab-node1'], features=[])
    assert [post['body'] for post in new.sent('POST')] == [
        drain['request']['body'], features['request']['body'], clear['request']['body']]


@pytest.mark.parametrize('listed', [False, True])
def test_update_without_bulk_endpoint(new, listed):
    """A server without POST nodes/ (before 24.11): one request per node, whether the version was chosen
    by its ping (then by release) or from the list of versions."""
    new.serve('v0.0.42-node-drain')
    new.serve('v0.0.42-node-drain', path='/slurm/v0.0.42/node/lab-node1')
    rest = backend()
    if listed:
        rest._read_openapi()
        del rest._operations['nodes']
    else:
        assert rest.api_version == 'v0.0.42'
        rest._release = '23.11.10'
    rest.update_nodes(['lab-node1', 'lab-node2'], state='DRAIN', reason='cap drain v0.0.42')
    assert [post['path'] for post in new.sent('POST')] == ['/slurm/v0.0.42/node/lab-node1',
                                                           '/slurm/v0.0.42/node/lab-node2']


@pytest.mark.parametrize('name, call, errno', [
    ('v0.0.42-node-resume-busy', (['lab-node1'], 'RESUME'), 2028),
    ('v0.0.42-node-update-unknown', (['nosuch'], 'DRAIN'), 2018),
    ('v0.0.42-nodes-unknown', (['lab-node1', 'nosuch'], 'DRAIN'), 2018),
    ('v0.0.42-node-power-down-asap', (['lab-node1'], 'POWER_DOWN_ASAP'), 2028),
    ('v0.0.40-node-resume-busy', (['lab-node1'], 'RESUME'), 2028),
])
def test_node_update_errors(new, name, call, errno):
    record = new.serve(name)
    version = record['request']['path'].split('/')[2]
    with pytest.raises(SlurmError) as err:
        backend(api_version=version).update_nodes(call[0], state=call[1], reason='cap')
    assert err.value.details['errno'] == errno
    assert err.value.details['status'] == 500
    assert 'HTTP 500' in err.value.msg and 'errno %d' % errno in err.value.msg


@pytest.mark.parametrize('kwargs, match', [
    ({'state': 'BOGUS'}, "unknown node state 'BOGUS'"),
    ({'weight': 'heavy'}, "weight must be an integer, got 'heavy'"),
])
def test_node_update_refused_before_sending(new, kwargs, match):
    with pytest.raises(SlurmError, match=match):
        backend().update_nodes(['lab-node1'], **kwargs)
    assert not new.sent('POST')


# (scontrol word, REST state list) as sent.
STATE_CASES = [
    ('RESUME', ['RESUME']), ('undrain', ['UNDRAIN']), ('DOWN', ['DOWN']), ('IDLE', ['IDLE']), ('FAIL', ['FAIL']),
    ('POWER_DOWN', ['POWER_DOWN']), ('POWER_UP', ['POWER_UP']),
    ('POWER_DOWN_ASAP', ['POWER_DOWN', 'POWER_DRAIN']), ('POWER_DOWN_FORCE', ['POWER_DOWN', 'POWERED_DOWN']),
]


@pytest.mark.parametrize('word, states', STATE_CASES)
def test_state_words(new, word, states):
    new.serve('v0.0.42-node-drain', path='/slurm/v0.0.42/node/lab-node1')
    backend().update_nodes(['lab-node1'], state=word)
    assert new.sent('POST')[0]['body'] == {'state': states}


# -- jobs -----------------------------------------------------------------------------

@pytest.mark.parametrize('release, version', [('22.05', 'v0.0.38'), ('24.11', 'v0.0.40'), ('24.11', 'v0.0.42')])
def test_hold_and_release(monkeypatch, release, version):
    server = FakeSlurmrestd(monkeypatch, release)
    hold = server.serve('%s-job-hold' % version)
    rest = backend(api_version=version)
    rest.control_job(job_id_in(hold), 'hold')
    release_record = server.serve('%s-job-release' % version)
    rest.control_job(str(job_id_in(release_record)), 'RELEASE')
    assert [post['body'] for post in server.sent('POST')] == [{'hold': True}, {'hold': False}]


@pytest.mark.parametrize('release, version, errno', [
    ('22.05', 'v0.0.38', 2017), ('24.11', 'v0.0.41', 2017)])
def test_hold_unknown_job(monkeypatch, release, version, errno):
    server = FakeSlurmrestd(monkeypatch, release)
    server.serve('%s-job-hold-unknown' % version)
    with pytest.raises(SlurmError, match='Invalid job id specified') as err:
        backend(api_version=version).control_job(999999, 'hold')
    assert err.value.details['errno'] == errno


def test_hold_finished_job(new):
    record = new.serve('v0.0.42-job-hold-finished')
    with pytest.raises(SlurmError, match='Job has already finished, errno 2084'):
        backend().control_job(job_id_in(record), 'hold')


def test_errors_with_http_200(old):
    """22.05 refuses priority 0 with HTTP 200 and three errors."""
    record = old.serve('v0.0.38-job-priority-0')
    with pytest.raises(SlurmError, match=r'HTTP 200: Priority must be >0 \(errno -1\)') as err:
        backend()._call('POST', 'job/%d' % job_id_in(record), {'priority': 0})
    assert [error['errno'] for error in err.value.details['errors']] == [-1, -1, 9001]


@pytest.mark.parametrize('action', ['suspend', 'resume', 'requeue'])
def test_no_rest_endpoint_for(new, action):
    rest = backend()
    new.serve('v0.0.42-ping')
    with pytest.raises(SlurmError, match='slurmrestd cannot %s jobs in any API version' % action):
        rest.control_job(5, action)
    cli = FakeCli()
    backend(cli=cli).control_job('5', action)
    assert cli.calls == [('control_job', 5, action)]
    assert not new.sent('POST')


def test_unknown_action(new):
    with pytest.raises(SlurmError, match="unknown job action 'explode'"):
        backend().control_job(5, 'explode')


# -- cancel ---------------------------------------------------------------------------

@pytest.mark.parametrize('release, name', [('22.05', 'cancel-term'), ('24.11', 'cancel-term'),
                                           ('24.11', 'cancel')])
def test_cancel(monkeypatch, release, name):
    server = FakeSlurmrestd(monkeypatch, release)
    record = server.serve(name)
    signal = 'SIGTERM' if 'signal=TERM' in record['request']['path'] else None
    backend().cancel_job(job_id_in(record), signal=signal)
    assert [request['path'] for request in server.sent('DELETE')] == [record['request']['path']]


@pytest.mark.parametrize('signal', ['TERM', 'sigterm', 15, '15'])
def test_signal_spellings(new, signal):
    record = new.serve('cancel-term')
    backend().cancel_job(job_id_in(record), signal=signal)
    assert new.sent('DELETE')[0]['path'].endswith('?signal=TERM')


def test_bad_signal_refused_before_sending(new):
    """24.11 would take it (HTTP 200, "Unknown signal", errno 0)."""
    assert new.serve('cancel-bad-signal')['status'] == 200
    with pytest.raises(SlurmError, match="invalid signal 'NOSUCH': unknown or unsupported"):
        backend().cancel_job(5, signal='NOSUCH')
    assert not new.sent('DELETE')


@pytest.mark.parametrize('release, version', [('22.05', 'v0.0.38'), ('24.11', 'v0.0.42')])
def test_cancel_finished_job(monkeypatch, release, version):
    server = FakeSlurmrestd(monkeypatch, release)
    record = server.serve('%s-cancel-done' % version)
    backend().cancel_job(job_id_in(record))


@pytest.mark.parametrize('release, version, names', [
    # 22.05: HTTP 500 errno 2017.
    ('22.05', 'v0.0.38', ['v0.0.38-cancel-unknown']),
    ('22.05', 'v0.0.38', ['v0.0.38-cancel-unknown-signal']),
    # v0.0.42: HTTP 200, errno 2017 under "status".
    ('24.11', 'v0.0.42', ['v0.0.42-cancel-unknown']),
    # v0.0.40 and v0.0.41: HTTP 200 and nothing else; the job is looked up.
    ('24.11', 'v0.0.40', ['v0.0.40-cancel-unknown', 'v0.0.40-job-unknown']),
    ('24.11', 'v0.0.41', ['v0.0.41-cancel-unknown', 'v0.0.41-job-unknown']),
])
def test_cancel_unknown_job(monkeypatch, release, version, names):
    server = FakeSlurmrestd(monkeypatch, release)
    for name in names:
        record = server.serve(name)
    signal = 'TERM' if 'signal' in names[0] else None
    with pytest.raises(SlurmError, match='999999') as err:
        backend(api_version=version).cancel_job(999999, signal=signal)
    assert err.value.details['errno'] == 2017
    assert len(server.requests) == 1 + len(names)
    assert record['status'] in (200, 404, 500)


def test_cancel_known_job_v0_0_40(new):
    """The 200 of v0.0.40 is believed once the job is found."""
    running = new.serve('v0.0.40-job-running')
    job_id = job_id_in(running)
    new.serve('v0.0.40-cancel-unknown', path='/slurm/v0.0.40/job/%d' % job_id, method='DELETE')
    backend(api_version='v0.0.40').cancel_job(job_id)
    assert [request['method'] for request in new.requests] == ['GET', 'DELETE', 'GET']


# -- submit ----------------------------------------------------------------------------

def spec_of(record):
    """The submit_job spec that makes the backend send what the capture sent."""
    body = record['request']['body']
    job = body['job']
    environment = job['environment']
    if isinstance(environment, list):
        environment = dict(item.split('=', 1) for item in environment)
    time_limit = job['time_limit']
    return {'script': body.get('script') or job.get('script'), 'name': job['name'], 'partition': job['partition'],
            'working_directory': job['current_working_directory'], 'output': job['standard_output'],
            'environment': environment, 'nodes': int(job['nodes']), 'ntasks': job['tasks'],
            'cpus_per_task': job['cpus_per_task'],
            'time_limit': time_limit['number'] if isinstance(time_limit, dict) else time_limit}


@pytest.mark.parametrize('release, version', [('22.05', 'v0.0.38'), ('24.11', 'v0.0.40'), ('24.11', 'v0.0.41'),
                                              ('24.11', 'v0.0.42')])
def test_submit(monkeypatch, release, version):
    server = FakeSlurmrestd(monkeypatch, release)
    record = server.serve('%s-submit' % version)
    job_id = backend(api_version=version).submit_job(spec_of(record))
    assert server.sent('POST')[0]['body'] == record['request']['body']
    assert job_id == record['body']['job_id'] > 0


def test_submit_wrap_and_defaults(new):
    record = new.serve('v0.0.42-submit')
    assert backend().submit_job({'wrap': 'hostname'}) == record['body']['job_id']
    assert new.sent('POST')[0]['body'] == {'job': {
        'script': '#!/bin/sh\nhostname\n', 'current_working_directory': '/tmp',
        'environment': ['PATH=/usr/local/bin:/usr/bin:/bin']}}


def test_submit_22_05_environment_is_a_dict(old):
    old.serve('v0.0.38-submit')
    backend().submit_job({'wrap': 'hostname', 'environment': {'A': 1}, 'nodes': '1-2', 'time_limit': 3})
    assert old.sent('POST')[0]['body'] == {'script': '#!/bin/sh\nhostname\n', 'job': {
        'current_working_directory': '/tmp', 'environment': {'A': '1'}, 'nodes': '1-2', 'time_limit': 3}}


@pytest.mark.parametrize('release, name, errno', [('22.05', 'v0.0.38-submit-bad-partition', 2000),
                                                  ('24.11', 'v0.0.42-submit-bad-partition', 2000)])
def test_submit_refused(monkeypatch, release, name, errno):
    server = FakeSlurmrestd(monkeypatch, release)
    server.serve(name)
    with pytest.raises(SlurmError, match='Invalid partition name specified') as err:
        backend().submit_job({'wrap': 'true', 'partition': 'nosuch'})
    assert err.value.details['errno'] == errno


@pytest.mark.parametrize('spec, match', [
    ({}, 'exactly one of script and wrap'),
    ({'script': '#!/bin/sh\n', 'wrap': 'true'}, 'exactly one of script and wrap'),
    ({'wrap': 'true', 'nodes': 'two'}, 'nodes must be a number of nodes or a range min-max'),
    ({'wrap': 'true', 'ntasks': 'x'}, 'ntasks must be an integer'),
])
def test_submit_spec_errors(new, spec, match):
    with pytest.raises(SlurmError, match=match):
        backend().submit_job(spec)


# -- errors -----------------------------------------------------------------------------

@pytest.mark.parametrize('release, name, match', [
    ('22.05', 'auth-none', r'HTTP 401: Authentication failure \(slurmrestd refused the credentials'),
    ('24.11', 'auth-none', r'HTTP 401: Authentication failure \(slurmrestd refused the credentials'),
    # 22.05 says "Unspecified error" for a refused token, as for a stopped slurmctld.
    ('22.05', 'auth-bad-token', r'HTTP 500: Unspecified error \(errno -1\) \(Slurm 22.05 says only this when '
                                r'slurmctld refuses the token'),
    ('22.05', 'auth-expired', r'HTTP 500: .*refuses the token \(wrong or expired\) or cannot be reached'),
    ('22.05', 'slurmctld-stopped', r'HTTP 500: .*refuses the token \(wrong or expired\) or cannot be reached'),
    ('24.11', 'auth-bad-token', r'HTTP 511: Failure to query nodes \(Protocol authentication error, errno 1007\) '
                                r'\(slurmctld refused the token: it is wrong or expired'),
    ('24.11', 'auth-expired', r'HTTP 511: .*slurmctld refused the token'),
    ('24.11', 'slurmctld-stopped', r'HTTP 502: Failure to query nodes \(Unable to contact slurm controller '
                                   r'\(connect failure\), errno 1800\) \(slurmrestd cannot reach slurmctld\)'),
    ('22.05', 'slurmrestd-stopped', r'slurmrestd is not reachable at http://slurm.example:6820: connection '
                                    r'refused'),
    ('24.11', 'slurmrestd-stopped', r'slurmrestd is not reachable at http://slurm.example:6820'),
    # 24.11 reads a job with slurmctld stopped: "Unspecified error" (a refused token is 511 there).
    ('24.11', 'v0.0.42-job-slurmctld-stopped', r'HTTP 500: Unable to query JobId=18 \(Unspecified error, errno -1\) '
                                               r'\(Slurm gives no reason; seen when slurmctld cannot be reached\)$'),
    # nginx (slurmrestd_proxy) in front of a stopped slurmrestd: its page's title, not its HTML.
    ('22.05', 'proxy-slurmrestd-stopped', r'HTTP 502: an HTML page "502 Bad Gateway" \(the proxy in front of '
                                          r'slurmrestd cannot reach it: is slurmrestd running\?\)$'),
    ('22.05', 'router-unknown-path', r'HTTP 404: Unable find requested URL.*\(slurmrestd has no such endpoint'),
    ('22.05', 'router-delete-nodes', r'HTTP 405: Requested REST method is not defined'),
    ('24.11', 'router-bad-json', r'HTTP 400: Unable to parse query\.'),
])
def test_error_messages(monkeypatch, release, name, match):
    server = FakeSlurmrestd(monkeypatch, release)
    record = server.serve(name)
    rest = backend()
    method, path = record['request']['method'], record['request']['path']
    operation = path.split('/', 3)[3]
    pinned = path.split('/')[2]
    rest = backend(api_version=pinned) if pinned in slurm_rest.SUPPORTED_API_VERSIONS else rest
    with pytest.raises(SlurmError, match=match) as err:
        rest._call(method, operation)
    assert TOKEN not in err.value.msg
    assert TOKEN not in json.dumps(err.value.details, default=str)
    if record.get('status'):
        assert err.value.details['status'] == record['status']


def test_errors_of_every_shape(old):
    """v0.0.38 names the errno in three ways; all are read."""
    shapes = [fixture('22.05', name)['body']['errors'][0] for name in (
        'v0.0.38-node-unknown', 'v0.0.38-job-unknown', 'v0.0.38-submit-bad-partition')]
    assert sorted(shapes[0]) == ['errno', 'error']
    assert 'error_number' in shapes[1] and 'description' in shapes[1]
    assert sorted(shapes[2]) == ['error', 'error_code']
    assert [error['errno'] for error in slurm_rest._errors({'errors': shapes})] == [2018, 2017, 2000]


def test_timeout_passed_and_reported(new, monkeypatch):
    def slow(url, **kwargs):
        import socket
        raise URLError(socket.timeout('timed out'))
    rest = backend(timeout=7)
    rest.api_version
    assert new.requests[0]['timeout'] == 7
    monkeypatch.setattr(slurm_rest, 'open_url', slow)
    with pytest.raises(SlurmError, match='did not answer within 7 seconds'):
        rest.nodes()


class PingCli(object):
    """A CliBackend whose `scontrol ping` answers as captured on 22.05 (cli-22.05/cmd-down.yml)."""

    def __init__(self, answer, release='22.05'):
        record = yaml.safe_load((FIXTURES / ('cli-' + release) / 'cmd-down.yml').read_text())['commands'][answer]
        module = MagicMock()
        module.get_bin_path.side_effect = lambda name: '/usr/bin/' + name
        module.run_command.return_value = (record['rc'], record['stdout'], record['stderr'])
        self.backend = CliBackend(module)
        self.module = module


@pytest.mark.parametrize('release, name, answer, match', [
    # slurmrestd 22.05 says "Unspecified error" for both; scontrol ping, where it runs, tells which.
    ('22.05', 'slurmctld-stopped', 'ping_down', r'HTTP 500: Unspecified error \(errno -1\) \(slurmctld is down '
                                                r'\(scontrol failed, rc 1: Slurmctld\(primary\) at lab-ctl is DOWN\)\)$'),
    ('22.05', 'auth-bad-token', 'ping_up', r'HTTP 500: Unspecified error \(errno -1\) \(slurmctld answers scontrol '
                                           r'ping, so it refused the token: it is wrong or expired\)$'),
    ('24.11', 'v0.0.42-job-slurmctld-stopped', 'ping_down', r'HTTP 500: Unable to query JobId=18 \(Unspecified '
                                                            r'error, errno -1\) \(slurmctld is down'),
])
def test_unspecified_error_explained_by_scontrol_ping(monkeypatch, release, name, answer, match):
    server = FakeSlurmrestd(monkeypatch, release)
    record = server.serve(name)
    cli = PingCli(answer, release)
    rest = backend(cli=cli.backend)
    with pytest.raises(SlurmError, match=match) as err:
        rest._call(record['request']['method'], record['request']['path'].split('/', 3)[3])
    assert cli.module.run_command.call_args[0][0] == ['/usr/bin/scontrol', 'ping']
    assert err.value.transient
