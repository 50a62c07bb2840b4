"""BN012: a frozen Keras base model called on new inputs without ``training=False``."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts.keras_models import batch_norm_held_by
from bnlint.facts.values import literal
from bnlint.messages import shortened
from bnlint.rule import FixSpec, Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, call_argument, child_nodes, dotted, has_star_args


class FrozenModelInTrainingMode(Rule):
    """Frozen Keras model called without `training=False`.

    ## What it does
    Flags a call ``base_model(inputs)`` of a Keras model known to hold batch
    norm (a ``tf.keras.applications`` network built with it, a
    ``Model``/``Sequential`` whose layers include a ``BatchNormalization``)
    after ``base_model.trainable = False`` in the same function, when the call
    passes no ``training`` argument. A model kept on the object,
    ``self.backbone(x)`` after ``self.backbone.trainable = False``, is judged
    the same way, by what the class's methods assign to ``self.backbone``.

    Left alone: calls that pass ``training`` (any value: the author decided),
    calls after the model was made trainable again, objects whose type or
    layers are not known (parameters, ``load_model`` results), models
    without batch norm, and models used as a layer of ``Sequential``.

    ## Why is this bad?
    The Keras transfer-learning guide requires the frozen base to run in
    inference mode: ``x = base_model(inputs, training=False)``. Without it
    the call follows the learning phase. Once you unfreeze the base for
    fine-tuning (``base_model.trainable = True``), its batch-norm layers
    run in training mode, normalise with the statistics of small fine-tuning
    batches and overwrite the pretrained moving mean and variance; the
    accuracy gained during transfer learning collapses.

    ## Example
    ```python
    base_model = keras.applications.Xception(weights="imagenet", include_top=False)
    base_model.trainable = False
    inputs = keras.Input(shape=(150, 150, 3))
    x = base_model(inputs)
    ```

    ## Use instead
    ```python
    base_model = keras.applications.Xception(weights="imagenet", include_top=False)
    base_model.trainable = False
    inputs = keras.Input(shape=(150, 150, 3))
    x = base_model(inputs, training=False)
    ```

    ## Fix safety
    The fix adds ``training=False`` to the call. It is unsafe: it changes
    what the model computes (dropout and batch norm in the base stop
    training), which is the intent, but may not be what every caller wants.

    ## References
    - [Transfer learning & fine-tuning (Keras guide)](https://keras.io/guides/transfer_learning/)
    """

    CODE = "BN012"
    NAME = "frozen-model-in-training-mode"
    FIX_TITLE = "Pass `training=False` to the frozen model's call"
    FIX_APPLICABILITY = "unsafe"
    SEVERITY = "warning"
    TOKENS = (".trainable = False", ".trainable=False")
    PROJECT_WIDE = False

    VALID = [
        Valid(
            """
from tensorflow import keras
base_model = keras.applications.Xception(weights="imagenet", include_top=False)
base_model.trainable = False
inputs = keras.Input(shape=(150, 150, 3))
x = base_model(inputs, training=False)
"""
        ),
        # Not frozen.
        Valid(
            """
import tensorflow as tf
base = tf.keras.applications.ResNet50(include_top=False)
features = base(images)
"""
        ),
        # VGG16 holds no batch norm.
        Valid(
            """
import tensorflow as tf
base = tf.keras.applications.VGG16(include_top=False)
base.trainable = False
features = base(images)
"""
        ),
        # Unknown type: a parameter.
        Valid(
            """
def head(backbone, inputs):
    backbone.trainable = False
    return backbone(inputs)
"""
        ),
        # Frozen, then unfrozen before the call.
        Valid(
            """
import tensorflow as tf
base = tf.keras.applications.MobileNetV2(include_top=False)
base.trainable = False
base.trainable = True
features = base(images)
"""
        ),
        # Passed positionally.
        Valid(
            """
import tensorflow as tf
base = tf.keras.models.load_model("encoder.keras")
base.trainable = False
features = base(images, False)
"""
        ),
        # An attribute the class also fills from a parameter: its type is not known.
        Valid(
            """
import tensorflow as tf
class Classifier:
    def __init__(self, backbone=None):
        self.backbone = backbone
        if backbone is None:
            self.backbone = tf.keras.applications.ResNet50(include_top=False)

    def head(self, images):
        self.backbone.trainable = False
        return self.backbone(images)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow as tf
class Classifier:
    def __init__(self, classes):
        self.backbone = tf.keras.applications.EfficientNetB0(include_top=False, pooling="avg")
        self.classes = classes

    def build(self):
        self.backbone.trainable = False
        inputs = tf.keras.Input((224, 224, 3))
        features = self.backbone(inputs)  # error: [BN012]
        return tf.keras.Model(inputs, tf.keras.layers.Dense(self.classes)(features))
""",
            message="frozen model `self.backbone` (`trainable = False` on line 8)",
            expected_replacement="""
import tensorflow as tf
class Classifier:
    def __init__(self, classes):
        self.backbone = tf.keras.applications.EfficientNetB0(include_top=False, pooling="avg")
        self.classes = classes

    def build(self):
        self.backbone.trainable = False
        inputs = tf.keras.Input((224, 224, 3))
        features = self.backbone(inputs, training=False)  # error: [BN012]
        return tf.keras.Model(inputs, tf.keras.layers.Dense(self.classes)(features))
""",
        ),
        Invalid(
            """
from tensorflow import keras
base_model = keras.applications.Xception(weights="imagenet", include_top=False)
base_model.trainable = False
inputs = keras.Input(shape=(150, 150, 3))
x = base_model(inputs)  # error: [BN012]
""",
            message="frozen model `base_model` (`trainable = False` on line 3)",
            expected_replacement="""
from tensorflow import keras
base_model = keras.applications.Xception(weights="imagenet", include_top=False)
base_model.trainable = False
inputs = keras.Input(shape=(150, 150, 3))
x = base_model(inputs, training=False)  # error: [BN012]
""",
        ),
        Invalid(
            """
import tensorflow as tf
def build_classifier(num_classes):
    base = tf.keras.applications.ResNet50(include_top=False, pooling="avg")
    base.trainable = False
    inputs = tf.keras.Input((224, 224, 3))
    features = base(tf.keras.applications.resnet50.preprocess_input(inputs))  # error: [BN012]
    return tf.keras.Model(inputs, tf.keras.layers.Dense(num_classes)(features))
""",
            expected_replacement="""
import tensorflow as tf
def build_classifier(num_classes):
    base = tf.keras.applications.ResNet50(include_top=False, pooling="avg")
    base.trainable = False
    inputs = tf.keras.Input((224, 224, 3))
    features = base(tf.keras.applications.resnet50.preprocess_input(inputs), training=False)  # error: [BN012]
    return tf.keras.Model(inputs, tf.keras.layers.Dense(num_classes)(features))
""",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        # What the file sets ``.trainable`` on: no other receiver can be frozen.
        receivers = {_assigned_name(assign) for assign in _trainable_assignments(file.module)}
        if not receivers:
            return
        cache: dict[int, list[cst.Assign]] = {}
        for site in file.calls:
            func = site.node.func
            # ``base(x)``, or a model kept on an object: ``self.backbone(x)``.
            receiver = dotted(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
            if receiver not in receivers or has_star_args(site.node):
                continue
            if call_argument(site.node, "training", 1) is not None:
                continue
            if not site.node.args:
                continue
            frozen = _frozen_before(file, site, receiver, cache)
            if frozen is None or not _is_keras_model(file, site, func):
                continue
            # Only a model known to hold batch norm: its statistics are what the call would retrain.
            if batch_norm_held_by(ctx.project, file, func, site.scope) is None:
                continue
            fixed = site.node.with_changes(args=[
                *site.node.args[:-1],
                site.node.args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT),
                cst.Arg(keyword=cst.Name("training"), value=cst.Name("False"),
                        equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))),
            ])
            yield Report(
                site.node,
                f"`{shortened(file.code(site.node))}` calls frozen model `{receiver}` (`trainable = False` on "
                f"line {file.line(frozen)}) without `training=False`: its batch norms train when it is unfrozen",
                fix=FixSpec(node=site.node, replacement=fixed, message="Pass `training=False`",
                            applicability="unsafe"),
                related=((file, frozen),),
            )


def _is_keras_model(file: FileModel, site: CallSite, func: cst.Name | cst.Attribute) -> bool:
    """``func`` denotes a model a Keras model factory or application built, whatever it was assigned."""
    if isinstance(func, cst.Attribute):
        # ``self.backbone``: what the methods of the class assign to the attribute, judged as a name's bindings.
        values = file.attribute_values(func, site.scope)
    else:
        bindings = file.lookup(func.value, site.scope)
        if any(binding.kind != "assign" or binding.unpack for binding in bindings):
            return False
        values = [(binding.value, binding.scope) for binding in bindings]
    return bool(values) and all(
        isinstance(value, cst.Call) and any(_builds_keras_model(name) for name in file.resolve(value.func, scope))
        for value, scope in values)


def _builds_keras_model(name: str) -> bool:
    return name in registry.KERAS_MODEL_FACTORIES or name.startswith(registry.KERAS_APPLICATIONS_PREFIX)


def _frozen_before(file: FileModel, site: CallSite, name: str,
                   cache: dict[int, list[cst.Assign]]) -> cst.Assign | None:
    """The last ``name.trainable = ...`` before the call in its function, if it sets False."""
    function = file.enclosing_function(site.scope)
    root: cst.CSTNode = function.node.body if function is not None else file.module
    if id(root) not in cache:
        cache[id(root)] = _trainable_assignments(root, skip_defs=True)
    assignments = [a for a in cache[id(root)] if _assigned_name(a) == name]
    if not assignments:
        return None
    line = file.line(site.node)
    last: tuple[int, cst.Assign, object] | None = None
    for assign in assignments:
        assign_line = file.line(assign)
        if assign_line < line and (last is None or assign_line >= last[0]):
            last = (assign_line, assign, literal(assign.value))
    if last is not None and last[2] is False:
        return last[1]
    return None


def _assigned_name(assign: cst.Assign) -> str | None:
    """``base`` for ``base.trainable = ...``, ``self.backbone`` for ``self.backbone.trainable = ...``."""
    target = assign.targets[0].target
    return dotted(target.value) if isinstance(target, cst.Attribute) else None


def _trainable_assignments(root: cst.CSTNode, skip_defs: bool = False) -> list[cst.Assign]:
    """``name.trainable = ...`` statements under ``root`` (not inside nested defs when ``skip_defs``)."""
    out: list[cst.Assign] = []
    stack: list[cst.CSTNode] = [root]
    while stack:
        node = stack.pop()
        if skip_defs and isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.Assign):
            if len(node.targets) == 1:
                t = node.targets[0].target
                if isinstance(t, cst.Attribute) and t.attr.value == registry.TRAINABLE_ATTRIBUTE \
                        and dotted(t.value) is not None:
                    out.append(node)
            continue
        stack.extend(child_nodes(node))
    return out


