"""BN001: a graph-mode batch norm whose moving-average updates never reach the train op."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import libcst as cst

from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.api_version import in_tf_function
from bnlint.facts.batch_norm import BatchNormSite, batch_norm_sites
from bnlint.facts.inference import in_unit_test
from bnlint.facts.training_flag import never_built, never_training
from bnlint.facts.train_ops import (
    COLLECTION,
    LAYER_UPDATES,
    HookContext,
    TrainOpSite,
    hook_contexts,
    module_builds_graph,
    train_op_sites,
)
from bnlint.project import ProjectIndex
from bnlint.rule import FixSpec, Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, contains


class UnhookedUpdateOps(Rule):
    """Train op does not run the batch-norm moving-average updates.

    ## What it does
    Flags a TF1 graph-mode train op (``optimizer.minimize(...)`` or
    ``optimizer.apply_gradients(...)``) built in the same graph as a batch norm
    whose moving-average update ops it never runs. The batch norms concerned are
    ``tf.compat.v1.layers.batch_normalization``, ``tf.contrib.layers.batch_norm``
    and ``slim.batch_norm`` (directly, or as ``normalizer_fn`` through
    ``arg_scope``) with the default ``updates_collections``, and Keras
    ``BatchNormalization`` layers called in TF1 graph code, whose updates are in
    ``layer.updates`` rather than in the ``UPDATE_OPS`` collection.

    The updates count as run when the train op is built under
    ``tf.control_dependencies`` on them, grouped with them (``tf.group``, or
    an op such as ``tf.no_op()`` built under ``control_dependencies`` on both
    the train op and the updates, in either nesting order), fetched with them
    in one ``sess.run`` (also by a function reading a module-level train op
    and update list), or built by a helper that runs them
    (``slim.learning.create_train_op``, ``tf.contrib.layers.optimize_loss``).
    The model and the train op may be built in different functions and files.
    When a helper builds the train op and only some of its callers hook the
    updates, each caller that forgets is reported once.

    Left alone: train ops in unit tests (a test graph that checks that
    variables change), batch norms whose flag is never on, and optional batch
    norms never built (``if use_bn: x = batch_norm(x)`` where ``use_bn`` is a
    parameter defaulting to False that no linted caller passes).

    ## Why is this bad?
    Graph-mode batch norm only *creates* the ops that update its moving mean and
    variance; nothing runs them unless the train op depends on them. Training
    then looks fine, but the moving statistics keep their initial values (0 and 1),
    and evaluation and serving, which use them, produce garbage.

    ## Example
    ```python
    import tensorflow.compat.v1 as tf

    h = tf.layers.batch_normalization(x, training=is_training)
    loss = tf.losses.softmax_cross_entropy(labels, logits(h))
    train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
    ```

    ## Use instead
    ```python
    import tensorflow.compat.v1 as tf

    h = tf.layers.batch_normalization(x, training=is_training)
    loss = tf.losses.softmax_cross_entropy(labels, logits(h))
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
        train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
    ```
    For a Keras layer ``bn`` in graph code, depend on ``bn.updates`` (or ``model.updates``).

    ## Fix safety
    The fix wraps the statement that builds the train op in
    ``with tf.control_dependencies(...)`` on the ``UPDATE_OPS`` collection
    (spelled with the file's own TensorFlow alias: ``tf.get_collection`` under
    ``import tensorflow.compat.v1 as tf``, ``tf.compat.v1.get_collection`` under
    ``import tensorflow as tf`` unless the file already writes ``tf.get_collection``),
    and on ``layer.updates`` for a Keras layer the train op's code can name.
    It is **unsafe**: running the updates changes the moving statistics, and so
    what the trained model computes at inference (that is the point, but it
    changes behaviour). No fix is offered when the train op is built inside a
    compound statement's header, a lambda, or a one-line block, when no
    ``tensorflow`` import is in scope, or when a Keras layer's name is not
    visible where the train op is built.

    ## References
    - [tf.compat.v1.layers.batch_normalization](https://www.tensorflow.org/api_docs/python/tf/compat/v1/layers/batch_normalization)
    - [tf.compat.v1.get_collection](https://www.tensorflow.org/api_docs/python/tf/compat/v1/get_collection)
    """

    CODE = "BN001"
    NAME = "unhooked-update-ops"
    FIX_TITLE = "Build the train op under `tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS))`"
    FIX_APPLICABILITY = "unsafe"
    TOKENS = tokens.BATCH_NORM + tokens.TRAINING
    PROJECT_WIDE = True

    VALID = [
        # Hooked through a list the trainer object keeps, read after the model is built.
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
        # A partial of a partial: the inner one runs the updates in place (updates_collections=None).
        Valid(
            """
from functools import partial
import tensorflow.compat.v1 as tf
import tf_slim as slim
batch_norm = partial(slim.batch_norm, decay=0.9, updates_collections=None)
def generator(z, training=True):
    bn = partial(batch_norm, is_training=training)
    return slim.conv2d_transpose(z, 64, 4, normalizer_fn=bn)
loss = tf.reduce_mean(generator(z))
train_op = tf.train.AdamOptimizer(2e-4).minimize(loss)
"""
        ),
        # A Keras batch-norm subclass that puts its own updates into UPDATE_OPS: the usual hook runs them.
        Valid(
            """
import tensorflow.compat.v1 as tf
class CollectedBatchNorm(tf.keras.layers.BatchNormalization):
    def call(self, inputs, training=None):
        outputs = super().call(inputs, training)
        for update in self.updates:
            tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, update)
        return outputs
def model_fn(features, labels, mode):
    h = CollectedBatchNorm()(tf.layers.conv2d(features, 8, 3), training=True)
    loss = tf.reduce_mean(h)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        return tf.train.AdamOptimizer(1e-3).minimize(loss)
"""
        ),
        # The op that runs is a no_op built under control_dependencies on both the
        # minimize op and the updates (any nesting order): it groups them.
        Valid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=is_training)
loss = tf.reduce_mean(tf.layers.dense(h, 10))
minimize_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    with tf.control_dependencies([minimize_op]):
        train_op = tf.no_op()
"""
        ),
        Valid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=is_training)
