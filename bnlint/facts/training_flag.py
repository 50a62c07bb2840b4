"""Whether a batch norm's training flag is ever on, following parameters to their callers.

``BatchNormSite.never_training`` answers from the call alone (a missing flag that
defaults to False, a literal, a name assigned a literal once). A flag that is
a parameter of the model-building function is unknown there; it is False on
every path when the parameter defaults to False and no linted caller passes it.
"""

from __future__ import annotations

import libcst as cst

from bnlint.facts.batch_norm import BatchNormSite
from bnlint.facts.values import Value, literal
from bnlint.project import ProjectIndex
from bnlint.semantic import call_argument, has_star_args


def never_training(project: ProjectIndex, bn: BatchNormSite) -> bool:
    """The flag is False in every context: a constant, or a parameter defaulting to False no caller passes."""
    if bn.never_training():
        return True
    values = bn.training_values()
    if not values:
        return False
    for value, known in zip(bn.training, values):
        if known is False:
            continue
        if known is not None or value is None or not unpassed_false_parameter(project, value):
            return False
    return True


def unpassed_false_parameter(project: ProjectIndex, value: Value) -> bool:
    """``value`` is a parameter defaulting to False, and every linted caller leaves it out.

    With no linted caller at all the answer is False: code bnlint does not see
    (an Estimator, a library user) may well pass the flag.
    """
    if not isinstance(value.expr, cst.Name):
        return False
    bindings = value.file.lookup(value.expr.value, value.scope)
    if len(bindings) != 1 or bindings[0].kind != "param" or bindings[0].value is None:
        return False
    binding = bindings[0]
    if literal(binding.value) is not False or binding.param_index is None:
        return False
    function = binding.scope.function
    if function is None or not isinstance(function.node, cst.FunctionDef):
        return False
    callers = project.callers(value.file.function_unit(function))
    if not callers:
        return False
    offset = 1 if function.class_qualname else 0
    for caller in callers:
        if has_star_args(caller.site.node):
            return False
        if call_argument(caller.site.node, binding.name, binding.param_index - offset) is not None:
            return False
    return True
