"""What an argument evaluates to, as far as bnlint can tell without running code.

Every answer may be "unknown" (None); rules treat unknown as "say nothing".
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from bnlint import registry
from bnlint.project import ProjectIndex
from bnlint.registry import Param
from bnlint.semantic import Binding, CallSite, FileModel, Scope, WithFrame, call_argument, child_nodes, has_star_args

_MAX_DEPTH = 8
# More call sites than this and a parameter is a general-purpose one: its values are not enumerated.
_MAX_CALLERS = 64


@dataclass(frozen=True)
class Value:
    """An expression together with the file and scope it is evaluated in."""

    expr: cst.BaseExpression
    file: FileModel
    scope: Scope


def literal(expr: cst.BaseExpression) -> object:
    """The Python value of a literal (numbers, strings, True/False/None, lists/tuples of them); else ``...``."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[expr.value]
    if isinstance(expr, cst.Integer):
        return int(expr.value.replace("_", ""), 0)
    if isinstance(expr, cst.Float):
        return float(expr.value.replace("_", ""))
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = literal(expr.expression)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner
        return ...
    if isinstance(expr, cst.SimpleString):
        try:
            return expr.evaluated_value
        except Exception:  # noqa: BLE001 - exotic prefixes
            return ...
    if isinstance(expr, (cst.List, cst.Tuple)):
        items = []
        for element in expr.elements:
            if isinstance(element, cst.StarredElement):
                return ...
            value = literal(element.value)
            if value is ...:
                return ...
            items.append(value)
        return items
    return ...


def single_assignment(file: FileModel, name: cst.Name, scope: Scope) -> cst.BaseExpression | None:
    """The value of a name assigned exactly once (a constant-like local), else None."""
    bindings = file.lookup(name.value, scope)
    if len(bindings) != 1:
        return None
    binding = bindings[0]
    if binding.kind == "assign" and not binding.unpack:
        return binding.value
    return None


def constant(value: Value, _depth: int = 0) -> object:
    """A literal value, following names assigned once to a literal; ``...`` when unknown."""
    expr = value.expr
    result = literal(expr)
    if result is not ... or _depth > _MAX_DEPTH:
        return result
    if isinstance(expr, cst.Name):
        assigned = single_assignment(value.file, expr, value.scope)
        if assigned is not None:
            return constant(Value(assigned, value.file, value.scope), _depth + 1)
    return ...


def constant_origins(value: Value, _depth: int = 0) -> list[tuple[object, Value]] | None:
    """Every literal an expression may take, each with where it is written; None when any path is unknown.

    Follows names assigned once (the literal is then placed at the name's use)
    and parameters: what every project call site passes for them and, where a
    call leaves one out (or nobody calls the function), its default.
    ``momentum=bn_momentum`` with ``def f(bn_momentum=0.0)`` called without it
    gives ``[(0.0, <the default>)]``: the place a fix goes.
    """
    expr = value.expr
    result = literal(expr)
    if result is not ...:
        return [(result, value)]
    if _depth > _MAX_DEPTH or not isinstance(expr, cst.Name):
        return None
    bindings = value.file.lookup(expr.value, value.scope)
    if len(bindings) != 1:
        return None
    binding = bindings[0]
    if binding.kind == "assign" and not binding.unpack and binding.value is not None:
        # A named constant is written where it is used: the name may serve elsewhere too.
        assigned = constant_origins(Value(binding.value, value.file, binding.scope), _depth + 1)
        return None if assigned is None else [(result, value) for result, _where in assigned]
    if binding.kind != "param" or value.file.linker is None:
        return None
    # A parameter's literals are the same from every use: remember them, or chains of helpers
    # that pass a flag on (each called from many places) are walked exponentially often.
    memo = value.file.linker.constant_origins
    key = id(binding)
    if key not in memo:
        memo[key] = None  # a parameter passed to itself (recursion) is unknown
        memo[key] = _parameter_origins(value, binding, _depth)
    return memo[key]


def _parameter_origins(value: Value, binding: Binding, _depth: int) -> list[tuple[object, Value]] | None:
    arguments = value.file.linker.passed_arguments(value.file, binding)
    if arguments is None or arguments.unpacked or arguments.calls >= _MAX_CALLERS:
        return None
    out: list[tuple[object, Value]] = []
    for caller, expr, scope in arguments.passed:
        passed = constant_origins(Value(expr, caller, scope), _depth + 1)
        if passed is None:
            return None
        out.extend(passed)
    if arguments.omitted or not arguments.calls:
        if binding.value is None:
            return None
        default = constant_origins(Value(binding.value, value.file, binding.scope.parent or value.file.module_scope),
                                   _depth + 1)
        if default is None:
            return None
        out.extend(default)
    return out


def truth(value: Value) -> bool | None:
    """True/False when an expression is a constant boolean (``True``, ``tf.constant(False)``), else None."""
    result = constant(value)
    if isinstance(result, bool):
        return result
    expr = value.expr
    if isinstance(expr, cst.Call) and expr.args:
        names = value.file.resolve(expr.func, value.scope)
        if names & {"tensorflow.constant", "tensorflow.convert_to_tensor"}:
            inner = constant(Value(expr.args[0].value, value.file, value.scope))
            if isinstance(inner, bool):
                return inner
    return None


