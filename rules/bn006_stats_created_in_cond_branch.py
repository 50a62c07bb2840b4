"""BN006: moving-statistics variables created inside a ``tf.cond``/``tf.case`` branch function."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.batch_norm import BatchNormSite, batch_norm_sites_in
from bnlint.facts.conditionals import Branch, branch_around, inside
from bnlint.facts.ema import ema_objects
from bnlint.facts.tf1 import is_tf1_code
from bnlint.messages import shortened
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, iter_names


class StatsCreatedInCondBranch(Rule):
    """Moving-statistics variables created inside a conditional's branch function.

    ## What it does
    Flags code whose *first* touch of a moving-statistics owner happens inside
    a branch function of ``tf.cond``, ``tf.case`` or ``smart_cond``, so the
    statistics variables are created there:

    - a ``tf.train.ExponentialMovingAverage`` that is both constructed and
      ``apply``-ed inside one branch function (the object, and so its shadow
      variables, exist for that branch only);
    - in TF1 graph code, a Keras or ``tf.layers`` ``BatchNormalization``
      object, constructed outside the conditional, whose first call (the one
      that builds its ``gamma``/``beta``/``moving_mean``/``moving_variance``)
      is inside a branch function, with no earlier call or ``build`` of the
      layer.

    ``smart_cond`` is left alone: given a Python bool it calls one branch
    directly.

    Not flagged: an EMA constructed *outside* the conditional and applied in
    the training branch (the pattern BN002 recommends: the inference branch
    reads ``ema.average(...)`` of the same object), moving-statistics
    variables created before the conditional and updated inside it
    (``tf.get_variable("moving_mean", ...)`` plus ``assign_moving_average``
    in the branch, as tflearn does), and function-style batch norms
    (``slim.batch_norm(..., scope=..., reuse=...)``) built in branch lambdas,
    whose variables are shared by scope name.

    ## Why is this bad?
    TensorFlow builds each branch function inside a control-flow context. An
    EMA constructed in a branch is a Python object no other branch can reach:
    the inference branch cannot read its averages and ends up reading other,
    never-updated statistics (or ``None``); with variables as inputs, TF1
    raises "Initializer for variable ... is from inside a control-flow
    construct". A layer first called in a branch creates its variables and
    its update ops in that branch's context, where the train op's
    ``control_dependencies`` on ``UPDATE_OPS`` or ``layer.updates`` cannot
    fetch them ("... is in a control flow context") and the other branch
    reads them only through the branch that happened to be built first.

    ## Example
    ```python
    def mean_var_with_update():
        ema = tf.train.ExponentialMovingAverage(decay=0.99)
        with tf.control_dependencies([ema.apply([batch_mean, batch_var])]):
            return tf.identity(batch_mean), tf.identity(batch_var)

    mean, var = tf.cond(is_training, mean_var_with_update, lambda: (pop_mean, pop_var))
    ```

    ## Use instead
    Construct the EMA (or build the layer) before the conditional; only the
    update op belongs in the training branch:
    ```python
    ema = tf.train.ExponentialMovingAverage(decay=0.99)

    def mean_var_with_update():
        with tf.control_dependencies([ema.apply([batch_mean, batch_var])]):
            return tf.identity(batch_mean), tf.identity(batch_var)

    mean, var = tf.cond(is_training, mean_var_with_update,
                        lambda: (ema.average(batch_mean), ema.average(batch_var)))
    ```
    For a layer: ``bn.build(x.shape)`` before the ``tf.cond``, or call it once
    with a ``training`` tensor instead of branching.

    ## Fix safety
    No automatic fix: moving the construction changes the variables' names and
    the checkpoints they load from.

    ## References
    - [tf.cond](https://www.tensorflow.org/api_docs/python/tf/cond)
    - [tf.train.ExponentialMovingAverage](https://www.tensorflow.org/api_docs/python/tf/train/ExponentialMovingAverage)
    """

    CODE = "BN006"
    NAME = "stats-created-in-cond-branch"
    FIX_TITLE = "Create the moving-statistics variables before the conditional"
    TOKENS = tokens.BATCH_NORM
    PROJECT_WIDE = False

    VALID = [
        # BN002's recommended pattern: EMA outside, apply inside the training branch.
        Valid(
            """
import tensorflow as tf
ema = tf.train.ExponentialMovingAverage(decay=0.99)
def mean_var_with_update():
    ema_apply_op = ema.apply([batch_mean, batch_var])
    with tf.control_dependencies([ema_apply_op]):
        return tf.identity(batch_mean), tf.identity(batch_var)
mean, var = tf.cond(is_training, mean_var_with_update,
                    lambda: (ema.average(batch_mean), ema.average(batch_var)))
"""
        ),
        # tflearn: variables before the cond, assign_moving_average inside the branch.
        Valid(
            """
import tensorflow as tf
from tensorflow.python.training import moving_averages
moving_mean = tf.get_variable("moving_mean", [n], initializer=tf.zeros_initializer(), trainable=False)
moving_variance = tf.get_variable("moving_variance", [n], initializer=tf.ones_initializer(), trainable=False)
def update_mean_var():
    mean, variance = tf.nn.moments(x, [0, 1, 2])
    update_mean = moving_averages.assign_moving_average(moving_mean, mean, 0.9)
    update_var = moving_averages.assign_moving_average(moving_variance, variance, 0.9)
    with tf.control_dependencies([update_mean, update_var]):
        return tf.identity(mean), tf.identity(variance)
mean, var = tf.cond(is_training, update_mean_var, lambda: (moving_mean, moving_variance))
"""
        ),
        # The layer is built before the conditional.
        Valid(
            """
import tensorflow as tf
bn = tf.keras.layers.BatchNormalization()
bn.build(x.shape)
out = tf.cond(is_training, lambda: bn(x, training=True), lambda: bn(x, training=False))
"""
        ),
        # Called once outside first.
        Valid(
            """
import tensorflow as tf
bn = tf.keras.layers.BatchNormalization()
h = bn(x, training=False)
out = tf.cond(is_training, lambda: bn(x, training=True), lambda: h)
"""
        ),
        # Eager TF2: the taken branch just runs; Keras creates variables under init_scope.
        Valid(
            """
import tensorflow as tf
bn = tf.keras.layers.BatchNormalization()
out = tf.cond(is_training, lambda: bn(x, training=True), lambda: bn(x, training=False))
"""
        ),
        # smart_cond with a Python bool calls one branch directly.
        Valid(
            """
import tensorflow.compat.v1 as tf
from tensorflow.python.framework import smart_cond
bn = tf.keras.layers.BatchNormalization()
out = smart_cond.smart_cond(training, lambda: bn(x, training=True), lambda: bn(x, training=False))
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow as tf
def batch_norm(x, phase_train):
    batch_mean, batch_var = tf.nn.moments(x, [0, 1, 2])
    def mean_var_with_update():
        ema = tf.train.ExponentialMovingAverage(decay=0.99)
        ema_apply_op = ema.apply([batch_mean, batch_var])  # error: [BN006]
        with tf.control_dependencies([ema_apply_op]):
            return tf.identity(batch_mean), tf.identity(batch_var)
    return tf.cond(phase_train, mean_var_with_update, lambda: (batch_mean, batch_var))
""",
            message="inside the branch `mean_var_with_update` of `tf.cond` (line 9)",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
bn = tf.keras.layers.BatchNormalization(name="bn")
out = tf.cond(is_training, lambda: bn(x, training=True), lambda: bn(x, training=False))  # error: [BN006]
""",
            message="first call of batch-norm layer `bn` (line 2)",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
bn = tf.layers.BatchNormalization()
def train_branch():
    return bn(features, training=True)  # error: [BN006]
def eval_branch():
    return bn(features, training=False)
logits = tf.case([(is_training, train_branch)], default=eval_branch)
"""
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        yield from _ema_in_branch(file)
        # Eager TF2 runs the taken branch directly, and Keras creates variables under ``init_scope``.
        if is_tf1_code(file):
            yield from _layer_first_called_in_branch(file, batch_norm_sites_in(ctx.project, file))


def _branch_around(file: FileModel, scope) -> Branch | None:
    """The innermost branch of a conditional that always builds a control-flow context."""
    branch = branch_around(file, scope)
    if branch is None or not file.call_names(branch.cond) & registry.CONTROL_FLOW_CONDS:
        return None
    return branch


def _cond_text(file: FileModel, branch: Branch) -> str:
    return f"`{file.code(branch.cond.node.func)}` (line {file.line(branch.cond.node)})"


def _ema_in_branch(file: FileModel) -> Iterable[Report]:
    for ema in ema_objects(file):
        branch = _branch_around(file, ema.constructor.scope)
        if branch is None:
            continue
        for apply in ema.applies:
            if not inside(apply.scope, branch.scope):
                continue
            yield Report(
                apply.node,
                f"`{shortened(file.code(apply.node))}` creates the shadow variables of an "
                f"`ExponentialMovingAverage` (line {file.line(ema.constructor.node)}) constructed inside "
                f"{branch.label} of {_cond_text(file, branch)}; no other branch can read its averages",
                related=((file, ema.constructor.node), (file, branch.cond.node)),
            )
            break


def _layer_first_called_in_branch(file: FileModel, sites: list[BatchNormSite]) -> Iterable[Report]:
    by_layer: dict[int, list[BatchNormSite]] = {}
    for bn in sites:
        if bn.api.kind == "layer" and bn.constructor is not None and isinstance(bn.site.node.func, cst.Name):
            by_layer.setdefault(id(bn.constructor), []).append(bn)
    for calls in by_layer.values():
        name = calls[0].site.node.func.value  # type: ignore[union-attr]
        constructor = file.call_by_node.get(id(calls[0].constructor))
        if constructor is None or _layer_used_otherwise(file, name, constructor, calls):
            continue
        first = min(calls, key=lambda bn: _execution_order(file, bn.site))
        branch = _branch_around(file, first.site.scope)
        if branch is None or inside(constructor.scope, branch.scope):
            continue
        yield Report(
            first.site.node,
            f"The first call of batch-norm layer `{name}` (line {file.line(constructor.node)}) creates its "
            f"variables and update ops inside {branch.label} of {_cond_text(file, branch)}",
            related=((file, constructor.node), (file, branch.cond.node)),
        )


def _execution_order(file: FileModel, site: CallSite) -> int:
    """Branch functions run when the conditional is built: order them at the conditional."""
    branch = branch_around(file, site.scope)
    return branch.cond.order if branch is not None else site.order


def _layer_used_otherwise(file: FileModel, name: str, constructor: CallSite, calls: list[BatchNormSite]) -> bool:
    """The layer object is built, passed or stored somewhere we cannot order against its calls."""
    call_funcs = {id(bn.site.node.func) for bn in calls}
    function = file.enclosing_function(constructor.scope)
    root = function.node if function is not None else file.module
    bindings = file.lookup(name, constructor.scope)
    if len(bindings) != 1:
        return True
    for node in iter_names(root) if function is None else iter_names(function.node.body):
        if node.value != name or id(node) in call_funcs:
            continue
        if _is_binding_target(bindings[0].node, node):
            continue
        return True
    # Nested defs (branch functions) are skipped by iter_names: scan them too.
    for other in file.calls:
        if other.node.func is not None and isinstance(other.node.func, cst.Attribute) \
                and isinstance(other.node.func.value, cst.Name) and other.node.func.value.value == name:
            return True
        for arg in other.node.args:
            if isinstance(arg.value, cst.Name) and arg.value.value == name:
                return True
    return False


def _is_binding_target(statement: cst.CSTNode, name: cst.Name) -> bool:
    if isinstance(statement, cst.Assign):
        return any(target.target is name for target in statement.targets)
    return False


