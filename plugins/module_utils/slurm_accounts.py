# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# Slurm accounting as code: QOS, accounts and users (with their associations)
# read and changed through sacctmgr, and finished jobs read back from sacct.
# Raises SlurmError, never fails a module itself. Python 3.6, standard library.
#
# What it relies on, checked on Slurm 22.05.8 (real output in
# tests/unit/fixtures/accounting/, made by capture.py there):
# - `show association WOPLimits` prints only the limits set on each association;
#   without it, inherited ones show as if set, and a re-run would never settle.
# - `delete account` also removes the account's sub-accounts and every user
#   association below it, without asking: hence the checks in _deletions.
# - sacctmgr refuses to delete what has active jobs ("Job(s) active"), rc 1.
# - Names of accounts, users and QOS are stored in lower case; sacctmgr prints
#   mem TRES with a unit (mem=4G), times as [D-]HH:MM:SS.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_vocabulary import (
    TERMINAL_JOB_STATES,
    text,
    valid_job_id,
)

READ = ['sacctmgr', '--parsable2', '--noheader', '--immediate']
WRITE = ['sacctmgr', '--immediate']
ADMIN_LEVELS = ('none', 'operator', 'administrator')
ACTIVE_STATES = 'PD,R,S,CG'

# (option, sacctmgr word, kind). The read formats list the same words, in order.
ASSOC_FIELDS = (
    ('fairshare', 'Fairshare', 'share'), ('grp_jobs', 'GrpJobs', 'count'),
    ('grp_submit_jobs', 'GrpSubmitJobs', 'count'), ('grp_tres', 'GrpTRES', 'tres'),
    ('grp_tres_mins', 'GrpTRESMins', 'tres'), ('max_jobs', 'MaxJobs', 'count'),
    ('max_submit_jobs', 'MaxSubmitJobs', 'count'), ('max_wall', 'MaxWall', 'time'),
    ('qos', 'QOS', 'list'), ('default_qos', 'DefaultQOS', 'name'),
)
QOS_FIELDS = (
    ('description', 'Description', 'text'), ('priority', 'Priority', 'count'),
    ('grp_tres', 'GrpTRES', 'tres'), ('grp_tres_mins', 'GrpTRESMins', 'tres'),
    ('grp_jobs', 'GrpJobs', 'count'), ('grp_submit_jobs', 'GrpSubmitJobs', 'count'),
    ('max_jobs_per_user', 'MaxJobsPerUser', 'count'), ('max_submit_jobs_per_user', 'MaxSubmitJobsPerUser', 'count'),
    ('max_tres_per_job', 'MaxTRESPerJob', 'tres'), ('max_tres_per_user', 'MaxTRESPerUser', 'tres'),
    ('max_wall', 'MaxWall', 'time'),
)
QOS_FORMAT = ('format=Name,Description,Priority,GrpTRES,GrpTRESMins,GrpJobs,GrpSubmitJobs,MaxJobsPerUser,'
              'MaxSubmitJobsPerUser,MaxTRES,MaxTRESPerUser,MaxWall')
ASSOC_FORMAT = ('format=Cluster,Account,User,Partition,ParentName,Share,GrpJobs,GrpSubmitJobs,GrpTRES,GrpTRESMins,'
                'MaxJobs,MaxSubmitJobs,MaxWall,QOS,DefaultQOS')
SACCT_FORMAT = ('--format=JobID,JobName,State,ExitCode,Elapsed,ElapsedRaw,NodeList,Account,User,Partition,'
                'Submit,Start,End,Timelimit')
ASSOC_OPTIONS = dict((option, dict(type='raw')) for option, _word, _kind in ASSOC_FIELDS)
ASSOC_OPTIONS['qos'] = dict(type='list', elements='str')

# A strict charset: these names go into sacctmgr's name=a,b lists and its '|' output.
_NAME = re.compile(r'[a-z0-9_][a-z0-9_.-]{0,63}\Z')
_TRES_NAME = re.compile(r'[a-z][a-z0-9_]*(/[a-z0-9_:.-]+)?\Z')
_TIME = re.compile(r'(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?\Z')
_UNITS = {'K': 1.0 / 1024, 'M': 1, 'G': 1024, 'T': 1024 ** 2, 'P': 1024 ** 3}


