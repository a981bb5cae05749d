# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The slurm inventory plugin on node lists captured from real slurmrestd 22.05
# and 24.11 (tests/unit/fixtures/slurm/rest-*/), served by a fake open_url, and
# on `scontrol show node` output captured from both versions (cli-*/), printed
# by a fake ssh client.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.template import trust_as_template

from ansible_collections.aiinfra.slurm.plugins.inventory import slurm as plugin_module
from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_rest
from ansible_collections.aiinfra.slurm.plugins.plugin_utils import slurm_ssh
from ansible_collections.aiinfra.slurm.tests.unit.plugins.module_utils.test_slurm_rest import FakeSlurmrestd

FIXTURES = Path(__file__).parents[2] / 'fixtures' / 'slurm'
URL = 'http://slurm.example:6820'
# Shaped like `scontrol token`'s (header.claims.signature; claims {"sun": "root"}).
TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJyb290In0.c2ln'


def serve(monkeypatch, release, nodes_fixture):
    """slurmrestd of `release` (test_slurm_rest's fake, which also answers the version's choice)
    answering GET nodes with the captured `nodes_fixture`; the nodes and the requests it gets."""
    server = FakeSlurmrestd(monkeypatch, release)
    return server.serve(nodes_fixture)['body']['nodes'], server.requests


def run(options, cache=True):
    """Parse with `options` as the configuration file would give them (documented defaults for the others)."""
    plugin = plugin_module.InventoryModule()
    defaults = {'rest_user': None, 'rest_api_version': None, 'rest_timeout': 30, 'validate_certs': True,
                'ca_path': None, 'partitions': [], 'strict': False, 'compose': {}, 'groups': {},
                'keyed_groups': [], 'rest_token': TOKEN, 'rest_url': URL, 'source': 'auto', 'ssh_args': [],
                'ssh_timeout': 30, 'ssh_host_key_checking': 'strict', 'scontrol_path': 'scontrol', 'clusters': [],
                'cache': False, 'cache_plugin': 'memory'}
    defaults.update(options)
    plugin.get_option = defaults.get

    def read_config(path):
        # What BaseInventoryPlugin._read_config_data does with the cache options.
        if defaults['cache']:
            plugin.load_cache_plugin()

    plugin._read_config_data = read_config
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), 'cluster.slurm.yml', cache=cache)
    if defaults['cache']:
        # As InventoryManager does after each source.
        plugin.update_cache_if_changed()
    return inventory


def members(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts()) if group in inventory.groups else []


@pytest.mark.parametrize('release, fixture', [('22.05', 'v0.0.38-nodes-busy'), ('24.11', 'v0.0.42-nodes-busy'),
                                              ('24.11', 'v0.0.42-nodes-drained')])
def test_one_host_per_node_with_groups_and_vars(monkeypatch, release, fixture):
    raw_nodes, asked = serve(monkeypatch, release, fixture)
    inventory = run({})
    names = sorted(raw['name'] for raw in raw_nodes)
    assert sorted(inventory.hosts) == names
    for raw in raw_nodes:
        host_vars = inventory.get_host(raw['name']).vars
        partitions = raw['partitions'] if isinstance(raw['partitions'], list) else raw['partitions'].split(',')
        assert host_vars['slurm_partitions'] == partitions
        assert host_vars['slurm_cpus'] == raw['cpus']
        assert host_vars['slurm_reason'] == (raw.get('reason') or '')
        for partition in partitions:
            assert raw['name'] in members(inventory, 'slurm_partition_' + partition)
        assert raw['name'] in members(inventory, 'slurm_status_' + host_vars['slurm_status'])
        assert raw['name'] in members(inventory, 'slurm_state_' + host_vars['slurm_state'])
    # Both headers on every request, the token never anywhere else.
    assert all(headers['X-SLURM-USER-TOKEN'] == TOKEN and headers['X-SLURM-USER-NAME'] == 'root'
               for headers in (request['headers'] for request in asked))


def test_drained_nodes_are_failed_and_keep_their_reason(monkeypatch):
    serve(monkeypatch, '24.11', 'v0.0.42-nodes-drained')
    inventory = run({})
    assert members(inventory, 'slurm_status_failed') == ['lab-node1', 'lab-node2']
    host_vars = inventory.get_host('lab-node1').vars
    assert 'DRAIN' in host_vars['slurm_flags'] and host_vars['slurm_reason'] == 'cap bulk'
    # NodeAddr equal to the name: nothing to override.
    assert 'ansible_host' not in host_vars


