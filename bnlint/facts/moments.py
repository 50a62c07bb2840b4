"""What a ``tf.nn.moments`` call computes and where its mean and variance go.

Three facts, each from the value flow (``bnlint.facts.origins``):

- how the axes are built when they are not a literal: ``[i for i in range(n)
  if i != k]`` (or a loop appending to a list under ``if i != k``) keeps every
  index ``range`` yields except the ``k`` compared away;
- whether the statistics keep the reduced dimensions (``keepdims``, TF1's
  ``keep_dims``);
- which tensors the statistics meet: the moving statistic an
  ``assign_moving_average`` or ``assign`` updates with them, the offset and
  scale of the ``tf.nn.batch_normalization`` they feed; and the *layout* of
  such a tensor where the code creates it with a stated shape
  (``get_variable(..., shape=[1, C, 1, 1])``, ``params_shape = [1] * rank``
  then ``params_shape[axis] = C``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import libcst as cst

from bnlint import registry
from bnlint.facts.origins import Origin, constant_values, names_bound_to, origins
from bnlint.facts.values import literal
from bnlint.semantic import Binding, CallSite, FileModel, Scope, call_argument, walk

# An axis index that names the last axis (``-1``, ``len(shape) - 1``, ``x.ndim - 1``).
LAST = "last"
# Calls whose result has the shape given by an argument: name -> (parameter, position).
_SHAPED_BY_ARGUMENT = {
    "tensorflow.get_variable": ("shape", 1),
    "tensorflow.zeros": ("shape", 0),
    "tensorflow.ones": ("shape", 0),
    "tensorflow.fill": ("dims", 0),
    "tensorflow.reshape": ("shape", 1),
    "tensorflow.random.normal": ("shape", 0),
    "tensorflow.random_normal": ("shape", 0),
    "tensorflow.random.truncated_normal": ("shape", 0),
    "tensorflow.truncated_normal": ("shape", 0),
}
# ``shape=`` of these is one example's shape; the tensor has a batch axis in front.
_BATCHED_SHAPE = frozenset({"tensorflow.keras.Input", "tensorflow.keras.layers.Input",
                            "tensorflow.keras.layers.InputLayer"})
_RANK_ATTRIBUTES = frozenset({"ndim", "ndims", "rank"})
_KEEPDIMS = ("keepdims", "keep_dims")
_TWO_STATISTICS = frozenset({"tensorflow.nn.moments", "tensorflow.nn.weighted_moments"})


# --- axes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilteredRange:
    """Axes built as ``[i for i in range(n) if i != k]``: every index of ``range`` but the ``k`` compared away."""

    origin: Origin  # the comprehension, or the list a loop appends to
    excluded: tuple[cst.BaseExpression, ...]  # each ``k``, evaluated in ``scope``
    scope: Scope
    position: Binding | None  # the loop variable's binding: where ``k`` is read


def filtered_ranges(leaves: list[Origin]) -> list[FilteredRange]:
    """The leaves of an axes value that are filtered ranges."""
    out = []
    for leaf in leaves:
        found = _comprehension_range(leaf) or _appended_range(leaf)
        if found is not None:
            out.append(found)
    return out


def _comprehension_range(leaf: Origin) -> FilteredRange | None:
    expr = leaf.expr
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("list", "tuple") \
            and len(expr.args) == 1:
        expr = expr.args[0].value
    if not isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
        return None
    clause = expr.for_in
    if clause.inner_for_in is not None or not isinstance(clause.target, cst.Name):
        return None
    index = clause.target.value
    if not isinstance(expr.elt, cst.Name) or expr.elt.value != index:
        return None
    if not _yields_no_negative(clause.iter) or not clause.ifs:
        return None
    excluded: list[cst.BaseExpression] = []
    for condition in clause.ifs:
        compared = _excluded_by(condition.test, index)
        if compared is None:
            return None
        excluded.extend(compared)
    scope = leaf.file.scope_of(expr) or leaf.scope
    position = next(iter(scope.bindings.get(index, [])), None)
    return FilteredRange(leaf, tuple(excluded), scope, position) if excluded else None


def _appended_range(leaf: Origin) -> FilteredRange | None:
    """``axes = []`` then ``for i in range(n): if i != k: axes.append(i)`` in the same function."""
    if not isinstance(leaf.expr, cst.List) or leaf.expr.elements:
        return None
    names = names_bound_to(leaf)
    function = leaf.file.enclosing_function(leaf.scope)
    if len(names) != 1 or function is None:
        return None
    appends = [node for node in walk(function.node) if isinstance(node, cst.Call) and
               isinstance(node.func, cst.Attribute) and _is_name(node.func.value, names[0])]
    if len(appends) != 1:
        return None  # filled (or changed) in more than one place
    found = []
    for node in walk(function.node):
        if not isinstance(node, cst.For) or not isinstance(node.target, cst.Name) or \
                not _yields_no_negative(node.iter):
            continue
        for inner in walk(node.body):
            if isinstance(inner, cst.If) and _appends(inner.body, names[0], node.target.value) \
                    and inner.orelse is None:
                compared = _excluded_by(inner.test, node.target.value)
                loop = [binding for binding in leaf.scope.bindings.get(node.target.value, [])
                        if binding.node is node]
                if compared:
                    found.append(FilteredRange(leaf, tuple(compared), leaf.scope, next(iter(loop), None)))
    return found[0] if len(found) == 1 else None


def _appends(body: cst.CSTNode, container: str, value: str) -> bool:
    for node in walk(body):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "append" \
                and isinstance(node.func.value, cst.Name) and node.func.value.value == container \
                and len(node.args) == 1 and isinstance(node.args[0].value, cst.Name) \
                and node.args[0].value.value == value:
            return True
    return False


def _yields_no_negative(expr: cst.BaseExpression) -> bool:
    """``range(n)``, or ``range(start, n)`` with a literal ``start`` >= 0: no index it yields is negative."""
    if not isinstance(expr, cst.Call) or not isinstance(expr.func, cst.Name) or expr.func.value != "range":
        return False
    if any(arg.keyword is not None or arg.star for arg in expr.args):
        return False
    if len(expr.args) == 1:
        return True
    start = literal(expr.args[0].value) if len(expr.args) == 2 else None
    return isinstance(start, int) and not isinstance(start, bool) and start >= 0


def _excluded_by(test: cst.BaseExpression, index: str) -> list[cst.BaseExpression] | None:
    """What ``i != k``, ``k != i``, ``not i == k`` or ``i not in (k, ...)`` keeps ``i`` away from."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = test.expression
        if isinstance(inner, cst.Comparison) and len(inner.comparisons) == 1 and \
                isinstance(inner.comparisons[0].operator, cst.Equal):
            return _excluded_by(cst.Comparison(inner.left, [inner.comparisons[0].with_changes(
                operator=cst.NotEqual())]), index)
        return None
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    target = test.comparisons[0]
    left, right = test.left, target.comparator
    if isinstance(target.operator, cst.NotEqual):
        if _is_name(left, index):
            return [right]
        if _is_name(right, index):
            return [left]
        return None
    if isinstance(target.operator, cst.NotIn) and _is_name(left, index):
        if isinstance(right, (cst.List, cst.Tuple, cst.Set)) and right.elements and \
                not any(isinstance(element, cst.StarredElement) for element in right.elements):
            return [element.value for element in right.elements]
        return [right]  # a container named elsewhere: its elements are looked up later
    return None