def name(value, what):
    """A QOS, account or user name as Slurm stores it, else SlurmError naming it."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise SlurmError('invalid %s name %r: use 1-64 lower-case letters, digits, "_", "." or "-" (Slurm stores '
                         'names in lower case; no blanks, commas, "=", quotes, shell or control characters)'
                         % (what, value))
    return value


def _unset(value):
    return value is None or value == '' or value == -1 or value == '-1'


def _count(value, what):
    if _unset(value):
        return None
    if isinstance(value, bool) or not re.match(r'\d+\Z', str(value).strip()):
        raise SlurmError('%s must be a whole number >= 0, or -1 (or "") to unset it, got %r' % (what, value))
    return int(str(value).strip())


def _share(value, what):
    if str(value).strip().lower() == 'parent':
        return 'parent'
    result = _count(value, what)
    return 1 if result is None else result


def minutes(value, what='max_wall'):
    """A Slurm time limit (minutes, "MM", "HH:MM:SS", "D-HH:MM:SS", "D-HH") in minutes; None when unset."""
    if _unset(value) or str(value).upper() in ('UNLIMITED', 'INFINITE'):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _TIME.match(str(value).strip())
    if not match:
        raise SlurmError('%s must be minutes or a Slurm time ("90", "01:30:00", "2-00:00:00"), or -1 to unset it, '
                         'got %r' % (what, value))
    days, first, second, third = [int(part) if part else 0 for part in match.groups()]
    if match.group(1) is not None:
        # D-H[:M[:S]]
        hours, mins, secs = first, second, third
    elif match.group(4) is not None:
        hours, mins, secs = first, second, third
    elif match.group(3) is not None:
        hours, mins, secs = 0, first, second
    else:
        hours, mins, secs = 0, first, 0
    total = ((days * 24 + hours) * 60 + mins) * 60 + secs
    # Slurm keeps whole minutes and rounds up.
    return (total + 59) // 60


def tres(value, what):
    """A TRES limit ("cpu=10,mem=4G" or {cpu: 10, mem: 4G}) as "cpu=10,mem=4096", sorted, mem in MB.

    "" or -1 means no limit ({}); a TRES given as -1 is dropped (unset).
    """
    if _unset(value):
        return ''
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, str):
        pairs = [part.split('=', 1) if '=' in part else (part, None) for part in value.split(',') if part]
    else:
        raise SlurmError('%s must be "name=count,..." or a dict, got %r' % (what, value))
    result = {}
    for key, count in pairs:
        key = str(key).strip().lower()
        if not _TRES_NAME.match(key):
            raise SlurmError('%s: invalid TRES name %r' % (what, key))
        count = str(count).strip().upper() if count is not None else ''
        scale = 1
        if key == 'mem' and count[-1:] in _UNITS:
            count, scale = count[:-1], _UNITS[count[-1]]
        if count in ('-1', ''):
            if count == '':
                raise SlurmError('%s: TRES %s has no count' % (what, key))
            continue
        if not re.match(r'\d+\Z', count):
            raise SlurmError('%s: TRES %s must be a whole number >= 0 (mem may end in K, M, G or T), or -1 to unset '
                             'it, got %r' % (what, key, count))
        result[key] = int(int(count) * scale)
    return ','.join('%s=%d' % (key, result[key]) for key in sorted(result))


def _names(value, what):
    if value is None:
        return []
    if isinstance(value, str):
        value = [part for part in value.split(',') if part]
    if not isinstance(value, list):
        raise SlurmError('%s must be a list of names, got %r' % (what, value))
    return sorted(set(name(item, what) for item in value))


def _text(value, what):
    if value is None:
        return None
    result = text(value, what)
    if '|' in result or '"' in result or "'" in result:
        raise SlurmError('%s must not contain "|" or quotes: %r' % (what, result))
    return result


_NORMALIZE = {
    'count': _count, 'share': _share, 'time': minutes, 'tres': tres, 'list': _names, 'text': _text,
    'name': lambda value, what: None if _unset(value) else name(value, what),
}


def _settings(fields, item, what, read=False):
    """The wanted (or, with `read`, the current) settings of `fields` in item, normalized; None ones left out."""
    result = {}
    for option, _word, kind in fields:
        value = item.get(option)
        if value is None and not read:
            continue
        result[option] = _NORMALIZE[kind](value, '%s: %s' % (what, option))
    return result


def _set_words(fields, current, wanted):
    """sacctmgr's `set` words turning current into wanted, for the options that differ."""
    words = []
    for option, word, kind in fields:
        if option not in wanted or wanted[option] == current.get(option):
            continue
        if kind == 'text' and not _differ(current.get(option), wanted[option]):
            continue
        value = wanted[option]
        if kind == 'tres':
            # A TRES left out of the new value stays as it was unless set to -1.
            gone = set(_tres_keys(current.get(option))) - set(_tres_keys(value))
            value = ','.join([value] * bool(value) + ['%s=-1' % key for key in sorted(gone)])
        elif kind == 'list':
            value = ','.join(value)
        elif value is None:
            value = -1
        words.append('%s=%s' % (word, value))
    return words


