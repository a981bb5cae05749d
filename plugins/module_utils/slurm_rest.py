# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# The REST backend: Slurm through slurmrestd, with ansible.module_utils.urls
# only, so a managed host needs nothing installed.
#
# It speaks OpenAPI v0.0.38 (Slurm 22.05) to v0.0.42 (24.11) and hides how
# they differ; every answer was checked on real slurmrestd 22.05.8 and 24.11.5
# (tests/unit/fixtures/slurm/rest-*/, made by capture_rest.py there):
#
# - Version: the pinned one, or else the newest this collection speaks, when
#   the server answers its GET ping (one small request: 24.11 serves 1.6 MB in
#   GET /openapi/v3, 0.1 s of every task). Only when that version is missing
#   (an older Slurm) does the backend read GET /openapi/v3 and take the newest
#   version listed there; what a version can do (POST node/, POST nodes/) then
#   comes from the same list, else from the versions of Slurm 22.05 to 24.11.
# - Auth: X-SLURM-USER-NAME and X-SLURM-USER-TOKEN. 22.05 refuses the token
#   alone (401); 24.11 takes both too. The user name defaults to the one the
#   token was minted for (its "sun" claim).
# - Errors: the router answers text/plain (401, 404, 405, and 400 "Unable to
#   parse query." for bad JSON or a missing Content-Type); handlers answer
#   JSON "errors" in several shapes, sometimes with HTTP 200 (22.05: "Priority
#   must be >0"), and 24.11 says "No error" (errno 0) for an unknown node with
#   HTTP 200. Any entry in "errors" is an error, except where a caller expects
#   "absent". A refused token is 500 "Unspecified error" (errno -1) in 22.05,
#   exactly like slurmctld being down, and 511 (errno 1007) in 24.11.
# - Cancel: v0.0.40 and v0.0.41 answer 200 for an unknown job, so the job is
#   looked up afterwards; v0.0.42 lists per-job results under "status".
#
# Slurm cannot suspend, resume or requeue jobs through REST in any version,
# nor update nodes through v0.0.38: for those the backend hands the call to the
# CLI backend given as `cli`, or raises SlurmError saying so.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import re
import socket
from urllib.error import HTTPError, URLError
from urllib.parse import quote

import ssl

from ansible.module_utils.urls import ConnectionError as _UrlsConnectionError
from ansible.module_utils.urls import Request, make_context

from ansible_collections.aiinfra.slurm.plugins.module_utils.hostlist import compress
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_backend import SlurmBackend, job_id_list, name_list
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_data import (
    normalize_job,
    normalize_node,
    normalize_partition,
    number,
)
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError
from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_vocabulary as vocabulary

# Oldest first.
SUPPORTED_API_VERSIONS = ('v0.0.38', 'v0.0.39', 'v0.0.40', 'v0.0.41', 'v0.0.42')

# Up to this many names or ids are fetched one by one; more, the whole list
# once (a 10,000-node list is ~12 MB, one node a few kB).
FEW = 8

# Slurm errnos (slurm_errno.h) this backend acts on.
ESLURM_INVALID_JOB_ID = 2017
ESLURM_INVALID_NODE_NAME = 2018
ESLURM_ALREADY_DONE = 2021
SLURM_PROTOCOL_AUTHENTICATION_ERROR = 1007
# slurmctld going down or coming up under slurmrestd: connect, send, receive,
# shutdown failures and back-off (1800-1804), socket timeout and zero bytes
# sent (5004, 5005). Worth asking again; after a receive failure or a timeout
# the request may have been carried out.
_TRANSIENT_ERRNOS = (1800, 1801, 1802, 1803, 1804, 5004, 5005)
_UNSURE_ERRNOS = (1802, 5004)

# scontrol's State= words that slurmrestd wants as two states; the others are themselves.
_REST_STATES = {
    'POWER_DOWN_ASAP': ['POWER_DOWN', 'POWER_DRAIN'],
    'POWER_DOWN_FORCE': ['POWER_DOWN', 'POWERED_DOWN'],
}

