# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# Slurm hostlist expressions, as printed and read by scontrol, slurm.conf and
# every Slurm command: "gpu[01-04,07],login1" stands for gpu01 gpu02 gpu03
# gpu04 gpu07 login1.
#
# expand() turns an expression into names and compress() turns names into an
# expression. The filters (plugins/filter/hostlist.py) use them on the
# controller and the modules on managed hosts, so this file needs nothing but
# the standard library of Python 3.6.
#
# Syntax: items are separated by commas or whitespace, except inside brackets,
# where commas separate ranges. A range is "N" or "LO-HI" in decimal and keeps
# the width of LO ("010-012" gives 010 011 012, "8-10" gives 8 9 10). Several
# bracket groups multiply, and text may follow a bracket ("node[1-2]-ib", which
# Slurm itself accepts from 23.11 on).
#
# The output is scontrol's, checked against its real output in
# tests/unit/fixtures/hostlist/: expand() like `scontrol show hostnames`
# (order and duplicates kept), compress(sort=False) like `scontrol show
# hostlist`, compress() like `scontrol show hostlistsorted`. Where scontrol is
# lax, we are strict: it lets "n[1-]", "n[+1-2]", "n1]" or "n;rm" through, and
# for "n[5-1]" it exits 0 with only a message on stderr. Names end up in
# slurm.conf lines and command lines, so here all of these raise HostlistError
# naming the bad part.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Slurm's own limit (MAX_RANGE in src/common/hostlist.c): hosts in one LO-HI.
MAX_RANGE = 65536
# Ours, not Slurm's: several groups multiply, and a typo such as
# "a[0-65535]b[0-65535]" must fail rather than build four billion strings.
MAX_HOSTS = 1 << 20

_DIGITS = '0123456789'
_BAD_CHAR = re.compile(r'[^A-Za-z0-9._-]')
# A whole valid expression: name characters and separators, and brackets that
# neither nest nor stray (what is inside them is checked by _parse_group).
# Checking it in one go keeps 10,000 names fast; errors are explained slowly.
# Written without nested repeats, which would backtrack for ages on "aaa...;".
_VALID = re.compile(r'[A-Za-z0-9._\-,\s]*(?:\[[^\[\]]*\][A-Za-z0-9._\-,\s]*)*\Z')
# One item of an expression: anything but separators, brackets kept whole.
_ITEM = re.compile(r'(?:[^\s,\[\]]+|\[[^\[\]]*\])+')
_GROUP = re.compile(r'\[([^\[\]]*)\]')
_RANGE = re.compile(r'(\d+)(?:-(\d+))?\Z')
_NUMBER_RUNS = re.compile(r'(\d+)')
_SPACE = re.compile(r'\s')
_SEPARATORS = re.compile(r'[\s,]+')


class HostlistError(ValueError):
    """An invalid hostlist expression or host name."""


def expand(expr):
    """Expand a hostlist expression, or a list of them, into a list of host names.

    Order and duplicates are kept, as `scontrol show hostnames` does. In a list,
    each item may be an expression with commas but no whitespace: ["node 1"] is
    a mistake, not two hosts.
    """
    names = []
    for item in _items(expr):
        if '[' in item:
            names.extend(_expand_item(item, MAX_HOSTS - len(names)))
        else:
            names.append(item)
    return names


def compress(names, sort=True):
    """Compress host names (or expressions, as for expand) into one expression.

    With sort=True the result is that of `scontrol show hostlistsorted`: the
    same set of names gives the same string whatever their order, which keeps
    tasks idempotent. With sort=False it is that of `scontrol show hostlist`:
    names are grouped in the order given. Duplicates are kept either way, as
    in scontrol ("n[1-2,2]").

    An expression is expanded first, so compress("n[1-2][3-4]") is n[13-14,23-24]
    where scontrol keeps the brackets it was given (n1[3-4],n2[3-4]).
    """
    runs = _runs(expand(names))
    if sort:
        runs = _runs(_sorted_names(runs))
    return _format(runs)


# Expansion ------------------------------------------------------------------

