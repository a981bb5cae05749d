# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Helpers for the table-driven tests of the CLI backend and the modules.
#
# The commands and their real output come from tests/unit/fixtures/slurm/
# cli-VERSION/cmd-TOPIC.yml (capture_cli.py there). A case names the
# commands it expects as "topic/name"; the fake run_command checks that the
# code runs exactly those command lines (argv, stdin, environment), in order,
# and answers with what Slurm printed. Case files (YAML, next to the tests)
# then say what the module must return.
#
# slurm_job tags each submission with a comment (aiinfra-submit-<uuid>). The
# sbatch lines were captured before that: check_case fixes the uuid
# (SUBMIT_UUID) and expects the captured line with that --comment added
# (sbatch prints the same job id with it; the lab tests run it for real).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import uuid
from pathlib import Path

import yaml
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

FIXTURES = Path(__file__).parents[2] / 'fixtures' / 'slurm'
HERE = Path(__file__).parent
_CACHE = {}
_PLACEHOLDER = re.compile(r'\$\{(\w+)\}')
SUBMIT_UUID = uuid.UUID('0123456789abcdef0123456789abcdef')
SUBMIT_TAG = 'aiinfra-submit-' + SUBMIT_UUID.hex


def versions():
    """Slurm versions with captured CLI output, e.g. ["22.05", "24.11"]."""
    return sorted(path.name[len('cli-'):] for path in FIXTURES.glob('cli-*') if list(path.glob('cmd-*.yml')))


def fixtures(version):
    """{"vars": {...}, "commands": {"topic/name": record}, "release": "22.05.8"} of one version."""
    if version not in _CACHE:
        commands, variables, release = {}, {}, None
        for path in sorted((FIXTURES / ('cli-' + version)).glob('cmd-*.yml')):
            data = yaml.safe_load(path.read_text())
            topic = path.stem[len('cmd-'):]
            release = data['slurm_version']
            variables.update(data.get('vars') or {})
            for name, record in data['commands'].items():
                commands['%s/%s' % (topic, name)] = record
        variables['release'] = release
        _CACHE[version] = {'vars': variables, 'commands': commands, 'release': release}
    return _CACHE[version]


def cases(path):
    """pytest params (case, version) of a YAML case file, for every version the case applies to."""
    import pytest
    params = []
    for case in yaml.safe_load(Path(path).read_text()):
        for version in case.get('versions') or versions():
            params.append(pytest.param(case, version, id='%s-%s' % (version, case['id'])))
    return params


def substitute(value, variables):
    """Replace "${name}" by the captured vars (a whole "${x}" keeps the value's type)."""
    if isinstance(value, dict):
        return dict((key, substitute(item, variables)) for key, item in value.items())
    if isinstance(value, list):
        return [substitute(item, variables) for item in value]
    if isinstance(value, str):
        whole = _PLACEHOLDER.match(value)
        if whole and whole.group(0) == value:
            return variables[whole.group(1)]
        return _PLACEHOLDER.sub(lambda match: str(variables[match.group(1)]), value)
    return value


class FakeCommands(object):
    """run_command that expects the captured commands `calls` ("topic/name"), in this order.

    tagged: sbatch lines carry --comment=SUBMIT_TAG (see the header).
    """

    def __init__(self, version, calls, tagged=False):
        data = fixtures(version)
        missing = [call for call in calls if call not in data['commands']]
        assert not missing, 'no fixture %s for Slurm %s' % (missing, version)
        self.calls = list(calls)
        self.records = [data['commands'][call] for call in calls]
        self.done = 0
        self.ran = []
        self.tagged = tagged

    def run_command(self, args, data=None, binary_data=False, environ_update=None, **kwargs):
        argv = [os.path.basename(args[0])] + [str(arg) for arg in args[1:]]
        self.ran.append(argv)
        assert self.done < len(self.records), 'unexpected command %s after %s' % (argv, self.calls)
        name, record = self.calls[self.done], self.records[self.done]
        self.done += 1
        expected = list(record['argv'])
        if self.tagged and expected[0] == 'sbatch':
            chdir = next(index for index, arg in enumerate(expected) if arg.startswith('--chdir='))
            expected.insert(chdir, '--comment=' + SUBMIT_TAG)
        assert argv == expected, 'command %d: expected %s (%s), ran %s' % (
            self.done, expected, name, argv)
        assert data == record.get('stdin'), '%s: stdin %r, expected %r' % (name, data, record.get('stdin'))
        assert (environ_update or None) == record.get('environ'), '%s: environment %r, expected %r' % (
            name, environ_update, record.get('environ'))
        return record['rc'], record['stdout'], record['stderr']

    def check_done(self):
        assert self.done == len(self.records), 'commands not run: %s' % self.calls[self.done:]


