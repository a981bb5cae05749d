#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: slurm_account
short_description: Slurm QOS, accounts and users (with their limits) as code, through sacctmgr
version_added: 0.2.0
description:
  - Brings the QOS, accounts and users named in one task to the wanted state, in Slurm's accounting
    database (slurmdbd), through C(sacctmgr). One module for the three, so that one task can hold a whole
    tree and every name and reference in it is checked before anything changes.
  - Reads everything once, then changes only what differs, in as few C(sacctmgr) calls as possible. Objects
    that get the same change share one call (C(add user u1,u2,... account=physics)), so loading 1,000 users
    into 50 accounts takes about 50 calls.
  - Only the objects and options given are managed; an option left out keeps its value. V(-1) or V("")
    unsets a limit. A user's O(users[].accounts) is its whole list of accounts on the cluster.
  - Validation first, writes after, nothing changed on a bad name or value, an unknown parent account, an
    unknown QOS or account, or a refused removal.
  - Never removes an account or user (or a user from an account) that has pending or running jobs, unless
    O(force) is set; then those jobs are cancelled first. Removing an account also removes what is below
    it in Slurm; the module refuses unless those sub-accounts and users are listed as absent too, or
    O(force) is set. The default account of a user who stays is never removed (Slurm refuses it).
  - Runs where C(sacctmgr) works against slurmdbd, normally the controller. Command line only.
author:
  - aiinfra.slurm developers (@aiinfra)
extends_documentation_fragment:
  - aiinfra.slurm.attributes
options:
  cluster:
    description: The cluster of the associations. Default the only cluster slurmdbd knows (an error if several).
    type: str
  force:
    description: Remove accounts and users even with active jobs (cancelling them) or sub-accounts not listed.
    type: bool
    default: false
  qos:
    description: QOS. Limits as for O(accounts), per QOS.
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: "The QOS name (lower case letters, digits, C(_), C(.), C(-))", type: str, required: true}
      state: {description: "Whether the QOS exists.", type: str, choices: [present, absent], default: present}
      description: {description: "Its description.", type: str}
      priority: {description: "Priority added to jobs of this QOS.", type: raw}
      grp_tres: {description: "TRES of all jobs of the QOS together (V(cpu=64,mem=256G) or a dict).", type: raw}
      grp_tres_mins: {description: "TRES-minutes of all jobs together.", type: raw}
      grp_jobs: {description: "Running jobs of the QOS together.", type: raw}
      grp_submit_jobs: {description: "Pending and running jobs of the QOS together.", type: raw}
      max_jobs_per_user: {description: "Running jobs per user.", type: raw}
      max_submit_jobs_per_user: {description: "Pending and running jobs per user.", type: raw}
      max_tres_per_job: {description: "TRES per job.", type: raw}
      max_tres_per_user: {description: "TRES per user.", type: raw}
      max_wall: {description: "Wall time per job, minutes or a Slurm time (V(2-00:00:00)).", type: raw}
  accounts:
    description: Accounts, each with the limits of its association on O(cluster).
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: "The account name (lower case letters, digits, C(_), C(.), C(-)).", type: str, required: true}
      state: {description: "Whether the account exists on the cluster.", type: str, choices: [present, absent], default: present}
      parent: {description: "Parent account (created first if listed too). Default V(root).", type: str}
      description: {description: "Its description (Slurm's default is the name).", type: str}
      organization: {description: "Its organization (Slurm's default is the parent's name).", type: str}
      fairshare: {description: "Shares, a number or V(parent).", type: raw}
      grp_jobs: {description: "Running jobs of the association and all below it.", type: raw}
      grp_submit_jobs: {description: "Pending and running jobs of the association and all below it.", type: raw}
      grp_tres: {description: "TRES of running jobs together, V(cpu=100,mem=4G,gres/gpu=8) or a dict.", type: raw}
      grp_tres_mins: {description: "TRES-minutes of all jobs together (V(cpu=60000)).", type: raw}
      max_jobs: {description: "Running jobs per user association.", type: raw}
      max_submit_jobs: {description: "Pending and running jobs per user association.", type: raw}
      max_wall: {description: "Wall time per job, minutes or a Slurm time (V(01:30:00)).", type: raw}
      qos: {description: "The QOS the association may use (compared as a set).", type: list, elements: str}
      default_qos: {description: "The QOS of jobs that name none; must be in O(accounts[].qos).", type: raw}
  users:
    description:
      - Users, with their accounts. Limit options given on the user apply to each of its accounts, unless
        an entry of O(users[].accounts) sets them.
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: "The user name.", type: str, required: true}
      state: {description: "V(absent) removes the user from Slurm accounting, on every cluster.", type: str, choices: [present, absent], default: present}
      accounts:
        description:
          - The user's accounts, each a name or a dict with V(name) and limits as in O(accounts). The user is
            removed from other accounts of the cluster. Required when present.
        type: list
        elements: raw
        default: []
      default_account: {description: "Default account; default the current one if kept, else the first listed.", type: str}
      admin_level: {description: "Slurm admin level.", type: str, choices: [none, operator, administrator]}
      fairshare: {description: "As in O(accounts).", type: raw}
      grp_jobs: {description: "As in O(accounts).", type: raw}
      grp_submit_jobs: {description: "As in O(accounts).", type: raw}
      grp_tres: {description: "As in O(accounts).", type: raw}
      grp_tres_mins: {description: "As in O(accounts).", type: raw}
      max_jobs: {description: "As in O(accounts).", type: raw}
      max_submit_jobs: {description: "As in O(accounts).", type: raw}
      max_wall: {description: "As in O(accounts).", type: raw}
      qos: {description: "As in O(accounts).", type: list, elements: str}
      default_qos: {description: "As in O(accounts).", type: raw}
