# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The accounting subset of slurm_cluster_facts: the same counts from sacct and
# from slurmrestd's /slurmdb endpoint, fed with what both said about the same
# window on the lab (tests/unit/fixtures/accounting/window-VERSION.json, made
# by capture_window.py there); the window options.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time
from pathlib import Path

import pytest
import yaml

from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_facts
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_cli import CliBackend
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_rest import RestBackend

FIXTURES = Path(__file__).parents[2] / 'fixtures'
VERSIONS = sorted(path.stem[len('window-'):] for path in (FIXTURES / 'accounting').glob('window-*.json'))

# What each capture holds, read by eye from its sacct output: the jobs of
# test_accounting.py (account it_acct) and of the other lab tests, and the capture's
# own running and pending jobs (root).
EXPECTED = {
    '22.05': {'jobs': 20,
              'job_state_counts': {'COMPLETED': 9, 'CANCELLED': 5, 'FAILED': 3, 'RUNNING': 2, 'PENDING': 1},
              'accounts': {'it_acct': {'FAILED': 2, 'COMPLETED': 1, 'CANCELLED': 2},
                           'root': {'COMPLETED': 8, 'CANCELLED': 3, 'FAILED': 1, 'RUNNING': 2, 'PENDING': 1}}},
    '24.11': {'jobs': 12,
              'job_state_counts': {'COMPLETED': 5, 'CANCELLED': 2, 'FAILED': 3, 'RUNNING': 1, 'PENDING': 1},
              'accounts': {'it_acct': {'FAILED': 2, 'COMPLETED': 1, 'CANCELLED': 2},
                           'root': {'COMPLETED': 4, 'FAILED': 1, 'RUNNING': 1, 'PENDING': 1}}},
}


def capture(version):
    return json.loads((FIXTURES / 'accounting' / ('window-%s.json' % version)).read_text())


class Module(object):
    """Just what CliBackend uses of an AnsibleModule: answers one captured command."""

    def __init__(self, rc, stdout, stderr):
        self.answer = (rc, stdout, stderr)
        self.ran = []

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return '/usr/bin/' + name

    def run_command(self, args, **kwargs):
        self.ran.append(list(args))
        return self.answer


def rest_backend(version, status, body, content_type='application/json'):
    backend = RestBackend('https://ctl:6821', 'a.b.c', user='root')
    backend._api_version = capture(version)['rest']['api_version']
    backend.asked = []

    def http(method, path, body_=None):
        backend.asked.append((method, path))
        return status, body, content_type

    backend._http = http
    return backend


@pytest.mark.parametrize('version', VERSIONS)
def test_same_counts_from_sacct_and_slurmrestd(version, monkeypatch):
    captured = capture(version)
    # v0.0.38's query counts back from now: the capture's now.
    monkeypatch.setattr(slurm_facts.time, 'time', lambda: captured['now'])
    start, end = captured['start'], captured['end']
    sacct = captured['sacct']
    module = Module(sacct['rc'], sacct['stdout'], sacct['stderr'])
    from_cli = slurm_facts.accounting(CliBackend(module), start, end)
    # The argv the capture ran (its times are local times of the host that ran it).
    argv = slurm_facts.sacct_window_argv(start, end)
    assert module.ran[0][0] == '/usr/bin/sacct' and module.ran[0][1:] == argv[1:]
    assert [arg for arg in sacct['argv'] if not arg[:1].isdigit()] == [arg for arg in argv if not arg[:1].isdigit()]
    rest = captured['rest']
    backend = rest_backend(version, rest['status'], json.dumps(rest['body']))
    from_rest = slurm_facts.accounting(backend, start, end)
    assert backend.asked == [('GET', rest['path'])]
    assert from_cli == from_rest == dict(EXPECTED[version], start=start, end=end)