def _differ(have, want):
    # 22.05's sacctmgr stores descriptions and organizations in lower case.
    return (have or '').lower() != (want or '').lower()


def _tres_keys(value):
    return [part.split('=', 1)[0] for part in (value or '').split(',') if part]


def _rows(out, width):
    rows = []
    for line in out.splitlines():
        if line.strip():
            cells = line.split('|')
            rows.append(cells + [''] * (width - len(cells)))
    return rows


class AccountingTree(object):
    """The QOS, accounts and users of one cluster, read through `run(argv) -> (rc, stdout, stderr)`."""

    def __init__(self, run):
        self._run = run

    def call(self, argv, what):
        rc, out, err = self._run(argv)
        if rc != 0:
            detail = (err or out or '').strip()
            if 'Job(s) active' in detail:
                what += ': Slurm refuses while jobs are active'
            raise SlurmError('%s failed: %s' % (what, detail or 'rc %d' % rc), cmd=argv, rc=rc, stdout=out,
                             stderr=err)
        return out

    def cluster(self, wanted=None):
        clusters = [row[0] for row in _rows(self.call(READ + ['show', 'cluster', 'format=Cluster'],
                                                      'reading the clusters'), 1)]
        if wanted:
            if wanted not in clusters:
                raise SlurmError('cluster %r is not registered in slurmdbd (known: %s)'
                                 % (wanted, ', '.join(clusters) or 'none'))
            return wanted
        if len(clusters) != 1:
            raise SlurmError('slurmdbd knows %d clusters (%s): say which one with the cluster option'
                             % (len(clusters), ', '.join(clusters)))
        return clusters[0]

    def read(self, cluster):
        """{qos: {name: settings}, accounts: {name: {...}}, users: {name: {...}}} as Slurm has them."""
        qos = {}
        for row in _rows(self.call(READ + ['show', 'qos', QOS_FORMAT], 'reading the QOS'), 12):
            item = dict(zip([option for option, _word, _kind in QOS_FIELDS], row[1:]))
            qos[row[0]] = _settings(QOS_FIELDS, item, 'QOS %s' % row[0], read=True)
        accounts, users = {}, {}
        for row in _rows(self.call(READ + ['show', 'account', 'format=Account,Description,Organization'],
                                   'reading the accounts'), 3):
            accounts[row[0]] = {'description': row[1], 'organization': row[2], 'parent': None, 'users': []}
        for row in _rows(self.call(READ + ['show', 'user', 'format=User,DefaultAccount,AdminLevel'],
                                   'reading the users'), 3):
            users[row[0]] = {'default_account': row[1] or None, 'admin_level': row[2].lower(), 'accounts': {}}
        assoc = READ + ['show', 'association', 'WOPLimits', 'where', 'cluster=%s' % cluster, ASSOC_FORMAT]
        for row in _rows(self.call(assoc, 'reading the associations'), 15):
            account, user, partition = row[1], row[2], row[3]
            if partition or account not in accounts:
                continue
            item = dict(zip([option for option, _word, _kind in ASSOC_FIELDS], row[5:]))
            settings = _settings(ASSOC_FIELDS, item, 'association %s/%s' % (account, user), read=True)
            if not user:
                accounts[account].update(settings, parent=row[4] or None, present=True)
            elif user in users:
                users[user]['accounts'][account] = settings
                accounts[account]['users'].append(user)
        # Accounts without an association on this cluster are not on it.
        accounts = dict((key, value) for key, value in accounts.items() if value.pop('present', False))
        return {'qos': qos, 'accounts': accounts, 'users': users}

    def active_jobs(self):
        """[(job id, account, user)] of jobs pending, running, suspended or completing."""
        out = self.call(['squeue', '--noheader', '--states=' + ACTIVE_STATES, '--format=%i|%a|%u'],
                        'listing active jobs')
        return [tuple(row[:3]) for row in _rows(out, 3)]


