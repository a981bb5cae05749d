#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slurm_node
short_description: Drain, resume, down, power and re-weight Slurm nodes, idempotently
version_added: 0.1.0
description:
  - Brings Slurm nodes to a state (drained, resumed, down, failed, powered down or up) and sets their
    weight and features, through C(scontrol update) or slurmrestd (see O(api)).
  - Reads the nodes first and changes only those that need it, in one Slurm call for all of them
    (C(scontrol update NodeName=node[01-64] ...), or one slurmrestd request where the API has a bulk
    update). Draining a node already drained with the same reason changes nothing, and resuming a node
    that is neither drained nor down is not attempted (Slurm refuses it).
  - Every name is checked before anything changes; unknown nodes fail the task and change nothing.
  - When a later group of nodes fails, the task fails with C(changed=true) and RV(updates) lists the
    updates already applied.
author:
  - aiinfra.slurm developers (@aiinfra)
extends_documentation_fragment:
  - aiinfra.slurm.attributes
  - aiinfra.slurm.connection
  - aiinfra.slurm.connection.rest_client
options:
  names:
    description:
      - The nodes, as a list of names or hostlist expressions (V(gpu[01-04]), V(cn[001-064],login1)),
        or as one such expression.
    type: raw
    required: true
  state:
    description:
      - What the nodes should be. Omit it to change only O(weight) or O(features).
      - V(drain) - take no new jobs, finish running ones (draining, then drained). Needs O(reason).
      - V(undrain) - clear the drain flag only (a down node stays down).
      - V(resume) - back into service from drained, down, failed, or powering down. A node that is
        already in service is left alone.
      - V(down) - out of service now; Slurm kills or requeues its jobs. Needs O(reason).
      - V(idle) - from down straight to idle, without the checks of V(resume).
      - V(fail) - the node is about to fail and takes no new jobs. Needs O(reason).
      - V(power_down), V(power_up) - through the power saving programs of slurm.conf
        (C(SuspendProgram), C(ResumeProgram)), which must be configured.
      - V(power_down_asap) - drain, then power down once idle. V(power_down_force) - cancel the node's
        jobs and power down now. Both need Slurm 21.08 or later.
    type: str
    choices: [resume, drain, undrain, down, idle, fail, power_down, power_up, power_down_asap, power_down_force]
  reason:
    description:
      - Why, as Slurm shows it (C(sinfo -R)). Required for O(state=drain), O(state=down) and
        O(state=fail), and used only with them.
      - A node that already is in the state with another reason gets the new reason.
      - Must not contain newlines or other control characters.
    type: str
  weight:
    description: Scheduling weight of the nodes (lower is used first).
    type: int
  features:
    description:
      - The nodes' features, replacing the current ones (available and active alike, as without a
        node features plugin). V([]) removes all.
      - Compared as sets; names must not contain commas, blanks or control characters.
    type: list
    elements: str
  node_results:
    description:
      - How the result reports the nodes. RV(node_groups) always holds every requested node, as groups of
        nodes alike named by a hostlist expression.
      - V(each) also lists every node in RV(nodes), and keys the diff by node name.
      - V(grouped) leaves RV(nodes) out and keys the diff by the groups' hostlist expressions. Thousands of
        per-node entries cost Ansible about 0.2 seconds per thousand nodes to carry.
      - V(auto) is V(each) for up to 1,000 requested nodes and V(grouped) beyond.
    type: str
    choices: [auto, each, grouped]
    default: auto
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - In check mode the RV(nodes[].after) states are the expected ones; otherwise they are read back from
    Slurm after the change (a resumed node may show V(NOT_RESPONDING) until slurmd answers the next ping).
  - With grouped results (O(node_results=grouped), or V(auto) beyond 1,000 nodes), RV(node_groups[].after)
    is what Slurm accepted without an error, not read back (reading 10,000 nodes a second time costs
    about 2 seconds through slurmrestd).
  - Power states need power saving configured in slurm.conf; otherwise Slurm refuses them, and the task
    fails saying so.
  - For nodes that never registered (state C(unknown)), Slurm clears the drain flag on V(resume) but
    reports an error; the module then reads the nodes back and, as they are as asked, only warns.
