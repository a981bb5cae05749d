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
      - V(submit) a batch job from O(script) or O(wrap); returns its id. Not idempotent - each run submits.
      - V(status) - return the job.
      - V(hold) a pending job, V(release) a held one.
      - V(suspend) a running job, V(resume) a suspended one. Through REST these need the CLI on the
        managed host (slurmrestd cannot suspend or resume).
      - V(requeue) a running or finished batch job (back to pending). Through REST as for V(suspend).
      - V(cancel) the job, or with O(signal) send it a signal.
      - V(wait) until the job is in one of O(wait_for) (by default any finished state), polling every
        O(poll_interval) seconds for at most O(timeout) seconds.
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
      - When not given, only C(PATH=/usr/local/bin:/usr/bin:/bin) - not the environment of the module.
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

- name: Hold a pending job
  aiinfra.slurm.slurm_job:
    action: hold
    job_id: 4242

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
  description: The job as Slurm shows it after the action (none for V(submit) in check mode).
  returned: success
  type: dict
  contains:
    job_id:
      description: Job id.
      type: int
      sample: 4242
    name:
      description: Job name.
      type: str
      sample: nightly-check
    state:
      description: Base state, such as PENDING, RUNNING, SUSPENDED, COMPLETED, FAILED, CANCELLED.
      type: str
      sample: RUNNING
    flags:
      description: State flags, such as COMPLETING or REQUEUED.
      type: list
      elements: str
      sample: []
    user:
      description: Owner.
      type: str
      sample: root
    partition:
      description: Partition.
      type: str
      sample: batch
    nodes:
      description: Allocated nodes (hostlist), empty while pending.
      type: str
      sample: cn[001-002]
    reason:
      description: Why it waits (C(Resources), C(JobHeldUser), ...), empty when none.
      type: str
      sample: ""
    priority:
      description: Priority; 0 while held.
      type: int
      sample: 1
    hold:
      description: Whether the job is held (priority 0).
      type: bool
      sample: false
    exit_code:
      description: Exit status once finished (128 + signal when killed), else null.
      type: int
      sample: 0
    submit_time:
      description: Submission time, epoch seconds.
      type: int
      sample: 1795432692
    start_time:
      description: Start time (expected, while pending), epoch seconds, or null.
      type: int
      sample: 1795432692
    end_time:
      description: End time (expected, while running), epoch seconds, or null.
      type: int
      sample: 1795434492
    time_limit:
      description: Time limit in minutes, null when unlimited.
      type: int
      sample: 30
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

import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import (
    SLURM_CONNECTION_ARGS,
    SlurmError,
    backend_from_module,
)
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_data import JOB_BASE_STATES, TERMINAL_JOB_STATES

ACTIONS = ('submit', 'status', 'hold', 'release', 'suspend', 'resume', 'requeue', 'cancel', 'wait')
SPEC_KEYS = ('script', 'wrap', 'name', 'partition', 'nodes', 'ntasks', 'cpus_per_task', 'time_limit',
             'working_directory', 'output', 'environment')
HELD_REASONS = ('JobHeldUser', 'JobHeldAdmin')
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')


def is_held(job):
    """Held by hold/uhold. Slurm also zeroes the priority of suspended jobs, so `hold` alone is not enough."""
    return job['reason'] in HELD_REASONS or (job['hold'] and job['state'] == 'PENDING')


def view(job):
    return {'state': job['state'], 'hold': is_held(job), 'reason': job['reason']}