def fake_module(runner, check_mode=False, params=None):
    """A stand-in AnsibleModule for the backend alone: run_command, get_bin_path, params."""
    module = mock.Mock()
    module.run_command.side_effect = runner.run_command
    module.get_bin_path.side_effect = lambda name, *args, **kwargs: '/usr/bin/' + name
    module.check_mode = check_mode
    module.params = params or {}
    module.no_log_values = set()
    return module


class ModuleExit(Exception):
    def __init__(self, result):
        super(ModuleExit, self).__init__(result)
        self.result = result


def run_module(main, params, runner, check_mode=False, diff=False, bin_paths=None):
    """Run a module's main() with `params`; return its result (with failed=True when it failed)."""
    args = dict(params)
    if check_mode:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True

    def exit_json(self, **result):
        result.setdefault('changed', False)
        if warnings:
            result['warnings'] = warnings
        raise ModuleExit(result)

    def fail_json(self, msg, **result):
        raise ModuleExit(dict(result, failed=True, msg=msg))

    def get_bin_path(self, name, required=False, opt_dirs=None):
        if bin_paths is not None:
            return bin_paths.get(name)
        return '/usr/bin/' + name

    def run_command(self, args, **kwargs):
        return runner.run_command(args, **kwargs)

    warnings = []

    def warn(self, warning):
        warnings.append(warning)

    with patch_module_args(args), \
            mock.patch.object(basic.AnsibleModule, 'warn', warn), \
            mock.patch.object(basic.AnsibleModule, 'exit_json', exit_json), \
            mock.patch.object(basic.AnsibleModule, 'fail_json', fail_json), \
            mock.patch.object(basic.AnsibleModule, 'get_bin_path', get_bin_path), \
            mock.patch.object(basic.AnsibleModule, 'run_command', run_command), \
            mock.patch('uuid.uuid4', return_value=SUBMIT_UUID), \
            mock.patch.dict(os.environ, clear=False) as environ:
        for name in ('USE_SLURMRESTD', 'SLURM_REST_API_URL', 'SLURM_JWT', 'SLURM_JWT_TOKEN'):
            environ.pop(name, None)
        try:
            main()
        except ModuleExit as done:
            return done.result
    raise AssertionError('the module neither exited nor failed')


def assert_subset(expected, actual, path='result'):
    """Every key of `expected` is in `actual` with the same value; lists match item by item.

    A string value "~REGEX" matches strings by re.search.
    """
    if isinstance(expected, dict):
        assert isinstance(actual, dict), '%s: expected a dict, got %r' % (path, actual)
        for key, value in expected.items():
            assert key in actual, '%s: no key %r in %r' % (path, key, actual)
            assert_subset(value, actual[key], '%s.%s' % (path, key))
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), '%s: expected %d items, got %r' % (
            path, len(expected), actual)
        for index, (value, item) in enumerate(zip(expected, actual)):
            assert_subset(value, item, '%s[%d]' % (path, index))
    elif isinstance(expected, str) and expected.startswith('~'):
        assert isinstance(actual, str) and re.search(expected[1:], actual), '%s: %r does not match %r' % (
            path, actual, expected[1:])
    else:
        assert expected == actual, '%s: expected %r, got %r' % (path, expected, actual)


def check_case(main, case, version):
    """Run a module case: params, the commands it must run, the result it must give."""
    variables = fixtures(version)['vars']
    runner = FakeCommands(version, case['commands'], tagged=True)
    result = run_module(main, substitute(case['params'], variables), runner, check_mode=case.get('check_mode', False),
                        diff=case.get('diff', False), bin_paths=case.get('bin_paths'))
    assert_subset(substitute(case['result'], variables), result)
    assert_absent(case.get('absent') or [], result)
    runner.check_done()
    return result


def assert_absent(paths, result):
    """None of the dotted `paths` ("diff.before") is in `result`."""
    for path in paths:
        value = result
        keys = path.split('.')
        for key in keys[:-1]:
            value = value[key]
        assert keys[-1] not in value, '%s is in the result: %r' % (path, value[keys[-1]])
