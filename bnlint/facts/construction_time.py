"""Values fixed when a layer is built: ``self`` attributes set only by its constructor.

``self.is_training = is_training`` in ``__init__`` (or ``build``, which Keras
runs once, on the first call) gives every later ``call`` the value the layer
was constructed with. An expression over such attributes (``not self.freeze``,
``self.is_training and self.use_bn``) is as fixed as they are. This module
says whether an expression is of that kind and which values it may take.

An attribute is construction-time only when every assignment bnlint can see
says so, conservatively:

- every ``self.attr = ...`` in the class, its linted base classes and its
  linted subclasses is in ``__init__`` or ``build`` (a ``set_training(self, v)``
  method assigning it is a run-time switch);
- nothing else in the linted project assigns an attribute of that name on any
  other object (``model.head.is_training = False``) or through ``setattr``:
  bnlint cannot tell which instance that is, so it may be this one;
- each assigned value is a literal, a parameter of the constructor, an
  attribute or item of one (``config.is_training``), another construction-time
  attribute, or ``not``/``and``/``or``/comparisons/``x if c else y`` of those;
  anything else (a call, a global, a tensor) is not known to be fixed;
- no linted constructor call passes that parameter a TensorFlow call's result
  (a placeholder, a variable, ``learning_phase()``: a value that changes while
  the graph runs), nor a parameter of the enclosing ``call`` (a layer built
  inside ``call`` from that call's arguments).

Keras's own ``trainable`` attribute is never construction-time: Keras and its
users set it at run time (``layer.trainable = False`` to freeze). Attributes
set through ``setattr`` with a computed name (``setattr(self, key, value)``
over a config) are not followed.

The values an expression may take tell a class's own constant apart from a
choice made where the layer is built. Literals the class assigns itself
(``self.use_moving_statistics = True``) are values; a constructor argument is
``UNKNOWN`` whatever its callers pass (each caller chooses), except when it is
``None`` on every path, which Keras reads as "the mode of the call".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from bnlint import registry
from bnlint.facts.values import Value, constant_origins, literal
from bnlint.project import ProjectIndex
from bnlint.semantic import INSTANCE, FileModel, FunctionInfo, Scope, child_nodes, iter_names

# Methods that run once, when the layer is built, before the calls that read the attribute.
CONSTRUCTOR_METHODS = frozenset({"__init__", "build"})
# How many attributes and locals deep an expression is followed (``self.a`` set from ``self.b`` ...).
_MAX_DEPTH = 6


class _Unknown:
    """A construction-time value bnlint cannot compute (``config.is_training``)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class ConstructionTime:
    """An expression fixed when its layer is built."""

    # Every value it may take (literals, or ``UNKNOWN``).
    values: frozenset[object]
    # The construction-time attributes it reads, in order of appearance, and where the first is assigned.
    attributes: tuple[str, ...]
    assigned: tuple[FileModel, cst.CSTNode]

    def constant_truth(self) -> bool | None:
        """True/False when every value other than None has that truth; None when it depends on construction."""
        if UNKNOWN in self.values:
            return None
        truths = {bool(value) for value in self.values if value is not None}
        return truths.pop() if len(truths) == 1 else None

    def follows_call_context(self) -> bool:
        """Every value is None: Keras then takes the mode of the enclosing call, as if nothing was passed."""
        return all(value is None for value in self.values)


def construction_time(project: ProjectIndex, file: FileModel, expr: cst.BaseExpression,
                      method: FunctionInfo) -> ConstructionTime | None:
    """``expr``, written in ``method`` of a class, is fixed when the instance is built; None when not known.

    ``expr`` must read at least one ``self`` attribute: a bare literal is a
    constant, not a construction-time value.
    """
    if not method.class_qualname or not method.params:
        return None
    judge = _Judge(project, file, method.class_qualname, method.params[0].name.value)
    values = judge.use_values(expr, method.scope, 0)
    if values is None or not judge.attributes:
        return None
    assert judge.first_assignment is not None
    return ConstructionTime(frozenset(values), tuple(judge.attributes), judge.first_assignment)


