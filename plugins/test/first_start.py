# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Tests first_start and found_running: the rule every role's handlers share to
# leave alone a daemon that this run started from stopped (it read the new files
# at its start), and whether a probe found a daemon running. Documented in
# first_start.yml and found_running.yml next to this file.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# ActiveState values of a unit that may have read the old files: a start task
# does not start it again (ansible.builtin.systemd counts "activating" as
# running), so a restart is the safe side.
RAN_STATES = frozenset(("active", "activating", "reloading", "refreshing"))


def _changed(result):
    """Like Ansible's `changed` test, for one register or several (a list)."""
    if isinstance(result, Mapping):
        if result.get("changed"):
            return True
        return any(_changed(item) for item in result.get("results") or [])
    if isinstance(result, (list, tuple)):
        return any(_changed(item) for item in result)
    return False


def ran_at_probe(probe, service):
    """Whether the probe (a slurm_host_facts register) found SERVICE running.

    A state the probe did not report counts as running: a needless restart is the
    safe side, a skipped one leaves old settings in memory.
    """
    slurm_host = ((probe or {}).get("ansible_facts") or {}).get("slurm_host") or {}
    active_state = (slurm_host.get("service_states") or {}).get(service)
    if active_state is not None:
        return active_state in RAN_STATES
    state = (slurm_host.get("services") or {}).get(service)
    if not isinstance(state, Mapping):
        return True
    return bool(state.get("active", True))


def found_running(probe, service):
    """True when PROBE (a slurm_host_facts register) found SERVICE running or starting."""
    _check(probe, service, "found_running")
    return ran_at_probe(probe, service)


def _check(probe, service, test):
    if not isinstance(service, str) or not service:
        raise AnsibleFilterError("%s: service must be a unit name, got %r" % (test, service))
    if probe is not None and not isinstance(probe, Mapping):
        raise AnsibleFilterError("%s: probe must be the register of aiinfra.slurm.slurm_host_facts, got %s"
                                 % (test, type(probe).__name__))


def first_start(started, probe, service, stopped_after_probe=None):
    """True when STARTED (a start task's register, or a list of them) changed and
    the daemon did not run at the probe, or this run stopped it after the probe
    (STOPPED_AFTER_PROBE, a register that changed)."""
    _check(probe, service, "first_start")
    if not _changed(started):
        return False
    if _changed(stopped_after_probe):
        return True
    return not ran_at_probe(probe, service)


class TestModule(object):
    def tests(self):
        return {"first_start": first_start, "found_running": found_running}
