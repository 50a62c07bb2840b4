"""Rank and channel axis of tensors, inferred from how the code builds them.

Only what the code states is used: literal placeholder/Input/reshape shapes,
conv and pooling layers (rank 4, or 5 for 3-D) and their ``data_format``,
dense and flatten outputs, transposes with literal permutations, and ops that
keep their input's shape. A name takes the value of its last assignment before
the use in the same block; a simple function parameter takes the shape passed
at every call site when they all agree. Anything else is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from bnlint.facts.origins import constant_values
from bnlint.facts.values import Value, constant, literal
from bnlint.project import ProjectIndex
from bnlint.semantic import INSTANCE, Binding, FileModel, Scope, call_argument, child_nodes, contains

_MAX_DEPTH = 10


@dataclass(frozen=True)
class TensorShape:
    """A tensor's rank and the index of its channel axis (both None when unknown)."""

    rank: int | None
    channel_axis: int | None = None

    @property
    def layout(self) -> str | None:
        if self.rank is None or self.channel_axis is None:
            return None
        if self.rank == 4:
            return "NHWC" if self.channel_axis == 3 else "NCHW" if self.channel_axis == 1 else None
        if self.rank == 5:
            return "NDHWC" if self.channel_axis == 4 else "NCDHW" if self.channel_axis == 1 else None
        return "channels-last" if self.channel_axis == self.rank - 1 else "channels-first" if self.channel_axis == 1 else None


UNKNOWN = TensorShape(None, None)

_SHAPE_CONSTRUCTORS = {  # name -> (shape parameter, position, rank added for the batch axis)
    "tensorflow.placeholder": ("shape", 1, 0),
    "tensorflow.placeholder_with_default": ("shape", 1, 0),
    "tensorflow.zeros": ("shape", 0, 0),
    "tensorflow.ones": ("shape", 0, 0),
    "tensorflow.random.normal": ("shape", 0, 0),
    "tensorflow.random.uniform": ("shape", 0, 0),
    "tensorflow.random_normal": ("shape", 0, 0),
    "tensorflow.random_uniform": ("shape", 0, 0),
    "tensorflow.truncated_normal": ("shape", 0, 0),
    "tensorflow.random.truncated_normal": ("shape", 0, 0),
    "tensorflow.keras.Input": ("shape", 0, 1),
    "tensorflow.keras.layers.Input": ("shape", 0, 1),
    "tensorflow.keras.Input()": ("shape", 0, 1),
    "tensorflow.get_variable": ("shape", 1, 0),
}

# Spatial layers: name -> (rank, keras-style data_format names?)
_SPATIAL_FUNCTIONS = {
    **{name: 4 for name in (
        "tensorflow.nn.conv2d", "tensorflow.nn.depthwise_conv2d", "tensorflow.nn.separable_conv2d",
        "tensorflow.nn.conv2d_transpose", "tensorflow.nn.max_pool", "tensorflow.nn.avg_pool",
        "tensorflow.nn.max_pool2d", "tensorflow.nn.avg_pool2d", "tensorflow.nn.atrous_conv2d",
        "tensorflow.layers.conv2d", "tensorflow.layers.separable_conv2d", "tensorflow.layers.conv2d_transpose",
        "tensorflow.layers.max_pooling2d", "tensorflow.layers.average_pooling2d",
        "tensorflow.contrib.layers.conv2d", "tensorflow.contrib.slim.conv2d",
        "tensorflow.contrib.layers.separable_conv2d", "tensorflow.contrib.slim.separable_conv2d",
        "tensorflow.contrib.layers.conv2d_transpose", "tensorflow.contrib.slim.conv2d_transpose",
        "tensorflow.contrib.layers.max_pool2d", "tensorflow.contrib.slim.max_pool2d",
        "tensorflow.contrib.layers.avg_pool2d", "tensorflow.contrib.slim.avg_pool2d",
    )},
    **{name: 5 for name in (
        "tensorflow.nn.conv3d", "tensorflow.nn.max_pool3d", "tensorflow.nn.avg_pool3d",
        "tensorflow.layers.conv3d", "tensorflow.layers.max_pooling3d", "tensorflow.layers.average_pooling3d",
        "tensorflow.contrib.layers.conv3d",
    )},
}
_SPATIAL_LAYERS = {
    **{f"tensorflow.keras.layers.{name}": 4 for name in (
        "Conv2D", "Convolution2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose",
        "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D", "ZeroPadding2D", "UpSampling2D",
    )},
    **{f"tensorflow.keras.layers.{name}": 5 for name in ("Conv3D", "MaxPooling3D", "AveragePooling3D")},
}
_DENSE = frozenset({"tensorflow.layers.dense", "tensorflow.contrib.layers.fully_connected",
                    "tensorflow.contrib.slim.fully_connected", "tensorflow.keras.layers.Dense()",
                    "tensorflow.layers.Dense()"})