update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
with tf.control_dependencies(update_ops):
    train_op = tf.train.AdamOptimizer(0.01).minimize(loss)
"""
        ),
        # Updates run in place: nothing to hook.
        Valid(
            """
import tensorflow as tf
slim = tf.contrib.slim
h = slim.batch_norm(x, is_training=True, updates_collections=None)
train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
"""
        ),
        # A callable loss computed under control_dependencies on the updates (TF's own
        # distribute test helpers do this): minimizing it runs them.
        Valid(
            """
import tensorflow.compat.v1 as tf
bn = tf.layers.BatchNormalization(fused=False)
def loss_fn():
    y = bn(x, training=True)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        loss = tf.reduce_mean(y)
    return loss
train_op = tf.train.AdamOptimizer().minimize(loss_fn)
"""
        ),
        # Grouped with the updates.
        Valid(
            """
import tensorflow as tf
h = tf.contrib.layers.batch_norm(x, is_training=True)
train_op = tf.train.AdamOptimizer().minimize(loss)
train_op = tf.group(train_op, *tf.get_collection(tf.GraphKeys.UPDATE_OPS))
"""
        ),
        # Fetched together with the updates.
        Valid(
            """
import tensorflow as tf
h = tf.layers.batch_normalization(x, training=True)
step = tf.train.AdamOptimizer().minimize(loss)
sess.run([step, tf.get_collection(tf.GraphKeys.UPDATE_OPS)])
"""
        ),
        # The training flag is never on: no update ops are built (BN019's business).
        Valid(
            """
