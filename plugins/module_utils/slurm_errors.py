# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Private to the aiinfra.slurm collection: no stable API for other code.
#
# The one exception of every layer below a module's main() (backends,
# validators, operations): main() or the action plugin catches it once and
# fails with the message and the details. Python 3.6, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class SlurmError(Exception):
    """A Slurm operation failed. `details` (cmd, rc, stdout, stderr, status, ...) go into the module result.

    Two details are flags for callers and stay out of the result:
    - transient: Slurm could not be reached for now (slurmctld or slurmrestd
      restarting); reading again later may work.
    - unsure: the request may have been carried out although no answer came
      (a timeout), so repeating it may do it twice.
    """

    def __init__(self, msg, **details):
        super(SlurmError, self).__init__(msg)
        self.transient = bool(details.pop('transient', False))
        self.unsure = bool(details.pop('unsure', False))
        self.msg = msg
        self.details = details
