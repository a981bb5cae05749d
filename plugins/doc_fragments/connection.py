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
      - V(auto) follows the environment variable E(USE_SLURMRESTD) when it is set, as the shell tools
        of many sites read it - V(rest) when it is true, V(cli) when it is false, even with a URL
        configured; when it is not set, V(rest) if a URL is configured (O(rest_url) or
        E(SLURM_REST_API_URL)), else V(cli).
      - Both give the same results. Where slurmrestd cannot do something (node updates on Slurm 22.05,
        suspending, resuming and requeueing jobs on every version), the REST backend uses the CLI when
        C(scontrol) works on the managed host, and fails naming the Slurm version and the operation otherwise.
      - With the CLI, aiinfra.slurm.slurm_node and aiinfra.slurm.slurm_cluster_facts (without the C(accounting)
        subset) run in Ansible on the control node and send only their C(scontrol) commands over the task's
        connection, each argument quoted for the remote shell, so no Python module starts on the managed
        host. A task with C(become) or an C(environment) runs the module on the host instead. For these
        tasks V(auto) reads E(USE_SLURMRESTD) and E(SLURM_REST_API_URL) on the control node, not on the
        managed host.
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
      - Without a token, a short-lived one is minted with C(scontrol token) on O(token_from_host) when
        it is set, else where the module runs when that is a cluster host (as root or SlurmUser for
        another O(rest_user)).
      - Never logged nor returned.
    type: str
  token_from_host:
    description:
      - Inventory host on which to mint the slurmrestd token with C(scontrol token) when REST is
        chosen and no O(rest_token) is given, for example the Slurm controller.
      - Meant for plays on C(localhost) or in an AWX execution environment - the task runs there,
        and only the minting goes to this host, over the connection the inventory gives it
        (C(ansible_host), C(ansible_user), SSH key or password, as for C(delegate_to)), without
        privilege escalation. Its user must be allowed to run C(scontrol) there, and to be root or
        SlurmUser when O(rest_user) names another user; without O(rest_user) the token is for
        that user.
      - The token lives as long as the task needs it (10 minutes, longer for a long C(wait) of
        aiinfra.slurm.slurm_job); it travels only as the command's output, is never displayed, even at
        C(-vvvv), and never returned.
      - Honoured by the action plugins of aiinfra.slurm.slurm_node, aiinfra.slurm.slurm_job and
        aiinfra.slurm.slurm_cluster_facts.
      - If not set, the environment variable E(SLURM_TOKEN_FROM_HOST) is used.
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
