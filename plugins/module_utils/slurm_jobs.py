# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# The job operations of the slurm_job module (and its action plugin): submit,
# read, hold, release, suspend, resume, requeue, cancel and wait, each acting
# only when the job is not already as asked. Raises SlurmError, never fails a
# module itself. Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
import uuid

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_accounts import job_from_accounting
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import SLURM_CONNECTION_ARGS
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_vocabulary import (
    JOB_ACTIONS,
    JOB_BASE_STATES,
    TERMINAL_JOB_STATES,
    integer,
    job_spec,
    signal_name,
)

SPEC_KEYS = ('script', 'wrap', 'name', 'partition', 'nodes', 'ntasks', 'cpus_per_task', 'time_limit',
             'working_directory', 'output', 'environment')
# Options whose values never go back into a result (they may hold secrets).
HIDDEN_OPTIONS = ('script', 'environment', 'secret_environment')

MODULE_ARGS = dict(
    argument_spec=dict(
        action=dict(type='str', required=True, choices=list(JOB_ACTIONS)),
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
        secret_environment=dict(type='dict', no_log=True),
        signal=dict(type='str'),
        wait_for=dict(type='list', elements='str'),
        timeout=dict(type='int', default=600),
        poll_interval=dict(type='int', default=5),
        **SLURM_CONNECTION_ARGS
    ),
    mutually_exclusive=[('script', 'wrap')],
    required_if=[('action', 'submit', ('script', 'wrap'), True)]
    + [('action', action, ['job_id']) for action in JOB_ACTIONS if action != 'submit'],
    supports_check_mode=True,
)

HELD_REASONS = ('JobHeldUser', 'JobHeldAdmin')
# The comment that marks a submission of this collection, so that a submit
# whose answer was lost is found instead of made twice.
SUBMIT_TAG = 'aiinfra-submit-'
SUBMIT_ATTEMPTS = 3


def is_held(job):
    """Held by hold/uhold. Slurm also zeroes the priority of suspended jobs, so `hold` alone is not enough."""
    return job['reason'] in HELD_REASONS or (job['hold'] and job['state'] == 'PENDING')


def view(job):
    return {'state': job['state'], 'hold': is_held(job), 'reason': job['reason']}


# action -> (state it leaves alone, what that is called, states it needs or None for any live one, done)
_CONTROL = {
    'suspend': ('SUSPENDED', 'already suspended', ('RUNNING',), 'suspended'),
    'resume': ('RUNNING', 'already running', ('SUSPENDED',), 'resumed'),
}


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
    if action in _CONTROL:
        same, said, needed, done = _CONTROL[action]
        if state == same:
            return False, 'job %d is %s' % (job_id, said)
        if state not in needed:
            raise SlurmError('job %d is %s: only %s jobs can be %s' % (job_id, state, needed[0].lower(), done),
                             job_id=job_id, state=state)
        return True, '%s job %d' % (done, job_id)
    raise SlurmError('unknown action %r' % action)


def recorded_job(backend, job_id):
    """The job as slurmdbd recorded it (sacct), for a job slurmctld no longer knows; None without
    accounting or where no Slurm command runs (REST from the control node)."""
    cli = backend if backend.name == 'cli' else getattr(backend, 'cli', None)
    if cli is None:
        return None
    try:
        return job_from_accounting(lambda argv: cli.run(argv, what='job %d' % job_id), job_id)
    except SlurmError:
        # No slurmdbd (sacct: "Slurm accounting storage is disabled"), or it does not answer.
        return None


