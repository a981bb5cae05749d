# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# The facts operation of the slurm_cluster_facts module (and its action
# plugin): what a cluster is, its nodes, partitions and jobs, with counts;
# and on request what slurmdbd recorded over a time window (jobs by state,
# per account), from sacct or from slurmrestd's /slurmdb endpoint, counted
# the same way. Raises SlurmError. Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import SLURM_CONNECTION_ARGS
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_data import node_status
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError

SUBSETS = ('version', 'nodes', 'partitions', 'jobs')
# Read only when asked for: it needs slurmdbd, which many clusters lack.
ON_REQUEST = ('accounting',)
NODE_KEYS = ('name', 'state', 'flags', 'status', 'cpus', 'real_memory', 'features', 'partitions', 'reason', 'weight')

MODULE_ARGS = dict(
    argument_spec=dict(
        gather_subset=dict(type='list', elements='str', default=['all'],
                           choices=['all'] + list(SUBSETS) + list(ON_REQUEST)),
        accounting_start=dict(type='str', default='-24h'),
        accounting_end=dict(type='str', default='now'),
        **SLURM_CONNECTION_ARGS
    ),
    supports_check_mode=True,
)


def counts(values):
    """{value: how many times it occurs}."""
    result = {}
    for value in values:
        result[value] = result.get(value, 0) + 1
    return result


def gather(backend, subsets, warn, window=None):
    """The slurm_cluster fact for the given subsets; `window`: (start, end) of the accounting subset."""
    facts = {}
    if 'version' in subsets:
        facts['version'] = backend.version()
        try:
            facts['cluster_name'] = backend.cluster_name()
        except SlurmError as err:
            # slurmrestd of 22.05 tells it only in job records: not worth failing the facts.
            facts['cluster_name'] = None
            warn(err.msg)
    if 'nodes' in subsets:
        nodes = []
        for node in backend.nodes():
            node = dict(node, status=node_status(node))
            nodes.append(dict((key, node.get(key)) for key in NODE_KEYS))
        facts['nodes'] = nodes
        facts['node_state_counts'] = counts(node['state'] for node in nodes)
        facts['node_status_counts'] = counts(node['status'] for node in nodes)
    if 'partitions' in subsets:
        facts['partitions'] = backend.partitions()
    if 'jobs' in subsets:
        jobs = backend.jobs()
        facts['job_state_counts'] = counts(job['state'] for job in jobs)
        facts['running_jobs'] = [job for job in jobs if job['state'] == 'RUNNING']
    if 'accounting' in subsets:
        facts['accounting'] = accounting(backend, *(window or window_of('-24h', 'now')))
    return facts


# -- accounting: what slurmdbd recorded over a window ----------------------------

_RELATIVE = re.compile(r'-(\d+)([smhdw])\Z')
_UNIT_SECONDS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}
_ABSOLUTE = ('%Y-%m-%dT%H:%M:%S', '%Y-%m-%dT%H:%M', '%Y-%m-%d')
SACCT_WINDOW_FORMAT = '--format=JobID,Account,State'


def window_of(start, end, now=None):
    """(start, end) in seconds since the epoch from accounting_start and accounting_end.

    Each is `now`, a time back from now (`-30m`, `-24h`, `-7d`, `-2w`; s, m, h, d, w) or a local time
    `YYYY-MM-DD[THH:MM[:SS]]` of the host that reads it.
    """
    now = int(time.time() if now is None else now)
    bounds = []
    for option, value in (('accounting_start', start), ('accounting_end', end)):
        text = str(value).strip()
        relative = _RELATIVE.match(text)
        if text == 'now':
            bounds.append(now)
        elif relative:
            bounds.append(now - int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)])
        else:
            for form in _ABSOLUTE:
                try:
                    bounds.append(int(time.mktime(time.strptime(text, form))))
                    break
                except ValueError:
                    continue
            else:
                raise SlurmError('%s must be now, a time back from now such as -24h or -7d (s, m, h, d, w), or a '
                                 'local time YYYY-MM-DD[THH:MM[:SS]]; got %r' % (option, value))
    if bounds[0] >= bounds[1]:
        raise SlurmError('the accounting window is empty: accounting_start (%s) is not before accounting_end (%s)'
                         % (start, end))
    return bounds[0], bounds[1]


