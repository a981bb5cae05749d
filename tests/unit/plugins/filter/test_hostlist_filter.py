# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The filter wrappers and their documentation; the hostlist logic itself is
# tested in tests/unit/plugins/module_utils/test_hostlist.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.aiinfra.slurm.plugins.filter.hostlist import FilterModule

FILTERS = FilterModule().filters()
FILTER_DIR = Path(__file__).parents[4] / 'plugins' / 'filter'


def test_filters_are_registered():
    assert sorted(FILTERS) == ['hostlist_compress', 'hostlist_expand']


def test_expand():
    assert FILTERS['hostlist_expand']('gpu[01-02],login1') == ['gpu01', 'gpu02', 'login1']


def test_compress():
    names = ['node02', 'node01', 'login1', 'node03']
    assert FILTERS['hostlist_compress'](names) == 'login1,node[01-03]'
    assert FILTERS['hostlist_compress'](names, sort=False) == 'node[02,01],login1,node03'


@pytest.mark.parametrize('name, args, message', [
    ('hostlist_expand', ('node[5-1]',), r"hostlist_expand: reversed range '5-1' in 'node\[5-1\]'"),
    ('hostlist_expand', ('n1;reboot',), r"hostlist_expand: invalid character ';' in 'n1;reboot'"),
    ('hostlist_compress', (['n1', 'node 2'],), r"hostlist_compress: whitespace inside list item 'node 2'"),
    ('hostlist_compress', (['n1'], 'yes'), r"hostlist_compress: sort must be true or false, got 'yes'"),
])
def test_errors(name, args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS[name](*args)


@pytest.mark.parametrize('name', sorted(FILTERS))
def test_documentation(name):
    # ansible-doc reads these; check they parse and name the right filter.
    doc = yaml.safe_load((FILTER_DIR / ('%s.yml' % name)).read_text())
    assert doc['DOCUMENTATION']['name'] == name
    assert '_input' in doc['DOCUMENTATION']['options']
    assert '_value' in doc['RETURN']
    assert 'aiinfra.slurm.%s' % name in doc['EXAMPLES']
    yaml.safe_load(doc['EXAMPLES'])