import tensorflow as tf
h = tf.layers.batch_normalization(x)
train_op = tf.train.AdamOptimizer().minimize(loss)
"""
        ),
        # slim's helper runs UPDATE_OPS itself.
        Valid(
            """
import tf_slim as slim
import tensorflow.compat.v1 as tf
net = slim.conv2d(images, 32, [3, 3], normalizer_fn=slim.batch_norm)
train_op = slim.learning.create_train_op(loss, tf.train.AdamOptimizer())
"""
        ),
        # The loss is computed after the updates (slim's idiom).
        Valid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=True)
with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    total_loss = tf.identity(loss)
train_op = tf.train.MomentumOptimizer(0.1, 0.9).minimize(total_loss)
"""
        ),
        # Eager Keras: updates happen in the layer call.
        Valid(
            """
import tensorflow as tf
bn = tf.keras.layers.BatchNormalization()
optimizer = tf.keras.optimizers.Adam()
with tf.GradientTape() as tape:
    loss = compute_loss(bn(x, training=True))
optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
"""
        ),
        # In a tf.function, automatic control dependencies run the update ops.
        Valid(
            """
import tensorflow as tf
@tf.function
def train_step(x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.compat.v1.layers.batch_normalization(x, training=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
"""
        ),
        # PyTorch look-alike.
        Valid(
            """
import torch
bn = torch.nn.BatchNorm2d(16)
optimizer = torch.optim.SGD(params, lr=0.1)
optimizer.step()
"""
        ),
        # The batch norm is built after the train op: it cannot feed the loss.
        Valid(
            """
import tensorflow.compat.v1 as tf
train_op = tf.train.AdamOptimizer().minimize(loss)
h = tf.layers.batch_normalization(x, training=True)
"""
        ),
        # Hooked by the caller of a helper that builds the train op.
        Valid(
            files={
                "model.py": """
import tensorflow.compat.v1 as tf
def build(x, training):
    return tf.layers.batch_normalization(x, training=training)
""",
                "train.py": """
import tensorflow.compat.v1 as tf
import model
def make_train_op(loss):
    return tf.train.AdamOptimizer().minimize(loss)
def main(x):
    logits = model.build(x, True)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = make_train_op(logits)
""",
            }
        ),
    ]
    INVALID = [
        # A no_op grouping the minimize op with something else than the updates.
        Invalid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=is_training)
loss = tf.reduce_mean(tf.layers.dense(h, 10))
minimize_op = tf.train.AdamOptimizer(1e-3).minimize(loss)  # error: [BN001]
with tf.control_dependencies([minimize_op, global_step_update]):
    train_op = tf.no_op()
""",
            expected_replacement="""
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=is_training)
loss = tf.reduce_mean(tf.layers.dense(h, 10))
with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    minimize_op = tf.train.AdamOptimizer(1e-3).minimize(loss)  # error: [BN001]
with tf.control_dependencies([minimize_op, global_step_update]):
    train_op = tf.no_op()
