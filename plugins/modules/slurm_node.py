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
  description: The Slurm calls made (or that would be made in check mode), one per distinct change.
  returned: success
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

import copy
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiinfra.slurm.plugins.module_utils.hostlist import HostlistError, compress, expand
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import (
    SLURM_CONNECTION_ARGS,
    SlurmError,
    backend_from_module,
)

STATES = ('resume', 'drain', 'undrain', 'down', 'idle', 'fail', 'power_down', 'power_up', 'power_down_asap',
          'power_down_force')
REASON_STATES = ('drain', 'down', 'fail')

# Flags that RESUME clears: it is valid only on nodes with one of these, or down or future ones.
_RESUMABLE_FLAGS = frozenset(['DRAIN', 'FAIL', 'REBOOT_REQUESTED', 'REBOOT_ISSUED', 'POWERING_DOWN'])
# Powered down, or on the way there.
_POWER_DOWN_FLAGS = frozenset(['POWER_DOWN', 'POWERING_DOWN', 'POWERED_DOWN'])
# Up to this many nodes, node_results=auto lists each node in the result.
EACH_NODE_LIMIT = 1000
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')
_FEATURE = re.compile(r'[^\s,\x00-\x1f\x7f]+\Z')


def needs_state(node, state, reason=None):
    """Whether `node` (normalized) must be sent State=<state> to be `state`.

    Mirrors slurmctld's rules (update_node in node_mgr.c) so that nothing is
    sent that is already true, and RESUME never reaches a node in service.
    """
    flags = set(node['flags'])
    base = node['state']
    if state == 'drain':
        return 'DRAIN' not in flags or node['reason'] != reason
    if state == 'undrain':
        return 'DRAIN' in flags
    if state == 'resume':
        return base in ('down', 'future') or bool(flags & _RESUMABLE_FLAGS)
    if state == 'down':
        return base != 'down' or node['reason'] != reason
    if state == 'fail':
        return 'FAIL' not in flags or node['reason'] != reason
    if state == 'idle':
        return base != 'idle' or bool(flags & set(['DRAIN', 'FAIL']))
    if state in ('power_down', 'power_down_asap'):
        return not flags & _POWER_DOWN_FLAGS
    if state == 'power_down_force':
        # A power down already under way, or due on an idle node, is as good.
        return not (flags & set(['POWERING_DOWN', 'POWERED_DOWN']) or ('POWER_DOWN' in flags and base == 'idle'))
    if state == 'power_up':
        if not flags & _POWER_DOWN_FLAGS or 'POWERING_UP' in flags:
            return False
        # Powered down with a power up asked for: it is on its way.
        return not ('POWERED_DOWN' in flags and 'POWER_UP' in flags)
    raise ValueError(state)


def expected(node, state, reason):
    """The node as it should look after State=<state> (for check mode)."""
    after = copy.deepcopy(node)
    flags = after['flags']

    def add(*names):
        for name in names:
            if name not in flags:
                flags.append(name)

    def drop(*names):
        after['flags'] = [flag for flag in after['flags'] if flag not in names]

    if state == 'drain':
        add('DRAIN')
    elif state == 'undrain':
        drop('DRAIN')
    elif state in ('resume', 'idle'):
        # Slurm keeps the old reason on a resumed node (seen on 24.11).
        drop('DRAIN', 'FAIL', 'REBOOT_REQUESTED', 'POWERING_DOWN')
        if after['state'] in ('down', 'future'):
            after['state'] = 'idle'
    elif state == 'down':
        after['state'] = 'down'
    elif state == 'fail':
        add('FAIL')
    elif state == 'power_down':
        add('POWER_DOWN')
    elif state == 'power_down_asap':
        add('DRAIN', 'POWER_DOWN')
    elif state == 'power_down_force':
        add('POWER_DOWN')
    elif state == 'power_up':
        add('POWER_UP')
    if state in REASON_STATES:
        after['reason'] = reason
    return after