def job_from_accounting(run, job_id):
    """A finished (or any) job as slurmdbd recorded it, in slurm_data.normalize_job's shape, or None.

    `run(argv) -> stdout`. Adds `account`, `elapsed` (seconds) and `source: accounting`.
    """
    job = str(valid_job_id(job_id))
    out = run(['sacct', '--parsable2', '--noheader', '-j', job, SACCT_FORMAT])
    for row in _rows(out or '', 14):
        if row[0] != job:
            continue
        words = row[2].split()
        state = words[0].upper() if words else ''
        status, _sep, sig = row[3].partition(':')
        exit_code = None
        if state in TERMINAL_JOB_STATES and status.isdigit():
            # As a shell reports it: 128 + the signal that killed the job.
            exit_code = 128 + int(sig) if sig.isdigit() and int(sig) else int(status)
        limit = None if row[13] in ('', 'UNLIMITED', 'Partition_Limit') else minutes(row[13], 'time limit')
        return {
            'job_id': int(job), 'name': row[1], 'state': state, 'flags': [],
            'user': row[8], 'partition': row[9], 'nodes': '' if row[6] == 'None assigned' else row[6],
            'reason': '', 'priority': None, 'hold': False, 'exit_code': exit_code,
            'submit_time': _epoch(row[10]), 'start_time': _epoch(row[11]), 'end_time': _epoch(row[12]),
            'time_limit': limit, 'comment': '', 'account': row[7],
            'elapsed': int(row[5]) if row[5].isdigit() else None, 'source': 'accounting',
        }
    return None


def _epoch(value):
    try:
        # sacct prints the local time of the host it runs on, as does mktime read it.
        return int(time.mktime(time.strptime(value, '%Y-%m-%dT%H:%M:%S')))
    except ValueError:
        return None


# Settings of a new object, as read back from Slurm when nothing is set.
_EMPTY_ASSOC = _settings(ASSOC_FIELDS, {}, 'new association', read=True)
_EMPTY_QOS = _settings(QOS_FIELDS, {}, 'new QOS', read=True)
_ACCOUNT_KEYS = set(['name', 'state', 'parent', 'description', 'organization']) | set(ASSOC_OPTIONS)
_ENTRY_KEYS = set(['name']) | set(ASSOC_OPTIONS)


def _state(item, what):
    state = item.get('state') or 'present'
    if state not in ('present', 'absent'):
        raise SlurmError('%s: state must be present or absent, got %r' % (what, state))
    return state


def _unique(items, kind):
    seen = {}
    for item in items or []:
        if not isinstance(item, dict):
            raise SlurmError('each of %s must be a dict with a name, got %r' % (kind, item))
        key = name(item.get('name'), kind)
        if key in seen:
            raise SlurmError('%s %s is listed twice' % (kind, key))
        seen[key] = item
    return seen


