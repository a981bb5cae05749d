"""Secrets sweep: every failure path we can reach, with sentinel secrets, must never show one.

A sentinel munge key, JWT key, token and database password go into every module and role path that can
fail (bad input, unreachable or refusing slurmrestd, expired and garbage tokens, secret_file errors, role
checks and check-mode runs), at -vvvv with DISPLAY_ARGS_TO_STDOUT=true. Then stdout, stderr, the JSON
files of Ansible's own tree callback, the events a recording callback saw (arguments at task
start unless the task is no_log, and every result) and the registered results are searched for each
sentinel, its base64 form and pieces of both: zero hits. The sentinels change nothing on the cluster:
every step fails or runs in check mode.
"""
import base64
import json
import uuid

import pytest

from test_modules import Cluster

# A notification callback that keeps what a JSON job log keeps of each task: its arguments at task start
# (as DISPLAY_ARGS_TO_STDOUT shows them), unless the task is no_log, and every result, as the
# ansible.posix.json callback does. ansible-core 2.19 ships no JSON stdout callback; its only JSON
# writer is the (deprecated) tree callback, used too.
RECORDER = '''
from __future__ import annotations
import json, os
from ansible import constants as C
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "it_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.events = []

    def _args(self, task):
        return {} if task.no_log else dict(task.args)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.events.append({"event": "task_start", "task": task.get_name(), "args": self._args(task)})

    def _result(self, kind, result):
        # 2.19 hands a CallbackTaskResult (task, host, result); older cores a TaskResult (_task, ...).
        task = getattr(result, "task", None) or result._task
        host = getattr(result, "host", None) or result._host
        outcome = getattr(result, "result", None)
        # Results only, as ansible.posix.json keeps them: the task's arguments are templated by now,
        # and no callback shows those (secret options included) but at task start, untemplated.
        self.events.append({"event": kind, "task": task.get_name(), "host": host.get_name(),
                            "result": result._result if outcome is None else outcome})

    def v2_runner_on_ok(self, result):
        self._result("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result("failed", result)

    def v2_runner_on_skipped(self, result):
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._result("unreachable", result)

    def v2_runner_item_on_ok(self, result):
        self._result("item_ok", result)

    def v2_runner_item_on_failed(self, result):
        self._result("item_failed", result)

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["IT_RECORD_FILE"], "w") as out:
            json.dump(self.events, out, default=repr)
'''