def _is_name(expr: cst.BaseExpression, name: str) -> bool:
    return isinstance(expr, cst.Name) and expr.value == name


def excluded_values(flow: FilteredRange) -> list[tuple[int, Origin]] | None:
    """Every integer a filtered range's ``k`` may be, with where it is written; None when any is unknown."""
    out: list[tuple[int, Origin]] = []
    file = flow.origin.file
    position = flow.position
    for expr in flow.excluded:
        leaves = origins(file, expr, flow.scope, position.order if position else None,
                         position.blocks if position else None)
        if leaves is None:
            return None
        for leaf in leaves:
            if isinstance(leaf.expr, (cst.List, cst.Tuple)):
                # ``i not in self.axis`` with ``self.axis = [axis]``: each element.
                elements = [origins(leaf.file, element.value, leaf.scope) for element in leaf.expr.elements
                            if not isinstance(element, cst.StarredElement)]
                if len(elements) != len(leaf.expr.elements) or any(found is None for found in elements):
                    return None
                inner = [item for found in elements for item in found]  # type: ignore[union-attr]
            else:
                inner = [leaf]
            for item in inner:
                value = literal(item.expr)
                if isinstance(value, int) and not isinstance(value, bool):
                    out.append((value, item))
                elif not _is_non_negative(item):
                    return None
    return out


