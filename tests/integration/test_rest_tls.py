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


CERT_DIR = "/etc/aiinfra-slurmrestd-tls"


def certificate(lab, seconds):
    """(the certificate stays valid `seconds` more, its subjectAltName line) as openssl reads it on the controller."""
    read = lab.ssh(lab.controller, "openssl", "x509", "-in", CERT_DIR + "/server.crt", "-noout", "-checkend",
                   str(seconds), "-ext", "subjectAltName", check=False)
    return read.returncode == 0, read.stdout.splitlines()[1].strip()


def test_the_proxy_renews_a_certificate_that_ends_soon_and_names_the_hosts_again(deployed_lab, tls, tmp_path):
    """A certificate that ends tomorrow and names another host is signed again by the next run.

    With slurmrestd_proxy_cert_days=7 the new one lives 7 days and is renewed only in its last third,
    not on every run; back at the default (825 days) it ends within 30 days, and is signed again.
    """
    lab = deployed_lab
    address, ca_path, token = tls
    proxy = "tests/integration/playbooks/rest_proxy.yml"
    signed = "Keep the site CA and sign a certificate for this host's names with it"
    _current, names = certificate(lab, 0)
    assert "DNS:%s" % lab.controller in names, names
    # The site CA signs, as the role does, one that ends tomorrow and names only localhost.
    lab.ssh(lab.controller, "openssl", "req", "-x509", "-new", "-key", CERT_DIR + "/server.key",
            "-CA", CERT_DIR + "/ca.crt", "-CAkey", CERT_DIR + "/ca.key", "-sha256", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-out", CERT_DIR + "/server.crt")
    assert certificate(lab, 2592000) == (False, "DNS:localhost")
    witness = lab.start_witness(lab.computes[-1], seconds=300)
    try:
        week = ("-e", "slurmrestd_proxy_cert_days=7")
        run = lab.playbook(proxy, *week)
        assert run.rc == 0, run.explain()
        assert signed in run.changed_tasks(), run.stdout[-3000:]
        assert certificate(lab, 6 * 86400) == (True, names)
        assert certificate(lab, 8 * 86400)[0] is False
        # nginx serves the new one: a client that checks the names reaches slurmrestd.
        result = facts(lab, tmp_path, token, rest_url="https://%s:6821" % address, ca_path=str(ca_path))
        assert not result.get("failed"), result
        again = lab.playbook(proxy, *week)
        assert again.rc == 0 and again.changed() == {lab.controller: 0}, again.changed_tasks()
        back = lab.playbook(proxy)
        assert back.rc == 0 and signed in back.changed_tasks(), back.explain()
        assert certificate(lab, 2592000) == (True, names)
        assert lab.playbook(proxy).changed() == {lab.controller: 0}
        witness.assert_completed()
    finally:
        witness.release()
