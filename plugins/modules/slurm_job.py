#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slurm_job
short_description: Submit, hold, release, suspend, resume, requeue, cancel and wait for Slurm jobs
version_added: 0.1.0
description:
  - Submits Slurm batch jobs and acts on existing ones, through C(sbatch), C(scontrol), C(scancel) or
    slurmrestd (see O(api)).
  - Reads the job first and acts only when it is not already as asked - holding a held job, releasing
    one that is not held, suspending a suspended one, resuming a running one, requeueing a pending one
    or cancelling a finished one changes nothing, and RV(msg) says so.
  - An unknown job id fails the task, also for O(action=cancel) (plain C(scancel) says nothing then).
author:
  - aiinfra.slurm developers (@aiinfra)
extends_documentation_fragment:
  - aiinfra.slurm.attributes
  - aiinfra.slurm.connection
  - aiinfra.slurm.connection.rest_client
options:
  action:
    description:
      - V(submit) a batch job from O(script) or O(wrap); returns its id. Not idempotent - each run submits;
        but when an answer of Slurm is lost (a timeout), the module looks for the job by the comment it
        tags each submission with (C(aiinfra-submit-<uuid>)) before submitting again, so one task never
        makes two jobs.
      - V(status) - return the job.
      - V(hold) a pending job, V(release) a held one.
      - V(suspend) a running job, V(resume) a suspended one. Through REST these need the CLI on the
        managed host (slurmrestd cannot suspend or resume).
      - V(requeue) a running or finished batch job (back to pending). Through REST as for V(suspend).
      - V(cancel) the job, or with O(signal) send it a signal.
      - V(wait) until the job is in one of O(wait_for) (by default any finished state), polling every
        O(poll_interval) seconds for at most O(timeout) seconds. While slurmctld or slurmrestd cannot
        be reached (a restart), it keeps polling until the deadline.
    type: str
    required: true
    choices: [submit, status, hold, release, suspend, resume, requeue, cancel, wait]
  job_id:
    description: The job. Required for every action but V(submit).
    type: int
  script:
    description:
      - Batch script for V(submit), starting with a C(#!) line; C(#SBATCH) lines in it apply as usual
        with C(sbatch), and are ignored by slurmrestd.
      - Mutually exclusive with O(wrap).
    type: str
  wrap:
    description: A command line for V(submit), run by C(/bin/sh) as the job's script.
    type: str
  name:
    description: Job name.
    type: str
  partition:
    description: Partition. Default - the cluster's default partition.
    type: str
  nodes:
    description: Number of nodes, or a range V(min-max).
    type: str
  ntasks:
    description: Number of tasks.
    type: int
  cpus_per_task:
    description: CPUs per task.
    type: int
  time_limit:
    description: Time limit in minutes.
    type: int
  working_directory:
    description:
      - Working directory of the job on the compute nodes (as given to C(sbatch --chdir)).
      - V(/tmp) when not given, with either backend (slurmrestd needs one).
    type: str
  output:
    description: File for the job's standard output (and error), on the compute node; C(%j) is the job id.
    type: str
  environment:
    description:
      - The job's environment (besides Slurm's own C(SLURM_*) variables), with either backend.
      - When neither this nor O(secret_environment) is given, only C(PATH=/usr/local/bin:/usr/bin:/bin) -
        not the environment of the module.
      - Values are text; numbers are converted, booleans become V(true) or V(false), lists and dicts
        are refused. Never returned.
    type: dict
  secret_environment:
    description:
      - More variables for the job, like O(environment), whose values are secrets - never logged nor
        returned. A name must not be in both.
    type: dict
  signal:
    description:
      - With V(cancel), send this signal (a name such as V(TERM) or V(USR1), or a number) instead of
        cancelling. Slurm delivers it to the job's steps (C(srun)), not to the batch shell.
    type: str
  wait_for:
    description:
      - With V(wait), the job states to wait for, such as V(RUNNING) or V(COMPLETED).
      - Default - any finished state (COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, PREEMPTED,
        BOOT_FAIL, DEADLINE, OUT_OF_MEMORY). When the job finishes in a state that is not listed, the
        task fails at once.
    type: list
    elements: str
  timeout:
    description: With V(wait), seconds to wait at most before failing.
    type: int
    default: 600
  poll_interval:
    description: With V(wait), seconds between two looks at the job.
    type: int
    default: 5
