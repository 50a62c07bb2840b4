"""BN019: a graph-mode batch norm whose training flag is never on, in a graph that trains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.batch_norm import BatchNormSite, batch_norm_sites, batch_norm_sites_in
from bnlint.facts.build_order import one_runs_the_other
from bnlint.facts.dropped_flag import dropped_flag
from bnlint.facts.api_version import in_tf_function
from bnlint.facts.inference import inference_function_around
from bnlint.facts.learning_phase import PhaseOrigin, learning_phase_origins
from bnlint.facts.train_inputs import feeds_train_op
from bnlint.facts.train_ops import (
    TrainOpSite,
    classify_train_op,
    module_builds_graph,
    train_op_sites,
    uses_hooking_helper,
)
from bnlint.facts.training_flag import never_training, unpassed_false_parameter
from bnlint.facts.values import literal
from bnlint.messages import shortened
from bnlint.project import ProjectIndex
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, call_argument

# This rule's messages quote longer code than most (``bnlint.messages.QUOTE_WIDTH``).
_QUOTE_WIDTH = 60


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

    It also flags a Keras ``BatchNormalization`` run as a graph op (a
    ``tf.compat.v1`` session program, an Estimator ``model_fn``, TF2's
    ``compat.v1`` Estimator too) without a ``training`` argument, where its
    output feeds the loss of such a train op. Keras then takes the learning
    phase, which in graph mode is a ``placeholder_with_default(False)`` that
    only Keras's own ``fit`` feeds and a plain Estimator never sets. The
    finding is at the call that leaves ``training`` out, once per function:

    - ``BatchNormalization()(x)`` itself;
    - ``model(x)`` where ``model`` is a ``Sequential`` or functional Keras
      model built with a batch norm, or a Keras ``Model`` subclass (Keras
      hands the outer call's flag to the layers its ``call`` runs);
    - ``model(x)`` where ``model`` is a plain Python class whose
      ``__call__(x, training=None)`` passes the flag down to the batch norm.

    The message also says when the batch norm sits in a wrapper that takes a
    flag and never passes it on (``def conv_bn(x, is_training): return
    tf.layers.batch_normalization(x)``).

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
    one finding, here. For Keras batch norms: any ``training`` argument
    (``training=(mode == tf.estimator.ModeKeys.TRAIN)``, a placeholder, a
    literal), calls whose output does not feed the train op's loss (a
    validation branch), calls inside ``@tf.function`` or a ``GradientTape``
    block (eager code; BN013 covers training steps there), layers built into
    a functional model (``keras.Input`` ... ``keras.Model``: the model's call
    decides), ``trainable=False`` layers, pretrained ``keras.applications``
    networks, subclasses with their own ``call``, unit tests, and projects
    that set, scope or feed the learning phase (``set_learning_phase``,
    ``learning_phase()`` in a ``feed_dict``). A Keras batch norm in graph code
    also keeps its updates out of ``UPDATE_OPS``: BN001 reports that separately.

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
    Feed ``is_training: True`` when running the train op. In an Estimator
    ``model_fn``, pass ``training=(mode == tf.estimator.ModeKeys.TRAIN)`` to
    Keras layers and models, and run their ``updates`` with the train op.

    ## Fix safety
    No automatic fix: the right flag is a placeholder or the Estimator mode,
    which bnlint cannot invent, and turning training on also needs the update
    ops hooked into the train op (BN001).

    ## References
    - [tf.compat.v1.layers.batch_normalization](https://www.tensorflow.org/api_docs/python/tf/compat/v1/layers/batch_normalization)
    - [tf.contrib.layers.batch_norm / slim.batch_norm](https://github.com/google-research/tf-slim/blob/master/tf_slim/layers/layers.py)
    - [tf.keras.backend.learning_phase](https://www.tensorflow.org/versions/r2.6/api_docs/python/tf/keras/backend/learning_phase)
    - [Released Spleeter weights keep moving mean 0 and variance 1 (deezer/spleeter#151)](https://github.com/deezer/spleeter/issues/151)
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
    VALID += [
        # The Estimator's mode reaches the Keras layers.
        Valid(
            """
import tensorflow as tf
def model_fn(features, labels, mode):
    training = mode == tf.estimator.ModeKeys.TRAIN
    bn = tf.keras.layers.BatchNormalization()
    logits = tf.keras.layers.Dense(10)(bn(features["x"], training=training))
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    with tf.control_dependencies(bn.updates):
        train_op = tf.compat.v1.train.AdamOptimizer().minimize(loss)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
"""
        ),
        # The program sets the learning phase itself.
        Valid(
            """
import tensorflow.compat.v1 as tf
tf.keras.backend.set_learning_phase(1)
bn = tf.keras.layers.BatchNormalization()
h = bn(tf.placeholder(tf.float32, [None, 8]))
with tf.control_dependencies(bn.updates):
    train_op = tf.train.AdamOptimizer().minimize(tf.reduce_mean(h))