seealso:
  - module: aiinfra.slurm.slurm_cluster_facts
  - module: aiinfra.slurm.slurm_job
"""

EXAMPLES = r"""
- name: Drain two GPU nodes for maintenance
  aiinfra.slurm.slurm_node:
    names: gpu[01-02]
    state: drain
    reason: "firmware update, ticket 4711"

- name: Put them back into service
  aiinfra.slurm.slurm_node:
    names: [gpu01, gpu02]
    state: resume

- name: Drain through slurmrestd from the AWX host, with a token from the environment (SLURM_JWT)
  aiinfra.slurm.slurm_node:
    names: cn[001-128]
    state: drain
    reason: rack 3 power work
    api: rest
    rest_url: https://slurm-master.example.org:6820
  delegate_to: localhost

- name: Prefer the big-memory nodes last and tag them
  aiinfra.slurm.slurm_node:
    names: bigmem[1-4]
    weight: 100
    features: [bigmem, ib]
"""

RETURN = r"""
changed:
  description: Whether any node was (or, in check mode, would be) changed.
  returned: always
  type: bool
  sample: true
node_groups:
  description: The requested nodes in groups that were, and are (or would be), alike, in the order asked.
  returned: success
  type: list
  elements: dict
  contains:
    names:
      description: The nodes of the group, as a hostlist expression.
      type: str
      sample: gpu[01-02]
    count:
      description: How many nodes the group has.
      type: int
      sample: 2
    changed:
      description: Whether these nodes were (or would be) changed.
      type: bool
      sample: true
    before:
      description: The nodes before the change, like RV(nodes[].before).
      type: dict
      sample: {state: idle, flags: [], reason: ""}
    after:
      description: The nodes after the change, like RV(nodes[].after).
      type: dict
      sample: {state: idle, flags: [DRAIN], reason: "firmware update, ticket 4711"}
nodes:
  description: One entry per requested node, in the order asked.
  returned: success, with O(node_results=each), or O(node_results=auto) for up to 1,000 nodes
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
      sample: gpu01
    changed:
      description: Whether this node was (or would be) changed.
      type: bool
      sample: true
    before:
      description: >-
        The node before the change: C(state) (Slurm's base state, lowercase), C(flags) (such as
        C(DRAIN), C(NOT_RESPONDING), C(POWERED_DOWN)), C(reason); C(weight) and C(features) when
        O(weight) or O(features) were given.
      type: dict
      sample: {state: idle, flags: [], reason: ""}
    after:
      description: The node after the change, like RV(nodes[].before).
      type: dict
      sample: {state: idle, flags: [DRAIN], reason: "firmware update, ticket 4711"}
updates:
  description:
    - The Slurm calls made (or that would be made in check mode), one per distinct change.
    - When one fails, those applied before it (with C(failed_update), the one that failed).
  returned: always
  type: list
  elements: dict
  sample: [{names: "gpu[01-02]", state: DRAIN, reason: "firmware update, ticket 4711"}]
backend:
  description: The backend that did the work, V(cli) or V(rest).
  returned: success
  type: str
  sample: cli
diff:
  description: >-
    Before and after of the changed nodes (with C(--diff)), keyed by node name, or by the hostlist
    expressions of RV(node_groups) when RV(nodes) is not returned.
  returned: when diff mode is on
  type: dict
  sample: {before: {gpu01: {state: idle, flags: [], reason: ""}}, after: {gpu01: {state: idle, flags: [DRAIN], reason: maintenance}}}
"""

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_module import run_module
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_nodes import MODULE_ARGS, NodeManager


def main():
    run_module(MODULE_ARGS, NodeManager)


if __name__ == '__main__':
    main()