attributes:
  check_mode:
    support: full
    details: V(submit) reports a change and submits nothing; the other actions only read.
  diff_mode:
    support: full
    details: Before and after of the job's state, hold and reason.
notes:
  - Slurm forgets finished jobs C(MinJobAge) seconds after they end (300 by default); later they count
    as unknown.
  - O(script) and O(environment) are not echoed in the result.
seealso:
  - module: aiinfra.slurm.slurm_node
  - module: aiinfra.slurm.slurm_cluster_facts
"""

EXAMPLES = r"""
- name: Submit a job
  aiinfra.slurm.slurm_job:
    action: submit
    name: nightly-check
    partition: batch
    nodes: "2"
    ntasks: 2
    time_limit: 30
    output: /shared/logs/nightly-%j.out
    environment:
      PATH: /usr/local/bin:/usr/bin:/bin
      CHECK_MODE: full
    script: |
      #!/bin/bash
      srun /shared/bin/check-node
  register: submitted

- name: Wait for it to finish
  aiinfra.slurm.slurm_job:
    action: wait
    job_id: "{{ submitted.job_id }}"
    timeout: 3600
  register: finished

- name: Ask a job's steps to stop
  aiinfra.slurm.slurm_job:
    action: cancel
    job_id: 4242
    signal: TERM

- name: Status through slurmrestd, from the AWX host
  aiinfra.slurm.slurm_job:
    action: status
    job_id: 4242
    api: rest
    rest_url: http://slurm-master:6820
  delegate_to: localhost
"""

RETURN = r"""
changed:
  description: Whether the job was (or, in check mode, would be) changed or submitted.
  returned: always
  type: bool
  sample: true
msg:
  description: What was done, or why nothing was.
  returned: success
  type: str
  sample: job 4242 is already held
job_id:
  description: The job's id; for V(submit) the new job's (none in check mode).
  returned: success
  type: int
  sample: 4242
job:
  description:
    - The job as Slurm shows it after the action (none for V(submit) in check mode) - C(job_id), C(name),
      C(state) (base state such as PENDING, RUNNING, SUSPENDED, COMPLETED, FAILED, CANCELLED), C(flags)
      (such as COMPLETING or REQUEUED), C(user), C(partition), C(nodes) (hostlist, empty while pending),
      C(reason) (why it waits, such as C(Resources) or C(JobHeldUser)), C(priority) (0 while held),
      C(hold), C(exit_code) (once finished, 128 + signal when killed, else null), C(submit_time),
      C(start_time), C(end_time) (epoch seconds, expected ones while pending or running, or null),
      C(time_limit) (minutes, null when unlimited) and C(comment).
  returned: success
  type: dict
  sample:
    job_id: 4242
    name: nightly-check
    state: RUNNING
    flags: []
    user: root
    partition: batch
    nodes: cn[001-002]
    reason: ""
    priority: 1
    hold: false
    exit_code: null
    submit_time: 1795432692
    start_time: 1795432692
    end_time: 1795434492
    time_limit: 30
    comment: aiinfra-submit-6f1c0e0d2c8b4f7e9a4b1d2c3e4f5a6b
elapsed:
  description: With V(wait), seconds waited.
  returned: when action is wait
  type: int
  sample: 42
backend:
  description: The backend that did the work, V(cli) or V(rest).
  returned: success
  type: str
  sample: rest
diff:
  description: Before and after (state, hold, reason) of the job.
  returned: when diff mode is on and the job changed
  type: dict
  sample: {before: {state: PENDING, hold: false, reason: Resources}, after: {state: PENDING, hold: true, reason: JobHeldAdmin}}
"""

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_jobs import HIDDEN_OPTIONS, MODULE_ARGS, JobManager
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_module import run_module


def main():
    run_module(MODULE_ARGS, JobManager, hidden=HIDDEN_OPTIONS)


if __name__ == '__main__':
    main()
