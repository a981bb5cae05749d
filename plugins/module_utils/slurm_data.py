# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# One shape for Slurm's node, job and partition records, whichever JSON they
# come from:
#
# - Slurm 22.05: slurmrestd v0.0.38, `sinfo --json` and `squeue --json` (the
#   same v0.0.38 records). Node state "idle" plus "state_flags": ["DRAIN"];
#   job state one string, which names a flag instead of the base when one is
#   set ("COMPLETING"); plain numbers, null when unset; features a comma
#   string; exit_code the raw wait status (768 for `exit 3`).
# - Slurm 24.11: slurmrestd v0.0.40, v0.0.41, v0.0.42 and `scontrol show
#   node|job|partition --json`, `squeue --json` (data_parser records). States
#   are lists, base first (["IDLE", "DRAIN"], ["CANCELLED", "COMPLETING"]);
#   numbers that can be unset or infinite are {"set", "infinite", "number"};
#   features a list; exit_code {"status", "return_code", "signal"}; partitions
#   nested ("nodes": {"configured", "total"}) and without their Default flag.
#
# Every shape was checked against real output, kept in
# tests/unit/fixtures/slurm/{rest,cli}-{22.05,24.11}/. The CLI backend reads
# nodes from `scontrol show node` text and turns each into the JSON shape
# first; unit tests check that both give the same normalized nodes.
#
# The CLI and REST backends both return these shapes, so modules never see
# which one answered. Runs on managed hosts: Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_vocabulary import (
    JOB_BASE_STATES,
    NODE_BASE_STATES,
    TERMINAL_JOB_STATES,
)

# Slurm's "not set" and "unlimited" markers of 32 and 64 bit fields, which the
# v0.0.38 records sometimes print as plain numbers.
NO_VAL = 0xfffffffe
INFINITE = 0xffffffff
NO_VAL64 = 0xfffffffffffffffe
INFINITE64 = 0xffffffffffffffff
_UNSET = frozenset([NO_VAL, INFINITE, NO_VAL64, INFINITE64])

# v0.0.38 prints a job's flag instead of its base state while the flag is set.
# The base it hides is assumed from what the flag means. COMPLETING and
# friends: the job still holds its nodes and its final state (COMPLETED,
# FAILED, ...) is unknown until the flag clears, so RUNNING, which keeps a
# caller waiting for a terminal state waiting a little longer rather than
# reporting the wrong end. Requeued jobs go back to the queue.
_JOB_FLAG_BASE = {
    'COMPLETING': 'RUNNING',
    'STAGE_OUT': 'RUNNING',
    'SIGNALING': 'RUNNING',
    'CONFIGURING': 'RUNNING',
    'RESIZING': 'RUNNING',
    'STOPPED': 'RUNNING',
    'POWER_UP_NODE': 'RUNNING',
    'REQUEUED': 'PENDING',
    'REQUEUE_HOLD': 'PENDING',
    'REQUEUE_FED': 'PENDING',
    'SPECIAL_EXIT': 'PENDING',
    'RESV_DEL_HOLD': 'PENDING',
    'REVOKED': 'CANCELLED',
}

# node_status(): which flags make a node failed or in maintenance.
_FAILED_FLAGS = frozenset(['DRAIN', 'FAIL'])
_MAINTENANCE_FLAGS = frozenset(['RESERVED', 'MAINTENANCE'])


def number(value, default=None):
    """The int in a Slurm number field, or `default` when it is unset or unlimited.

    Reads v0.0.38's plain ints (and null), v0.0.39+'s {"set", "infinite",
    "number"} and numeric strings (24.11's meta version parts are strings).
    Slurm's NO_VAL and INFINITE markers count as unset.
    """
    if isinstance(value, dict):
        if value.get('infinite') or not value.get('set', True):
            return default
        value = value.get('number')
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, float):
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return default
    if not isinstance(value, int) or value in _UNSET:
        return default
    return value


def normalize_node(raw):
    """One node record (any shape above) as {name, state, flags, cpus, ...}."""
    _record(raw, 'node')
    state, flags = _node_state(raw.get('state'), raw.get('state_flags'))
    return {
        'name': raw.get('name') or '',
        'state': state,
        'flags': flags,
        'cpus': number(raw.get('cpus'), 0),
        'real_memory': number(raw.get('real_memory'), 0),
        'features': _names(raw.get('features')),
        'partitions': _names(raw.get('partitions')),
        'reason': raw.get('reason') or '',
        'weight': number(raw.get('weight')),
        'address': raw.get('address') or '',
    }


def node_status(node):
    """What an operator wants to know of a normalized node, in one word.

    First match wins:
    - 'failed': base down or error, or flag DRAIN (draining or drained) or
      FAIL: the node takes no new work, whatever it still runs.
    - 'maintenance': flag RESERVED or MAINTENANCE, or base reserved.
    - 'unknown': flag NOT_RESPONDING (slurmctld cannot reach slurmd; the node
      turns down after SlurmdTimeout), and base unknown, future or anything else.
    - 'running': base idle, allocated or mixed.
    """
    flags = set(node.get('flags') or [])
    state = node.get('state')
    if state in ('down', 'error') or flags & _FAILED_FLAGS:
        return 'failed'
    if state == 'reserved' or flags & _MAINTENANCE_FLAGS:
        return 'maintenance'
    if 'NOT_RESPONDING' in flags:
        return 'unknown'
    if state in ('idle', 'allocated', 'mixed'):
        return 'running'
    return 'unknown'


