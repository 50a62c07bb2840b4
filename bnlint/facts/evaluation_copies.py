"""Evaluation copies: the network built again with ``reuse=True``, and never trained.

A TF1 program measures its model on other data by building the network a
second time over that data, sharing the trained variables:
``network(other_images, phase_train=False, reuse=True)``, the same call inside
``with tf.variable_scope(name, reuse=True):``, or any build after
``tf.get_variable_scope().reuse_variables()`` in the function. Such a copy is run,
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

import libcst as cst

from bnlint import registry
from bnlint.facts.train_inputs import feeds_train_op
from bnlint.facts.train_ops import train_op_sites
from bnlint.facts.values import Value, constant
from bnlint.project import ProjectIndex
from bnlint.semantic import CallSite, FileModel, call_argument


def untrained_reused_copy(file: FileModel, site: CallSite, project: ProjectIndex) -> bool:
    """The call builds a copy reusing the variables that no train op of its program depends on."""
    if not reuses_variables(file, site):
        return False
    unit = file.unit_name(site.scope)
    together = [train for train in train_op_sites(project)
                if project.run_together(unit, train.file.unit_name(train.site.scope))]
    return bool(together) and all(
        feeds_train_op(project, train.file, train.site, file, site) is False for train in together)


def reuses_variables(file: FileModel, site: CallSite) -> bool:
    """``f(..., reuse=True)``, inside ``variable_scope(..., reuse=True)``, or after ``reuse_variables()`` in its function."""
    arg = call_argument(site.node, registry.REUSE_PARAM, None)
    if arg is not None:
        return constant(Value(arg.value, file, site.scope)) is True
    for frame in site.withs:
        if frame.call is None or not file.resolve(frame.call.func, frame.scope) & registry.VARIABLE_SCOPE_NAMES:
            continue
        reuse = call_argument(frame.call, registry.REUSE_PARAM, None)
        if reuse is not None and constant(Value(reuse.value, file, frame.scope)) is True:
            return True
    first = _first_reuse_variables(file).get(id(file.enclosing_function(site.scope)))
    return first is not None and first < site.order


def _first_reuse_variables(file: FileModel) -> dict[int, int]:
    """Per function (by id; ``id(None)`` for module level), the order of its first ``reuse_variables()`` call."""
    found: dict[int, int] | None = getattr(file, "_first_reuse_variables", None)
    if found is None:
        found = {}
        for other in file.calls:
            func = other.node.func
            if isinstance(func, cst.Attribute) and func.attr.value == registry.REUSE_VARIABLES_METHOD:
                key = id(file.enclosing_function(other.scope))
                found[key] = min(found.get(key, other.order), other.order)
        file._first_reuse_variables = found  # type: ignore[attr-defined]
    return found