def test_partition_filter_and_constructed_groups(monkeypatch):
    serve(monkeypatch, '24.11', 'v0.0.42-nodes-busy')
    assert sorted(run({'partitions': ['nosuch']}).hosts) == []
    # Expressions from a configuration file are trusted templates; these are typed in here.
    inventory = run({'partitions': ['main'], 'strict': True,
                     'groups': {'busy': trust_as_template("slurm_state == 'allocated'")},
                     'compose': {'cores_total': trust_as_template('slurm_cpus * 2')}})
    assert members(inventory, 'busy') == sorted(inventory.hosts)
    assert all(inventory.get_host(name).vars['cores_total'] == 2 * inventory.get_host(name).vars['slurm_cpus']
               for name in inventory.hosts)


def test_group_names_are_made_valid():
    assert plugin_module.group_name('slurm_feature_', 'rack-3.a') == 'slurm_feature_rack_3_a'


def test_unreachable_slurmrestd_is_a_clear_error_without_the_token(monkeypatch):
    def refused(url, **kwargs):
        raise slurm_rest.URLError(ConnectionRefusedError(111, 'Connection refused'))

    monkeypatch.setattr(slurm_rest, 'open_url', refused)
    with pytest.raises(AnsibleError) as err:
        run({})
    assert URL in str(err.value) and 'refused' in str(err.value).lower()
    assert TOKEN not in str(err.value)


# -- the ssh source: scontrol on a cluster host through the OpenSSH client ---------------------------------

SSH_HOST = 'login.example'


def captured(release, file_name, command):
    """One command's captured record from tests/unit/fixtures/slurm/cli-<release>/<file_name>."""
    doc = yaml.safe_load((FIXTURES / ('cli-' + release) / file_name).read_text())
    return doc['commands'][command]


def scontrol_state(out, name):
    """The base state of node `name` in `scontrol show node` text ("State=MIXED+DRAIN" -> "mixed")."""
    record = out.split('NodeName=' + name + ' ', 1)[1].split('NodeName=', 1)[0]
    return re.search(r'\bState=([A-Z_]+)', record).group(1).lower()


class FakeSsh:
    """Stands in for subprocess.run in slurm_ssh: answers every call with one result, records argv and env."""

    def __init__(self, monkeypatch, rc=0, stdout='', stderr='', error=None):
        self.calls = []
        self.result = (rc, stdout, stderr)
        self.error = error
        monkeypatch.setattr(slurm_ssh.subprocess, 'run', self)

    def __call__(self, argv, **kwargs):
        self.calls.append((argv, kwargs.get('env')))
        if self.error:
            raise self.error
        rc, out, err = self.result
        return subprocess.CompletedProcess(argv, rc, out.encode(), err.encode())


@pytest.mark.parametrize('release, command', [('22.05', 'nodes_busy'), ('24.11', 'nodes_busy'),
                                              ('24.11', 'nodes_idle')])
def test_ssh_source_makes_the_same_hosts_and_groups(monkeypatch, release, command):
    record = captured(release, 'cmd-cluster.yml', command)
    assert record['argv'] == ['scontrol', 'show', 'node']
    ssh = FakeSsh(monkeypatch, stdout=record['stdout'])
    inventory = run({'ssh_host': SSH_HOST, 'ssh_user': 'monitor', 'ssh_private_key_file': '/keys/id',
                     'ssh_known_hosts_file': '/keys/known_hosts', 'rest_url': None, 'rest_token': None})
    assert sorted(inventory.hosts) == ['lab-node1', 'lab-node2']
    assert members(inventory, 'slurm_partition_main') == ['lab-node1', 'lab-node2']
    for name in ('lab-node1', 'lab-node2'):
        state = inventory.get_host(name).vars['slurm_state']
        assert state == scontrol_state(record['stdout'], name)
        assert name in members(inventory, 'slurm_state_' + state)
    # One ssh call, an argv list: key only, no prompt, host keys checked, the remote command last.
    [(argv, env)] = ssh.calls
    assert env is None
    assert argv[0] == 'ssh' and argv[-3:] == ['--', SSH_HOST, 'scontrol show node']
    for option in ('BatchMode=yes', 'StrictHostKeyChecking=yes', 'UserKnownHostsFile=/keys/known_hosts',
                   'ConnectTimeout=30'):
        assert argv[argv.index(option) - 1] == '-o'
    assert argv[argv.index('-i') + 1] == '/keys/id' and argv[argv.index('-l') + 1] == 'monitor'