def _is_non_negative(leaf: Origin) -> bool:
    """``len(s) - 1``, ``x.ndim - 1``, ``a % n``: an index already counted from the front."""
    expr = leaf.expr
    return axis_index(leaf) == LAST or (isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Modulo))


def axis_index(leaf: Origin) -> int | str | None:
    """An axis index as written: an int, ``LAST`` for ``-1``/``len(s) - 1``/``x.ndim - 1``, else None."""
    expr = leaf.expr
    value = literal(expr)
    if isinstance(value, int) and not isinstance(value, bool):
        return LAST if value == -1 else value
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Subtract) and literal(expr.right) == 1:
        counts = origins(leaf.file, expr.left, leaf.scope) if isinstance(expr.left, cst.Name) else \
            [Origin(leaf.file, expr.left, leaf.scope)]
        if counts and all(_is_rank(count.expr) for count in counts):
            return LAST
    return None


def _is_rank(expr: cst.BaseExpression) -> bool:
    """``len(shape)``, ``x.ndim``, ``x.shape.ndims``, ``x.shape.rank``: how many axes a tensor has."""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "len":
        return True
    return isinstance(expr, cst.Attribute) and expr.attr.value in _RANK_ATTRIBUTES


# --- keepdims -----------------------------------------------------------------------------


def keeps_dims(file: FileModel, site: CallSite) -> bool | None:
    """Whether the moments keep the reduced axes: False by default; None when it cannot be told."""
    if len(site.node.args) > 3 and all(arg.keyword is None for arg in site.node.args[:4]):
        return None  # a positional ``keepdims`` (TF2) or ``name`` (TF1): ambiguous
    found = None
    for keyword in _KEEPDIMS:
        arg = call_argument(site.node, keyword, None)
        if arg is None:
            continue
        values = constant_values(file, arg.value, site.scope, site.order, site.blocks)
        if values is None or any(value not in (True, False, None) for value, _ in values):
            return None
        if any(value is True for value, _ in values):
            return True
        found = False
    return bool(found)


# --- where the statistics go -------------------------------------------------------------


@dataclass(frozen=True)
class StatisticUse:
    """A tensor a moments statistic meets: the moving statistic it updates, a normalization's parameter or input."""

    statistic: str  # the name the statistic is bound to
    partner: cst.BaseExpression
    role: str  # "moving", "parameter" or "input"
    site: CallSite  # the call where they meet


def statistic_uses(file: FileModel, site: CallSite) -> list[StatisticUse]:
    """Where the mean and variance of ``mean, variance = tf.nn.moments(...)`` meet another tensor."""
    if not file.call_names(site) & _TWO_STATISTICS:
        return []
    bindings = [binding for bindings in site.scope.bindings.values() for binding in bindings
                if binding.value is site.node and binding.unpack in ((0,), (1,))]
    if not bindings:
        return []
    out: list[StatisticUse] = []
    for use in file.calls:
        if use.order <= site.order or not _inside(use.scope, site.scope):
            continue
        names = file.call_names(use)
        for binding in bindings:
            if not _passes(file, use, binding):
                continue
            out.extend(_meetings(file, use, names, binding.name))
    return out


def _inside(scope: Scope, outer: Scope) -> bool:
    current: Scope | None = scope
    while current is not None:
        if current is outer:
            return True
        current = current.parent
    return False


