# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# backend_from_options: which backend the connection options choose, where the
# token comes from, and that it stays secret.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
from unittest import mock

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_cli import CliBackend
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_client import (
    DEFAULT_REST_URL,
    SLURM_CONNECTION_ARGS,
    SlurmError,
    backend_from_options,
    sends_in_clear,
)
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_rest import RestBackend


def jwt(user):
    """A token shaped like `scontrol token`'s; not signed, nothing checks it here."""
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip('=')
    return '%s.%s.c2lnbmF0dXJl' % (part({'alg': 'HS256', 'typ': 'JWT'}), part({'exp': 1, 'iat': 0, 'sun': user}))


TOKEN = jwt('root')


def backend_from_module(module, token_lifespan=None):
    """The backend for an AnsibleModule's options, as slurm_module.run_module asks for it."""
    return backend_from_options(module.params.get, module, token_lifespan=token_lifespan)


class Module(object):
    """Just what backend_from_options uses of an AnsibleModule."""

    def __init__(self, scontrol=True, token_output=None, token_rc=0, **params):
        self.params = dict((key, spec.get('default')) for key, spec in SLURM_CONNECTION_ARGS.items())
        self.params.update(params)
        self.scontrol = scontrol
        self.no_log_values = set()
        self.ran = []
        self.token_output = token_output
        self.token_rc = token_rc

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return '/usr/bin/' + name if self.scontrol else None

    def run_command(self, args, **kwargs):
        self.ran.append(list(args))
        return self.token_rc, self.token_output, 'scontrol: error: something' if self.token_rc else ''


@pytest.fixture(autouse=True)
def clean_environment():
    with mock.patch.dict(os.environ):
        for name in ('USE_SLURMRESTD', 'SLURM_REST_API_URL', 'SLURM_JWT', 'SLURM_JWT_TOKEN', 'SLURM_TOKEN_FROM_HOST'):
            os.environ.pop(name, None)
        yield


def test_auto_without_url_is_cli():
    backend = backend_from_module(Module())
    assert isinstance(backend, CliBackend) and backend.name == 'cli'


def test_auto_with_url_is_rest_and_keeps_the_cli_for_what_rest_cannot():
    module = Module(rest_url='http://ctl:6820/', rest_token=TOKEN)
    backend = backend_from_module(module)
    assert isinstance(backend, RestBackend)
    assert (backend.url, backend.token, backend.user) == ('http://ctl:6820', TOKEN, 'root')
    assert isinstance(backend.cli, CliBackend)
    assert module.ran == []


def test_rest_where_no_scontrol_has_no_cli_fallback():
    backend = backend_from_module(Module(scontrol=False, api='rest', rest_url='http://ctl:6820', rest_token=TOKEN))
    assert backend.cli is None


@pytest.mark.parametrize('value, chosen', [('true', RestBackend), ('1', RestBackend), ('yes', RestBackend),
                                           ('false', CliBackend), ('', CliBackend)])
def test_use_slurmrestd(value, chosen):
    os.environ['USE_SLURMRESTD'] = value
    backend = backend_from_module(Module(rest_token=TOKEN))
    assert isinstance(backend, chosen)
    if chosen is RestBackend:
        assert backend.url == DEFAULT_REST_URL


@pytest.mark.parametrize('value, chosen', [('false', CliBackend), ('0', CliBackend), ('no', CliBackend),
                                           ('true', RestBackend), ('', RestBackend)])
def test_use_slurmrestd_decides_even_with_a_url(value, chosen):
    # As the sites' shell tools read it: USE_SLURMRESTD=false is the CLI although a URL is configured.
    os.environ['USE_SLURMRESTD'] = value
    os.environ['SLURM_REST_API_URL'] = 'http://ctl:6820'
    with patch_module_args({}):
        module = AnsibleModule(argument_spec=dict(SLURM_CONNECTION_ARGS))
    module.params['rest_token'] = TOKEN
    with mock.patch.object(AnsibleModule, 'get_bin_path', return_value='/usr/bin/scontrol'):
        backend = backend_from_module(module)
    assert isinstance(backend, chosen)
    if chosen is RestBackend:
        assert backend.url == 'http://ctl:6820'


