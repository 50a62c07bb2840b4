"""Loading an audit target: a Keras file, a SavedModel directory, or a user factory."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import zipfile
from typing import Any

from .errors import AuditError, TensorFlowMissing, describe, first_line
from .graphdesc import TF1Graph
from .tfenv import keras, tensorflow

TARGET_HELP = (
    "TARGET must be a Keras model file (.keras, .h5), a SavedModel directory, "
    "or path/to/file.py:factory / package.module:factory"
)

EXPECTED = "a Keras model, a tf.Module with tf.function signatures, or a bnlint.audit.TF1Graph"


def load_target(spec: str, unsafe_load: bool = False) -> Any:
    """Load ``spec`` into a Keras model, a ``tf.Module`` or a :class:`TF1Graph`.

    A factory target runs the user's code: that is what the user asked for.
    ``unsafe_load`` lets a Keras file deserialise Python code (Lambda layers): only
    for files the user trusts. Raises :class:`AuditError` with a one-line message
    when the target cannot be loaded.
    """
    tensorflow()
    if os.path.isdir(spec):
        return _load_saved_model(spec)
    if os.path.isfile(spec) and spec.endswith((".keras", ".h5", ".hdf5")):
        return _load_keras(spec, unsafe_load)
    module_part, sep, factory = spec.rpartition(":")
    if sep and factory.isidentifier() and module_part:
        return _run_factory(module_part, factory, spec)
    if spec.endswith((".keras", ".h5", ".hdf5")) or not sep:
        raise AuditError(f"{spec}: no such file or directory ({TARGET_HELP})")
    raise AuditError(f"{spec}: {TARGET_HELP}")


def _load_keras(path: str, unsafe_load: bool = False) -> Any:
    k = keras()
    if path.endswith(".keras"):
        # Keras says "File not found" for a .keras file that is not a zip: say what is wrong.
        if not zipfile.is_zipfile(path):
            raise AuditError(f"{path}: not a valid .keras file (not a zip archive: truncated or corrupted?)")
        try:
            with zipfile.ZipFile(path) as archive:
                has_config = "config.json" in archive.namelist()
        except (OSError, zipfile.BadZipFile) as exc:
            raise AuditError(f"{path}: not a valid .keras file ({_line(exc)})") from None
        if not has_config:
            raise AuditError(f"{path}: not a valid .keras file (the archive has no config.json)")
    try:
        # safe_mode refuses to deserialise lambdas: loading a file must not run its code.
        return k.saving.load_model(path, safe_mode=not unsafe_load)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds
        text = str(exc)
        if not unsafe_load and ("safe_mode" in text or "unsafe_deserialization" in text):
            raise AuditError(
                f"{path}: refused to load: the file holds Python code (a Lambda layer) that loading "
                "would run; pass --unsafe-load if you trust the file"
            ) from None
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
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a script may sys.exit() on import
            raise AuditError(f"{spec}: importing {module_part} failed: {describe(exc)}") from None
    else:
        try:
            module = importlib.import_module(module_part)
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            raise AuditError(f"{spec}: cannot import {module_part}: {describe(exc)}") from None
    fn = getattr(module, factory, None)
    if not callable(fn):
        raise AuditError(f"{spec}: {module_part} has no callable {factory!r}")
    try:
        obj = fn()
    except (AuditError, TensorFlowMissing):
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - sys.exit() in a factory must not end the audit
        raise AuditError(f"{spec}: the factory {factory}() raised {describe(exc)}") from None
    if _subject_class(obj) is None:
        # Say so here, where the factory is known, not later as "cannot audit a int".
        raise AuditError(f"{spec}: the factory {factory}() returned {_describe(obj)}; it must return {EXPECTED}")
    return obj




def _describe(obj: Any) -> str:
    """``an int (3)``, ``a str ('hello')``, ``a ndarray of shape (3,)``: what a factory returned."""
    name = type(obj).__name__
    if obj is None:
        return "None"
    shape = getattr(obj, "shape", None)
    if isinstance(shape, tuple):
        detail = f" of shape {shape}"
    else:
        text = repr(obj)
        detail = f" ({text[:40]}{'...' if len(text) > 40 else ''})" if "\n" not in text else ""
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}{detail}"


def _subject_class(obj: Any) -> type | None:
    """The subject that audits ``obj``; None when it is nothing the audit knows."""
    from .subjects import KerasSubject, ModuleSubject, TF1Subject

    tf = tensorflow()
    if isinstance(obj, TF1Graph):
        return TF1Subject
    if hasattr(obj, "layers") and hasattr(obj, "predict") and hasattr(obj, "train_on_batch"):
        return KerasSubject
    if isinstance(obj, tf.Module) or hasattr(obj, "signatures"):
        return ModuleSubject
    return None


def make_subject(obj: Any, input_shapes: dict | None = None):
    """Wrap a loaded object in the subject the checks work on."""
    subject_class = _subject_class(obj)
    if subject_class is None:
        raise AuditError(f"cannot audit {_describe(obj)}: expected {EXPECTED}")
    return subject_class(obj, input_shapes)


def _line(exc: BaseException) -> str:
    return first_line(exc) or type(exc).__name__
