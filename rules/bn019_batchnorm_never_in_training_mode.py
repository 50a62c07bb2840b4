"""BN019: a graph-mode batch norm whose training flag is never on, in a graph that trains."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.batch_norm import BatchNormSite, batch_norm_sites, batch_norm_sites_in
from bnlint.facts.build_order import one_runs_the_other
from bnlint.facts.inference import inference_function_around
from bnlint.facts.train_ops import train_op_sites, uses_hooking_helper
from bnlint.facts.training_flag import never_training, unpassed_false_parameter
from bnlint.facts.values import literal
from bnlint.project import ProjectIndex
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, call_argument


class BatchNormNeverInTrainingMode(Rule):
    """Graph-mode batch norm never runs in training mode although its graph trains.

    ## What it does
    Flags a TF1 graph-mode batch norm (``tf.compat.v1.layers.batch_normalization``,
    ``tf.compat.v1.layers.BatchNormalization``, ``tf.contrib.layers.batch_norm``,
    ``slim.batch_norm``) whose training flag is off on every path, in a graph
    that also builds a train op (``minimize``, ``apply_gradients``,
    ``slim.learning.create_train_op``, ``optimize_loss``):

    - ``tf.layers.batch_normalization(x)`` without ``training``: it defaults
      to False;
    - a flag that is a name bound to the constant False in every calling
      context (``is_training = False`` ... ``training=is_training``), or a
      function parameter that defaults to False and no caller passes.

    Left alone: a literal ``training=False``/``is_training=False`` written at
    the batch norm or in its ``arg_scope``/``normalizer_params`` (an explicit
    decision, e.g. fine-tuning with frozen statistics), batch norms built with
    ``trainable=False``, flags that are placeholders or tensors, evaluation
    copies (built with ``reuse``, under ``variable_scope(reuse=...)`` or in a
    function named for evaluation or prediction), and graphs with no train op
    (evaluation and export scripts). A train op built by a sibling function
    (``main`` calls ``train()`` and ``evaluate()``) counts only when no batch
    norm run with it can train. BN001 does not report
    these batch norms: they build no update ops to hook, so the one bug gets
    one finding, here.

    ## Why is this bad?
    In inference mode batch norm normalises with its moving mean and variance
    and builds no update ops. Left there during training, it normalises every
    batch with the initial statistics (mean 0, variance 1), which never
    change: the layer does not normalise at all, training loses what batch
    norm brings, and the exported model carries meaningless statistics.

    ## Example
    ```python
    net = tf.layers.conv2d(images, 64, 3)
    net = tf.layers.batch_normalization(net)
    train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
    ```

    ## Use instead
    ```python
    is_training = tf.placeholder_with_default(False, [], name="is_training")
    net = tf.layers.conv2d(images, 64, 3)
    net = tf.layers.batch_normalization(net, training=is_training)
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
        train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
    ```
    Feed ``is_training: True`` when running the train op.

    ## Fix safety
    No automatic fix: the right flag is a placeholder or the Estimator mode,
    which bnlint cannot invent, and turning training on also needs the update
    ops hooked into the train op (BN001).

    ## References
    - [tf.compat.v1.layers.batch_normalization](https://www.tensorflow.org/api_docs/python/tf/compat/v1/layers/batch_normalization)
    - [tf.contrib.layers.batch_norm / slim.batch_norm](https://github.com/google-research/tf-slim/blob/master/tf_slim/layers/layers.py)
    """

    CODE = "BN019"
    NAME = "batchnorm-never-in-training-mode"
    FIX_TITLE = "Pass the training flag (a placeholder or the Estimator mode) to the batch norm"
    TOKENS = tokens.BATCH_NORM + tokens.TRAINING
    PROJECT_WIDE = True

    VALID = [
        Valid(
            """
import tensorflow.compat.v1 as tf
is_training = tf.placeholder(tf.bool, [])
h = tf.layers.batch_normalization(x, training=is_training)
with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    train_op = tf.train.AdamOptimizer().minimize(loss)
"""
        ),
        # Explicitly frozen statistics while fine-tuning.
        Valid(
            """
import tensorflow.compat.v1 as tf
import tf_slim as slim
net = slim.conv2d(images, 64, [3, 3], normalizer_fn=slim.batch_norm,
                  normalizer_params={"is_training": False})
train_op = slim.learning.create_train_op(loss, tf.train.MomentumOptimizer(0.01, 0.9))
"""
        ),
        # No train op: an evaluation script.
        Valid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x)
with tf.Session() as sess:
    tf.train.Saver().restore(sess, "ckpt")
    print(sess.run(h))
"""
        ),
        # Built with trainable=False: a frozen layer.
        Valid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, trainable=False)
train_op = tf.train.AdamOptimizer().minimize(loss)
"""
        ),
        # An evaluation graph built by a sibling of the training function.
        Valid(
            """
import tensorflow.compat.v1 as tf
def train(x):
    h = tf.layers.batch_normalization(x, training=True, name="bn")
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        return tf.train.AdamOptimizer().minimize(tf.reduce_mean(h))
def score(x):
    return tf.layers.batch_normalization(x, name="bn")
def main(x):
    with tf.Graph().as_default():
        train(x)
    with tf.Graph().as_default():
        score(x)
"""
        ),
        # contrib's batch_norm trains by default.
        Valid(
            """