"""
        ),
        # Keras trains its own model with fit: it feeds the learning phase.
        Valid(
            """
import tensorflow as tf
model = tf.keras.Sequential([tf.keras.layers.Dense(64), tf.keras.layers.BatchNormalization(),
                             tf.keras.layers.Dense(10)])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(x_train, y_train, epochs=5)
"""
        ),
        # A TF1 graph that only evaluates a Keras model: inference mode is right.
        Valid(
            """
import tensorflow.compat.v1 as tf
model = tf.keras.Sequential([tf.keras.layers.Dense(64), tf.keras.layers.BatchNormalization()])
outputs = model(tf.placeholder(tf.float32, [None, 32]))
with tf.Session() as sess:
    tf.train.Saver().restore(sess, "ckpt")
    print(sess.run(outputs))
"""
        ),
        # The call without `training` is the validation branch: only the training call feeds the loss.
        Valid(
            """
import tensorflow.compat.v1 as tf
model = tf.keras.Sequential([tf.keras.layers.Dense(64), tf.keras.layers.BatchNormalization()])
train_out = model(train_x, training=True)
val_out = model(val_x)
loss = tf.reduce_mean(tf.square(train_out - train_y))
with tf.control_dependencies(model.updates):
    train_op = tf.train.AdamOptimizer().minimize(loss)
"""
        ),
        # A functional model's layers follow the mode the model is called in.
        Valid(
            """
import tensorflow as tf
def build():
    inputs = tf.keras.Input([32])
    outputs = tf.keras.layers.BatchNormalization()(tf.keras.layers.Dense(64)(inputs))
    return tf.keras.Model(inputs, outputs)
def model_fn(features, labels, mode):
    model = build()
    logits = model(features, training=mode == tf.estimator.ModeKeys.TRAIN)
    loss = tf.reduce_mean(tf.square(logits - labels))
    with tf.control_dependencies(model.updates):
        train_op = tf.compat.v1.train.AdamOptimizer().minimize(loss)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
"""
        ),
        # Eager TF2 training step: BN013's concern.
        Valid(
            """
import tensorflow as tf
model = tf.keras.Sequential([tf.keras.layers.Dense(64), tf.keras.layers.BatchNormalization()])
optimizer = tf.keras.optimizers.Adam()
@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
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
        # A Keras batch norm called in a TF1 session program without `training`; reported once per function.
        Invalid(
            """
import tensorflow.compat.v1 as tf
def encoder(x):
    h = tf.keras.layers.BatchNormalization()(tf.layers.dense(x, 64))  # error: [BN019]
    return tf.keras.layers.BatchNormalization()(tf.layers.dense(h, 32))
x = tf.placeholder(tf.float32, [None, 128])
loss = tf.reduce_mean(tf.square(encoder(x)))
train_op = tf.train.AdamOptimizer().minimize(loss)
""",
            message="`tf.keras.layers.BatchNormalization()(tf.layers.dense(x, 64))` runs in inference mode: a Keras "
                    "batch norm called without `training` in TF1 graph code takes the learning phase, 0 unless set, "
                    "although its graph trains with `tf.train.AdamOptimizer().minimize(loss)` (line 7): the batch "
                    "norm normalises with its initial moving statistics and never updates them (1 more such call "
                    "in `encoder`)",
        ),
        # An Estimator model_fn calls a Keras model subclass without `training`: Keras hands its `call` None.
        Invalid(
            files={
                "net.py": """
import tensorflow as tf
class Net(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = tf.keras.layers.Dense(64)
        self.bn = tf.keras.layers.BatchNormalization()
    def call(self, inputs, training=None):
        return self.bn(self.dense(inputs))
""",
                "estimator.py": """
import tensorflow as tf
from net import Net
def model_fn(features, labels, mode):
    net = Net()
    logits = net(features["x"])  # error: [BN019]
    loss = tf.reduce_mean(tf.square(logits - labels))
    with tf.control_dependencies(net.updates):
        train_op = tf.compat.v1.train.AdamOptimizer().minimize(loss)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
""",
            },
            message="(through `Net.call`)",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        project = ctx.project
        for finding in project.memo("bn019_learning_phase", lambda: _learning_phase_findings(project)):
            if finding.origins[0].file is ctx.file:
                yield finding.report(ctx.file)
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
                f"`{shortened(ctx.file.code(bn.site.node), _QUOTE_WIDTH)}` never runs in training mode "
                f"({_why(project, bn)}) although its graph trains with "
                f"`{shortened(train_file.code(train_site.node), _QUOTE_WIDTH)}` ({where}): it normalises with its "
                f"initial moving statistics and never updates them{_dropped(bn)}",
                related=((train_file, train_site.node),),
            )


