# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The hostlist code against real scontrol output (one case per line of
# tests/unit/fixtures/hostlist/scontrol-*.yml, made by capture.sh there), then
# the error messages and the corners the fixtures do not reach.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.aiinfra.slurm.plugins.module_utils.hostlist import (
    MAX_HOSTS,
    MAX_RANGE,
    HostlistError,
    compress,
    expand,
)

FIXTURES = Path(__file__).parents[2] / 'fixtures' / 'hostlist'


class Raises(str):
    """An expected HostlistError whose message matches this regex."""


# Where we deliberately part from scontrol, keyed by (command, input): what
# we do instead, whichever Slurm version the fixture comes from.
DIFFERENCES = {
    # Text after the last bracket: Slurm accepts it from 23.11 on only.
    ('hostnames', 'node[1-2]-ib'): ['node1-ib', 'node2-ib'],
    ('hostnames', 'node[1-2]-ib,m[1-2]'): ['node1-ib', 'node2-ib', 'm1', 'm2'],
    # scontrol lets these through; they would end up in slurm.conf or argv.
    ('hostnames', 'n[1-]'): Raises(r"invalid range '1-' in 'n\[1-\]'"),
    ('hostnames', 'n[+1-2]'): Raises(r"invalid range '\+1-2' in 'n\[\+1-2\]'"),
    ('hostnames', 'n[1, 2]'): Raises(r"invalid range ' 2' in 'n\[1, 2\]'"),
    ('hostnames', 'node[1-3'): Raises(r"unbalanced or nested brackets in 'node\[1-3'"),
    ('hostnames', 'n1]'): Raises(r"unbalanced or nested brackets in 'n1\]'"),
    ('hostnames', 'a[1b[1-2]'): Raises(r"unbalanced or nested brackets in 'a\[1b\[1-2\]'"),
    ('hostnames', 'n;rm'): Raises(r"invalid character ';' in 'n;rm'"),
    ('hostnames', 'n=1'): Raises(r"invalid character '=' in 'n=1'"),
    # We compress the names; scontrol keeps the prefix split it was given.
    ('hostlist', 'n[1-2][3-4]'): ['n[13-14,23-24]'],
    # scontrol 22.05 loses one n002 here (16 names in, 15 out); we keep all.
    ('hostlistsorted', 'n[96-101,002-003],n[96-101,002-003]'):
        ['n[96,96-97,97-98,98-99,99-100,100-101,101,002,002-003,003]'],
}


def _cases():
    for path in sorted(FIXTURES.glob('scontrol-*.yml')):
        data = yaml.safe_load(path.read_text())
        for case in data['cases']:
            yield pytest.param(case, id='%s:%s:%s' % (data['slurm_version'], case['command'], case['input']))


def _run(command, expr):
    """Our answer in scontrol's form: a list of output lines."""
    if command == 'hostnames':
        return expand(expr)
    return [compress(expr, sort=command == 'hostlistsorted')]


@pytest.mark.parametrize('case', list(_cases()))
def test_matches_scontrol(case):
    expected = DIFFERENCES.get((case['command'], case['input']))
    if expected is None and case['stderr']:
        # scontrol found it invalid (even when it exits 0): so do we.
        expected = Raises('')
    if expected is None:
        expected = case['stdout']
    if isinstance(expected, Raises):
        with pytest.raises(HostlistError, match=expected or None):
            _run(case['command'], case['input'])
    else:
        assert _run(case['command'], case['input']) == expected


def test_differences_are_all_in_a_fixture():
    captured = {(case.values[0]['command'], case.values[0]['input']) for case in _cases()}
    assert set(DIFFERENCES) <= captured


