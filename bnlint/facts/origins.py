"""Where a value comes from: the expressions an expression may evaluate to.

``origins`` follows a name to the assignments that may reach its use, a
parameter to its default and to what every project call site passes, ``self.x``
to its assignments in the class and its base classes, an element of an
unpacked or subscripted container (a returned tuple included) to that element,
a call of a project function to what it returns, and both arms of
``x if c else y``. What it stops at are the *leaves*: literals,
comprehensions, calls of library functions, arithmetic. ``__init__`` runs
before every other method, so its value of ``self.x`` is only a default when
another method assigns ``self.x`` too.

It is the general form of ``values.constant_origins`` (one assignment per
name, no attributes), for facts that need every value a name may hold.

A name rebound by augmented assignment (``axis += rank``) and a ``self.x``
written through a subscript or ``+=`` anywhere in its class are changed in
ways the leaves do not show: their origins are unknown (None).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from bnlint.facts.values import literal
from bnlint.semantic import Binding, FileModel, Scope, expression_in_scope, walk

_MAX_DEPTH = 10
# More leaves than this and the value is not one thing the code states.
_MAX_LEAVES = 32


@dataclass(frozen=True)
class Origin:
    """A leaf expression a value may come from, with the file and scope it is evaluated in."""

    file: FileModel
    expr: cst.BaseExpression
    scope: Scope


def origins(file: FileModel, expr: cst.BaseExpression, scope: Scope, order: int | None = None,
            blocks: tuple[int, ...] | None = None, into_calls: bool = True) -> list[Origin] | None:
    """The leaves ``expr`` may evaluate to; None when some path cannot be followed.

    With ``order`` (and ``blocks``, the use's enclosing compound statements), a
    name of the use's own scope takes only the assignments that may reach that
    position; without, every assignment of the name counts. Without
    ``into_calls``, a call of a project function is a leaf itself (its
    arguments say more about this call than its returns, which serve every caller).
    """
    found: list[Origin] = []
    if not _Follower(into_calls).follow(file, expr, scope, order, blocks, found, frozenset(), 0):
        return None
    unique = list({(id(origin.file), id(origin.expr)): origin for origin in found}.values())
    return unique if len(unique) <= _MAX_LEAVES else None


def constant_values(file: FileModel, expr: cst.BaseExpression, scope: Scope, order: int | None = None,
                    blocks: tuple[int, ...] | None = None) -> list[tuple[object, Origin]] | None:
    """Every literal ``expr`` may take, each with where it is written; None when any leaf is not a literal."""
    leaves = origins(file, expr, scope, order, blocks)
    if leaves is None:
        return None
    out = []
    for leaf in leaves:
        value = literal(leaf.expr)
        if value is ...:
            return None
        out.append((value, leaf))
    return out


def names_bound_to(origin: Origin) -> list[str]:
    """Names of ``origin``'s scope assigned exactly the leaf expression (``shape = [1] * rank``)."""
    return [name for name, bindings in origin.scope.bindings.items()
            if any(binding.value is origin.expr and binding.kind == "assign" and not binding.unpack
                   for binding in bindings)]


class _Follower:
    """One walk of ``origins``; ``into_calls`` says whether project calls are followed into their returns."""

    def __init__(self, into_calls: bool) -> None:
        self.into_calls = into_calls

    def follow(self, file: FileModel, expr: cst.BaseExpression, scope: Scope, order: int | None,
               blocks: tuple[int, ...] | None, out: list[Origin], seen: frozenset[int], depth: int) -> bool:
        """Add the leaves of ``expr`` to ``out``; False when a path is unknown."""
        if depth > _MAX_DEPTH or len(out) > _MAX_LEAVES:
            return False
        key = expression_in_scope(expr, scope)
        if key in seen:
            return True  # a cycle (``self.v = update(self.v)``) adds nothing new
        seen = seen | {key}
        if isinstance(expr, cst.IfExp):
            return all(self.follow(file, arm, scope, None, None, out, seen, depth + 1)
                       for arm in (expr.body, expr.orelse))
        if isinstance(expr, cst.Name) and expr.value not in ("True", "False", "None"):
            return self._name(file, expr, scope, order, blocks, out, seen, depth)
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            attribute = _self_attribute(file, expr, scope)
            if attribute is not None:
                assigned = _attribute_assignments(file, *attribute)
                return assigned is not None and all(
                    self.follow(model, value, value_scope, None, None, out, seen, depth + 1)
                    for model, value, value_scope in assigned)
        if isinstance(expr, cst.Subscript):
            index = _literal_index(expr)
            if index is not None and _is_exact(expr.value, index):
                elements = file.element_expressions(expr.value, scope, index)
                if elements:
                    return all(self.follow(model, element, element_scope, None, None, out, seen, depth + 1)
                               for model, element, element_scope in elements)
        if isinstance(expr, cst.Call) and self.into_calls and file.linker is not None:
            returned = _project_returns(file, expr, scope)
            if returned:
                return all(self.follow(model, value, value_scope, None, None, out, seen, depth + 1)
                           for model, value, value_scope in returned)
        out.append(Origin(file, expr, scope))
        return True

    def _name(self, file: FileModel, name: cst.Name, scope: Scope, order: int | None,
              blocks: tuple[int, ...] | None, out: list[Origin], seen: frozenset[int], depth: int) -> bool:
        bindings = file.lookup(name.value, scope)
        if not bindings:
            return False
        if any(binding.kind not in ("assign", "param") for binding in bindings):
            return False  # augmented assignment, loop variable, import, def: not a stated value
        if order is not None and bindings[0].scope is _frame(scope):
            bindings = _reaching(bindings, order, blocks)
            if not bindings:
                return False
        for binding in bindings:
            if binding.kind == "param":
                if not self._parameter(file, binding, out, seen, depth):
                    return False
                continue
            if binding.value is None:
                return False
            for model, value, value_scope in file.bound_expressions(binding):
                if not self.follow(model, value, value_scope, None, None, out, seen, depth + 1):
                    return False
        return True

    def _parameter(self, file: FileModel, binding: Binding, out: list[Origin], seen: frozenset[int],
                   depth: int) -> bool:
        """A parameter: what every project call site passes and, where a call leaves it out, its default."""
        if file.linker is None:
            return False
        arguments = file.linker.passed_arguments(file, binding)
        if arguments is None or arguments.unpacked:
            return False
        for caller, value, caller_scope in arguments.passed:
            if not self.follow(caller, value, caller_scope, None, None, out, seen, depth + 1):
                return False
        if arguments.omitted or not arguments.calls:
            if binding.value is None:
                return False
            default_scope = binding.scope.parent or file.module_scope
            return self.follow(file, binding.value, default_scope, None, None, out, seen, depth + 1)
        return True


def _is_exact(container: cst.BaseExpression, index: int) -> bool:
    # ``element_expressions`` falls back to every element when it cannot pick the index-th:
    # a literal container with a starred element before it is such a case.
    if isinstance(container, (cst.List, cst.Tuple)):
        return index < len(container.elements) and not any(
            isinstance(element, cst.StarredElement) for element in container.elements[: index + 1])
    return True


def _frame(scope: Scope) -> Scope:
    """The scope whose names a comprehension reads (its own are only the loop variables)."""
    while scope.kind == "comprehension" and scope.parent is not None:
        scope = scope.parent
    return scope


def _reaching(bindings: list[Binding], order: int, blocks: tuple[int, ...] | None) -> list[Binding]:
    """The assignments before ``order`` that may be the last one run: back to one that surely ran."""
    before = sorted((binding for binding in bindings if binding.order < order), key=lambda b: b.order, reverse=True)
    out = []
    for binding in before:
        out.append(binding)
        if binding.kind == "param" or (blocks is not None and blocks[: len(binding.blocks)] == binding.blocks):
            break
    return out


def _self_attribute(file: FileModel, expr: cst.Attribute, scope: Scope) -> tuple[str, str] | None:
    """(class qualname, attribute) for ``self.attr`` read in a method."""
    assert isinstance(expr.value, cst.Name)
    function = file.enclosing_function(scope)
    if function is None or not function.class_qualname or not function.params:
        return None
    if function.params[0].name.value != expr.value.value:
        return None
    return function.class_qualname, expr.attr.value


def _attribute_assignments(file: FileModel, class_qualname: str,
                           attr: str) -> list[tuple[FileModel, cst.BaseExpression, Scope]] | None:
    """What ``self.attr`` may hold: its assignments in the class and its project base classes.

    ``__init__`` runs before every other method, so an attribute that another
    method assigns too holds that method's value when read later: ``__init__``'s
    is only the default. None when the attribute is also changed in place.
    """
    classes: list[tuple[FileModel, str]] = [(file, class_qualname)]
    if file.linker is not None:
        for name in file.linker.mro(file.full_name(class_qualname), near=file)[1:]:
            found = file.linker.class_named(name, near=file)
            if found is not None:
                classes.append(found)
    assigned: list[tuple[FileModel, cst.BaseExpression, Scope]] = []
    for model, qualname in classes:
        class_scope = model.class_scopes.get(qualname)
        if class_scope is not None and _changed_in_place(class_scope.node, attr):
            return None
        assigned.extend((model, value, value_scope)
                        for value, value_scope in model.class_attrs.get(qualname, {}).get(attr, []))
    later = [item for item in assigned if _method_name(item[0], item[2]) != "__init__"]
    return later or assigned


def _method_name(file: FileModel, scope: Scope) -> str | None:
    function = file.enclosing_function(scope)
    return function.name if function is not None else None


def _changed_in_place(class_node: cst.CSTNode, attr: str) -> bool:
    """``self.attr += n``, ``self.attr[i] = v`` or ``self.attr.append(v)`` somewhere in the class."""
    for node in walk(class_node):
        if isinstance(node, cst.AugAssign) and _is_attribute(node.target, attr):
            return True
        if isinstance(node, cst.Assign):
            for target in node.targets:
                if isinstance(target.target, cst.Subscript) and _is_attribute(target.target.value, attr):
                    return True
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and \
                node.func.attr.value in _MUTATING_METHODS and _is_attribute(node.func.value, attr):
            return True
    return False


_MUTATING_METHODS = frozenset({"append", "extend", "insert", "remove", "pop", "sort", "reverse", "clear"})


def _is_attribute(expr: cst.BaseExpression, attr: str) -> bool:
    return isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.attr.value == attr


def _project_returns(file: FileModel, call: cst.Call, scope: Scope) -> list[tuple[FileModel, cst.BaseExpression, Scope]]:
    """What a call of a project function returns (each ``return`` value), empty when it is not one."""
    out = []
    for name in file.resolve(call.func, scope):
        found = file.linker.called_function(name, file)
        if found is None:
            continue
        for ret in found.info.returns:
            if ret.value is None:
                continue
            out.append((found.file, ret.value, found.info.scope))
    return out


def _literal_index(expr: cst.Subscript) -> int | None:
    if len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
        return None
    value = literal(expr.slice[0].slice.value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
