# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: slurm
short_description: The nodes of one or more Slurm clusters as inventory, from slurmrestd or scontrol over SSH
version_added: 0.1.0
description:
  - Reads the nodes of a cluster and makes one host per Slurm node, so that playbooks can target nodes by
    partition, state or feature (for example every drained node). Also for clusters this collection did
    not deploy, since it only reads.
  - "Two sources: V(rest) asks slurmrestd (the same REST client as the modules' O(rest_url), Slurm 22.05
    to 24.11, OpenAPI v0.0.38 to v0.0.42; no SSH and no Slurm commands on the control node). V(ssh) runs
    C(scontrol show node) on a login or controller host of the cluster through the OpenSSH client of the
    control node (any Slurm version; nothing is written there)."
  - "One cluster: the top-level options. Several clusters: O(clusters), one entry each, read one after
    the other into the same inventory."
  - "Groups of the one-cluster form: C(slurm_partition_<name>) per partition, C(slurm_status_<status>) per
    normalised status (running, failed, maintenance, unknown; as M(aiinfra.slurm.slurm_cluster_facts)
    reports it), C(slurm_state_<state>) per base state, and C(slurm_feature_<name>) per feature, all with
    characters that are not valid in group names replaced by C(_). O(groups) and O(keyed_groups) add more."
  - "Groups with O(clusters): C(slurm_<cluster>) with every node of the cluster, and the groups above
    prefixed per cluster: C(slurm_<cluster>_partition_<name>), C(slurm_<cluster>_status_<status>),
    C(slurm_<cluster>_state_<state>), C(slurm_<cluster>_feature_<name>)."
  - "Host variables: C(slurm_state), C(slurm_flags), C(slurm_status), C(slurm_reason), C(slurm_cpus),
    C(slurm_real_memory), C(slurm_features), C(slurm_partitions), C(slurm_weight); C(ansible_host) is the
    node's address in Slurm (C(NodeAddr)) when it differs from the name. With O(clusters) also
    C(slurm_cluster) (the entry's name) and C(slurm_node_name) (the node's name in Slurm)."
  - The configuration file name must end in C(slurm.yml) or C(slurm.yaml).
  - "With O(cache) the nodes read are kept in Ansible's inventory cache (O(cache_plugin), for example
    V(ansible.builtin.jsonfile) with O(cache_connection)); until O(cache_timeout) runs out the clusters are
    not asked again. C(ansible-inventory --flush-cache) or C(meta: refresh_inventory) reads them afresh.
    The cache holds node records only, never a token or password."
author:
  - aiinfra.slurm developers (@aiinfra)
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
  - aiinfra.slurm.connection.rest_client
