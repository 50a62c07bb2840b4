"""Where code predicts, evaluates, tests, serves or exports: its inference paths.

An inference path is recognised by what the code says about itself: a
function named for inference (``predict``, ``eval_step``, ``serving_fn``,
Keras's ``test_step``), a Keras ``predict``/``evaluate`` call, or an export
call (``tf.saved_model.simple_save``, ``convert_variables_to_constants``).
Unit tests (``test_*`` functions, ``*Test`` classes, ``*_test.py`` files) are
not inference paths: they exercise training mode on purpose.
"""

from __future__ import annotations

import re

import libcst as cst

from bnlint import registry
from bnlint.semantic import CallSite, FileModel, FunctionInfo, Scope

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def name_words(name: str) -> set[str]:
    """Lower-cased words of an identifier, split at underscores and case changes."""
    return {word.lower() for word in _WORDS.findall(name)}


def is_test_file(file: FileModel) -> bool:
    """A unit-test module (``test_x.py``, ``x_test.py``, ``conftest.py``)."""
    base = file.path.replace("\\", "/").rsplit("/", 1)[-1]
    return base.startswith("test_") or base.endswith("_test.py") or base == "conftest.py"


def is_inference_function(file: FileModel, function: FunctionInfo) -> bool:
    """A ``def`` whose name says it predicts, evaluates, tests, serves or exports."""
    if not isinstance(function.node, cst.FunctionDef) or is_test_file(file):
        return False
    name = function.name
    if name == "test_step":
        return True
    if name.lower().startswith("test"):
        return False  # a unit test
    if function.class_qualname and re.search(r"Test(Case|s)?$|^Test", function.class_qualname.split(".")[-1]):
        return False
    return bool(name_words(name) & registry.INFERENCE_FUNCTION_WORDS)


def inference_function_around(file: FileModel, scope: Scope) -> FunctionInfo | None:
    """The nearest enclosing ``def`` named for inference, if any."""
    current: Scope | None = scope
    while current is not None:
        if current.kind == "function" and current.function is not None \
                and is_inference_function(file, current.function):
            return current.function
        current = current.parent
    return None


def is_inference_call(file: FileModel, site: CallSite) -> bool:
    """``model.predict(...)``/``evaluate(...)`` or a call that exports the graph or model for serving."""
    func = site.node.func
    if isinstance(func, cst.Attribute) and func.attr.value in registry.INFERENCE_METHODS:
        return True
    return bool(file.call_names(site) & registry.EXPORT_NAMES)


def is_export_call(file: FileModel, site: CallSite) -> bool:
    """A call that saves a graph or model for serving."""
    return bool(file.call_names(site) & registry.EXPORT_NAMES)
