# -*- coding: utf-8 -*-
# Copyright: aiinfra.slurm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# slurm_node through slurmrestd on the control node runs in process (plugin_utils/slurm_action.py).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aiinfra.slurm.plugins.module_utils import slurm_nodes
from ansible_collections.aiinfra.slurm.plugins.plugin_utils.slurm_action import SlurmAction


class ActionModule(SlurmAction):
    MODULE_NAME = 'aiinfra.slurm.slurm_node'
    MODULE_ARGS = slurm_nodes.MODULE_ARGS
    OPERATION = slurm_nodes.NodeManager