@pytest.mark.parametrize('expr, message', [
    ('node[1-3', r"unbalanced or nested brackets in 'node\[1-3'"),
    ('node1-3]', r"unbalanced or nested brackets in 'node1-3\]'"),
    ('a,n[[1-2]],b', r"unbalanced or nested brackets in 'n\[\[1-2\]\]'"),
    ('node[]', r"empty range in 'node\[\]'"),
    ('node[1,,3]', r"empty range in 'node\[1,,3\]'"),
    ('node[5-1]', r"reversed range '5-1' in 'node\[5-1\]'"),
    ('node[a-c]', r"invalid range 'a-c' in 'node\[a-c\]': ranges are decimal numbers"),
    ('node[1-3x]', r"invalid range '1-3x'"),
    ('node[-3]', r"invalid range '-3'"),
    ('node[0-65536]', r"range '0-65536' in 'node\[0-65536\]' has 65537 hosts, more than 65536"),
    ('a[0-65535]b[0-65535]', r"'a\[0-65535\]b\[0-65535\]' expands to more than 1048576 host names"),
    ('n1,n2;reboot', r"invalid character ';' in 'n2;reboot'"),
    ('n1|n2', r"invalid character '\|'"),
    ('n$(id)', r"invalid character '\$'"),
    ('n`id`', r"invalid character '`'"),
    ('n1&', r"invalid character '&'"),
    ('n1>x', r"invalid character '>'"),
    ("n'1", r"invalid character \"'\""),
    ('n*', r"invalid character '\*'"),
    ('NodeName=n1', r"invalid character '=' in 'NodeName=n1'"),
    ('n[1-2]=x', r"invalid character '='"),
    ('nöde1', r"invalid character 'ö'"),
    ('-n1', r"'-n1' must not start with \"-\""),
    ('n1,-n[1-2]', r"'-n\[1-2\]' must not start with \"-\""),
    (['n1', 'node 2'], r"whitespace inside list item 'node 2'"),
    (['n1', 'n2\nn3'], r"whitespace inside list item 'n2\\nn3'"),
    (['n1', 5], r"host names must be strings, got int 5"),
    (None, r"expected a hostlist string or a list of them, got NoneType"),
    ({'n1': 1}, r"expected a hostlist string or a list of them, got dict"),
])
def test_error_messages(expr, message):
    with pytest.raises(HostlistError, match=message):
        expand(expr)
    with pytest.raises(HostlistError, match=message):
        compress(expr)


def test_error_is_a_value_error():
    assert issubclass(HostlistError, ValueError)


@pytest.mark.parametrize('expr, names', [
    ('gpu[01-04,07],login1', ['gpu01', 'gpu02', 'gpu03', 'gpu04', 'gpu07', 'login1']),
    ('n[1-2] m1\n\tm2 ', ['n1', 'n2', 'm1', 'm2']),
    (['n[1-2]', 'm1,m2', ' x1\n', ''], ['n1', 'n2', 'm1', 'm2', 'x1']),
    (('n1', 'n2'), ['n1', 'n2']),
    ([], []),
    ('', []),
    (' , ', []),
    ('rack[1-2]-node[1-2]-ib', ['rack1-node1-ib', 'rack1-node2-ib', 'rack2-node1-ib', 'rack2-node2-ib']),
    ('a.example.com,b_1,C-2', ['a.example.com', 'b_1', 'C-2']),
    ('n[007]', ['n007']),
    ('n-[1-2]', ['n-1', 'n-2']),
])
def test_expand(expr, names):
    assert expand(expr) == names


def test_range_limits():
    assert len(expand('n[0-%d]' % (MAX_RANGE - 1))) == MAX_RANGE
    assert len(expand('n[1-%d]' % MAX_RANGE)) == MAX_RANGE
    with pytest.raises(HostlistError, match='more than 65536'):
        expand('n[1-%d]' % (MAX_RANGE + 1))
    assert len(expand('a[1-16]b[0-65535]')) == MAX_HOSTS
    with pytest.raises(HostlistError, match='more than 1048576 host names in all'):
        expand('x,a[1-16]b[0-65535]')


@pytest.mark.parametrize('names, sort, expected', [
    (['node02', 'node01', 'login1', 'node03'], True, 'login1,node[01-03]'),
    (['node02', 'node01', 'login1', 'node03'], False, 'node[02,01],login1,node03'),
    ([], True, ''),
    (['n1'], True, 'n1'),
    (['n1', 'n1'], True, 'n[1,1]'),
    ('n[1-3],n5 n4', True, 'n[1-5]'),
    (['gpu[01-04]', 'gpu05'], False, 'gpu[01-05]'),
])
def test_compress(names, sort, expected):
    assert compress(names, sort=sort) == expected


def test_compress_sorts_by_default():
    assert compress(['n3', 'n1', 'n2']) == 'n[1-3]'


def test_compress_does_not_depend_on_order():
    names = expand('login[1-2],rack[1-12]-node[001-040],gpu[9-12],gpu[010-020],x')
    expected = compress(names)
    shuffled = list(names)
    random.Random(42).shuffle(shuffled)
    assert compress(shuffled) == expected
    assert sorted(expand(expected)) == sorted(names)


@pytest.mark.parametrize('expr', [
    'n[1-3,5,7-9],m[01-10,12]',
    'n9,n10,n010,n011,n08,n[1-3],n[2-5],x,x1,x',
    'rack[1-3]-node[08-11]-ib,login1',
])
@pytest.mark.parametrize('sort', [True, False])
def test_compress_round_trip(expr, sort):
    names = expand(expr)
    compressed = compress(names, sort=sort)
    if sort:
        assert sorted(expand(compressed)) == sorted(names)
    else:
        assert expand(compressed) == names


def test_long_invalid_input_fails_fast():
    # A nested repeat in the checking regex would take hours here; with the
    # right one this returns at once (no timing assertion: it would just hang).
    with pytest.raises(HostlistError, match=re.escape("invalid character ';'")):
        expand('a' * 5000 + ';')
