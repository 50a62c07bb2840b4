"""BN003: ``tf.nn.moments`` axes that do not fit the input's rank or layout."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.moments import FilteredRange, excluded_values, filtered_ranges, keeps_dims, statistic_uses, \
    tensor_layouts
from bnlint.facts.origins import Origin, origins
from bnlint.facts.shapes import ShapeInference, TensorShape
from bnlint.facts.values import Value, constant, literal
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, call_argument


class MomentsAxesMismatch(Rule):
    """Moments computed over axes that do not fit the input.

    ## What it does
    Checks the ``axes`` of ``tf.nn.moments``, ``tf.nn.weighted_moments`` and
    ``tf.nn.sufficient_statistics`` against the rank and layout of the input
    where the code states them (placeholder, ``Input`` and variable shapes,
    conv and pooling layers and their ``data_format``, also passed through
    names, parameters and attributes; dense, matmul, reshape and transpose
    outputs), and the statistics against the per-channel tensors they meet.
    It flags:

    - an axis out of range for the input's rank, such as conv axes
      ``[0, 1, 2]`` on the rank-2 output of ``tf.matmul`` or a dense layer
      (TensorFlow raises ``Invalid reduction dimension``);
    - batch statistics that also reduce the channel axis (the last axis of
      NHWC features, axis 1 of NCHW features), such as NHWC axes
      ``[0, 1, 2]`` used on NCHW data;
    - rank-4 (or rank-5) features reduced over the batch axis alone, which
      gives one statistic per pixel instead of one per channel;
    - axes built as ``[i for i in range(rank) if i != channel_axis]`` (or by a
      loop appending under that test) where ``channel_axis`` may be negative
      (``-1``, as a default, an assignment or an attribute): ``range`` yields
      no negative index, so the channel axis is reduced too;
    - statistics computed without ``keepdims=True`` (TF1: ``keep_dims=True``),
      shaped ``[C]``, that update a moving statistic or meet the offset and
      scale of ``tf.nn.batch_normalization`` created channels-first
      (``[1, C, 1, 1]``, or ``[1] * rank`` with the channel set at axis 1 on the
      channels-first path): ``[C]`` broadcasts along the last axis;
    - moments over every axis of the input whose single mean and variance
      update a per-channel moving statistic, or meet a per-channel offset and
      scale.

    Reductions over every axis that meet no per-channel tensor (global
    standardisation), over all axes but the batch (layer normalisation), over
    the spatial axes (instance and group normalisation), and channel axes
    counted from the front (``len(shape) - 1``, ``axis % rank``) before they are
    compared with ``range``'s indices are left alone. When the rank, layout or
    shape is unknown, the rule says nothing.

    ## Why is this bad?
    Batch normalisation needs one mean and variance per channel, shaped to
    broadcast along the channel axis. Reducing the channel axis mixes channels
    into one statistic; skipping the spatial axes keeps a statistic per pixel;
    a ``[C]`` statistic against channels-first ``[1, C, 1, 1]`` parameters
    broadcasts along the width instead (or fails when shapes disagree). Either
    way the layer normalises the wrong thing.

    ## Example
    ```python
    x = tf.layers.conv2d(images, 64, 3, data_format="channels_first")
    mean, variance = tf.nn.moments(x, axes=[0, 1, 2])

    channel_axis = -1
    axes = [i for i in range(len(x.shape)) if i != channel_axis]
    ```

    ## Use instead
    ```python
    x = tf.layers.conv2d(images, 64, 3, data_format="channels_first")
    mean, variance = tf.nn.moments(x, axes=[0, 2, 3], keepdims=True)

    channel_axis = len(x.shape) - 1
    axes = [i for i in range(len(x.shape)) if i != channel_axis]
    ```

    ## Fix safety
    No automatic fix: the right axes depend on what the author meant.

    ## References
    - [tf.nn.moments](https://www.tensorflow.org/api_docs/python/tf/nn/moments)
    """

    CODE = "BN003"
    NAME = "moments-axes-mismatch"
    FIX_TITLE = "Reduce only the batch and spatial axes, into statistics shaped like the parameters they meet"
    TOKENS = tokens.MOMENTS

    VALID = [
        Valid(
            """
import tensorflow as tf
x = tf.placeholder(tf.float32, [None, 32, 32, 3])
mean, var = tf.nn.moments(x, axes=[0, 1, 2])
"""
        ),
        Valid(
            """
import tensorflow as tf
x = tf.layers.conv2d(images, 64, 3, data_format="channels_first")
mean, var = tf.nn.moments(x, axes=[0, 2, 3], keepdims=True)
"""
        ),
        # Layer normalisation: every axis but the batch.
        Valid(
            """
import tensorflow as tf
x = tf.placeholder(tf.float32, [None, 32, 32, 3])
mean, var = tf.nn.moments(x, [1, 2, 3], keep_dims=True)
"""
        ),
        # Unknown rank: say nothing.
        Valid(
            """
import tensorflow as tf
def norm(x):
    return tf.nn.moments(x, axes=[0, 1, 2, 3, 4])
"""
        ),
        # Dense features, batch axis.
        Valid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.dense(tf.placeholder(tf.float32, [None, 784]), 256)
mean, var = tf.nn.moments(h, [0])
"""
        ),
        # NumPy look-alike.
        Valid(
            """
import numpy as np
x = np.zeros([8, 32, 32, 3])
mean = np.mean(x, axis=(0, 3))
"""
        ),
        # Channels-first parameters with statistics that keep their dimensions.
        Valid(
            """
import tensorflow as tf
from tensorflow.python.training import moving_averages
def norm_nchw(x, channels):
    moving_mean = tf.compat.v1.get_variable("moving_mean", [1, channels, 1, 1], trainable=False)
    mean, var = tf.nn.moments(x, [0, 2, 3], keepdims=True)
    return moving_averages.assign_moving_average(moving_mean, mean, 0.99)
"""
        ),
        # ``[C]`` statistics and ``[C]`` parameters; or reshaped before they meet channels-first ones.
        Valid(
            """
import tensorflow as tf
from tensorflow.python.training import moving_averages
def norm(x, channels):
    flat_mean = tf.compat.v1.get_variable("flat_mean", [channels], trainable=False)
    first_mean = tf.compat.v1.get_variable("first_mean", [1, channels, 1, 1], trainable=False)
    mean, var = tf.nn.moments(x, [0, 2, 3])
    update = moving_averages.assign_moving_average(flat_mean, mean, 0.99)
    mean = tf.reshape(mean, [1, -1, 1, 1])
    return update, moving_averages.assign_moving_average(first_mean, mean, 0.99)
"""
        ),
        # The classic channels-last batch norm: ``[C]`` statistics fit the last axis.
        Valid(
            """
import tensorflow as tf
net = tf.compat.v1.layers.conv2d(tf.compat.v1.placeholder(tf.float32, [None, 32, 32, 3]), 64, 3)
mean, var = tf.nn.moments(net, [0, 1, 2])
gamma = tf.Variable(tf.ones([64]))
beta = tf.Variable(tf.zeros([64]))
out = tf.nn.batch_normalization(net, mean, var, beta, gamma, 1e-3)
"""
        ),
        Valid(
            """
import tensorflow as tf
net = tf.compat.v1.layers.conv2d(images, 64, 3, data_format="channels_first")
mean, var = tf.nn.moments(net, [0, 2, 3], keepdims=True)
out = tf.nn.batch_normalization(net, mean, var, None, None, 1e-3)
"""
        ),
        # The channel axis counted from the front before it is compared with ``range``'s indices.
        Valid(
            """
import tensorflow as tf
def normalize(x, channel_axis=-1):
    channel_axis = channel_axis % len(x.shape)
    axes = [i for i in range(len(x.shape)) if i != channel_axis]
    return tf.nn.moments(x, axes, keepdims=True)
"""
        ),
        Valid(
            """
import tensorflow as tf
class Norm(tf.keras.layers.Layer):
    def __init__(self, data_format="channels_last"):
        super().__init__()
        self.data_format = data_format
    def call(self, x):
        self.channel_axis = len(x.shape) - 1 if self.data_format == "channels_last" else 1
        axes = [i for i in range(len(x.shape)) if i != self.channel_axis]
        return tf.nn.moments(x, axes, keepdims=True)
"""
        ),
        # Negative axes turned into indices from the front, in place or by ``+=``.
        Valid(
            """
import tensorflow as tf
class Norm(tf.keras.layers.Layer):
    def __init__(self, axis=-1):
        super().__init__()
        self.axis = [axis]
    def build(self, input_shape):
        for index, axis in enumerate(self.axis):
            if axis < 0:
                self.axis[index] = len(input_shape) + axis
    def call(self, x):
        axes = [i for i in range(len(x.shape)) if i not in self.axis]
        return tf.nn.moments(x, axes, keepdims=True)
"""
        ),
        Valid(
            """
import tensorflow as tf
def normalize(x, channel_axis=-1):
    if channel_axis < 0:
        channel_axis += len(x.shape)
    axes = [i for i in range(len(x.shape)) if i != channel_axis]
    return tf.nn.moments(x, axes, keepdims=True)
"""
        ),
        # Global standardisation on purpose: no per-channel parameter meets the statistics.
        Valid(
            """
import tensorflow as tf
images = tf.compat.v1.placeholder(tf.float32, [None, 64, 64, 3])
mean, var = tf.nn.moments(images, [0, 1, 2, 3])
standardized = (images - mean) / tf.sqrt(var + 1e-8)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow as tf
x = tf.layers.conv2d(images, 64, 3, data_format="channels_first")
mean, var = tf.nn.moments(x, axes=[0, 1, 2])  # error: [BN003]
""",
            message="channel axis 1 of NCHW",
        ),
        Invalid(
            """
import tensorflow as tf
x = tf.compat.v1.placeholder(tf.float32, [None, 32, 32, 3])
mean, var = tf.nn.moments(x, axes=[0, 3])  # error: [BN003]
""",
            message="channel axis 3 of NHWC",
        ),
        Invalid(
            """
import tensorflow as tf
h = tf.nn.relu(tf.nn.conv2d(images, kernel, strides=[1, 1, 1, 1], padding="SAME"))
mean, var = tf.nn.moments(h, [0])  # error: [BN003]
""",
            message="batch axis alone",
        ),
        Invalid(
            """
import tensorflow as tf
x = tf.keras.Input(shape=(28, 28, 1))
mean, var = tf.nn.moments(x, axes=[0, 1, 2, 4])  # error: [BN003]
""",
            message="axis 4 is out of range for a rank-4 input",
        ),
        # Through a simple function parameter.
        Invalid(
            """
import tensorflow as tf
def batch_norm(x, eps=1e-3):
    mean, var = tf.nn.moments(x, [0, 1, 2])  # error: [BN003]
    return tf.nn.batch_normalization(x, mean, var, None, None, eps)
images = tf.placeholder(tf.float32, [None, 3, 224, 224])
out = batch_norm(tf.transpose(tf.transpose(images, [0, 2, 3, 1]), [0, 3, 1, 2]))
"""
        ),
        # ``[C]`` statistics meet a channels-first moving mean: they broadcast along the last axis.
        Invalid(
            """
import tensorflow as tf
from tensorflow.python.training import moving_averages
def norm_nchw(x, channels):
    moving_mean = tf.compat.v1.get_variable("moving_mean", [1, channels, 1, 1], trainable=False)
    mean, var = tf.nn.moments(x, [0, 2, 3])  # error: [BN003]
    return moving_averages.assign_moving_average(moving_mean, mean, 0.99)
""",
            message="Moments without `keepdims=True` are shaped `[C]` and broadcast along the last axis, but "
                    "`moving_mean` (line 4) has its channels on axis 1",
        ),
        # The same through a layer's attributes and a shape filled in per data format.
        Invalid(
            """
import tensorflow as tf
class Norm(tf.keras.layers.Layer):
    def __init__(self, data_format="channels_last"):
        super().__init__()
        self.data_format = data_format
    def build(self, input_shape):
        axis = len(input_shape) - 1 if self.data_format == "channels_last" else 1
        shape = [1] * len(input_shape)
        shape[axis] = input_shape[axis]
        self.gamma = self.add_weight(name="gamma", shape=shape)
        self.beta = self.add_weight(name="beta", shape=shape)
    def call(self, x):
        mean, var = tf.nn.moments(x, [i for i in range(len(x.shape)) if i != 1])  # error: [BN003]
        return tf.nn.batch_normalization(x, mean, var, self.beta, self.gamma, 1e-3)
""",
            message="has its channels on axis 1",
        ),
        # ``[C]`` statistics normalizing channels-first features.
        Invalid(
            """
import tensorflow as tf
net = tf.compat.v1.layers.conv2d(images, 64, 3, data_format="channels_first")
mean, var = tf.nn.moments(net, [0, 2, 3])  # error: [BN003]
out = tf.nn.batch_normalization(net, mean, var, None, None, 1e-3)
""",
            message="Moments without `keepdims=True` are shaped `[C]` and broadcast along the last axis, but "
                    "`net` is NCHW: its channels are on axis 1",
        ),
        # ``range`` yields no negative index: ``i != -1`` leaves every axis in.
        Invalid(
            """
import tensorflow as tf
def normalize(x, channel_axis=-1):
    axes = [i for i in range(len(x.shape)) if i != channel_axis]
    return tf.nn.moments(x, axes, keepdims=True)  # error: [BN003]
""",
            message="Moments axes (line 3) keep the channel axis: `channel_axis` can be `-1` (line 2), "
                    "which `range` never yields",
        ),
        Invalid(
            """
import tensorflow as tf
class Norm(tf.keras.layers.Layer):
    def __init__(self, data_format="channels_last"):
        super().__init__()
        self.channel_axis = -1 if data_format == "channels_last" else 1
    def call(self, x):
        axes = []
        for i in range(len(x.shape)):
            if i != self.channel_axis:
                axes.append(i)
        return tf.nn.moments(x, axes, keepdims=True)  # error: [BN003]
"""
        ),
        # One mean and variance for every channel, kept in a per-channel moving average.
        Invalid(
            """
import tensorflow as tf
from tensorflow.python.training import moving_averages
def norm(images):
    net = tf.compat.v1.layers.conv2d(images, 32, 3)
    moving_mean = tf.compat.v1.get_variable("moving_mean", [32], trainable=False)
    mean, var = tf.nn.moments(net, [0, 1, 2, 3])  # error: [BN003]
    return moving_averages.assign_moving_average(moving_mean, mean, 0.99)
""",
            message="Moments over every axis give one mean and variance for all channels, but `moving_mean` "
                    "(line 5) holds one per channel",
        ),
        # Conv axes on a matrix: TensorFlow raises ``Invalid reduction dimension``.
        Invalid(
            """
import tensorflow as tf
x = tf.compat.v1.placeholder(tf.float32, [None, 784])
w = tf.compat.v1.get_variable("w", [784, 256])
h = tf.matmul(x, w)
mean, var = tf.nn.moments(h, [0, 1, 2])  # error: [BN003]
""",
            message="axis 2 is out of range for a rank-2 input",
        ),
        # NHWC axes on features whose ``data_format`` comes through a parameter.
        Invalid(
            """
import tensorflow as tf
def block(images, data_format):
    net = tf.compat.v1.layers.conv2d(images, 64, 3, data_format=data_format)
    return tf.nn.moments(x=net, axes=[0, 1, 2])  # error: [BN003]
def model(images):
    return block(images, "channels_first")
""",
            message="channel axis 1 of NCHW",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        inference: ShapeInference = ctx.project.memo("shape_inference", lambda: ShapeInference(ctx.project))
        for site in file.calls:
            if not file.call_names(site) & registry.MOMENTS_NAMES:
                continue
            x_arg, axes_arg = call_argument(site.node, "x", 0), call_argument(site.node, "axes", 1)
            if x_arg is None or axes_arg is None:
                continue
            shape = inference.shape(file, x_arg.value, site.scope, site.order, site.blocks)
            axes = _literal_axes(Value(axes_arg.value, file, site.scope))
            leaves = origins(file, axes_arg.value, site.scope, site.order, site.blocks)
            flows = filtered_ranges(leaves) if leaves else []
            report = None
            if axes is not None:
                message = _problem(axes, shape)
                report = Report(site.node, message) if message else None
            report = report or _negative_exclusion(file, site, flows) or \
                _statistics_mismatch(file, site, inference, x_arg.value, axes, flows, leaves or [], shape)
            if report is not None:
                yield report


def _literal_axes(value: Value) -> list[int] | None:
    axes = constant(value)
    if isinstance(axes, int) and not isinstance(axes, bool):
        axes = [axes]
    if not isinstance(axes, list) or not axes or not all(
            isinstance(a, int) and not isinstance(a, bool) for a in axes):
        return None
    return axes


def _where(file: FileModel, origin: Origin) -> str:
    return origin.file.place(origin.expr, with_path=origin.file is not file)


def _negative_exclusion(file: FileModel, site: CallSite, flows: list[FilteredRange]) -> Report | None:
    """``[i for i in range(n) if i != axis]`` with ``axis = -1``: ``range`` never yields it, nothing is left out."""
    for flow in flows:
        values = excluded_values(flow)
        if not values:
            continue
        negative = next(((value, leaf) for value, leaf in values if value < 0), None)
        if negative is None:
            continue
        value, leaf = negative
        excluded = flow.excluded[0] if len(flow.excluded) == 1 else None
        axes = _where(file, flow.origin)
        if excluded is None or literal(excluded) is not ...:
            message = f"Moments axes ({axes}) keep the channel axis: `range` never yields `{value}`"
        else:
            message = (f"Moments axes ({axes}) keep the channel axis: `{flow.origin.file.code(excluded)}` can be "
                       f"`{value}` ({_where(file, leaf)}), which `range` never yields")
        return Report(site.node, message, related=((flow.origin.file, flow.origin.expr), (leaf.file, leaf.expr)))
    return None


def _statistics_mismatch(file: FileModel, site: CallSite, inference: ShapeInference, x: cst.BaseExpression,
                         axes: list[int] | None, flows: list[FilteredRange], leaves: list[Origin],
                         shape: TensorShape) -> Report | None:
    """The mean and variance meet a per-channel tensor, or the features they normalize, that they do not fit."""
    uses = statistic_uses(file, site)
    if not uses:
        return None
    keeps = keeps_dims(file, site)
    everything = _reduces_everything(file, x, axes, leaves, shape)
    # ``[C]`` statistics: no kept dimensions, every axis reduced but one, on features not known channels-last.
    vector = keeps is False and not everything and not (shape.rank is not None and shape.channel_axis == shape.rank - 1)
    keyword = "keep_dims" if "keep_dims" in file.code(site.node) else "keepdims"
    for use in uses:
        partner = file.code(use.partner)
        if use.role == "input":
            features = inference.shape(file, use.partner, use.site.scope, use.site.order, use.site.blocks)
            channel, rank = features.channel_axis, features.rank
            if vector and rank is not None and channel is not None and channel < rank - 1 and \
                    _one_axis_kept(axes, flows, rank):
                return Report(site.node, f"Moments without `{keyword}=True` are shaped `[C]` and broadcast along the "
                                         f"last axis, but `{partner}` is {features.layout or 'channels-first'}: "
                                         f"its channels are on axis {channel}")
            continue
        layouts = tensor_layouts(file, use.partner, use.site.scope)
        if not layouts:
            continue
        if everything:
            created = layouts[0].created or layouts[0].where
            holds = "holds" if use.role == "moving" else "scales and shifts"
            return Report(site.node, f"Moments over every axis give one mean and variance for all channels, but "
                                     f"`{partner}` ({_where(file, created)}) {holds} one per channel",
                          related=((created.file, created.expr),))
        if not vector:
            continue
        for layout in layouts:
            if layout.channels_before_last and _one_axis_kept(axes, flows, shape.rank or layout.rank):
                created = layout.created or layout.where
                return Report(site.node, f"Moments without `{keyword}=True` are shaped `[C]` and broadcast along "
                                         f"the last axis, but `{partner}` ({_where(file, created)}) has its channels "
                                         f"on axis {layout.channel}",
                              related=((created.file, created.expr),))
    return None


def _one_axis_kept(axes: list[int] | None, flows: list[FilteredRange], rank: int | None) -> bool:
    """The moments reduce all axes but one: their statistics are vectors ``[C]``."""
    if axes is not None:
        return rank is not None and len({axis % rank for axis in axes if -rank <= axis < rank}) == rank - 1
    return bool(flows) and all(len(flow.excluded) == 1 for flow in flows)


def _reduces_everything(file: FileModel, x: cst.BaseExpression, axes: list[int] | None, leaves: list[Origin],
                        shape: TensorShape) -> bool:
    """Every axis of the input is reduced: one scalar mean and variance."""
    if axes is not None:
        return shape.rank is not None and {axis % shape.rank for axis in axes if -shape.rank <= axis < shape.rank} \
            == set(range(shape.rank))
    return bool(leaves) and all(_range_of_rank(file, leaf.expr, x) for leaf in leaves)


def _range_of_rank(file: FileModel, expr: cst.BaseExpression, x: cst.BaseExpression) -> bool:
    """``range(len(x.shape))`` (in ``list``/``tuple``, or ``x.shape.ndims``, ``x.ndim``...) of the moments' own input."""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("list", "tuple") \
            and len(expr.args) == 1:
        expr = expr.args[0].value
    if not isinstance(expr, cst.Call) or not isinstance(expr.func, cst.Name) or expr.func.value != "range" \
            or len(expr.args) != 1:
        return False
    stop = expr.args[0].value
    source = file.code(x)
    if isinstance(stop, cst.Call) and isinstance(stop.func, cst.Name) and stop.func.value == "len" and stop.args:
        stop = stop.args[0].value
        if isinstance(stop, cst.Call) and isinstance(stop.func, cst.Attribute) and \
                stop.func.attr.value == "get_shape" and not stop.args:
            return file.code(stop.func.value) == source
        return isinstance(stop, cst.Attribute) and stop.attr.value == "shape" and file.code(stop.value) == source
    if isinstance(stop, cst.Attribute) and stop.attr.value in ("ndim", "ndims", "rank"):
        owner = stop.value
        if isinstance(owner, cst.Attribute) and owner.attr.value == "shape":
            owner = owner.value
        elif isinstance(owner, cst.Call) and isinstance(owner.func, cst.Attribute) and \
                owner.func.attr.value == "get_shape":
            owner = owner.func.value
        return file.code(owner) == source
    return False


def _problem(axes: list[int], shape: TensorShape) -> str | None:
    rank = shape.rank
    if rank is None:
        return None
    for axis in axes:
        if not -rank <= axis < rank:
            return f"Moments axis {axis} is out of range for a rank-{rank} input"
    normalized = {axis % rank for axis in axes}
    everything = set(range(rank))
    channel = shape.channel_axis
    if channel is not None and 0 in normalized and channel in normalized and normalized != everything:
        return (f"Moments over axes {sorted(normalized)} reduce the channel axis {channel} of {shape.layout} "
                f"features; keep it out: {sorted(everything - {channel})}")
    if rank >= 4 and normalized == {0}:
        return (f"Moments over the batch axis alone of rank-{rank} features give one statistic per pixel; "
                f"reduce the spatial axes too")
    return None
