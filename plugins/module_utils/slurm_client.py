# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# How the modules, the action plugins and the inventory plugin reach Slurm:
# the shared connection options (SLURM_CONNECTION_ARGS, documented in
# doc_fragments/connection.py) and backend_from_options(), which picks the
# backend (slurm_cli.CliBackend or slurm_rest.RestBackend) they ask for. Also
# the two facts about slurmrestd that roles and modules share: how to mint a
# token, and which REST version a Slurm release serves.
#
# Python 3.6, standard library only (runs on managed hosts).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

try:
    from urllib.parse import urlsplit
except ImportError:  # Python 2 on an old managed host
    from urlparse import urlsplit  # type: ignore

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_cli import CliBackend
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_rest import RestBackend

# Where slurmrestd is when REST is chosen (USE_SLURMRESTD) and no URL is given:
# the name the usual AWX/Slurm setups give the controller.
DEFAULT_REST_URL = 'http://slurm-master:6820'
# Lifespan of a token this collection mints, in seconds: long enough for one
# module run (a slurm_job wait asks for more).
DEFAULT_TOKEN_LIFESPAN = 600

SLURM_CONNECTION_ARGS = dict(
    api=dict(type='str', default='auto', choices=['auto', 'cli', 'rest']),
    rest_url=dict(type='str', fallback=(env_fallback, ['SLURM_REST_API_URL'])),
    rest_token=dict(type='str', no_log=True, fallback=(env_fallback, ['SLURM_JWT_TOKEN', 'SLURM_JWT'])),
    rest_user=dict(type='str', fallback=(env_fallback, ['SLURM_REST_API_USER'])),
    rest_api_version=dict(type='str'),
    rest_timeout=dict(type='int', default=30),
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path', fallback=(env_fallback, ['SLURM_REST_CA_PATH'])),
    # Read by the action plugins (plugin_utils/slurm_action.py), which mint the token over SSH.
    # A host name, not a secret (explicit, as "token" in the name looks like one).
    token_from_host=dict(type='str', no_log=False, fallback=(env_fallback, ['SLURM_TOKEN_FROM_HOST'])),
)

__all__ = ['SLURM_CONNECTION_ARGS', 'SlurmError', 'backend_from_options', 'mint_token', 'rest_version_for',
           'sends_in_clear', 'wants_rest']


def backend_from_options(get, module=None, token_lifespan=None, warn=None):
    """The backend the connection options (SLURM_CONNECTION_ARGS, validated) ask for.

    get(name) returns an option's value (module.params.get, or an action or
    inventory plugin's getter). `module` (an AnsibleModule) runs the Slurm
    commands; without one (in a controller process) only REST with a given
    token works. api=auto chooses REST when a URL is configured (rest_url or
    SLURM_REST_API_URL) or USE_SLURMRESTD is true, else the CLI. For REST the
    token is rest_token (or SLURM_JWT_TOKEN, SLURM_JWT), else minted with
    `scontrol token` where the module runs (and added to its no_log values);
    and where scontrol works, the CLI backend does what slurmrestd cannot
    (node updates on 22.05; suspend, resume, requeue everywhere).
    warn(message) is told when a token would cross the network in clear.
    """
    scontrol = module is not None and module.get_bin_path('scontrol')
    cli = CliBackend(module) if scontrol else None
    if not wants_rest(get):
        if cli is None:
            raise SlurmError('scontrol is not installed on this host: run the module where the Slurm client commands '
                             'work (e.g. the controller), or use api=rest with a slurmrestd URL')
        return cli
    token = get('rest_token')
    if not token:
        if cli is None:
            raise SlurmError('a slurmrestd token is needed: set rest_token (or SLURM_JWT in the environment), '
                             'token_from_host (an inventory host where scontrol can mint one), or run the module '
                             'where scontrol can mint one')
        token = mint_token(lambda argv: cli.run(argv, secret=True), user=get('rest_user'), lifespan=token_lifespan)
        module.no_log_values.add(token)
    url = get('rest_url') or DEFAULT_REST_URL
    if warn is not None and sends_in_clear(url):
        warn('the slurmrestd token goes to %s over plain HTTP, readable by anyone on the way: use https '
             '(for example the aiinfra.slurm.slurmrestd_proxy role) or a loopback address' % urlsplit(url).netloc)
    return RestBackend(url, token, user=get('rest_user'),
                       api_version=get('rest_api_version'), validate_certs=get('validate_certs'),
                       ca_path=get('ca_path') or None, timeout=get('rest_timeout'), cli=cli)


def sends_in_clear(url):
    """Whether a request to `url` crosses a network unencrypted: http:// to a host that is not loopback."""
    parts = urlsplit(url)
    if parts.scheme != 'http':
        return False
    host = (parts.hostname or '').lower()
    return not (host == 'localhost' or host.startswith('127.') or host == '::1')


def wants_rest(get):
    """Whether the connection options choose slurmrestd: api=rest, or api=auto with USE_SLURMRESTD true,
    or api=auto with a URL (rest_url or SLURM_REST_API_URL) unless USE_SLURMRESTD is false.
    `get` as for backend_from_options."""
    api = get('api') or 'auto'
    if api != 'auto':
        return api == 'rest'
    # As the shell tools sites already have read it: the variable, when set, decides alone.
    use = os.environ.get('USE_SLURMRESTD', '').strip().lower()
    if use in BOOLEANS_TRUE:
        return True
    if use in BOOLEANS_FALSE:
        return False
    if use:
        raise SlurmError('USE_SLURMRESTD=%s in the environment is neither true nor false' % use)
    return bool(get('rest_url'))


def mint_token(run, user=None, lifespan=None):
    """A fresh JWT from `scontrol token` (for another user only as root or SlurmUser).

    run(argv) runs a command where scontrol works and returns its stdout, raising
    SlurmError on failure; the token must never be logged by it.
    """
    argv = ['scontrol', 'token', 'lifespan=%d' % max(int(lifespan or 0), DEFAULT_TOKEN_LIFESPAN)]
    if user:
        argv.append('username=' + user)
    out = run(argv)
    match = re.search(r'SLURM_JWT=(\S+)', out or '')
    if not match:
        raise SlurmError('scontrol token printed no token; is AuthAltTypes=auth/jwt set in slurm.conf?',
                         cmd=argv)
    return match.group(1)


def rest_version_for(slurm_version):
    """The OpenAPI version slurmrestd of a Slurm release serves for sure: 22.05 only v0.0.38,
    23.02 and later no longer v0.0.38 (24.11 serves v0.0.40-42)."""
    try:
        major_minor = tuple(int(part) for part in str(slurm_version).split('.')[:2])
    except ValueError:
        major_minor = (99, 0)
    return 'v0.0.38' if major_minor < (23, 2) else 'v0.0.40'
