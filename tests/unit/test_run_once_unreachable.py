# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""run_once tasks meant to survive an unreachable host also ignore errors.

Under the linear strategy a run_once task is treated as any_errors_fatal unless
ignore_errors is set, and an unreachable result counts even with
ignore_unreachable: the play then ends for every host without a message (seen in
the lab for doctor.yml and the slurm role's outside.yml). So a run_once task
that carries ignore_unreachable must carry ignore_errors too, and judge its
real failures in a task of its own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TASK_FILES = sorted(
    glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))
    + glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))
    + glob.glob(os.path.join(ROOT, "roles", "*", "handlers", "*.yml"))
)
SECTIONS = ("pre_tasks", "tasks", "post_tasks", "handlers", "block", "rescue", "always")


def _tasks(items, inherited):
    """Every task with the keywords it inherits from its blocks."""
    for item in items or []:
        if not isinstance(item, dict):
            continue
        keywords = dict(inherited)
        keywords.update((key, item[key]) for key in ("run_once", "ignore_unreachable", "ignore_errors") if key in item)
        nested = [key for key in SECTIONS if key in item]
        if nested:
            for key in nested:
                yield from _tasks(item[key], keywords)
        else:
            yield item.get("name", "?"), keywords


def _all_tasks():
    for path in TASK_FILES:
        with open(path) as handle:
            content = yaml.safe_load(handle) or []
        if os.path.basename(os.path.dirname(path)) == "playbooks":
            lists = [play.get(key) for play in content for key in ("pre_tasks", "tasks", "post_tasks", "handlers")]
        else:
            lists = [content]
        for tasks in lists:
            for name, keywords in _tasks(tasks, {}):
                yield os.path.relpath(path, ROOT), name, keywords


def test_run_once_tasks_that_outlive_an_unreachable_host_ignore_errors():
    found = []
    for path, name, keywords in _all_tasks():
        if keywords.get("run_once") is True and keywords.get("ignore_unreachable") is True:
            found.append((path, name))
            assert keywords.get("ignore_errors") is True, (path, name)
    # At least doctor.yml's delegated reads of the controller, outside.yml's three writes and the handler after them.
    assert len(found) >= 10, found
    assert set(path for path, _name in found) >= {"playbooks/doctor.yml", "roles/slurm/tasks/outside.yml",
                                                  "roles/slurm/handlers/main.yml"}, found
