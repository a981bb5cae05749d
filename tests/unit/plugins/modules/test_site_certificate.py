# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# site_certificate: what a run must make and sign, bad input refused before anything is
# touched, and the module itself with this machine's openssl in a temporary directory,
# signing with the openssl.cnf the role wrote on the lab's controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import shutil
import subprocess
from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.aiinfra.slurm.plugins.module_utils.site_certificate import steps
from ansible_collections.aiinfra.slurm.plugins.modules import site_certificate

from ansible_collections.aiinfra.slurm.tests.unit.plugins.modules.module_runner import run_module

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "host")
NAMES = ["DNS:lab-ctl", "DNS:localhost", "IP:127.0.0.1", "IP:10.77.2.10"]


def test_a_first_run_makes_everything_in_order():
    todo, reasons = steps(["ca_key", "ca_certificate", "key", "certificate"], ["certificate /c missing"])
    assert todo == ["ca_key", "ca_certificate", "key", "certificate"] and reasons == ["certificate /c missing"]


def test_a_good_certificate_is_kept():
    assert steps([], []) == ([], [])


def test_a_certificate_that_ends_soon_is_signed_alone():
    assert steps([], ["certificate /c ends within 30 days"]) == (
        ["certificate"], ["certificate /c ends within 30 days"])


def test_a_new_ca_or_key_signs_a_good_certificate_again():
    # A lost CA key: a new CA (its certificate too), whose name the old certificate does not carry.
    todo, reasons = steps(["ca_key"], [])
    assert todo == ["ca_key", "ca_certificate", "certificate"]
    assert reasons == ["the certificate was signed before this run made a new site CA"]
    todo, reasons = steps(["key"], [])
    assert todo == ["key", "certificate"]
    assert reasons == ["the certificate was signed before this run made a new server key"]


def arguments(directory, **changes):
    config = open(os.path.join(FIXTURES, "openssl.cnf-slurmrestd-proxy-lab-ctl")).read()
    args = dict(directory=directory, config=config, ca_key=directory + "/ca.key",
                ca_certificate=directory + "/ca.crt", ca_name="aiinfra.slurm site CA on lab-ctl",
                key=directory + "/server.key", certificate=directory + "/server.crt", days=7,
                names=NAMES, valid_for=2 * 86400)
    args.update(changes)
    return args


@pytest.mark.parametrize("changes, message", [
    (dict(ca_name="a/CN=evil"), "ca_name must be 1-64 characters"),
    (dict(ca_name="x" * 65), "ca_name must be 1-64 characters"),
    (dict(ca_name="site\nCA"), "ca_name must be 1-64 characters"),
    (dict(days=0), "days must be 1 or more"),
    (dict(valid_for=-5), "valid_for must be 1 or more"),
    (dict(names=["lab-ctl"]), "names must be DNS:name or IP:address"),
    (dict(names=[]), "names must be DNS:name or IP:address"),
    (dict(key="/tls/ca.key"), "must be four different files"),
    (dict(names=["DNS:"]), "names must be DNS:name or IP:address"),
    (dict(names=["DNS:a,IP:1.2.3.4"]), "names must be DNS:name or IP:address"),
    (dict(certificate="server.crt"), "must be absolute paths"),
])
def test_bad_input_is_refused_before_anything_is_made(tmp_path, changes, message):
    directory = str(tmp_path / "tls")
    if "key" in changes:
        changes["key"] = directory + "/ca.key"
    result, failed = run_module(site_certificate, arguments(directory, **changes))
    assert failed and message in result["msg"], result
    assert not os.path.exists(directory)


needs_root_openssl = pytest.mark.skipif(shutil.which("openssl") is None or os.geteuid() != 0,
                                        reason="needs openssl and root (the files are root's)")


def openssl(*argv):
    return subprocess.run(["openssl"] + list(argv), capture_output=True, text=True, check=False)


def mode_of(path):
    return oct(os.stat(path).st_mode & 0o777)