""",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=is_training)
train_op = tf.train.AdamOptimizer(0.01).minimize(loss)  # error: [BN001]
""",
            message="`tf.layers.batch_normalization` (line 2)",
            expected_replacement="""
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=is_training)
with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    train_op = tf.train.AdamOptimizer(0.01).minimize(loss)  # error: [BN001]
""",
        ),
        # `import tensorflow as tf`: the collection API is spelled through compat.v1.
        Invalid(
            """
import tensorflow as tf
def train(x, labels):
    logits = tf.compat.v1.layers.batch_normalization(x, training=True)
    loss = tf.reduce_mean(tf.square(logits - labels))
    # The optimizer.
    return tf.compat.v1.train.AdamOptimizer().minimize(loss)  # error: [BN001]
""",
            expected_replacement="""
import tensorflow as tf
def train(x, labels):
    logits = tf.compat.v1.layers.batch_normalization(x, training=True)
    loss = tf.reduce_mean(tf.square(logits - labels))
    # The optimizer.
    with tf.control_dependencies(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
        return tf.compat.v1.train.AdamOptimizer().minimize(loss)  # error: [BN001]
""",
        ),
        # No module alias to spell the collection with: reported, not fixed.
        Invalid(
            """
from tensorflow.compat.v1 import layers, train
h = layers.batch_normalization(x, training=True)
train_op = train.AdamOptimizer().minimize(loss)  # error: [BN001]
"""
        ),
        # slim through arg_scope's normalizer_fn.
        Invalid(
            """
import tensorflow as tf
slim = tf.contrib.slim
with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm):
    net = slim.conv2d(images, 64, [3, 3])
opt = tf.train.MomentumOptimizer(0.01, 0.9)
train_op = opt.minimize(loss)  # error: [BN001]
""",
            expected_replacement="""
import tensorflow as tf
slim = tf.contrib.slim
with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm):
    net = slim.conv2d(images, 64, [3, 3])
opt = tf.train.MomentumOptimizer(0.01, 0.9)
with tf.control_dependencies(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
    train_op = opt.minimize(loss)  # error: [BN001]
""",
        ),
        # Keras layer in TF1 graph code: UPDATE_OPS does not hold its updates.
        Invalid(
            """
import tensorflow.compat.v1 as tf
bn = tf.keras.layers.BatchNormalization()
h = bn(x, training=True)
with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    train_op = tf.train.AdamOptimizer().minimize(loss)  # error: [BN001]
""",
            message="`bn.updates`",
            expected_replacement="""
import tensorflow.compat.v1 as tf
bn = tf.keras.layers.BatchNormalization()
h = bn(x, training=True)
with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    with tf.control_dependencies(bn.updates):
        train_op = tf.train.AdamOptimizer().minimize(loss)  # error: [BN001]
""",
        ),
        # Estimator model_fn.
        Invalid(
            """
import tensorflow as tf
def model_fn(features, labels, mode):
    training = mode == tf.estimator.ModeKeys.TRAIN
    net = tf.layers.batch_normalization(features, training=training)
    loss = tf.losses.mean_squared_error(labels, net)
    train_op = tf.train.AdamOptimizer().minimize(loss, tf.train.get_global_step())  # error: [BN001]
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
""",
            expected_replacement="""
import tensorflow as tf
def model_fn(features, labels, mode):
    training = mode == tf.estimator.ModeKeys.TRAIN
    net = tf.layers.batch_normalization(features, training=training)
    loss = tf.losses.mean_squared_error(labels, net)
    with tf.control_dependencies(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)):
        train_op = tf.train.AdamOptimizer().minimize(loss, tf.train.get_global_step())  # error: [BN001]
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
""",
        ),
        # Model in one file, train op in another.
        Invalid(
            files={
                "model.py": """
import tensorflow.compat.v1 as tf
def build(x, training):
    return tf.layers.batch_normalization(x, training=training)
""",
                "train.py": """
import tensorflow.compat.v1 as tf
from model import build
def main(x):
    logits = build(x, True)
    train_op = tf.train.AdamOptimizer().minimize(logits)  # error: [BN001]
""",
            },
            message="(model.py:3)",
            expected_replacement={
                "train.py": """
import tensorflow.compat.v1 as tf
from model import build
def main(x):
    logits = build(x, True)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = tf.train.AdamOptimizer().minimize(logits)  # error: [BN001]
""",
            },
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        for problem in ctx.project.memo(self.CODE, lambda: _analyse(ctx.project)):
            if problem.file is ctx.file:
                yield Report(problem.site.node, problem.message(ctx.file), fix=_fix(problem),
                             related=tuple((bn.file, bn.site.node) for bn in problem.batch_norms))


# --- the fix ------------------------------------------------------------------------------


def _fix(problem: "_Problem") -> FixSpec | None:
    """Wrap the train op's statement in ``with tf.control_dependencies(<updates>):``."""
    file, site = problem.file, problem.site
    statement = site.statement
    if not isinstance(statement, cst.SimpleStatementLine) or not contains(statement, site.node):
        return None
    scope = site.scope
    while scope is not None and scope.kind not in ("function", "module", "class"):
        if scope.kind == "lambda":
            return None  # the lambda runs later, outside the with block
        scope = scope.parent
    alias = _tensorflow_alias(file, site)
    if alias is None:
        return None
    name, compat_v1 = alias
    dependencies: list[str] = []
    if any(COLLECTION in _accepted_kinds(bn) for bn in problem.batch_norms):
        v1 = name if compat_v1 or file.mentions(f"{name}.get_collection(") \
            or file.mentions(f"{name}.GraphKeys.") else f"{name}.compat.v1"
        dependencies.append(f"{v1}.get_collection({v1}.GraphKeys.UPDATE_OPS)")
    for bn in problem.batch_norms:
        if COLLECTION in _accepted_kinds(bn):
            continue
        layer = _layer_name(bn, file, site)
        if layer is None:
            return None
        updates = f"{layer}.updates"
        if updates not in dependencies:
            dependencies.append(updates)
    control = f"{name}.control_dependencies({' + '.join(dependencies)})"
    header = cst.ensure_type(cst.parse_statement(f"with {control}:\n    pass\n"), cst.With)
    replacement = header.with_changes(
        leading_lines=statement.leading_lines,
        body=cst.IndentedBlock(body=[statement.with_changes(leading_lines=())]),
    )
    return FixSpec(statement, replacement, f"Build the train op under `{control}`", "unsafe")


def _tensorflow_alias(file: FileModel, site: CallSite) -> tuple[str, bool] | None:
    """A module-level name bound to ``tensorflow`` (False) or ``tensorflow.compat.v1`` (True), visible at ``site``.

    ``compat.v1`` wins: the collection API lives there.
    """
    found: list[tuple[str, bool]] = []
    for name, bindings in file.module_scope.bindings.items():
        if len(bindings) != 1 or bindings[0].kind != "import":
            continue
        target = bindings[0].imported
        if target not in ("tensorflow", "tensorflow.compat.v1"):
            continue
        if file.lookup(name, site.scope) is not bindings:
            continue  # shadowed where the train op is built
        found.append((name, target == "tensorflow.compat.v1"))
    found.sort(key=lambda item: (not item[1], item[0] != "tf", item[0]))
    return found[0] if found else None


def _layer_name(bn: BatchNormSite, file: FileModel, site: CallSite) -> str | None:
    """The name of a Keras layer object, when the train op's code sees the same binding."""
    func = bn.site.node.func
    if bn.file is not file or not isinstance(func, cst.Name) or bn.unit != file.unit_name(site.scope) \
            or bn.site.order > site.order:
        return None
    bindings = file.lookup(func.value, bn.site.scope)
    if not bindings or file.lookup(func.value, site.scope) is not bindings:
        return None
    return func.value


@dataclass
class _Problem:
    file: FileModel
    site: CallSite
    train_op: TrainOpSite
    batch_norms: list[BatchNormSite]
    via_caller: bool

    def message(self, here: FileModel) -> str:
        first = self.batch_norms[0]
        where = first.file.place(first.site.node, with_path=first.file is not here)
        keras = first.api.updates == "layer_updates"
        what = f"Keras layer `{first.display()}`" if keras else f"`{first.display()}`"
        what += f" ({where})"
        more = len(self.batch_norms) - 1
        if more:
            what += f" and {more} more batch norm{'s' if more > 1 else ''}"
        subject = f"`{self.file.code(self.site.node.func)}(...)` returns a train op that" if self.via_caller \
            else "Train op"
        message = f"{subject} does not run the moving-average updates of {what}"
        if keras:
            message += f"; Keras layers keep them in `{first.display()}.updates`, not in UPDATE_OPS"
        return message


def _built_after(bn: BatchNormSite, file: FileModel, site: CallSite) -> bool:
    """The batch norm is built later in the same function (or module top level) than ``site``."""
    return bn.file is file and bn.unit == file.unit_name(site.scope) and bn.site.order > site.order


def _needs_hook(bn: BatchNormSite) -> bool:
    if bn.api.updates not in ("collection", "layer_updates"):
        return False
    if bn.api.updates == "collection" and not bn.api.graph_mode:
        return False
    return not (bn.never_training() or bn.updates_in_place() or bn.custom_collection() or bn.frozen_layer())


def _accepted_kinds(bn: BatchNormSite) -> frozenset[str]:
    if bn.api.updates == "layer_updates":
        return frozenset({LAYER_UPDATES, COLLECTION}) if bn.joins_update_ops else frozenset({LAYER_UPDATES})
    if bn.api.kind == "layer":  # tf.layers.BatchNormalization objects: collection or layer.updates
        return frozenset({COLLECTION, LAYER_UPDATES})
    return frozenset({COLLECTION})


def _graph_code(train_op: TrainOpSite, bn: BatchNormSite) -> bool:
    return train_op.graph_optimizer is True or module_builds_graph(train_op.file) or module_builds_graph(bn.file)


def _missing(project: ProjectIndex, train_op: TrainOpSite, context: HookContext,
             candidates: list[BatchNormSite]) -> list[BatchNormSite]:
    outer_file, outer_site = context.outermost
    outer_unit = outer_file.unit_name(outer_site.scope)
    missing = []
    for bn in candidates:
        if not project.run_together(bn.unit, outer_unit):
            continue
        if _built_after(bn, train_op.file, train_op.site):
            continue  # not in the graph yet when the train op is built: it cannot feed the loss
        if bn.api.updates == "layer_updates" and not _graph_code(train_op, bn):
            continue
        if context.kinds & _accepted_kinds(bn):
            continue
        missing.append(bn)
    return missing


def _analyse(project: ProjectIndex) -> list[_Problem]:
    # A flag that is never on (e.g. a parameter defaulting to False that no caller passes) builds no
    # update ops: BN019 reports that batch norm, once.
    candidates = [bn for bn in batch_norm_sites(project)
                  if _needs_hook(bn) and not never_training(project, bn) and not never_built(project, bn)]
    if not candidates:
        return []
    problems: list[_Problem] = []
    for train_op in train_op_sites(project):
        if in_tf_function(train_op.file, train_op.site.scope):
            continue  # automatic control dependencies run the updates
        if in_unit_test(train_op.file, train_op.site.scope):
            continue  # a unit test's graph that only checks that variables change
        contexts = hook_contexts(project, train_op.file, train_op.site)
        unhooked = [(ctx, _missing(project, train_op, ctx, candidates)) for ctx in contexts]
        unhooked = [(ctx, missing) for ctx, missing in unhooked if missing]
        if not unhooked:
            continue
        if len(unhooked) == len(contexts):
            merged: list[BatchNormSite] = []
            for _ctx, missing in unhooked:
                merged.extend(bn for bn in missing if bn not in merged)
            problems.append(_Problem(train_op.file, train_op.site, train_op, merged, via_caller=False))
            continue
        # Hooked by some callers and not by others: report the callers that forget, once each
        # (several outer chains may pass through one caller).
        by_caller: dict[tuple[str, int], _Problem] = {}
        for ctx, missing in unhooked:
            caller_file, caller_site = ctx.chain[1]
            key = (caller_file.path, id(caller_site.node))
            if key in by_caller:
                by_caller[key].batch_norms.extend(bn for bn in missing if bn not in by_caller[key].batch_norms)
                continue
            by_caller[key] = _Problem(caller_file, caller_site, train_op, list(missing), via_caller=True)
        problems.extend(by_caller.values())
    return problems
