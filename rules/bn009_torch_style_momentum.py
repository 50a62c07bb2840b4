"""BN009: a TensorFlow batch-norm momentum written the PyTorch way (0.1 instead of 0.9)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable, Iterable, Iterator

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.batch_norm import batch_norm_api_for
from bnlint.facts.inference import is_test_file
from bnlint.facts.values import Value, constant_origins, literal
from bnlint.registry import BatchNormApi
from bnlint.rule import FixSpec, Invalid, Report, Rule, Valid
from bnlint.semantic import INSTANCE, CallSite, FileModel, Scope, call_argument, has_star_args

# At or below this, a TF momentum keeps at most half of the moving average per step.
_THRESHOLD = 0.5


@dataclass(frozen=True)
class _Momentum:
    """A momentum argument: the value node, what it configures, and its keyword."""

    value: cst.BaseExpression
    scope: Scope
    keyword: str
    # What it configures, as a message shows it; a callable renders it only for a finding.
    owner: "str | Callable[[], str]"
    # An ``ExponentialMovingAverage``'s decay rather than a batch norm's momentum.
    ema: bool = False

    def owner_text(self) -> str:
        return self.owner() if callable(self.owner) else self.owner


class TorchStyleMomentum(Rule):
    """Batch-norm momentum of 0.5 or less: PyTorch's convention in TensorFlow code.

    ## What it does
    Flags the ``momentum`` (or ``decay``) of a TensorFlow or Keras batch norm
    (a project subclass of one included), and the ``decay`` of a
    ``tf.train.ExponentialMovingAverage``, when it is a constant of 0.5 or less;
    0 is the worst case for a batch norm (the moving statistics are the last
    batch's; an average with decay 0 is the idiom for restoring averaged
    variables by name and is not flagged). It checks
    the batch-norm call or constructor itself, ``functools.partial`` over one,
    slim's ``arg_scope`` defaults for ``batch_norm`` and ``normalizer_params``
    dictionaries given with ``normalizer_fn=slim.batch_norm``. Constants
    assigned once to a name are followed, and so are parameters: a momentum
    that comes from a parameter's default (``def block(x, bn_momentum=0.1)``),
    or from what the project's callers pass for it, is reported where that
    value is written, once, naming the batch norm it reaches. Unit-test files
    are not checked (tests choose momenta that make expected values exact).
    PyTorch, Flax and optimizer momenta are not batch-norm APIs of TensorFlow
    and are never flagged.

    ## Why is this bad?
    TensorFlow keeps ``momentum`` of the old moving average at each step
    (``moving = momentum * moving + (1 - momentum) * batch``); PyTorch keeps
    ``1 - momentum``. PyTorch's default ``momentum=0.1`` is Keras's
    ``momentum=0.9``. Ported as is, it makes the moving mean and variance follow
    the last few batches, so inference-time statistics are noisy and evaluation
    accuracy swings from checkpoint to checkpoint. A decay of 0.5 or less
    averages over two batches or fewer whichever convention was meant.

    ## Example
    ```python
    bn = tf.keras.layers.BatchNormalization(momentum=0.1, epsilon=1e-5)
    ```

    ## Use instead
    ```python
    bn = tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    ```

    ## Fix safety
    The fix replaces a literal momentum ``m`` with ``1 - m`` (``0.1`` becomes
    ``0.9``). It is **unsafe**: it changes the moving statistics and so what the
    model computes at inference, and it assumes the PyTorch convention was
    meant. No fix is offered for 0.5 (its own complement) or when the value
    comes from a named constant that may be used elsewhere.

    ## References
    - [tf.keras.layers.BatchNormalization](https://www.tensorflow.org/api_docs/python/tf/keras/layers/BatchNormalization)
    - [torch.nn.BatchNorm2d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html)
    - [tf.train.ExponentialMovingAverage](https://www.tensorflow.org/api_docs/python/tf/compat/v1/train/ExponentialMovingAverage)
    """

    CODE = "BN009"
    NAME = "torch-style-momentum"
    FIX_TITLE = "Use `momentum=1 - m` (PyTorch's 0.1 is TensorFlow's 0.9)"
    FIX_APPLICABILITY = "unsafe"
    # Positional momenta carry no keyword: any batch-norm or EMA spelling may hold one.
    TOKENS = tokens.BATCH_NORM + ("momentum", "decay")

    VALID = [
        # Decay 0 only maps the averaged variables' names for restoring them at inference.
        Valid(
            """
import tensorflow.compat.v1 as tf
ema = tf.train.ExponentialMovingAverage(decay=0.0)
saver = tf.train.Saver(ema.variables_to_restore())
"""
        ),
        Valid(
            """
import tensorflow as tf
bn = tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
"""
        ),
        # PyTorch's convention in PyTorch code.
        Valid(
            """
import torch.nn as nn
bn = nn.BatchNorm2d(64, momentum=0.1)
"""
        ),
        # Flax: not a TensorFlow API.
        Valid(
            """
import flax.linen as nn
bn = nn.BatchNorm(use_running_average=False, momentum=0.1)
"""
        ),
        # Optimizer momentum.
        Valid(
            """
import tensorflow as tf
opt = tf.keras.optimizers.SGD(learning_rate=0.1, momentum=0.1)
train_op = tf.compat.v1.train.MomentumOptimizer(0.01, momentum=0.5).minimize(loss)
"""
        ),
        # Unknown value: say nothing.
        Valid(
            """
import tensorflow as tf
def block(x, bn_momentum):
    return tf.keras.layers.BatchNormalization(momentum=bn_momentum)(x)
"""
        ),
        # A positional argument in another slot (``axis``).
        Valid(
            """
import tensorflow as tf
bn = tf.keras.layers.BatchNormalization(1, 0.99)
"""
        ),
        # A weight-averaging EMA with a sensible decay.
        Valid(
            """
import tensorflow.compat.v1 as tf
ema = tf.train.ExponentialMovingAverage(0.999, num_updates=global_step)
"""
        ),
        # Every caller passes a TensorFlow-convention value: the parameter's default never applies.
        Valid(
            """
from tensorflow.keras import layers
def block(x, bn_momentum=0.1):
    return layers.BatchNormalization(momentum=bn_momentum)(x)
def network(x):
    return block(block(x, bn_momentum=0.99), bn_momentum=0.9)
"""
        ),
        # A unit test chooses its momentum to make the expected moving mean exact.
        Valid(
            files={"batch_norm_test.py": """
import tensorflow as tf
def test_moving_mean_after_one_step():
    bn = tf.keras.layers.BatchNormalization(momentum=0.5)
"""},
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow as tf
bn = tf.keras.layers.BatchNormalization(momentum=0.1, epsilon=1e-5)  # error: [BN009]
""",
            message="`momentum=0.1` of `tf.keras.layers.BatchNormalization`",
            expected_replacement="""
import tensorflow as tf
bn = tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)  # error: [BN009]
""",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, -1, 0.01, training=is_training)  # error: [BN009]
""",
            message="use `0.99`",
            expected_replacement="""
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, -1, 0.99, training=is_training)  # error: [BN009]
""",
        ),
        # slim: the keyword is ``decay``; the value comes through arg_scope and normalizer_params.
        Invalid(
            """
