# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# The words this collection speaks to Slurm (node states, job actions and
# states, signals) and the one check of each kind of input, used by the
# operations and by both backends, so that a value fails the same way through
# the CLI and through slurmrestd. Every check raises SlurmError naming the
# option. Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import signal as _signal

from ansible_collections.aiinfra.slurm.plugins.module_utils.hostlist import HostlistError, expand
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError

# slurm_node's states; scontrol's State= word is the upper-case form.
NODE_STATES = ('resume', 'drain', 'undrain', 'down', 'idle', 'fail', 'power_down', 'power_up', 'power_down_asap',
               'power_down_force')
# States that take (and need) a reason.
REASON_STATES = ('drain', 'down', 'fail')
NODE_BASE_STATES = ('unknown', 'down', 'idle', 'allocated', 'error', 'mixed', 'future')

JOB_CONTROL_ACTIONS = ('hold', 'release', 'suspend', 'resume', 'requeue')
JOB_ACTIONS = ('submit', 'status') + JOB_CONTROL_ACTIONS + ('cancel', 'wait')
JOB_BASE_STATES = ('PENDING', 'RUNNING', 'SUSPENDED', 'COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT',
                   'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY')
# A job in one of these states is over: it will not run (again) by itself.
TERMINAL_JOB_STATES = frozenset(['COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED',
                                 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY'])

# Signals every Slurm version takes by name, through scancel and slurmrestd
# alike (v0.0.38's enum; 24.11's slurmrestd silently ignores names it does not know).
SIGNALS = ('HUP', 'INT', 'QUIT', 'ABRT', 'KILL', 'ALRM', 'TERM', 'USR1', 'USR2', 'URG', 'CONT', 'STOP',
           'TSTP', 'TTIN', 'TTOU')

# What a batch job gets when nothing is given, with either backend: slurmrestd
# refuses a job without a working directory or without any environment.
DEFAULT_WORKING_DIRECTORY = '/tmp'
DEFAULT_ENVIRONMENT = {'PATH': '/usr/local/bin:/usr/bin:/bin'}

_CONTROL = re.compile(r'[\x00-\x1f\x7f]')
_CONTROL_BUT_LINES = re.compile(r'[\x00-\x08\x0b-\x1f\x7f]')
_ENV_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')
_NODE_COUNT = re.compile(r'\d+(-\d+)?\Z')
_FEATURE = re.compile(r'[^\s,\x00-\x1f\x7f]+\Z')


def text(value, what, newlines=False):
    """str(value), refusing control characters (a newline would end a scontrol field or a log line).

    With `newlines`, line breaks and tabs are fine (a command line for --wrap).
    """
    result = str(value)
    if (_CONTROL_BUT_LINES if newlines else _CONTROL).search(result):
        raise SlurmError('%s must not contain newlines or other control characters: %r' % (what, result))
    return result


def integer(value, what, minimum=None):
    """int(value) for ints and numeric text; SlurmError for booleans, other text, or below `minimum`."""
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        result = int(value)
    except (TypeError, ValueError):
        raise SlurmError('%s must be an integer, got %r' % (what, value))
    if minimum is not None and result < minimum:
        raise SlurmError('%s must be at least %d, got %d' % (what, minimum, result))
    return result


def valid_job_id(value):
    """A job id: a positive number (int or numeric text)."""
    try:
        return integer(str(value).strip() if isinstance(value, str) else value, 'job id', minimum=1)
    except SlurmError:
        raise SlurmError('invalid job id %r: a job id is a positive number' % (value,))


def node_names(names):
    """The unique node names of a list of names or hostlist expressions, in the order given."""
    try:
        expanded = expand(names)
    except HostlistError as err:
        raise SlurmError('invalid node names: %s' % err)
    if not expanded:
        raise SlurmError('no node names given')
    seen = set()
    return [name for name in expanded if not (name in seen or seen.add(name))]


def node_state(state):
    """scontrol's State= word (DRAIN) of a node state (drain, DRAIN)."""
    if str(state).lower() not in NODE_STATES:
        raise SlurmError('unknown node state %r; expected one of %s' % (state, ', '.join(NODE_STATES)))
    return str(state).upper()


def feature(name):
    """A node feature name: no commas, blanks or control characters."""
    if not isinstance(name, str) or not _FEATURE.match(name):
        raise SlurmError('invalid feature name %r: no commas, blanks or control characters' % (name,))
    return name


def job_action(action):
    """One of JOB_CONTROL_ACTIONS, lower case."""
    word = str(action).lower()
    if word not in JOB_CONTROL_ACTIONS:
        raise SlurmError('unknown job action %r; expected one of %s' % (action, ', '.join(JOB_CONTROL_ACTIONS)))
    return word


def signal_name(sig):
    """TERM from TERM, SIGTERM, sigterm, 15 or "15"; SlurmError for anything not in SIGNALS."""
    word = str(sig).strip().upper()
    if isinstance(sig, bool):
        word = ''
    elif isinstance(sig, int) or word.isdigit():
        try:
            word = _signal.Signals(int(word)).name
        except ValueError:
            word = ''
    if word.startswith('SIG'):
        word = word[3:]
    if word not in SIGNALS:
        raise SlurmError('invalid signal %r: unknown or unsupported; expected a name or number of one of %s'
                         % (sig, ', '.join(SIGNALS)))
    return word


def node_count(nodes):
    """sbatch -N: a count or "min-max", as text."""
    result = str(nodes).strip()
    if isinstance(nodes, bool) or not _NODE_COUNT.match(result):
        raise SlurmError('nodes must be a number of nodes or a range min-max (a node count), got %r' % (nodes,))
    return result


def environment(env):
    """A job's environment as {name: text}.

    Names are shell variable names. Values are text; numbers and booleans are
    converted (booleans to "true" and "false"); lists and dicts are refused,
    since no one text form of them is the right one.
    """
    if not isinstance(env, dict):
        raise SlurmError('environment must be a dict of names and values, got %r' % (type(env).__name__,))
    result = {}
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise SlurmError('invalid environment variable name %r' % (name,))
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        elif isinstance(value, (int, float)):
            value = str(value)
        elif value is None:
            value = ''
        elif not isinstance(value, str):
            raise SlurmError('environment variable %s must be text, a number or a boolean, not a %s'
                             % (name, type(value).__name__))
        if '\x00' in value:
            raise SlurmError('environment variable %s must not contain a NUL character' % name)
        result[name] = value
    return result


def job_spec(spec):
    """A batch job's spec (slurm_backend.SlurmBackend.submit_job) checked, with the defaults both backends send.

    Returns script or wrap, working_directory, environment (text values), and
    of name, partition, output, comment (text), ntasks, cpus_per_task,
    time_limit (positive ints) and nodes (a count or "min-max") those given.
    """
    script, wrap = spec.get('script'), spec.get('wrap')
    if bool(script) == bool(wrap):
        raise SlurmError('a job needs exactly one of script and wrap')
    result = {
        'working_directory': text(spec.get('working_directory') or DEFAULT_WORKING_DIRECTORY, 'working_directory'),
        'environment': environment(spec.get('environment') or DEFAULT_ENVIRONMENT),
    }
    if script:
        result['script'] = str(script)
    else:
        result['wrap'] = text(wrap, 'wrap', newlines=True)
    for key in ('name', 'partition', 'output', 'comment'):
        if spec.get(key) is not None:
            result[key] = text(spec[key], key)
    for key in ('ntasks', 'cpus_per_task', 'time_limit'):
        if spec.get(key) is not None:
            result[key] = integer(spec[key], key, minimum=1)
    if spec.get('nodes') is not None:
        result['nodes'] = node_count(spec['nodes'])
    return result
