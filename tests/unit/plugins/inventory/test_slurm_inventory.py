# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The slurm inventory plugin on node lists captured from real slurmrestd 22.05
# and 24.11 (tests/unit/fixtures/slurm/rest-*/), served by a fake open_url.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from pathlib import Path

import pytest

from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.template import trust_as_template

from ansible_collections.aiinfra.slurm.plugins.inventory import slurm as plugin_module
from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_rest

FIXTURES = Path(__file__).parents[2] / 'fixtures' / 'slurm'
URL = 'http://slurm.example:6820'
# Shaped like `scontrol token`'s (header.claims.signature; claims {"sun": "root"}).
TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJyb290In0.c2ln'


class Response:
    def __init__(self, body):
        self.text = json.dumps(body)
        self.headers = {'Content-Type': 'application/json'}

    def getcode(self):
        return 200

    def read(self):
        return self.text.encode()


def serve(monkeypatch, release, nodes_fixture):
    """slurmrestd of `release` answering GET nodes with the captured `nodes_fixture`."""
    records = [json.loads((FIXTURES / ('rest-' + release) / (name + '.json')).read_text())
               for name in ('openapi-v3', nodes_fixture)]
    routes = dict((record['request']['path'].rstrip('/'), record['body']) for record in records)
    asked = []

    def open_url(url, **kwargs):
        path = url[len(URL):].rstrip('/')
        asked.append((kwargs.get('method'), path, kwargs.get('headers')))
        if path not in routes:
            raise AssertionError('unexpected request ' + path)
        return Response(routes[path])

    monkeypatch.setattr(slurm_rest, 'open_url', open_url)
    return records[1]['body']['nodes'], asked


def run(options):
    """Parse with `options` as the configuration file would give them."""
    plugin = plugin_module.InventoryModule()
    defaults = {'rest_user': None, 'rest_api_version': None, 'rest_timeout': 30, 'validate_certs': True,
                'ca_path': None, 'partitions': [], 'strict': False, 'compose': {}, 'groups': {},
                'keyed_groups': [], 'rest_token': TOKEN, 'rest_url': URL}
    defaults.update(options)
    plugin.get_option = defaults.get
    plugin._read_config_data = lambda path: None
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), 'cluster.slurm.yml')
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
               for _method, _path, headers in asked)


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
