#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slurm_cluster_facts
short_description: Gather facts about a Slurm cluster - version, nodes, partitions, jobs
version_added: 0.1.0
description:
  - Reads a Slurm cluster through its commands on the managed host or through slurmrestd (see O(api)),
    and sets the fact C(slurm_cluster).
  - With slurmrestd it works against any cluster the play can reach, for example from C(localhost).
  - Changes nothing.
author:
  - aiinfra.slurm developers (@aiinfra)
extends_documentation_fragment:
  - aiinfra.slurm.attributes
  - aiinfra.slurm.attributes.facts
  - aiinfra.slurm.connection
  - aiinfra.slurm.connection.rest_client
options:
  gather_subset:
    description:
      - What to read; each subset costs one or two Slurm calls.
      - V(version) - Slurm release and cluster name.
      - V(nodes) - nodes and counts of their states.
      - V(partitions) - partitions.
      - V(jobs) - counts of job states and the running jobs.
      - V(accounting) - what slurmdbd recorded over the window O(accounting_start) to O(accounting_end) -
        jobs by state, in all and per account, through C(sacct) or slurmrestd's C(/slurmdb) endpoint.
        Needs slurmdbd; read only when asked for.
      - V(all) - everything but V(accounting).
    type: list
    elements: str
    choices: [all, version, nodes, partitions, jobs, accounting]
    default: [all]
  accounting_start:
    description:
      - Start of the accounting window - V(now), a time back from now such as V(-30m), V(-24h), V(-7d)
        or V(-2w) (units s, m, h, d, w), or a local time V(YYYY-MM-DD[THH:MM[:SS]]) of the host the task
        runs on.
      - The window holds every job that was pending, running or ended in it, as C(sacct --starttime
        --endtime) counts them.
    type: str
    default: -24h
  accounting_end:
    description: End of the accounting window, in the forms of O(accounting_start).
    type: str
    default: now
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
seealso:
  - module: aiinfra.slurm.slurm_node
  - module: aiinfra.slurm.slurm_job
"""

EXAMPLES = r"""
- name: Read the cluster on the controller
  aiinfra.slurm.slurm_cluster_facts:

- name: Show the nodes that take no work
  ansible.builtin.debug:
    msg: "{{ ansible_facts.slurm_cluster.nodes | selectattr('status', 'eq', 'failed') | map(attribute='name') }}"

- name: Jobs of the last week by state and account, from slurmdbd
  aiinfra.slurm.slurm_cluster_facts:
    gather_subset: [accounting]
    accounting_start: -7d

- name: Show the accounts with failed jobs
  ansible.builtin.debug:
    msg: "{{ ansible_facts.slurm_cluster.accounting.accounts | dict2items | selectattr('value.FAILED', 'defined') | map(attribute='key') }}"

- name: Read only node states of an external cluster through slurmrestd
  aiinfra.slurm.slurm_cluster_facts:
    gather_subset: [nodes]
    api: rest
    rest_url: https://slurm.example.org:6820
    rest_token: "{{ slurm_jwt }}"
  delegate_to: localhost
"""

RETURN = r"""
ansible_facts:
  description: Facts about the cluster.
  returned: always
  type: dict
  contains:
    slurm_cluster:
      description: The cluster; only the keys of the gathered subsets.
      type: dict
      contains:
        version:
          description: Slurm release.
          type: str
          returned: when gather_subset has version
          sample: "24.11.5"
        cluster_name:
          description:
            - ClusterName of slurm.conf.
            - Null, with a warning, where slurmrestd of Slurm 22.05 cannot tell it (it says it only in
              job records, and no job is known) and no C(scontrol) works on the host.
          type: str
          returned: when gather_subset has version
          sample: hpc1
        nodes:
          description: Every node.
          type: list
          elements: dict
          returned: when gather_subset has nodes
          contains:
            name:
              description: Node name.
              type: str
              sample: cn001
            state:
              description: Slurm's base state, lowercase (idle, allocated, mixed, down, future, unknown).
              type: str
              sample: idle
            flags:
              description: State flags, such as DRAIN, NOT_RESPONDING, POWERED_DOWN.
              type: list
              elements: str
              sample: [DRAIN]
            status:
              description: >-
                One word for operators - failed (down, drained or draining, failing), maintenance,
                unknown (not responding, unknown or future) or running (idle, allocated, mixed).
              type: str
              sample: failed
            cpus:
              description: CPUs.
              type: int
              sample: 64
            real_memory:
              description: Memory in MB.
              type: int
              sample: 257000
            features:
              description: Available features.
              type: list
              elements: str
              sample: [ib, bigmem]
            partitions:
              description: Partitions the node is in.
              type: list
              elements: str
              sample: [batch]
            reason:
              description: Why it is down or drained (Slurm may keep it after a resume).
              type: str
              sample: disk replaced
            weight:
              description: Scheduling weight.
              type: int
              sample: 1
        node_state_counts:
          description: How many nodes have each base state.
          type: dict
          returned: when gather_subset has nodes
          sample: {idle: 60, mixed: 3, down: 1}
        node_status_counts:
          description: How many nodes have each RV(ansible_facts.slurm_cluster.nodes[].status).
          type: dict
          returned: when gather_subset has nodes
          sample: {running: 63, failed: 1}
        partitions:
          description: Partitions.
          type: list
          elements: dict
          returned: when gather_subset has partitions
          sample: [{name: batch, state: UP, nodes: "cn[001-064]", total_nodes: 64, total_cpus: 4096, default: true, max_time: 2880}]
        job_state_counts:
          description: How many jobs slurmctld knows in each base state (finished ones for MinJobAge seconds).
          type: dict
          returned: when gather_subset has jobs
          sample: {RUNNING: 12, PENDING: 40, COMPLETED: 7}
        running_jobs:
          description: The running jobs, as RV(aiinfra.slurm.slurm_job#module:job) returns a job.
          type: list
          elements: dict
          returned: when gather_subset has jobs
          sample: [{job_id: 4242, name: train, state: RUNNING, user: alice, partition: gpu, nodes: "gpu[01-02]"}]
        accounting:
          description:
            - What slurmdbd recorded over the window, one record per job (no steps; a requeued job once,
              in its last state). The same from the CLI and from slurmrestd.
          type: dict
          returned: when gather_subset has accounting
          contains:
            start:
              description: Start of the window, in seconds since the epoch.
              type: int
              sample: 1764583200
            end:
              description: End of the window, in seconds since the epoch.
              type: int
              sample: 1764669600
            jobs:
              description: How many jobs were pending, running or ended in the window.
              type: int
              sample: 12
            job_state_counts:
              description: How many of them are in each base state (the last one slurmdbd knows).
              type: dict
              sample: {COMPLETED: 9, FAILED: 2, CANCELLED: 1}
            accounts:
              description: The same counts per account.
              type: dict
              sample: {physics: {COMPLETED: 7, FAILED: 2}, root: {COMPLETED: 2, CANCELLED: 1}}
backend:
  description: The backend that did the work, V(cli) or V(rest).
  returned: success
  type: str
  sample: rest
"""

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_facts import MODULE_ARGS, FactsGatherer
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_module import run_module


def main():
    run_module(MODULE_ARGS, FactsGatherer)


if __name__ == '__main__':
    main()