@needs_root_openssl
def test_one_call_makes_the_ca_and_a_certificate_that_verifies_then_nothing(tmp_path):
    directory = str(tmp_path / "tls")
    args = arguments(directory)
    check, failed = run_module(site_certificate, args, check_mode=True, diff=True)
    assert not failed and check["changed"] and check["made"] == ["ca_key", "ca_certificate", "key", "certificate"]
    assert "# signed: %s/server.crt" % directory in check["diff"]["after"]
    assert not os.path.exists(directory), "check mode made files"

    first, failed = run_module(site_certificate, args)
    assert not failed and first["changed"] and first["signed"], first
    assert sorted(os.listdir(directory)) == ["ca.crt", "ca.key", "openssl.cnf", "server.crt", "server.key"]
    assert [mode_of(directory + "/" + name) for name in ("ca.key", "server.key", "openssl.cnf")] == ["0o600"] * 3
    assert [mode_of(directory + "/" + name) for name in ("ca.crt", "server.crt")] == ["0o644"] * 2
    assert mode_of(directory) == "0o700"
    verify = openssl("verify", "-CAfile", directory + "/ca.crt", directory + "/server.crt")
    assert verify.returncode == 0, verify.stderr
    names = openssl("x509", "-in", directory + "/server.crt", "-noout", "-ext", "subjectAltName").stdout
    assert "DNS:lab-ctl, DNS:localhost, IP Address:127.0.0.1, IP Address:10.77.2.10" in names, names
    subject = openssl("x509", "-in", directory + "/ca.crt", "-noout", "-subject").stdout
    assert "aiinfra.slurm site CA on lab-ctl" in subject, subject
    # No key in what the module returns.
    assert "PRIVATE KEY" not in repr(first)

    again, failed = run_module(site_certificate, args)
    assert not failed and not again["changed"] and again["made"] == [] and again["reasons"] == [], again


@needs_root_openssl
def test_a_certificate_for_other_names_or_a_new_key_is_signed_again_the_ca_kept(tmp_path):
    directory = str(tmp_path / "tls")
    run_module(site_certificate, arguments(directory))
    ca_before = open(directory + "/ca.crt").read()
    other, failed = run_module(site_certificate, arguments(directory, names=["DNS:lab-ctl"]))
    assert not failed and other["made"] == ["certificate"], other
    assert other["reasons"] == ["certificate %s/server.crt names DNS:lab-ctl, DNS:localhost, IP:10.77.2.10, "
                                "IP:127.0.0.1, wanted DNS:lab-ctl" % directory], other
    assert open(directory + "/ca.crt").read() == ca_before
    os.unlink(directory + "/server.key")
    rekeyed, failed = run_module(site_certificate, arguments(directory))
    assert not failed and rekeyed["made"] == ["key", "certificate"], rekeyed
    public = [openssl("x509", "-in", directory + "/server.crt", "-noout", "-pubkey").stdout,
              openssl("pkey", "-in", directory + "/server.key", "-pubout").stdout]
    assert "PUBLIC KEY" in public[0] and public[0] == public[1], "the certificate is not for the new key"
    # A certificate that ends within valid_for (7 days made, 8 asked) is signed again every run.
    soon, failed = run_module(site_certificate, arguments(directory, valid_for=8 * 86400))
    assert not failed and soon["made"] == ["certificate"] and "ends within 8 days" in soon["reasons"][0], soon


@needs_root_openssl
def test_openssl_failing_is_reported_with_its_message_and_nothing_is_placed(tmp_path):
    directory = str(tmp_path / "tls")
    config = "[req]\nprompt = no\n"
    result, failed = run_module(site_certificate, arguments(directory, config=config))
    assert failed and result["msg"].startswith("openssl req failed"), result
    # The CA key was made, its certificate not: neither is in place, no temporary file is left.
    assert os.listdir(directory) == ["openssl.cnf"]


