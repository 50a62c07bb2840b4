"""BN004: a batch norm that normalizes another axis than its input's channel axis."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.batch_norm import BatchNormSite, batch_norm_sites_in
from bnlint.facts.shapes import ShapeInference, TensorShape
from bnlint.facts.values import Value, arg_scope_defaults, constant, literal
from bnlint.rule import FixSpec, Invalid, Report, Rule, Valid
from bnlint.semantic import call_argument, has_star_args

_CHANNELS_FIRST = {4: "NCHW", 5: "NCDHW"}
_CHANNELS_LAST = {4: "NHWC", 5: "NDHWC"}


class BatchNormAxisDataFormatMismatch(Rule):
    """Batch norm's axis or data format does not name its input's channel axis.

    ## What it does
    Compares the feature axis of a batch norm with the channel axis of its
    input, where the code states the input's layout (conv and pooling layers'
    ``data_format``, ``set_image_data_format``, a branch of
    ``if K.image_data_format() == "channels_first":``, literal placeholder and
    ``Input`` shapes, transposes; the same inference as BN003). It flags:

    - ``tf.keras.layers.BatchNormalization`` and ``tf.compat.v1.layers.batch_normalization``
      with the default ``axis=-1`` (or any other axis) on channels-first (NCHW)
      features, and ``axis=1`` on channels-last (NHWC) features;
    - ``tf.nn.fused_batch_norm`` and ``tf.contrib.layers.batch_norm`` / ``slim.batch_norm``
      whose ``data_format`` (default ``"NHWC"``, also through ``arg_scope``)
      disagrees with the input's layout.

    Rank-2 features and inputs of unknown layout are left alone.

    ## Why is this bad?
    Batch norm keeps one mean, variance, scale and offset per entry of its
    feature axis. On the wrong axis it normalizes each row (or column) of the
    image across channels instead of each channel: the model still trains, a
    little worse, and the statistics are tied to the image size.

    ## Example
    ```python
    x = tf.keras.layers.Conv2D(64, 3, data_format="channels_first")(images)
    x = tf.keras.layers.BatchNormalization()(x)
    ```

    ## Use instead
    ```python
    x = tf.keras.layers.Conv2D(64, 3, data_format="channels_first")(images)
    x = tf.keras.layers.BatchNormalization(axis=1)(x)
    ```

    ## Fix safety
    The fix sets ``axis=1`` on channels-first features (``axis=-1`` on
    channels-last ones), or ``data_format`` to the input's layout. It is
    **unsafe**: it changes the layer's variables and what the model computes,
    and checkpoints saved with the old shapes no longer load.

    ## References
    - [tf.keras.layers.BatchNormalization](https://www.tensorflow.org/api_docs/python/tf/keras/layers/BatchNormalization)
    - [tf.nn.fused_batch_norm](https://www.tensorflow.org/api_docs/python/tf/compat/v1/nn/fused_batch_norm)
    """

    CODE = "BN004"
    NAME = "batchnorm-axis-data-format-mismatch"
    FIX_TITLE = "Normalize the channel axis: `axis=1` for channels-first features"
    FIX_APPLICABILITY = "unsafe"
    # Files that set Keras's global layout matter too.
    TOKENS = tokens.BATCH_NORM + ("image_data_format", "image_dim_ordering")
    PROJECT_WIDE = True

    VALID = [
        Valid(
            """
import tensorflow as tf
x = tf.keras.layers.Conv2D(64, 3, data_format="channels_first")(images)
x = tf.keras.layers.BatchNormalization(axis=1)(x)
"""
        ),
        Valid(
            """
import tensorflow as tf
x = tf.keras.layers.Conv2D(64, 3)(images)
x = tf.keras.layers.BatchNormalization()(x)
"""
        ),
        # The idiom of keras.applications: the axis follows the configured layout.
        Valid(
            """
from tensorflow.keras import backend, layers
bn_axis = 3 if backend.image_data_format() == "channels_last" else 1
x = layers.Conv2D(64, 3)(img_input)
x = layers.BatchNormalization(axis=bn_axis)(x)
"""
        ),
        # Code that reads the configured layout: a layer outside a guarded branch has no known layout.
        Valid(
            """
from tensorflow.keras import backend as K, layers
channel_axis = 1 if K.image_data_format() == "channels_first" else -1
x = layers.Conv2D(64, 3)(img_input)
x = layers.BatchNormalization()(x)
"""
        ),
        Valid(
            """
import tensorflow.compat.v1 as tf
x = tf.placeholder(tf.float32, [None, 3, 224, 224])
y = tf.layers.batch_normalization(x, axis=1, training=True)
h = tf.layers.dense(tf.layers.flatten(y), 10)
z = tf.layers.batch_normalization(h, training=True)
"""
        ),
        Valid(
            """
import tensorflow as tf
slim = tf.contrib.slim
with slim.arg_scope([slim.batch_norm], data_format="NCHW"):
    net = slim.conv2d(images, 64, [3, 3], data_format="NCHW")
    net = slim.batch_norm(net)
"""
        ),
        # Another program of the project sets the global layout: this one's is not known.
        Valid(
            files={
                "nchw_tool.py": """
import keras
keras.backend.set_image_data_format("channels_first")
""",
                "model.py": """
import keras
def build(x):
    x = keras.layers.Conv2D(8, 3)(x)
    return keras.layers.BatchNormalization(axis=1)(x)
""",
            }
        ),
        # Unknown layout.
        Valid(
            """
import tensorflow as tf
def block(x):
    return tf.keras.layers.BatchNormalization(axis=1)(x)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow as tf
x = tf.keras.layers.Conv2D(64, 3, data_format="channels_first")(images)
x = tf.keras.layers.BatchNormalization()(x)  # error: [BN004]
""",
            message="normalizes axis -1 (the default), but its input `x` is NCHW",
            expected_replacement="""
import tensorflow as tf
x = tf.keras.layers.Conv2D(64, 3, data_format="channels_first")(images)
x = tf.keras.layers.BatchNormalization(axis=1)(x)  # error: [BN004]
""",
        ),
        # Keras's global layout, and a layer object built apart from its call.
        Invalid(
            """
from tensorflow import keras
keras.backend.set_image_data_format("channels_first")
conv = keras.layers.Conv2D(32, 3, padding="same")
bn = keras.layers.BatchNormalization(momentum=0.9, axis=-1)
h = bn(conv(inputs), training=True)  # error: [BN004]
""",
            message="`bn` normalizes axis -1",
            expected_replacement="""
from tensorflow import keras
keras.backend.set_image_data_format("channels_first")
conv = keras.layers.Conv2D(32, 3, padding="same")
bn = keras.layers.BatchNormalization(momentum=0.9, axis=1)
h = bn(conv(inputs), training=True)  # error: [BN004]
""",
        ),
        # The layout is set by the code that builds the model, in another file.
        Invalid(
            files={
                "main.py": """
import keras
import model
keras.backend.set_image_data_format("channels_first")
net = model.build(keras.Input((3, 32, 32)))
""",
                "model.py": """
import keras
def build(x):
    x = keras.layers.Conv2D(8, 3)(x)
    return keras.layers.BatchNormalization()(x)  # error: [BN004]
""",
            },
            expected_replacement={
                "model.py": """
import keras
def build(x):
    x = keras.layers.Conv2D(8, 3)(x)
    return keras.layers.BatchNormalization(axis=1)(x)  # error: [BN004]
""",
            },
        ),
        # A branch of an image_data_format() test.
        Invalid(
            """
from keras import backend as K
from keras.layers import BatchNormalization, Conv2D
if K.image_data_format() == "channels_first":
    x = Conv2D(16, 3)(inputs)
    x = BatchNormalization()(x)  # error: [BN004]
else:
    x = Conv2D(16, 3)(inputs)
    x = BatchNormalization()(x)
""",
            expected_replacement="""
from keras import backend as K
from keras.layers import BatchNormalization, Conv2D
if K.image_data_format() == "channels_first":
    x = Conv2D(16, 3)(inputs)
    x = BatchNormalization(axis=1)(x)  # error: [BN004]
else:
    x = Conv2D(16, 3)(inputs)
    x = BatchNormalization()(x)
""",
        ),
        # axis=1 on channels-last data.
        Invalid(
            """
import tensorflow.compat.v1 as tf
images = tf.placeholder(tf.float32, [None, 224, 224, 3])
net = tf.layers.conv2d(images, 64, 3)
net = tf.layers.batch_normalization(net, 1, training=is_training)  # error: [BN004]
""",
            message="is NHWC: channels are on axis 3",
            expected_replacement="""
import tensorflow.compat.v1 as tf
images = tf.placeholder(tf.float32, [None, 224, 224, 3])
net = tf.layers.conv2d(images, 64, 3)
net = tf.layers.batch_normalization(net, -1, training=is_training)  # error: [BN004]
""",
        ),
        # fused_batch_norm's data_format (default NHWC) on NCHW data.
        Invalid(
            """
import tensorflow as tf
x = tf.nn.conv2d(images, kernel, strides=1, padding="SAME", data_format="NCHW")
y, mean, var = tf.nn.fused_batch_norm(x, scale, offset, epsilon=1e-3)  # error: [BN004]
""",
            message="`data_format='NHWC'` (the default), but its input `x` is NCHW",
            expected_replacement="""
import tensorflow as tf
x = tf.nn.conv2d(images, kernel, strides=1, padding="SAME", data_format="NCHW")
y, mean, var = tf.nn.fused_batch_norm(x, scale, offset, epsilon=1e-3, data_format="NCHW")  # error: [BN004]
""",
        ),
        # slim: the conv is NCHW, the batch norm keeps its NHWC default.
        Invalid(
            """
import tf_slim as slim
net = slim.conv2d(images, 64, [3, 3], data_format='NCHW')
net = slim.batch_norm(net, data_format='NHWC', is_training=True)  # error: [BN004]
""",
            expected_replacement="""
import tf_slim as slim
net = slim.conv2d(images, 64, [3, 3], data_format='NCHW')
net = slim.batch_norm(net, data_format='NCHW', is_training=True)  # error: [BN004]
""",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        inference: ShapeInference = ctx.project.memo("shape_inference", lambda: ShapeInference(ctx.project))
        for bn in batch_norm_sites_in(ctx.project, ctx.file):
            if bn.via_normalizer_fn or has_star_args(bn.site.node):
                continue
            inputs = call_argument(bn.site.node, "inputs", 0) or call_argument(bn.site.node, "x", 0)
            if inputs is None:
                continue
            shape = inference.shape(ctx.file, inputs.value, bn.site.scope, bn.site.order, bn.site.blocks)
            if shape.rank is None or shape.rank < 3 or shape.channel_axis not in (1, shape.rank - 1):
                continue
            if bn.api.axis is not None:
                report = _check_axis(ctx, bn, inputs.value, shape)
            elif bn.api.data_format is not None:
                report = _check_data_format(ctx, bn, inputs.value, shape)
            else:
                report = None
            if report is not None:
                yield report


def _check_axis(ctx: FileContext, bn: BatchNormSite, inputs: cst.BaseExpression, shape: TensorShape) -> Report | None:
    call = bn.site.node if bn.api.kind == "function" else bn.constructor
    if call is None or has_star_args(call):
        return None
    assert bn.api.axis is not None
    arg = call_argument(call, bn.api.axis.name, bn.api.axis.position)
    axis = -1 if arg is None else constant(Value(arg.value, ctx.file, bn.site.scope))
    if not isinstance(axis, int) or isinstance(axis, bool) or not -shape.rank <= axis < shape.rank:
        return None  # a list of axes, or an error TensorFlow reports itself
    rank, channel = shape.rank, shape.channel_axis
    assert rank is not None and channel is not None
    if axis % rank == channel:
        return None
    wanted = "1" if channel == 1 else "-1"
    default = " (the default)" if arg is None else ""
    message = (f"`{bn.display()}` normalizes axis {axis}{default}, but its input `{ctx.file.code(inputs)}` "
               f"is {shape.layout}: channels are on axis {channel}")
    value = cst.parse_expression(wanted)
    if arg is not None:
        fix = FixSpec(arg.value, value, f"Use `axis={wanted}`", "unsafe")
    else:
        fix = FixSpec(call, _with_keyword(call, "axis", value), f"Use `axis={wanted}`", "unsafe")
    return Report(bn.site.node, message, fix=fix)


def _check_data_format(ctx: FileContext, bn: BatchNormSite, inputs: cst.BaseExpression,
                       shape: TensorShape) -> Report | None:
    param = bn.api.data_format
    assert param is not None
    rank = shape.rank
    if rank not in _CHANNELS_FIRST:
        return None
    arg = call_argument(bn.site.node, param.name, param.position)
    if arg is not None:
        formats = {constant(Value(arg.value, ctx.file, bn.site.scope))}
    else:
        formats = set()
        for defaults in arg_scope_defaults(ctx.file, bn.site, frozenset(bn.api.names), ctx.project):
            value = defaults.get(param.name)
            formats.add("NHWC" if value is None else constant(value))
    if len(formats) != 1:
        return None
    data_format = formats.pop()
    if data_format in ("NHWC", "NDHWC"):
        channel = rank - 1
    elif data_format in ("NCHW", "NCDHW"):
        channel = 1
    else:
        return None
    if channel == shape.channel_axis:
        return None
    # contrib's batch_norm calls every rank's layout NHWC or NCHW; the fused kernel spells the rank.
    spelling_rank = 4 if bn.api.key == "tf.contrib.layers.batch_norm" else rank
    wanted = (_CHANNELS_FIRST if shape.channel_axis == 1 else _CHANNELS_LAST)[spelling_rank]
    default = " (the default)" if arg is None and data_format == "NHWC" else ""
    message = (f"`{bn.display()}` has `data_format='{data_format}'`{default}, but its input "
               f"`{ctx.file.code(inputs)}` is {shape.layout}")
    fix = None
    if arg is not None:
        if isinstance(arg.value, cst.SimpleString) and literal(arg.value) == data_format:
            quote = arg.value.quote
            fix = FixSpec(arg.value, cst.SimpleString(f"{quote}{wanted}{quote}"),
                          f"Use `data_format=\"{wanted}\"`", "unsafe")
    elif not any(defaults for defaults in arg_scope_defaults(ctx.file, bn.site, frozenset(bn.api.names), ctx.project)
                 if param.name in defaults):
        fix = FixSpec(bn.site.node, _with_keyword(bn.site.node, param.name, cst.SimpleString(f'"{wanted}"')),
                      f"Use `data_format=\"{wanted}\"`", "unsafe")
    return Report(bn.site.node, message, fix=fix)


def _with_keyword(call: cst.Call, name: str, value: cst.BaseExpression) -> cst.Call:
    """``call`` with ``name=value`` added after its last argument, in the call's own comma style."""
    arg = cst.Arg(value=value, keyword=cst.Name(name),
                  equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                        whitespace_after=cst.SimpleWhitespace("")))
    args = list(call.args)
    if not args:
        return call.with_changes(args=[arg])
    last = args[-1]
    if isinstance(last.comma, cst.Comma):
        # Trailing comma (a multi-line call): the new argument copies the last one's comma and indentation.
        args.append(arg.with_changes(comma=last.comma))
    else:
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        args.append(arg)
    return call.with_changes(args=args)
