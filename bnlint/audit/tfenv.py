"""Importing TensorFlow lazily and choosing the device the audit runs on.

Nothing else in ``bnlint`` imports TensorFlow; every audit module that needs it
calls :func:`tensorflow` so that ``import bnlint.audit`` stays cheap.
"""

from __future__ import annotations

import os
import sys

from .errors import AuditError, TensorFlowMissing

INSTALL_HINT = (
    'the runtime audit needs TensorFlow and Keras 3: pip install "bnlint[audit]" '
    "(or, beside an existing tensorflow/tensorflow-cpu wheel: pip install \"keras>=3\")"
)

# TF_USE_LEGACY_KERAS must be set before TensorFlow is imported; TF1 graphs built with
# tf.compat.v1.layers need it, Keras 3 models must not be built under tf.keras with it.
LEGACY_KERAS_ENV = "TF_USE_LEGACY_KERAS"


def tensorflow():
    """Import and return the ``tensorflow`` module, or raise :class:`TensorFlowMissing`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf  # noqa: PLC0415 - lazily, on purpose
    except ImportError as exc:
        raise TensorFlowMissing(f"{INSTALL_HINT} ({exc})") from None
    _warn_two_wheels()
    return tf


_warned = False


def _warn_two_wheels() -> None:
    """Warn once when both TensorFlow wheels are installed: they overwrite one module."""
    global _warned
    if _warned:
        return
    _warned = True
    from importlib import metadata  # noqa: PLC0415

    found = []
    for dist in ("tensorflow", "tensorflow-cpu"):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    if len(found) == 2:
        print(
            f"bnlint audit: warning: both {found[0]} and {found[1]} are installed; they share the "
            "`tensorflow` module and uninstalling either breaks the other. Keep one: "
            'bnlint[audit] pairs with tensorflow-cpu, bnlint[audit-gpu] with tensorflow.',
            file=sys.stderr,
        )


def keras():
    """Import and return Keras 3, or raise :class:`TensorFlowMissing`."""
    tensorflow()
    try:
        import keras as k  # noqa: PLC0415
    except ImportError as exc:
        raise TensorFlowMissing(f"{INSTALL_HINT} ({exc})") from None
    if int(k.__version__.split(".")[0]) < 3:
        raise TensorFlowMissing(f"{INSTALL_HINT} (found Keras {k.__version__})")
    return k


def tensorflow_imported() -> bool:
    """Whether TensorFlow is already imported in this process."""
    return "tensorflow" in sys.modules


def legacy_keras_active() -> bool:
    """Whether this process runs (or will run) with ``TF_USE_LEGACY_KERAS`` set."""
    return os.environ.get(LEGACY_KERAS_ENV, "").strip().lower() in {"1", "true", "yes"}


def versions() -> tuple[str, str]:
    """The TensorFlow and Keras versions, as strings."""
    tf = tensorflow()
    try:
        import keras as k  # noqa: PLC0415

        kv = k.__version__
    except ImportError:
        kv = "missing"
    return tf.__version__, kv


def select_device(choice: str) -> tuple[str, str]:
    """Resolve ``cpu|gpu|auto`` to a TensorFlow device string and a readable name.

    Raises :class:`AuditError` when a GPU is asked for and none is visible.
    """
    tf = tensorflow()
    if choice not in {"cpu", "gpu", "auto"}:
        raise AuditError(f"--device must be cpu, gpu or auto, not {choice!r}")
    gpus = tf.config.list_physical_devices("GPU")
    if choice == "gpu" and not gpus:
        raise AuditError("--device gpu: TensorFlow sees no GPU on this machine (use --device cpu or auto)")
    if choice == "cpu" or not gpus:
        return "/CPU:0", "CPU:0"
    name = "GPU:0"
    try:
        details = tf.config.experimental.get_device_details(gpus[0])
        if details.get("device_name"):
            name = f"GPU:0 ({details['device_name']})"
    except Exception:  # noqa: BLE001 - the name is decoration only
        pass
    return "/GPU:0", name