class _Judge:
    """Evaluates one expression of a method of ``class_qualname`` (whose ``self`` is named ``receiver``)."""

    def __init__(self, project: ProjectIndex, file: FileModel, class_qualname: str, receiver: str) -> None:
        self.project = project
        self.file = file
        self.class_qualname = class_qualname
        self.receiver = receiver
        self.attributes: list[str] = []
        self.first_assignment: tuple[FileModel, cst.CSTNode] | None = None
        self._attribute_values: dict[str, set[object] | None] = {}

    # --- where the expression is used (a method of the class) ----------------------------------

    def use_values(self, expr: cst.BaseExpression, scope: Scope, depth: int) -> set[object] | None:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) \
                and expr.value.value == self.receiver and self._is_receiver(expr.value, scope):
            return self.attribute_values(expr.attr.value, depth + 1)
        if isinstance(expr, cst.Name):
            found = literal(expr)
            if found is not ...:
                return {found}
            # A local of the method assigned once from construction-time values (``flag = not self.freeze``).
            bindings = self.file.lookup(expr.value, scope)
            if len(bindings) != 1 or bindings[0].kind != "assign" or bindings[0].unpack \
                    or bindings[0].value is None or bindings[0].scope is not scope:
                return None
            return self.use_values(bindings[0].value, scope, depth + 1)
        return _combine(expr, lambda inner: self.use_values(inner, scope, depth + 1))

    def _is_receiver(self, name: cst.Name, scope: Scope) -> bool:
        bindings = self.file.lookup(name.value, scope)
        return len(bindings) == 1 and bindings[0].kind == "param" and bindings[0].param_index == 0

    # --- the attribute, over every class that may assign it ------------------------------------

    def attribute_values(self, attr: str, depth: int) -> set[object] | None:
        if attr in self._attribute_values:
            return self._attribute_values[attr]  # a cycle (``self.a = self.b``; ``self.b = self.a``) ends here
        self._attribute_values[attr] = None
        found = self._attribute_values_uncached(attr, depth)
        self._attribute_values[attr] = found
        if found is not None and attr not in self.attributes:
            self.attributes.append(attr)
        return found

    def _attribute_values_uncached(self, attr: str, depth: int) -> set[object] | None:
        if attr == registry.TRAINABLE_ATTRIBUTE or depth > _MAX_DEPTH:
            return None
        related = _related_classes(self.project, self.file, self.class_qualname)
        if _assigned_at_run_time(self.project, attr, {(id(model), qualname) for _name, model, qualname in related}):
            return None
        out: set[object] = set()
        seen = False
        for _name, model, qualname in related:
            for value, scope in model.class_attrs.get(qualname, {}).get(attr, []):
                function = model.enclosing_function(scope)
                if function is None or function.name not in CONSTRUCTOR_METHODS:
                    return None
                found = _Constructor(self, model, function).values(value, scope, depth + 1)
                if found is None:
                    return None
                if self.first_assignment is None:
                    self.first_assignment = (model, value)
                seen = True
                out |= found
        return out if seen else None