def decide(action, job, signal=None):
    """(send?, message) for `action` on `job`; SlurmError when Slurm could not do it anyway."""
    job_id, state = job['job_id'], job['state']
    finished = state in TERMINAL_JOB_STATES
    if action == 'cancel':
        if finished:
            return False, 'job %d has already finished (%s)' % (job_id, state)
        if signal is not None and state == 'PENDING':
            raise SlurmError('job %d is pending: Slurm delivers signals to running jobs only; cancel it without '
                             'signal instead' % job_id)
        if signal is not None:
            return True, 'sent signal %s to job %d' % (signal, job_id)
        return True, 'cancelled job %d' % job_id
    if action == 'requeue':
        if state == 'PENDING':
            return False, 'job %d is already pending' % job_id
        return True, 'requeued job %d' % job_id
    if finished:
        raise SlurmError('job %d has already finished (%s): it cannot be %s' % (
            job_id, state, {'hold': 'held', 'release': 'released', 'suspend': 'suspended',
                            'resume': 'resumed'}[action]), job_id=job_id, state=state)
    if action == 'hold':
        if is_held(job):
            return False, 'job %d is already held' % job_id
        return True, 'held job %d' % job_id
    if action == 'release':
        if not is_held(job):
            return False, 'job %d is not held' % job_id
        return True, 'released job %d' % job_id
    if action == 'suspend':
        if state == 'SUSPENDED':
            return False, 'job %d is already suspended' % job_id
        if state != 'RUNNING':
            raise SlurmError('job %d is %s: only running jobs can be suspended' % (job_id, state), job_id=job_id,
                             state=state)
        return True, 'suspended job %d' % job_id
    if action == 'resume':
        if state == 'RUNNING':
            return False, 'job %d is already running' % job_id
        if state != 'SUSPENDED':
            raise SlurmError('job %d is %s: only suspended jobs can be resumed' % (job_id, state), job_id=job_id,
                             state=state)
        return True, 'resumed job %d' % job_id
    raise SlurmError('unknown action %r' % action)


class JobManager(object):

    def __init__(self, module, backend):
        self.module = module
        self.backend = backend
        self.params = module.params

    def job(self, job_id):
        jobs = self.backend.jobs([job_id])
        if not jobs:
            raise SlurmError('job %d does not exist (or slurmctld has forgotten it: finished jobs are kept '
                             'MinJobAge seconds)' % job_id, job_id=job_id)
        return jobs[0]

    def run(self):
        action = self.params['action']
        result = {'changed': False, 'backend': self.backend.name}
        if action == 'submit':
            result.update(self.submit())
            return result
        job_id = self.params['job_id']
        before = self.job(job_id)
        result['job_id'] = job_id
        if action == 'status':
            result.update(job=before, msg='job %d is %s' % (job_id, before['state']))
            return result
        if action == 'wait':
            result.update(self.wait(before))
            return result
        send, msg = decide(action, before, self.params['signal'])
        after = before
        if send and not self.module.check_mode:
            if action == 'cancel':
                self.backend.cancel_job(job_id, signal=self.params['signal'])
            else:
                self.backend.control_job(job_id, action)
            after = self.job(job_id)
        result.update(changed=send, msg=msg, job=after)
        if send and self.module._diff:
            result['diff'] = {'before': view(before), 'after': view(after)}
        return result

    def submit(self):
        spec = dict((key, self.params[key]) for key in SPEC_KEYS if self.params[key] is not None)
        if self.module.check_mode:
            return {'changed': True, 'job_id': None, 'job': None, 'msg': 'a job would be submitted'}
        job_id = self.backend.submit_job(spec)
        jobs = self.backend.jobs([job_id])
        return {'changed': True, 'job_id': job_id, 'job': jobs[0] if jobs else None,
                'msg': 'submitted job %d' % job_id}

    def wait(self, job):
        wanted = [state.upper() for state in self.params['wait_for'] or TERMINAL_JOB_STATES]
        start = time.time()
        deadline = start + self.params['timeout']
        while True:
            if job['state'] in wanted:
                return {'job': job, 'elapsed': int(time.time() - start),
                        'msg': 'job %d is %s' % (job['job_id'], job['state'])}
            if job['state'] in TERMINAL_JOB_STATES:
                raise SlurmError('job %d finished %s while waiting for %s' % (
                    job['job_id'], job['state'], ', '.join(wanted)), job=job)
            if time.time() >= deadline:
                raise SlurmError('timed out after %d seconds waiting for job %d to be %s; it is %s'
                                 % (self.params['timeout'], job['job_id'], ', '.join(wanted), job['state']),
                                 job=job)
            time.sleep(max(0, min(self.params['poll_interval'], deadline - time.time())))
            job = self.job(job['job_id'])