def test_ssh_remote_command_words_are_quoted_for_the_remote_shell(monkeypatch):
    ssh = FakeSsh(monkeypatch, stdout='')
    run({'ssh_host': SSH_HOST, 'scontrol_path': '/opt/slurm bin/scontrol; touch /tmp/owned'})
    assert ssh.calls[0][0][-1] == "'/opt/slurm bin/scontrol; touch /tmp/owned' show node"


@pytest.mark.parametrize('option, value', [('ssh_host', '-oProxyCommand=touch /tmp/owned'),
                                           ('ssh_host', 'two words'), ('ssh_user', '-x'),
                                           ('ssh_user', 'root\nProxyCommand'), ('ssh_port', 'ssh'),
                                           ('ssh_host_key_checking', 'no'), ('scontrol_path', 'scontrol\n')])
def test_ssh_options_that_could_become_flags_or_lines_are_refused(monkeypatch, option, value):
    ssh = FakeSsh(monkeypatch)
    options = {'ssh_host': SSH_HOST}
    options[option] = value
    with pytest.raises(AnsibleError) as err:
        run(options)
    assert option in str(err.value)
    assert ssh.calls == []


def test_ssh_password_goes_to_sshpass_through_its_environment_only(monkeypatch):
    password = 'pw-sentinel-4711'
    ssh = FakeSsh(monkeypatch, rc=5, stderr='')
    with pytest.raises(AnsibleError) as err:
        run({'ssh_host': SSH_HOST, 'ssh_password': password})
    [(argv, env)] = ssh.calls
    assert argv[:3] == ['sshpass', '-e', 'ssh'] and 'BatchMode=no' in argv
    assert env['SSHPASS'] == password and password not in ' '.join(argv)
    assert 'login refused' in str(err.value) and password not in str(err.value)


def test_ssh_password_without_sshpass_says_so(monkeypatch):
    FakeSsh(monkeypatch, error=FileNotFoundError(2, 'No such file or directory'))
    with pytest.raises(AnsibleError) as err:
        run({'ssh_host': SSH_HOST, 'ssh_password': 'pw-sentinel-4711'})
    assert 'sshpass' in str(err.value) and 'pw-sentinel-4711' not in str(err.value)


def test_unknown_host_key_is_named(monkeypatch):
    # What OpenSSH prints with StrictHostKeyChecking=yes and a host missing from known_hosts.
    FakeSsh(monkeypatch, rc=255, stderr='No ED25519 host key is known for login.example and you have requested '
                                        'strict checking.\r\nHost key verification failed.\r\n')
    with pytest.raises(AnsibleError) as err:
        run({'ssh_host': SSH_HOST, 'ssh_user': 'monitor'})
    message = str(err.value)
    assert 'ssh://monitor@login.example' in message and 'host key of login.example' in message
    assert 'accept-new' in message


@pytest.mark.parametrize('release', ['22.05', '24.11'])
def test_scontrol_failing_on_the_remote_host_is_explained(monkeypatch, release):
    record = captured(release, 'cmd-down.yml', 'nodes')
    FakeSsh(monkeypatch, rc=record['rc'], stdout=record['stdout'], stderr=record['stderr'])
    with pytest.raises(AnsibleError) as err:
        run({'ssh_host': SSH_HOST})
    assert 'scontrol show node on login.example failed (rc 1)' in str(err.value)
    assert 'Unable to contact slurm controller' in str(err.value)


# -- several clusters in one source ------------------------------------------------------------------------

def two_clusters(**extra):
    lab = {'name': 'lab', 'rest_url': URL, 'rest_token_env': 'LAB_JWT'}
    other = {'name': 'Physics-1', 'ssh_host': SSH_HOST}
    other.update(extra)
    return {'rest_url': None, 'rest_token': None, 'clusters': [lab, other]}