SWEEP = '''
- name: Slurm modules that fail, given secrets
  hosts: slurm_controller
  gather_facts: false
  vars:
    __bad_url: http://127.0.0.1:9
  tasks:
    - name: Submit with a secret environment to a partition that does not exist (CLI)
      aiinfra.slurm.slurm_job:
        action: submit
        wrap: "true"
        partition: nosuch-partition
        secret_environment: {IT_SECRET: "{{ s_env }}"}
      register: r_submit_cli
      ignore_errors: true

    - name: Submit with a secret environment and a garbage token (REST)
      aiinfra.slurm.slurm_job:
        action: submit
        wrap: "true"
        secret_environment: {IT_SECRET: "{{ s_env }}"}
        api: rest
        rest_url: "{{ rest_url }}"
        ca_path: "{{ ca_path }}"
        rest_token: "{{ s_token }}"
        rest_user: root
      delegate_to: localhost
      register: r_submit_rest
      ignore_errors: true

    - name: Job status with an expired token (REST)
      aiinfra.slurm.slurm_job:
        action: status
        job_id: 1
        api: rest
        rest_url: "{{ rest_url }}"
        ca_path: "{{ ca_path }}"
        rest_token: "{{ s_expired }}"
      delegate_to: localhost
      register: r_expired
      ignore_errors: true

    - name: Facts from a slurmrestd that is not there
      aiinfra.slurm.slurm_cluster_facts:
        api: rest
        rest_url: "{{ __bad_url }}"
        rest_token: "{{ s_token }}"
        rest_user: root
      delegate_to: localhost
      register: r_unreachable
      ignore_errors: true

    - name: Facts with a garbage token, in the module on the controller
      aiinfra.slurm.slurm_cluster_facts:
        api: rest
        rest_url: http://127.0.0.1:6820
        rest_token: "{{ s_token }}"
        rest_user: root
      register: r_facts_ctl
      ignore_errors: true

    - name: Drain with a bad reason and a garbage token
      aiinfra.slurm.slurm_node:
        names: "{{ groups['slurm_compute'] | first }}"
        state: drain
        reason: "it\\nState=RESUME"
        api: rest
        rest_url: "{{ rest_url }}"
        ca_path: "{{ ca_path }}"
        rest_token: "{{ s_token }}"
      delegate_to: localhost
      register: r_drain
      ignore_errors: true

    - name: A job id that is not a number, with a garbage token
      aiinfra.slurm.slurm_job:
        action: hold
        job_id: "1; echo it"
        api: rest
        rest_url: "{{ rest_url }}"
        rest_token: "{{ s_token }}"
      delegate_to: localhost
      register: r_job_id
      ignore_errors: true

    - name: A secret environment with an action that takes none
      aiinfra.slurm.slurm_job:
        action: status
        job_id: 1
        secret_environment: {IT_SECRET: "{{ s_env }}"}
      register: r_env_status
      ignore_errors: true

    - name: A key into a directory that does not exist
      aiinfra.slurm.secret_file:
        path: /nonexistent-it-dir/jwt.key
        content: "{{ s_jwt_b64 }}"
        owner: root
        group: root
      register: r_secret_nodir
      ignore_errors: true

    - name: A key that is not base64
      aiinfra.slurm.secret_file:
        path: /root/it-secret-sweep.key
        content: "{{ s_jwt_text }}!"
        owner: root
        group: root
      register: r_secret_notb64
      ignore_errors: true

    - name: A key for an owner that does not exist
      aiinfra.slurm.secret_file:
        path: /root/it-secret-sweep.key
        content: "{{ s_jwt_b64 }}"
        owner: nosuch-it-user
        group: root
      register: r_secret_owner
      ignore_errors: true

    - name: A key on a read-only file system
      aiinfra.slurm.secret_file:
        path: /proc/it-secret-sweep.key
        content: "{{ s_jwt_b64 }}"
        owner: root
        group: root
      register: r_secret_ro
      ignore_errors: true

# The roles run in check mode even where they must refuse: nothing they do can change the cluster.
- name: Roles given secrets, refused or checked
  hosts: slurm_controller:slurm_compute
  gather_facts: false
  tasks:
    - name: A munge key that is not base64
      check_mode: true
      block:
        - name: Run the munge role
          ansible.builtin.include_role:
            name: aiinfra.slurm.munge
          vars:
            munge_key_b64: "{{ s_munge_text }}!"
      rescue:
        - name: Keep the refusal
          ansible.builtin.set_fact:
            r_munge_refused: "{{ ansible_failed_result }}"

    - name: Another munge key, in check mode with diff
      check_mode: true
      diff: true
      block:
        - name: Run the munge role
          ansible.builtin.include_role:
            name: aiinfra.slurm.munge
          vars:
            munge_key_b64: "{{ s_munge_b64 }}"
            munge_verify: false

- name: The slurmdbd role given another database password
  hosts: slurm_dbd
  gather_facts: false
  tasks:
    - name: A password the role refuses
      check_mode: true
      block:
        - name: Run the slurmdbd role
          ansible.builtin.include_role:
            name: aiinfra.slurm.slurmdbd
          vars:
            slurmdbd_db_password: "{{ s_db }}#"
      rescue:
        - name: Keep the refusal
          ansible.builtin.set_fact:
            r_db_refused: "{{ ansible_failed_result }}"

    - name: A valid one, in check mode with diff
      check_mode: true
      diff: true
      block:
        - name: Run the slurmdbd role
          ansible.builtin.include_role:
            name: aiinfra.slurm.slurmdbd
          vars:
            slurmdbd_db_password: "{{ s_db }}"

- name: Keep the registered results
  hosts: slurm_controller
  gather_facts: false
  tasks:
    - name: Write them
      ansible.builtin.copy:
        content: "{{ [r_submit_cli, r_submit_rest, r_expired, r_unreachable, r_facts_ctl, r_drain, r_job_id,
                      r_env_status, r_secret_nodir, r_secret_notb64, r_secret_owner, r_secret_ro,
                      hostvars[groups['slurm_compute'] | first].r_munge_refused | default({}),
                      hostvars[groups['slurm_dbd'] | first].r_db_refused | default({})] | to_json }}"
        dest: "{{ results_file }}"
        mode: "0600"
      delegate_to: localhost
      no_log: true
'''


