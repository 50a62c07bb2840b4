"""The architectures the audit is validated on, and the batch-norm bugs injected into them.

``keras.applications`` models built with ``weights=None`` (nothing is downloaded) at
the smallest input size each accepts, and three bugs written into their batch norms by
cloning the model with ``clone_model(..., clone_function=...)``:

- ``forced_training``: every BN runs in training mode, also at inference;
- ``frozen_momentum``: ``momentum=1.0``, the moving statistics never update;
- ``batch_stats``: normalises with the batch's statistics at inference too and never
  updates the moving ones.

``benchmarks/audit_zoo.py`` audits every family, clean and injected; the tests audit a
subset. ``expected_failures`` says which checks each bug breaks. Works with Keras 3 and,
in a ``TF_USE_LEGACY_KERAS=1`` process, with tf_keras.
"""

from __future__ import annotations

from typing import Any, Callable

# name -> (keras.applications attribute, smallest (height, width) it accepts). Keras 3
# has no ResNetRS or RegNet: those families are tf_keras applications only (--legacy-keras).
ARCHITECTURES: dict[str, tuple[str, int]] = {
    "ResNet50": ("ResNet50", 32),
    "ResNet50V2": ("ResNet50V2", 32),
    "ResNetRS50": ("ResNetRS50", 32),
    "MobileNet": ("MobileNet", 32),
    "MobileNetV2": ("MobileNetV2", 32),
    "MobileNetV3Small": ("MobileNetV3Small", 32),
    "MobileNetV3Large": ("MobileNetV3Large", 32),
    "EfficientNetB0": ("EfficientNetB0", 32),
    "EfficientNetV2B0": ("EfficientNetV2B0", 32),
    "DenseNet121": ("DenseNet121", 32),
    "InceptionV3": ("InceptionV3", 75),
    "InceptionResNetV2": ("InceptionResNetV2", 75),
    "Xception": ("Xception", 71),
    "NASNetMobile": ("NASNetMobile", 32),
    "RegNetX002": ("RegNetX002", 32),
    "RegNetY002": ("RegNetY002", 32),
    "ConvNeXtTiny": ("ConvNeXtTiny", 32),
}

INJECTIONS = ("forced_training", "frozen_momentum", "batch_stats")

# The checks each bug must fail; every other check must pass or be skipped. A Keras
# model's traced inference graph is inspected by BNR004 like an exported one: a BN
# forced into training mode writes its statistics there too.
EXPECTED = {
    "forced_training": {"BNR001", "BNR003", "BNR004", "BNR005"},
    "frozen_momentum": {"BNR002"},
    "batch_stats": {"BNR002", "BNR003", "BNR005"},
}


def keras_module(legacy: bool = False) -> Any:
    """Keras 3, or tf_keras for ``legacy`` (the process must run with TF_USE_LEGACY_KERAS=1)."""
    if legacy:
        import tf_keras  # noqa: PLC0415

        return tf_keras
    import keras  # noqa: PLC0415

    return keras


def available(name: str, legacy: bool = False) -> bool:
    """Whether this Keras (tf_keras for ``legacy``) ships architecture ``name``."""
    return hasattr(keras_module(legacy).applications, ARCHITECTURES[name][0])


def build(name: str, legacy: bool = False, size: int | None = None) -> Any:
    """``keras.applications.<name>(weights=None)`` at its smallest input size, 10 classes."""
    k = keras_module(legacy)
    attr, smallest = ARCHITECTURES[name]
    k.utils.set_random_seed(0)
    side = size or smallest
    kwargs: dict[str, Any] = {"weights": None, "input_shape": (side, side, 3), "classes": 10}
    return getattr(k.applications, attr)(**kwargs)


def _bn_classes(k: Any) -> tuple[type, ...]:
    classes = [k.layers.BatchNormalization]
    sync = getattr(getattr(k.layers, "experimental", None), "SyncBatchNormalization", None)
    if sync is not None:
        classes.append(sync)
    return tuple(classes)


def _injected_classes(k: Any) -> dict[str, type]:
    """The three buggy batch norms, as subclasses of this Keras's ``BatchNormalization``."""
    base = k.layers.BatchNormalization

    class ForcedTrainingBN(base):
        """The bug: ignores ``training`` and always normalises (and updates) in training mode."""

        def call(self, inputs, training=None, mask=None):  # noqa: ARG002 - the bug ignores it
            return super().call(inputs, training=True)

    class BatchStatsBN(base):
        """The bug: normalises with the batch's statistics always; moving ones never change."""

        def call(self, inputs, training=None, mask=None):  # noqa: ARG002
            import tensorflow as tf  # noqa: PLC0415

            x = tf.cast(inputs, tf.float32)
            axis = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
            axis = [a % x.shape.rank for a in axis]
            reduce = [a for a in range(x.shape.rank) if a not in axis]
            mean, var = tf.nn.moments(x, reduce, keepdims=True)
            shape = [1] * x.shape.rank
            for a in axis:
                shape[a] = x.shape[a]
            y = (x - mean) * tf.math.rsqrt(var + self.epsilon)
            if self.gamma is not None:
                y = y * tf.reshape(self.gamma, shape)
            if self.beta is not None:
                y = y + tf.reshape(self.beta, shape)
            return tf.cast(y, inputs.dtype)

    return {"forced_training": ForcedTrainingBN, "batch_stats": BatchStatsBN}


def inject(model: Any, bug: str, legacy: bool = False) -> Any:
    """A clone of ``model`` whose batch norms carry ``bug`` (one of :data:`INJECTIONS`), same weights."""
    if bug not in INJECTIONS:
        raise ValueError(f"unknown injection {bug!r} (known: {', '.join(INJECTIONS)})")
    k = keras_module(legacy)
    bn_classes = _bn_classes(k)
    injected = _injected_classes(k)

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if not isinstance(layer, bn_classes):
            return layer.__class__.from_config(config)
        if bug == "frozen_momentum":
            config["momentum"] = 1.0
            return layer.__class__.from_config(config)
        config.pop("synchronized", None)
        return injected[bug].from_config(config)

    copy = k.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def compile_for_audit(model: Any) -> Any:
    """Compile as a user would, so the audit runs ``train_on_batch`` and ``evaluate``."""
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


def factory(name: str, bug: str | None = None, legacy: bool = False,
            size: int | None = None) -> Callable[[], Any]:
    """A ``file.py:factory``-style callable building ``name`` (with ``bug`` injected)."""

    def make() -> Any:
        model = build(name, legacy, size)
        if bug:
            model = inject(model, bug, legacy)
        return compile_for_audit(model)

    return make


# A SavedModel has no training step (BNR002 skipped); BNR004 reads the exported graph.
EXPECTED_SAVED = {"forced_training": {"BNR001", "BNR003", "BNR004", "BNR005"}}


def is_bn_layer(layer: Any) -> bool:
    """Whether ``layer`` is a batch norm the injections replace."""
    from .observe import is_batch_norm  # noqa: PLC0415

    return is_batch_norm(layer)


def export(model: Any, path: str) -> str:
    """Export ``model`` as a SavedModel serving ``model(x, training=False)``."""
    if hasattr(model, "export"):
        model.export(path, verbose=False)
    else:
        import tensorflow as tf  # noqa: PLC0415

        tf.saved_model.save(model, path)
    return path