import tf_slim as slim
with slim.arg_scope([slim.batch_norm], decay=0.03):  # error: [BN009]
    net = slim.conv2d(images, 64, [3, 3], normalizer_fn=slim.batch_norm,
                      normalizer_params={"decay": 0.1, "is_training": True})  # error: [BN009]
""",
            message="`decay=0.1` of `slim.batch_norm`",
            expected_replacement="""
import tf_slim as slim
with slim.arg_scope([slim.batch_norm], decay=0.97):  # error: [BN009]
    net = slim.conv2d(images, 64, [3, 3], normalizer_fn=slim.batch_norm,
                      normalizer_params={"decay": 0.9, "is_training": True})  # error: [BN009]
""",
        ),
        # A named constant: flagged, but not rewritten (the name may be used elsewhere).
        Invalid(
            """
import functools
from tensorflow.keras import layers
BN_MOMENTUM = 0.1
norm = functools.partial(layers.BatchNormalization, momentum=BN_MOMENTUM)  # error: [BN009]
""",
            message="`momentum=BN_MOMENTUM` (0.1)",
        ),
        # An EMA of batch statistics with decay 0.5: no fix, 0.5 is its own complement.
        Invalid(
            """
import tensorflow as tf
ema = tf.train.ExponentialMovingAverage(decay=0.5)  # error: [BN009]
apply_op = ema.apply([batch_mean, batch_var])
""",
            message="averages over about two steps",
        ),
        # The value flows from a parameter's default: reported at the default, where the fix goes.
        Invalid(
            """
