# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Filters hostlist_expand and hostlist_compress: thin wrappers around
# module_utils/hostlist.py, which holds the logic and its tests. Documented in
# hostlist_expand.yml and hostlist_compress.yml next to this file.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.aiinfra.slurm.plugins.module_utils.hostlist import (
    HostlistError,
    compress,
    expand,
)


def hostlist_expand(expr):
    """'node[01-03],login1' -> ['node01', 'node02', 'node03', 'login1']"""
    try:
        return expand(expr)
    except HostlistError as e:
        raise AnsibleFilterError('hostlist_expand: %s' % e)


def hostlist_compress(names, sort=True):
    """['node02', 'node01', 'node03'] -> 'node[01-03]'"""
    if not isinstance(sort, bool):
        raise AnsibleFilterError('hostlist_compress: sort must be true or false, got %r' % (sort,))
    try:
        return compress(names, sort=sort)
    except HostlistError as e:
        raise AnsibleFilterError('hostlist_compress: %s' % e)


class FilterModule(object):
    def filters(self):
        return {
            'hostlist_expand': hostlist_expand,
            'hostlist_compress': hostlist_compress,
        }