# ``matmul(a, b)``: the rank of the larger operand (batch dimensions broadcast), features last.
_MATMUL = frozenset({"tensorflow.matmul", "tensorflow.linalg.matmul"})
# ``xw_plus_b`` takes a matrix: its result is one.
_MATRIX_RESULT = frozenset({"tensorflow.nn.xw_plus_b"})
_FLATTEN = frozenset({"tensorflow.layers.flatten", "tensorflow.contrib.layers.flatten",
                      "tensorflow.contrib.slim.flatten", "tensorflow.keras.layers.Flatten()"})
_SHAPE_PRESERVING = frozenset({
    "tensorflow.nn.relu", "tensorflow.nn.relu6", "tensorflow.nn.elu", "tensorflow.nn.selu",
    "tensorflow.nn.leaky_relu", "tensorflow.nn.sigmoid", "tensorflow.nn.tanh", "tensorflow.nn.softplus",
    "tensorflow.nn.swish", "tensorflow.nn.silu", "tensorflow.nn.gelu", "tensorflow.sigmoid", "tensorflow.tanh",
    "tensorflow.identity", "tensorflow.nn.dropout", "tensorflow.layers.dropout", "tensorflow.nn.bias_add",
    "tensorflow.contrib.layers.batch_norm", "tensorflow.layers.batch_normalization", "tensorflow.nn.batch_normalization",
    "tensorflow.math.sigmoid", "tensorflow.math.tanh", "tensorflow.square", "tensorflow.abs", "tensorflow.cast",
    "tensorflow.stop_gradient", "tensorflow.nn.l2_normalize", "tensorflow.Variable",
})
_RESHAPE = frozenset({"tensorflow.reshape"})
_TRANSPOSE = frozenset({"tensorflow.transpose"})
_CHANNELS_FIRST = frozenset({"NCHW", "NCDHW", "channels_first", "NCW"})
_CHANNELS_LAST = frozenset({"NHWC", "NDHWC", "channels_last", "NWC"})
# Keras's global default layout: set with ``set_image_data_format``, read with ``image_data_format()``
# (Keras 1: ``set_image_dim_ordering``/``image_dim_ordering()``, "th" or "tf").
_SET_KERAS_FORMAT = frozenset({"set_image_data_format", "set_image_dim_ordering"})
_GET_KERAS_FORMAT = frozenset({"image_data_format", "image_dim_ordering"})
_KERAS_FORMAT_NAMES = {"channels_first": "channels_first", "channels_last": "channels_last",
                       "th": "channels_first", "tf": "channels_last"}


