"""``tf.train.ExponentialMovingAverage`` objects and what the code does with them.

An EMA object creates its shadow variables in ``apply(vars)``, which returns
the op that updates them; ``average(v)`` returns the shadow variable of ``v``
(``None`` before ``apply([v])`` was built) and ``variables_to_restore()`` maps
shadow-variable names for a ``Saver`` that restores averages for inference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from bnlint import registry
from bnlint.semantic import CallSite, FileModel, child_nodes


@dataclass(eq=False)
class EmaObject:
    """One ``ExponentialMovingAverage(...)`` construction and the method calls made on it in its file."""

    file: FileModel
    constructor: CallSite
    # The local name it is assigned to ("" when used inline: ``EMA(0.9).apply(...)``).
    name: str
    applies: list[CallSite] = field(default_factory=list)
    averages: list[CallSite] = field(default_factory=list)
    restores: list[CallSite] = field(default_factory=list)
    # The name is used in some other way (passed to a call, stored, returned): we cannot follow it.
    escapes: bool = False
    # ``self.<attribute>`` of instances of this class, when the constructor is assigned there.
    attribute: tuple[str, str] | None = None


def is_ema_constructor(file: FileModel, site: CallSite) -> bool:
    """The call builds an ``ExponentialMovingAverage``."""
    return bool(file.call_names(site) & registry.EMA_CLASS_NAMES)


def ema_objects(file: FileModel) -> list[EmaObject]:
    """Every EMA object constructed in a file, with its ``apply``/``average``/restore calls."""
    cached = getattr(file, "_ema_objects", None)
    if cached is None:
        cached = _collect(file)
        file._ema_objects = cached  # type: ignore[attr-defined]
    return cached


def _collect(file: FileModel) -> list[EmaObject]:
    objects: dict[int, EmaObject] = {}
    for site in file.calls:
        if is_ema_constructor(file, site):
            name = site.assigned_to[0] if len(site.assigned_to) == 1 else ""
            objects[id(site.node)] = EmaObject(file, site, name, attribute=_self_attribute(file, site))
    if not objects:
        return []
    for site in file.calls:
        func = site.node.func
        if not isinstance(func, cst.Attribute):
            continue
        owner = _owner(file, func.value, site, objects)
        if owner is None:
            continue
        method = func.attr.value
        if method == registry.EMA_APPLY_METHOD:
            owner.applies.append(site)
        elif method in registry.EMA_AVERAGE_METHODS:
            owner.averages.append(site)
        elif method in registry.EMA_RESTORE_METHODS:
            owner.restores.append(site)
    _mark_escapes(file, objects)
    return list(objects.values())


def _self_attribute(file: FileModel, site: CallSite) -> tuple[str, str] | None:
    """``self.ema = tf.train.ExponentialMovingAverage(...)`` in a method: (class, ``ema``)."""
    function = file.enclosing_function(site.scope)
    target = _assigned_attribute(site)
    if target is None or function is None or not function.class_qualname:
        return None
    return function.class_qualname, target.attr.value


def _assigned_attribute(site: CallSite) -> cst.Attribute | None:
    """The ``self.x`` a call's result is assigned to, if that is its statement."""
    statement = site.statement
    if not isinstance(statement, cst.SimpleStatementLine):
        return None
    for small in statement.body:
        if isinstance(small, cst.Assign) and small.value is site.node and len(small.targets) == 1:
            target = small.targets[0].target
            if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
                    and target.value.value == "self":
                return target
    return None


def _self_receiver(file: FileModel, receiver: cst.BaseExpression, site: CallSite) -> tuple[str, str] | None:
    """``self.ema`` in a method of a class: (class, ``ema``)."""
    if not (isinstance(receiver, cst.Attribute) and isinstance(receiver.value, cst.Name)
            and receiver.value.value == "self"):
        return None
    function = file.enclosing_function(site.scope)
    if function is None or not function.class_qualname:
        return None
    return function.class_qualname, receiver.attr.value


def _owner(file: FileModel, receiver: cst.BaseExpression, site: CallSite,
           objects: dict[int, EmaObject]) -> EmaObject | None:
    if isinstance(receiver, cst.Call):
        return objects.get(id(receiver))
    attribute = _self_receiver(file, receiver, site)
    if attribute is not None:
        owners = [ema for ema in objects.values() if ema.attribute == attribute]
        return owners[0] if len(owners) == 1 else None
    if isinstance(receiver, cst.Name):
        bindings = file.lookup(receiver.value, site.scope)
        owners = {id(b.value) for b in bindings if b.kind == "assign" and not b.unpack}
        if len(bindings) == 1 and len(owners) == 1:
            return objects.get(owners.pop())
    return None


def _mark_escapes(file: FileModel, objects: dict[int, EmaObject]) -> None:
    """An EMA name (or ``self`` attribute) used other than as ``name.method(...)`` may be applied elsewhere."""
    _mark_attribute_escapes(file, objects)
    by_name = {ema.name: ema for ema in objects.values() if ema.name}
    if not by_name:
        return
    method_receivers: set[int] = set()
    for site in file.calls:
        func = site.node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            method_receivers.add(id(func.value))
    for node in _all_names(file.module):
        ema = by_name.get(node.value)
        if ema is None or id(node) in method_receivers:
            continue
        ema.escapes = True


def _all_names(module: cst.Module) -> list[cst.Name]:
    """Every ``Name`` used in the module, except plain assignment targets, def/class names and keywords."""
    out: list[cst.Name] = []
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            out.append(node)
            continue
        if isinstance(node, cst.Attribute):
            stack.append(node.value)
            continue
        if isinstance(node, (cst.Assign,)):
            # Skip plain name targets: binding the EMA is not a use of it.
            stack.append(node.value)
            for target in node.targets:
                if not isinstance(target.target, cst.Name):
                    stack.append(target.target)
            continue
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            stack.append(node.body)
            continue
        if isinstance(node, cst.Arg) and node.keyword is not None:
            stack.append(node.value)
            continue
        if isinstance(node, cst.Param):
            if node.default is not None:
                stack.append(node.default)
            continue
        stack.extend(child_nodes(node))
    return out


def _mark_attribute_escapes(file: FileModel, objects: dict[int, EmaObject]) -> None:
    """``self.ema`` read other than as ``self.ema.method(...)`` (passed on, returned, stored) escapes."""
    by_attribute = {ema.attribute[1]: ema for ema in objects.values() if ema.attribute is not None}
    if not by_attribute:
        return
    receivers: set[int] = set()
    for site in file.calls:
        if isinstance(site.node.func, cst.Attribute):
            receivers.add(id(site.node.func.value))
    targets = {id(target) for ema in objects.values() if (target := _assigned_attribute(ema.constructor)) is not None}
    stack: list[cst.CSTNode] = [file.module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self" \
                and node.attr.value in by_attribute and id(node) not in receivers and id(node) not in targets:
            by_attribute[node.attr.value].escapes = True
        stack.extend(child_nodes(node))