def _items(expr):
    """Split input into items such as "node[1-3,5]", checking all but the brackets' insides."""
    if isinstance(expr, (list, tuple)):
        for part in expr:
            if not isinstance(part, str):
                raise HostlistError('host names must be strings, got %s %r' % (type(part).__name__, part))
        parts = [part.strip() for part in expr]
        expr = ','.join(parts)
        if _SPACE.search(expr):
            bad = next(part for part in parts if _SPACE.search(part))
            raise HostlistError('whitespace inside list item %r' % bad)
    elif not isinstance(expr, str):
        raise HostlistError('expected a hostlist string or a list of them, got %s' % type(expr).__name__)

    if not _VALID.match(expr):
        _explain(expr)
    # Plain names (the usual list) need no bracket-aware split.
    items = _ITEM.findall(expr) if '[' in expr else _SEPARATORS.split(expr)
    if items and not items[0]:
        items.pop(0)
    if items and not items[-1]:
        items.pop()
    for item in items:
        _check_dash(item)
    return items


def _explain(expr):
    """Raise the error for an expression that _VALID refused, naming the bad part."""
    end = 0
    for match in _ITEM.finditer(expr):
        _check_brackets(expr, end, match.start())
        _check_text(_GROUP.sub('', match.group()), match.group())
        end = match.end()
    _check_brackets(expr, end, len(expr))
    raise HostlistError('invalid hostlist %r' % expr)   # not reached


def _check_brackets(expr, start, end):
    """Between items there may only be separators: anything else is a stray bracket."""
    for pos in range(start, end):
        if expr[pos] in '[]':
            word = re.search(r'[^\s,]*\Z', expr[:pos]).group() + re.match(r'[^\s,]*', expr[pos:]).group()
            raise HostlistError('unbalanced or nested brackets in %r' % word)


def _check_dash(item):
    if item[0] == '-':
        # It would pass for an option on a command line.
        raise HostlistError('%r must not start with "-"' % item)


def _check_text(text, item):
    bad = _BAD_CHAR.search(text)
    if bad:
        raise HostlistError('invalid character %r in %r: host names may only hold letters, digits, "-", "_" and "."'
                            % (bad.group(), item))


def _expand_item(item, room):
    # "a[1-2]b[3]c" splits into texts ["a", "b", "c"] and groups ["1-2", "3"].
    parts = _GROUP.split(item)
    texts, groups = parts[0::2], [_parse_group(group, item) for group in parts[1::2]]
    count = 1
    for group in groups:
        count *= sum(hi - lo + 1 for lo, hi, width in group)
    if count > room:
        raise HostlistError('%r expands to more than %d host names in all' % (item, MAX_HOSTS))
    values = [['%0*d' % (width, n) for lo, hi, width in group for n in range(lo, hi + 1)]
              for group in groups]

    # Slurm's order (_push_range_list recursing from the right): the last
    # group varies fastest, the next-to-last slowest, and the ones before it
    # ever faster leftwards. For two groups that is the usual order:
    # rack[1-2]-node[1-2] gives rack1-node1 rack1-node2 rack2-node1 ...
    heads = [texts[0]]
    for i in range(len(groups) - 1):
        heads = [head + value + texts[i + 1] for value in values[i] for head in heads]
    return [head + value + texts[-1] for head in heads for value in values[-1]]


def _parse_group(group, item):
    """Parse the inside of one bracket into (lo, hi, width) triples."""
    ranges = []
    for part in group.split(','):
        match = _RANGE.match(part)
        if not part:
            raise HostlistError('empty range in %r' % item)
        if not match:
            raise HostlistError('invalid range %r in %r: ranges are decimal numbers such as 1-3 or 01-10'
                                % (part, item))
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) else lo
        if hi < lo:
            raise HostlistError('reversed range %r in %r' % (part, item))
        if hi - lo + 1 > MAX_RANGE:
            raise HostlistError('range %r in %r has %d hosts, more than %d'
                                % (part, item, hi - lo + 1, MAX_RANGE))
        ranges.append((lo, hi, len(match.group(1))))
    return ranges


