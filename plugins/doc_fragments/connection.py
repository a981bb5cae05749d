# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How a module reaches Slurm: the options of SLURM_CONNECTION_ARGS
    # (plugins/module_utils/slurm_client.py).
    DOCUMENTATION = r"""
options:
  api:
    description:
      - How to reach Slurm.
      - V(cli) runs C(scontrol), C(sinfo), C(squeue), C(sbatch) and C(scancel) on the managed host,
        which must be a host where they work (normally the controller).
      - V(rest) talks to slurmrestd at O(rest_url), from any host (for example C(localhost)).
      - V(auto) chooses V(rest) when a URL is configured (O(rest_url) or E(SLURM_REST_API_URL)) or
        the environment variable E(USE_SLURMRESTD) is true, else V(cli).
      - Both give the same results. Where slurmrestd cannot do something (node updates on Slurm 22.05,
        suspending, resuming and requeueing jobs on every version), the REST backend uses the CLI when
        C(scontrol) works on the managed host, and fails naming the Slurm version and the operation otherwise.
    type: str
    choices: [auto, cli, rest]
    default: auto
  rest_url:
    description:
      - URL of slurmrestd, such as V(https://slurm-master:6821) (through aiinfra.slurm.slurmrestd_proxy)
        or V(http://127.0.0.1:6820) on the host itself.
      - A token sent over plain C(http) to a host that is not loopback gives a warning.
      - Defaults to V(http://slurm-master:6820) when REST is chosen through E(USE_SLURMRESTD).
      - If not set, the environment variable E(SLURM_REST_API_URL) is used.
    type: str
  rest_token:
    description:
      - JWT for slurmrestd, as C(scontrol token) prints it after C(SLURM_JWT=).
      - If not set, the environment variables E(SLURM_JWT_TOKEN) and then E(SLURM_JWT) are used.
      - Without a token the module mints a short-lived one with C(scontrol token), which works where
        the module runs on a cluster host (as root or SlurmUser for another O(rest_user)).
      - Never logged nor returned.
    type: str
  rest_user:
    description:
      - User name sent with the token (Slurm 22.05 needs it).
      - Defaults to the user the token was minted for (its C(sun) claim); when the module mints the
        token, it is minted for this user.
      - If not set, the environment variable E(SLURM_REST_API_USER) is used.
    type: str
notes:
  - The CLI backend runs every command as an argument list, never through a shell.
  - Tokens are marked C(no_log) and never returned.
  - Tokens cross the network in clear over C(http); use C(https) (aiinfra.slurm.slurmrestd_proxy) for
    slurmrestd on another host.
"""

    # How the REST client talks to slurmrestd; shared with the slurm inventory plugin.
    REST_CLIENT = r"""
options:
  rest_api_version:
    description:
      - OpenAPI version of slurmrestd to use, such as V(v0.0.38) or V(v0.0.42).
      - By default the newest version that the server offers and this collection speaks.
    type: str
  rest_timeout:
    description: Seconds to wait for each answer of slurmrestd.
    type: int
    default: 30
  validate_certs:
    description: Whether to check the TLS certificate of an C(https) O(rest_url).
    type: bool
    default: true
  ca_path:
    description:
      - CA certificate file to check the certificate of an C(https) O(rest_url) with, such as the site CA
        that the role aiinfra.slurm.slurmrestd_proxy makes.
      - If not set, the environment variable E(SLURM_REST_CA_PATH) is used.
    type: path
"""