def wanted_state(qos=None, accounts=None, users=None):
    """The whole wanted tree, validated and normalized: any bad name or value fails here, before any call."""
    wanted = {'qos': {}, 'accounts': {}, 'users': {}}
    for key, item in _unique(qos, 'QOS').items():
        what = 'QOS %s' % key
        wanted['qos'][key] = {'state': _state(item, what), 'settings': _settings(QOS_FIELDS, item, what)}
    for key, item in _unique(accounts, 'account').items():
        what = 'account %s' % key
        unknown = set(k for k, v in item.items() if v is not None) - _ACCOUNT_KEYS
        if unknown:
            raise SlurmError('%s: unknown options %s' % (what, ', '.join(sorted(unknown))))
        wanted['accounts'][key] = {
            'state': _state(item, what), 'parent': name(item.get('parent') or 'root', 'parent account'),
            'description': _text(item.get('description'), what + ': description'),
            'organization': _text(item.get('organization'), what + ': organization'),
            'settings': _settings(ASSOC_FIELDS, item, what)}
        if key == 'root' and (wanted['accounts'][key]['state'] == 'absent' or item.get('parent')):
            raise SlurmError('account root is the top of the tree: it cannot be removed or moved')
    for key, item in _unique(users, 'user').items():
        what = 'user %s' % key
        base = _settings(ASSOC_FIELDS, item, what)
        links = {}
        for entry in item.get('accounts') or []:
            entry = {'name': entry} if isinstance(entry, str) else entry
            if not isinstance(entry, dict) or set(k for k, v in entry.items() if v is not None) - _ENTRY_KEYS:
                raise SlurmError('%s: each account is a name or a dict of name and limits (%s), got %r'
                                 % (what, ', '.join(sorted(ASSOC_OPTIONS)), entry))
            account = name(entry.get('name'), 'account of %s' % what)
            if account in links:
                raise SlurmError('%s: account %s is listed twice' % (what, account))
            links[account] = dict(base, **_settings(ASSOC_FIELDS, entry, '%s in account %s' % (what, account)))
        state = _state(item, what)
        default = item.get('default_account')
        default = name(default, 'default account of %s' % what) if default else None
        admin = item.get('admin_level')
        if admin is not None and str(admin).lower() not in ADMIN_LEVELS:
            raise SlurmError('%s: admin_level must be one of %s, got %r' % (what, ', '.join(ADMIN_LEVELS), admin))
        if state == 'present' and not links:
            raise SlurmError('%s: a user needs at least one account' % what)
        if default and default not in links:
            raise SlurmError('%s: default_account %s is not among its accounts (%s)'
                             % (what, default, ', '.join(links)))
        wanted['users'][key] = {'state': state, 'accounts': links, 'default_account': default,
                                'admin_level': str(admin).lower() if admin is not None else None}
    return wanted