def test_use_slurmrestd_does_not_override_an_explicit_api():
    os.environ['USE_SLURMRESTD'] = 'false'
    backend = backend_from_module(Module(api='rest', rest_url='http://ctl:6820', rest_token=TOKEN))
    assert isinstance(backend, RestBackend)


def test_use_slurmrestd_that_is_no_boolean_is_an_error():
    os.environ['USE_SLURMRESTD'] = 'maybe'
    with pytest.raises(SlurmError, match='USE_SLURMRESTD=maybe'):
        backend_from_module(Module(rest_url='http://ctl:6820', rest_token=TOKEN))


def test_explicit_cli_ignores_a_url():
    assert isinstance(backend_from_module(Module(api='cli', rest_url='http://ctl:6820')), CliBackend)


def test_token_is_minted_and_hidden():
    module = Module(api='rest', rest_url='http://ctl:6820', token_output='SLURM_JWT=%s\n' % TOKEN)
    backend = backend_from_module(module, token_lifespan=900)
    assert backend.token == TOKEN and backend.user == 'root'
    assert module.ran == [['/usr/bin/scontrol', 'token', 'lifespan=900']]
    assert TOKEN in module.no_log_values


def test_token_for_another_user():
    module = Module(api='rest', rest_url='http://ctl:6820', rest_user='alice', token_output='SLURM_JWT=%s\n' % jwt(
        'alice'))
    backend = backend_from_module(module)
    assert module.ran == [['/usr/bin/scontrol', 'token', 'lifespan=600', 'username=alice']]
    assert backend.user == 'alice'


def test_failed_minting_keeps_stdout_out_of_the_error():
    module = Module(api='rest', rest_url='http://ctl:6820', token_output='SLURM_JWT=half', token_rc=1)
    with pytest.raises(SlurmError) as caught:
        backend_from_module(module)
    assert 'stdout' not in caught.value.details and 'half' not in caught.value.msg


def test_no_token_and_no_scontrol():
    with pytest.raises(SlurmError, match='a slurmrestd token is needed') as caught:
        backend_from_module(Module(scontrol=False, api='rest', rest_url='http://ctl:6820'))
    assert 'token_from_host' in caught.value.msg


def test_cli_without_scontrol():
    with pytest.raises(SlurmError, match='scontrol is not installed on this host'):
        backend_from_module(Module(scontrol=False))


@pytest.mark.parametrize('variable', ['SLURM_JWT_TOKEN', 'SLURM_JWT'])
def test_environment_fallbacks_and_no_log(variable):
    os.environ[variable] = TOKEN
    os.environ['SLURM_REST_API_URL'] = 'http://ctl:6820'
    with patch_module_args({}):
        module = AnsibleModule(argument_spec=dict(SLURM_CONNECTION_ARGS))
    assert module.params['rest_token'] == TOKEN and module.params['rest_url'] == 'http://ctl:6820'
    assert TOKEN in module.no_log_values
    with mock.patch.object(AnsibleModule, 'get_bin_path', return_value=None):
        backend = backend_from_module(module)
    assert isinstance(backend, RestBackend) and backend.token == TOKEN


@pytest.mark.parametrize('url, clear', [
    ('http://10.77.0.10:6820', True),
    ('http://slurm-master:6820', True),
    ('http://127.0.0.1:6820', False),
    ('http://localhost:6820', False),
    ('http://[::1]:6820', False),
    ('https://10.77.0.10:6821', False),
])
def test_a_token_over_plain_http_to_another_host_is_warned_about(url, clear):
    warnings = []
    params = {'api': 'rest', 'rest_url': url, 'rest_token': 'SECRET-TOKEN', 'validate_certs': True, 'rest_timeout': 5}
    backend = backend_from_options(params.get, warn=warnings.append)
    assert isinstance(backend, RestBackend)
    assert sends_in_clear(url) is clear
    assert len(warnings) == (1 if clear else 0)
    assert all('SECRET-TOKEN' not in warning and 'plain HTTP' in warning for warning in warnings)
