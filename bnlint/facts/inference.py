"""Where code predicts, evaluates, tests, serves or exports: its inference paths.

An inference path is recognised by what the code says about itself: a
function named for inference (``predict``, ``eval_step``, ``serving_fn``,
Keras's ``test_step``), a Keras ``predict``/``evaluate`` call, or an export
call (``tf.saved_model.simple_save``, ``convert_variables_to_constants``).
Unit tests are not inference paths: they exercise training mode on purpose.
A unit test is code in a test file (``test_x.py``, ``x_test.py``) or a test
class (``*Test``, ``Test*``, a ``TestCase`` subclass), or a ``test*`` function
that asserts; any other ``test*`` function (``testGAN()`` restoring a
checkpoint to sample) evaluates.
"""

from __future__ import annotations

import re

import libcst as cst

from bnlint import registry
from bnlint.semantic import CallSite, FileModel, FunctionInfo, Scope, walk

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def name_words(name: str) -> set[str]:
    """Lower-cased words of an identifier, split at underscores and case changes."""
    return {word.lower() for word in _WORDS.findall(name)}


def is_test_file(file: FileModel) -> bool:
    """A unit-test module (``test_x.py``, ``x_test.py``, ``conftest.py``)."""
    base = file.path.replace("\\", "/").rsplit("/", 1)[-1]
    return base.startswith("test_") or base.endswith("_test.py") or base == "conftest.py"


def in_unit_test(file: FileModel, scope: Scope) -> bool:
    """``scope`` is inside a unit test: a test class's method, or a ``test*`` function of a test file.

    A file named ``*_test.py`` that only holds a training script (``gan_test.py``
    with a ``train()``) is not a unit test: its name alone proves nothing.
    """
    current: Scope | None = scope
    while current is not None:
        function = current.function if current.kind == "function" else None
        if function is not None and isinstance(function.node, cst.FunctionDef):
            if function.class_qualname and _is_test_class(file, function.class_qualname):
                return True
            if function.name.lower().startswith("test") and is_test_file(file):
                return True
        current = current.parent
    return False


def is_inference_function(file: FileModel, function: FunctionInfo) -> bool:
    """A ``def`` whose name says it predicts, evaluates, tests, serves or exports."""
    if not isinstance(function.node, cst.FunctionDef) or is_test_file(file):
        return False
    name = function.name
    if name == "test_step":
        return True
    if function.class_qualname and _is_test_class(file, function.class_qualname):
        return False  # a unit test's method, whatever its name
    if name.lower().startswith("test") and _asserts(file, function.node):
        return False  # a pytest-style unit test outside a test file
    return bool(name_words(name) & registry.INFERENCE_FUNCTION_WORDS)


def _asserts(file: FileModel, node: cst.FunctionDef) -> bool:
    """The function checks results as a unit test does: ``assert`` or ``self.assert*(...)``.

    Asked for every call inside the function: its body is walked once per file model.
    """
    cache: dict[int, bool] | None = getattr(file, "_asserting_functions", None)
    if cache is None:
        cache = file._asserting_functions = {}  # type: ignore[attr-defined]
    if id(node) not in cache:
        cache[id(node)] = any(
            isinstance(inner, cst.Assert)
            or isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute)
            and inner.func.attr.value.startswith("assert")
            for inner in walk(node))
    return cache[id(node)]


def _is_test_class(file: FileModel, class_qualname: str) -> bool:
    """A unit-test class: named as one (``ModelTest``, ``TestModel``) or deriving from a ``TestCase``."""
    if re.search(r"Test(Case|s)?$|^Test", class_qualname.split(".")[-1]):
        return True
    return any(base.rsplit(".", 1)[-1].endswith("TestCase") for base in file.base_names(class_qualname))


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