class _Plan(object):
    """sacctmgr calls grouped by identical change: one call names every object that gets it."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.groups = {}
        self.order = []

    def add(self, step, key, member, argv_of):
        group = (step, key)
        if group not in self.groups:
            self.groups[group] = (argv_of, [])
            self.order.append(group)
        self.groups[group][1].append(member)

    def commands(self):
        result = []
        for group in sorted(self.order, key=lambda g: g[0]):
            argv_of, members = self.groups[group]
            result.append(argv_of(','.join(members)))
        return result


class AccountsManager(object):
    """Brings QOS, accounts and users to the wanted state (module slurm_account)."""

    def __init__(self, params):
        self.params = params
        self.wanted = wanted_state(params.get('qos'), params.get('accounts'), params.get('users'))

    def run(self, run, check_mode=False, diff=False, warn=None, wait=60):
        tree = AccountingTree(run)
        cluster = tree.cluster(self.params.get('cluster'))
        current = tree.read(cluster)
        plan = _Plan(cluster)
        before, after = {'qos': {}, 'accounts': {}, 'users': {}}, {'qos': {}, 'accounts': {}, 'users': {}}
        self._qos(current, plan, before, after)
        self._accounts(current, plan, before, after)
        self._users(current, plan, before, after)
        doomed = self._deletions(current, tree)
        commands = plan.commands()
        cancelled = []
        if not check_mode:
            if doomed:
                cancelled = self._cancel(tree, doomed, wait)
            for done, argv in enumerate(commands):
                try:
                    tree.call(argv, 'sacctmgr %s' % ' '.join(argv[2:4]))
                except SlurmError as err:
                    # What was applied before the failing call stays applied: say so.
                    err.details.update(changed=bool(done or cancelled), done=commands[:done],
                                       cancelled_jobs=cancelled)
                    raise
        result = {'changed': bool(commands), 'cluster': cluster, 'commands': commands,
                  'cancelled_jobs': cancelled if not check_mode else doomed}
        if diff:
            result['diff'] = {'before': before, 'after': after}
        return result

    # QOS come first: accounts and users refer to them.
    def _qos(self, current, plan, before, after):
        have = current['qos']
        for key, item in self.wanted['qos'].items():
            if item['state'] == 'absent':
                if key in have:
                    plan.add(90, '', key, lambda names: WRITE + ['delete', 'qos', 'where', 'name=' + names])
                    before['qos'][key], after['qos'][key] = have[key], None
                continue
            cur = have.get(key, _EMPTY_QOS)
            words = _set_words(QOS_FIELDS, cur, item['settings'])
            if key not in have:
                words = [word for word in words if not word.endswith('=-1')]
                plan.add(10, tuple(words), key, lambda names, w=words: WRITE + ['add', 'qos', names] + w)
            elif words:
                plan.add(11, tuple(words), key,
                         lambda names, w=words: WRITE + ['modify', 'qos', 'where', 'name=' + names, 'set'] + w)
            if words or key not in have:
                before['qos'][key] = have.get(key)
                after['qos'][key] = dict(cur, **item['settings'])

    def _known(self, kind, current, key):
        wanted = self.wanted[kind].get(key)
        return (wanted['state'] == 'present') if wanted else key in current[kind]

    def _check_qos(self, settings, current, what):
        for key in settings.get('qos') or []:
            if not self._known('qos', current, key):
                raise SlurmError('%s: unknown QOS %s (neither in Slurm nor wanted present)' % (what, key))
        default = settings.get('default_qos')
        if default and not self._known('qos', current, default):
            raise SlurmError('%s: unknown default QOS %s' % (what, default))
        if default and settings.get('qos') is not None and default not in settings['qos']:
            raise SlurmError('%s: default_qos %s is not in its qos list' % (what, default))

    def _depth(self, key, current):
        seen = []
        while key != 'root':
            if key in seen:
                raise SlurmError('accounts form a cycle: %s' % ' -> '.join(seen + [key]))
            seen.append(key)
            wanted = self.wanted['accounts'].get(key)
            key = wanted['parent'] if wanted else (current['accounts'].get(key) or {}).get('parent') or 'root'
        return len(seen)

    def _accounts(self, current, plan, before, after):
        have, cluster = current['accounts'], plan.cluster
        where = 'cluster=' + cluster
        for key, item in self.wanted['accounts'].items():
            what = 'account %s' % key
            if item['state'] == 'absent':
                if key in have:
                    plan.add(80, '', key, lambda names: WRITE + ['delete', 'account', 'where', 'name=' + names, where])
                    before['accounts'][key], after['accounts'][key] = self._show_account(have[key]), None
                continue
            if not self._known('accounts', current, item['parent']):
                raise SlurmError('%s: unknown parent account %s (neither in Slurm nor wanted present)'
                                 % (what, item['parent']))
            self._check_qos(item['settings'], current, what)
            depth = self._depth(key, current)
            cur = have.get(key)
            words = _set_words(ASSOC_FIELDS, cur or _EMPTY_ASSOC, item['settings'])
            record = ['%s=%s' % (word.capitalize(), item[word]) for word in ('description', 'organization')
                      if item[word] is not None and (cur is None or _differ(cur[word], item[word]))]
            if cur is None and key != 'root':
                words = [word for word in words if not word.endswith('=-1')]
                new = ['parent=' + item['parent'], where] + record + words
                # Parents first: a deeper account comes in a later step.
                plan.add(20 + min(depth, 999) / 1000.0, tuple(new), key,
                         lambda names, w=new: WRITE + ['add', 'account', names] + w)
            else:
                cur = cur or dict(_EMPTY_ASSOC, parent=None, description=None, organization=None)
                if key != 'root' and cur['parent'] != item['parent']:
                    plan.add(30, item['parent'], key, lambda names, p=item['parent']: WRITE + [
                        'modify', 'account', 'where', 'name=' + names, where, 'set', 'parent=' + p])
                for word in record:
                    plan.add(31, word, key, lambda names, w=word: WRITE + [
                        'modify', 'account', 'where', 'name=' + names, 'set', w])
                if words:
                    plan.add(32, tuple(words), key, lambda names, w=words: WRITE + [
                        'modify', 'account', 'where', 'name=' + names, where, 'set'] + w)
                if not (words or record or (key != 'root' and cur['parent'] != item['parent'])):
                    continue
            old = self._show_account(cur) if cur else None
            before['accounts'][key] = old
            new = dict(old or _EMPTY_ASSOC, **item['settings'])
            new.update((k, item[k]) for k in ('parent', 'description', 'organization') if item[k] is not None)
            after['accounts'][key] = new

    @staticmethod
    def _show_account(account):
        return dict((key, value) for key, value in account.items() if key != 'users')

    def _users(self, current, plan, before, after):
        have, cluster = current['users'], plan.cluster
        where = 'cluster=' + cluster
        for key, item in self.wanted['users'].items():
            what = 'user %s' % key
            cur = have.get(key)
            if item['state'] == 'absent':
                if cur and cur['accounts']:
                    # With cluster=, sacctmgr refuses to drop a user's default account even with all the others.
                    plan.add(70, '', key, lambda names: WRITE + ['delete', 'user', 'where', 'name=' + names])
                    before['users'][key], after['users'][key] = cur, None
                continue
            for account, settings in item['accounts'].items():
                if self.wanted['accounts'].get(account, {}).get('state') == 'absent':
                    raise SlurmError('%s: account %s is listed as absent' % (what, account))
                if not self._known('accounts', current, account):
                    raise SlurmError('%s: unknown account %s (neither in Slurm nor wanted present)' % (what, account))
                self._check_qos(settings, current, '%s in account %s' % (what, account))
            links = (cur or {}).get('accounts', {})
            default = item['default_account'] or (cur or {}).get('default_account')
            if default not in item['accounts']:
                default = list(item['accounts'])[0]
            changed = False
            for account, settings in item['accounts'].items():
                words = _set_words(ASSOC_FIELDS, links.get(account, _EMPTY_ASSOC), settings)
                if account not in links:
                    words = [word for word in words if not word.endswith('=-1')]
                    extra = ['DefaultAccount=' + account] if cur is None and account == default else []
                    new = ['account=' + account, where] + extra + words
                    plan.add(41 if extra else 42, tuple(new), key,
                             lambda names, w=new: WRITE + ['add', 'user', names] + w)
                elif words:
                    sel = ['account=' + account, where]
                    plan.add(43, tuple(sel + words), key, lambda names, s=sel, w=words: WRITE + [
                        'modify', 'user', 'where', 'name=' + names] + s + ['set'] + w)
                changed = changed or bool(words) or account not in links
            if cur is not None and cur['default_account'] != default:
                plan.add(44, default, key, lambda names, d=default: WRITE + [
                    'modify', 'user', 'where', 'name=' + names, where, 'set', 'DefaultAccount=' + d])
                changed = True
            admin = item['admin_level']
            if admin is not None and admin != ((cur or {}).get('admin_level') or 'none'):
                plan.add(45, admin, key, lambda names, a=admin: WRITE + [
                    'modify', 'user', 'where', 'name=' + names, 'set', 'AdminLevel=' + a.capitalize()])
                changed = True
            for account in links:
                if account not in item['accounts']:
                    plan.add(60, account, key, lambda names, a=account: WRITE + [
                        'delete', 'user', 'where', 'name=' + names, 'account=' + a, where])
                    changed = True
            if changed:
                before['users'][key] = cur
                after['users'][key] = {
                    'default_account': default, 'admin_level': admin or (cur or {}).get('admin_level') or 'none',
                    'accounts': dict((account, dict(links.get(account, _EMPTY_ASSOC), **settings))
                                     for account, settings in item['accounts'].items())}

    def _deletions(self, current, tree):
        """Ids of the active jobs that the planned deletions would hit; SlurmError unless force (or none)."""
        accounts, users, links = set(), set(), set()
        children = {}
        for key, account in current['accounts'].items():
            children.setdefault(account['parent'], []).append(key)
        for key, item in self.wanted['accounts'].items():
            if item['state'] == 'absent' and key in current['accounts']:
                stack = [key]
                while stack:
                    account = stack.pop()
                    accounts.add(account)
                    stack.extend(children.get(account, []))
        for key, item in self.wanted['users'].items():
            cur = current['users'].get(key)
            if cur and item['state'] == 'absent' and cur['accounts']:
                users.add(key)
            elif cur:
                links.update((key, account) for account in cur['accounts'] if account not in item['accounts'])
                for account in item['accounts']:
                    if account in accounts:
                        raise SlurmError('user %s is wanted in account %s, which is being removed (itself or as a '
                                         'sub-account of a removed one)' % (key, account))
        # `delete account` silently takes the sub-accounts and user associations below it.
        hidden = sorted([account for account in accounts if account not in self.wanted['accounts']] + [
            '%s in %s' % (user, account) for account in accounts for user in current['accounts'][account]['users']
            if user not in users and (user, account) not in links and user not in self.wanted['users']])
        if hidden and not self.params.get('force'):
            raise SlurmError('removing %s would also remove %s: list them as absent too, or set force'
                             % (', '.join(sorted(a for a in accounts if a in self.wanted['accounts'])),
                                ', '.join(hidden)), also_removed=hidden)
        # sacctmgr refuses to remove the default account of a user that stays.
        stranded = sorted('%s (default account %s)' % (user, cur['default_account'])
                          for user, cur in current['users'].items() if cur['default_account'] in accounts
                          and user not in users and user not in self.wanted['users'])
        if stranded:
            raise SlurmError('removing %s would leave users without their default account: %s; list them with '
                             'another default_account, or as absent'
                             % (', '.join(sorted(accounts)), ', '.join(stranded)), users=stranded)
        if not (accounts or users or links):
            return []
        doomed = [(job, account, user) for job, account, user in tree.active_jobs()
                  if account in accounts or user in users or (user, account) in links]
        if doomed and not self.params.get('force'):
            raise SlurmError('refusing to remove accounts or users with pending or running jobs: %s; wait for '
                             'them, cancel them, or set force to cancel them' % ', '.join(
                                 'job %s (account %s, user %s)' % job for job in doomed),
                             jobs=[job[0] for job in doomed])
        return [job[0] for job in doomed]

    @staticmethod
    def _cancel(tree, jobs, wait):
        tree.call(['scancel'] + list(jobs), 'cancelling jobs %s' % ','.join(jobs))
        deadline = time.time() + wait
        while True:
            left = set(jobs) & set(job for job, _account, _user in tree.active_jobs())
            if not left:
                return list(jobs)
            if time.time() > deadline:
                raise SlurmError('jobs %s still active %d s after scancel; nothing removed' % (
                    ','.join(sorted(left)), wait), jobs=sorted(left))
            time.sleep(1)


QOS_OPTIONS = dict((option, dict(type='raw')) for option, _word, _kind in QOS_FIELDS)
QOS_OPTIONS['description'] = dict(type='str')
_STATE = dict(type='str', choices=['present', 'absent'], default='present')
MODULE_ARGS = dict(
    argument_spec=dict(
        cluster=dict(type='str'),
        qos=dict(type='list', elements='dict', default=[],
                 options=dict(name=dict(type='str', required=True), state=_STATE, **QOS_OPTIONS)),
        accounts=dict(type='list', elements='dict', default=[],
                      options=dict(name=dict(type='str', required=True), state=_STATE, parent=dict(type='str'),
                                   description=dict(type='str'), organization=dict(type='str'), **ASSOC_OPTIONS)),
        users=dict(type='list', elements='dict', default=[],
                   options=dict(name=dict(type='str', required=True), state=_STATE,
                                accounts=dict(type='list', elements='raw', default=[]),
                                default_account=dict(type='str'),
                                admin_level=dict(type='str', choices=list(ADMIN_LEVELS)), **ASSOC_OPTIONS)),
        force=dict(type='bool', default=False),
    ),
    supports_check_mode=True,
)