def check_params(module):
    params = module.params
    action = params['action']
    if action == 'submit':
        if bool(params['script']) == bool(params['wrap']):
            module.fail_json(msg='action=submit needs exactly one of script and wrap')
        for key in ('name', 'partition', 'nodes', 'working_directory', 'output', 'wrap'):
            if params[key] is not None and _CONTROL.search(params[key]):
                module.fail_json(msg='%s must not contain newlines or other control characters: %r'
                                 % (key, params[key]))
        if params['nodes'] is not None and not re.match(r'\d+(-\d+)?\Z', params['nodes']):
            module.fail_json(msg='nodes must be a number of nodes or a range min-max, got %r' % params['nodes'])
        for key in ('ntasks', 'cpus_per_task', 'time_limit'):
            if params[key] is not None and params[key] <= 0:
                module.fail_json(msg='%s must be positive, got %d' % (key, params[key]))
        for key in params['environment'] or {}:
            if not re.match(r'[A-Za-z_][A-Za-z0-9_]*\Z', key):
                module.fail_json(msg='invalid environment variable name %r' % key)
    else:
        if params['job_id'] is None:
            module.fail_json(msg='action=%s needs job_id' % action)
        if params['job_id'] <= 0:
            module.fail_json(msg='invalid job_id %d' % params['job_id'])
        given = [key for key in SPEC_KEYS if params[key] is not None]
        if given:
            module.fail_json(msg='%s apply only to action=submit' % ', '.join(given))
    if params['signal'] is not None:
        if action != 'cancel':
            module.fail_json(msg='signal applies only to action=cancel')
        if not re.match(r'(SIG)?[A-Z][A-Z0-9]*\Z|\d+\Z', params['signal'].upper()):
            module.fail_json(msg='invalid signal %r: a name such as TERM or a number' % params['signal'])
    if params['wait_for']:
        if action != 'wait':
            module.fail_json(msg='wait_for applies only to action=wait')
        bad = [state for state in params['wait_for'] if state.upper() not in JOB_BASE_STATES]
        if bad:
            module.fail_json(msg='unknown job state(s) %s; expected some of %s' % (', '.join(bad),
                                                                                   ', '.join(JOB_BASE_STATES)))
    if params['timeout'] < 0 or params['poll_interval'] <= 0:
        module.fail_json(msg='timeout must not be negative and poll_interval must be positive')


ARGUMENT_SPEC = dict(
    action=dict(type='str', required=True, choices=list(ACTIONS)),
    job_id=dict(type='int'),
    script=dict(type='str'),
    wrap=dict(type='str'),
    name=dict(type='str'),
    partition=dict(type='str'),
    nodes=dict(type='str'),
    ntasks=dict(type='int'),
    cpus_per_task=dict(type='int'),
    time_limit=dict(type='int'),
    working_directory=dict(type='str'),
    output=dict(type='str'),
    environment=dict(type='dict'),
    signal=dict(type='str'),
    wait_for=dict(type='list', elements='str'),
    timeout=dict(type='int', default=600),
    poll_interval=dict(type='int', default=5),
    **SLURM_CONNECTION_ARGS
)
MODULE_OPTIONS = dict(supports_check_mode=True, mutually_exclusive=[('script', 'wrap')])


def execute(module):
    """The result for `module` (AnsibleModule, or the action plugin's stand-in for REST on the control node)."""
    check_params(module)
    lifespan = module.params['timeout'] + 300 if module.params['action'] == 'wait' else None
    try:
        return JobManager(module, backend_from_module(module, token_lifespan=lifespan)).run()
    except SlurmError as err:
        module.fail_json(msg=err.msg, **err.details)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, **MODULE_OPTIONS)
    module.exit_json(**execute(module))


if __name__ == '__main__':
    main()