def _passes(file: FileModel, use: CallSite, binding: Binding) -> bool:
    """``use`` reads the statistic bound by ``binding`` (the last assignment of its name before the call)."""
    mentioned = any(isinstance(node, cst.Name) and node.value == binding.name for arg in use.node.args
                    for node in walk(arg.value))
    if not mentioned:
        return False
    visible = file.lookup(binding.name, use.scope)
    last = max((other for other in visible if other.order < use.order), key=lambda other: other.order, default=None)
    return last is binding


def _meetings(file: FileModel, use: CallSite, names: frozenset[str], statistic: str) -> list[StatisticUse]:
    node = use.node
    if names & registry.ASSIGN_MOVING_AVERAGE_NAMES:
        variable, value = call_argument(node, "variable", 0), call_argument(node, "value", 1)
        if variable is not None and value is not None and _is_name(value.value, statistic):
            return [StatisticUse(statistic, variable.value, "moving", use)]
        return []
    if names & registry.ASSIGN_FUNCTION_NAMES:
        ref, value = call_argument(node, "ref", 0), call_argument(node, "value", 1)
        if ref is not None and value is not None and _mentions(value.value, statistic):
            return [StatisticUse(statistic, ref.value, "moving", use)]
        return []
    if isinstance(node.func, cst.Attribute) and node.func.attr.value in registry.ASSIGN_METHODS and node.args:
        if _mentions(node.args[0].value, statistic):
            return [StatisticUse(statistic, node.func.value, "moving", use)]
        return []
    if names & {"tensorflow.nn.batch_normalization"}:
        mean, variance = call_argument(node, "mean", 1), call_argument(node, "variance", 2)
        if not any(arg is not None and _is_name(arg.value, statistic) for arg in (mean, variance)):
            return []
        out = []
        x = call_argument(node, "x", 0)
        if x is not None:
            out.append(StatisticUse(statistic, x.value, "input", use))
        for param, position in (("offset", 3), ("scale", 4)):
            arg = call_argument(node, param, position)
            if arg is not None and literal(arg.value) is ...:
                out.append(StatisticUse(statistic, arg.value, "parameter", use))
        return out
    return []


