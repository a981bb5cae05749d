# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: slurm
short_description: The nodes of a Slurm cluster as inventory, read from slurmrestd
version_added: 0.1.0
description:
  - Asks slurmrestd for the nodes and partitions of a cluster and makes one host per Slurm node, so that
    playbooks can target nodes by partition, state or feature (for example every drained node).
  - Needs no SSH and no Slurm commands on the control node; the same REST client as the modules'
    O(rest_url) (Slurm 22.05 to 24.11, OpenAPI v0.0.38 to v0.0.42).
  - "Groups: C(slurm_partition_<name>) per partition, C(slurm_status_<status>) per normalised status
    (running, failed, maintenance, unknown; as M(aiinfra.slurm.slurm_cluster_facts) reports it),
    C(slurm_state_<state>) per base state, and C(slurm_feature_<name>) per feature, all with characters
    that are not valid in group names replaced by C(_). O(groups) and O(keyed_groups) add more."
  - "Host variables: C(slurm_state), C(slurm_flags), C(slurm_status), C(slurm_reason), C(slurm_cpus),
    C(slurm_real_memory), C(slurm_features), C(slurm_partitions), C(slurm_weight); C(ansible_host) is the
    node's address in Slurm (C(NodeAddr)) when it differs from the name."
  - The configuration file name must end in C(slurm.yml) or C(slurm.yaml).
author:
  - aiinfra.slurm developers (@aiinfra)
extends_documentation_fragment:
  - ansible.builtin.constructed
  - aiinfra.slurm.connection.rest_client
options:
  plugin:
    description: The name of this plugin; it marks a file as its configuration.
    type: str
    required: true
    choices: [aiinfra.slurm.slurm]
  rest_url:
    description: URL of slurmrestd, such as V(http://slurm-master:6820).
    type: str
    required: true
    env:
      - name: SLURM_REST_API_URL
  rest_token:
    description:
      - JWT for slurmrestd, as C(scontrol token) prints it after C(SLURM_JWT=). Put it in the
        environment or vault it; it is never shown.
    type: str
    required: true
    env:
      - name: SLURM_JWT_TOKEN
      - name: SLURM_JWT
  rest_user:
    description: User name sent with the token; defaults to the user the token was minted for.
    type: str
    env:
      - name: SLURM_REST_API_USER
  partitions:
    description: Only nodes in one of these partitions. All nodes when empty.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
# inventory/cluster.slurm.yml; the token comes from SLURM_JWT (AWX: the aiinfra.slurm credential type)
plugin: aiinfra.slurm.slurm
rest_url: https://slurm-master.example.org:6820
partitions: [batch, gpu]
# Reach the nodes through their NodeAddr, and group them by rack feature as well.
keyed_groups:
  - key: slurm_features | select('match', 'rack') | list
    prefix: ""
    separator: ""
compose:
  ansible_user: "'admin'"
groups:
  drain_me_later: "'DRAIN' in slurm_flags"

# ansible-inventory -i inventory/cluster.slurm.yml --graph
# ansible -i inventory/cluster.slurm.yml slurm_status_failed -m ansible.builtin.ping
"""

import os
import re

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.utils.display import Display

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import backend_from_options
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_data import node_status
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError

_NOT_IN_GROUP_NAME = re.compile(r'[^A-Za-z0-9_]')


def group_name(prefix, value):
    """A valid group name for `value`: slurm_partition_gpu, slurm_feature_rack_3."""
    return prefix + _NOT_IN_GROUP_NAME.sub('_', value.lower())


def node_vars(node):
    """The host variables of one normalized node."""
    host_vars = {
        'slurm_state': node['state'],
        'slurm_flags': list(node['flags']),
        'slurm_status': node_status(node),
        'slurm_reason': node['reason'],
        'slurm_cpus': node['cpus'],
        'slurm_real_memory': node['real_memory'],
        'slurm_features': list(node['features']),
        'slurm_partitions': list(node['partitions']),
        'slurm_weight': node['weight'],
    }
    if node['address'] and node['address'] != node['name']:
        host_vars['ansible_host'] = node['address']
    return host_vars


def node_groups(node, host_vars):
    """The built-in groups of one node."""
    groups = [group_name('slurm_partition_', name) for name in node['partitions']]
    groups.append(group_name('slurm_status_', host_vars['slurm_status']))
    groups.append(group_name('slurm_state_', node['state'] or 'unknown'))
    groups.extend(group_name('slurm_feature_', name) for name in node['features'])
    return groups


class InventoryModule(BaseInventoryPlugin, Constructable):

    NAME = 'aiinfra.slurm.slurm'

    def _option(self, name):
        # Always slurmrestd: the inventory has the REST options of the modules, not `api`.
        if name == 'api':
            return 'rest'
        if name == 'ca_path':
            # The modules' environment fallback, as the AWX credential type injects it.
            return self.get_option(name) or os.environ.get('SLURM_REST_CA_PATH') or None
        return self.get_option(name)

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('slurm.yml', 'slurm.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        try:
            nodes = backend_from_options(self._option, warn=Display().warning).nodes()
        except SlurmError as err:
            # The messages name URL, status and Slurm's error, never the token.
            raise AnsibleError('aiinfra.slurm.slurm inventory from %s: %s' % (self.get_option('rest_url'), err.msg))
        wanted = set(self.get_option('partitions') or [])
        strict = self.get_option('strict')
        for node in nodes:
            if wanted and not wanted & set(node['partitions']):
                continue
            host = node['name']
            self.inventory.add_host(host)
            host_vars = node_vars(node)
            for key, value in host_vars.items():
                self.inventory.set_variable(host, key, value)
            for group in node_groups(node, host_vars):
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)
            self._set_composite_vars(self.get_option('compose'), host_vars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), host_vars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), host_vars, host, strict=strict)
