"""BN018: a Keras layer's ``call`` passes a constant ``training`` to an inner batch norm."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.keras_models import batch_norm_held_by, frozen_names, is_keras_batch_norm_class, is_keras_class
from bnlint.facts.values import Value, literal, truth
from bnlint.rule import FixSpec, Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, call_argument, dotted, has_star_args


class TrainingFlagNotForwarded(Rule):
    """Keras layer's `call` passes a constant `training` to an inner batch norm.

    ## What it does
    Flags, inside the ``call(self, inputs, training=...)`` method of a Keras
    ``Layer`` or ``Model`` subclass, a call of an inner batch norm (a
    ``BatchNormalization`` layer) or of a sublayer that holds one, made with
    ``training=True`` or ``training=False`` (a literal, or a name assigned
    one) instead of the ``training`` flag ``call`` received.

    Left alone: calls forwarding any non-constant value (``training``,
    ``training and not self.frozen``), inner layers constructed with
    ``trainable=False`` or set ``.trainable = False`` (a deliberately frozen
    batch norm), ``training=False`` given to a pretrained
    ``tf.keras.applications`` network (the Keras fine-tuning idiom), ``call`` methods without a ``training`` parameter, and
    sublayers not known to hold batch norm.

    ## Why is this bad?
    Keras hands the mode to the outer layer only; the outer layer must pass it
    on. With ``training=False`` hard-coded, the inner batch norm normalises
    with its moving statistics during ``fit`` too and never updates them;
    with ``training=True``, it normalises each batch with its own statistics
    at inference too, so predictions depend on the rest of the batch and
    every ``predict`` call shifts the moving averages.

    ## Example
    ```python
    class ConvBlock(keras.layers.Layer):
        def call(self, inputs, training=None):
            return self.bn(self.conv(inputs), training=False)
    ```

    ## Use instead
    ```python
    class ConvBlock(keras.layers.Layer):
        def call(self, inputs, training=None):
            return self.bn(self.conv(inputs), training=training)
    ```
    To freeze an inner batch norm on purpose, construct it with
    ``trainable=False`` (Keras then runs it in inference mode whatever the flag).

    ## Fix safety
    The fix replaces the constant with ``call``'s own flag (``training=training``,
    spelled with the parameter's name). It is **unsafe**: the batch norm then
    switches mode with the model, which changes what it computes in training
    (and, for a hard-coded ``True``, at inference).

    ## References
    - [Making new layers and models via subclassing: the `training` argument](https://keras.io/guides/making_new_layers_and_models_via_subclassing/)
    - [tf.keras.layers.BatchNormalization](https://www.tensorflow.org/api_docs/python/tf/keras/layers/BatchNormalization)
    """

    CODE = "BN018"
    NAME = "training-flag-not-forwarded"
    FIX_TITLE = "Forward `call`'s `training` flag to the inner layer"
    FIX_APPLICABILITY = "unsafe"
    # The call itself, and every file that may define the batch-norm sublayer it calls.
    TOKENS = ("training", "keras", "applications") + tokens.BATCH_NORM
    PROJECT_WIDE = True

    VALID = [
        Valid(
            """
from tensorflow import keras
class ConvBlock(keras.layers.Layer):
    def __init__(self, filters):
        super().__init__()
        self.conv = keras.layers.Conv2D(filters, 3)
        self.bn = keras.layers.BatchNormalization()
    def call(self, inputs, training=None):
        return self.bn(self.conv(inputs), training=training)
"""
        ),
        # A deliberately frozen batch norm.
        Valid(
            """
from tensorflow import keras
class FrozenBlock(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.bn = keras.layers.BatchNormalization(trainable=False)
    def call(self, inputs, training=None):
        return self.bn(inputs, training=False)
"""
        ),
        # Dropout is not a batch norm.
        Valid(
            """
from tensorflow import keras
class Head(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.dropout = keras.layers.Dropout(0.5)
    def call(self, inputs, training=None):
        return self.dropout(inputs, training=True)
"""
        ),
        # The Keras fine-tuning idiom: the pretrained base stays in inference mode.
        Valid(
            """
from tensorflow import keras
class Classifier(keras.Model):
    def __init__(self):
        super().__init__()
        self.base = keras.applications.Xception(weights="imagenet", include_top=False, pooling="avg")
        self.head = keras.layers.Dense(1)
    def call(self, inputs, training=None):
        return self.head(self.base(inputs, training=False))
"""
        ),
        # No training parameter to forward.
        Valid(
            """
from tensorflow import keras
class Stem(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.bn = keras.layers.BatchNormalization()
    def call(self, inputs):
        return self.bn(inputs, training=False)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
from tensorflow import keras
class ConvBlock(keras.layers.Layer):
    def __init__(self, filters):
        super().__init__()
        self.conv = keras.layers.Conv2D(filters, 3)
        self.bn = keras.layers.BatchNormalization()
    def call(self, inputs, training=None):
        return self.bn(self.conv(inputs), training=False)  # error: [BN018]
""",
            message="`self.bn` gets the constant `training=False` in `ConvBlock.call` instead of its `training` flag",
            expected_replacement="""
from tensorflow import keras
class ConvBlock(keras.layers.Layer):
    def __init__(self, filters):
        super().__init__()
        self.conv = keras.layers.Conv2D(filters, 3)
        self.bn = keras.layers.BatchNormalization()
    def call(self, inputs, training=None):
        return self.bn(self.conv(inputs), training=training)  # error: [BN018]
""",
        ),
        # A sublayer that holds batch norm, always in training mode; the flag has another name.
        Invalid(
            """
import tensorflow as tf
class Block(tf.keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.norm = tf.keras.layers.BatchNormalization()
    def call(self, x, training=None):
        return tf.nn.relu(self.norm(x, training=training))
class Net(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.block1 = Block()
        self.block2 = Block()
    def call(self, x, training=False):
        x = self.block1(x, training=training)
        return self.block2(x, training=True)  # error: [BN018]
""",
            message="runs in training mode at inference too",
            expected_replacement="""
import tensorflow as tf
class Block(tf.keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.norm = tf.keras.layers.BatchNormalization()
    def call(self, x, training=None):
        return tf.nn.relu(self.norm(x, training=training))
class Net(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.block1 = Block()
        self.block2 = Block()
    def call(self, x, training=False):
        x = self.block1(x, training=training)
        return self.block2(x, training=training)  # error: [BN018]
""",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file, project = ctx.file, ctx.project
        for function in file.functions.values():
            if not isinstance(function.node, cst.FunctionDef) or function.name != registry.LAYER_CALL_METHOD:
                continue
            if not function.class_qualname or function.param_named(registry.TRAINING_PARAM.name) is None:
                continue
            if not is_keras_class(project, file, function.class_qualname):
                continue
            flag = registry.TRAINING_PARAM.name
            for site in function.calls:
                report = _check_call(ctx, function.class_qualname, flag, site)
                if report is not None:
                    yield report


def _check_call(ctx: FileContext, class_qualname: str, flag: str, site: CallSite) -> Report | None:
    file, project = ctx.file, ctx.project
    func = site.node.func
    if not isinstance(func, (cst.Name, cst.Attribute)) or has_star_args(site.node):
        return None
    arg = call_argument(site.node, registry.TRAINING_PARAM.name, None)
    if arg is None and is_keras_batch_norm_class(_instance_classes(file, site), file):
        arg = call_argument(site.node, registry.TRAINING_PARAM.name, registry.TRAINING_PARAM.position)
    if arg is None:
        return None
    value = truth(Value(arg.value, file, site.scope))
    if value is None:
        return None
    called = dotted(func)
    if called is None or called in frozen_names(file):
        return None
    evidence = batch_norm_held_by(project, file, func, site.scope)
    if evidence is None or _constructed_frozen(evidence.node) or (value is False and evidence.pretrained):
        return None
    effect = ("runs in inference mode during training too: it never updates its moving statistics" if value is False
              else "runs in training mode at inference too: predictions depend on the batch and update the "
                   "moving statistics")
    return Report(
        arg.value,
        f"`{called}` gets the constant `training={file.code(arg.value)}` in `{class_qualname}.call` instead of "
        f"its `{flag}` flag: batch norm {evidence.describe(file)} {effect}",
        fix=FixSpec(node=arg.value, replacement=cst.Name(flag), message=f"Forward `training={flag}`",
                    applicability="unsafe"),
        related=((evidence.file, evidence.node),),
    )


def _instance_classes(file: FileModel, site: CallSite) -> frozenset[str]:
    """Classes the called object is an instance of (``BatchNormalization()`` -> ``BatchNormalization``)."""
    return frozenset(name[:-2] for name in file.call_names(site) if name.endswith("()"))


def _constructed_frozen(node: cst.CSTNode) -> bool:
    if not isinstance(node, cst.Call):
        return False
    arg = call_argument(node, registry.TRAINABLE_ATTRIBUTE, None)
    return arg is not None and literal(arg.value) is False