class _Constructor:
    """Evaluates a value assigned in a constructor method (``__init__`` or ``build``)."""

    def __init__(self, judge: _Judge, file: FileModel, function: FunctionInfo) -> None:
        self.judge = judge
        self.file = file
        self.function = function
        self.receiver = function.params[0].name.value if function.params else ""

    def values(self, expr: cst.BaseExpression, scope: Scope, depth: int) -> set[object] | None:
        if depth > _MAX_DEPTH:
            return None
        found = literal(expr)
        if found is not ... and not isinstance(found, list):
            return {found}
        if isinstance(expr, cst.Name):
            return self._name_values(expr, scope, depth)
        if isinstance(expr, (cst.Attribute, cst.Subscript)):
            root = _chain_root(expr)
            if root is None:
                return None
            if isinstance(expr, cst.Attribute) and root is expr.value and root.value == self.receiver:
                # ``self.other``: another attribute of the instance, judged the same way.
                return self.judge.attribute_values(expr.attr.value, depth + 1)
            if root.value == self.receiver:
                return None
            # ``config.is_training``, ``params["training"]``: read from a constructor argument.
            return {UNKNOWN} if self._name_values(root, scope, depth) is not None else None
        return _combine(expr, lambda inner: self.values(inner, scope, depth + 1))

    def _name_values(self, name: cst.Name, scope: Scope, depth: int) -> set[object] | None:
        bindings = self.file.lookup(name.value, scope)
        if not bindings or any(binding.scope.function is not self.function for binding in bindings):
            return None  # a global or a closure variable: not known to be fixed
        out: set[object] = set()
        for binding in bindings:
            if binding.kind == "param" and binding.param_index:
                found = self._parameter_values(binding, name, scope)
            elif binding.kind == "assign" and binding.value is not None and not binding.unpack:
                found = self.values(binding.value, binding.scope, depth + 1)
            else:
                found = None
            if found is None:
                return None
            out |= found
        return out

    def _parameter_values(self, binding, name: cst.Name, scope: Scope) -> set[object] | None:
        linker = self.file.linker
        passed = linker.passed_arguments(self.file, binding) if linker is not None else None
        if passed is None or not passed.calls:
            # Built only by code bnlint does not see: any value may come in, the default among them.
            return {UNKNOWN}
        for caller, expr, caller_scope in passed.passed:
            if _changes_at_run_time(caller, expr, caller_scope):
                return None
        # Whatever the callers pass, the value is the constructing code's choice, not the class's own
        # constant: only ``None`` on every path (Keras then uses the call's mode) is told apart.
        origins = constant_origins(Value(name, self.file, scope))
        if origins is not None and all(value is None for value, _where in origins):
            return {None}
        return {UNKNOWN}


def _combine(expr: cst.BaseExpression, values) -> set[object] | None:
    """``not``/``and``/``or``/comparisons/conditional expressions of values, as Python evaluates them."""
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        inner = values(expr.expression)
        return None if inner is None else {UNKNOWN if value is UNKNOWN else not value for value in inner}
    if isinstance(expr, cst.BooleanOperation):
        left, right = values(expr.left), values(expr.right)
        if left is None or right is None:
            return None
        out: set[object] = set()
        is_and = isinstance(expr.operator, cst.And)
        for value in left:
            if value is UNKNOWN:
                out |= {UNKNOWN} | right
            elif bool(value) == is_and:
                out |= right  # ``True and x`` / ``False or x`` is ``x``
            else:
                out.add(value)
        return out
    if isinstance(expr, cst.Comparison):
        parts = [expr.left, *(target.comparator for target in expr.comparisons)]
        return None if any(values(part) is None for part in parts) else {UNKNOWN}
    if isinstance(expr, cst.IfExp):
        test, body, orelse = values(expr.test), values(expr.body), values(expr.orelse)
        if test is None or body is None or orelse is None:
            return None
        return body | orelse
    return None


def _chain_root(expr: cst.BaseExpression) -> cst.Name | None:
    """``config`` of ``config.model.is_training`` or ``params["training"]``; None for other shapes."""
    while isinstance(expr, (cst.Attribute, cst.Subscript)):
        expr = expr.value
    return expr if isinstance(expr, cst.Name) else None


def _changes_at_run_time(file: FileModel, expr: cst.BaseExpression, scope: Scope) -> bool:
    """A constructor argument that is a tensor or variable, or a run-time argument of a ``call``."""
    if any(name.startswith("tensorflow.") and name.endswith(INSTANCE) for name in file.resolve(expr, scope)):
        return True
    for name in iter_names(expr):
        for binding in file.lookup(name.value, scope):
            function = binding.scope.function
            if binding.kind == "param" and function is not None and function.name == registry.LAYER_CALL_METHOD:
                return True
    return False