# Compression ----------------------------------------------------------------
#
# As in Slurm's hostlist.c, names are grouped into runs [prefix, lo, hi, width]
# (["n", 1, 3, 1] for n1 n2 n3); a name without a trailing number is a run of
# its own, [name, None, None, 0].

def _runs(names):
    """Group consecutive names into runs like Slurm's hostlist_push_host."""
    runs = []
    last = None
    for name in names:
        prefix = name.rstrip(_DIGITS)
        if prefix == name:
            last = None
            runs.append([name, None, None, 0])     # width 0: no number
            continue
        digits = name[len(prefix):]
        number = int(digits)
        # A number joins the run when it is the next one and prints the same
        # with the run's width: n9 n10 -> n[9-10], n09 n10 -> n[09-10], but
        # n9 n010 stay apart.
        if (last is not None and last[2] + 1 == number and last[0] == prefix
                and (last[3] == len(digits) or '%0*d' % (last[3], number) == digits)):
            last[2] = number
        else:
            last = [prefix, number, number, len(digits)]
            runs.append(last)
    return runs


def _sorted_names(runs):
    """The names in the order of Slurm's hostlist_sort (qsort, then coalesce)."""
    # Slurm's hostrange_cmp: prefix in natural order, names without a number
    # (width 0) first, then the width of the run, then its first number. Runs
    # are sorted as wholes, so n9 n10 (a run of width 1) stays before n08.
    prefixes = sorted({run[0] for run in runs}, key=_natural_key)
    rank = dict(zip(prefixes, range(len(prefixes))))
    runs = sorted(runs, key=lambda run: (rank[run[0]], run[3], run[1] or 0))
    names = []
    i = 0
    while i < len(runs):
        prefix, lo, top, width = runs[i]
        j = i + 1
        # hostlist_coalesce then merges the following runs, number by number,
        # while they overlap and have compatible widths.
        while (lo is not None and j < len(runs) and runs[j][0] == prefix and runs[j][1] is not None
               and runs[j][1] < top and _compatible(runs[j - 1], runs[j])):
            top = max(top, runs[j][2])
            j += 1
        if lo is None:
            names.append(prefix)
        elif lo == top:
            names.append(prefix + '%0*d' % (width, lo))
        else:
            numbers = sorted((n, '%0*d' % (run[3], n)) for run in runs[i:j] for n in range(run[1], run[2] + 1))
            names.extend(prefix + digits for _number, digits in numbers)
        i = j
    return names


def _natural_key(text):
    """A sort key for Slurm's strnatcmp: "rack9" < "rack10", but "r010" < "r9"."""
    parts = _NUMBER_RUNS.split(text)
    key = []
    for i, part in enumerate(parts):
        if i % 2:
            # strnatcmp compares numbers with a leading zero as text.
            key.append((0, part) if part.startswith('0') else (1, int(part)))
        else:
            # A digit sorts after "-" and "." and before letters and "_",
            # whichever digit it is: "0" stands for all.
            key.append(part + '0' if i + 1 < len(parts) else part)
    return tuple(key)


def _compatible(first, second):
    """Slurm's hostrange_width_combine for two sorted runs (first's width is not larger)."""
    return first[3] == second[3] or len(str(second[1])) == second[3]


def _format(runs):
    """Print runs like Slurm's hostlist_ranged_string: n[1-3,5],login1."""
    out = []
    i = 0
    while i < len(runs):
        prefix, lo, hi, width = runs[i]
        j = i + 1
        if lo is None:
            out.append(prefix)
        else:
            while j < len(runs) and runs[j][1] is not None and runs[j][0] == prefix:
                j += 1
            numbers = [_range_text(run) for run in runs[i:j]]
            if j - i == 1 and lo == hi:
                out.append(prefix + numbers[0])
            else:
                out.append('%s[%s]' % (prefix, ','.join(numbers)))
        i = j
    return ','.join(out)


def _range_text(run):
    prefix, lo, hi, width = run
    if lo == hi:
        return '%0*d' % (width, lo)
    return '%0*d-%0*d' % (width, lo, width, hi)
