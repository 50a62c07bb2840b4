"""Batch-norm wrappers that take a training flag and never pass it on.

``def batch_norm(x, train=True): return tf.contrib.layers.batch_norm(x)``
receives its callers' mode and drops it: the batch norm runs in its default
mode whatever they pass (training for ``contrib``/``slim``, inference for
``tf.layers`` and, in graph code, for Keras). A wrapper drops its flag when
its parameter named like one (``train``, ``is_training``, ...) is never read
in its body and the batch norm it builds gets no flag at all (no argument,
no ``arg_scope`` or ``normalizer_params`` default).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from bnlint import registry
from bnlint.facts.batch_norm import BatchNormSite
from bnlint.facts.values import Value, constant_origins
from bnlint.project import ProjectIndex
from bnlint.semantic import FileModel, FunctionInfo, call_argument, child_nodes, has_star_args


@dataclass(frozen=True)
class DroppedFlag:
    """A wrapper's training-flag parameter that never reaches the batch norm it builds."""

    function: FunctionInfo
    param: str
    index: int
    default: cst.BaseExpression | None

    def describe(self) -> str:
        return f"`{self.function.qualname}` takes `{self.param}` but never passes it on"


def dropped_flag(bn: BatchNormSite) -> DroppedFlag | None:
    """The flag parameter of the function around ``bn`` that ``bn`` never receives, if any."""
    if bn.api.training is None or any(value is not None for value in bn.training) or has_star_args(bn.site.node):
        return None
    function = bn.file.enclosing_function(bn.site.scope)
    if function is None or not isinstance(function.node, cst.FunctionDef):
        return None
    for index, param in enumerate(function.params):
        name = param.name.value
        if name in registry.TRAINING_FLAG_PARAMETERS and not _read_in(function.node.body, name):
            return DroppedFlag(function, name, index, param.default)
    return None


def _read_in(body: cst.CSTNode, name: str) -> bool:
    stack: list[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and node.value == name:
            return True
        stack.extend(child_nodes(node))
    return False


def callers_asking_for(project: ProjectIndex, file: FileModel, dropped: DroppedFlag,
                       wanted: bool) -> list[Value]:
    """Where the wrapper's callers ask for ``wanted`` (a constant passed, a default left, followed
    through the callers' own parameters): each place the constant is written."""
    offset = dropped.function.bound_offset
    out: list[Value] = []
    for caller in project.callers(file.function_unit(dropped.function)):
        if has_star_args(caller.site.node):
            continue
        position = dropped.index - offset
        arg = call_argument(caller.site.node, dropped.param, position if position >= 0 else None)
        if arg is not None:
            value = Value(arg.value, caller.file, caller.site.scope)
        elif dropped.default is not None:
            value = Value(dropped.default, file, dropped.function.scope.parent or file.module_scope)
        else:
            continue
        for constant_value, where in constant_origins(value) or []:
            if constant_value is wanted:
                out.append(where)
    return out