class ShapeInference:
    """Infers shapes in one project; memoises per (expression, position)."""

    def __init__(self, project: ProjectIndex) -> None:
        self.project = project
        self._keras_guards: dict[int, dict[int, str]] = {}
        self._keras_global: dict[str, str | None] = {}

    def shape(self, file: FileModel, expr: cst.BaseExpression, scope: Scope, order: int,
              blocks: tuple[int, ...], depth: int = 0) -> TensorShape:
        """Shape of ``expr`` evaluated at position ``order`` (inside ``blocks``) of ``file``."""
        if depth > _MAX_DEPTH:
            return UNKNOWN
        if isinstance(expr, cst.Name):
            return self._name_shape(file, expr, scope, order, blocks, depth)
        if isinstance(expr, cst.Call):
            return self._call_shape(file, expr, scope, order, blocks, depth)
        if isinstance(expr, cst.BinaryOperation):
            left = self.shape(file, expr.left, scope, order, blocks, depth + 1)
            if left.rank is not None:
                return left
            return self.shape(file, expr.right, scope, order, blocks, depth + 1)
        return UNKNOWN

    # --- names ------------------------------------------------------------------------------

    def _name_shape(self, file: FileModel, name: cst.Name, scope: Scope, order: int,
                    blocks: tuple[int, ...], depth: int) -> TensorShape:
        bindings = file.lookup(name.value, scope)
        if not bindings:
            return UNKNOWN
        # ``x = layer(x)``: the ``x`` on the right is the previous value.
        site = _last_before(bindings, order)
        while site is not None and site.value is not None and contains(site.value, name):
            site = _last_before(bindings, site.order)
        if site is None:
            # Defined later in an enclosing scope (module-level names used in functions).
            if bindings[0].scope is not scope and len(bindings) == 1:
                site = bindings[0]
            else:
                return UNKNOWN
        if site.kind == "assign" and site.value is not None and not site.unpack:
            if site.scope is scope and not _encloses(site, blocks):
                return UNKNOWN
            return self.shape(file, site.value, site.scope, site.order, site.blocks, depth + 1)
        if site.kind == "param" and site.param_index is not None:
            return self._param_shape(file, site, depth)
        return UNKNOWN

    def _param_shape(self, file: FileModel, binding: Binding, depth: int) -> TensorShape:
        function = binding.scope.function
        if function is None or function.qualname not in file.functions:
            return UNKNOWN
        callers = self.project.callers(file.function_unit(function))
        if not callers:
            return UNKNOWN
        index = binding.param_index or 0
        if function.class_qualname and index > 0:
            index -= 1  # ``self`` is not passed positionally at ``obj.method(x)`` call sites
        shapes = set()
        for call in callers:
            arg = call_argument(call.site.node, binding.name, index)
            if arg is None:
                return UNKNOWN
            shapes.add(self.shape(call.file, arg.value, call.site.scope, call.site.order, call.site.blocks,
                                  depth + 1))
        return shapes.pop() if len(shapes) == 1 else UNKNOWN

    # --- calls ------------------------------------------------------------------------------

    def _call_shape(self, file: FileModel, call: cst.Call, scope: Scope, order: int,
                    blocks: tuple[int, ...], depth: int) -> TensorShape:
        names = file.resolve(call.func, scope)
        first = call.args[0].value if call.args and call.args[0].keyword is None else None
        for name in names:
            if name in _SHAPE_CONSTRUCTORS:
                param, position, extra = _SHAPE_CONSTRUCTORS[name]
                arg = call_argument(call, param, position)
                if arg is None:
                    return UNKNOWN
                dims = _stated_dims(Value(arg.value, file, scope))
                if dims is None:
                    return UNKNOWN
                full = [None] * extra + dims
                return TensorShape(len(full), _guess_channel_axis(full))
            if name in _SPATIAL_FUNCTIONS:
                return self._spatial(file, call, scope, _SPATIAL_FUNCTIONS[name], keras=False)
            if name.endswith(INSTANCE) and name[: -len(INSTANCE)] in _SPATIAL_LAYERS:
                constructor = _constructor_call(file, call, scope)
                rank = _SPATIAL_LAYERS[name[: -len(INSTANCE)]]
                if constructor is None:
                    return TensorShape(rank, None)
                return self._spatial(file, constructor, scope, rank, keras=True)
            if name in _DENSE and first is not None:
                inner = self.shape(file, first, scope, order, blocks, depth + 1)
                if inner.rank is not None:
                    return TensorShape(inner.rank, inner.rank - 1)
                return UNKNOWN
            if name in _FLATTEN or name in _MATRIX_RESULT:
                return TensorShape(2, 1)
            if name in _MATMUL and first is not None and len(call.args) >= 2 and call.args[1].keyword is None:
                ranks = {self.shape(file, operand, scope, order, blocks, depth + 1).rank
                         for operand in (first, call.args[1].value)}
                if None in ranks or min(ranks) < 2:  # type: ignore[type-var]
                    return UNKNOWN
                rank = max(ranks)  # type: ignore[type-var]
                return TensorShape(rank, rank - 1)
            if name in _RESHAPE:
                target = call_argument(call, "shape", 1)
                dims = constant(Value(target.value, file, scope)) if target is not None else ...
                if isinstance(dims, list):
                    return TensorShape(len(dims), 1 if len(dims) == 2 else None)
                return UNKNOWN
            if name in _TRANSPOSE and first is not None:
                perm_arg = call_argument(call, "perm", 1)
                perm = constant(Value(perm_arg.value, file, scope)) if perm_arg is not None else ...
                inner = self.shape(file, first, scope, order, blocks, depth + 1)
                if isinstance(perm, list) and all(isinstance(p, int) for p in perm):
                    channel = perm.index(inner.channel_axis) if inner.channel_axis in perm else None
                    return TensorShape(len(perm), channel)
                return UNKNOWN
            if name in _SHAPE_PRESERVING and first is not None:
                return self.shape(file, first, scope, order, blocks, depth + 1)
        return UNKNOWN

    def _spatial(self, file: FileModel, call: cst.Call, scope: Scope, rank: int, keras: bool) -> TensorShape:
        arg = call_argument(call, "data_format", None)
        value = _stated_format(file, arg.value, scope) if arg is not None else None
        if value is None and keras:
            value = self.keras_default_format(file, call)
            if value is None:
                return TensorShape(rank, None)
        if value in _CHANNELS_FIRST:
            return TensorShape(rank, 1)
        if value in _CHANNELS_LAST or value is None:
            return TensorShape(rank, rank - 1)
        return TensorShape(rank, None)

    def keras_default_format(self, file: FileModel, call: cst.Call) -> str | None:
        """The layout a Keras layer built by ``call`` without ``data_format`` uses; None when unknown.

        Inside ``if K.image_data_format() == "channels_first":`` (or its ``else``) the
        branch says it. Elsewhere, code that reads ``image_data_format()`` is written for
        either layout: unknown. Otherwise it is what ``set_image_data_format`` sets in the
        same file or in code that runs together with the layer's (one literal value), or
        Keras's default ``channels_last`` when the project never sets it. A setting only
        elsewhere in the project (another program, or a module-level call the call
        graph does not connect) makes it unknown.
        """
        guards = self._keras_guards.get(id(file))
        if guards is None:
            guards = self._keras_guards[id(file)] = _guarded_calls(file)
        if id(call) in guards:
            return guards[id(call)]
        if _calls_any(file, _GET_KERAS_FORMAT):
            return None
        site = file.call_by_node.get(id(call))
        unit = file.unit_name(site.scope) if site is not None else f"{file.path}::<module>"
        if unit not in self._keras_global:
            self._keras_global[unit] = self._configured_format(file, unit)
        return self._keras_global[unit]

    def _configured_format(self, file: FileModel, unit: str) -> str | None:
        values: set[object] = set()
        elsewhere = False
        for other in self.project.files:
            for site in other.calls:
                if _callee_name(site.node) not in _SET_KERAS_FORMAT:
                    continue
                if other is file or self.project.run_together(unit, other.unit_name(site.scope)):
                    value = literal(site.node.args[0].value) if site.node.args else ...
                    values.add(value if isinstance(value, str) else ...)
                else:
                    elsewhere = True
        if not values:
            return None if elsewhere else "channels_last"
        if len(values) == 1:
            return _KERAS_FORMAT_NAMES.get(values.pop())  # type: ignore[arg-type]
        return None


