"""BN017: a Saver or Checkpoint over the trainable variables only, in a graph with batch norm."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.batch_norm import BatchNormSite, batch_norm_sites
from bnlint.facts.build_order import one_runs_the_other
from bnlint.facts.training_flag import never_training
from bnlint.facts.values import literal, single_assignment
from bnlint.messages import shortened
from bnlint.project import ProjectIndex
from bnlint.rule import FixSpec, Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, Scope, call_argument

# This rule's messages quote longer code than most (``bnlint.messages.QUOTE_WIDTH``).
_QUOTE_WIDTH = 70


class SaverDropsMovingStats(Rule):
    """Saver covers only trainable variables: batch-norm moving statistics are never saved.

    ## What it does
    Flags a ``tf.compat.v1.train.Saver`` whose ``var_list`` is
    ``tf.trainable_variables()`` (or ``get_collection(TRAINABLE_VARIABLES)``,
    a list or dict comprehension over it, or it plus a list of single
    variables such as the global step), and a ``tf.train.Checkpoint`` given such a list, when
    the same graph builds a batch norm with moving statistics
    (``tf.layers.batch_normalization``, ``slim.batch_norm``, a Keras
    ``BatchNormalization``). The batch norm and the saver may be built in
    different functions and files.

    Left alone: savers over ``tf.global_variables()``, the default (all
    saveable variables), ``model_variables()``, a list bnlint cannot read
    (``trainable_variables() + extra_vars``), graphs whose batch norms never
    run in training mode (their statistics never change; BN019 reports them),
    and batch norms built by a sibling of the code building the saver
    (``main`` calling ``train()`` then ``export()``: maybe another graph).

    ## Why is this bad?
    The moving mean and variance are *non-trainable* variables: they are not
    in ``tf.trainable_variables()``. A checkpoint written by this saver lacks
    them, and a restore leaves them at their initial values (0 and 1). The
    restored model trains as before, but evaluates and serves with
    meaningless statistics: accuracy collapses after every restart or export.

    ## Example
    ```python
    net = tf.layers.batch_normalization(net, training=is_training)
    ...
    saver = tf.train.Saver(tf.trainable_variables())
    ```

    ## Use instead
    ```python
    net = tf.layers.batch_normalization(net, training=is_training)
    ...
    saver = tf.train.Saver(tf.global_variables())
    ```
    Or, to keep optimizer slots out of the checkpoint,
    ``tf.trainable_variables() + tf.moving_average_variables()`` for slim and
    contrib batch norms, or the variables whose names contain ``moving_``.

    ## Fix safety
    The fix replaces ``trainable_variables`` with ``global_variables`` in the
    same spelling (``tf.compat.v1.trainable_variables()`` becomes
    ``tf.compat.v1.global_variables()``), only when that call is written
    directly as the saver's ``var_list``. It is **unsafe**: the checkpoint then
    also holds the optimizer's slot variables and the global step, and a
    restore from a checkpoint written by the old saver fails because it lacks
    the moving statistics (restore those with a separate saver once).

    ## References
    - [tf.compat.v1.train.Saver](https://www.tensorflow.org/api_docs/python/tf/compat/v1/train/Saver)
    - [tf.compat.v1.layers.batch_normalization (moving statistics are not trainable)](https://www.tensorflow.org/api_docs/python/tf/compat/v1/layers/batch_normalization)
    """

    CODE = "BN017"
    NAME = "saver-drops-moving-stats"
    FIX_TITLE = "Save `tf.global_variables()` (or add the moving statistics to the list)"
    FIX_APPLICABILITY = "unsafe"
    TOKENS = ("Saver", "Checkpoint") + tokens.BATCH_NORM
    PROJECT_WIDE = True

    VALID = [
        Valid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=is_training)
saver = tf.train.Saver(tf.global_variables())
"""
        ),
        Valid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=is_training)
saver = tf.train.Saver(max_to_keep=5)
"""
        ),
        # No batch norm in the graph.
        Valid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.dense(x, 10)
saver = tf.train.Saver(tf.trainable_variables())
"""
        ),
        # A list bnlint cannot read: it may hold the statistics.
        Valid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=is_training)
bn_vars = [v for v in tf.global_variables() if "moving_" in v.name]
saver = tf.train.Saver(tf.trainable_variables() + bn_vars)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=is_training)
saver = tf.train.Saver(tf.trainable_variables(), max_to_keep=3)  # error: [BN017]
""",
            message="`tf.train.Saver(tf.trainable_variables(), max_to_keep=3)` covers only trainable variables: "
                    "the moving mean and variance of `tf.layers.batch_normalization` (line 2)",
            expected_replacement="""
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=is_training)
saver = tf.train.Saver(tf.global_variables(), max_to_keep=3)  # error: [BN017]
""",
        ),
        # `import tensorflow as tf` and a keyword argument.
        Invalid(
            """
import tensorflow as tf
def build(images, training):
    net = tf.compat.v1.layers.conv2d(images, 32, 3)
    return tf.compat.v1.layers.batch_normalization(net, training=training)
logits = build(images, is_training)
saver = tf.compat.v1.train.Saver(var_list=tf.compat.v1.trainable_variables())  # error: [BN017]
""",
            expected_replacement="""
import tensorflow as tf
def build(images, training):
    net = tf.compat.v1.layers.conv2d(images, 32, 3)
    return tf.compat.v1.layers.batch_normalization(net, training=training)
logits = build(images, is_training)
saver = tf.compat.v1.train.Saver(var_list=tf.compat.v1.global_variables())  # error: [BN017]
""",
        ),
        # A filtered list, in another file: reported, not fixed.
        Invalid(
            files={
                "nets.py": """
