# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A site CA and one server certificate it signs: the openssl command lines and what a run must do.

Pure functions, so that the decisions are testable without openssl or root; the module
runs the commands.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# P-256: what every TLS client of slurmrestd (Python's ssl, curl, Go) accepts.
_KEY_ALGORITHM = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]


def key_argv(openssl, path):
    return [openssl, "genpkey"] + _KEY_ALGORITHM + ["-out", path]


def ca_argv(openssl, params, config_path):
    return [openssl, "req", "-x509", "-new", "-key", params["ca_key"], "-sha256", "-days", str(params["ca_days"]),
            "-config", config_path, "-extensions", "v3_ca", "-subj", "/CN=" + params["ca_name"],
            "-out", params["ca_certificate"]]


def sign_argv(openssl, params, config_path):
    return [openssl, "req", "-x509", "-new", "-key", params["key"], "-CA", params["ca_certificate"],
            "-CAkey", params["ca_key"], "-sha256", "-days", str(params["days"]), "-config", config_path,
            "-extensions", "v3_server", "-out", params["certificate"]]


def steps(missing, certificate_reasons):
    """(files to make, in order; why the certificate is signed) from the missing files and the judgement
    of the current certificate (empty when it is good; "missing" when there is none).

    A new CA key needs a new CA certificate; a new CA or a new server key makes the old certificate
    worthless (another issuer, another key): it is signed again whatever its names and end.
    """
    todo = [name for name in ("ca_key", "ca_certificate", "key")
            if name in missing or (name == "ca_certificate" and "ca_key" in missing)]
    reasons = list(certificate_reasons)
    if todo and "certificate" not in missing:
        reasons.append("the certificate was signed before this run made a new %s" % (
            "server key" if todo == ["key"] else "site CA"))
    if reasons:
        todo.append("certificate")
    return todo, reasons