@pytest.mark.parametrize('version', VERSIONS)
def test_a_slurmrestd_without_the_accounting_endpoint(version):
    missing = capture(version)['rest_missing']
    backend = rest_backend(version, missing['status'], missing['body'], missing['content_type'])
    with pytest.raises(SlurmError) as caught:
        slurm_facts.accounting(backend, 0, 1)
    assert 'HTTP 404' in caught.value.msg and 'slurmdbd plugin' in caught.value.msg


@pytest.mark.parametrize('version', ['22.05', '24.11'])
def test_sacct_without_accounting_storage(version):
    disabled = yaml.safe_load((FIXTURES / 'slurm' / ('cli-' + version) / 'cmd-accounting.yml').read_text())
    answer = disabled['commands']['disabled']
    with pytest.raises(SlurmError) as caught:
        slurm_facts.accounting(CliBackend(Module(answer['rc'], answer['stdout'], answer['stderr'])), 0, 1)
    assert 'Slurm accounting storage is disabled' in caught.value.msg


NOW = 1764669600


@pytest.mark.parametrize('start, end, expected', [
    ('-24h', 'now', (NOW - 86400, NOW)),
    ('-30m', '-1m', (NOW - 1800, NOW - 60)),
    ('-2w', '-7d', (NOW - 14 * 86400, NOW - 7 * 86400)),
    ('-90s', ' now ', (NOW - 90, NOW)),
    ('2025-12-01', '2025-12-02T06:30', (int(time.mktime((2025, 12, 1, 0, 0, 0, 0, 0, -1))),
                                        int(time.mktime((2025, 12, 2, 6, 30, 0, 0, 0, -1))))),
    ('2025-12-01T00:00:00', 'now', (int(time.mktime((2025, 12, 1, 0, 0, 0, 0, 0, -1))), NOW)),
])
def test_window(start, end, expected):
    assert slurm_facts.window_of(start, end, now=NOW) == expected


@pytest.mark.parametrize('start, end, message', [
    ('yesterday', 'now', "accounting_start must be now, a time back from now"),
    ('-24h', '+1h', "accounting_end must be now"),
    ('-1y', 'now', "accounting_start must be"),
    ('now-1days', 'now', "accounting_start must be"),
    ('now', '-1h', 'the accounting window is empty'),
    ('-1h', '-1h', 'the accounting window is empty'),
])
def test_window_refused(start, end, message):
    with pytest.raises(SlurmError, match=message):
        slurm_facts.window_of(start, end, now=NOW)


@pytest.mark.parametrize('api_version, start, end, query', [
    ('v0.0.42', NOW - 3600, NOW, 'start_time=%d&end_time=%d' % (NOW - 3600, NOW)),
    ('v0.0.40', NOW - 3600, NOW - 60, 'start_time=%d&end_time=%d' % (NOW - 3600, NOW - 60)),
    ('v0.0.38', NOW - 3600, NOW, 'start_time=now-3600&end_time=now'),
    ('v0.0.38', NOW - 7200, NOW - 600, 'start_time=now-7200&end_time=now-600'),
    ('v0.0.38', NOW - 60, NOW + 60, 'start_time=now-60&end_time=now'),
])
def test_rest_window_query(api_version, start, end, query):
    assert slurm_facts.rest_window_query(api_version, start, end, now=NOW) == query


def test_all_is_everything_but_accounting():
    everything = slurm_facts.FactsGatherer({'gather_subset': ['all']})
    assert everything.subsets == set(slurm_facts.SUBSETS) and everything.window is None
    both = slurm_facts.FactsGatherer({'gather_subset': ['all', 'accounting'], 'accounting_start': '-1h',
                                      'accounting_end': 'now'})
    assert both.subsets == set(slurm_facts.SUBSETS) | set(['accounting'])
    assert both.window[1] - both.window[0] == 3600


def test_bad_window_fails_before_anything_runs():
    with pytest.raises(SlurmError, match='accounting_start'):
        slurm_facts.FactsGatherer({'gather_subset': ['accounting'], 'accounting_start': 'soon',
                                   'accounting_end': 'now'})
