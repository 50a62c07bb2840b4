"""Which TensorFlow and Keras API version a file is written for, from what it spells.

Canonical names (``bnlint.names``) deliberately forget the spelling: ``tf.layers``
and ``tf.compat.v1.layers`` are one API. Whether code *chose* TF1 is in the
spelling, so this module reads the dotted import paths as written.

A file **targets TF2** when it uses a TF2-style API (``tf.function``,
``tf.GradientTape``, ``tf.random.set_seed``, ... or imports
``tensorflow.compat.v2``) and does not **deliberately use TF1**: it spells nothing
through ``compat.v1``, does not call ``disable_v2_behavior`` /
``disable_eager_execution``, and builds no TF1 graph (sessions, placeholders,
``EstimatorSpec``).
"""

from __future__ import annotations

import re

import libcst as cst

from bnlint import registry
from bnlint.semantic import FileModel, Scope

_MAX_DEPTH = 8


def raw_names(file: FileModel, expr: cst.BaseExpression, scope: Scope, _depth: int = 0) -> frozenset[str]:
    """Dotted names ``expr`` denotes as the imports spell them (``tf_slim.batch_norm``, not canonical)."""
    if _depth > _MAX_DEPTH:
        return frozenset()
    if isinstance(expr, cst.Name):
        out: set[str] = set()
        for binding in file.lookup(expr.value, scope):
            if binding.kind == "import" and binding.imported:
                out.add(binding.imported)
            elif binding.kind == "assign" and binding.value is not None and not binding.unpack:
                out |= raw_names(file, binding.value, binding.scope, _depth + 1)
        return frozenset(out)
    if isinstance(expr, cst.Attribute):
        return frozenset(f"{base}.{expr.attr.value}"
                         for base in raw_names(file, expr.value, scope, _depth + 1))
    return frozenset()


def _cached(file: FileModel, key: str, compute) -> bool:
    cache = file.__dict__.setdefault("_api_version", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _imports(file: FileModel) -> set[str]:
    out: set[str] = set()
    scopes = [file.module_scope, *file.class_scopes.values(), *(f.scope for f in file.functions.values())]
    for scope in scopes:
        for bindings in scope.bindings.values():
            out.update(b.imported for b in bindings if b.kind == "import" and b.imported)
    return out


def _is_module(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def deliberate_tf1(file: FileModel) -> bool:
    """The file chooses TF1 on purpose: ``compat.v1``, ``disable_v2_behavior``, or TF1 graph building."""
    def compute() -> bool:
        if file.mentions("compat.v1"):
            return True
        markers = registry.TF1_MARKERS | registry.GRAPH_MODE_MARKERS
        return any(file.call_names(site) & markers for site in file.calls)
    return _cached(file, "tf1", compute)


def targets_tf2(file: FileModel) -> bool:
    """The file is TF2-targeted (see the module docstring)."""
    def compute() -> bool:
        if deliberate_tf1(file):
            return False
        if any(_is_module(name, registry.COMPAT_V2_MODULE) for name in _imports(file)):
            return True
        if any(file.call_names(site) & registry.TF2_MARKERS for site in file.calls):
            return True
        return any(_decorated(file, function.scope, registry.TF2_MARKERS) for function in file.functions.values())
    return _cached(file, "tf2", compute)


# ``keras.ops`` but not ``tf.keras.ops``.
_KERAS3_USE = re.compile(r"(?<![\w.])keras\.(ops|config|random|src)\b|\bkeras_core\b")


def targets_keras3(file: FileModel) -> bool:
    """The file imports standalone ``keras`` and uses a module only Keras 3 has (``keras.ops``, ...)."""
    def compute() -> bool:
        imports = _imports(file)
        if not any(_is_module(name, "keras") or _is_module(name, "keras_core") for name in imports):
            return False
        if any(_is_module(name, module) for name in imports for module in registry.KERAS3_MODULES):
            return True
        return file.mentions(_KERAS3_USE)
    return _cached(file, "keras3", compute)


def in_tf_function(file: FileModel, scope: Scope) -> bool:
    """Code in a ``@tf.function`` (or a def nested in one): automatic control dependencies run its stateful ops."""
    current: Scope | None = scope
    while current is not None:
        if _decorated(file, current, registry.TF_FUNCTION_NAMES):
            return True
        current = current.parent
    return False


def _decorated(file: FileModel, scope: Scope, names: frozenset[str]) -> bool:
    """``scope`` is a def decorated with one of ``names`` (``@tf.function`` or ``@tf.function(...)``)."""
    function = scope.function
    if scope.kind != "function" or function is None or not isinstance(function.node, cst.FunctionDef) \
            or scope.parent is None:
        return False
    for decorator in function.node.decorators:
        expr = decorator.decorator
        expr = expr.func if isinstance(expr, cst.Call) else expr
        if file.resolve(expr, scope.parent) & names:
            return True
    return False
