# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# The facts operation of the slurm_cluster_facts module (and its action
# plugin): what a cluster is, its nodes, partitions and jobs, with counts.
# Raises SlurmError. Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import SLURM_CONNECTION_ARGS
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_data import node_status
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError

SUBSETS = ('version', 'nodes', 'partitions', 'jobs')
NODE_KEYS = ('name', 'state', 'flags', 'status', 'cpus', 'real_memory', 'features', 'partitions', 'reason', 'weight')

MODULE_ARGS = dict(
    argument_spec=dict(
        gather_subset=dict(type='list', elements='str', default=['all'], choices=['all'] + list(SUBSETS)),
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


def gather(backend, subsets, warn):
    """The slurm_cluster fact for the given subsets."""
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
    return facts


class FactsGatherer(object):
    """One slurm_cluster_facts task, built from the module's validated options."""

    token_lifespan = None

    def __init__(self, params):
        self.subsets = set(params['gather_subset'])
        if 'all' in self.subsets:
            self.subsets = set(SUBSETS)

    def run(self, backend, check_mode=False, diff=False, warn=None):
        facts = gather(backend, self.subsets, warn or (lambda message: None))
        return dict(changed=False, ansible_facts={'slurm_cluster': facts}, backend=backend.name)