def _stated_dims(value: Value) -> list | None:
    """A shape's dimensions where its length is written: ``[n, 784]`` gives ``[None, 784]`` (a computed size is None)."""
    dims = constant(value)
    if isinstance(dims, list):
        return dims
    if isinstance(value.expr, (cst.List, cst.Tuple)) and \
            not any(isinstance(element, cst.StarredElement) for element in value.expr.elements):
        return [None if dim is ... else dim
                for dim in (literal(element.value) for element in value.expr.elements)]
    return None


def _stated_format(file: FileModel, expr: cst.BaseExpression, scope: Scope) -> object:
    """The one layout string a ``data_format`` argument holds (through names, parameters, ``self``); else ``...``."""
    value = literal(expr)
    if value is not ...:
        return value
    values = constant_values(file, expr, scope)
    if not values or len({value for value, _ in values}) != 1:
        return ...
    return values[0][0]


def _callee_name(call: cst.Call) -> str | None:
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


def _calls_any(file: FileModel, names: frozenset[str]) -> bool:
    return any(_callee_name(site.node) in names for site in file.calls)


def _format_test(test: cst.BaseExpression) -> str | None:
    """The layout an ``if`` test asserts: ``K.image_data_format() == "channels_first"`` -> channels_first."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    target = test.comparisons[0]
    sides = (test.left, target.comparator)
    call = next((side for side in sides if isinstance(side, cst.Call) and _callee_name(side) in _GET_KERAS_FORMAT),
                None)
    other = sides[1] if call is sides[0] else sides[0]
    value = _KERAS_FORMAT_NAMES.get(literal(other)) if call is not None else None  # type: ignore[arg-type]
    if value is None:
        return None
    if isinstance(target.operator, cst.Equal):
        return value
    if isinstance(target.operator, cst.NotEqual):
        return "channels_last" if value == "channels_first" else "channels_first"
    return None


def _guarded_calls(file: FileModel) -> dict[int, str]:
    """Call node id -> layout, for calls in a branch of an ``image_data_format()`` test (innermost wins)."""
    out: dict[int, str] = {}
    if not _calls_any(file, _GET_KERAS_FORMAT):
        return out
    stack: list[cst.CSTNode] = [file.module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.If):
            layout = _format_test(node.test)
            if layout is not None:
                other = "channels_last" if layout == "channels_first" else "channels_first"
                _mark_calls(node.body, layout, out)
                if node.orelse is not None:
                    _mark_calls(node.orelse, other, out)
        stack.extend(child_nodes(node))
    return out


def _mark_calls(root: cst.CSTNode, layout: str, out: dict[int, str]) -> None:
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            out[id(node)] = layout  # inner tests are visited later and win
        stack.extend(child_nodes(node))


def _constructor_call(file: FileModel, call: cst.Call, scope: Scope) -> cst.Call | None:
    func = call.func
    if isinstance(func, cst.Call):
        return func
    if isinstance(func, cst.Name):
        for binding in file.lookup(func.value, scope):
            if binding.kind == "assign" and isinstance(binding.value, cst.Call) and not binding.unpack:
                return binding.value
    return None


def _last_before(bindings: list[Binding], order: int) -> Binding | None:
    best = None
    for binding in bindings:
        if binding.order < order and (best is None or binding.order > best.order):
            best = binding
    return best


def _encloses(site: Binding, blocks: tuple[int, ...]) -> bool:
    """The assignment's if/for/while/try blocks all enclose the use too: it surely ran last."""
    return blocks[: len(site.blocks)] == site.blocks


def _guess_channel_axis(dims: list) -> int | None:
    """Channel axis of a literal shape: rank 2 is (batch, features); rank 4/5 by the small dimension."""
    rank = len(dims)
    if rank == 2:
        return 1
    if rank not in (4, 5):
        return None
    first, last = dims[1], dims[-1]
    small = (1, 2, 3, 4)
    if isinstance(last, int) and last in small and not (isinstance(first, int) and first in small):
        return rank - 1
    if isinstance(first, int) and first in small and not (isinstance(last, int) and last in small):
        return 1
    return None