import tensorflow as tf
h = tf.contrib.layers.batch_norm(x, updates_collections=None)
train_op = tf.train.AdamOptimizer().minimize(loss)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.conv2d(images, 32, 3)
h = tf.layers.batch_normalization(h)  # error: [BN019]
loss = tf.reduce_mean(tf.square(tf.layers.dense(tf.layers.flatten(h), 1) - labels))
train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
""",
            message="`tf.layers.batch_normalization(h)` never runs in training mode (`training` defaults to False) "
                    "although its graph trains with `tf.train.AdamOptimizer(1e-3).minimize(loss)` (line 5)",
        ),
        # A flag bound to False and never switched on.
        Invalid(
            """
import tensorflow as tf
slim = tf.contrib.slim
is_training = False
def net_fn(images):
    with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm,
                        normalizer_params={"is_training": is_training}):
        return slim.conv2d(images, 64, [3, 3])  # error: [BN019]
logits = net_fn(images)
train_op = slim.learning.create_train_op(loss, tf.train.AdamOptimizer())
""",
            message="(`is_training=is_training` is False on every path)",
        ),
        # The model and the train op in different files; the parameter's default is never overridden.
        Invalid(
            files={
                "model.py": """
import tensorflow.compat.v1 as tf
def build(x, is_training=False):
    h = tf.layers.dense(x, 64)
    return tf.layers.batch_normalization(h, training=is_training)  # error: [BN019]
""",
                "train.py": """
import tensorflow.compat.v1 as tf
from model import build
logits = build(features)
train_op = tf.train.GradientDescentOptimizer(0.1).minimize(tf.reduce_mean(logits))
""",
            },
            message="(train.py:4)",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        project = ctx.project
        for bn in batch_norm_sites_in(project, ctx.file):
            if not _graph_batch_norm(bn) or not never_training(project, bn) or _deliberate(bn) or _frozen(bn):
                continue
            if inference_function_around(bn.file, bn.site.scope) is not None or _reuses_variables(bn):
                continue  # an evaluation copy of a training batch norm
            train = _train_op_in_graph(project, bn)
            if train is None:
                continue
            train_file, train_site = train
            where = train_file.place(train_site.node, with_path=train_file is not ctx.file)
            yield Report(
                bn.site.node,
                f"`{_short(ctx.file.code(bn.site.node))}` never runs in training mode ({_why(project, bn)}) although its "
                f"graph trains with `{_short(train_file.code(train_site.node))}` ({where}): it normalises with its "
                f"initial moving statistics and never updates them",
                related=((train_file, train_site.node),),
            )


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _graph_batch_norm(bn: BatchNormSite) -> bool:
    return bn.api.graph_mode and bn.api.training is not None and bn.api.updates == "collection"


def _why(project: ProjectIndex, bn: BatchNormSite) -> str:
    assert bn.api.training is not None
    param = bn.api.training.param.name
    for value in bn.training:
        if value is None:
            continue
        if unpassed_false_parameter(project, value):
            return f"`{param}={value.file.code(value.expr)}`: the parameter defaults to False and no caller passes it"
        return f"`{param}={value.file.code(value.expr)}` is False on every path"
    return f"`{param}` defaults to False"


def _deliberate(bn: BatchNormSite) -> bool:
    """A literal ``False`` written at the call or in its arg_scope/normalizer_params: an explicit choice."""
    for value in bn.training:
        if value is None:
            continue
        if literal(value.expr) is not ... or isinstance(value.expr, cst.Call):
            return True
    return False


def _frozen(bn: BatchNormSite) -> bool:
    if bn.frozen_layer():
        return True
    arg = call_argument(bn.site.node, "trainable", None)
    return arg is not None and literal(arg.value) is False


def _reuses_variables(bn: BatchNormSite) -> bool:
    """Built with ``reuse=...`` or inside ``variable_scope(..., reuse=...)``: it shares another batch norm's variables."""
    if call_argument(bn.site.node, registry.REUSE_PARAM, None) is not None:
        return True
    for frame in bn.site.withs:
        if frame.call is not None and bn.file.resolve(frame.call.func, frame.scope) & registry.VARIABLE_SCOPE_NAMES \
                and call_argument(frame.call, registry.REUSE_PARAM, None) is not None:
            return True
    return False


def _train_op_in_graph(project: ProjectIndex, bn: BatchNormSite) -> tuple[FileModel, CallSite] | None:
    """A train op built in the batch norm's graph.

    A train op built by code that runs the batch norm's code, or is run by it, is in its graph. One
    built by a sibling (``main`` calls ``train()`` and ``evaluate()``) may be in another graph: it
    counts only when no batch norm run together with it can ever train (nothing trains its graph's
    statistics, so the forgotten flag is not an evaluation copy).
    """
    candidates = [(t.file, t.site) for t in train_op_sites(project)] + _helper_train_ops(project)
    siblings = []
    for file, site in candidates:
        unit = file.unit_name(site.scope)
        if not project.run_together(bn.unit, unit):
            continue
        if one_runs_the_other(project, unit, bn.unit):
            return file, site
        siblings.append((file, site, unit))
    for file, site, unit in siblings:
        if not any(_graph_batch_norm(other) and not never_training(project, other) and not _frozen(other)
                   and project.run_together(other.unit, unit) for other in batch_norm_sites(project)):
            return file, site
    return None


def _helper_train_ops(project: ProjectIndex) -> list[tuple[FileModel, CallSite]]:
    return project.memo("bn019_helper_train_ops",
                        lambda: [(f, s) for f, s in project.iter_calls() if uses_hooking_helper(f, s)])