import tensorflow as tf
slim = tf.contrib.slim
def generator(z, is_training):
    with slim.arg_scope([slim.fully_connected], normalizer_fn=slim.batch_norm,
                        normalizer_params={"is_training": is_training}):
        return slim.fully_connected(z, 784)
""",
                "train.py": """
import tensorflow as tf
from nets import generator
fake = generator(z, True)
g_vars = [v for v in tf.trainable_variables() if v.name.startswith("generator")]
g_saver = tf.train.Saver(g_vars)  # error: [BN017]
""",
            },
            message="`slim.fully_connected(normalizer_fn=...)` (nets.py:6)",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file, project = ctx.file, ctx.project
        for site in file.calls:
            names = file.call_names(site)
            if names & registry.SAVER_CLASS_NAMES:
                arg = call_argument(site.node, registry.SAVER_VAR_LIST.name, registry.SAVER_VAR_LIST.position)
                lists = [arg] if arg is not None else []
            elif names & registry.CHECKPOINT_CLASS_NAMES:
                lists = [a for a in site.node.args if a.keyword is not None]
            else:
                continue
            for arg in lists:
                culprit = _trainable_only(file, arg.value, site.scope, 0)
                if culprit is None:
                    continue
                bn = _batch_norm_in_graph(project, file, site)
                if bn is None:
                    break
                yield Report(
                    site.node,
                    f"`{shortened(file.code(site.node), _QUOTE_WIDTH)}` covers only trainable variables: "
                    f"the moving mean and "
                    f"variance of `{bn.display()}` ({bn.file.place(bn.site.node, with_path=bn.file is not file)}) "
                    f"are never saved or restored",
                    fix=_fix(arg, culprit),
                    related=((bn.file, bn.site.node),),
                )
                break


def _is_trainable_variables(file: FileModel, expr: cst.BaseExpression, scope: Scope) -> bool:
    """``tf.trainable_variables()`` or ``tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES)``."""
    if not isinstance(expr, cst.Call):
        return False
    names = file.resolve(expr.func, scope)
    if names & registry.TRAINABLE_VARIABLES_NAMES:
        return True
    if names & registry.GET_COLLECTION_NAMES and expr.args:
        key = expr.args[0].value
        return bool(file.resolve(key, scope) & registry.TRAINABLE_VARIABLES_COLLECTION) \
            or literal(key) == registry.TRAINABLE_VARIABLES_STRING
    return False


def _trainable_only(file: FileModel, expr: cst.BaseExpression, scope: Scope, depth: int) -> cst.Call | None:
    """The ``trainable_variables()`` call a list is made of, when nothing else can add moving statistics."""
    if depth > 6:
        return None
    if _is_trainable_variables(file, expr, scope):
        assert isinstance(expr, cst.Call)
        return expr
    if isinstance(expr, cst.Name):
        value = single_assignment(file, expr, scope)
        return _trainable_only(file, value, scope, depth + 1) if value is not None else None
    if isinstance(expr, (cst.ListComp, cst.GeneratorExp, cst.DictComp)) and expr.for_in.inner_for_in is None:
        return _trainable_only(file, expr.for_in.iter, scope, depth + 1)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("list", "tuple") \
            and len(expr.args) == 1:
        return _trainable_only(file, expr.args[0].value, scope, depth + 1)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        left = _trainable_only(file, expr.left, scope, depth + 1)
        right = _trainable_only(file, expr.right, scope, depth + 1)
        if left is not None and (right is not None or _single_variables(file, expr.right)):
            return left
        if right is not None and _single_variables(file, expr.left):
            return right
    return None


def _single_variables(file: FileModel, expr: cst.BaseExpression) -> bool:
    """A list literal of single variables (``[global_step]``): it adds no moving statistics wholesale."""
    if not isinstance(expr, (cst.List, cst.Tuple)):
        return False
    for element in expr.elements:
        if isinstance(element, cst.StarredElement):
            return False
        if not isinstance(element.value, (cst.Name, cst.Attribute, cst.Call)):
            return False
        text = file.code(element.value).lower()
        if "moving" in text or "variables" in text or "collection" in text:
            return False
    return True


def _has_moving_stats(project: ProjectIndex, bn: BatchNormSite) -> bool:
    return bn.api.updates in ("collection", "layer_updates") and not never_training(project, bn)


def _batch_norm_in_graph(project: ProjectIndex, file: FileModel, site: CallSite) -> BatchNormSite | None:
    unit = file.unit_name(site.scope)
    for bn in batch_norm_sites(project):
        # Not siblings (``main`` calls ``train()`` then ``export()``): they may build separate graphs.
        if _has_moving_stats(project, bn) and one_runs_the_other(project, bn.unit, unit):
            return bn
    return None


def _fix(arg: cst.Arg, culprit: cst.Call) -> FixSpec | None:
    """``X.trainable_variables(...)`` written as the var_list itself becomes ``X.global_variables(...)``."""
    if arg.value is not culprit or not isinstance(culprit.func, cst.Attribute):
        return None
    if culprit.func.attr.value != registry.TRAINABLE_VARIABLES_STRING:
        return None
    replacement = culprit.with_changes(
        func=culprit.func.with_changes(attr=cst.Name(registry.GLOBAL_VARIABLES_FUNCTION)))
    return FixSpec(node=culprit, replacement=replacement,
                   message=f"Save `{registry.GLOBAL_VARIABLES_FUNCTION}()`", applicability="unsafe")

