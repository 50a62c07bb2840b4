"""BN902 (opt-in): a conv or dense layer's bias fed straight into a batch norm, which cancels it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts.values import literal
from bnlint.registry import BatchNormApi, BiasedLayerApi
from bnlint.rule import FixSpec, Invalid, Report, Rule, Valid
from bnlint.semantic import INSTANCE, CallSite, FileModel, Scope, call_argument, child_nodes, has_star_args

_RANK = re.compile(r"([123])[dD](?:_?[tT]ranspose)?$")
_LINEAR = (None, "linear")
_CHANNELS_FIRST = ("channels_first", "NCHW", "NCW", "NCDHW")
_CHANNELS_LAST = ("channels_last", "NHWC", "NWC", "NDHWC")


@dataclass(frozen=True)
class _Layer:
    """A conv/dense call or constructor that adds a bias, and the axis its bias runs along."""

    call: cst.Call
    api: BiasedLayerApi
    # Accepted batch-norm axes: the channel axis, counted from either end when the rank is known.
    channel_axes: frozenset[int]


class BiasBeforeBatchnorm(Rule):
    """Conv or dense layer with a bias directly followed by batch norm.

    ## What it does
    Flags a Keras or ``tf.layers`` convolution or dense layer that adds a bias
    (``use_bias`` left at its default ``True``) with no activation, whose
    output goes straight into a batch norm over the bias's channel axis:
    consecutive layers of ``Sequential([...])`` or of ``model.add(...)``
    calls, ``BatchNormalization()(Conv2D(...)(x))``, or ``x = conv(x)``
    followed by ``x = bn(x)`` in one block. Layers with an activation,
    ``use_bias`` or ``data_format`` that is not a constant, or a batch norm
    over another axis are left alone.

    This rule is opt-in (``--select BN902``): the bias costs little, and
    removing it changes the layer's variables.

    ## Why is this bad?
    Batch norm subtracts the per-channel mean, which removes any per-channel
    constant added before it: the bias has no effect on the output, receives
    zero gradient, and only costs parameters, memory and a checkpoint entry.
    Batch norm's own ``beta`` (``center=True``) is the offset that counts.

    ## Example
    ```python
    x = tf.keras.layers.Conv2D(64, 3, padding="same")(x)
    x = tf.keras.layers.BatchNormalization()(x)
    ```

    ## Use instead
    ```python
    x = tf.keras.layers.Conv2D(64, 3, padding="same", use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization()(x)
    ```

    ## Fix safety
    The fix adds ``use_bias=False`` to the layer. It is **unsafe**: the
    trained output is unchanged, but the layer loses its bias variable, so
    existing checkpoints and saved weights no longer load into it, and a
    layer object reused elsewhere loses its bias there too.

    ## References
    - [Ioffe & Szegedy, Batch Normalization (2015), section 3.2](https://arxiv.org/abs/1502.03167)
    - [tf.keras.layers.Conv2D](https://www.tensorflow.org/api_docs/python/tf/keras/layers/Conv2D) (``use_bias``)
    """

    CODE = "BN902"
    NAME = "bias-before-batchnorm"
    FIX_TITLE = "Pass `use_bias=False` to the layer before the batch norm"
    FIX_APPLICABILITY = "unsafe"
    SEVERITY = "warning"
    OPT_IN = True
    TOKENS = ("BatchNorm", "batch_norm", "batch_normalization")

    VALID = [
        Valid(
            """
import tensorflow as tf
model = tf.keras.Sequential([
    tf.keras.layers.Conv2D(32, 3, use_bias=False),
    tf.keras.layers.BatchNormalization(),
    tf.keras.layers.Dense(10),
])
"""
        ),
        # An activation in between: the bias is not cancelled.
        Valid(
            """
from tensorflow.keras import layers
x = layers.Conv2D(32, 3, activation="relu")(inputs)
x = layers.BatchNormalization()(x)
"""
        ),
        # Batch norm over another axis than the bias's.
        Valid(
            """
from tensorflow.keras import layers
x = layers.Conv2D(32, 3, data_format="channels_first")(inputs)
x = layers.BatchNormalization(axis=-1)(x)
"""
        ),
        # Unknown use_bias.
        Valid(
            """
import tensorflow as tf
def block(x, use_bias):
    x = tf.keras.layers.Conv2D(64, 3, use_bias=use_bias)(x)
    return tf.keras.layers.BatchNormalization()(x)
"""
        ),
        # Something else between the layers.
        Valid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.conv2d(images, 64, 3)
h = tf.nn.relu(h)
h = tf.layers.batch_normalization(h, training=is_training)
"""
        ),
        # PyTorch.
        Valid(
            """
import torch.nn as nn
block = nn.Sequential(nn.Conv2d(3, 64, 3), nn.BatchNorm2d(64))
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow as tf
model = tf.keras.Sequential([
    tf.keras.layers.Conv2D(32, 3, padding="same"),  # error: [BN902]
    tf.keras.layers.BatchNormalization(),
    tf.keras.layers.ReLU(),
])
""",
            message="`tf.keras.layers.Conv2D` adds a bias that the batch norm `tf.keras.layers.BatchNormalization` "
                    "on line 4 cancels",
            expected_replacement="""
import tensorflow as tf
model = tf.keras.Sequential([
    tf.keras.layers.Conv2D(32, 3, padding="same", use_bias=False),  # error: [BN902]
    tf.keras.layers.BatchNormalization(),
    tf.keras.layers.ReLU(),
])
""",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
def block(x, is_training):
    h = tf.layers.conv2d(x, 64, 3, padding="same")  # error: [BN902]
    h = tf.layers.batch_normalization(h, training=is_training)
    return tf.nn.relu(h)
""",
            expected_replacement="""
import tensorflow.compat.v1 as tf
def block(x, is_training):
    h = tf.layers.conv2d(x, 64, 3, padding="same", use_bias=False)  # error: [BN902]
    h = tf.layers.batch_normalization(h, training=is_training)
    return tf.nn.relu(h)
""",
        ),
        # A subclassed model: the layers are attributes, applied in ``call``.
        Invalid(
            """
import tensorflow as tf
class Block(tf.keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.dense = tf.keras.layers.Dense(128)  # error: [BN902]
        self.bn = tf.keras.layers.BatchNormalization()
    def call(self, x, training=False):
        return tf.nn.relu(self.bn(self.dense(x), training=training))
""",
            message="`tf.keras.layers.Dense` adds a bias that the batch norm `self.bn` on line 8 cancels",
            expected_replacement="""
import tensorflow as tf
class Block(tf.keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.dense = tf.keras.layers.Dense(128, use_bias=False)  # error: [BN902]
        self.bn = tf.keras.layers.BatchNormalization()
    def call(self, x, training=False):
        return tf.nn.relu(self.bn(self.dense(x), training=training))
""",
        ),
        # model.add, one layer per statement; channels_first with its batch norm on axis 1.
        Invalid(
            """
from keras import layers, models
model = models.Sequential()
model.add(layers.Conv2D(64, (3, 3), data_format="channels_first"))  # error: [BN902]
model.add(layers.BatchNormalization(axis=1))
""",
            expected_replacement="""
from keras import layers, models
model = models.Sequential()
model.add(layers.Conv2D(64, (3, 3), data_format="channels_first", use_bias=False))  # error: [BN902]
model.add(layers.BatchNormalization(axis=1))
""",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        seen: set[int] = set()
        for layer, bn_call, bn_scope in _pairs(file):
            if id(layer.call) in seen:
                continue
            seen.add(id(layer.call))
            bn_text = file.code(bn_call.func)
            if isinstance(bn_call.func, cst.Call):
                bn_text = file.code(bn_call.func.func)
            yield Report(
                layer.call,
                f"`{file.code(layer.call.func)}` adds a bias that the batch norm `{bn_text}` on line "
                f"{file.line(bn_call)} cancels: it has no effect",
                fix=_fix(layer),
                related=((file, bn_call),),
            )


def _pairs(file: FileModel) -> Iterator[tuple[_Layer, cst.Call, Scope]]:
    """(biased layer, batch norm) pairs where the layer's output is the batch norm's input."""
    for site in file.calls:
        names = file.call_names(site)
        # Sequential([..., Conv2D(...), BatchNormalization(), ...])
        if names & registry.SEQUENTIAL_NAMES and site.node.args:
            elements = site.node.args[0].value
            if isinstance(elements, (cst.List, cst.Tuple)):
                items = [e.value for e in elements.elements if isinstance(e, cst.Element)]
                yield from _consecutive(file, items, site.scope)
            continue
        consumer = _batch_norm_input(file, site)
        if consumer is None:
            continue
        api, bn_call, inputs = consumer
        layer = _producer(file, inputs, site)
        if layer is not None and _axis_matches(bn_call, api, layer):
            yield layer, site.node, site.scope
    yield from _added_layers(file)


def _consecutive(file: FileModel, items: list[cst.BaseExpression], scope: Scope) -> Iterator[tuple[_Layer, cst.Call, Scope]]:
    for first, second in zip(items, items[1:]):
        if not isinstance(first, cst.Call) or not isinstance(second, cst.Call):
            continue
        layer = _biased(file, first, scope, constructor=True)
        api = _batch_norm_layer(file, second, scope)
        if layer is not None and api is not None and _axis_matches(second, api, layer):
            yield layer, second, scope


def _added_layers(file: FileModel) -> Iterator[tuple[_Layer, cst.Call, Scope]]:
    """Consecutive ``model.add(layer)`` statements on one Sequential model."""
    stack: list[cst.CSTNode] = [file.module]
    while stack:
        node = stack.pop()
        body = getattr(node, "body", None)
        if isinstance(body, (list, tuple)):
            calls = [_added(statement) for statement in body]
            for (first, receiver_a), (second, receiver_b) in zip(calls, calls[1:]):
                if first is None or second is None or receiver_a != receiver_b:
                    continue
                site = file.call_by_node.get(id(first))
                if site is None:
                    continue
                receiver = first.func.value  # type: ignore[union-attr]
                if not any(n.endswith(INSTANCE) and n[: -len(INSTANCE)] in registry.SEQUENTIAL_NAMES
                           for n in file.resolve(receiver, site.scope)):
                    continue
                yield from _consecutive(file, [first.args[0].value, second.args[0].value], site.scope)
        # Statements hold statement blocks; expressions and simple statements do not.
        stack.extend(child for child in child_nodes(node)
                     if not isinstance(child, (cst.BaseExpression, cst.SimpleStatementLine)))


def _added(statement: cst.CSTNode) -> tuple[cst.Call | None, str | None]:
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None, None
    expr = statement.body[0]
    if not isinstance(expr, cst.Expr) or not isinstance(expr.value, cst.Call):
        return None, None
    call = expr.value
    if not isinstance(call.func, cst.Attribute) or call.func.attr.value != registry.SEQUENTIAL_ADD_METHOD:
        return None, None
    if len(call.args) != 1 or call.args[0].keyword is not None or not isinstance(call.args[0].value, cst.Call):
        return None, None
    receiver = call.func.value
    return call, (receiver.value if isinstance(receiver, cst.Name) else None)


def _batch_norm_input(file: FileModel, site: CallSite) -> tuple[BatchNormApi, cst.Call, cst.BaseExpression] | None:
    """For a batch-norm call: its API, the call carrying its arguments, and its input."""
    if has_star_args(site.node) or not site.node.args or site.node.args[0].keyword is not None:
        return None
    for name in file.call_names(site):
        if name.endswith(INSTANCE):
            api = registry.batch_norm_api(name[: -len(INSTANCE)])
            if api is not None and api.kind == "layer":
                constructor = _constructor(file, site.node.func, site.scope)
                if constructor is None:
                    return None
                return api, constructor, site.node.args[0].value
        else:
            api = registry.batch_norm_api(name)
            if api is not None and api.kind == "function" and api.updates != "stateless":
                return api, site.node, site.node.args[0].value
    return None


def _batch_norm_layer(file: FileModel, call: cst.Call, scope: Scope) -> BatchNormApi | None:
    """The batch-norm layer class a constructor call builds."""
    if has_star_args(call):
        return None
    for name in file.resolve(call.func, scope):
        api = registry.batch_norm_api(name)
        if api is not None and api.kind == "layer":
            return api
    return None


def _producer(file: FileModel, expr: cst.BaseExpression, site: CallSite) -> _Layer | None:
    """The biased layer whose output ``expr`` is: a call in place, or the last assignment before ``site``."""
    if isinstance(expr, cst.Name):
        # Bindings made by the batch norm's own statement (``h = bn(h)``) come before its call in order.
        own = site.statement.body if isinstance(site.statement, cst.SimpleStatementLine) else ()
        earlier = [b for b in file.lookup(expr.value, site.scope)
                   if b.order < site.order and not any(b.node is small for small in own)]
        if not earlier:
            return None
        last = max(earlier, key=lambda b: b.order)
        if last.kind != "assign" or last.unpack or last.blocks != site.blocks or last.scope is not site.scope:
            return None
        expr = last.value
    if not isinstance(expr, cst.Call):
        return None
    inner = file.call_by_node.get(id(expr))
    scope = inner.scope if inner is not None else site.scope
    layer = _biased(file, expr, scope, constructor=False)
    if layer is not None:
        return layer
    # A layer object called: ``conv(x)``, ``self.conv(x)`` or ``Conv2D(...)(x)``.
    if not any(n.endswith(INSTANCE) for n in file.resolve(expr.func, scope)):
        return None
    constructor = _constructor(file, expr.func, scope)
    return _biased(file, constructor, scope, constructor=True) if constructor is not None else None


def _constructor(file: FileModel, func: cst.BaseExpression, scope: Scope) -> cst.Call | None:
    """The one constructor call behind a called layer object."""
    if isinstance(func, cst.Call):
        return func
    if isinstance(func, cst.Name):
        bindings = file.lookup(func.value, scope)
        if len(bindings) == 1 and bindings[0].kind == "assign" and not bindings[0].unpack \
                and isinstance(bindings[0].value, cst.Call):
            return bindings[0].value
        return None
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        function = file.enclosing_function(scope)
        if function is not None and function.class_qualname:
            values = file.class_attrs.get(function.class_qualname, {}).get(func.attr.value, [])
            if len(values) == 1 and isinstance(values[0][0], cst.Call):
                return values[0][0]
    return None


def _biased(file: FileModel, call: cst.Call, scope: Scope, constructor: bool) -> _Layer | None:
    """The call as a layer that certainly adds a bias with no activation after it."""
    if has_star_args(call):
        return None
    api = None
    name = ""
    for name in sorted(file.resolve(call.func, scope)):
        found = registry.biased_layer_api(name)
        if found is None or (found.kind == "layer") != constructor:
            return None
        api = found
    if api is None or not call.args:
        return None
    if sum(1 for arg in call.args if arg.keyword is None) > api.max_positional:
        return None
    use_bias = call_argument(call, api.use_bias, None)
    if use_bias is not None and literal(use_bias.value) is not True:
        return None
    activation = call_argument(call, api.activation, None)
    if activation is not None and literal(activation.value) not in _LINEAR:
        return None
    channels_first = False
    if api.data_format is not None:
        data_format = call_argument(call, api.data_format, None)
        if data_format is not None:
            value = literal(data_format.value)
            if value not in _CHANNELS_FIRST + _CHANNELS_LAST + (None,):
                return None
            channels_first = value in _CHANNELS_FIRST
    match = _RANK.search(name) if api.data_format is not None else None
    rank = int(match.group(1)) + 2 if match else None
    if channels_first:
        axes = {1} | ({1 - rank} if rank else set())
    else:
        axes = {-1} | ({rank - 1} if rank else set())
    return _Layer(call, api, frozenset(axes))


def _axis_matches(bn_call: cst.Call, api: BatchNormApi, layer: _Layer) -> bool:
    """The batch norm normalises along the layer's channel axis."""
    if has_star_args(bn_call):
        return False
    if api.axis is not None:
        arg = call_argument(bn_call, api.axis.name, api.axis.position)
        axis = -1 if arg is None else literal(arg.value)
        if isinstance(axis, list) and len(axis) == 1:
            axis = axis[0]
        return isinstance(axis, int) and not isinstance(axis, bool) and axis in layer.channel_axes
    if api.data_format is not None:
        arg = call_argument(bn_call, api.data_format.name, api.data_format.position)
        value = "NHWC" if arg is None else literal(arg.value)
        axis = 1 if value in _CHANNELS_FIRST else -1 if value in _CHANNELS_LAST else None
        return axis is not None and axis in layer.channel_axes
    return False


def _fix(layer: _Layer) -> FixSpec:
    call = layer.call
    existing = call_argument(call, layer.api.use_bias, None)
    if existing is not None:
        args = [arg.with_changes(value=cst.Name("False")) if arg is existing else arg for arg in call.args]
    else:
        last = call.args[-1]
        args = [
            *call.args[:-1],
            last.with_changes(comma=cst.MaybeSentinel.DEFAULT),
            cst.Arg(keyword=cst.Name(layer.api.use_bias), value=cst.Name("False"),
                    equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))),
        ]
    return FixSpec(node=call, replacement=call.with_changes(args=args),
                   message="Pass `use_bias=False`", applicability="unsafe")
