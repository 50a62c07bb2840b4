"""BN008: a tensor training flag tested as a Python bool, or a Python bool given to TF1 ``tf.cond``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts.inference import name_words
from bnlint.facts.tf1 import autograph_converted
from bnlint.facts.train_ops import module_builds_graph
from bnlint.facts.values import Value, constant
from bnlint.project import ProjectIndex
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import FileModel, FunctionInfo, Scope, call_argument, child_nodes, has_star_args


@dataclass(frozen=True)
class _Tensor:
    """Why a name holds a boolean tensor: the producing call, and the call site that passed it (if any)."""

    producer: str
    origin: FileModel
    via: str = ""


# Words of a variable name that say it is a training/inference flag.
_FLAG_WORDS = frozenset({"train", "training", "phase", "eval", "evaluation", "test", "testing", "infer",
                         "inference"})


class TensorAsPythonBool(Rule):
    """Training flag is a tensor used as a Python bool, or a Python bool given to TF1 `tf.cond`.

    ## What it does
    In TF1 graph code, flags:

    - a training flag that is a boolean tensor (``tf.placeholder``,
      ``tf.placeholder_with_default``, ``tf.equal``/``tf.logical_*`` and other
      tensor comparisons) tested with Python ``if``, ``while``, ``x if flag
      else y``, ``not``, ``and`` or ``or``, directly or as the parameter of a
      function that some linted call site passes such a tensor to;
    - a Python bool (``True``/``False``, or a name assigned one) passed as the
      predicate of ``tf.cond``.

    A training flag is a name with ``train``, ``phase``, ``eval``, ``test`` or
    ``infer`` among its words (``is_training``, ``phase_train``). A plain
    parameter whose value is unknown is not flagged, nor code that checks the
    flag's type (``isinstance(flag, bool)``), nor code under
    ``@tf.function`` or in a Keras ``call`` method (AutoGraph turns the
    ``if`` into ``tf.cond``), nor ``smart_cond``, which accepts Python bools.

    ## Why is this bad?
    A graph tensor has no truth value while the graph is built: ``if
    is_training:`` raises ``TypeError: Using a tf.Tensor as a Python bool is
    not allowed``, or, in code that catches it or was "fixed" with
    ``is_training is not None``, picks one branch forever, so the batch norm
    runs in the same mode for training and evaluation. TF1's ``tf.cond``
    rejects a Python bool predicate with ``TypeError: pred must not be a
    Python bool``.

    ## Example
    ```python
    is_training = tf.placeholder(tf.bool, name="is_training")
    if is_training:
        net = tf.layers.batch_normalization(net, training=True)
    ```

    ## Use instead
    ```python
    is_training = tf.placeholder(tf.bool, name="is_training")
    net = tf.layers.batch_normalization(net, training=is_training)
    ```
    and ``tf.cond(tf.constant(flag), ...)`` or a Python ``if`` for a Python bool.

    ## Fix safety
    No automatic fix: the right replacement depends on what each branch builds.

    ## References
    - [tf.compat.v1.cond](https://www.tensorflow.org/api_docs/python/tf/compat/v1/cond)
    - [tf.compat.v1.placeholder_with_default](https://www.tensorflow.org/api_docs/python/tf/compat/v1/placeholder_with_default)
    """

    CODE = "BN008"
    NAME = "tensor-as-python-bool"
    FIX_TITLE = "Pass the tensor to the layer's `training` argument or branch with `tf.cond`"
    TOKENS = ("placeholder", "equal", "logical_", "cond", "train", "phase", "eval", "test", "infer")
    PROJECT_WIDE = True

    VALID = [
        Valid(
            """
import tensorflow.compat.v1 as tf
is_training = tf.placeholder(tf.bool, name="is_training")
net = tf.layers.batch_normalization(x, training=is_training)
"""
        ),
        # A Python parameter of unknown type.
        Valid(
            """
import tensorflow.compat.v1 as tf
x = tf.placeholder(tf.float32, [None, 8])
def block(x, is_training):
    if is_training:
        x = tf.nn.dropout(x, 0.5)
    return tf.layers.batch_normalization(x, training=is_training)
"""
        ),
        # smart_cond accepts a Python bool; tf.cond gets a tensor.
        Valid(
            """
import tensorflow.compat.v1 as tf
from tensorflow.python.framework import smart_cond
phase = tf.placeholder_with_default(False, [])
out = tf.cond(phase, lambda: a, lambda: b)
other = smart_cond.smart_cond(True, lambda: a, lambda: b)
"""
        ),
        # Called with a Python bool: fine.
        Valid(
            """
import tensorflow.compat.v1 as tf
x = tf.placeholder(tf.float32, [None, 8])
def net(x, training):
    if training:
        x = tf.nn.dropout(x, 0.5)
    return x
out = net(x, True)
"""
        ),
        # Eager TF2: tensors do have a truth value.
        Valid(
            """
import tensorflow as tf
flag = tf.equal(step % 2, 0)
if flag:
    print("even")
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow.compat.v1 as tf
is_training = tf.placeholder(tf.bool, name="is_training")
if is_training:  # error: [BN008]
    net = tf.layers.batch_normalization(x, training=True)
""",
            message="`is_training` is a tensor (`tf.placeholder`)",
        ),
        Invalid(
            files={
                "model.py": """
import tensorflow.compat.v1 as tf
def conv_bn(x, is_training):
    x = tf.layers.conv2d(x, 32, 3)
    return tf.layers.batch_normalization(x, training=True) if is_training else x  # error: [BN008]
""",
                "train.py": """
import tensorflow.compat.v1 as tf
from model import conv_bn
phase = tf.placeholder_with_default(True, shape=[], name="phase")
images = tf.placeholder(tf.float32, [None, 28, 28, 1])
logits = conv_bn(images, phase)
""",
            },
            message="passed `phase` (train.py:5)",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
x = tf.placeholder(tf.float32, [None, 8])
training = False
out = tf.cond(training, lambda: tf.nn.dropout(x, 0.5), lambda: x)  # error: [BN008]
""",
            message="Python bool `training` (`False`)",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
mode = tf.placeholder(tf.string, [])
is_train = tf.equal(mode, "train")
h = x if not is_train else tf.nn.dropout(x, 0.5)  # error: [BN008]
""",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        reported: set[int] = set()
        for owner, candidates in _flag_tensors(file, ctx.project):
            for test, anchor, scope in _bool_contexts(file, owner):
                if not isinstance(test, cst.Name) or id(anchor) in reported:
                    continue
                tensor = candidates.get(test.value)
                if tensor is None or not any(b.scope is owner for b in file.lookup(test.value, scope)):
                    continue
                if autograph_converted(file, scope) or _type_checked(file, owner, test.value):
                    continue
                reported.add(id(anchor))
                yield Report(
                    anchor,
                    f"`{test.value}` is a tensor (`{tensor.producer}`{tensor.via}) tested as a Python bool; "
                    f"graph mode raises `TypeError` here",
                )
        if not module_builds_graph(file):
            return
        for site in file.calls:
            if not file.call_names(site) & registry.TENSOR_PREDICATE_CONDS:
                continue
            arg = call_argument(site.node, registry.COND_PREDICATE.name, registry.COND_PREDICATE.position)
            if arg is None:
                continue
            value = constant(Value(arg.value, file, site.scope))
            if isinstance(value, bool):
                shown = f"Python bool `{file.code(arg.value)}`" if file.code(arg.value) == str(value) \
                    else f"Python bool `{file.code(arg.value)}` (`{value}`)"
                yield Report(
                    site.node,
                    f"`{file.code(site.node.func)}` gets the {shown} as its predicate; TF1 `tf.cond` needs a "
                    f"boolean tensor and raises `TypeError`",
                )


def _flag_tensors(file: FileModel, project: ProjectIndex) -> Iterator[tuple[Scope, dict[str, _Tensor]]]:
    """Scopes binding training flags that are graph tensors, with why each is one."""
    scopes = [file.module_scope] + [info.scope for info in file.functions.values()]
    for scope in scopes:
        candidates: dict[str, _Tensor] = {}
        for name in scope.bindings:
            if not name_words(name) & _FLAG_WORDS:
                continue
            tensor = _tensor_value(file, name, scope, project)
            # Eager tensors have a truth value: only a tensor built in graph code is an error.
            if tensor is not None and module_builds_graph(tensor.origin):
                candidates[name] = tensor
        if candidates:
            yield scope, candidates


def _bool_contexts(file: FileModel, owner: Scope) -> Iterator[tuple[cst.BaseExpression, cst.CSTNode, Scope]]:
    """(tested expression, node to report, its scope) for every truth test in a scope's code."""
    root = owner.node
    stack: list[tuple[cst.CSTNode, Scope]] = [(root.body if isinstance(root, cst.FunctionDef) else root, owner)]
    while stack:
        node, scope = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            info = file.function_by_node.get(id(node))
            if info is not None:
                scope = info.scope
        elif isinstance(node, cst.ClassDef):
            continue
        if isinstance(node, (cst.If, cst.While)):
            yield node.test, node.test, scope
        elif isinstance(node, cst.IfExp):
            yield node.test, node, scope
        elif isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
            yield node.expression, node, scope
        elif isinstance(node, cst.BooleanOperation):
            yield node.left, node, scope
            yield node.right, node, scope
        stack.extend((child, scope) for child in child_nodes(node))


def _type_checked(file: FileModel, owner: Scope, name: str) -> bool:
    """Code that dispatches on the flag's type (``isinstance(flag, bool)``) handles both kinds."""
    function = owner.function
    calls = function.calls if function is not None else file.calls
    for site in calls:
        func = site.node.func
        if isinstance(func, cst.Name) and func.value in ("isinstance", "is_tensor") and site.node.args:
            first = site.node.args[0].value
            if isinstance(first, cst.Name) and first.value == name:
                return True
        if isinstance(func, cst.Attribute) and func.attr.value in ("is_tensor", "is_symbolic_tensor") \
                and site.node.args:
            first = site.node.args[0].value
            if isinstance(first, cst.Name) and first.value == name:
                return True
    return False


def _tensor_value(file: FileModel, name: str, scope: Scope, project: ProjectIndex,
                  depth: int = 0) -> _Tensor | None:
    """Why ``name`` is a boolean tensor wherever it is bound, or None if it may not be one."""
    bindings = file.lookup(name, scope)
    if not bindings or depth > 3:
        return None
    found: _Tensor | None = None
    for binding in bindings:
        if binding.kind == "assign" and isinstance(binding.value, cst.Call) and not binding.unpack:
            producer = _producer(file, binding.value, binding.scope)
            if producer is None:
                return None
            found = found or _Tensor(producer, file)
        elif binding.kind == "param" and binding.scope.function is not None:
            passed = _passed_tensor(file, binding.scope.function, binding.param_index, name, project, depth)
            if passed is None:
                return None
            found = found or passed
        else:
            return None
    return found


def _producer(file: FileModel, call: cst.Call, scope: Scope) -> str | None:
    names = file.resolve(call.func, scope) & registry.TENSOR_BOOL_PRODUCERS
    if not names:
        return None
    return file.code(call.func)


def _passed_tensor(file: FileModel, function: FunctionInfo, index: int | None, param: str,
                   project: ProjectIndex, depth: int) -> _Tensor | None:
    """A linted call site passes a boolean tensor for the parameter (that call raises)."""
    if index is None or not isinstance(function.node, cst.FunctionDef):
        return None
    offset = function.bound_offset
    for ref in project.callers(file.function_unit(function)):
        call = ref.site.node
        if has_star_args(call):
            continue
        arg = call_argument(call, param, index - offset if index >= offset else None)
        if arg is None or not isinstance(arg.value, cst.Name):
            continue
        inner = _tensor_value(ref.file, arg.value.value, ref.site.scope, project, depth + 1)
        if inner is not None:
            where = f"line {ref.file.line(call)}" if ref.file is file \
                else f"{ref.file.path.replace(chr(92), '/').rsplit('/', 1)[-1]}:{ref.file.line(call)}"
            return _Tensor(inner.producer, inner.origin, f", passed `{arg.value.value}` ({where})")
    return None
