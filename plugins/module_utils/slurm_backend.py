# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# What every Slurm backend offers. Two do the same work with the same
# arguments and results: slurm_cli.CliBackend runs scontrol, squeue, sbatch
# and scancel on the managed host (normally the controller), and
# slurm_rest.RestBackend talks to slurmrestd from anywhere. Their records are
# slurm_data's normalized nodes, jobs and partitions, so an operation never
# needs to know which one answered. slurm_client.backend_from_options() picks
# one. Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aiinfra.slurm.plugins.module_utils.slurm_errors import SlurmError


class SlurmBackend(object):
    """The contract; every method raises SlurmError on failure.

    Node names come as lists of unique, single names (the operations expand
    what the user wrote once, slurm_vocabulary.node_names); a backend
    compresses them into a hostlist only for the wire.
    """

    #: "cli" or "rest"
    name = None

    def version(self):
        """Slurm's release, e.g. "22.05.8"."""
        raise NotImplementedError

    def cluster_name(self):
        """ClusterName of slurm.conf."""
        raise NotImplementedError

    def nodes(self, names=None):
        """Normalized nodes: all, or those of `names` that exist, in the order asked.

        Unknown names are simply absent: callers compare.
        """
        raise NotImplementedError

    def partitions(self):
        """Normalized partitions."""
        raise NotImplementedError

    def jobs(self, job_ids=None):
        """Normalized jobs slurmctld still knows (MinJobAge): all, or those of the list `job_ids`.

        Unknown ids are simply absent.
        """
        raise NotImplementedError

    def can_update_nodes(self):
        """Whether update_nodes() works (slurmrestd v0.0.38 cannot, unless a CLI fallback is given)."""
        raise NotImplementedError

    def update_nodes(self, names, state=None, reason=None, weight=None, features=None):
        """Change the nodes `names` in ONE Slurm call where the backend can.

        state: scontrol's word (slurm_vocabulary.NODE_STATES, upper case);
        reason: text; weight: int; features: list of names ([] clears them).
        Only what is not None is changed. Slurm checks the transition (RESUME
        on an idle node is an error): callers read the state first.
        """
        raise NotImplementedError

    def control_job(self, job_id, action):
        """hold, release, suspend, resume or requeue one job."""
        raise NotImplementedError

    def cancel_job(self, job_id, signal=None):
        """Cancel a job, or send it `signal` (slurm_vocabulary.SIGNALS). An unknown job raises SlurmError."""
        raise NotImplementedError

    def submit_job(self, spec):
        """Submit a batch job and return its id (int).

        spec: script (text) or wrap (a command), and optional name, partition,
        nodes (a count or "min-max"), ntasks, cpus_per_task, time_limit
        (minutes), working_directory, output, environment (dict: the job's
        whole environment besides Slurm's own variables), comment (text that
        slurm_data's job records show as `comment`).
        """
        raise NotImplementedError


def name_list(names):
    """`names` as the list the contract takes; a string would be read letter by letter."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise SlurmError('node names must be a list of names, got %r' % (names,))
    return list(names)


def job_id_list(job_ids):
    """`job_ids` as a list (one id alone is accepted)."""
    return list(job_ids) if isinstance(job_ids, (list, tuple, set)) else [job_ids]
