"""What a train op is computed from: does the result of a given call flow into its loss?

A graph trains only what its loss depends on. ``train_logits = model(x_train)``
feeds ``optimizer.minimize(ctc(train_logits))``; ``val_logits = model(x_val)``
in the same function does not. This module follows the train op's arguments
backwards through the names, ``self`` attributes and parameters they come
from, and the calls they pass through: a call of a project function (or a
read of a ``@property``) carries whatever that function runs, so a batch norm
built three helpers down still feeds the loss it ends in.

The answer is True, False, or None when the loss comes from somewhere the
code does not spell out (``tf.losses.get_total_loss()`` reads the losses a
collection gathered): then the caller judges by which code runs together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from bnlint.project import ProjectIndex
from bnlint.semantic import Binding, CallSite, FileModel, Scope, call_argument, child_nodes, walk

# Calls whose result is assembled from a graph collection rather than from their arguments.
_COLLECTED_LOSS_NAMES = frozenset({
    "tensorflow.losses.get_total_loss", "tensorflow.losses.get_losses",
    "tensorflow.losses.get_regularization_loss", "tensorflow.get_collection",
    "tensorflow.contrib.losses.get_total_loss", "tensorflow.contrib.slim.losses.get_total_loss",
})
_MAX_NODES = 4000
_MAX_CALLER_DEPTH = 4


@dataclass
class _Slice:
    """What some expressions of one unit are computed from, within that unit."""

    calls: list[CallSite] = field(default_factory=list)
    call_ids: set[int] = field(default_factory=set)
    property_units: set[str] = field(default_factory=set)
    params: list[Binding] = field(default_factory=list)
    # Some input is not spelled out: read from a graph collection, or beyond the walk's budget.
    unknown: bool = False


def feeds_train_op(project: ProjectIndex, train_file: FileModel, train_site: CallSite,
                   file: FileModel, site: CallSite) -> bool | None:
    """True when the result of ``site`` flows into the train op built at ``train_site``.

    False when the train op's inputs are all spelled out and none leads to it;
    None when an input is read from a graph collection.
    """
    exprs = [(arg.value, train_site.scope) for arg in train_site.node.args]
    return _feeds(project, train_file, exprs, file, site, 0, frozenset())


def _feeds(project: ProjectIndex, here: FileModel, exprs: list[tuple[cst.BaseExpression, Scope]],
           file: FileModel, site: CallSite, depth: int, seen: frozenset[str]) -> bool | None:
    unit = _unit_of(here, exprs[0][1]) if exprs else None
    if unit is None or unit in seen:
        return False
    seen = seen | {unit}
    # Every origin asks about the same few train ops: slice each set of expressions once.
    slices: dict[tuple[int, ...], _Slice] = project.memo("train_input_slices", dict)
    key = tuple(id(expr) for expr, _scope in exprs)
    found = slices.get(key)
    if found is None:
        found = slices[key] = _slice(here, exprs)
    target_unit = file.unit_name(site.scope)
    if file is here and id(site.node) in found.call_ids:
        return True
    if target_unit != unit:
        for call in found.calls:
            if any(target_unit in project.reach(ref.unit) for ref in project.callees_of_site(here, call)):
                return True
        if any(target_unit in project.reach(prop) for prop in found.property_units):
            return True
    unknown = found.unknown
    if found.params and depth < _MAX_CALLER_DEPTH:
        function = found.params[0].scope.function
        assert function is not None
        offset = function.bound_offset
        for caller in project.callers(here.function_unit(function)):
            passed = []
            for binding in found.params:
                index = binding.param_index - offset if binding.param_index is not None else None
                arg = call_argument(caller.site.node, binding.name, index if index is not None and index >= 0 else None)
                if arg is not None:
                    passed.append((arg.value, caller.site.scope))
            if not passed:
                continue
            verdict = _feeds(project, caller.file, passed, file, site, depth + 1, seen)
            if verdict:
                return True
            unknown = unknown or verdict is None
    return None if unknown else False


_PUTTING_METHODS = frozenset({"append", "extend", "insert", "add", "update"})


def _put_into(file: FileModel, binding: Binding, name: str) -> list[tuple[cst.BaseExpression, Scope]]:
    """Arguments of ``name.append(...)`` (``extend``, ``insert``...) in the function that binds ``name``."""
    index: dict[tuple[int, str], list[tuple[cst.BaseExpression, Scope]]] | None = getattr(file, "_put_into", None)
    if index is None:
        index = {}
        for site in file.calls:
            func = site.node.func
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                    and func.attr.value in _PUTTING_METHODS:
                owner = file.enclosing_function(site.scope)
                index.setdefault((id(owner), func.value.value), []).extend(
                    (arg.value, site.scope) for arg in site.node.args)
        file._put_into = index  # type: ignore[attr-defined]
    return index.get((id(file.enclosing_function(binding.scope)), name), [])


def _added_in_place(file: FileModel, class_qualname: str, attr: str) -> list[tuple[cst.BaseExpression, Scope]]:
    """What the class's methods add to ``self.<attr>`` in place: ``self.d_loss += penalty`` feeds ``self.d_loss``."""
    index: dict[tuple[str, str], list[tuple[cst.BaseExpression, Scope]]] | None = getattr(file, "_added_in_place", None)
    if index is None:
        index = {}
        for info in file.functions.values():
            if not info.class_qualname or not info.params or not isinstance(info.node, cst.FunctionDef):
                continue
            receiver = info.params[0].name.value
            for node in walk(info.node.body):
                if isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Attribute) \
                        and isinstance(node.target.value, cst.Name) and node.target.value.value == receiver:
                    index.setdefault((info.class_qualname, node.target.attr.value), []).append((node.value, info.scope))
        file._added_in_place = index  # type: ignore[attr-defined]
    return index.get((class_qualname, attr), [])


