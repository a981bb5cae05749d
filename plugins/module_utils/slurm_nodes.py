# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# The node operation of the slurm_node module (and its action plugin): read
# the requested nodes, compare them with what is asked, change only those
# that differ, in one Slurm call per group of nodes alike. Raises SlurmError,
# never fails a module itself. Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.aiinfra.slurm.plugins.module_utils.hostlist import compress
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import SLURM_CONNECTION_ARGS
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_vocabulary import (
    NODE_STATES,
    REASON_STATES,
    feature,
    node_names,
    node_state,
    text,
)

MODULE_ARGS = dict(
    argument_spec=dict(
        names=dict(type='raw', required=True),
        state=dict(type='str', choices=list(NODE_STATES)),
        reason=dict(type='str'),
        weight=dict(type='int'),
        features=dict(type='list', elements='str'),
        node_results=dict(type='str', default='auto', choices=['auto', 'each', 'grouped']),
        **SLURM_CONNECTION_ARGS
    ),
    required_if=[('state', state, ['reason']) for state in REASON_STATES],
    required_one_of=[('state', 'weight', 'features')],
    supports_check_mode=True,
)

# Flags that RESUME clears: it is valid only on nodes with one of these, or down or future ones.
_RESUMABLE_FLAGS = frozenset(['DRAIN', 'FAIL', 'REBOOT_REQUESTED', 'REBOOT_ISSUED', 'POWERING_DOWN'])
# Powered down, or on the way there.
_POWER_DOWN_FLAGS = frozenset(['POWER_DOWN', 'POWERING_DOWN', 'POWERED_DOWN'])
# Up to this many nodes, node_results=auto lists each node in the result.
EACH_NODE_LIMIT = 1000


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
    raise SlurmError('unknown node state %r' % (state,))


# State -> (flags it adds, flags it drops), for check mode.
_EXPECTED_FLAGS = {
    'drain': (['DRAIN'], []),
    'undrain': ([], ['DRAIN']),
    # Slurm keeps the old reason on a resumed node (seen on 24.11).
    'resume': ([], ['DRAIN', 'FAIL', 'REBOOT_REQUESTED', 'POWERING_DOWN']),
    'idle': ([], ['DRAIN', 'FAIL', 'REBOOT_REQUESTED', 'POWERING_DOWN']),
    'down': ([], []),
    'fail': (['FAIL'], []),
    'power_down': (['POWER_DOWN'], []),
    'power_down_asap': (['DRAIN', 'POWER_DOWN'], []),
    'power_down_force': (['POWER_DOWN'], []),
    'power_up': (['POWER_UP'], []),
}


def expected(node, state, reason):
    """The node as it should look after State=<state> (for check mode)."""
    after = copy.deepcopy(node)
    add, drop = _EXPECTED_FLAGS[state]
    after['flags'] = [flag for flag in after['flags'] if flag not in drop]
    after['flags'].extend(flag for flag in add if flag not in after['flags'])
    if state in ('resume', 'idle') and after['state'] in ('down', 'future'):
        after['state'] = 'idle'
    elif state == 'down':
        after['state'] = 'down'
    if state in REASON_STATES:
        after['reason'] = reason
    return after


