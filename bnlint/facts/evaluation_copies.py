"""Evaluation copies: the network built again with ``reuse=True``, and never trained.

A TF1 program measures its model on other data by building the network a
second time over that data, sharing the trained variables:
``network(other_images, phase_train=False, reuse=True)``. Such a copy is run,
never optimised, so it is an inference path whatever its function and its
data are named; built with the training flag True, it evaluates with batch
statistics.

Reuse alone is no evidence: multi-tower training, the discriminator of a GAN
applied to generated images, and a siamese branch all build reused copies
that the loss depends on. So a copy counts only when every train op of its
program is spelled out from its inputs and none of them depends on the copy
(``bnlint.facts.train_inputs``); where a loss comes from a graph collection,
nothing is claimed.
"""

from __future__ import annotations

from bnlint.facts.train_inputs import feeds_train_op
from bnlint.facts.train_ops import train_op_sites
from bnlint.facts.values import Value, constant
from bnlint.project import ProjectIndex
from bnlint.semantic import CallSite, FileModel, call_argument

REUSE_PARAMETER = "reuse"


def untrained_reused_copy(file: FileModel, site: CallSite, project: ProjectIndex) -> bool:
    """The call builds a copy with ``reuse=True`` that no train op of its program depends on."""
    arg = call_argument(site.node, REUSE_PARAMETER, None)
    if arg is None or constant(Value(arg.value, file, site.scope)) is not True:
        return False
    unit = file.unit_name(site.scope)
    together = [train for train in train_op_sites(project)
                if project.run_together(unit, train.file.unit_name(train.site.scope))]
    return bool(together) and all(
        feeds_train_op(project, train.file, train.site, file, site) is False for train in together)