def forms(secret):
    """A secret as it could show up: itself, its base64, and pieces of both (wrapped or sliced)."""
    raw = secret.encode()
    b64 = base64.b64encode(raw).decode()
    found = {secret, b64, base64.urlsafe_b64encode(raw).decode()}
    for text in (secret, b64):
        # From a quarter in: a token's JWT header is the same for every token.
        first = len(text) // 4
        found.update(text[start:start + 24] for start in range(first, max(first + 1, len(text) - 24), 97))
    return found


@pytest.fixture(scope="module")
def cluster(deployed_lab, tmp_path_factory):
    return Cluster(deployed_lab, tmp_path_factory.mktemp("secrets"))


def test_no_secret_in_any_output_of_any_failure(cluster, tmp_path):
    c = cluster
    tag = uuid.uuid4().hex
    # Printable, so that a leak shows in any encoding; long enough to be taken for keys.
    munge_text = ("itMUNGEsentinel" + tag) * 24
    jwt_text = ("itJWTsentinel" + tag) * 2
    sentinels = {
        "munge key": munge_text,
        "JWT key": jwt_text,
        "token": "eyJhbGciOiJIUzI1NiJ9.itTOKENsentinel%s.c2lnbmF0dXJl" % tag,
        "environment value": "itENVsentinel" + tag,
        "database password": "itDBsentinel" + tag,
    }
    expired = c.ssh("scontrol", "token", "lifespan=1", "username=root").stdout.strip().split("=", 1)[1]
    extra = {
        "s_munge_text": munge_text, "s_munge_b64": base64.b64encode(munge_text.encode()).decode(),
        "s_jwt_text": jwt_text, "s_jwt_b64": base64.b64encode(jwt_text.encode()).decode(),
        "s_token": sentinels["token"], "s_expired": expired, "s_env": sentinels["environment value"],
        "s_db": sentinels["database password"], "rest_url": c.rest_url, "ca_path": c.rest_ca_path,
        "results_file": str(tmp_path / "registered.json"),
    }
    sentinels["expired token"] = expired
    vars_file = tmp_path / "secrets.json"
    vars_file.write_text(json.dumps(extra))
    vars_file.chmod(0o600)
    playbook = tmp_path / "sweep.yml"
    playbook.write_text(SWEEP)
    plugins = tmp_path / "callbacks"
    plugins.mkdir()
    (plugins / "it_record.py").write_text(RECORDER)
    tree = tmp_path / "tree"
    record = tmp_path / "events.json"
    before = {host: c.lab.ssh(host, "sha1sum", "/etc/munge/munge.key").stdout for host in c.lab.hosts}

    run = c.lab.playbook(str(playbook), "-vvvv", "-e", "@%s" % vars_file, env={
        "ANSIBLE_DISPLAY_ARGS_TO_STDOUT": "true", "ANSIBLE_CALLBACK_PLUGINS": str(plugins),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.tree,it_record", "ANSIBLE_CALLBACK_TREE_DIR": str(tree),
        "IT_RECORD_FILE": str(record)})

    registered = json.loads((tmp_path / "registered.json").read_text())
    events = json.loads(record.read_text())
    trees = {path.name: path.read_text() for path in tree.iterdir()}
    # The sweep ran its failure paths: every registered step failed, each event was recorded.
    assert run.rc == 0, run.explain()
    # The twelve module steps and the two refusals of the roles.
    assert len(registered) == 14 and all(result.get("failed") for result in registered), \
        [(result.get("msg"), result.get("failed")) for result in registered]
    assert sum(event["event"] == "failed" for event in events) >= 14, [e["task"] for e in events]
    assert set(trees) >= set(c.lab.hosts), trees.keys()
    outputs = {"stdout": run.stdout, "stderr": run.stderr, "registered results": json.dumps(registered),
               "recorded events": json.dumps(events), "tree callback": json.dumps(trees)}
    hits = ["%s in %s" % (name, where) for name, secret in sentinels.items() for where, text in outputs.items()
            if any(form in text for form in forms(secret))]
    assert not hits, hits
    # Nothing changed: the munge keys are the same everywhere.
    assert {host: c.lab.ssh(host, "sha1sum", "/etc/munge/munge.key").stdout for host in c.lab.hosts} == before
    assert c.ssh("test", "-e", "/root/it-secret-sweep.key", check=False).returncode != 0