# What slurmrestd can do to a job itself; the other JOB_CONTROL_ACTIONS need the CLI.
REST_JOB_ACTIONS = ('hold', 'release')
# HTTP answers of a proxy or slurmrestd while slurmctld restarts.
_TRANSIENT_STATUS = (502, 503, 504)


def open_url(url, context=None, **kwargs):
    """ansible.module_utils.urls.open_url with an SSL context given (see RestBackend._ssl_context)."""
    return Request().open(kwargs.pop('method'), url, context=context, **kwargs)


_VERSION_PATH = re.compile(r'/slurm/(v\d+\.\d+\.\d+)(?:/(.*))?$')


class RestBackend(SlurmBackend):
    """Slurm through slurmrestd. See the module header for what it hides."""

    name = 'rest'

    def __init__(self, url, token, user=None, api_version=None, validate_certs=True, ca_path=None, timeout=30,
                 cli=None):
        if not url:
            raise SlurmError('the slurmrestd URL is missing')
        if not token:
            raise SlurmError('a slurmrestd token is needed (scontrol token prints one)')
        if api_version is not None and api_version not in SUPPORTED_API_VERSIONS:
            raise SlurmError('unsupported Slurm REST API version %r; supported: %s'
                             % (api_version, ', '.join(SUPPORTED_API_VERSIONS)))
        self.url = url.rstrip('/')
        self.token = token
        self.user = user or _token_user(token)
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.cli = cli
        self._pinned = api_version
        self._api_version = None
        # What the chosen version offers: {"node/{node_name}": {"get", "post", ...}},
        # or None when the server's list could not be read (pinned version only).
        self._operations = None
        self._offered = []
        self._release = None
        self._cluster = None
        self._context = None

    # -- what the server is -------------------------------------------------

    @property
    def api_version(self):
        """The API version in use, e.g. "v0.0.42" (asks the server on first use)."""
        self._choose_version()
        return self._api_version

    def _choose_version(self):
        if self._api_version is None:
            self._negotiate()

    def version(self):
        """Slurm's release, e.g. "22.05.8"."""
        # Choosing the version by its ping learns it, unless the list of versions was read.
        self._choose_version()
        if self._release is None:
            self._call('GET', 'ping')
        return self._release

    def cluster_name(self):
        """ClusterName from slurm.conf.

        v0.0.40+ carry it in every answer. v0.0.38 only in job records: with
        no job known to slurmctld it asks the CLI backend, or gives up.
        """
        self._choose_version()
        if self._cluster is None and self._release is None:
            self._call('GET', 'ping')
        if self._cluster is None:
            for job in self._call('GET', 'jobs').get('jobs') or []:
                if job.get('cluster'):
                    self._cluster = job['cluster']
                    break
        if self._cluster is None:
            if self.cli is not None:
                self._cluster = self.cli.cluster_name()
            else:
                raise SlurmError('Slurm %s answers the cluster name through REST API %s only in job records, and '
                                 'slurmctld knows no job; use the CLI backend' % (self.version(), self.api_version))
        return self._cluster

    # -- reading --------------------------------------------------------------

    def nodes(self, names=None):
        """Normalized nodes: all of them, or those of `names` (a list or hostlist) that exist."""
        if names is None:
            return [normalize_node(raw) for raw in self._call('GET', 'nodes').get('nodes') or []]
        wanted = name_list(names)
        if len(wanted) > FEW:
            found = dict((node['name'], node) for node in self.nodes())
            return [found[name] for name in wanted if name in found]
        nodes = []
        for name in wanted:
            # Unknown: 22.05 says 500 errno 2018, 24.11 200 "No error" (errno 0).
            doc = self._call('GET', 'node/' + quote(name, safe=''),
                             absent=(ESLURM_INVALID_NODE_NAME, 0))
            nodes.extend(node for node in (normalize_node(raw) for raw in (doc or {}).get('nodes') or [])
                         if node['name'] == name)
        return nodes

    def partitions(self):
        return [normalize_partition(raw) for raw in self._call('GET', 'partitions').get('partitions') or []]

    def jobs(self, job_ids=None):
        """Normalized jobs: all that slurmctld still knows, or those of `job_ids` that exist."""
        if job_ids is None:
            return [normalize_job(raw) for raw in self._call('GET', 'jobs').get('jobs') or []]
        wanted = [vocabulary.valid_job_id(job_id) for job_id in job_id_list(job_ids)]
        if len(wanted) > FEW:
            found = dict((job['job_id'], job) for job in self.jobs())
            return [found[job_id] for job_id in wanted if job_id in found]
        jobs = []
        for job_id in wanted:
            doc = self._call('GET', 'job/%d' % job_id, absent=(ESLURM_INVALID_JOB_ID,))
            # An array job's id also brings its tasks: keep the record asked for.
            jobs.extend(job for job in (normalize_job(raw) for raw in (doc or {}).get('jobs') or [])
                        if job['job_id'] == job_id)
        return jobs

    # -- nodes ------------------------------------------------------------------

    def can_update_nodes(self):
        """Whether slurmrestd itself can update nodes (not v0.0.38), without the CLI."""
        return self._can('post', 'node/{node_name}')

    def update_nodes(self, names, state=None, reason=None, weight=None, features=None):
        """Set state (scontrol's words, see NODE_STATES), reason, weight, features of nodes.

        One request for all names where the version has POST nodes/ (24.11),
        else one per node. Without node updates in REST (22.05), the CLI
        backend does it, given the same arguments. Slurm checks transitions:
        RESUME on a node that is neither drained nor down fails (errno 2028).
        """
        if not self.can_update_nodes():
            if self.cli is not None:
                return self.cli.update_nodes(names, state=state, reason=reason, weight=weight, features=features)
            raise SlurmError('Slurm %s cannot update nodes through REST API %s (slurmrestd has no POST node/ '
                             'before v0.0.39); use the CLI backend' % (self.version(), self.api_version),
                             operation='update_nodes', api_version=self.api_version)
        wanted = name_list(names)
        if not wanted:
            raise SlurmError('no node names given to update')
        body = self._node_update(state, reason, weight, features)
        if not body:
            return None
        if len(wanted) > 1 and self._can('post', 'nodes'):
            # A list with one compressed expression: 24.11 warns about a plain string.
            self._call('POST', 'nodes', dict(body, name=[compress(wanted)]))
        else:
            for name in wanted:
                self._call('POST', 'node/' + quote(name, safe=''), body)
        return None

    # -- jobs -------------------------------------------------------------------

    def control_job(self, job_id, action):
        """hold, release (REST); suspend, resume, requeue (the CLI backend, REST has none).

        Holding a held job or releasing a free one is no error. A job that is
        over cannot be held (errno 2084), an unknown one not either (2017).
        """
        job_id = vocabulary.valid_job_id(job_id)
        action = vocabulary.job_action(action)
        if action in REST_JOB_ACTIONS:
            doc = self._call('POST', 'job/%d' % job_id, {'hold': action == 'hold'})
            # v0.0.40+ may report per-job failures with HTTP 200.
            for result in doc.get('results') or []:
                if number(result.get('error_code'), 0):
                    raise SlurmError('cannot %s job %d: %s' % (action, job_id, result.get('why') or result.get(
                        'error')), errno=number(result.get('error_code')), job_id=job_id)
            return None
        if self.cli is not None:
            return self.cli.control_job(job_id, action)
        raise SlurmError('slurmrestd cannot %s jobs in any API version (Slurm %s, API %s); use the CLI backend'
                         % (action, self.version(), self.api_version), operation=action)

    def cancel_job(self, job_id, signal=None):
        """Cancel a job, or send it `signal` (a name such as TERM, or a number).

        A job that is already over is no error; an unknown one raises
        SlurmError with errno 2017 in every version.
        """
        job_id = vocabulary.valid_job_id(job_id)
        path = 'job/%d' % job_id
        if signal is not None:
            path += '?signal=' + vocabulary.signal_name(signal)
        doc = self._call('DELETE', path)
        if isinstance(doc.get('status'), list):
            # v0.0.42: per-job results, errors included, with HTTP 200.
            for status in doc['status']:
                error = status.get('error') or {}
                code = number(error.get('code'), 0)
                if code and code != ESLURM_ALREADY_DONE:
                    raise SlurmError('cannot cancel job %d: %s (errno %d)' % (job_id, error.get('message') or
                                                                              error.get('string'), code),
                                     errno=code, job_id=job_id)
        elif self._num() >= 39:
            # v0.0.40 and v0.0.41 answer 200 even for an unknown job: look.
            if not self._call('GET', 'job/%d' % job_id, absent=(ESLURM_INVALID_JOB_ID,)):
                raise SlurmError('job %d does not exist' % job_id, errno=ESLURM_INVALID_JOB_ID, job_id=job_id)
        return None

    def submit_job(self, spec):
        """Submit a batch job; return its id.

        spec: see SlurmBackend.submit_job; a wrap is run by /bin/sh.
        """
        spec = vocabulary.job_spec(spec)
        script = spec.get('script') or '#!/bin/sh\n%s\n' % spec['wrap']
        num = self._num()
        # Slurm refuses a job without a working directory (errno 2063) or an environment; sbatch sends its own.
        job = dict((field, spec[key]) for key, field in (
            ('name', 'name'), ('partition', 'partition'), ('comment', 'comment'), ('output', 'standard_output'),
            ('working_directory', 'current_working_directory'), ('ntasks', 'tasks'), ('cpus_per_task', 'cpus_per_task'),
            ('nodes', 'nodes')) if key in spec)
        if 'time_limit' in spec:
            job['time_limit'] = self._uint(spec['time_limit'])
        env = spec['environment']
        # v0.0.38 wants a dict, later versions a list of NAME=value (a dict works with a warning).
        job['environment'] = env if num == 38 else ['%s=%s' % item for item in sorted(env.items())]
        if num >= 41:
            job['script'] = script
            body = {'job': job}
        else:
            body = {'script': script, 'job': job}
        doc = self._call('POST', 'job/submit', body)
        job_id = number(doc.get('job_id')) or number((doc.get('result') or {}).get('job_id'))
        if not job_id:
            raise SlurmError('slurmrestd accepted the job but named no job id', body=doc)
        return job_id

    # -- HTTP -------------------------------------------------------------------

    def _negotiate(self):
        """Choose the API version: ping the pinned or the newest supported one; GET /openapi/v3 only
        when the server lacks it."""
        wanted = self._pinned or SUPPORTED_API_VERSIONS[-1]
        path = '/slurm/%s/ping' % wanted
        status, text, content_type = self._http('GET', path)
        doc = _json(text)
        if status == 200 and isinstance(doc, dict):
            # 24.11 answers 200 even with slurmctld down or the token refused (its "pings" say
            # DOWN): the operation that follows reports those.
            self._remember(doc.get('meta'))
            self._api_version = wanted
            return
        if status != 404 or isinstance(doc, dict):
            # Not the router's "no such URL": refused credentials, a proxy without slurmrestd...
            raise self._error('GET', path, status, text, content_type, doc)
        self._read_openapi()

    def _read_openapi(self):
        """Choose the API version from GET /openapi/v3 and learn its operations."""
        status, text, content_type = self._http('GET', '/openapi/v3')
        doc = _json(text)
        if status != 200 or not isinstance(doc, dict) or not isinstance(doc.get('paths'), dict):
            if self._pinned and status == 404:
                raise SlurmError('slurmrestd at %s does not offer Slurm REST API %s (its ping: HTTP 404, and no '
                                 'list of versions at /openapi/v3)' % (self.url, self._pinned))
            raise self._error('GET', '/openapi/v3', status, text, content_type, doc)
        offered = {}
        for path, operations in doc['paths'].items():
            match = _VERSION_PATH.match(path)
            if match and isinstance(operations, dict):
                ops = offered.setdefault(match.group(1), {})
                ops[(match.group(2) or '').strip('/')] = set(method.lower() for method in operations)
        self._offered = sorted(offered, key=_version_number)
        if self._pinned:
            # Its ping was not found.
            raise SlurmError('slurmrestd at %s does not offer Slurm REST API %s (it offers: %s)'
                             % (self.url, self._pinned, ', '.join(self._offered) or 'none'),
                             offered=self._offered)
        usable = [version for version in self._offered if version in SUPPORTED_API_VERSIONS]
        if not usable:
            raise SlurmError('slurmrestd at %s offers Slurm REST API %s; this collection speaks %s to %s'
                             % (self.url, ', '.join(self._offered) or 'no version',
                                SUPPORTED_API_VERSIONS[0], SUPPORTED_API_VERSIONS[-1]), offered=self._offered)
        chosen = usable[-1]
        self._operations = offered[chosen]
        self._api_version = chosen

    def _num(self):
        return _version_number(self.api_version)

    def _can(self, method, operation):
        """Whether the chosen version has `method` on `operation` ("node/{node_name}", "nodes")."""
        num = self._num()
        if self._operations is None:
            # Chosen by its ping, no list read: what Slurm 22.05 to 24.11 serve. POST node/ came with
            # v0.0.39; POST nodes/ is in every version 24.11 speaks, by release, not by version.
            if method == 'get':
                return True
            if operation == 'node/{node_name}':
                return num >= 39
            if operation == 'nodes':
                return _release_number(self._release) >= (24, 11)
            return True
        return method in self._operations.get(operation, ())

    def _uint(self, value):
        # v0.0.40+ number fields; v0.0.40 warns about (but takes) a plain int.
        if self._num() >= 40:
            return {'set': True, 'infinite': False, 'number': value}
        return value

    def _node_update(self, state, reason, weight, features):
        body = {}
        if state is not None:
            word = vocabulary.node_state(state)
            body['state'] = list(_REST_STATES.get(word, [word]))
        if reason is not None:
            body['reason'] = vocabulary.text(reason, 'reason')
        if weight is not None:
            body['weight'] = self._uint(vocabulary.integer(weight, 'weight'))
        if features is not None:
            names = [vocabulary.text(name, 'feature') for name in features if name]
            # Available and active features together, as slurm.conf does without a
            # node features plugin: changing only the available ones fails when an
            # active one goes ("Active features not subset of available features",
            # scontrol too). An empty list changes nothing; [""] clears.
            value = [str(name) for name in names] or ['']
            if self._num() < 40:
                value = ','.join(names)
            body['features'] = value
            body['features_act'] = value
        return body

    def _call(self, method, operation, body=None, absent=()):
        """One request to /slurm/<version>/<operation>; the JSON answer (see request)."""
        return self.request(method, '/slurm/%s/%s' % (self.api_version, operation), body, absent)

    def request(self, method, path, body=None, absent=()):
        """One request to a path of slurmrestd (/slurm/..., /slurmdb/...); the JSON answer.

        Raises SlurmError for any error, except that when every error's errno
        is in `absent` (an unknown node or job), it returns None.
        """
        status, text, content_type = self._http(method, path, body)
        doc = _json(text)
        if isinstance(doc, dict):
            self._remember(doc.get('meta'))
        errors = _errors(doc)
        if status < 400 and not errors and isinstance(doc, dict):
            return doc
        if errors and absent and all(error['errno'] in absent for error in errors):
            return None
        raise self._error(method, path, status, text, content_type, doc)

    def _http(self, method, path, body=None):
        """(status, text, content type) of one request; SlurmError when there is no answer."""
        url = self.url + path
        headers = {'X-SLURM-USER-TOKEN': self.token, 'Accept': 'application/json'}
        if self.user:
            headers['X-SLURM-USER-NAME'] = self.user
        data = None
        if body is not None:
            data = json.dumps(body)
            # Without it slurmrestd cannot parse the body (400 "Unable to parse query.").
            headers['Content-Type'] = 'application/json'
        try:
            response = open_url(url, data=data, headers=headers, method=method, context=self._ssl_context(),
                                timeout=self.timeout, follow_redirects='none')
            return response.getcode(), _read(response), response.headers.get('Content-Type') or ''
        except HTTPError as err:
            headers = getattr(err, 'headers', None) or {}
            return err.code, _read(err), headers.get('Content-Type') or ''
        except (URLError, _UrlsConnectionError, socket.timeout, OSError) as err:
            # slurmrestd restarting: worth asking again; after a timeout the request may have been done.
            reason = getattr(err, 'reason', err)
            unsure = isinstance(reason, socket.timeout) or 'timed out' in str(reason)
            raise SlurmError(self._unreachable(err), url=url, method=method, transient=True, unsure=unsure)

    def _ssl_context(self):
        """One SSL context for all requests: urls makes a new one per request otherwise, loading the
        system's CA certificates each time (30 ms), even for http."""
        if self._context is None:
            if self.url.startswith('https:'):
                self._context = make_context(cafile=self.ca_path, validate_certs=self.validate_certs)
            else:
                # Never used for http, but urls would make a full one when given none.
                self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return self._context

    def _unreachable(self, err):
        reason = getattr(err, 'reason', err)
        if isinstance(reason, ConnectionRefusedError) or 'Connection refused' in str(reason):
            return ('slurmrestd is not reachable at %s: connection refused (is slurmrestd running and listening '
                    'there?)' % self.url)
        if isinstance(reason, socket.timeout) or 'timed out' in str(reason):
            return 'slurmrestd at %s did not answer within %s seconds' % (self.url, self.timeout)
        return 'cannot connect to slurmrestd at %s: %s' % (self.url, reason)

    def _unspecified(self):
        """What "Unspecified error" (errno -1) means. 22.05 says it when slurmctld is down or refuses the
        token; 24.11 when slurmctld is down (it answers 511 for a refused token). Where scontrol runs
        (self.cli), `scontrol ping` tells."""
        if self.cli is not None:
            try:
                self.cli.run(['scontrol', 'ping'], what='slurmctld')
            except SlurmError as err:
                return err.msg
            if self._api_version == 'v0.0.38':
                return 'slurmctld answers scontrol ping, so it refused the token: it is wrong or expired'
            return 'slurmctld answers scontrol ping; Slurm gave no reason'
        if self._api_version == 'v0.0.38':
            return ('Slurm 22.05 says only this when slurmctld refuses the token (wrong or expired) or cannot be '
                    'reached')
        return 'Slurm gives no reason; seen when slurmctld cannot be reached'

    def _remember(self, meta):
        """Slurm's release and cluster name, which every answer's meta carries."""
        if not isinstance(meta, dict):
            return
        # v0.0.38: meta.Slurm; v0.0.40+: meta.slurm (with the cluster name).
        slurm = meta.get('slurm') or meta.get('Slurm') or {}
        if slurm.get('release'):
            self._release = slurm['release']
        if slurm.get('cluster'):
            self._cluster = slurm['cluster']

    def _error(self, method, path, status, text, content_type, doc):
        """The SlurmError for an answer that is an error, worded for a person."""
        errors = _errors(doc)
        if errors:
            what = '; '.join(_describe(error) for error in errors)
        else:
            what = _plain(text, content_type)
        msg = 'slurmrestd %s %s%s: HTTP %s: %s' % (method, self.url, path, status, what)
        errnos = [error['errno'] for error in errors]
        hint = ''
        if status == 401:
            hint = ('slurmrestd refused the credentials: the token is missing, wrong or expired, or the user name '
                    'is missing (Slurm 22.05 needs both)')
        elif status == 511 or SLURM_PROTOCOL_AUTHENTICATION_ERROR in errnos:
            hint = 'slurmctld refused the token: it is wrong or expired (`scontrol token` mints a new one)'
        elif status in (502, 503, 504) and not isinstance(doc, dict):
            # Not slurmrestd's JSON: the reverse proxy in front of it answered.
            hint = 'the proxy in front of slurmrestd cannot reach it: is slurmrestd running?'
        elif status == 502 or any(errno in _TRANSIENT_ERRNOS for errno in errnos):
            hint = 'slurmrestd cannot reach slurmctld'
        elif errnos and all(errno == -1 for errno in errnos):
            hint = self._unspecified()
        elif status == 404 and not errors:
            hint = 'slurmrestd has no such endpoint (API version %s)' % (self._api_version or 'unknown')
        elif status == 405 and not errors:
            hint = 'REST API %s has no %s here' % (self._api_version or '', method)
        if hint:
            msg = '%s (%s)' % (msg, hint)
        details = {'status': status, 'method': method, 'url': self.url + path, 'errors': errors,
                   'api_version': self._api_version}
        if errnos:
            details['errno'] = errnos[0]
        details['transient'] = (status in _TRANSIENT_STATUS or any(errno in _TRANSIENT_ERRNOS for errno in errnos)
                                or bool(errnos) and all(errno == -1 for errno in errnos))
        if any(errno in _UNSURE_ERRNOS for errno in errnos):
            details['unsure'] = True
        if not errors and text:
            details['body'] = text[:4000]
        return SlurmError(msg, **details)


