"""The AWX credential type's injected environment alone is enough for the modules and the inventory plugin."""
import json
import os
import re
import subprocess
from pathlib import Path

import yaml
from jinja2 import Template

from conftest import INVENTORY

ROOT = Path(__file__).resolve().parents[2]
CREDENTIAL_TYPE = ROOT / "extensions" / "awx" / "credential_type.yml"

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Facts with no connection options at all
      aiinfra.slurm.slurm_cluster_facts:
        gather_subset: [nodes]
      register: facts
    - name: Show the node names
      ansible.builtin.debug:
        msg: "NODES={{ ansible_facts.slurm_cluster.nodes | map(attribute='name') | sort | join(',') }}"
"""


def test_injected_environment_alone_reaches_slurmrestd(deployed_lab, tmp_path):
    token = deployed_lab.ssh(deployed_lab.controller, "scontrol", "token", "lifespan=300",
                             "username=root").stdout.strip().split("=", 1)[1]
    injectors = yaml.safe_load(CREDENTIAL_TYPE.read_text())["injectors"]["env"]
    # slurmrestd through TLS (aiinfra.slurm.slurmrestd_proxy), its site CA given as AWX gives files: a path.
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(deployed_lab.rest_ca_path.read_text())
    inputs = {"url": deployed_lab.rest_url, "user": "root", "token": token,
              "ca_cert": deployed_lab.rest_ca_path.read_text(),
              "tower": {"filename": {"ca": str(ca_file)}}}
    injected = {name: Template(value).render(**inputs) for name, value in injectors.items()}
    assert injected["SLURM_REST_CA_PATH"] == str(ca_file)
    playbook = tmp_path / "awx.yml"
    playbook.write_text(PLAYBOOK)
    # Only what AWX would give the job: the injected variables, no slurm options.
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM")}
    env.update(injected, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    # localhost as AWX's execution environment runs it: local, with the Python that runs Ansible.
    inventory = tmp_path / "hosts.ini"
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n')
    result = subprocess.run(["ansible-playbook", "-i", str(inventory), str(playbook)], cwd=ROOT,
                            env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "NODES=" + ",".join(sorted(deployed_lab.computes)) in result.stdout
    assert token not in result.stdout

    # An inventory source of the plugin alone, as an AWX inventory with the credential.
    source = tmp_path / "awx.slurm.yml"
    source.write_text("plugin: aiinfra.slurm.slurm\n")
    result = subprocess.run(["ansible-inventory", "-i", str(source), "--list"], cwd=ROOT,
                            env=dict(env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"), capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(json.loads(result.stdout)["_meta"]["hostvars"]) == sorted(deployed_lab.computes)
    assert token not in result.stdout + result.stderr


# A JWT as scontrol prints it (header.payload.signature, base64url): none may appear in any output.
JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")

# On the controller, slurmrestd on its loopback (the module mints its own token there).
BACKEND_PLAYBOOK = """
- hosts: %s
  gather_facts: false
  tasks:
    - name: Which backend USE_SLURMRESTD picks with a URL set
      aiinfra.slurm.slurm_cluster_facts:
        gather_subset: [version]
      environment:
        USE_SLURMRESTD: "{{ item }}"
        SLURM_REST_API_URL: http://127.0.0.1:6820
      loop: ["false", "true"]
      register: picked
    - name: Show them
      ansible.builtin.debug:
        msg: "BACKENDS={{ picked.results | map(attribute='backend') | join(',') }}"
"""


def test_token_minted_over_ssh_on_the_controller_for_a_play_on_localhost(deployed_lab, tmp_path):
    """AWX without a stored JWT: only the URL, the CA and the host to mint on; the token never shows."""
    injectors = yaml.safe_load(CREDENTIAL_TYPE.read_text())["injectors"]["env"]
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(deployed_lab.rest_ca_path.read_text())
    inputs = {"url": deployed_lab.rest_url, "ca_cert": ca_file.read_text(), "token_from_host": deployed_lab.controller,
              "tower": {"filename": {"ca": str(ca_file)}}}
    injected = {name: Template(value).render(**inputs) for name, value in injectors.items()}
    assert injected["SLURM_JWT_TOKEN"] == "" and injected["SLURM_TOKEN_FROM_HOST"] == deployed_lab.controller
    playbook = tmp_path / "mint.yml"
    playbook.write_text(PLAYBOOK)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM")}
    env.update(injected, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    # The job template's inventory: the cluster (its controller reached over SSH) and localhost.
    local = tmp_path / "local.ini"
    local.write_text('localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n')
    result = subprocess.run(["ansible-playbook", "-vvvv", "-i", str(INVENTORY), "-i", str(local), str(playbook)],
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, result.stdout[-3000:]
    assert "NODES=" + ",".join(sorted(deployed_lab.computes)) in result.stdout
    # Minted on the controller over SSH (its output censored), then REST from here.
    assert re.search(r"SSH: EXEC ssh .* '?scontrol token lifespan=600'?$", output, re.M), output[-3000:]
    assert "stdout and stderr censored due to no log" in output
    assert '"backend": "rest"' in output
    assert not JWT.search(output), "a token in the -vvvv output: %s" % JWT.search(output).group(0)[:20]


def test_use_slurmrestd_false_means_the_cli_even_with_a_url(deployed_lab, tmp_path):
    playbook = tmp_path / "backend.yml"
    playbook.write_text(BACKEND_PLAYBOOK % deployed_lab.controller)
    run = deployed_lab.playbook(str(playbook))
    assert run.rc == 0, run.explain()
    assert "BACKENDS=cli,rest" in run.stdout, run.stdout[-2000:]
