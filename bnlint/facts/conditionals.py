"""The branch functions of ``tf.cond``/``tf.case``/``smart_cond`` calls.

TensorFlow calls each branch function once, while it builds the conditional,
and places every op the function creates inside that branch's control-flow
context. Rules ask "which conditional and which branch is this call inside?".
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from bnlint import registry
from bnlint.semantic import CallSite, FileModel, FunctionInfo, Scope, call_argument


@dataclass(frozen=True)
class Branch:
    """A branch function of a conditional: its function, the conditional's call, a label for messages."""

    cond: CallSite
    function: FunctionInfo
    label: str

    @property
    def scope(self) -> Scope:
        return self.function.scope


def cond_api(file: FileModel, site: CallSite) -> registry.CondApi | None:
    """The conditional API a call site invokes, if any."""
    for name in file.call_names(site):
        api = registry.cond_api(name)
        if api is not None:
            return api
    return None


def branches_of(file: FileModel, site: CallSite) -> list[Branch]:
    """The branch functions (lambdas or local ``def``s) a conditional call is given."""
    api = cond_api(file, site)
    if api is None:
        return []
    exprs: list[cst.BaseExpression] = []
    for param in api.branches:
        arg = call_argument(site.node, param.name, param.position)
        if arg is not None:
            exprs.append(arg.value)
    if api.pairs is not None:
        pairs = call_argument(site.node, api.pairs.name, api.pairs.position)
        if pairs is not None:
            exprs.extend(_pair_functions(pairs.value))
    out: list[Branch] = []
    for expr in exprs:
        branch = _branch(file, site, expr)
        if branch is not None:
            out.append(branch)
    return out


def file_branches(file: FileModel) -> list[Branch]:
    """Every branch function of every conditional in a file (computed once per file)."""
    cached = getattr(file, "_cond_branches", None)
    if cached is None:
        cached = [branch for site in file.calls for branch in branches_of(file, site)]
        file._cond_branches = cached  # type: ignore[attr-defined]
    return cached


def inside(scope: Scope | None, outer: Scope) -> bool:
    """``scope`` is ``outer`` or nested in it."""
    while scope is not None:
        if scope is outer:
            return True
        scope = scope.parent
    return False


def branch_around(file: FileModel, scope: Scope) -> Branch | None:
    """The innermost branch function whose body contains ``scope``."""
    best: Branch | None = None
    for branch in file_branches(file):
        if inside(scope, branch.scope) and (best is None or inside(branch.scope, best.scope)):
            best = branch
    return best


def _pair_functions(expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    out: list[cst.BaseExpression] = []
    if isinstance(expr, (cst.List, cst.Tuple)):
        for element in expr.elements:
            pair = element.value
            if isinstance(pair, cst.Tuple) and len(pair.elements) == 2:
                out.append(pair.elements[1].value)
    elif isinstance(expr, cst.Dict):
        for element in expr.elements:
            if isinstance(element, cst.DictElement):
                out.append(element.value)
    return out


def _branch(file: FileModel, site: CallSite, expr: cst.BaseExpression) -> Branch | None:
    if isinstance(expr, cst.Lambda):
        info = file.function_by_node.get(id(expr))
        return Branch(site, info, "the branch lambda") if info else None
    if isinstance(expr, cst.Call) and expr.args:
        # functools.partial(fn, ...)
        if any(name.endswith("partial") for name in file.resolve(expr.func, site.scope)):
            return _branch(file, site, expr.args[0].value)
        return None
    if isinstance(expr, cst.Name):
        for binding in file.lookup(expr.value, site.scope):
            if binding.kind == "def" and isinstance(binding.node, cst.FunctionDef):
                info = file.function_by_node.get(id(binding.node))
                if info is not None:
                    return Branch(site, info, f"the branch `{expr.value}`")
    return None
