"""slurmrestd is reached from other hosts only through TLS (issue 11 #3).

slurmrestd listens on the controller's loopback; nginx in front of it
(role aiinfra.slurm.slurmrestd_proxy) serves it with a certificate of a site
CA made on the controller, whose certificate the lab copies next to its
inventory. Root tokens then never cross the network in clear.
"""
import json
import socket
import subprocess

import pytest

PLAYBOOK = "tests/integration/playbooks/rest_facts.yml"


@pytest.fixture(scope="module")
def tls(deployed_lab):
    token = deployed_lab.ssh(deployed_lab.controller, "scontrol", "token", "lifespan=600").stdout.strip().split("=", 1)[1]
    return deployed_lab.address, deployed_lab.rest_ca_path, token


def facts(lab, tmp_path, token, **extra):
    results = tmp_path / "facts.json"
    extra_vars = tmp_path / "vars.json"
    extra_vars.write_text(json.dumps(dict(extra, results_file=str(results))))
    run = lab.playbook(PLAYBOOK, "-e", "@%s" % extra_vars, env={"SLURM_JWT": token})
    assert run.rc == 0, run.explain()
    assert token not in run.stdout + run.stderr, "the token was printed"
    return json.loads(results.read_text())


def test_plain_http_is_not_reachable_from_other_hosts(tls):
    address, _ca, _token = tls
    with pytest.raises(OSError):
        socket.create_connection((address, 6820), timeout=3).close()


def test_modules_reach_slurmrestd_through_tls(deployed_lab, tls, tmp_path):
    address, ca_path, token = tls
    assert ca_path.is_file(), "the lab did not copy the site CA's certificate"
    result = facts(deployed_lab, tmp_path, token, rest_url="https://%s:6821" % address, ca_path=str(ca_path))
    assert not result.get("failed"), result
    release = deployed_lab.ssh(deployed_lab.controller, "scontrol", "--version").stdout.split()[-1]
    assert result["ansible_facts"]["slurm_cluster"]["version"] == release


def test_a_certificate_of_another_ca_fails_clearly(deployed_lab, tls, tmp_path):
    address, _ca, token = tls
    other = tmp_path / "other-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(tmp_path / "other-ca.key"), "-subj", "/CN=not the site CA",
                    "-days", "1", "-out", str(other)], check=True, capture_output=True)
    result = facts(deployed_lab, tmp_path, token, rest_url="https://%s:6821" % address, ca_path=str(other))
    assert result.get("failed"), result
    assert "certificate" in result["msg"].lower(), result["msg"]
    assert token not in json.dumps(result)
