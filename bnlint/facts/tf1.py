"""TF1 graph code versus code AutoGraph converts (``@tf.function``, Keras ``call``)."""

from __future__ import annotations

from bnlint import registry
from bnlint.facts.train_ops import module_builds_graph
import libcst as cst

from bnlint.semantic import CallSite, FileModel, Scope


def is_tf1_code(file: FileModel) -> bool:
    """The module uses graph machinery or imports ``tf.compat.v1``/``tf.contrib``/``tf_slim``."""
    cached = getattr(file, "_tf1_code", None)
    if cached is None:
        cached = module_builds_graph(file) or any(
            binding.kind == "import" and (binding.imported or "").startswith(registry.TF1_IMPORT_PREFIXES)
            for bindings in file.module_scope.bindings.values() for binding in bindings
        )
        file._tf1_code = cached  # type: ignore[attr-defined]
    return cached


def autograph_converted(file: FileModel, scope: Scope) -> bool:
    """Code in a ``@tf.function`` (or AutoGraph-converted) function or a Keras ``call`` method.

    AutoGraph turns Python ``if`` on tensors into ``tf.cond``, and automatic
    control dependencies run every stateful op such a function creates.
    """
    current: Scope | None = scope
    while current is not None:
        function = current.function
        if function is not None and isinstance(function.node, cst.FunctionDef):
            if function.class_qualname and function.name == "call":
                return True
            for decorator in function.node.decorators:
                expr = decorator.decorator
                if isinstance(expr, cst.Call):
                    expr = expr.func
                if file.resolve(expr, current.parent or current) & registry.AUTOGRAPH_DECORATORS:
                    return True
        current = current.parent
    return False


def is_gradient_tape(file: FileModel, call: cst.Call | None, scope: Scope) -> bool:
    """``call`` makes a ``tf.GradientTape`` (the call of a ``with`` item, if any)."""
    return call is not None and bool(file.resolve(call.func, scope) & registry.GRADIENT_TAPE_NAMES)


def under_gradient_tape(file: FileModel, site: CallSite) -> bool:
    """The call runs inside a ``with tf.GradientTape() ...:`` block: eager code a gradient is taken of."""
    return any(is_gradient_tape(file, frame.call, frame.scope) for frame in site.withs)
