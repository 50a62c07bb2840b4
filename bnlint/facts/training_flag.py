"""Which parameters of model builders are batch norms' training flags, and whether a flag is ever on.

``BatchNormSite.never_training`` answers from the call alone (a missing flag that
defaults to False, a literal, a name assigned a literal once). A flag that is
a parameter of the model-building function is unknown there; it is False on
every path when the parameter defaults to False and no linted caller passes it.

A builder's *flag parameters* are found by following, not by name: a
parameter is one when it reaches a batch norm's training flag in the
builder's body (``slim.batch_norm(x, is_training=phase)``, a
``normalizer_params`` dict, an ``arg_scope``) or is passed on to a flag
parameter of another builder it calls (``block(x, train=phase)``). So
``phase_train``, ``is_train``, ``train``, ``mode`` or a positional flag all
count, and a parameter merely called ``training`` that reaches nothing does not.
"""

from __future__ import annotations

import libcst as cst

from dataclasses import dataclass

from bnlint.facts.batch_norm import BatchNormSite, batch_norm_sites_by_unit
from bnlint.facts.conditionals import branch_around
from bnlint.facts.values import Value, constant, literal
from bnlint.linker import FunctionRef
from bnlint.project import ProjectIndex
from bnlint.semantic import (
    Binding, CallSite, FileModel, FunctionInfo, Scope, call_argument, dotted, has_star_args,
)

# How many builder calls deep a flag parameter is followed (``model -> block -> batch_norm``).
_MAX_FLAG_DEPTH = 3


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


def never_built(project: ProjectIndex, bn: BatchNormSite) -> bool:
    """The batch norm sits under ``if use_bn:`` where ``use_bn`` is a parameter defaulting to False no caller passes.

    ``def block(x, use_bn=False): if use_bn: x = batch_norm(x)``: with every
    linted caller leaving the option out, the batch norm is never built.
    """
    if bn.file.enclosing_function(bn.site.scope) is None:
        return False
    return any(unpassed_false_parameter(project, Value(statement.test, bn.file, bn.site.scope))
               for statement in bn.file.ifs_around(bn.site))


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
    offset = function.bound_offset
    for caller in callers:
        if has_star_args(caller.site.node):
            return False
        if call_argument(caller.site.node, binding.name, binding.param_index - offset) is not None:
            return False
    return True


@dataclass(frozen=True)
class FlagParameter:
    """A parameter of a linted function that reaches a batch norm's training flag."""

    binding: Binding
    offset: int  # positions taken by ``self`` in a bound call

    @property
    def name(self) -> str:
        return self.binding.name

    def argument(self, site: CallSite) -> cst.Arg | None:
        """What a call passes for this parameter (None: left at its default)."""
        position = self.binding.param_index
        return call_argument(site.node, self.name, None if position is None else position - self.offset)


def flag_parameters(project: ProjectIndex, ref: FunctionRef, _depth: int = 0) -> list[FlagParameter]:
    """The parameters of ``ref`` that reach a batch norm's training flag, in its body or through builders it calls."""
    memo: dict[str, list[FlagParameter]] = project.memo("training_flag.flag_parameters", dict)
    cached = memo.get(ref.unit)
    if cached is not None:
        return cached
    if _depth > _MAX_FLAG_DEPTH:
        return []
    memo[ref.unit] = []  # a recursive builder reaches nothing more through itself
    found: dict[str, FlagParameter] = {}
    offset = ref.info.bound_offset

    def note(value: Value | None) -> None:
        binding = _own_parameter(ref, value)
        if binding is not None:
            found.setdefault(binding.name, FlagParameter(binding, offset))

    for bn in batch_norm_sites_by_unit(project).get(ref.unit, ()):
        for value in bn.training:
            note(value)
        # ``tf.cond(flag, lambda: bn(x, training=True), lambda: bn(x, training=False))``: the predicate is the flag.
        branch = branch_around(ref.file, bn.site.scope)
        if branch is not None:
            predicate = call_argument(branch.cond.node, "pred", 0)
            if predicate is not None:
                note(Value(predicate.value, ref.file, branch.cond.scope))
    for site in ref.info.calls:
        if has_star_args(site.node):
            continue
        for callee in project.callees_of_site(ref.file, site):
            if callee.unit == ref.unit:
                continue
            for inner in flag_parameters(project, callee, _depth + 1):
                arg = inner.argument(site)
                if arg is not None:
                    note(Value(arg.value, ref.file, site.scope))
    result = sorted(found.values(), key=lambda flag: flag.binding.param_index or 0)
    memo[ref.unit] = result
    return result


def reaches_flag(project: ProjectIndex, file: FileModel, scope: Scope, expr: cst.BaseExpression) -> bool:
    """``expr`` (a placeholder, ``self.is_training``) is given somewhere in its file as a batch norm's flag.

    Directly (``batch_normalization(x, training=is_training)``) or as the
    argument of a builder's flag parameter (``model(images, is_training)``).
    """
    text = dotted(expr)
    if text is None:
        return False
    uses = _flag_arguments(project, file).get(text, ())
    if not isinstance(expr, cst.Name):
        return bool(uses)  # an attribute chain (``self.is_training``): the same text in the same file
    own = {id(binding) for binding in file.lookup(expr.value, scope)}
    return any(own & {id(binding) for binding in file.lookup(expr.value, use_scope)} for use_scope in uses)


def _flag_arguments(project: ProjectIndex, file: FileModel) -> dict[str, list[Scope]]:
    """Dotted expressions of a file given as training flags, with the scopes they are read in."""
    memo: dict[str, dict[str, list[Scope]]] = project.memo("training_flag.flag_arguments", dict)
    cached = memo.get(file.path)
    if cached is not None:
        return cached
    out: dict[str, list[Scope]] = {}

    def add(value: Value | None) -> None:
        text = dotted(value.expr) if value is not None else None
        if text is not None:
            out.setdefault(text, []).append(value.scope)

    for sites in batch_norm_sites_by_unit(project).values():
        for bn in sites:
            for value in bn.training:
                if value is not None and value.file is file:
                    add(value)
    for site in file.calls:
        for callee in project.callees_of_site(file, site):
            for flag in flag_parameters(project, callee):
                arg = flag.argument(site)
                if arg is not None:
                    add(Value(arg.value, file, site.scope))
    memo[file.path] = out
    return out


def flag_at_call(flag: FlagParameter, file: FileModel, site: CallSite) -> tuple[object, bool]:
    """The flag's constant value at a call (``...`` when unknown), and whether it was left at its default."""
    arg = flag.argument(site)
    if arg is not None:
        return constant(Value(arg.value, file, site.scope)), False
    default = flag.binding.value
    return (literal(default) if default is not None else ...), True


def _own_parameter(ref: FunctionRef, value: Value | None) -> Binding | None:
    if value is None or value.file is not ref.file or not isinstance(value.expr, cst.Name):
        return None
    bindings = value.file.lookup(value.expr.value, value.scope)
    if len(bindings) != 1 or bindings[0].kind != "param":
        return None
    function: FunctionInfo | None = bindings[0].scope.function
    if function is None or function.node is not ref.info.node:
        return None
    return bindings[0]