options:
  plugin:
    description: The name of this plugin; it marks a file as its configuration.
    type: str
    required: true
    choices: [aiinfra.slurm.slurm]
  source:
    description:
      - Where the one cluster of the top-level options is read. V(auto) is V(ssh) when O(ssh_host) is set,
        else V(rest). Entries of O(clusters) have their own C(source).
    type: str
    choices: [auto, rest, ssh]
    default: auto
  rest_url:
    description: URL of slurmrestd, such as V(https://slurm-master:6821), for the source V(rest).
    type: str
    env:
      - name: SLURM_REST_API_URL
  rest_token:
    description:
      - JWT for slurmrestd, as C(scontrol token) prints it after C(SLURM_JWT=). Put it in the
        environment or vault it; it is never shown.
    type: str
    env:
      - name: SLURM_JWT_TOKEN
      - name: SLURM_JWT
  rest_user:
    description: User name sent with the token; defaults to the user the token was minted for.
    type: str
    env:
      - name: SLURM_REST_API_USER
  ssh_host:
    description:
      - Host of the cluster to run C(scontrol) on for the source V(ssh), a login or controller host. A name
        from the OpenSSH client configuration (C(~/.ssh/config), with its C(ProxyJump) and so on) works too.
    type: str
  ssh_user:
    description: User to log in as over SSH; any user who may run C(scontrol show node). Default as OpenSSH chooses.
    type: str
  ssh_port:
    description: SSH port. Default as OpenSSH chooses (22).
    type: int
  ssh_private_key_file:
    description: Private key to log in with. Without one (and without O(ssh_password)), the keys of the agent and
      the OpenSSH configuration; never a prompt (C(BatchMode=yes)).
    type: path
  ssh_password:
    description:
      - Password to log in with instead of a key. Needs C(sshpass) on the control node; it gets the password
        through its environment, never on a command line. Vault it (C(!vault)); it is never shown. A key is
        preferred.
    type: str
  ssh_host_key_checking:
    description:
      - How the SSH host key of O(ssh_host) is checked. V(strict) (default) needs it in the known hosts file
        already, put there and checked by an administrator; V(accept-new) records the key of a host seen for
        the first time and refuses a changed one. Host key checking cannot be switched off.
    type: str
    choices: [strict, accept-new]
    default: strict
  ssh_known_hosts_file:
    description: Known hosts file to check host keys against, instead of OpenSSH's default (C(~/.ssh/known_hosts)).
    type: path
  ssh_args:
    description: More arguments for the C(ssh) command, one list item each (for example V([-o, ProxyJump=bastion])).
    type: list
    elements: str
    default: []
  ssh_timeout:
    description: Seconds to wait for the SSH connection; the whole read may take four times as long.
    type: int
    default: 30
  scontrol_path:
    description: C(scontrol) on the remote host, when it is not in the PATH of a non-interactive login there.
    type: str
    default: scontrol
  partitions:
    description: Only nodes in one of these partitions. All nodes when empty.
    type: list
    elements: str
    default: []
  clusters:
    description:
      - Several clusters in one inventory source, each read with its own options. When given, the top-level
        O(rest_url), O(rest_token), O(rest_user), O(ssh_host), O(ssh_password) and O(partitions) are not used.
      - An entry takes the options above, plus C(name) (required), C(rest_token_env) and C(host_prefix).
        Options it leaves out come from the top level for O(rest_timeout), O(validate_certs), O(ca_path),
        O(ssh_user), O(ssh_port), O(ssh_private_key_file), O(ssh_host_key_checking), O(ssh_known_hosts_file),
        O(ssh_args), O(ssh_timeout) and O(scontrol_path); a token or password is never shared between
        clusters.
      - A node name in two clusters is an error unless C(host_prefix) tells them apart.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The cluster's name in group names (C(slurm_<name>)) and in C(slurm_cluster).
        type: str
        required: true
      source:
        description: V(rest) or V(ssh); V(auto) (default) is V(ssh) when C(ssh_host) is set.
        type: str
        choices: [auto, rest, ssh]
      rest_token_env:
        description: Name of an environment variable that holds this cluster's token (instead of C(rest_token)).
        type: str
      host_prefix:
        description: Put before the node names of this cluster to make its host names; C(ansible_host) then
          is the node's address.
        type: str
      rest_url:
        description: As O(rest_url).
        type: str
      rest_token:
        description: As O(rest_token). Vault it.
        type: str
      rest_user:
        description: As O(rest_user).
        type: str
      rest_api_version:
        description: As O(rest_api_version).
        type: str
      rest_timeout:
        description: As O(rest_timeout).
        type: int
      validate_certs:
        description: As O(validate_certs).
        type: bool
      ca_path:
        description: As O(ca_path).
        type: path
      ssh_host:
        description: As O(ssh_host).
        type: str
      ssh_user:
        description: As O(ssh_user).
        type: str
      ssh_port:
        description: As O(ssh_port).
        type: int
      ssh_private_key_file:
        description: As O(ssh_private_key_file).
        type: path
      ssh_password:
        description: As O(ssh_password). Vault it.
        type: str
      ssh_host_key_checking:
        description: As O(ssh_host_key_checking).
        type: str
        choices: [strict, accept-new]
      ssh_known_hosts_file:
        description: As O(ssh_known_hosts_file).
        type: path
      ssh_args:
        description: As O(ssh_args).
        type: list
        elements: str
      ssh_timeout:
        description: As O(ssh_timeout).
        type: int
      scontrol_path:
        description: As O(scontrol_path).
        type: str
      partitions:
        description: As O(partitions).
        type: list
        elements: str
notes:
  - "The source V(ssh) runs one fixed command, C(scontrol show node), through C(ssh) as an argument list;
    OpenSSH hands it to the remote shell, so each word is quoted. Nothing is written on the cluster; the
    user needs no privileges there."
  - "Host keys are always checked (see O(ssh_host_key_checking)). A host key the known hosts file does not
    hold fails with a message naming the host."
"""

EXAMPLES = r"""
# inventory/cluster.slurm.yml; the token comes from SLURM_JWT (AWX: the aiinfra.slurm credential type)
plugin: aiinfra.slurm.slurm
rest_url: https://slurm-master.example.org:6821
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

---
# inventory/all.slurm.yml: a cluster we only have SSH to, and one with slurmrestd, read once an hour.
plugin: aiinfra.slurm.slurm
ssh_user: monitor
ssh_private_key_file: ~/.ssh/monitor_ed25519
ssh_known_hosts_file: inventory/known_hosts
clusters:
  - name: physics
    ssh_host: login.physics.example.org
  - name: chem
    rest_url: https://slurm.chem.example.org:6821
    rest_token_env: CHEM_SLURM_JWT
    ca_path: inventory/chem-ca.crt
    host_prefix: chem-
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/slurm-inventory
cache_timeout: 3600
keyed_groups:
  - key: slurm_status
    prefix: all_clusters
# Groups: slurm_physics, slurm_physics_partition_batch, slurm_chem_status_failed, all_clusters_failed, ...
"""

import os
import re

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_cli import parse_node_records
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import backend_from_options
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_data import node_status
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.plugin_utils.slurm_ssh import SshTarget

_NOT_IN_GROUP_NAME = re.compile(r'[^A-Za-z0-9_]')

# What an entry of `clusters` may set.
_CLUSTER_KEYS = frozenset((
    'name', 'source', 'rest_url', 'rest_token', 'rest_token_env', 'rest_user', 'rest_api_version', 'rest_timeout',
    'validate_certs', 'ca_path', 'ssh_host', 'ssh_user', 'ssh_port', 'ssh_private_key_file', 'ssh_password',
    'ssh_host_key_checking', 'ssh_known_hosts_file', 'ssh_args', 'ssh_timeout', 'scontrol_path', 'partitions',
    'host_prefix'))
# What an entry takes from the top level when it does not set it: how to connect, never whom to
# reach or with which secret (a token sent to the wrong cluster is a leak).
_INHERITED = ('rest_timeout', 'validate_certs', 'ca_path', 'ssh_user', 'ssh_port', 'ssh_private_key_file',
              'ssh_host_key_checking', 'ssh_known_hosts_file', 'ssh_args', 'ssh_timeout', 'scontrol_path')
# The one cluster of the top-level options.
_TOP_LEVEL_KEYS = ('source', 'rest_url', 'rest_token', 'rest_user', 'rest_api_version', 'ssh_host', 'ssh_password',
                   'partitions') + _INHERITED
_CACHE_FORMAT = 1


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


def node_groups(node, host_vars, prefix='slurm_'):
    """The built-in groups of one node; `prefix` is slurm_ or, per cluster, slurm_<cluster>_."""
    groups = [group_name(prefix + 'partition_', name) for name in node['partitions']]
    groups.append(group_name(prefix + 'status_', host_vars['slurm_status']))
    groups.append(group_name(prefix + 'state_', node['state'] or 'unknown'))
    groups.extend(group_name(prefix + 'feature_', name) for name in node['features'])
    return groups


def source_of(spec):
    """rest or ssh, for one cluster's options (`source` auto: ssh when an ssh_host is set)."""
    source = spec.get('source') or 'auto'
    if source == 'auto':
        return 'ssh' if spec.get('ssh_host') else 'rest'
    return source


def where(spec):
    """The cluster's address for messages: its URL or ssh://[user@]host."""
    if source_of(spec) == 'ssh':
        return 'ssh://%s%s' % (spec['ssh_user'] + '@' if spec.get('ssh_user') else '', spec.get('ssh_host'))
    return spec.get('rest_url') or '(no rest_url)'


def read_nodes(spec, warn=None):
    """The normalized nodes of one cluster, read as its options say. Raises SlurmError."""
    if source_of(spec) == 'ssh':
        if not spec.get('ssh_host'):
            raise SlurmError('source ssh needs ssh_host')
        target = SshTarget(spec['ssh_host'], user=spec.get('ssh_user'), port=spec.get('ssh_port'),
                           private_key_file=spec.get('ssh_private_key_file'), password=spec.get('ssh_password'),
                           host_key_checking=spec.get('ssh_host_key_checking') or 'strict',
                           known_hosts_file=spec.get('ssh_known_hosts_file'), ssh_args=spec.get('ssh_args'),
                           timeout=spec.get('ssh_timeout') or 30, scontrol_path=spec.get('scontrol_path'))
        # Multi-line records: the parser the CLI backend uses (Reason and OS may hold blanks and "=").
        return parse_node_records(target.run([target.scontrol_path, 'show', 'node']))
    if not spec.get('rest_url'):
        raise SlurmError('source rest needs rest_url (or set ssh_host for the source ssh)')
    if not spec.get('rest_token'):
        raise SlurmError('source rest needs a token: rest_token, or SLURM_JWT in the environment (in clusters: '
                         'rest_token or rest_token_env)')
    options = dict(spec, api='rest')
    return backend_from_options(options.get, warn=warn).nodes()


def _typed(cluster, key, value):
    """An option of a `clusters` entry as its type says (Ansible checks only the top-level options)."""
    try:
        if key in ('rest_timeout', 'ssh_port', 'ssh_timeout'):
            return int(value)
        if key == 'validate_certs':
            return boolean(value, strict=True)
        if key in ('ssh_args', 'partitions'):
            if not isinstance(value, list):
                raise TypeError('a list')
            return [str(item) for item in value]
        # A vaulted value decrypts to text here.
        value = str(value)
    except (TypeError, ValueError) as err:
        raise AnsibleError('aiinfra.slurm.slurm inventory: cluster %s: %s has the wrong type (%s)' % (cluster, key, err))
    if key in ('ca_path', 'ssh_private_key_file', 'ssh_known_hosts_file'):
        return os.path.expanduser(value)
    return value


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'aiinfra.slurm.slurm'

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('slurm.yml', 'slurm.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        specs = self._cluster_specs()
        nodes_by_cluster = None
        use_cache = bool(self.get_option('cache'))
        cache_key = self.get_cache_key(path) if use_cache else None
        if use_cache and cache:
            nodes_by_cluster = self._from_cache(cache_key, specs)
        if nodes_by_cluster is None:
            nodes_by_cluster = dict((spec['name'] or '', self._read(spec)) for spec in specs)
            if use_cache:
                # Node records only: the specs (tokens, passwords) never reach the cache.
                self._cache[cache_key] = {'format': _CACHE_FORMAT, 'clusters': nodes_by_cluster}
        seen = {}
        for spec in specs:
            self._add_cluster(spec, nodes_by_cluster[spec['name'] or ''], seen)

    def _from_cache(self, cache_key, specs):
        """The cached nodes of every configured cluster, or None to read them afresh."""
        try:
            cached = self._cache[cache_key]
        except KeyError:
            return None
        if not isinstance(cached, dict) or cached.get('format') != _CACHE_FORMAT:
            return None
        clusters = cached.get('clusters')
        if not isinstance(clusters, dict) or any((spec['name'] or '') not in clusters for spec in specs):
            return None
        return clusters

    def _cluster_specs(self):
        """One dict of options per cluster; `name` None for the one cluster of the top-level options."""
        entries = self.get_option('clusters') or []
        if not entries:
            spec = dict((key, self.get_option(key)) for key in _TOP_LEVEL_KEYS)
            # The modules' environment fallback for the CA, as the AWX credential type injects it.
            spec['ca_path'] = spec.get('ca_path') or os.environ.get('SLURM_REST_CA_PATH') or None
            spec['name'] = None
            return [spec]
        specs = []
        names = set()
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise AnsibleError('aiinfra.slurm.slurm inventory: clusters[%d] must be a mapping of options' % index)
            unknown = sorted(set(entry) - _CLUSTER_KEYS)
            if unknown:
                raise AnsibleError('aiinfra.slurm.slurm inventory: clusters[%d] has unknown options: %s (known: %s)'
                                   % (index, ', '.join(unknown), ', '.join(sorted(_CLUSTER_KEYS))))
            name = entry.get('name')
            if not isinstance(name, str) or not name.strip():
                raise AnsibleError('aiinfra.slurm.slurm inventory: clusters[%d] needs a name' % index)
            if group_name('', name) in names:
                raise AnsibleError('aiinfra.slurm.slurm inventory: two clusters are named %r (or alike in group '
                                   'names)' % name)
            names.add(group_name('', name))
            if entry.get('source', 'auto') not in (None, 'auto', 'rest', 'ssh'):
                raise AnsibleError('aiinfra.slurm.slurm inventory: cluster %s: source must be auto, rest or ssh'
                                   % name)
            spec = dict((key, self.get_option(key)) for key in _INHERITED)
            spec.update((key, _typed(name, key, value)) for key, value in entry.items() if value is not None)
            if not spec.get('rest_token') and entry.get('rest_token_env'):
                spec['rest_token'] = os.environ.get(entry['rest_token_env'])
            specs.append(spec)
        return specs

    def _read(self, spec):
        try:
            return read_nodes(spec, warn=Display().warning)
        except SlurmError as err:
            # The messages name the URL or host and Slurm's or ssh's error, never a token or password.
            cluster = 'cluster %s ' % spec['name'] if spec['name'] else ''
            raise AnsibleError('aiinfra.slurm.slurm inventory %sfrom %s: %s' % (cluster, where(spec), err.msg))

    def _add_cluster(self, spec, nodes, seen):
        name = spec['name']
        wanted = set(spec.get('partitions') or [])
        strict = self.get_option('strict')
        compose, groups, keyed = self.get_option('compose'), self.get_option('groups'), self.get_option('keyed_groups')
        prefix = 'slurm_'
        host_prefix = ''
        if name is not None:
            cluster_group = group_name('slurm_', name)
            self.inventory.add_group(cluster_group)
            prefix = cluster_group + '_'
            host_prefix = spec.get('host_prefix') or ''
        for node in nodes:
            if wanted and not wanted & set(node['partitions']):
                continue
            host = host_prefix + node['name']
            host_vars = node_vars(node)
            if name is not None:
                if host in seen:
                    raise AnsibleError('aiinfra.slurm.slurm inventory: host %s is a node of both cluster %s and cluster '
                                       '%s; set host_prefix on one of them' % (host, seen[host], name))
                seen[host] = name
                host_vars['slurm_cluster'] = name
                host_vars['slurm_node_name'] = node['name']
                if host_prefix and 'ansible_host' not in host_vars:
                    host_vars['ansible_host'] = node['name']
            self.inventory.add_host(host)
            for key, value in host_vars.items():
                self.inventory.set_variable(host, key, value)
            if name is not None:
                self.inventory.add_child(cluster_group, host)
            for group in node_groups(node, host_vars, prefix):
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)
            self._set_composite_vars(compose, host_vars, host, strict=strict)
            self._add_host_to_composed_groups(groups, host_vars, host, strict=strict)
            self._add_host_to_keyed_groups(keyed, host_vars, host, strict=strict)