# Helpers ----------------------------------------------------------------------

def _read(response):
    try:
        data = response.read()
    except Exception:  # an HTTPError without a body
        return ''
    if isinstance(data, bytes):
        data = data.decode('utf-8', 'replace')
    return data or ''


_TITLE = re.compile(r'<title>\s*(.*?)\s*</title>', re.I | re.S)


def _plain(text, content_type):
    """A body that is not JSON, as one line of a message: an HTML page (a proxy's) by its title."""
    text = (text or '').strip()
    if 'html' in content_type.lower() or text.startswith('<'):
        title = _TITLE.search(text)
        return 'an HTML page%s' % (' "%s"' % title.group(1) if title else '')
    return ' '.join(text.split())[:500] or 'no details'


def _json(text):
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _errors(doc):
    """The "errors" entries of any version as [{error, errno, description, source}]."""
    if not isinstance(doc, dict):
        return []
    errors = []
    for entry in doc.get('errors') or []:
        if not isinstance(entry, dict):
            errors.append({'error': str(entry), 'errno': None, 'description': '', 'source': ''})
            continue
        # v0.0.38 says errno, error_number or error_code, depending on the handler.
        errno = None
        for key in ('error_number', 'errno', 'error_code'):
            if key in entry:
                errno = number(entry[key])
                break
        errors.append({'error': entry.get('error') or '', 'errno': errno,
                       'description': entry.get('description') or '', 'source': entry.get('source') or ''})
    return errors


def _describe(error):
    """ "Unable to find JobId=9 (Invalid job id specified, errno 2017)", or "Invalid ... (errno 2018)"."""
    said = error['error']
    errno = error['errno']
    if error['description']:
        if errno is not None:
            said = '%s, errno %s' % (said, errno) if said else 'errno %s' % errno
        return '%s (%s)' % (error['description'], said) if said else error['description']
    if errno is not None:
        return '%s (errno %s)' % (said, errno) if said else 'errno %s' % errno
    return said


def _token_user(token):
    """The user a Slurm JWT was minted for (its "sun" claim), or None."""
    try:
        payload = token.split('.')[1]
        payload += '=' * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode('ascii')).decode('utf-8'))
        return claims.get('sun') or None
    except Exception:  # not a JWT: the caller must give the user name
        return None


def _version_number(version):
    return int(version.rsplit('.', 1)[1])


def _release_number(release):
    """(24, 11) of "24.11.5"; (0, 0) when unknown."""
    match = re.match(r'(\d+)\.(\d+)', release or '')
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)