def _unit_of(file: FileModel, scope: Scope) -> str:
    return file.unit_name(scope)


def _slice(file: FileModel, exprs: list[tuple[cst.BaseExpression, Scope]]) -> _Slice:
    """The calls, property reads and parameters of the unit that ``exprs`` are computed from."""
    out = _Slice()
    function = file.enclosing_function(exprs[0][1]) if exprs else None
    receiver = function.params[0].name.value if function is not None and function.class_qualname \
        and function.params else None
    stack: list[tuple[cst.CSTNode, Scope]] = list(exprs)
    visited: set[int] = set()
    budget = _MAX_NODES
    while stack and budget > 0:
        node, scope = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        budget -= 1
        if isinstance(node, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
            continue  # a callable passed along: what it computes is not this value
        if isinstance(node, cst.Name):
            for binding in file.lookup(node.value, scope):
                if binding.kind == "param":
                    if binding.scope.function is function and binding not in out.params:
                        out.params.append(binding)
                elif binding.kind in ("assign", "with", "loop", "other") and binding.value is not None:
                    stack.append((binding.value, binding.scope))
                    # ``losses = []`` then ``losses.append(tower_loss)``: what is put in the list.
                    stack.extend(_put_into(file, binding, node.value))
            continue
        if isinstance(node, cst.Attribute) and receiver is not None and isinstance(node.value, cst.Name) \
                and node.value.value == receiver and function is not None and function.class_qualname:
            # ``self.loss``: what the class's methods assign to it; ``self.outputs``: a property's result.
            for value, value_scope in file.class_attrs.get(function.class_qualname, {}).get(node.attr.value, []):
                stack.append((value, value_scope))
            stack.extend(_added_in_place(file, function.class_qualname, node.attr.value))
            prop = file.functions.get(f"{function.class_qualname}.{node.attr.value}")
            if prop is not None:
                out.property_units.add(file.function_unit(prop))
            continue
        if isinstance(node, cst.Call):
            call = file.call_by_node.get(id(node))
            if call is not None:
                out.calls.append(call)
                out.call_ids.add(id(node))
                if file.call_names(call) & _COLLECTED_LOSS_NAMES:
                    out.unknown = True
        stack.extend((child, scope) for child in child_nodes(node))
    if stack:
        out.unknown = True
    return out
