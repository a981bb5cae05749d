# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# What the modules of this collection talk to: a Slurm backend.
#
# Two backends do the same work with the same arguments and results:
# slurm_cli.CliBackend runs scontrol, squeue, sbatch and scancel on the
# managed host (normally the controller), and slurm_rest.RestBackend talks to
# slurmrestd from anywhere. Their records are slurm_data's normalized nodes,
# jobs and partitions, so a module never needs to know which one answered.
#
# backend_from_module() picks one from the shared connection options
# (SLURM_CONNECTION_ARGS, documented in doc_fragments/connection.py).
#
# Low layers raise SlurmError(msg, **details); a module's main() catches it
# once and fails with the message and the details (cmd, rc, stdout, stderr,
# status, ...). Runs on managed hosts: Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.parsing.convert_bool import BOOLEANS_TRUE

# Where slurmrestd is when REST is chosen (USE_SLURMRESTD) and no URL is given:
# the name the usual AWX/Slurm setups give the controller.
DEFAULT_REST_URL = 'http://slurm-master:6820'
# Lifespan of a token this collection mints, in seconds: long enough for one
# module run (a slurm_job wait asks for more).
DEFAULT_TOKEN_LIFESPAN = 600

JOB_CONTROL_ACTIONS = ('hold', 'release', 'suspend', 'resume', 'requeue')

SLURM_CONNECTION_ARGS = dict(
    api=dict(type='str', default='auto', choices=['auto', 'cli', 'rest']),
    rest_url=dict(type='str', fallback=(env_fallback, ['SLURM_REST_API_URL'])),
    rest_token=dict(type='str', no_log=True, fallback=(env_fallback, ['SLURM_JWT_TOKEN', 'SLURM_JWT'])),
    rest_user=dict(type='str', fallback=(env_fallback, ['SLURM_REST_API_USER'])),
    rest_api_version=dict(type='str'),
    rest_timeout=dict(type='int', default=30),
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path'),
)


class SlurmError(Exception):
    """A Slurm operation failed. `details` (cmd, rc, stdout, stderr, status, ...) go into the module result."""

    def __init__(self, msg, **details):
        super(SlurmError, self).__init__(msg)
        self.msg = msg
        self.details = details


class SlurmBackend(object):
    """What every backend offers; see slurm_cli.CliBackend and slurm_rest.RestBackend.

    Records are those of slurm_data: normalize_node(), normalize_job() and
    normalize_partition(). Every method raises SlurmError on failure.
    """

    #: "cli" or "rest"
    name = None

    def version(self):
        """Slurm's release, e.g. "22.05.8"."""
        raise NotImplementedError

    def cluster_name(self):
        """ClusterName of slurm.conf."""
        raise NotImplementedError

    def nodes(self, names=None):
        """Normalized nodes: all, or those of `names` (a list or hostlist expression) that exist.

        Unknown names are simply absent: callers compare.
        """
        raise NotImplementedError

    def partitions(self):
        """Normalized partitions."""
        raise NotImplementedError

    def jobs(self, job_ids=None):
        """Normalized jobs slurmctld still knows (MinJobAge): all, or those of `job_ids`.

        Unknown ids are simply absent.
        """
        raise NotImplementedError

    def can_update_nodes(self):
        """Whether update_nodes() works (slurmrestd v0.0.38 cannot, unless a CLI fallback is given)."""
        raise NotImplementedError

    def update_nodes(self, names, state=None, reason=None, weight=None, features=None):
        """Change nodes in ONE Slurm call for all names where the backend can.

        state: scontrol's word (RESUME, UNDRAIN, DRAIN, DOWN, IDLE, FAIL,
        POWER_DOWN, POWER_UP, POWER_DOWN_ASAP, POWER_DOWN_FORCE); reason: text;
        weight: int; features: list of names ([] clears them). Only what is not
        None is changed. Slurm checks the transition (RESUME on an idle node is
        an error): callers read the state first.
        """
        raise NotImplementedError

    def can_control_job(self, action):
        """Whether control_job(action) works here."""
        raise NotImplementedError

    def control_job(self, job_id, action):
        """hold, release, suspend, resume or requeue one job."""
        raise NotImplementedError

    def cancel_job(self, job_id, signal=None):
        """Cancel a job, or send it `signal` (a name such as TERM). An unknown job raises SlurmError."""
        raise NotImplementedError

    def submit_job(self, spec):
        """Submit a batch job and return its id (int).

        spec: script (text) or wrap (a command), and optional name, partition,
        nodes (a count or "min-max"), ntasks, cpus_per_task, time_limit
        (minutes), working_directory, output, environment (dict: the job's
        whole environment besides Slurm's own variables).
        """
        raise NotImplementedError


def backend_from_module(module, token_lifespan=None):
    """The backend the module's connection options (SLURM_CONNECTION_ARGS) ask for.

    api=auto chooses REST when a URL is configured (rest_url or
    SLURM_REST_API_URL) or USE_SLURMRESTD is true, else the CLI. For REST
    the token is rest_token (or SLURM_JWT_TOKEN, SLURM_JWT), else minted with
    `scontrol token` where the module runs; and where scontrol works, the CLI
    backend does what slurmrestd cannot (node updates on 22.05; suspend,
    resume, requeue everywhere).
    """
    # Imported here: each module needs only what it uses, and slurm_cli imports this file.
    from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_cli import CliBackend

    params = module.params
    scontrol = module.get_bin_path('scontrol')
    if not wants_rest(params):
        if not scontrol:
            raise SlurmError('scontrol is not installed on this host: run the module where the Slurm client commands '
                             'work (e.g. the controller), or use api=rest with a slurmrestd URL')
        return CliBackend(module)

    from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_rest import RestBackend

    cli = CliBackend(module) if scontrol else None
    token = params.get('rest_token')
    if not token:
        if cli is None:
            raise SlurmError('a slurmrestd token is needed: set rest_token (or SLURM_JWT in the environment), or run '
                             'the module where scontrol can mint one')
        token = mint_token(cli, user=params.get('rest_user'), lifespan=token_lifespan)
        module.no_log_values.add(token)
    return RestBackend(params.get('rest_url') or DEFAULT_REST_URL, token, user=params.get('rest_user'),
                       api_version=params.get('rest_api_version'), validate_certs=params.get('validate_certs'),
                       ca_path=params.get('ca_path'), timeout=params.get('rest_timeout'), cli=cli)


def wants_rest(params):
    """Whether the connection options (validated) choose slurmrestd: api=rest, or api=auto with a URL
    (rest_url or SLURM_REST_API_URL) or USE_SLURMRESTD true."""
    api = params.get('api') or 'auto'
    if api == 'auto':
        return bool(params.get('rest_url')) or \
            os.environ.get('USE_SLURMRESTD', '').strip().lower() in BOOLEANS_TRUE
    return api == 'rest'


def mint_token(cli, user=None, lifespan=None):
    """A fresh JWT from `scontrol token` (for another user only as root or SlurmUser)."""
    argv = ['scontrol', 'token', 'lifespan=%d' % max(int(lifespan or 0), DEFAULT_TOKEN_LIFESPAN)]
    if user:
        argv.append('username=' + user)
    out = cli.run(argv, secret=True)
    match = re.search(r'SLURM_JWT=(\S+)', out)
    if not match:
        raise SlurmError('scontrol token printed no token; is AuthAltTypes=auth/jwt set in slurm.conf?',
                         cmd=argv)
    return match.group(1)
