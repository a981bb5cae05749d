# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper: write each task's wall-clock seconds to $TASK_SECONDS_FILE."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: task_seconds
type: aggregate
short_description: Record how long each task took (benchmarks only)
description:
  - "Writes one JSON line per task (keys C(task), C(seconds) and C(items)) to the file named by the
    environment variable C(TASK_SECONDS_FILE). C(items) holds the seconds between successive loop
    items (one host), the first counted from the start of the task. A C(%d) in the name takes the
    first number whose file does not exist yet: one file per run."
requirements:
  - enabled with ANSIBLE_CALLBACKS_ENABLED=task_seconds
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_seconds"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._current = None
        self._rows = []
        self._ran = False

    def _finish(self):
        if self._current:
            name, start, items = self._current
            self._rows.append({"task": name, "seconds": time.monotonic() - start, "items": items,
                               "skipped": not self._ran})
            self._current = None

    def _start(self, task):
        self._finish()
        self._current = (task.get_name(), time.monotonic(), [])
        self._last = self._current[1]
        self._ran = False

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task)

    def _item_done(self):
        if self._current:
            now = time.monotonic()
            self._current[2].append(now - self._last)
            self._last = now

    def v2_runner_item_on_ok(self, result):
        self._item_done()

    def v2_runner_item_on_failed(self, result):
        self._item_done()

    def v2_runner_on_ok(self, result):
        self._ran = True

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._ran = True

    def v2_playbook_on_stats(self, stats):
        self._finish()
        path = os.environ.get("TASK_SECONDS_FILE")
        if path and "%d" in path:
            # One file per run, for a benchmark that runs several playbooks.
            number = 1
            while os.path.exists(path % number):
                number += 1
            path = path % number
        if path:
            with open(path, "w") as handle:
                for row in self._rows:
                    handle.write(json.dumps(row) + "\n")
