"""BN014: an inference path reuses the training path's weights without its batch norm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.batch_norm import batch_norm_sites, classify
from bnlint.facts.values import literal
from bnlint.messages import shortened
from bnlint.project import ProjectIndex
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import Binding, CallSite, FileModel, Scope, call_argument, child_nodes, iter_names

_MAX_DEPTH = 12


class BatchNormMissingAtInference(Rule):
    """Inference path reuses the training weights without the batch norm.

    ## What it does
    Flags a weight op (``tf.matmul``, ``tf.nn.conv2d``, ``tf.nn.xw_plus_b``, ...)
    applying a weight variable (``tf.Variable``/``tf.get_variable``, by name or
    as ``weights["h1"]`` of a dict of variables) whose output reaches no batch
    norm, when another application of the *same* variable in the file feeds a
    batch norm directly (through bias adds, activations and assignments,
    without another weight op between). That is the shape of a validation or
    test path rebuilt by hand from the training path's variables with the
    batch norm left out.

    Left alone: variables applied once (whatever the mode flag does there),
    applications downstream of a batch norm (tied weights in deeper layers),
    outputs that leave their function (``return``: a caller may normalise
    them), weights used only in regularisers or summaries, Keras and
    ``tf.layers`` models (their layers carry the batch norm with them), and
    any output that reaches a batch norm by a path bnlint can follow.

    ## Why is this bad?
    The network was trained to see normalised activations after that layer:
    its following weights expect zero-mean, unit-variance inputs scaled by the
    learned ``gamma`` and shifted by ``beta``. Without the batch norm the
    inference path feeds them activations on a different scale and offset;
    validation and test accuracy are poor or random while training accuracy is
    fine, and nothing raises an error.

    ## Example
    ```python
    h_train = tf.nn.relu(tf.layers.batch_normalization(tf.matmul(x, W1) + b1, training=True))
    logits = tf.matmul(h_train, W2) + b2

    h_val = tf.nn.relu(tf.matmul(x_val, W1) + b1)
    val_logits = tf.matmul(h_val, W2) + b2
    ```

    ## Use instead
    ```python
    def forward(x, training):
        h = tf.matmul(x, W1) + b1
        h = tf.layers.batch_normalization(h, training=training, name="bn1", reuse=tf.AUTO_REUSE)
        return tf.matmul(tf.nn.relu(h), W2) + b2

    logits = forward(x, training=True)
    val_logits = forward(x_val, training=False)
    ```
    One function builds both paths, so they apply the same layers, and the
    inference path uses the moving statistics the training path learned.

    ## Fix safety
    No automatic fix: the inference path needs the batch norm in inference
    mode with the training path's variables (same name and ``reuse``), which
    depends on how those were created.

    ## References
    - [tf.compat.v1.layers.batch_normalization](https://www.tensorflow.org/api_docs/python/tf/compat/v1/layers/batch_normalization)
    - [Ioffe & Szegedy, Batch Normalization (2015), section 3.1: inference](https://arxiv.org/abs/1502.03167)
    """

    CODE = "BN014"
    NAME = "batchnorm-missing-at-inference"
    FIX_TITLE = "Apply the same batch norm, in inference mode, on the inference path"
    TOKENS = tokens.BATCH_NORM
    PROJECT_WIDE = True

    VALID = [
        # One function builds both paths.
        Valid(
            """
import tensorflow.compat.v1 as tf
W1 = tf.Variable(tf.truncated_normal([784, 256], stddev=0.1))
W2 = tf.Variable(tf.truncated_normal([256, 10], stddev=0.1))
def forward(x, training):
    h = tf.layers.batch_normalization(tf.matmul(x, W1), training=training, name="bn1", reuse=tf.AUTO_REUSE)
    return tf.matmul(tf.nn.relu(h), W2)
logits = forward(x, True)
val_logits = forward(x_val, False)
"""
        ),
        # Both paths normalise.
        Valid(
            """
import tensorflow.compat.v1 as tf
W = tf.get_variable("W", [784, 256])
h = tf.layers.batch_normalization(tf.matmul(x, W), training=True, name="bn")
h_val = tf.layers.batch_normalization(tf.matmul(x_val, W), training=False, name="bn", reuse=True)
"""
        ),
        # A regulariser is not an inference path.
        Valid(
            """
import tensorflow.compat.v1 as tf
W = tf.Variable(tf.zeros([784, 256]))
h = tf.layers.batch_normalization(tf.matmul(x, W), training=True)
loss = task_loss + 1e-4 * tf.nn.l2_loss(W)
"""
        ),
        # Tied weights: a deeper layer reuses the variable after the batch norm.
        Valid(
            """
import tensorflow.compat.v1 as tf
W = tf.get_variable("W", [64, 64])
h = tf.layers.batch_normalization(tf.matmul(x, W), training=True)
out = tf.matmul(tf.nn.relu(h), W)
"""
        ),
        # The output leaves the function: the caller may normalise it.
        Valid(
            """
import tensorflow.compat.v1 as tf
W = tf.Variable(tf.zeros([784, 256]))
def project(x):
    return tf.matmul(x, W)
h = tf.layers.batch_normalization(tf.matmul(x, W), training=True)
h_val = tf.layers.batch_normalization(project(x_val), training=False)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow.compat.v1 as tf
W1 = tf.Variable(tf.truncated_normal([784, 256], stddev=0.1))
b1 = tf.Variable(tf.zeros([256]))
W2 = tf.Variable(tf.truncated_normal([256, 10], stddev=0.1))
b2 = tf.Variable(tf.zeros([10]))
h = tf.matmul(x, W1) + b1
h = tf.layers.batch_normalization(h, training=True)
logits = tf.matmul(tf.nn.relu(h), W2) + b2
h_val = tf.nn.relu(tf.matmul(x_val, W1) + b1)  # error: [BN014]
val_logits = tf.matmul(h_val, W2) + b2
""",
            message="`tf.matmul(x_val, W1)` applies `W1` without the batch norm the training path applies after it: "
                    "`tf.layers.batch_normalization` (line 7) normalises `tf.matmul(x, W1)` (line 6)",
        ),
        # A dict of weights and a hand-written batch norm helper.
        Invalid(
            """
import tensorflow as tf
weights = {
    "c1": tf.Variable(tf.random_normal([5, 5, 1, 32])),
    "out": tf.Variable(tf.random_normal([14 * 14 * 32, 10])),
}
def batch_norm(x, phase_train):
    mean, var = tf.nn.moments(x, [0, 1, 2])
    return tf.nn.batch_normalization(x, mean, var, None, None, 1e-3)
def conv_net(x):
    conv = tf.nn.conv2d(x, weights["c1"], strides=[1, 1, 1, 1], padding="SAME")
    conv = tf.nn.relu(batch_norm(conv, True))
    return tf.matmul(tf.reshape(conv, [-1, 14 * 14 * 32]), weights["out"])
def evaluate(x_test):
    conv = tf.nn.relu(tf.nn.conv2d(x_test, weights["c1"], strides=[1, 1, 1, 1], padding="SAME"))  # error: [BN014]
    return tf.matmul(tf.reshape(conv, [-1, 14 * 14 * 32]), weights["out"])
""",
            message="`batch_norm` (line 11)",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file, project = ctx.file, ctx.project
        weights = _weight_variables(file)
        if not weights:
            return
        uses = _weight_uses(file, weights)
        if len(uses) < 2:
            return
        normalised: dict[int, tuple[_Use, CallSite]] = {}
        for site in file.calls:
            if not _is_batch_norm_call(project, file, site):
                continue
            arg = call_argument(site.node, "inputs", 0) or call_argument(site.node, "x", 0)
            if arg is None:
                continue
            for node in _feeding_weight_ops(file, arg.value, site.scope, site.order):
                use = uses.get(id(node))
                if use is not None:
                    normalised.setdefault(id(node), (use, site))
        by_weight: dict[object, tuple[_Use, CallSite]] = {}
        for use, bn_site in normalised.values():
            by_weight.setdefault(use.weight, (use, bn_site))
        for use in uses.values():
            if id(use.site.node) in normalised or use.weight not in by_weight:
                continue
            if _escapes(file, use.site) or _after_batch_norm(project, file, use.site):
                continue
            train_use, bn_site = by_weight[use.weight]
            yield Report(
                use.site.node,
                f"`{shortened(file.code(use.site.node))}` applies `{use.text}` without the batch norm the training "
                f"path applies after it: `{shortened(file.code(bn_site.node.func))}` ({file.place(bn_site.node)}) "
                f"normalises `{shortened(file.code(train_use.site.node))}` ({file.place(train_use.site.node)})",
                related=((file, bn_site.node), (file, train_use.site.node)),
            )


@dataclass(frozen=True)
class _Use:
    """A weight op applying one weight variable."""

    site: CallSite
    weight: object  # identity of the variable: its binding, or (binding, key) for ``weights["key"]``
    text: str


def _is_variable(file: FileModel, expr: cst.BaseExpression | None, scope: Scope) -> bool:
    return isinstance(expr, cst.Call) and bool(file.resolve(expr.func, scope) & registry.VARIABLE_FACTORY_NAMES)


def _weight_variables(file: FileModel) -> set[int]:
    """ids of bindings whose value is a variable or a dict literal holding variables."""
    out: set[int] = set()
    scopes = [file.module_scope, *(info.scope for info in file.functions.values())]
    for scope in scopes:
        for bindings in scope.bindings.values():
            for binding in bindings:
                if binding.kind != "assign" or binding.unpack or binding.value is None:
                    continue
                value = binding.value
                if _is_variable(file, value, binding.scope):
                    out.add(id(binding))
                elif isinstance(value, cst.Dict) and any(
                        isinstance(e, cst.DictElement) and _is_variable(file, e.value, binding.scope)
                        for e in value.elements):
                    out.add(id(binding))
    return out


def _weight_identity(file: FileModel, expr: cst.BaseExpression, scope: Scope, weights: set[int]) -> object | None:
    if isinstance(expr, cst.Name):
        bindings = file.lookup(expr.value, scope)
        if len(bindings) == 1 and id(bindings[0]) in weights and _is_variable(file, bindings[0].value,
                                                                              bindings[0].scope):
            return bindings[0]
        return None
    if isinstance(expr, cst.Subscript) and isinstance(expr.value, cst.Name) and len(expr.slice) == 1:
        element = expr.slice[0].slice
        if not isinstance(element, cst.Index):
            return None
        key = literal(element.value)
        if not isinstance(key, (str, int)):
            return None
        bindings = file.lookup(expr.value.value, scope)
        if len(bindings) != 1 or id(bindings[0]) not in weights:
            return None
        binding: Binding = bindings[0]
        if not isinstance(binding.value, cst.Dict):
            return None
        for e in binding.value.elements:
            if isinstance(e, cst.DictElement) and literal(e.key) == key and _is_variable(file, e.value, binding.scope):
                return (binding, key)
    return None


def _weight_uses(file: FileModel, weights: set[int]) -> dict[int, _Use]:
    uses: dict[int, _Use] = {}
    for site in file.calls:
        if not file.call_names(site) & registry.WEIGHT_OP_NAMES:
            continue
        for arg in site.node.args:
            identity = _weight_identity(file, arg.value, site.scope, weights)
            if identity is not None:
                uses[id(site.node)] = _Use(site, identity, file.code(arg.value))
                break
    return uses


def _is_batch_norm_call(project: ProjectIndex, file: FileModel, site: CallSite) -> bool:
    if classify(file, site, project) is not None:
        return True
    # A hand-written helper (``def batch_norm(x, training): ...``) that builds one.
    for ref in project.callees_of_site(file, site):
        reach = project.reach(ref.unit)
        if any(bn.unit in reach for bn in batch_norm_sites(project)):
            return "norm" in ref.info.name.lower() or ref.info.name.lower().startswith("bn")
    return False


def _walk_upstream(file: FileModel, roots: list[tuple[cst.CSTNode, Scope, int]],
                   stop: Callable[[CallSite], bool]) -> Iterator[cst.Call]:
    """Calls upstream of ``roots`` (expression, scope, position) for which ``stop`` holds, not looking past them.

    Names are followed to the assignment that reaches them; nested functions are not entered.
    """
    # A name is revisited with an earlier position: ``h = f(h)`` first finds its own statement.
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[cst.CSTNode, Scope, int, int]] = [(node, scope, before, 0) for node, scope, before in roots]
    while stack:
        node, scope, before, depth = stack.pop()
        if (id(node), before) in seen or depth > _MAX_DEPTH:
            continue
        seen.add((id(node), before))
        if isinstance(node, cst.Call):
            site = file.call_by_node.get(id(node))
            if site is not None and stop(site):
                yield node
                continue
        if isinstance(node, cst.Name):
            binding = _reaching_binding(file, node, scope, before)
            if binding is not None and binding.value is not None:
                stack.append((binding.value, binding.scope, binding.order, depth + 1))
            continue
        if isinstance(node, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(node, cst.Attribute):
            stack.append((node.value, scope, before, depth))
            continue
        stack.extend((child, scope, before, depth) for child in child_nodes(node))


def _feeding_weight_ops(file: FileModel, expr: cst.CSTNode, scope: Scope, before: int) -> list[cst.Call]:
    """The weight ops nearest upstream of ``expr``: the layer the batch norm normalises."""
    return list(_walk_upstream(file, [(expr, scope, before)],
                               lambda site: bool(file.call_names(site) & registry.WEIGHT_OP_NAMES)))


def _after_batch_norm(project: ProjectIndex, file: FileModel, site: CallSite) -> bool:
    """Some batch norm is upstream of the weight op's input: a deeper layer of a normalised path
    (tied weights), not an inference path rebuilt without batch norm."""
    roots = [(arg.value, site.scope, site.order) for arg in site.node.args]
    return any(True for _ in _walk_upstream(file, roots, lambda other: _is_batch_norm_call(project, file, other)))


def _reaching_binding(file: FileModel, name: cst.Name, scope: Scope, before: int) -> Binding | None:
    """The last plain assignment of ``name`` before position ``before`` in the same scope chain."""
    best: Binding | None = None
    for binding in file.lookup(name.value, scope):
        if binding.kind != "assign" or binding.unpack:
            continue
        if binding.scope is scope and binding.order >= before:
            continue
        if best is None or binding.order > best.order:
            best = binding
    return best


def _escapes(file: FileModel, site: CallSite) -> bool:
    """The weight op's output may leave its function before another layer consumes it."""
    function = file.enclosing_function(site.scope)
    statement = site.statement
    if isinstance(statement, cst.SimpleStatementLine) and any(isinstance(s, cst.Return) for s in statement.body):
        return True
    if function is None:
        return False
    tainted = set(_statement_targets(statement))
    if not tainted:
        return False
    # Follow the names the output flows into, in statement order, until another weight op consumes it.
    for later in sorted(function.calls, key=lambda c: c.order):
        if later.order <= site.order or later.statement is None or later.statement is statement:
            continue
        if _feeds_outside_weight_ops(file, later.statement, tainted):
            tainted |= set(_statement_targets(later.statement))
    return any(ret.value is not None and _feeds_outside_weight_ops(file, ret.value, tainted)
               for ret in function.returns)


def _feeds_outside_weight_ops(file: FileModel, node: cst.CSTNode, tainted: set[str]) -> bool:
    """``node`` uses a tainted name other than as the input of a weight op (a new layer)."""
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            if current.value in tainted:
                return True
            continue
        if isinstance(current, cst.Call):
            site = file.call_by_node.get(id(current))
            if site is not None and file.call_names(site) & registry.WEIGHT_OP_NAMES:
                continue
        if isinstance(current, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(current, cst.Attribute):
            stack.append(current.value)
            continue
        stack.extend(child_nodes(current))
    return False


def _statement_targets(statement: cst.CSTNode | None) -> list[str]:
    if not isinstance(statement, cst.SimpleStatementLine):
        return []
    out: list[str] = []
    for small in statement.body:
        if isinstance(small, cst.Assign):
            for target in small.targets:
                out.extend(n.value for n in iter_names(target.target))
        elif isinstance(small, cst.AnnAssign):
            out.extend(n.value for n in iter_names(small.target))
    return out