def accounting(backend, start, end):
    """Jobs slurmdbd recorded as pending, running or ended between `start` and `end` (epoch seconds):
    {start, end, jobs, job_state_counts, accounts: {account: {state: count}}}.

    One record per job (no steps); a requeued job counts once, in its last state.
    """
    if backend.name == 'rest':
        records = _rest_records(backend, start, end)
    else:
        records = _sacct_records(backend, start, end)
    accounts = {}
    for account, state in records:
        accounts.setdefault(account, {})
        accounts[account][state] = accounts[account].get(state, 0) + 1
    return {'start': start, 'end': end, 'jobs': len(records),
            'job_state_counts': counts(state for _account, state in records), 'accounts': accounts}


def _local(epoch):
    # sacct reads times in the local time of its host, which is where this runs.
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(epoch))


def sacct_window_argv(start, end):
    """sacct's argv for the jobs of a window: every user's, allocations only, no header."""
    return ['sacct', '--allusers', '--allocations', '--parsable2', '--noheader', '--starttime', _local(start),
            '--endtime', _local(end), SACCT_WINDOW_FORMAT]


def _sacct_records(backend, start, end):
    out = backend.run(sacct_window_argv(start, end), what='the accounting records', large=True)
    records = []
    for line in (out or '').splitlines():
        fields = line.split('|')
        if len(fields) < 3 or not fields[0]:
            continue
        # "CANCELLED by 0": the base state is the first word.
        records.append((fields[1], (fields[2].split() or [''])[0].upper()))
    return records


def _rest_records(backend, start, end):
    # slurmdbd's endpoints share the version numbers of slurmctld's (22.05: v0.0.38; 24.11: v0.0.40-42).
    path = '/slurmdb/%s/jobs?%s' % (backend.api_version, rest_window_query(backend.api_version, start, end))
    try:
        doc = backend.request('GET', path)
    except SlurmError as err:
        if err.details.get('status') == 404:
            err.msg += ('; slurmrestd serves job history only with its slurmdbd plugin (22.05: openapi/dbv0.0.38, '
                        '24.11: slurmdbd)')
        raise
    records = []
    for job in doc.get('jobs') or []:
        records.append((job.get('account') or '', _rest_state(job.get('state'))))
    return records


def rest_window_query(api_version, start, end, now=None):
    """The query of /slurmdb/VERSION/jobs for a window. v0.0.40+ take seconds since the epoch;
    v0.0.38 (22.05) takes only Slurm's time words, read in slurmrestd's time zone, so the window
    goes as `now-SECONDS`, counted on slurmrestd's clock."""
    if api_version != 'v0.0.38':
        return 'start_time=%d&end_time=%d' % (start, end)
    now = int(time.time() if now is None else now)
    return 'start_time=now-%d&end_time=%s' % (max(now - start, 0), 'now' if end >= now else 'now-%d' % (now - end))


def _rest_state(state):
    # v0.0.38: {"current": "COMPLETED"}; v0.0.40+: {"current": ["COMPLETED"]} (the base state first).
    current = state.get('current') if isinstance(state, dict) else state
    if isinstance(current, list):
        current = current[0] if current else ''
    return (str(current or '').split() or [''])[0].upper()


class FactsGatherer(object):
    """One slurm_cluster_facts task, built from the module's validated options."""

    token_lifespan = None

    @staticmethod
    def cli_over_connection(params):
        """Whether the action plugin may run this task's Slurm commands over its connection: not for
        accounting, whose window is read in the local time of the host where sacct runs."""
        return 'accounting' not in params['gather_subset']

    def __init__(self, params):
        self.subsets = set(params['gather_subset'])
        if 'all' in self.subsets:
            self.subsets = (self.subsets - set(['all'])) | set(SUBSETS)
        self.window = None
        if 'accounting' in self.subsets:
            self.window = window_of(params.get('accounting_start') or '-24h', params.get('accounting_end') or 'now')

    def run(self, backend, check_mode=False, diff=False, warn=None):
        facts = gather(backend, self.subsets, warn or (lambda message: None), window=self.window)
        return dict(changed=False, ansible_facts={'slurm_cluster': facts}, backend=backend.name)