from tensorflow.keras import layers
def block(x, bn_momentum=0.1):  # error: [BN009]
    x = layers.Conv2D(16, 3)(x)
    return layers.BatchNormalization(momentum=bn_momentum)(x)
def network(x):
    return block(block(x))
""",
            message="`0.1` (line 2), the `momentum` of `layers.BatchNormalization` (line 4),",
            expected_replacement="""
from tensorflow.keras import layers
def block(x, bn_momentum=0.9):  # error: [BN009]
    x = layers.Conv2D(16, 3)(x)
    return layers.BatchNormalization(momentum=bn_momentum)(x)
def network(x):
    return block(block(x))
""",
        ),
        # A caller passes the value on: reported at the outermost default it comes from.
        Invalid(
            """
from tensorflow.keras import layers
def block(x, bn_momentum=0.99):
    return layers.BatchNormalization(momentum=bn_momentum)(x)
def network(x, bn_momentum=0.0):  # error: [BN009]
    return block(x, bn_momentum=bn_momentum)
""",
            message="makes the moving statistics those of the last batch alone",
        ),
        # A static method's parameters line up with the call's arguments (no ``self`` to skip).
        Invalid(
            """
import tensorflow as tf
class Blocks:
    @staticmethod
    def norm(x, momentum):
        return tf.keras.layers.BatchNormalization(momentum=momentum)(x)
def build(x):
    return Blocks.norm(x, 0.1)  # error: [BN009]
""",
            message="the `momentum` of `tf.keras.layers.BatchNormalization`",
            expected_replacement="""
import tensorflow as tf
class Blocks:
    @staticmethod
    def norm(x, momentum):
        return tf.keras.layers.BatchNormalization(momentum=momentum)(x)
def build(x):
    return Blocks.norm(x, 0.9)  # error: [BN009]