def argument(file: FileModel, site: CallSite, param: Param | None) -> Value | None:
    """The value passed for ``param`` at a call site, if visible."""
    if param is None:
        return None
    arg = call_argument(site.node, param.name, param.position)
    if arg is None:
        return None
    return Value(arg.value, file, site.scope)


# --- arg_scope ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArgScopeFrame:
    """One ``arg_scope`` in force: the ops it applies to and its keyword defaults."""

    ops: frozenset[str]
    defaults: dict[str, Value]


def _arg_scope_frames_of_with(file: FileModel, frame: WithFrame, project: ProjectIndex,
                              depth: int) -> list[ArgScopeFrame]:
    call = frame.call
    if call is None:
        return []
    names = file.resolve(call.func, frame.scope)
    if names & registry.ARG_SCOPE_NAMES:
        return arg_scope_frames_of_call(file, call, frame.scope, project, depth)
    return []


def arg_scope_frames_of_call(file: FileModel, call: cst.Call, scope: Scope, project: ProjectIndex,
                             depth: int = 0) -> list[ArgScopeFrame]:
    """Frames an ``arg_scope(...)`` call establishes, following scopes returned by linted functions."""
    if depth > _MAX_DEPTH or not call.args:
        return []
    first = call.args[0].value
    if isinstance(first, (cst.List, cst.Tuple)):
        ops: set[str] = set()
        for element in first.elements:
            ops |= file.resolve(element.value, scope)
        defaults = {
            arg.keyword.value: Value(arg.value, file, scope)
            for arg in call.args[1:]
            if arg.keyword is not None
        }
        return [ArgScopeFrame(frozenset(ops), defaults)]
    # ``arg_scope(resnet_arg_scope())`` or ``arg_scope(sc)``: the frames in force where
    # the linted function returned its scope.
    frames: list[ArgScopeFrame] = []
    for returned in _returned_scopes(file, first, scope, project):
        frames.extend(returned)
    return frames


def _returned_scopes(file: FileModel, expr: cst.BaseExpression, scope: Scope,
                     project: ProjectIndex) -> list[list[ArgScopeFrame]]:
    if isinstance(expr, cst.Name):
        value = single_assignment(file, expr, scope)
        if value is not None and value is not expr:
            return _returned_scopes(file, value, scope, project)
        return []
    if not isinstance(expr, cst.Call):
        return []
    out: list[list[ArgScopeFrame]] = []
    for name in file.resolve(expr.func, scope):
        ref = project.function_for_name(name, near=file)
        if ref is None:
            continue
        for ret in ref.info.returns:
            frames: list[ArgScopeFrame] = []
            # The scope is returned from inside ``with arg_scope(...) as sc:`` blocks.
            for site_frame in _with_frames_around(ref.file, ret):
                frames.extend(_arg_scope_frames_of_with(ref.file, site_frame, project, 1))
            out.append(frames)
    return out


def _with_frames_around(file: FileModel, node: cst.CSTNode) -> list[WithFrame]:
    """With-items of every ``with`` block enclosing ``node``, outermost first."""
    # Returns hold no call when they return ``sc``; find the with-blocks by position in the tree.
    frames: list[WithFrame] = []
    for with_node in _with_path(file.module, node):
        for item in with_node.items:
            call = item.item if isinstance(item.item, cst.Call) else None
            site = file.call_by_node.get(id(call)) if call is not None else None
            scope = site.scope if site is not None else file.module_scope
            frames.append(WithFrame(item, call, 0, scope, with_node.body))
    return frames


def _with_path(root: cst.CSTNode, target: cst.CSTNode) -> list[cst.With]:
    """The ``with`` statements on the way from ``root`` down to ``target`` (reads fields; rebuilds nothing)."""
    stack: list[tuple[cst.CSTNode, tuple[cst.With, ...]]] = [(root, ())]
    while stack:
        node, withs = stack.pop()
        if node is target:
            return list(withs)
        if isinstance(node, cst.With):
            withs = (*withs, node)
        stack.extend((child, withs) for child in child_nodes(node))
    return []


def arg_scope_defaults(file: FileModel, site: CallSite, op_names: frozenset[str], project: ProjectIndex,
                       _depth: int = 0, _seen: frozenset[int] = frozenset()) -> list[dict[str, Value]]:
    """Keyword defaults ``arg_scope`` gives a call of one of ``op_names``, one dict per calling context.

    Lexical ``with arg_scope`` blocks apply, and so do those around the call
    sites of the enclosing function (arg_scope is dynamic: it reaches into callees).
    """
    lexical: dict[str, Value] = {}
    for frame in site.withs:
        for scope_frame in _arg_scope_frames_of_with(file, frame, project, 0):
            if scope_frame.ops & op_names:
                lexical.update(scope_frame.defaults)
    function = file.enclosing_function(site.scope)
    if function is None or _depth >= 4:
        return [lexical]
    callers = project.callers(file.function_unit(function))
    if not callers:
        return [lexical]
    contexts: list[dict[str, Value]] = []
    for call in callers:
        if id(call.site.node) in _seen:
            continue
        for outer in arg_scope_defaults(call.file, call.site, op_names, project, _depth + 1,
                                        _seen | {id(call.site.node)}):
            merged = dict(outer)
            merged.update(lexical)
            contexts.append(merged)
    return contexts or [lexical]


def binding_values(file: FileModel, name: str, scope: Scope) -> list[Binding]:
    return file.lookup(name, scope)


def star_args(site: CallSite) -> bool:
    return has_star_args(site.node)
