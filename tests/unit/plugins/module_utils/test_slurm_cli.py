# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# CliBackend against the real output of Slurm 22.05 and 24.11: the cases are
# data (test_slurm_cli.yml), the commands and their output are captured
# (tests/unit/fixtures/slurm/cli-*/cmd-*.yml, capture_cli.py there). Then the
# parsers' corners and speed.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from pathlib import Path

import pytest

from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_cli
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_cli import CliBackend
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_data import normalize_node
from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.slurm_cases import (
    FakeCommands,
    assert_subset,
    cases,
    fake_module,
    fixtures,
    substitute,
    versions,
)


def test_both_versions_are_captured():
    assert versions() == ['22.05', '24.11']


@pytest.mark.parametrize('case, version', cases(Path(__file__).with_suffix('.yml')))
def test_backend(case, version):
    variables = fixtures(version)['vars']
    runner = FakeCommands(version, case['commands'])
    backend = CliBackend(fake_module(runner))
    method = getattr(backend, case['call'])
    args = substitute(case.get('args') or [], variables)
    kwargs = substitute(case.get('kwargs') or {}, variables)
    if 'raises' in case:
        with pytest.raises(SlurmError) as caught:
            method(*args, **kwargs)
        assert_subset('~' + substitute(case['raises'], variables), caught.value.msg, 'message')
        assert_subset(substitute(case.get('details') or {}, variables), caught.value.details, 'details')
    else:
        assert_subset(substitute(case['returns'], variables), method(*args, **kwargs))
    runner.check_done()


@pytest.mark.parametrize('version', versions())
def test_every_fixture_command_is_used_by_a_case(version):
    """Captured output that no case reads is output nobody checks."""
    import yaml
    used = set()
    here = Path(__file__).parents[1] / 'modules'
    for path in [Path(__file__).with_suffix('.yml')] + sorted(here.glob('test_*.yml')):
        for case in yaml.safe_load(path.read_text()):
            if version in (case.get('versions') or [version]):
                used.update(case.get('commands') or [])
    # The *_json twins are read by test_text_nodes_equal_json_nodes.
    used.update(name for name in fixtures(version)['commands'] if name.endswith('_json'))
    unused = sorted(set(fixtures(version)['commands']) - used)
    assert not unused, unused


def test_partition_line():
    line = ('PartitionName=gpu AllowGroups=ALL Default=NO MaxTime=2-12:00:00 Nodes=gpu[01-04] State=DRAIN '
            'TotalCPUs=256 TotalNodes=4 TRES=cpu=256,mem=1000G,node=4')
    assert slurm_cli.parse_partition_line(line) == {
        'name': 'gpu', 'state': 'DRAIN', 'nodes': 'gpu[01-04]', 'total_nodes': 4, 'total_cpus': 256,
        'default': False, 'max_time': 3600}


@pytest.mark.parametrize('text, minutes', [('UNLIMITED', None), ('12:00:00', 720), ('1-00:30:00', 1470),
                                           ('30:00', 30), ('', None), ('NONE', None)])
def test_minutes(text, minutes):
    assert slurm_cli.parse_minutes(text) == minutes


def test_missing_command_says_where():
    module = fake_module(FakeCommands('24.11', []))
    module.get_bin_path.side_effect = lambda name, *args, **kwargs: None
    with pytest.raises(SlurmError, match='scontrol is not installed on this host'):
        CliBackend(module).version()


def _many_nodes(version, count):
    """`scontrol show node` of COUNT nodes.

    Made of the captured output: its first node record repeated under other
    names, which is what a big cluster of alike nodes prints.
    """
    out = fixtures(version)['commands']['cluster/nodes_idle']['stdout']
    record = out[out.index('NodeName='):out.index('NodeName=', 1)]
    name = record.split()[0]
    return ''.join(record.replace(name, 'NodeName=cn%05d' % number, 1) for number in range(count))


@pytest.mark.parametrize('version', versions())
def test_ten_thousand_nodes_parse(version):
    # How fast is measured in bench/scale.py, not here: a timed unit test flakes on a busy machine.
    out = _many_nodes(version, 10000)
    module = fake_module(FakeCommands(version, []))
    backend = CliBackend(module)
    module.run_command.side_effect = lambda *args, **kwargs: (0, out, '')
    nodes = backend.nodes()
    some = backend.nodes(['cn00042', 'cn09999'])
    assert len(nodes) == 10000 and nodes[-1]['name'] == 'cn09999'
    assert len(set(node['name'] for node in nodes)) == 10000
    assert [node['name'] for node in some] == ['cn00042', 'cn09999']


@pytest.mark.parametrize('version', versions())
def test_words_inside_a_reason_stay_text(version):
    """A reason that holds "Key=Value" words (or a NodeName=) changes no other field of any node."""
    for name, text, doc in _json_twins(version):
        out = text['stdout']
        if '\n   Reason=' not in out:
            continue
        before = slurm_cli.parse_node_records(out)
        words = 'moved NodeName=bogus State=DOWN Weight=9 CPUTot=64 '
        after = slurm_cli.parse_node_records(out.replace('\n   Reason=', '\n   Reason=' + words, 1))
        assert [node['name'] for node in after] == [node['name'] for node in before], name
        changed = [(old, new) for old, new in zip(before, after) if old != new]
        assert len(changed) == 1, name
        old, new = changed[0]
        assert new['reason'] == words + old['reason']
        assert dict(new, reason=old['reason']) == old
        return
    pytest.fail('no captured node record with a reason')


def _json_twins(version):
    """(name, text record, JSON record) of each node read both ways at the same moment."""
    commands = fixtures(version)['commands']
    return [(name, commands[name[:-len('_json')]], commands[name]) for name in sorted(commands)
            if name.endswith('_json')]


@pytest.mark.parametrize('version', versions())
def test_text_nodes_equal_json_nodes(version):
    """`scontrol show node`, as parsed, says what Slurm's JSON of the same moment says.

    The JSON is `sinfo --json` on 22.05 (all nodes) and `scontrol show node
    --json` on 24.11; the captures include a drain reason, comment and extra
    with blanks, "=" and brackets, features, weights, a busy node and a node
    that never registered.
    """
    twins = _json_twins(version)
    assert len(twins) >= 5, twins
    for name, text, doc in twins:
        assert text['rc'] == 0 and doc['rc'] == 0, name
        parsed = slurm_cli.parse_node_records(text['stdout'])
        from_json = dict((node['name'], node) for node in
                         (normalize_node(raw) for raw in json.loads(doc['stdout'])['nodes']))
        assert parsed, name
        assert parsed == [from_json[node['name']] for node in parsed], name


def test_arguments_reach_slurm_unexpanded():
    # AnsibleModule.run_command expands "$VAR" and "~" in each argument unless told not to.
    runner = FakeCommands('24.11', ['nodes/n1_idle'])
    module = fake_module(runner)
    CliBackend(module).nodes(['lab-node1'])
    assert module.run_command.call_args.kwargs['expand_user_and_vars'] is False
    runner.check_done()
