"""BN016: the UPDATE_OPS collection is read before the batch norms that fill it are built."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.batch_norm import BatchNormSite, batch_norm_sites
from bnlint.facts.build_order import build_order
from bnlint.facts.training_flag import never_training
from bnlint.facts.train_ops import COLLECTION, update_refs
from bnlint.messages import shortened
from bnlint.project import ProjectIndex
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, iter_names, walk

# This rule's messages quote longer code than most (``bnlint.messages.QUOTE_WIDTH``).
_QUOTE_WIDTH = 60


class UpdateOpsCollectedTooEarly(Rule):
    """UPDATE_OPS collection read before the batch norms that fill it are built.

    ## What it does
    Flags ``tf.get_collection(tf.GraphKeys.UPDATE_OPS)`` (or
    ``graph.get_collection``) whose result goes into
    ``tf.control_dependencies``/``tf.group`` when every batch norm of the
    same graph that puts its updates in that collection is built *after* the
    read: later in the same function, or by a model-building call that comes
    after the read (or after the call of the helper that reads it). The read
    and the batch norms may be in different functions and files, and the
    list may be kept on an object (``self.update_ops``) for another method's
    ``control_dependencies``.

    Left alone: the usual order (build the model, read the collection, build
    the train op under ``control_dependencies``), Estimator ``model_fn``s that
    read the collection after building the network, reads inside a loop that
    also builds batch norms (towers), graphs where some batch norm is built
    before the read, and batch norms whose updates run in place
    (``updates_collections=None``) or go to another collection.

    ## Why is this bad?
    ``tf.get_collection`` returns a *copy* of the collection as it is when
    called. Read before the batch norms exist, it is an empty list, so
    ``tf.control_dependencies(update_ops)`` adds no dependency at all: the
    moving mean and variance never update, exactly as if the updates had not
    been hooked, while the code looks correct (BN001 cannot tell).

    ## Example
    ```python
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    logits = build_model(images, is_training=True)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    with tf.control_dependencies(update_ops):
        train_op = optimizer.minimize(loss)
    ```

    ## Use instead
    ```python
    logits = build_model(images, is_training=True)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
        train_op = optimizer.minimize(loss)
    ```

    ## Fix safety
    No automatic fix: moving the read below the model means moving code
    between statements (or functions), which bnlint does not do.

    ## References
    - [tf.compat.v1.layers.batch_normalization (note on UPDATE_OPS)](https://www.tensorflow.org/api_docs/python/tf/compat/v1/layers/batch_normalization)
    - [tf.compat.v1.get_collection (returns a copy)](https://www.tensorflow.org/api_docs/python/tf/compat/v1/get_collection)
    """

    CODE = "BN016"
    NAME = "update-ops-collected-too-early"
    FIX_TITLE = "Read the UPDATE_OPS collection after the model is built"
    TOKENS = tokens.BATCH_NORM + tokens.TRAINING
    PROJECT_WIDE = True

    VALID = [
        Valid(
            """
import tensorflow.compat.v1 as tf
logits = tf.layers.batch_normalization(x, training=True)
update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
with tf.control_dependencies(update_ops):
    train_op = tf.train.AdamOptimizer().minimize(loss)
"""
        ),
        # Estimator model_fn: the network first, then the collection.
        Valid(
            """
import tensorflow.compat.v1 as tf
def model_fn(features, labels, mode):
    training = mode == tf.estimator.ModeKeys.TRAIN
    net = tf.layers.batch_normalization(features, training=training)
    loss = tf.losses.mean_squared_error(labels, net)
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
        train_op = tf.train.AdamOptimizer().minimize(loss, tf.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
"""
        ),
        # A helper reading the collection, called after the model is built.
        Valid(
            """
import tensorflow.compat.v1 as tf
def build(x):
    return tf.layers.batch_normalization(tf.layers.dense(x, 64), training=True)
def make_train_op(loss):
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
        return tf.train.AdamOptimizer().minimize(loss)
def main(x):
    loss = tf.reduce_mean(build(x))
    return make_train_op(loss)
"""
        ),
        # A trainer object reading the collection when it is made, made after the model is built.
        Valid(
            """
import tensorflow.compat.v1 as tf
class Trainer:
    def __init__(self, learning_rate):
        self.optimizer = tf.train.AdamOptimizer(learning_rate)
        self.update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    def step(self, loss):
        with tf.control_dependencies(self.update_ops):
            return self.optimizer.minimize(loss)
def main(x):
    loss = tf.reduce_mean(tf.layers.batch_normalization(tf.layers.dense(x, 64), training=True))
    return Trainer(1e-3).step(loss)
"""
        ),
        # Towers built in a loop: the read in one iteration sees the previous towers.
        Valid(
            """
import tensorflow.compat.v1 as tf
for i in range(2):
    with tf.device("/gpu:%d" % i):
        update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
        h = tf.layers.batch_normalization(x[i], training=True)
with tf.control_dependencies(update_ops):
    train_op = tf.train.AdamOptimizer().minimize(loss)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow.compat.v1 as tf
update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)  # error: [BN016]
h = tf.layers.batch_normalization(x, training=True)
loss = tf.reduce_mean(tf.square(h - y))
with tf.control_dependencies(update_ops):
    train_op = tf.train.AdamOptimizer().minimize(loss)
""",
            message="`tf.get_collection(tf.GraphKeys.UPDATE_OPS)` is read before any batch norm of its graph "
                    "is built: `tf.layers.batch_normalization` (line 3) comes later, so "
                    "`tf.control_dependencies(update_ops)` (line 5) gets an empty list",
        ),
        # The train op helper is called before the model-building function.
        Invalid(
            files={
                "model.py": """
import tensorflow as tf
slim = tf.contrib.slim
def cnn(images, is_training):
    with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm,
                        normalizer_params={"is_training": is_training}):
        net = slim.conv2d(images, 32, [3, 3])
        return slim.fully_connected(slim.flatten(net), 10, activation_fn=None)
""",
                "train.py": """
import tensorflow as tf
from model import cnn
def training_ops(optimizer):
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)  # error: [BN016]
    def minimize(loss):
        with tf.control_dependencies(update_ops):
            return optimizer.minimize(loss)
    return minimize