def _dropped(bn: BatchNormSite | None) -> str:
    """``; `conv_bn` takes `is_training` but never passes it on``, for a wrapper that drops its flag."""
    dropped = dropped_flag(bn) if bn is not None else None
    return f"; {dropped.describe()}" if dropped is not None else ""


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


# --- Keras batch norms left to the learning phase --------------------------------------------


@dataclass
class _LearningPhaseFinding:
    """The calls of one function that leave Keras batch norms to the learning phase, and the train op they feed."""

    origins: list[PhaseOrigin]
    train_file: FileModel
    train_site: CallSite
    project: ProjectIndex

    def report(self, here: FileModel) -> Report:
        first = self.origins[0]
        train = f"`{shortened(self.train_file.code(self.train_site.node), _QUOTE_WIDTH)}` " \
                f"({self.train_file.place(self.train_site.node, with_path=self.train_file is not here)})"
        code = f"`{shortened(here.code(first.site.node), _QUOTE_WIDTH)}`"
        if first.direct:
            message = (f"{code} runs in inference mode: a Keras batch norm called without `training` in TF1 graph "
                       f"code takes the learning phase, 0 unless set, although its graph trains with {train}")
        else:
            bn = f"`{shortened(first.bn_file.code(first.bn_node), _QUOTE_WIDTH)}` " \
                 f"({first.bn_file.place(first.bn_node, with_path=first.bn_file is not here)})"
            through = f" (through {first.through})" if first.through else ""
            message = (f"{code} runs the Keras batch norm {bn} in inference mode: it leaves `training` out{through}, "
                       f"so in TF1 graph code Keras takes the learning phase, 0 unless set, although the graph "
                       f"trains with {train}")
        message += ": the batch norm normalises with its initial moving statistics and never updates them"
        if first.direct:
            message += _dropped(_batch_norm_at(self.project, first))
        more = len(self.origins) - 1
        if more:
            function = here.enclosing_function(first.site.scope)
            where = f"`{function.name}`" if function is not None else "this module"
            message += f" ({more} more such call{'s' if more > 1 else ''} in {where})"
        return Report(first.site.node, message,
                      related=((first.bn_file, first.bn_node), (self.train_file, self.train_site.node)))


def _batch_norm_at(project: ProjectIndex, origin: PhaseOrigin) -> BatchNormSite | None:
    for bn in batch_norm_sites_in(project, origin.file):
        if bn.site is origin.site:
            return bn
    return None


def _learning_phase_findings(project: ProjectIndex) -> list[_LearningPhaseFinding]:
    # Without a graph train op nothing can be reported: skip reading every call for origins.
    train_ops = [(t.file, t.site) for t in train_op_sites(project) if _graph_train_op(t)] + \
        [(f, s) for f, s in _helper_train_ops(project) if not in_tf_function(f, s.scope)]
    if not train_ops:
        return []
    origins = learning_phase_origins(project)
    if not origins:
        return []
    groups: dict[tuple[str, str], _LearningPhaseFinding] = {}
    for origin in sorted(origins, key=lambda o: (o.file.path, o.site.order)):
        train = _fed_train_op(project, origin, train_ops)
        if train is None:
            continue
        key = (origin.file.path, origin.unit)
        if key in groups:
            groups[key].origins.append(origin)
        else:
            groups[key] = _LearningPhaseFinding([origin], *train, project)
    return list(groups.values())


def _graph_train_op(train_op: TrainOpSite) -> bool:
    """A TF1 graph-mode train op: a ``tf.compat.v1.train`` optimizer, or one in graph code, not traced by tf.function."""
    if in_tf_function(train_op.file, train_op.site.scope):
        return False
    return train_op.graph_optimizer is True or module_builds_graph(train_op.file)


def _fed_train_op(project: ProjectIndex, origin: PhaseOrigin,
                  train_ops: list[tuple[FileModel, CallSite]]) -> tuple[FileModel, CallSite] | None:
    """A graph train op whose loss the origin's call feeds (or, when the loss is gathered from a collection,
    one built in the same flow of code)."""
    unit = origin.unit
    graph_origin = module_builds_graph(origin.file)
    for file, site in train_ops:
        train_unit = file.unit_name(site.scope)
        if not project.run_together(unit, train_unit):
            continue
        if not (graph_origin or module_builds_graph(file) or _tf1_optimizer(file, site)):
            continue
        verdict = feeds_train_op(project, file, site, origin.file, origin.site)
        if verdict or verdict is None and one_runs_the_other(project, unit, train_unit):
            return file, site
    return None


def _tf1_optimizer(file: FileModel, site: CallSite) -> bool:
    return classify_train_op(file, site) is True or uses_hooking_helper(file, site)