@needs_root_openssl
def test_a_failed_signing_leaves_the_files_as_they_were(tmp_path):
    directory = str(tmp_path / "tls")
    run_module(site_certificate, arguments(directory))
    before = {name: open(os.path.join(directory, name), "rb").read() for name in os.listdir(directory)}
    os.unlink(directory + "/ca.key")
    # Without the server extensions openssl cannot sign: the new CA key and certificate stay out too.
    config = open(os.path.join(FIXTURES, "openssl.cnf-slurmrestd-proxy-lab-ctl")).read().split("[v3_server]")[0]
    result, failed = run_module(site_certificate, arguments(directory, config=config))
    assert failed and "openssl req failed" in result["msg"], result
    assert sorted(os.listdir(directory)) == ["ca.crt", "openssl.cnf", "server.crt", "server.key"]
    for name in ("ca.crt", "server.crt", "server.key"):
        assert open(os.path.join(directory, name), "rb").read() == before[name], name


@needs_root_openssl
def test_check_mode_reports_a_loose_key_mode_that_the_run_then_fixes(tmp_path):
    directory = str(tmp_path / "tls")
    run_module(site_certificate, arguments(directory))
    os.chmod(directory + "/ca.key", 0o644)
    check, failed = run_module(site_certificate, arguments(directory), check_mode=True)
    assert not failed and check["changed"] and check["made"] == [], check
    assert mode_of(directory + "/ca.key") == "0o644"
    fixed, failed = run_module(site_certificate, arguments(directory))
    assert not failed and fixed["changed"] and fixed["made"] == [] and mode_of(directory + "/ca.key") == "0o600"


@needs_root_openssl
def test_an_expired_site_ca_stops_the_call_and_says_what_to_do(tmp_path):
    directory = str(tmp_path / "tls")
    run_module(site_certificate, arguments(directory))
    # A CA certificate for the same key that ended in 2020 (openssl 3.0's req cannot date one back).
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization

    with open(directory + "/ca.key", "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, u"old site CA")])
    ended = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
             .serial_number(1).not_valid_before(datetime.datetime(2020, 1, 1))
             .not_valid_after(datetime.datetime(2020, 1, 2))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(key, hashes.SHA256()))
    with open(directory + "/ca.crt", "wb") as handle:
        handle.write(ended.public_bytes(serialization.Encoding.PEM))
    result, failed = run_module(site_certificate, arguments(directory))
    assert failed and "has expired" in result["msg"] and "Remove %s/ca.crt" % directory in result["msg"], result


@needs_root_openssl
def test_a_certificate_left_from_before_a_new_key_or_ca_is_signed_again(tmp_path):
    # A run that made a new key (or CA) and failed before signing leaves a certificate whose names
    # and end are good: the next run finds that it belongs to neither.
    directory = str(tmp_path / "tls")
    run_module(site_certificate, arguments(directory))
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", directory + "/server.key")
    result, failed = run_module(site_certificate, arguments(directory))
    assert not failed and result["made"] == ["certificate"], result
    assert result["reasons"] == ["certificate %s/server.crt is not for the key %s/server.key" % (directory, directory)]
    ca = arguments(directory)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", directory + "/ca.key")
    openssl("req", "-x509", "-new", "-key", directory + "/ca.key", "-days", "1", "-subj", "/CN=another CA",
            "-config", directory + "/openssl.cnf", "-extensions", "v3_ca", "-out", directory + "/ca.crt")
    result, failed = run_module(site_certificate, ca)
    assert not failed and result["made"] == ["certificate"], result
    assert result["reasons"] == ["certificate %s/server.crt is not signed by the site CA %s/ca.crt" % (
        directory, directory)]
    verify = openssl("verify", "-CAfile", directory + "/ca.crt", directory + "/server.crt")
    assert verify.returncode == 0, verify.stderr
    again, failed = run_module(site_certificate, ca)
    assert not failed and not again["changed"], again


def test_check_mode_plans_on_a_host_without_openssl_yet(tmp_path):
    # The role installs openssl in the same run: check mode plans everything, a real run stops clearly.
    directory = str(tmp_path / "tls")
    with mock.patch.object(basic.AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: (
            self.fail_json(msg="Failed to find required executable \"%s\"" % name) if required else None)):
        check, failed = run_module(site_certificate, arguments(directory), check_mode=True)
        assert not failed and check["made"] == ["ca_key", "ca_certificate", "key", "certificate"], check
        real, failed = run_module(site_certificate, arguments(directory))
        assert failed and "openssl" in real["msg"], real
    assert not os.path.exists(directory)
