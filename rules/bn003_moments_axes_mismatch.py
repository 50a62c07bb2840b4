"""BN003: ``tf.nn.moments`` axes that do not fit the input's rank or layout."""

from __future__ import annotations

from typing import Iterable

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.shapes import ShapeInference, TensorShape
from bnlint.facts.values import Value, constant
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import call_argument


class MomentsAxesMismatch(Rule):
    """Moments computed over axes that do not fit the input.

    ## What it does
    Checks the ``axes`` of ``tf.nn.moments``, ``tf.nn.weighted_moments`` and
    ``tf.nn.sufficient_statistics`` against the rank and layout of the input
    where the code states them (placeholder and ``Input`` shapes, conv and
    pooling layers and their ``data_format``, dense, reshape and transpose
    outputs). It flags:

    - an axis out of range for the input's rank;
    - batch statistics that also reduce the channel axis (the last axis of
      NHWC features, axis 1 of NCHW features), such as NHWC axes
      ``[0, 1, 2]`` used on NCHW data;
    - rank-4 (or rank-5) features reduced over the batch axis alone, which
      gives one statistic per pixel instead of one per channel.

    Reductions over every axis, or over all axes but the batch (layer
    normalisation), are left alone. When the rank or layout is unknown, the
    rule says nothing.

    ## Why is this bad?
    Batch normalisation needs one mean and variance per channel. Reducing the
    channel axis mixes channels into one statistic; skipping the spatial axes
    keeps a statistic per pixel that does not broadcast as intended. Either way
    the layer silently normalises the wrong thing.

    ## Example
    ```python
    x = tf.layers.conv2d(images, 64, 3, data_format="channels_first")
    mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
    ```

    ## Use instead
    ```python
    x = tf.layers.conv2d(images, 64, 3, data_format="channels_first")
    mean, variance = tf.nn.moments(x, axes=[0, 2, 3])
    ```

    ## Fix safety
    No automatic fix: the right axes depend on what the author meant.

    ## References
    - [tf.nn.moments](https://www.tensorflow.org/api_docs/python/tf/nn/moments)
    """

    CODE = "BN003"
    NAME = "moments-axes-mismatch"
    FIX_TITLE = "Reduce over the batch and spatial axes, keeping the channel axis"
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
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        inference: ShapeInference = ctx.project.memo("shape_inference", lambda: ShapeInference(ctx.project))
        for site in file.calls:
            if not file.call_names(site) & registry.MOMENTS_NAMES:
                continue
            if not site.node.args or site.node.args[0].keyword is not None:
                continue
            axes_arg = call_argument(site.node, "axes", 1)
            if axes_arg is None:
                continue
            axes = constant(Value(axes_arg.value, file, site.scope))
            if isinstance(axes, int) and not isinstance(axes, bool):
                axes = [axes]
            if not isinstance(axes, list) or not axes or not all(
                isinstance(a, int) and not isinstance(a, bool) for a in axes
            ):
                continue
            shape = inference.shape(file, site.node.args[0].value, site.scope, site.order, site.blocks)
            message = _problem(axes, shape)
            if message:
                yield Report(site.node, message)


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