class JobManager(object):
    """One slurm_job task, built from the module's validated options (checked here before anything runs)."""

    def __init__(self, params):
        self.params = params
        self.action = params['action']
        self.signal = None if params['signal'] is None else signal_name(params['signal'])
        self.token_lifespan = params['timeout'] + 300 if self.action == 'wait' else None
        self.spec = self.check()

    def check(self):
        """The submit spec (None for other actions); SlurmError for what the argument spec cannot check."""
        params = self.params
        if params['signal'] is not None and self.action != 'cancel':
            raise SlurmError('signal applies only to action=cancel')
        if params['wait_for']:
            if self.action != 'wait':
                raise SlurmError('wait_for applies only to action=wait')
            bad = [state for state in params['wait_for'] if state.upper() not in JOB_BASE_STATES]
            if bad:
                raise SlurmError('unknown job state(s) %s; expected some of %s'
                                 % (', '.join(bad), ', '.join(JOB_BASE_STATES)))
        integer(params['timeout'], 'timeout', minimum=0)
        integer(params['poll_interval'], 'poll_interval', minimum=1)
        if self.action != 'submit':
            given = [key for key in SPEC_KEYS + ('secret_environment',) if params[key] is not None]
            if given:
                raise SlurmError('%s apply only to action=submit' % ', '.join(given))
            integer(params['job_id'], 'job_id', minimum=1)
            return None
        spec = dict((key, params[key]) for key in SPEC_KEYS if params[key] is not None)
        if params['secret_environment']:
            overlap = set(params['environment'] or ()) & set(params['secret_environment'])
            if overlap:
                raise SlurmError('%s in both environment and secret_environment' % ', '.join(sorted(overlap)))
            spec['environment'] = dict(params['environment'] or {}, **params['secret_environment'])
        # As the backend will check it, before anything runs.
        job_spec(spec)
        return spec

    def run(self, backend, check_mode=False, diff=False, warn=None):
        result = {'changed': False, 'backend': backend.name}
        if self.action == 'submit':
            result.update(self.submit(backend, check_mode))
            return result
        job_id = self.params['job_id']
        result['job_id'] = job_id
        if self.action == 'wait':
            result.update(self.wait(backend))
            return result
        before = self.job(backend, job_id)
        if self.action == 'status':
            result.update(job=before, msg='job %d is %s' % (job_id, before['state']))
            return result
        send, msg = decide(self.action, before, self.signal)
        after = before
        if send and not check_mode:
            if self.action == 'cancel':
                backend.cancel_job(job_id, signal=self.signal)
            else:
                backend.control_job(job_id, self.action)
            after = self.job(backend, job_id)
        result.update(changed=send, msg=msg, job=after)
        if send and diff:
            result['diff'] = {'before': view(before), 'after': view(after)}
        return result

    @staticmethod
    def job(backend, job_id):
        jobs = backend.jobs([job_id])
        if jobs:
            return jobs[0]
        recorded = recorded_job(backend, job_id)
        if recorded is None:
            raise SlurmError('job %d does not exist (or slurmctld has forgotten it: finished jobs are kept '
                             'MinJobAge seconds, and no accounting record of it could be read)' % job_id,
                             job_id=job_id)
        return recorded

    def submit(self, backend, check_mode):
        if check_mode:
            return {'changed': True, 'job_id': None, 'job': None, 'msg': 'a job would be submitted'}
        tag = SUBMIT_TAG + uuid.uuid4().hex
        spec = dict(self.spec, comment=tag)
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                job_id = backend.submit_job(spec)
                break
            except SlurmError as err:
                # No answer: the job may be there. Look for its tag before submitting again.
                if not err.unsure:
                    raise
                found = self.tagged(backend, tag, err)
                if found:
                    job_id = found['job_id']
                    break
                if attempt == SUBMIT_ATTEMPTS:
                    raise SlurmError('%s (submitted %d times, no job with comment %s exists)'
                                     % (err.msg, attempt, tag), submit_tag=tag, **err.details)
        jobs = backend.jobs([job_id])
        return {'changed': True, 'job_id': job_id, 'job': jobs[0] if jobs else None,
                'msg': 'submitted job %d' % job_id}

    @staticmethod
    def tagged(backend, tag, err):
        """The job with comment `tag`, or None; the submit's error `err` when Slurm cannot be asked."""
        try:
            jobs = backend.jobs()
        except SlurmError:
            raise SlurmError('%s (the job may have been submitted: look for comment %s before submitting again)'
                             % (err.msg, tag), submit_tag=tag, **err.details)
        return next((job for job in jobs if job.get('comment') == tag), None)

    def wait(self, backend):
        """Poll the job until it is in one of wait_for; slurmctld or slurmrestd restarting meanwhile is no error."""
        wanted = [state.upper() for state in self.params['wait_for'] or TERMINAL_JOB_STATES]
        job_id, timeout = self.params['job_id'], self.params['timeout']
        start = time.time()
        deadline = start + timeout
        job, error = None, None
        while True:
            try:
                job, error = self.job(backend, job_id), None
            except SlurmError as err:
                if not err.transient:
                    raise
                error = err
            if job is not None and error is None:
                if job['state'] in wanted:
                    return {'job': job, 'elapsed': int(time.time() - start),
                            'msg': 'job %d is %s' % (job_id, job['state'])}
                if job['state'] in TERMINAL_JOB_STATES:
                    raise SlurmError('job %d finished %s while waiting for %s' % (
                        job_id, job['state'], ', '.join(wanted)), job=job)
            if time.time() >= deadline:
                if error is not None:
                    raise SlurmError('timed out after %d seconds waiting for job %d to be %s; Slurm could not be '
                                     'asked: %s' % (timeout, job_id, ', '.join(wanted), error.msg), job=job,
                                     **error.details)
                raise SlurmError('timed out after %d seconds waiting for job %d to be %s; it is %s'
                                 % (timeout, job_id, ', '.join(wanted), job['state']), job=job)
            time.sleep(max(0, min(self.params['poll_interval'], deadline - time.time())))