class NodeManager(object):
    """Compare the requested nodes with Slurm's and change the ones that differ.

    Built from the module's validated options; checks what the argument spec
    cannot (names, reason, features) before anything runs.
    """

    token_lifespan = None

    @staticmethod
    def cli_over_connection(params):
        """Whether the action plugin may run this task's scontrol commands over its connection: always
        (they read and update nodes, nothing else of the host)."""
        return True

    def __init__(self, params):
        self.names = node_names(params['names'])
        self.state = params['state']
        self.reason = params['reason']
        self.weight = params['weight']
        self.features = params['features']
        self.node_results = params['node_results']
        if self.reason is not None:
            if self.state not in REASON_STATES:
                raise SlurmError('reason is used only with state drain, down or fail, not %s' % self.state)
            text(self.reason, 'reason')
        for name in self.features or []:
            feature(name)

    def needs(self, node):
        """(State word or None, weight or None, whether the features) that `node` needs."""
        state = node_state(self.state) if self.state and needs_state(node, self.state, self.reason) else None
        weight = self.weight if self.weight is not None and node['weight'] != self.weight else None
        features = self.features is not None and set(node['features']) != set(self.features)
        return state, weight, features

    def apply(self, backend, update, warn):
        """One Slurm call for one group of nodes; the nodes it had to read back, by name.

        Slurm can report an error for a change it made: 22.05 and 24.11 clear the
        drain flag of nodes that never registered (state UNKNOWN) on RESUME or
        UNDRAIN, and answer "Invalid node state specified". When the nodes read
        back as asked, that is a warning, not a failure.
        """
        names = update['names']
        try:
            backend.update_nodes(names, state=update.get('state'), reason=update.get('reason'),
                                 weight=update.get('weight'), features=update.get('features'))
        except SlurmError as err:
            now = dict((node['name'], node) for node in backend.nodes(names))
            if not all(name in now and self.needs(now[name]) == (None, None, False) for name in names):
                raise
            warn('Slurm reported an error for %s, but the nodes are now as asked: %s' % (compress(names), err.msg))
            return now
        return {}

    def view(self, node):
        """What the result shows of a node."""
        shown = {'state': node['state'], 'flags': list(node['flags']), 'reason': node['reason']}
        if self.weight is not None:
            shown['weight'] = node['weight']
        if self.features is not None:
            shown['features'] = list(node['features'])
        return shown

    def plan(self, current):
        """The updates (each for a list of names) the nodes need, in a stable order."""
        groups = {}
        for name in self.names:
            need = self.needs(current[name])
            if need != (None, None, False):
                groups.setdefault(need, []).append(name)
        updates = []
        for (state, weight, set_features), group in sorted(groups.items(), key=lambda item: str(item[0])):
            update = {'names': group}
            if state:
                update['state'] = state
                if self.state in REASON_STATES:
                    update['reason'] = self.reason
            if weight is not None:
                update['weight'] = weight
            if set_features:
                update['features'] = list(self.features)
            updates.append(update)
        return updates

    def run(self, backend, check_mode=False, diff=False, warn=None):
        warn = warn or (lambda message: None)
        current = dict((node['name'], node) for node in backend.nodes(self.names))
        unknown = [name for name in self.names if name not in current]
        if unknown:
            raise SlurmError('unknown node(s): %s; nothing was changed' % compress(unknown, sort=False),
                             unknown=unknown)
        updates = self.plan(current)
        shown = [dict(update, names=compress(update['names'])) for update in updates]
        changed_names = set(name for update in updates for name in update['names'])
        if changed_names and not check_mode:
            after = {}
            for done, update in enumerate(updates):
                try:
                    # Nodes read back after an error need no second read (10,000 cost 0.3 s).
                    after.update(self.apply(backend, update, warn))
                except SlurmError as err:
                    # The groups before this one are changed: say so.
                    raise SlurmError('%s (%d of %d updates were applied before this one: see updates)'
                                     % (err.msg, done, len(updates)) if done else err.msg,
                                     changed=bool(done), updates=shown[:done], failed_update=shown[done],
                                     **err.details)
            unread = sorted(changed_names - set(after))
            if unread and self.each(len(self.names)):
                after.update((node['name'], node) for node in backend.nodes(unread))
            else:
                # Grouped results show what Slurm accepted, not read back: a second read of 10,000
                # nodes costs 2 s through slurmrestd, the floor being slurmctld's update and one read.
                after.update((name, self.expected(current[name])) for name in unread)
        else:
            after = dict((name, self.expected(current[name])) for name in changed_names)
        views = []
        for name in self.names:
            before = self.view(current[name])
            views.append((name, name in changed_names, before, self.view(after[name]) if name in after else before))
        return self.result(views, shown, backend.name, diff)

    def each(self, count):
        """Whether the result lists each of `count` nodes (and reads the changed ones back)."""
        return self.node_results == 'each' or (self.node_results == 'auto' and count <= EACH_NODE_LIMIT)

    def expected(self, node):
        if self.state and needs_state(node, self.state, self.reason):
            node = expected(node, self.state, self.reason)
        return dict(node, weight=self.weight if self.weight is not None else node['weight'],
                    features=list(self.features) if self.features is not None else node['features'])

    def result(self, views, updates, backend_name, diff):
        result = {'changed': any(changed for name, changed, before, after in views),
                  'node_groups': node_groups(views), 'updates': updates, 'backend': backend_name}
        each = self.each(len(views))
        if each:
            result['nodes'] = [{'name': name, 'changed': changed, 'before': before, 'after': after}
                               for name, changed, before, after in views]
        if diff:
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
