"""Firewalls (issue 10): with firewalld running on every machine, site.yml opens
what Slurm needs (aiinfra.slurm.firewall) and the cluster works again.

firewalld comes from the lab's repository and goes again at the end (purged,
with everything it pulled in), so that later tests see the machines as before.
"""
import http.client
import json
import ssl

import pytest

SRUN_PORTS = "60001-63000"
FIREWALLD = "tests/integration/playbooks/firewalld.yml"
ROLE = "tests/integration/playbooks/firewall.yml"


def _reaches(lab, source, target, port):
    """Whether a TCP connection from `source` to `target:port` opens (bash's /dev/tcp, 3 s at most)."""
    return lab.ssh(source, "timeout", "3", "bash", "-c", "exec 3<>/dev/tcp/%s/%d" % (target, port),
                   check=False).returncode == 0


def _rest_status(lab, token):
    """HTTP status of slurmrestd's OpenAPI description, from this host through the TLS proxy."""
    context = ssl.create_default_context(cafile=str(lab.rest_ca_path))
    connection = http.client.HTTPSConnection(lab.address, 6821, context=context, timeout=5)
    try:
        connection.request("GET", "/openapi/v3", headers={"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": token})
        return connection.getresponse().status
    finally:
        connection.close()


def _srun_everywhere(lab):
    for node in lab.computes:
        out = lab.ssh(lab.controller, "timeout", "60", "srun", "-N1", "-w", node, "hostname").stdout.strip()
        assert out == node, out


@pytest.fixture()
def srun_port_range(deployed_lab, tmp_path):
    """Extra vars with an SrunPortRange for slurm.conf; slurm.conf as it was after the test."""
    extra = tmp_path / "srun.json"
    extra.write_text(json.dumps({"slurm_config": {"SrunPortRange": SRUN_PORTS}}))
    yield extra
    run = deployed_lab.playbook("playbooks/site.yml")
    assert run.rc == 0, run.explain()


def test_site_opens_the_slurm_ports_in_firewalld(deployed_lab, srun_port_range):
    lab = deployed_lab
    first, second = lab.computes[:2]
    token = lab.ssh(lab.controller, "scontrol", "token", "lifespan=600").stdout.strip().split("=", 1)[1]
    assert _rest_status(lab, token) == 200
    witness = lab.start_witness(second)
    try:
        run = lab.playbook(FIREWALLD)
        # firewalld loads its rules only with CAP_NET_ADMIN in the machine's network namespace.
        assert run.rc == 0, "firewalld did not install or start: " + run.explain()
        try:
            _firewalld_on(lab, srun_port_range, token, first)
        finally:
            run = lab.playbook(FIREWALLD, "-e", "firewalld_test_state=absent")
            assert run.rc == 0, run.explain()
        witness.assert_completed()
    finally:
        witness.release()
    for host in lab.hosts:
        assert lab.ssh(host, "dpkg-query", "--show", "firewalld", check=False).returncode != 0, host
    _srun_everywhere(lab)


def _firewalld_on(lab, extra, token, first):
    # The default zone drops what Slurm needs: slurmd, slurmctld and the TLS proxy are out of reach.
    assert not _reaches(lab, lab.controller, first, 6818)
    assert not _reaches(lab, first, lab.controller, 6817)
    with pytest.raises(OSError):
        _rest_status(lab, token)

    # Check mode names what it would open and opens nothing.
    run = lab.playbook(ROLE, "-e", "@%s" % extra, "--check")
    assert run.rc == 0, run.explain()
    assert "Report what would be opened" in run.changed_tasks(), run.changed_tasks()
    assert not _reaches(lab, lab.controller, first, 6818)

    run = lab.playbook("playbooks/site.yml", "-e", "@%s" % extra)
    assert run.rc == 0, run.explain()
    assert _reaches(lab, lab.controller, first, 6818)
    assert _reaches(lab, first, lab.controller, 6817)
    # slurmdbd answers the controller only, slurmrestd's plain port nobody.
    assert not _reaches(lab, first, lab.controller, 6819)
    assert not _reaches(lab, first, lab.controller, 6820)
    assert _rest_status(lab, token) == 200
    _srun_everywhere(lab)
    out = lab.ssh(lab.controller, "sinfo", "--noheader", "--Node", "--format=%N %t").stdout
    assert all(state in ("idle", "mix", "alloc") for _node, state in (line.split() for line in out.splitlines())), out

    # The permanent configuration holds the same: firewalld reloaded keeps Slurm working.
    for host in lab.hosts:
        lab.ssh(host, "firewall-cmd", "--reload")
    assert _reaches(lab, lab.controller, first, 6818)
    run = lab.playbook(ROLE, "-e", "@%s" % extra)
    assert run.rc == 0, run.explain()
    assert run.changed() == {host: 0 for host in lab.hosts}, run.changed_tasks()