def normalize_job(raw):
    """One job record (any shape above) as {job_id, name, state, flags, ...}.

    - state: the base state, uppercase; flags: the state flags (COMPLETING,
      REQUEUED, ...), not Slurm's job "flags" field (internal scheduling flags).
    - hold: held (priority 0), from 24.11's "hold" or 22.05's priority.
    - exit_code: only once the job is over (TERMINAL_JOB_STATES), else None:
      the script's exit status, or 128 + the signal that killed it (as a shell
      reports it; 143 for TERM).
    - submit_time, start_time, end_time: epoch seconds, None when unset (0).
      For pending and running jobs start and end are Slurm's expectations.
    - time_limit: minutes, None when unlimited or unset.
    - comment: the job's comment; slurm_jobs tags each submission there.
    """
    _record(raw, 'job')
    state, flags = _job_state(raw.get('job_state'))
    priority = number(raw.get('priority'), 0)
    hold = raw.get('hold')
    if not isinstance(hold, bool):
        hold = priority == 0
    return {
        'job_id': number(raw.get('job_id'), 0),
        'name': raw.get('name') or '',
        'state': state,
        'flags': flags,
        'user': raw.get('user_name') or '',
        'partition': raw.get('partition') or '',
        'nodes': raw.get('nodes') or '',
        'reason': _reason(raw.get('state_reason')),
        'priority': priority,
        'hold': hold,
        'exit_code': _exit_code(raw.get('exit_code')) if state in TERMINAL_JOB_STATES else None,
        'submit_time': _time(raw.get('submit_time')),
        'start_time': _time(raw.get('start_time')),
        'end_time': _time(raw.get('end_time')),
        'time_limit': _minutes(raw.get('time_limit')),
        'comment': raw.get('comment') if isinstance(raw.get('comment'), str) else '',
    }


def normalize_partition(raw):
    """One partition record (any shape above) as {name, state, nodes, ...}.

    default is None where Slurm does not say: the 24.11 records (REST and
    `scontrol show partition --json`) have no Default flag at all.
    """
    _record(raw, 'partition')
    if isinstance(raw.get('nodes'), dict):
        # v0.0.39 and later: nested records.
        nodes = raw['nodes']
        state = (raw.get('partition') or {}).get('state')
        return {
            'name': raw.get('name') or '',
            'state': _first_upper(state),
            'nodes': nodes.get('configured') or '',
            'total_nodes': number(nodes.get('total'), 0),
            'total_cpus': number((raw.get('cpus') or {}).get('total'), 0),
            'default': _partition_default(raw),
            'max_time': _minutes((raw.get('maximums') or {}).get('time')),
        }
    return {
        'name': raw.get('name') or '',
        'state': _first_upper(raw.get('state')),
        'nodes': raw.get('nodes') or '',
        'total_nodes': number(raw.get('total_nodes'), 0),
        'total_cpus': number(raw.get('total_cpus'), 0),
        'default': _partition_default(raw),
        'max_time': _minutes(raw.get('max_time_limit')),
    }


# Helpers ----------------------------------------------------------------------

def _record(raw, what):
    # Slurm's JSON of another version, or a proxy's answer, must not end in a traceback.
    if not isinstance(raw, dict):
        raise SlurmError('Slurm sent a %s record that is not a JSON object: %.200r' % (what, raw))


def _node_state(state, state_flags):
    """(lowercase base, [UPPERCASE flags]) from either node state shape."""
    if isinstance(state, list):
        # v0.0.39+: ["IDLE", "DRAIN"]; the base comes first, but look for it.
        words = [str(word).upper() for word in state]
        base = next((word for word in words if word.lower() in NODE_BASE_STATES), None)
        flags = [word for word in words if word != base]
        return (base.lower() if base else 'unknown'), flags
    base = str(state or 'unknown').lower()
    flags = [str(flag).upper() for flag in (state_flags or [])]
    return base, flags


def _job_state(state):
    """(UPPERCASE base, [flags]) from either job state shape."""
    words = state if isinstance(state, list) else [state] if state else []
    words = [str(word).upper() for word in words]
    base = next((word for word in words if word in JOB_BASE_STATES), None)
    flags = [word for word in words if word != base]
    if base is None and flags:
        # Only a flag (v0.0.38 while one is set): assume its base, see above.
        base = _JOB_FLAG_BASE.get(flags[0], flags[0])
    return base or 'UNKNOWN', flags


def _exit_code(code):
    if isinstance(code, dict):
        # v0.0.39+: {"status": ["SIGNALED"], "return_code": ..., "signal": {"id": ...}}
        signal = number((code.get('signal') or {}).get('id'))
        if 'SIGNALED' in (code.get('status') or []) and signal:
            return 128 + signal
        return number(code.get('return_code'))
    status = number(code)
    if status is None:
        return None
    # v0.0.38: the raw wait status, as waitpid() returns it.
    if status & 0x7f:
        return 128 + (status & 0x7f)
    return (status >> 8) & 0xff


def _reason(reason):
    # Slurm says "None" when there is no reason.
    return '' if not reason or reason == 'None' else reason


def _time(value):
    value = number(value)
    return value if value else None


def _minutes(value):
    """A time limit in minutes, None when unlimited or unset (v0.0.38 says -1 or null)."""
    value = number(value)
    return value if value is not None and value >= 0 else None


def _names(value):
    """A list of names from a list, or from a comma string ("" means none)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in value.split(',') if part]
    return [str(part) for part in value if part]


def _first_upper(value):
    if isinstance(value, list):
        value = value[0] if value else ''
    return str(value or '').upper()


def _partition_default(raw):
    flags = raw.get('flags')
    if isinstance(flags, list):
        return 'DEFAULT' in [str(flag).upper() for flag in flags]
    return None