def _related_classes(project: ProjectIndex, file: FileModel, class_qualname: str) -> list[tuple[str, FileModel, str]]:
    """The class, its linted ancestors and its linted subclasses: (full name, file, qualname) each."""
    full_name = file.full_name(class_qualname)
    out = [(full_name, file, class_qualname)]
    linker = project.linker
    if linker is None:
        return out
    for name in [*linker.mro(full_name, file)[1:], *linker.subclasses(full_name)]:
        found = linker.class_named(name, file)
        if found is not None and all(name != known for known, _model, _qualname in out):
            out.append((name, found[0], found[1]))
    return out


def _assigned_at_run_time(project: ProjectIndex, attr: str, related: set[tuple[int, str]]) -> bool:
    """Some assignment of ``attr`` may change it after construction (see the module docstring).

    ``related`` holds the classes whose own methods count, as (id of their file's model, qualname):
    two programs linted together may each have a ``heads.FusionHead``.
    """
    for model, assignment in _assignments_of(project, attr):
        if not assignment.on_self:
            return True
        if (id(model), assignment.class_qualname) in related and assignment.function not in CONSTRUCTOR_METHODS:
            return True
    return False


@dataclass(frozen=True)
class _Assignment:
    """``receiver.attr = ...`` (or ``+=``, a loop or ``with`` target, ``setattr(receiver, "attr", ...)``)."""

    attr: str
    on_self: bool  # the receiver is the enclosing method's own first parameter
    function: str | None  # the enclosing function's name (None at module or class level)
    class_qualname: str | None


def _assignments_of(project: ProjectIndex, attr: str) -> list[tuple[FileModel, _Assignment]]:
    """Every assignment of an attribute named ``attr`` in the project (computed once per name)."""
    def compute() -> list[tuple[FileModel, _Assignment]]:
        mention = re.compile(rf"\b{re.escape(attr)}\b")
        return [(model, assignment) for model in project.files if model.mentions(mention)
                for assignment in _attribute_assignments(model) if assignment.attr == attr]
    return project.memo(f"construction_time.assignments:{attr}", compute)


def _attribute_assignments(model: FileModel) -> list[_Assignment]:
    """Every attribute assignment of a file (cached on the model)."""
    cached = getattr(model, "_attribute_assignments", None)
    if cached is not None:
        return cached
    out: list[_Assignment] = []
    for function in [None, *model.functions.values()]:
        root = model.module if function is None else function.node
        receiver = function.params[0].name.value if function is not None and function.class_qualname \
            and function.params else None
        name = function.name if function is not None else None
        class_qualname = function.class_qualname if function is not None else None
        for node in _own_nodes(root):
            for target in _assigned_targets(node):
                if isinstance(target, cst.Attribute):
                    on_self = isinstance(target.value, cst.Name) and target.value.value == receiver
                    out.append(_Assignment(target.attr.value, on_self, name, class_qualname))
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "setattr" \
                    and len(node.args) > 1:
                # A computed attribute name (``setattr(self, key, value)`` over a config) is not followed.
                set_name = literal(node.args[1].value)
                if isinstance(set_name, str):
                    on_self = isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == receiver
                    out.append(_Assignment(set_name, on_self, name, class_qualname))
    model._attribute_assignments = out  # type: ignore[attr-defined]
    return out


def _own_nodes(root: cst.CSTNode):
    """Nodes of a function (or the module) outside the ``def``s nested in it (each is its own function)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in child_nodes(node) if not isinstance(child, cst.FunctionDef))


def _assigned_targets(node: cst.CSTNode) -> list[cst.BaseExpression]:
    if isinstance(node, cst.Assign):
        return [inner for target in node.targets for inner in _flatten(target.target)]
    if isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor)):
        return _flatten(node.target)
    if isinstance(node, cst.WithItem) and node.asname is not None:
        return _flatten(node.asname.name)
    return []


def _flatten(target: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return [inner for element in target.elements for inner in _flatten(element.value)]
    if isinstance(target, cst.StarredElement):
        return _flatten(target.value)
    return [target]
