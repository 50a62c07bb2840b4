"""BN018: a Keras layer's ``call`` passes a constant or construction-time ``training`` to an inner batch norm."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.construction_time import ConstructionTime, construction_time
from bnlint.facts.keras_models import (BatchNormEvidence, batch_norm_held_by, class_batch_norm, frozen_names,
                                       is_keras_batch_norm_class, is_keras_class)
from bnlint.facts.values import Value, literal, truth
from bnlint.project import ProjectIndex
from bnlint.rule import FixSpec, Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, FunctionInfo, call_argument, dotted, has_star_args

# How many helper methods of a layer ``call`` is followed into (``self._apply_norm(x)``).
_MAX_HELPERS = 16


class TrainingFlagNotForwarded(Rule):
    """Keras layer's `call` passes a constant or construction-time `training` to an inner batch norm.

    ## What it does
    Flags, inside the ``call`` method of a Keras ``Layer`` or ``Model``
    subclass, a call of an inner batch norm (a ``BatchNormalization`` layer,
    an element of a list of them, ``super().call`` in a batch-norm subclass)
    or of a sublayer that holds one, made with a ``training`` value that does
    not follow the mode the layer is called in:

    - ``training=True`` or ``training=False`` (a literal, or a name assigned
      one) where ``call`` receives a ``training`` flag of its own;
    - a value fixed when the layer is built: ``training=self.is_training``,
      ``training=not self.freeze``, where the attribute is assigned only in
      ``__init__`` or ``build``, from a constructor argument or a literal
      (``self.is_training = is_training``). This is flagged in ``call`` and in
      the helper methods ``call`` runs (``self._apply_norm(x)``), whether or
      not ``call`` takes a ``training`` flag.

    Left alone: values derived from ``call``'s own flag (``training``,
    ``training and not self.frozen``); an attribute that some method other
    than ``__init__``/``build`` assigns (``def set_training(self, v):
    self.is_training = v`` is a run-time switch), that code elsewhere in the
    project assigns on another object (``net.head.is_training = False``) or
    through ``setattr``, that is built from a tensor, a variable or
    ``learning_phase()``, or that a layer built inside another ``call``
    receives from that call's arguments; Keras's own ``trainable``; an
    attribute that is ``None`` on every path (Keras then uses the call's
    mode); inner layers constructed with ``trainable=False`` or set
    ``.trainable = False`` (a deliberately frozen batch norm); ``training=False``
    given to a pretrained ``tf.keras.applications`` network (the Keras
    fine-tuning idiom); a batch-norm subclass whose ``call`` passes
    ``super().call`` a constant (``training=False`` in a class meant to stay
    frozen, or an attribute that is always ``False``); a literal constant in
    a ``call`` without a ``training`` parameter; sublayers not known to hold
    batch norm; and classes that are not Keras layers (a TF1 model class
    whose ``is_training`` picks the graph it builds).

    ## Why is this bad?
    Keras hands the mode to the outer layer only; the outer layer must pass it
    on. With ``training=False`` hard-coded, the inner batch norm normalises
    with its moving statistics during ``fit`` too and never updates them;
    with ``training=True``, it normalises each batch with its own statistics
    at inference too, so predictions depend on the rest of the batch and
    every ``predict`` call shifts the moving averages. A flag fixed at
    construction is one of the two for the layer's whole life: a model built
    with ``is_training=True`` trains correctly, then evaluates and predicts
    with batch statistics.

    ## Example
    ```python
    class ConvBlock(keras.layers.Layer):
        def __init__(self, is_training):
            super().__init__()
            self.is_training = is_training
            self.bn = keras.layers.BatchNormalization()

        def call(self, inputs, training=None):
            return self.bn(inputs, training=self.is_training)
    ```

    ## Use instead
    ```python
    class ConvBlock(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.bn = keras.layers.BatchNormalization()

        def call(self, inputs, training=None):
            return self.bn(inputs, training=training)
    ```
    To freeze an inner batch norm on purpose, construct it with
    ``trainable=False`` (Keras then runs it in inference mode whatever the flag).

    ## Fix safety
    The fix replaces the constant, or the bare construction-time attribute,
    with ``call``'s own flag (``training=training``). It is **unsafe**: the
    batch norm then switches mode with the model, which changes what it
    computes in training (and, for a value that was ``True``, at inference).
    No fix is offered for an expression over attributes (``not self.freeze``:
    what it meant to combine with the flag is the author's call), in a helper
    method, or where ``call`` takes no ``training`` parameter: the flag must
    first be added to ``call``'s signature (Keras hands the mode only to a
    ``call`` that names ``training`` or takes ``**kwargs``) and down to the
    helper, an edit across methods bnlint does not make.

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
        # The attribute only refines call's own flag.
        Valid(
            """
from tensorflow import keras
class Block(keras.layers.Layer):
    def __init__(self, frozen=False):
        super().__init__()
        self.frozen = frozen
        self.bn = keras.layers.BatchNormalization()
    def call(self, inputs, training=None):
        return self.bn(inputs, training=training and not self.frozen)
"""
        ),
        # A run-time switch: a method other than the constructor sets the attribute.
        Valid(
            """
from tensorflow import keras
class Block(keras.layers.Layer):
    def __init__(self, is_training=True):
        super().__init__()
        self.is_training = is_training
        self.bn = keras.layers.BatchNormalization()
    def set_training(self, value):
        self.is_training = value
    def call(self, inputs):
        return self.bn(inputs, training=self.is_training)
"""
        ),
        # Set from outside on the instance: bnlint cannot tell which one, so it stays silent.
        Valid(
            """
from tensorflow import keras
class Block(keras.layers.Layer):
    def __init__(self, is_training):
        super().__init__()
        self.is_training = is_training
        self.bn = keras.layers.BatchNormalization()
    def call(self, inputs):
        return self.bn(inputs, training=self.is_training)
block = Block(True)
block.is_training = False
"""
        ),
        # A frozen batch-norm class: its call always runs the base class in inference mode.
        Valid(
            """
from tensorflow import keras
class FrozenBatchNorm(keras.layers.BatchNormalization):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.use_moving_statistics = True
    def call(self, inputs, training=None):
        return super().call(inputs, training=not self.use_moving_statistics)
class Frozen(keras.layers.BatchNormalization):
    def call(self, inputs, training=None):
        return super().call(inputs, training=False)
"""
        ),
        # ``None`` on every path: Keras takes the mode of the enclosing call.
        Valid(
            """
from tensorflow import keras
class Block(keras.layers.Layer):
    def __init__(self, mode=None):
        super().__init__()
        self.mode = mode
        self.bn = keras.layers.BatchNormalization()
    def call(self, inputs):
        return self.bn(inputs, training=self.mode)
Block()
"""
        ),
        # A TF1 model class, not a Keras layer: ``is_training`` picks the graph it builds.
        Valid(
            """
import tensorflow.compat.v1 as tf
class Model:
    def __init__(self, is_training):
        self.is_training = is_training
    def call(self, images):
        return tf.layers.batch_normalization(images, training=self.is_training)
"""
        ),
        # Built inside another layer's ``call`` from that call's flag; and a tensor-valued flag.
        Valid(
            """
import tensorflow as tf
class Block(tf.keras.layers.Layer):
    def __init__(self, is_training):
        super().__init__()
        self.is_training = is_training
        self.bn = tf.keras.layers.BatchNormalization()
    def call(self, inputs):
        return self.bn(inputs, training=self.is_training)
class Net(tf.keras.Model):
    def call(self, inputs, training=None):
        return Block(is_training=training)(inputs)
Block(tf.keras.backend.learning_phase())
"""
        ),
        # Keras's own attribute, toggled at run time; and a layer without batch norm.
        Valid(
            """
from tensorflow import keras
class Head(keras.layers.Layer):
    def __init__(self, trainable=True, is_training=True):
        super().__init__()
        self.trainable = trainable
        self.is_training = is_training
        self.bn = keras.layers.BatchNormalization()
        self.dropout = keras.layers.Dropout(0.5)
    def call(self, inputs):
        return self.dropout(self.bn(inputs, training=self.trainable), training=self.is_training)
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
        # A constructor argument fixes the mode; call takes no flag, so there is no local fix.
        Invalid(
            """
from tensorflow import keras
class ConvNorm(keras.layers.Layer):
    def __init__(self, filters, is_training):
        super().__init__()
        self.is_training = is_training
        self.conv = keras.layers.Conv2D(filters, 3)
        self.norm = keras.layers.BatchNormalization()
    def call(self, inputs):
        return self.norm(self.conv(inputs), training=self.is_training)  # error: [BN018]
""",
            message="`self.norm` gets `training=self.is_training` in `ConvNorm.call`, a value fixed when the layer "
                    "is built (`self.is_training`, line 5), and `call` takes no `training` flag to pass on",
        ),
        # call has a flag: the fix forwards it.
        Invalid(
            """
import tensorflow as tf
class Stage(tf.keras.layers.Layer):
    def __init__(self, config):
        super().__init__()
        self.train_bn = config.train_bn
        self.norm = tf.keras.layers.BatchNormalization()
    def call(self, x, training=None):
        return self.norm(x, training=self.train_bn)  # error: [BN018]
""",
            message="not the `training` flag `call` receives",
            expected_replacement="""
import tensorflow as tf
class Stage(tf.keras.layers.Layer):
    def __init__(self, config):
        super().__init__()
        self.train_bn = config.train_bn
        self.norm = tf.keras.layers.BatchNormalization()
    def call(self, x, training=None):
        return self.norm(x, training=training)  # error: [BN018]
""",
        ),
        # An attribute the class itself sets to a literal is that constant.
        Invalid(
            """
from tensorflow import keras
class Encoder(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.norm_with_batch_statistics = True
        self.bn = keras.layers.BatchNormalization()
    def call(self, x, training=None):
        return self.bn(x, training=self.norm_with_batch_statistics)  # error: [BN018]
""",
            message="`self.bn` gets `training=self.norm_with_batch_statistics`, always `True` "
                    "(`self.norm_with_batch_statistics`, line 5) in `Encoder.call` instead of its `training` flag",
            expected_replacement="""
from tensorflow import keras
class Encoder(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.norm_with_batch_statistics = True
        self.bn = keras.layers.BatchNormalization()
    def call(self, x, training=None):
        return self.bn(x, training=training)  # error: [BN018]
""",
        ),
        # A freezable batch-norm subclass: unfrozen, it normalises with batch statistics at inference too.
        Invalid(
            """
import tensorflow as tf
class FreezableBatchNorm(tf.keras.layers.BatchNormalization):
    def __init__(self, freeze=False, **kwargs):
        super().__init__(**kwargs)
        self.freeze = freeze
    def call(self, inputs, training=None):
        return super().call(inputs, training=not self.freeze)  # error: [BN018]
""",
            message="`super().call` gets `training=not self.freeze` in `FreezableBatchNorm.call`",
        ),
        # Batch norms in nested lists made by a factory, and a helper method call runs.
        Invalid(
            """
import tensorflow as tf
def make_norm(momentum):
    return tf.keras.layers.BatchNormalization(momentum=momentum)
class Tower(tf.keras.layers.Layer):
    def __init__(self, depth, levels, is_training=False):
        super().__init__()
        self.is_training = is_training
        self.norms = []
        for _ in range(depth):
            per_level = []
            for _ in range(levels):
                per_level.append(make_norm(0.99))
            self.norms.append(per_level)
        self.out_norm = make_norm(0.99)
    def _finish(self, x):
        return self.out_norm(x, training=self.is_training)  # error: [BN018]
    def call(self, features, **kwargs):
        outputs = []
        for level, x in enumerate(features):
            for i in range(len(self.norms)):
                x = self.norms[i][level](x, training=self.is_training)  # error: [BN018]
            outputs.append(self._finish(x))
        return outputs
tower = Tower(2, 3, is_training=True)
"""
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file, project = ctx.file, ctx.project
        for function in file.functions.values():
            if not isinstance(function.node, cst.FunctionDef) or function.name != registry.LAYER_CALL_METHOD:
                continue
            if not function.class_qualname or not is_keras_class(project, file, function.class_qualname):
                continue
            for method in _run_by_call(file, function):
                for site in method.calls:
                    report = _check_call(ctx, function, method, site)
                    if report is not None:
                        yield report


def _run_by_call(file: FileModel, call: FunctionInfo) -> list[FunctionInfo]:
    """``call`` and the methods of its class it runs through ``self.helper(...)``, transitively."""
    prefix = f"{call.class_qualname}."
    receiver = call.params[0].name.value if call.params else None
    out = [call]
    index = 0
    while index < len(out) and len(out) <= _MAX_HELPERS:
        method = out[index]
        index += 1
        for site in method.calls:
            func = site.node.func
            if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                    and func.value.value == receiver):
                continue
            helper = file.functions.get(prefix + func.attr.value)
            if helper is not None and isinstance(helper.node, cst.FunctionDef) and helper.params \
                    and helper.params[0].name.value == receiver and all(helper is not known for known in out):
                out.append(helper)
    return out


def _check_call(ctx: FileContext, call: FunctionInfo, method: FunctionInfo, site: CallSite) -> Report | None:
    file, project = ctx.file, ctx.project
    class_qualname = call.class_qualname or ""
    func = site.node.func
    if not isinstance(func, (cst.Name, cst.Attribute, cst.Subscript)) or has_star_args(site.node):
        return None
    on_super = _is_super_call(func)
    arg = call_argument(site.node, registry.TRAINING_PARAM.name, None)
    if arg is None and (on_super or is_keras_batch_norm_class(_instance_classes(file, site), file)):
        arg = call_argument(site.node, registry.TRAINING_PARAM.name, registry.TRAINING_PARAM.position)
    if arg is None:
        return None
    value = truth(Value(arg.value, file, site.scope))
    built = None
    if value is None:
        built = construction_time(project, file, arg.value, method)
        if built is None or built.follows_call_context():
            return None
        value = built.constant_truth()
    has_flag = call.param_named(registry.TRAINING_PARAM.name) is not None
    if value is not None and (on_super or method is not call or not has_flag):
        # A constant where there is no flag to forward, or the frozen batch-norm class's own
        # ``super().call(x, training=False)``: deliberate.
        return None
    called = "super().call" if on_super else file.code(func)
    container = _container(func)
    if not on_super and (container is None or container in frozen_names(file)):
        return None
    evidence = _super_evidence(project, file, class_qualname) if on_super \
        else batch_norm_held_by(project, file, func, site.scope)
    if evidence is None or _constructed_frozen(evidence.node) or (value is False and evidence.pretrained):
        return None
    written = file.code(arg.value)
    where = f"`{class_qualname}.{method.name}`"
    if value is not None:
        effect = ("runs in inference mode during training too: it never updates its moving statistics"
                  if value is False else
                  "runs in training mode at inference too: predictions depend on the batch and update the "
                  "moving statistics")
        constant_text = f"the constant `training={written}`" if built is None else \
            f"`training={written}`, always `{value}` ({_assignment(file, built)})"
        return Report(
            arg.value,
            f"`{called}` gets {constant_text} in {where} instead of its `{registry.TRAINING_PARAM.name}` flag: "
            f"batch norm {evidence.describe(file)} {effect}",
            fix=_forward_fix(arg.value),
            related=_related(evidence, built),
        )
    assert built is not None
    if method is not call:
        where += f" (run by `{call.name}`)"
    flag = registry.TRAINING_PARAM.name
    instead = f"not the `{flag}` flag `{call.name}` receives" if has_flag \
        else f"and `{call.name}` takes no `{flag}` flag to pass on"
    fixable = method is call and has_flag and isinstance(arg.value, cst.Attribute)
    return Report(
        arg.value,
        f"`{called}` gets `training={written}` in {where}, a value fixed when the layer is built "
        f"({_assignment(file, built)}), {instead}: batch norm {evidence.describe(file)} runs in that one mode "
        f"in training and at inference alike",
        fix=_forward_fix(arg.value) if fixable else None,
        related=_related(evidence, built),
    )


def _container(func: cst.BaseExpression) -> str | None:
    """``self.norms`` of ``self.norms[i][level]``; the dotted name itself for ``self.bn``."""
    while isinstance(func, cst.Subscript):
        func = func.value
    return dotted(func)


def _forward_fix(node: cst.BaseExpression) -> FixSpec:
    flag = registry.TRAINING_PARAM.name
    return FixSpec(node=node, replacement=cst.Name(flag), message=f"Forward `training={flag}`",
                   applicability="unsafe")


def _assignment(file: FileModel, built: ConstructionTime) -> str:
    """```self.is_training`, line 12``, naming the file when it is another."""
    where, node = built.assigned
    return f"`self.{built.attributes[0]}`, {where.place(node, with_path=where is not file)}"


def _related(evidence: BatchNormEvidence, built: ConstructionTime | None) -> tuple:
    related = [(evidence.file, evidence.node)]
    if built is not None:
        related.append(built.assigned)
    return tuple(related)


def _is_super_call(func: cst.BaseExpression) -> bool:
    """``super().call`` or ``super(Cls, self).call``: the base class's own ``call``."""
    return isinstance(func, cst.Attribute) and func.attr.value == registry.LAYER_CALL_METHOD \
        and isinstance(func.value, cst.Call) and isinstance(func.value.func, cst.Name) \
        and func.value.func.value == "super"


def _super_evidence(project: ProjectIndex, file: FileModel, class_qualname: str) -> BatchNormEvidence | None:
    """The batch norm ``super().call`` runs: the class's Keras batch-norm base, or what a linted base holds."""
    for base in file.class_bases.get(class_qualname, []):
        if base.keyword is not None:
            continue
        scope = file.class_scopes[class_qualname]
        names = file.resolve(base.value, scope.parent or file.module_scope)
        if is_keras_batch_norm_class(names, file):
            return BatchNormEvidence(file, base.value, base.value)
        linker = project.linker
        for name in sorted(names):
            found = linker.class_named(name, file) if linker is not None else None
            if found is not None:
                held = class_batch_norm(project, found[0], found[1])
                if held is not None:
                    return held
    return None


def _instance_classes(file: FileModel, site: CallSite) -> frozenset[str]:
    """Classes the called object is an instance of (``BatchNormalization()`` -> ``BatchNormalization``)."""
    return frozenset(name[:-2] for name in file.call_names(site) if name.endswith("()"))


def _constructed_frozen(node: cst.CSTNode) -> bool:
    if not isinstance(node, cst.Call):
        return False
    arg = call_argument(node, registry.TRAINABLE_ATTRIBUTE, None)
    return arg is not None and literal(arg.value) is False