attributes:
  check_mode: {support: full}
  diff_mode: {support: full}
notes:
  - Needs accounting (C(AccountingStorageType=accounting_storage/slurmdbd)); limits are enforced only with
    C(AccountingStorageEnforce=limits) (and C(qos) for QOS) in slurm.conf.
  - Only associations without a partition are managed; limits are compared as Slurm stores them on each
    association, not as inherited from the parent.
seealso:
  - module: aiinfra.slurm.slurm_job
"""

EXAMPLES = r"""
- name: A QOS, two accounts and two users, in one task on the controller
  aiinfra.slurm.slurm_account:
    qos:
      - {name: long, max_wall: 7-00:00:00, max_jobs_per_user: 2}
    accounts:
      - {name: physics, description: Physics department, fairshare: 40, grp_tres: {cpu: 512}, qos: [normal, long]}
      - {name: theory, parent: physics, max_jobs: 20, max_wall: "2-00:00:00"}
    users:
      - {name: alice, accounts: [theory], admin_level: operator}
      - name: bob
        max_jobs: 4
        accounts: [theory, {name: physics, max_jobs: 1}]
        default_account: theory

- name: Remove a user, even with jobs still queued (they are cancelled)
  aiinfra.slurm.slurm_account:
    users: [{name: carol, state: absent}]
    force: true
"""

RETURN = r"""
cluster:
  description: The cluster whose associations were compared.
  returned: success
  type: str
  sample: hpc1
commands:
  description: The sacctmgr calls made (or, in check mode, that would be made), in order.
  returned: success
  type: list
  elements: list
  sample: [[sacctmgr, --immediate, add, user, "alice,bob", account=theory, cluster=hpc1, MaxJobs=4]]
cancelled_jobs:
  description: Jobs cancelled (in check mode, that would be) before a forced removal.
  returned: success
  type: list
  elements: str
  sample: ["4711"]
done:
  description: On a failed sacctmgr call, the calls applied before it.
  returned: failure
  type: list
  elements: list
  sample: []
diff:
  description: Before and after of the changed QOS, accounts and users (null for absent ones).
  returned: when diff mode is on
  type: dict
  sample: {before: {users: {alice: null}}, after: {users: {alice: {default_account: theory}}}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_accounts import MODULE_ARGS, AccountsManager
from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError


def main():
    module = AnsibleModule(**MODULE_ARGS)
    try:
        if not module.get_bin_path('sacctmgr'):
            raise SlurmError('sacctmgr not found: run this module where the Slurm client talks to slurmdbd, '
                             'normally the controller')
        result = AccountsManager(module.params).run(
            lambda argv: module.run_command(argv, environ_update={'LC_ALL': 'C'}),
            check_mode=module.check_mode, diff=module._diff)
    except SlurmError as err:
        module.fail_json(msg=err.msg, **err.details)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
