# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's playbooks under the free strategy, which runs run_once tasks on every host.

A play in which one host makes or decides something for all (its own run_once tasks, or, in
remove_nodes, the slurm role's outside.yml writing for every host left out of the play) pins the
linear strategy; under free, munge_rotate made one key per host (seen on bookworm) and
remove_nodes of two nodes skipped the reconfigure (seen on trixie). The plays with run_once tasks
of their own left unpinned are listed with why free is harmless there. site.yml and add_nodes.yml
are not pinned: they run under free by design, with the play before the slurm play
(test_playbook_prepare_play.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import yaml

PLAYBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "playbooks")
LINEAR = "ansible.builtin.linear"

# Plays with run_once tasks of their own that need no pin.
UNPINNED = {
    # One host only (slurm_controller by default).
    ("accounts.yml", "Load QOS, accounts and users into Slurm accounting"),
    # Read-only: the wait for every node and the job list are the same from any host.
    ("restore.yml", "Bring the nodes back under the restored controller"),
    # Read-only: the check for jobs fails the run for every host alike.
    ("uninstall.yml", "Check that no job would be lost"),
}
# Plays that run the slurm role on hosts that leave the controller out, so that
# outside.yml writes the other hosts' files once for all.
OUTSIDE = {("remove_nodes.yml", "Drop the nodes from the cluster's configuration")}


def _has_run_once(tasks):
    for task in tasks or []:
        if task.get("run_once") is True:
            return True
        if any(_has_run_once(task.get(key)) for key in ("block", "rescue", "always")):
            return True
    return False


def _plays():
    for path in sorted(glob.glob(os.path.join(PLAYBOOKS, "*.yml"))):
        with open(path) as handle:
            for play in yaml.safe_load(handle):
                yield os.path.basename(path), play


def test_the_lists_name_real_plays():
    names = set((playbook, play["name"]) for playbook, play in _plays())
    assert UNPINNED | OUTSIDE <= names, (UNPINNED | OUTSIDE) - names


def test_plays_where_one_host_decides_for_all_run_linear():
    checked = 0
    for playbook, play in _plays():
        own = any(_has_run_once(play.get(key)) for key in ("pre_tasks", "tasks", "post_tasks", "handlers"))
        if (playbook, play["name"]) in OUTSIDE or (own and (playbook, play["name"]) not in UNPINNED):
            assert play.get("strategy") == LINEAR, (playbook, play["name"])
            checked += 1
    # doctor, jwt_rotate (2), munge_rotate, recover_nodes, remove_nodes (2), rolling_maintenance (2),
    # sync_ssh_keys.
    assert checked == 10, checked
