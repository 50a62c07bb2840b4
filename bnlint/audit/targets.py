"""Loading an audit target: a Keras file, a SavedModel directory, or a user factory."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

from .errors import AuditError, TensorFlowMissing
from .graphdesc import TF1Graph
from .tfenv import keras, tensorflow

TARGET_HELP = (
    "TARGET must be a Keras model file (.keras, .h5), a SavedModel directory, "
    "or path/to/file.py:factory / package.module:factory"
)


def load_target(spec: str) -> Any:
    """Load ``spec`` into a Keras model, a ``tf.Module`` or a :class:`TF1Graph`.

    A factory target runs the user's code: that is what the user asked for.
    Raises :class:`AuditError` with a one-line message when it cannot be loaded.
    """
    tensorflow()
    if os.path.isdir(spec):
        return _load_saved_model(spec)
    if os.path.isfile(spec) and spec.endswith((".keras", ".h5", ".hdf5")):
        return _load_keras(spec)
    module_part, sep, factory = spec.rpartition(":")
    if sep and factory.isidentifier() and module_part:
        return _run_factory(module_part, factory, spec)
    if spec.endswith((".keras", ".h5", ".hdf5")) or not sep:
        raise AuditError(f"{spec}: no such file or directory ({TARGET_HELP})")
    raise AuditError(f"{spec}: {TARGET_HELP}")


def _load_keras(path: str) -> Any:
    k = keras()
    try:
        # safe_mode refuses to deserialise lambdas: loading a file must not run its code.
        return k.saving.load_model(path, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds
        raise AuditError(f"{path}: cannot load the Keras model: {_line(exc)}") from None


def _load_saved_model(path: str) -> Any:
    tf = tensorflow()
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise AuditError(f"{path}: a directory without saved_model.pb is not a SavedModel ({TARGET_HELP})")
    try:
        return tf.saved_model.load(path)
    except Exception as exc:  # noqa: BLE001
        raise AuditError(f"{path}: cannot load the SavedModel: {_line(exc)}") from None


def _run_factory(module_part: str, factory: str, spec: str) -> Any:
    if module_part.endswith(".py"):
        if not os.path.isfile(module_part):
            raise AuditError(f"{spec}: no such file {module_part}")
        name = "_bnlint_audit_target_" + os.path.splitext(os.path.basename(module_part))[0]
        mod_spec = importlib.util.spec_from_file_location(name, module_part)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        try:
            mod_spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001
            raise AuditError(f"{spec}: importing {module_part} failed: {type(exc).__name__}: {_line(exc)}") from None
    else:
        try:
            module = importlib.import_module(module_part)
        except Exception as exc:  # noqa: BLE001
            raise AuditError(f"{spec}: cannot import {module_part}: {type(exc).__name__}: {_line(exc)}") from None
    fn = getattr(module, factory, None)
    if not callable(fn):
        raise AuditError(f"{spec}: {module_part} has no callable {factory!r}")
    try:
        return fn()
    except (AuditError, TensorFlowMissing):
        raise
    except Exception as exc:  # noqa: BLE001
        raise AuditError(f"{spec}: the factory raised {type(exc).__name__}: {_line(exc)}") from None


def make_subject(obj: Any, input_shapes: dict | None = None):
    """Wrap a loaded object in the subject the checks work on."""
    from .subjects import KerasSubject, ModuleSubject, TF1Subject

    tf = tensorflow()
    if isinstance(obj, TF1Graph):
        return TF1Subject(obj, input_shapes)
    if hasattr(obj, "layers") and hasattr(obj, "predict") and hasattr(obj, "train_on_batch"):
        return KerasSubject(obj, input_shapes)
    if isinstance(obj, tf.Module) or hasattr(obj, "signatures"):
        return ModuleSubject(obj, input_shapes)
    raise AuditError(
        f"cannot audit a {type(obj).__name__}: expected a Keras model, a tf.Module with "
        "tf.function signatures, or a bnlint.audit.TF1Graph"
    )


def _line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