def test_two_clusters_get_a_group_each_and_prefixed_groups(monkeypatch):
    monkeypatch.setenv('LAB_JWT', TOKEN)
    serve(monkeypatch, '24.11', 'v0.0.42-nodes-drained')
    ssh = FakeSsh(monkeypatch, stdout=captured('22.05', 'cmd-cluster.yml', 'nodes_idle')['stdout'])
    inventory = run(two_clusters(host_prefix='phys-'))
    assert members(inventory, 'slurm_lab') == ['lab-node1', 'lab-node2']
    assert members(inventory, 'slurm_physics_1') == ['phys-lab-node1', 'phys-lab-node2']
    assert members(inventory, 'slurm_lab_status_failed') == ['lab-node1', 'lab-node2']
    assert members(inventory, 'slurm_physics_1_status_running') == ['phys-lab-node1', 'phys-lab-node2']
    assert members(inventory, 'slurm_physics_1_partition_main') == ['phys-lab-node1', 'phys-lab-node2']
    # No unprefixed groups with several clusters.
    assert 'slurm_status_failed' not in inventory.groups
    host_vars = inventory.get_host('phys-lab-node1').vars
    assert host_vars['slurm_cluster'] == 'Physics-1' and host_vars['slurm_node_name'] == 'lab-node1'
    assert host_vars['ansible_host'] == 'lab-node1'
    assert inventory.get_host('lab-node1').vars['slurm_cluster'] == 'lab'
    assert len(ssh.calls) == 1


def test_a_node_name_in_two_clusters_needs_a_host_prefix(monkeypatch):
    monkeypatch.setenv('LAB_JWT', TOKEN)
    serve(monkeypatch, '24.11', 'v0.0.42-nodes-drained')
    FakeSsh(monkeypatch, stdout=captured('22.05', 'cmd-cluster.yml', 'nodes_idle')['stdout'])
    with pytest.raises(AnsibleError) as err:
        run(two_clusters())
    assert 'lab-node1 is a node of both cluster lab and cluster Physics-1' in str(err.value)


def test_a_token_is_never_shared_between_clusters(monkeypatch):
    # The top-level token (SLURM_JWT in AWX) belongs to the one-cluster form, not to an entry without its own.
    monkeypatch.delenv('LAB_JWT', raising=False)
    serve(monkeypatch, '24.11', 'v0.0.42-nodes-drained')
    options = two_clusters()
    options['rest_token'] = TOKEN
    with pytest.raises(AnsibleError) as err:
        run(options)
    assert 'cluster lab from ' + URL in str(err.value) and 'needs a token' in str(err.value)


@pytest.mark.parametrize('clusters, message', [
    ([{'ssh_host': SSH_HOST}], 'clusters[0] needs a name'),
    ([{'name': 'a', 'ssh_host': SSH_HOST, 'sshhost': 'x'}], 'unknown options: sshhost'),
    ([{'name': 'a', 'ssh_host': SSH_HOST}, {'name': 'A', 'ssh_host': SSH_HOST}], 'two clusters are named'),
    ([{'name': 'a', 'ssh_host': SSH_HOST, 'ssh_port': 'twenty-two'}], 'ssh_port has the wrong type'),
    (['a'], 'clusters[0] must be a mapping'),
])
def test_bad_cluster_entries_are_refused_before_any_contact(monkeypatch, clusters, message):
    ssh = FakeSsh(monkeypatch)
    with pytest.raises(AnsibleError) as err:
        run({'clusters': clusters})
    assert message in str(err.value)
    assert ssh.calls == []


# -- Ansible's inventory cache -----------------------------------------------------------------------------

def test_cached_parse_contacts_no_cluster_and_holds_no_secret(monkeypatch, tmp_path):
    monkeypatch.setenv('LAB_JWT', TOKEN)
    _raw, asked = serve(monkeypatch, '24.11', 'v0.0.42-nodes-drained')
    ssh = FakeSsh(monkeypatch, stdout=captured('24.11', 'cmd-cluster.yml', 'nodes_busy')['stdout'])
    options = two_clusters(host_prefix='phys-', ssh_password='pw-sentinel-4711')
    options.update({'cache': True, 'cache_plugin': 'jsonfile', 'cache_connection': str(tmp_path),
                    'cache_timeout': 3600})
    first = run(options)
    rest_calls, ssh_calls = len(asked), len(ssh.calls)
    assert rest_calls and ssh_calls == 1
    # A new plugin, as in the next ansible run: everything from the cache file.
    second = run(options)
    assert (len(asked), len(ssh.calls)) == (rest_calls, ssh_calls)
    assert sorted(second.hosts) == sorted(first.hosts)
    for name in first.hosts:
        assert second.get_host(name).vars == first.get_host(name).vars
    assert members(second, 'slurm_physics_1_status_running') == ['phys-lab-node1', 'phys-lab-node2']
    stored = ''.join(path.read_text() for path in tmp_path.iterdir())
    assert 'lab-node1' in stored and TOKEN not in stored and 'pw-sentinel-4711' not in stored
    # --flush-cache (cache=False): both clusters asked again.
    run(options, cache=False)
    assert len(asked) > rest_calls and len(ssh.calls) == ssh_calls + 1