def main(images, labels):
    minimize = training_ops(tf.train.AdamOptimizer())
    logits = cnn(images, is_training=True)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    return minimize(loss)
""",
            },
            message="`slim.conv2d(normalizer_fn=...)` (model.py:6)",
        ),
        # The same trainer, made before the model: the object keeps an empty list.
        Invalid(
            """
import tensorflow.compat.v1 as tf
class Trainer:
    def __init__(self, learning_rate):
        self.optimizer = tf.train.AdamOptimizer(learning_rate)
        self.update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)  # error: [BN016]
    def step(self, loss):
        with tf.control_dependencies(self.update_ops):
            return self.optimizer.minimize(loss)
def main(x):
    trainer = Trainer(1e-3)
    loss = tf.reduce_mean(tf.layers.batch_normalization(tf.layers.dense(x, 64), training=True))
    return trainer.step(loss)
""",
            message="so `tf.control_dependencies(self.update_ops)` (line 7) gets an empty list",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file, project = ctx.file, ctx.project
        for site in file.calls:
            if not _reads_update_ops(file, site):
                continue
            hook = _hook_using(file, site)
            if hook is None:
                continue
            late = _all_built_after(project, file, site)
            if late is None:
                continue
            where = late.file.place(late.site.node, with_path=late.file is not file)
            yield Report(
                site.node,
                f"`{shortened(file.code(site.node), _QUOTE_WIDTH)}` is read before any batch norm of its graph is "
                f"built: "
                f"`{late.display()}` ({where}) comes later, so `{shortened(file.code(hook), _QUOTE_WIDTH)}` "
                f"({file.place(hook)}) gets an empty list and the moving averages never update",
                related=((late.file, late.site.node), (file, hook)),
            )


def _reads_update_ops(file: FileModel, site: CallSite) -> bool:
    func = site.node.func
    names = file.call_names(site)
    if not (names & registry.GET_COLLECTION_NAMES
            or (isinstance(func, cst.Attribute) and func.attr.value in registry.GET_COLLECTION_METHODS)):
        return False
    return bool(site.node.args) and COLLECTION in update_refs(file, site.node.args[0].value, site.scope)


def _is_hook(file: FileModel, call: cst.Call, scope) -> bool:
    names = file.resolve(call.func, scope)
    if names & (registry.CONTROL_DEPENDENCIES_NAMES | registry.GROUP_NAMES):
        return True
    return isinstance(call.func, cst.Attribute) and call.func.attr.value in registry.CONTROL_DEPENDENCIES_METHODS


def _hook_using(file: FileModel, site: CallSite) -> cst.Call | None:
    """The ``control_dependencies``/``group`` call the read collection goes into, in the same function."""
    for enclosing in reversed(site.enclosing_calls):
        if _is_hook(file, enclosing, site.scope):
            return enclosing
    if not site.assigned_to:
        return _hook_using_attribute(file, site)
    names = set(site.assigned_to)
    for other in file.calls:
        if other.order <= site.order or not _is_hook(file, other.node, other.scope):
            continue
        for arg in other.node.args:
            for name in iter_names(arg.value):
                if name.value in names and any(b.node is site.statement or _binds(b, site)
                                               for b in file.lookup(name.value, other.scope)):
                    return other.node
    return None


def _hook_using_attribute(file: FileModel, site: CallSite) -> cst.Call | None:
    """``self.update_ops = tf.get_collection(...)`` in one method, ``control_dependencies(self.update_ops)`` in any."""
    for other in file.calls:
        if not _is_hook(file, other.node, other.scope):
            continue
        for arg in other.node.args:
            for node in walk(arg.value):
                if isinstance(node, cst.Attribute) and any(
                        value is site.node for value, _scope in file.attribute_values(node, other.scope)):
                    return other.node
    return None


def _binds(binding, site: CallSite) -> bool:
    return binding.kind == "assign" and binding.value is site.node


def _fills_update_ops(project: ProjectIndex, bn: BatchNormSite) -> bool:
    return bn.api.updates == "collection" and bn.api.graph_mode and not never_training(project, bn) \
        and not bn.updates_in_place() and not bn.custom_collection()


def _all_built_after(project: ProjectIndex, file: FileModel, site: CallSite) -> BatchNormSite | None:
    """The first batch norm of the read's graph, when every one of them is surely built after the read."""
    unit = file.unit_name(site.scope)
    first: BatchNormSite | None = None
    for bn in batch_norm_sites(project):
        if not _fills_update_ops(project, bn) or not project.run_together(bn.unit, unit):
            continue
        if build_order(project, (file, site), (bn.file, bn.site)) != "before":
            return None
        if first is None:
            first = bn
    return first