class NodeManager(object):
    """Compare the requested nodes with Slurm's and change the ones that differ."""

    def __init__(self, module, backend):
        self.module = module
        self.backend = backend
        params = module.params
        self.state = params['state']
        self.reason = params['reason']
        self.weight = params['weight']
        self.features = params['features']
        self.node_results = params['node_results']

    def needs(self, node):
        """(State word or None, weight or None, whether the features) that `node` needs."""
        state = self.state.upper() if self.state and needs_state(node, self.state, self.reason) else None
        weight = self.weight if self.weight is not None and node['weight'] != self.weight else None
        features = self.features is not None and set(node['features']) != set(self.features)
        return state, weight, features

    def apply(self, update):
        """One Slurm call for one group of nodes.

        Slurm can report an error for a change it made: 22.05 and 24.11 clear the
        drain flag of nodes that never registered (state UNKNOWN) on RESUME or
        UNDRAIN, and answer "Invalid node state specified". When the nodes read
        back as asked, that is a warning, not a failure.
        """
        try:
            self.backend.update_nodes(update['names'], state=update.get('state'), reason=update.get('reason'),
                                      weight=update.get('weight'), features=update.get('features'))
        except SlurmError as err:
            names = expand(update['names'])
            now = dict((node['name'], node) for node in self.backend.nodes(names))
            if not all(name in now and self.needs(now[name]) == (None, None, False) for name in names):
                raise
            self.module.warn('Slurm reported an error for %s, but the nodes are now as asked: %s'
                             % (update['names'], err.msg))

    def view(self, node):
        """What the result shows of a node."""
        shown = {'state': node['state'], 'flags': list(node['flags']), 'reason': node['reason']}
        if self.weight is not None:
            shown['weight'] = node['weight']
        if self.features is not None:
            shown['features'] = list(node['features'])
        return shown

    def run(self, names):
        current = dict((node['name'], node) for node in self.backend.nodes(names))
        unknown = [name for name in names if name not in current]
        if unknown:
            raise SlurmError('unknown node(s): %s; nothing was changed' % compress(unknown, sort=False),
                             unknown=unknown)

        # Nodes by what they need: (state word or None, weight or None, whether features).
        plan = {}
        for name in names:
            need = self.needs(current[name])
            if need != (None, None, False):
                plan.setdefault(need, []).append(name)

        updates = []
        for (state, weight, set_features), group in sorted(plan.items(), key=lambda item: str(item[0])):
            update = {'names': compress(group)}
            if state:
                update['state'] = state
                if self.state in REASON_STATES:
                    update['reason'] = self.reason
            if weight is not None:
                update['weight'] = weight
            if set_features:
                update['features'] = list(self.features)
            updates.append(update)

        changed_names = set(name for group in plan.values() for name in group)
        if changed_names and not self.module.check_mode:
            for update in updates:
                self.apply(update)
            after = dict((node['name'], node) for node in self.backend.nodes(sorted(changed_names)))
        else:
            after = {}
            for name in changed_names:
                node = current[name]
                if self.state and needs_state(node, self.state, self.reason):
                    node = expected(node, self.state, self.reason)
                node = dict(node, weight=self.weight if self.weight is not None else node['weight'],
                            features=list(self.features) if self.features is not None else node['features'])
                after[name] = node

        views = []
        for name in names:
            before = self.view(current[name])
            views.append((name, name in changed_names, before, self.view(after[name]) if name in after else before))
        result = {'changed': bool(changed_names), 'node_groups': node_groups(views), 'updates': updates,
                  'backend': self.backend.name}
        each = self.node_results == 'each' or (self.node_results == 'auto' and len(names) <= EACH_NODE_LIMIT)
        if each:
            result['nodes'] = [{'name': name, 'changed': changed, 'before': before, 'after': after_view}
                               for name, changed, before, after_view in views]
        if self.module._diff:
            # Per node, or per group of nodes alike (keyed by hostlist) where the list would be long.
            shown = [(item['name'], item) for item in result['nodes'] if item['changed']] if each else \
                [(group['names'], group) for group in result['node_groups'] if group['changed']]
            result['diff'] = {'before': dict((key, item['before']) for key, item in shown),
                              'after': dict((key, item['after']) for key, item in shown)}
        return result


def node_groups(views):
    """(name, changed, before, after) of each node, as groups of nodes alike, in order of first name.

    Ten thousand per-node entries cost Ansible seconds to carry; a drain of a
    whole cluster is a handful of groups.
    """
    groups = {}
    for name, changed, before, after in views:
        key = (changed, _frozen(before), _frozen(after))
        if key not in groups:
            groups[key] = {'names': [], 'changed': changed, 'before': before, 'after': after}
        groups[key]['names'].append(name)
    result = []
    for group in groups.values():
        group['count'] = len(group['names'])
        group['names'] = compress(group['names'], sort=False)
        result.append(group)
    return result


def _frozen(view):
    """A node view (dict of str, int and lists) as something hashable."""
    return tuple(sorted((key, tuple(value) if isinstance(value, list) else value) for key, value in view.items()))


def check_params(module):
    """Refuse bad input before anything runs; return the node names."""
    params = module.params
    try:
        names = expand(params['names'])
    except HostlistError as err:
        module.fail_json(msg='invalid names: %s' % err)
    if not names:
        module.fail_json(msg='names is empty')
    # Duplicates would only repeat results.
    seen = set()
    names = [name for name in names if not (name in seen or seen.add(name))]
    state, reason = params['state'], params['reason']
    if state in REASON_STATES and not reason:
        module.fail_json(msg='state=%s needs a reason' % state)
    if reason is not None:
        if state not in REASON_STATES:
            module.fail_json(msg='reason is used only with state drain, down or fail, not %s' % state)
        if _CONTROL.search(reason):
            module.fail_json(msg='reason must not contain newlines or other control characters: %r' % reason)
    for feature in params['features'] or []:
        if not _FEATURE.match(feature):
            module.fail_json(msg='invalid feature name %r: no commas, blanks or control characters' % feature)
    if state is None and params['weight'] is None and params['features'] is None:
        module.fail_json(msg='nothing to do: give state, weight or features')
    return names


ARGUMENT_SPEC = dict(
    names=dict(type='raw', required=True),
    state=dict(type='str', choices=list(STATES)),
    reason=dict(type='str'),
    weight=dict(type='int'),
    features=dict(type='list', elements='str'),
    node_results=dict(type='str', default='auto', choices=['auto', 'each', 'grouped']),
    **SLURM_CONNECTION_ARGS
)
MODULE_OPTIONS = dict(supports_check_mode=True)


def execute(module):
    """The result for `module` (AnsibleModule, or the action plugin's stand-in for REST on the control node)."""
    names = check_params(module)
    try:
        return NodeManager(module, backend_from_module(module)).run(names)
    except SlurmError as err:
        module.fail_json(msg=err.msg, **err.details)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, **MODULE_OPTIONS)
    module.exit_json(**execute(module))


if __name__ == '__main__':
    main()