""",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        if is_test_file(file):
            return  # unit tests pick momenta that make expected values exact
        seen: set[int] = set()
        for site in file.calls:
            for momentum in _momenta(file, site):
                origins = constant_origins(Value(momentum.value, file, momentum.scope))
                for value, origin in origins or ():
                    # Reported where the value is written (a parameter's default: the place a fix goes),
                    # once however many batch norms it reaches; in this file, else at the argument.
                    node = origin.expr if origin.file is file else momentum.value
                    if id(node) in seen:
                        continue
                    report = _report(file, momentum, value, node)
                    if report is not None:
                        seen.add(id(node))
                        yield report


def _momenta(file: FileModel, site: CallSite) -> Iterator[_Momentum]:
    """Momentum arguments a call passes, sets by default, or binds for a batch norm or EMA."""
    names = file.call_names(site)
    for name in names:
        api = batch_norm_api_for(file, name)
        if api is not None and api.momentum is not None and not name.endswith(INSTANCE):
            # A function-style batch norm, or a layer's constructor.
            arg = call_argument(site.node, api.momentum.name, api.momentum.position)
            if arg is not None:
                yield _Momentum(arg.value, site.scope, api.momentum.name, lambda: file.code(site.node.func))
            return
        if name in registry.EMA_CLASS_NAMES:
            arg = call_argument(site.node, registry.EMA_DECAY.name, registry.EMA_DECAY.position)
            if arg is not None:
                yield _Momentum(arg.value, site.scope, registry.EMA_DECAY.name, lambda: file.code(site.node.func),
                                ema=True)
            return
    if names & registry.PARTIAL_NAMES and site.node.args:
        for api, owner in _batch_norms(file, site.node.args[0].value, site.scope):
            arg = call_argument(site.node, api.momentum.name, None)
            if arg is not None:
                yield _Momentum(arg.value, site.scope, api.momentum.name, owner)
        return
    if names & registry.ARG_SCOPE_NAMES and site.node.args:
        ops = site.node.args[0].value
        if isinstance(ops, (cst.List, cst.Tuple)):
            for element in ops.elements:
                for api, owner in _batch_norms(file, element.value, site.scope):
                    arg = call_argument(site.node, api.momentum.name, None)
                    if arg is not None:
                        yield _Momentum(arg.value, site.scope, api.momentum.name, owner)
    normalizer = call_argument(site.node, registry.NORMALIZER_FN_PARAM, None)
    params = call_argument(site.node, registry.NORMALIZER_PARAMS_PARAM, None)
    if normalizer is None or params is None:
        return
    for api, owner in _batch_norms(file, normalizer.value, site.scope):
        for key, value in _dict_items(file, params.value, site.scope):
            if key == api.momentum.name:
                yield _Momentum(value, site.scope, key, owner)


def _batch_norms(file: FileModel, expr: cst.BaseExpression, scope: Scope) -> list[tuple[BatchNormApi, str]]:
    """Batch-norm APIs with a momentum that an expression names (not calls), with its spelling."""
    out = []
    for name in file.resolve(expr, scope):
        api = batch_norm_api_for(file, name)
        if api is not None and api.momentum is not None:
            out.append((api, file.code(expr)))
            break
    return out


def _dict_items(file: FileModel, expr: cst.BaseExpression, scope: Scope) -> list[tuple[str, cst.BaseExpression]]:
    """String keys and values of a dict literal or ``dict(...)``, directly or through a name assigned once."""
    if isinstance(expr, cst.Name):
        bindings = file.lookup(expr.value, scope)
        if len(bindings) != 1 or bindings[0].kind != "assign" or bindings[0].unpack or bindings[0].value is None:
            return []
        expr = bindings[0].value
    out: list[tuple[str, cst.BaseExpression]] = []
    if isinstance(expr, cst.Dict):
        for element in expr.elements:
            if isinstance(element, cst.DictElement):
                key = literal(element.key)
                if isinstance(key, str):
                    out.append((key, element.value))
    elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "dict" \
            and not has_star_args(expr):
        out.extend((arg.keyword.value, arg.value) for arg in expr.args if arg.keyword is not None)
    return out


def _report(file: FileModel, momentum: _Momentum, value: object, node: cst.BaseExpression) -> Report | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= _THRESHOLD:
        return None
    if value == 0 and momentum.ema:
        # ``ExponentialMovingAverage(0.0).variables_to_restore()`` only maps the averages' names for restoring.
        return None
    if node is momentum.value:
        written = file.code(momentum.value)
        shown = f"`{momentum.keyword}={written}`" + ("" if literal(momentum.value) is not ... else f" ({value})")
        subject = f"{shown} of `{momentum.owner_text()}`"
    else:
        written = file.code(node)
        subject = (f"`{written}` ({file.place(node)}), the `{momentum.keyword}` of `{momentum.owner_text()}` "
                   f"({file.place(momentum.value)}),")
    complement = _complement(node) if literal(node) is not ... else None
    if value == 0:
        message = (f"{subject} makes the moving statistics those of the last batch alone "
                   f"(PyTorch's convention taken to its end); use a value near `0.99`")
        return Report(node, message)
    if value == _THRESHOLD:
        message = (f"{subject} averages over about two steps: "
                   f"the moving average follows the last batches; use a value near `0.99`")
        return Report(node, message)
    suggestion = complement or format(Decimal(1) - Decimal(repr(value)), "f")
    message = (f"{subject} is PyTorch's convention: TensorFlow keeps `{momentum.keyword}` "
               f"of the moving average per step; use `{suggestion}`")
    fix = None
    if complement is not None:
        fix = FixSpec(node=node, replacement=cst.Float(complement),
                      message=f"Replace `{written}` with `{complement}`", applicability="unsafe")
    return Report(node, message, fix=fix)


def _complement(expr: cst.BaseExpression) -> str | None:
    """``1 - m`` for a numeric literal ``m``, written exactly (``0.1`` -> ``0.9``)."""
    if not isinstance(expr, (cst.Float, cst.Integer)):
        return None
    try:
        result = Decimal(1) - Decimal(expr.value.replace("_", ""))
    except InvalidOperation:
        return None
    text = format(result.normalize(), "f")
    return text if "." in text else None