def _mentions(expr: cst.BaseExpression, name: str) -> bool:
    """``name`` enters ``expr`` through arithmetic alone (``m * d + mean * (1 - d)``), not reshaped by a call."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and node.value == name:
            return True
        if isinstance(node, cst.BinaryOperation):
            stack.extend((node.left, node.right))
        elif isinstance(node, cst.UnaryOperation):
            stack.append(node.expression)
    return False


# --- layouts of the tensors they meet -----------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """A per-channel tensor's shape: its rank (None when unknown) and where its one non-1 dimension is.

    ``channel`` is an index from the front, or ``LAST``. ``last_elsewhere``: the
    same shape puts the channel last on another path (the code tells
    channels-first from channels-last apart), so a front index is not the last.
    """

    rank: int | None
    channel: int | str
    last_elsewhere: bool
    where: Origin  # the shape expression
    created: Origin | None = None  # the call that creates the tensor

    @property
    def channels_before_last(self) -> bool:
        """Its channel axis is not the last: a ``[C]`` statistic broadcasts along another axis."""
        if self.channel == LAST:
            return False
        assert isinstance(self.channel, int)
        if self.rank is not None:
            return self.channel < self.rank - 1
        return self.last_elsewhere and self.channel >= 1


def tensor_layouts(file: FileModel, expr: cst.BaseExpression, scope: Scope,
                   _seen: frozenset[int] = frozenset()) -> list[Layout] | None:
    """Layouts a tensor may have where the code creates it with a stated shape; None when any is unknown."""
    leaves = origins(file, expr, scope, into_calls=False)
    if leaves is None:
        return None
    out: list[Layout] = []
    for leaf in leaves:
        if id(leaf.expr) in _seen:
            continue  # ``v = assign_moving_average(v, ...)``: the same tensor again
        seen = _seen | {id(leaf.expr)}
        found = _created_layouts(leaf, seen)
        if found is None:
            return None
        out.extend(found)
    return out


def _created_layouts(leaf: Origin, seen: frozenset[int]) -> list[Layout] | None:
    call = leaf.expr
    if not isinstance(call, cst.Call):
        return None
    file, scope = leaf.file, leaf.scope
    names = file.resolve(call.func, scope)
    if names & (registry.ASSIGN_MOVING_AVERAGE_NAMES | registry.ASSIGN_FUNCTION_NAMES | {"tensorflow.Variable"}):
        # An update (or a variable) is shaped like the variable (or initial value) it is given.
        first = call_argument(call, "variable", 0) or call_argument(call, "ref", None) or \
            call_argument(call, "initial_value", None)
        return tensor_layouts(file, first.value, scope, seen) if first is not None else None
    if names & _BATCHED_SHAPE:
        return None
    shape = call_argument(call, "shape", None)
    for name in names:
        if shape is None and name in _SHAPED_BY_ARGUMENT:
            shape = call_argument(call, *_SHAPED_BY_ARGUMENT[name])
    if shape is None:
        return None
    layouts = shape_layouts(file, shape.value, scope)
    return None if layouts is None else [replace(layout, created=leaf) for layout in layouts]


def shape_layouts(file: FileModel, expr: cst.BaseExpression, scope: Scope) -> list[Layout] | None:
    """Layouts a shape value may describe: one dimension that is not a literal 1, the others 1."""
    leaves = origins(file, expr, scope)
    if leaves is None:
        return None
    out: list[Layout] = []
    for leaf in leaves:
        found = _literal_layout(leaf) if isinstance(leaf.expr, (cst.List, cst.Tuple)) else _filled_layouts(leaf)
        if found is None:
            return None
        out.extend(found)
    return out


def _literal_layout(leaf: Origin) -> list[Layout] | None:
    """``[1, C, 1, 1]``, ``(C,)``: the one dimension that is not 1."""
    elements = leaf.expr.elements  # type: ignore[union-attr]
    if not elements or any(isinstance(element, cst.StarredElement) for element in elements):
        return None
    others = [index for index, element in enumerate(elements) if literal(element.value) != 1]
    if len(others) != 1:
        return None
    rank, channel = len(elements), others[0]
    return [Layout(rank, LAST if channel == rank - 1 else channel, False, leaf)]


def _filled_layouts(leaf: Origin) -> list[Layout] | None:
    """``shape = [1] * n`` then ``shape[axis] = C`` in the same function: C at each index ``axis`` may be."""
    expr = leaf.expr
    if not isinstance(expr, cst.BinaryOperation) or not isinstance(expr.operator, cst.Multiply):
        return None
    ones, count = (expr.left, expr.right) if isinstance(expr.left, cst.List) else (expr.right, expr.left)
    if literal(ones) != [1]:
        return None
    counts = constant_values(leaf.file, count, leaf.scope)
    rank = None
    if counts is not None and len({value for value, _ in counts}) == 1:
        value = counts[0][0]
        rank = value if isinstance(value, int) and not isinstance(value, bool) else None
    names = names_bound_to(leaf)
    function = leaf.file.enclosing_function(leaf.scope)
    if len(names) != 1 or function is None:
        return None
    indices: list[int | str] = []
    for node in walk(function.node):
        if not isinstance(node, cst.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0].target
        if not isinstance(target, cst.Subscript) or not _is_name(target.value, names[0]) or len(target.slice) != 1 \
                or not isinstance(target.slice[0].slice, cst.Index):
            continue
        leaves = origins(leaf.file, target.slice[0].slice.value, leaf.scope)
        if leaves is None:
            return None
        for index_leaf in leaves:
            index = axis_index(index_leaf)
            if isinstance(index, int) and index < 0:
                index = index + rank if rank is not None and index + rank >= 0 else None
            if index is None:
                return None
            indices.append(LAST if rank is not None and index == rank - 1 else index)
    if not indices:
        return None
    last_elsewhere = LAST in indices
    return [Layout(rank, index, last_elsewhere, leaf) for index in dict.fromkeys(indices)]
