"""BN005: batch norm runs in training mode on a path that predicts, evaluates, serves or exports."""

from __future__ import annotations

from typing import Iterable, Iterator

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.batch_norm import batch_norm_sites, batch_norm_sites_by_unit, batch_norm_sites_in, classify
from bnlint.facts.dropped_flag import callers_asking_for, dropped_flag
from bnlint.facts.evaluation_copies import untrained_reused_copy
from bnlint.facts.inference_graphs import InferenceGraph, inference_graphs
from bnlint.facts.inference import inference_function_around, is_inference_call, is_test_file, name_words
from bnlint.facts.keras_models import batch_norm_held_by
from bnlint.facts.train_ops import train_op_sites
from bnlint.facts.sessions import evaluation_names, fetches_train_op, session_runs
from bnlint.facts.tf1 import under_gradient_tape
from bnlint.facts.training_flag import flag_at_call, flag_parameters, reaches_flag
from bnlint.facts.values import Value, constant, literal
from bnlint.messages import shortened
from bnlint.names import is_tensorflow_name
from bnlint.project import ProjectIndex
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import INSTANCE, CallSite, FileModel, FunctionInfo, Scope, call_argument, child_nodes, dotted, walk

# Words of a callee's name that say it is a whole model (its batch norms run in its mode).
_MODEL_WORDS = frozenset({"model", "net", "network", "backbone", "encoder", "classifier"})


class TrainingModeAtInference(Rule):
    """Batch norm runs in training mode on an inference path.

    ## What it does
    Flags batch norm put in training mode where the code predicts,
    evaluates, tests, serves or exports:

    - a call with ``training=True``/``is_training=True`` (a batch norm, a
      Keras model or layer, or a linted function that builds a batch norm)
      inside a function named for inference (``predict``, ``evaluate``,
      ``eval_step``, ``run_validation``, ``serving_fn``, ``export_model``,
      Keras ``test_step``), unless every project call of it is made under a
      ``tf.GradientTape`` (a ``predict_next`` that computes the loss);
    - a batch norm left at its training default there
      (``slim.batch_norm(net)``: ``is_training`` defaults to True);
    - a call of a linted model builder there whose flag parameters are all
      True, passed or left at a ``True`` default (``disp_net(images)`` where
      ``def disp_net(x, is_training=True)``). A flag parameter is found by
      following it to a batch norm's training flag, whatever its name
      (``phase_train``, ``train_mode``, a positional flag), also through
      other builders;
    - a batch norm in training mode (literal or default), or a call building
      one with ``is_training=True`` (or a call of a model builder that leaves
      every flag parameter at a ``True`` default), in a TF1 graph that is exported for
      serving (``tf.saved_model.simple_save``, ``convert_variables_to_constants``,
      ``export_meta_graph``, ...) or restored from a checkpoint
      (``saver.restore``) by a program that builds no train op (an
      evaluation, export or inference script), or on a mode branch of a
      script that also trains (``if args.mode == "export":``) when nothing
      on that branch trains;
    - a model run in training mode on data named as test or validation data
      (``model(test_input, training=True)``, ``net(x_val)`` with a ``True``
      flag default), wherever the call sits;
    - a model built again reusing its variables (``reuse=True``, inside
      ``variable_scope(..., reuse=True)``, or after ``reuse_variables()``)
      in training mode (a batch norm or builder flag True, passed or by
      default) when no train op of its program depends on that copy: it
      shares the trained variables only to be evaluated
      (``network(other_images, phase_train=True, reuse=True)`` next to the
      trained ``network(images)``). Copies the loss depends on (multi-tower
      training, also through a list of tower losses or gradients; a GAN
      discriminator applied to generated images; a gradient penalty added
      with ``+=``) are training, and a loss read from a graph collection
      (``tf.losses.get_total_loss()``) leaves the question open: not flagged;
    - a ``sess.run``/``.eval`` that evaluates (fetches no train op, and sits
      in an inference function or in code named for test or validation
      data: ``for val_step in ...``, ``val_loss = sess.run(...)``) fed
      ``True`` for a placeholder that reaches a batch norm's flag
      (``{is_training: True}``), directly or through a builder's flag
      parameter or the predicate of a ``tf.cond`` between batch norms;
    - a batch norm left at its training default in a file whose program
      defines and feeds a ``tf.bool`` placeholder ``False``
      (``{is_training: False}``) that never reaches any batch norm's flag:
      the evaluation it means to run is in training mode;
    - a ``sess.run`` in an inference function (``def predict(x):``) that
      fetches a tensor of the module's own graph whose batch norms are built
      in training mode (a script that trains at module level and reuses the
      same graph to predict);
    - ``tf.keras.backend.set_learning_phase(1)`` in an inference function,
      or followed in the same function by ``model.predict``/``evaluate`` or
      an export without resetting it to 0;
    - ``{tf.keras.backend.learning_phase(): 1}`` fed in an inference function;
    - a batch norm that trains by default (``slim.batch_norm``,
      ``tf.contrib.layers.batch_norm``) in a wrapper that takes a training
      flag (``train``, ``is_training``, ...) and never passes it on, when a
      caller asks for inference mode: it passes ``False``, directly or
      through a parameter of its own (``sampler`` calls ``generator(z,
      train=False)``, which calls ``bn(h, train=train)``);
    - in an Estimator ``model_fn`` that also evaluates or predicts (it refers
      to ``ModeKeys.PREDICT`` or ``EVAL``), a call building batch norm in
      training mode whatever the mode (``net(features, is_training=True)``,
      or a builder or batch norm left at a ``True`` default) made before the
      function branches on those modes and outside any ``if`` on the mode.

    A training-only script (builds a train op, no evaluation or prediction of
    the same graph) is not flagged, nor unit tests (``*_test.py`` and
    ``test_*.py`` files, test classes, ``test*`` functions that assert;
    ``testGAN()`` sampling from a checkpoint is an evaluation), nor dropout
    called with ``training=True`` (Monte-Carlo dropout is deliberate), nor
    calls whose callee is of unknown kind. Names are evidence, not proof: a
    function named ``inference`` that builds batch norms and is called by a
    program that builds a train op is the model builder (the TF1 tutorials'
    layout), not an inference path.

    ## Why is this bad?
    In training mode, batch norm normalises each batch with its own mean and
    variance and (in Keras and TF2) updates the moving averages. Predictions
    then depend on the other examples of the batch, a batch of one gives
    garbage, evaluation metrics are wrong, and every evaluation or serving
    request shifts the statistics the model was trained to use.

    ## Example
    ```python
    def predict(model, images):
        return model(images, training=True)
    ```

    ## Use instead
    ```python
    def predict(model, images):
        return model(images, training=False)
    ```

    ## Fix safety
    No automatic fix: code that looks like inference sometimes fine-tunes.

    ## References
    - [tf.keras.layers.BatchNormalization](https://www.tensorflow.org/api_docs/python/tf/keras/layers/BatchNormalization)
    - [tf.keras.backend.set_learning_phase](https://www.tensorflow.org/versions/r2.6/api_docs/python/tf/keras/backend/set_learning_phase)
    """

    CODE = "BN005"
    NAME = "training-mode-at-inference"
    FIX_TITLE = "Run batch norm in inference mode (`training=False`) on this path"
    TOKENS = ("training=True", "training = True", "learning_phase", "saved_model", "write_graph",
              "convert_variables_to_constants", "save_model", ".restore(") + tokens.BATCH_NORM
    # An inference path calling a builder elsewhere (``build_test_graph``, ``x_val``): checked when linked.
    CHECK_TOKENS = tokens.EVALUATION
    PROJECT_WIDE = True

    VALID = [
        Valid(
            """
import tensorflow as tf
def predict(model, images):
    return model(images, training=False)
"""
        ),
        # Monte-Carlo dropout is deliberate.
        Valid(
            """
import tensorflow as tf
dropout = tf.keras.layers.Dropout(0.5)
def predict_with_uncertainty(features):
    return [dropout(features, training=True) for _ in range(10)]
"""
        ),
        # A training step.
        Valid(
            """
import tensorflow as tf
def train_step(model, images, labels):
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(images, training=True))
    return tape.gradient(loss, model.trainable_variables)
"""
        ),
        # Training-only script: slim's default is_training=True, a train op, no evaluation.
        Valid(
            """
import tensorflow.compat.v1 as tf
import tf_slim as slim
images = tf.placeholder(tf.float32, [None, 32, 32, 3])
net = slim.conv2d(images, 32, [3, 3], normalizer_fn=slim.batch_norm)
train_op = slim.learning.create_train_op(loss, tf.train.AdamOptimizer())
tf.saved_model.simple_save(sess, "export", {"x": images}, {"y": net})
"""
        ),
        # Unit tests exercise training mode on purpose.
        Valid(
            """
import tensorflow as tf
def test_predict_in_training_mode():
    bn = tf.keras.layers.BatchNormalization()
    assert bn(tf.ones([2, 3]), training=True) is not None
"""
        ),
        # Learning phase reset before predicting.
        Valid(
            """
import tensorflow as tf
tf.keras.backend.set_learning_phase(1)
model.fit(x, y)
tf.keras.backend.set_learning_phase(0)
model.predict(x)
"""
        ),
        # inference() is the model builder the training program calls.
        Valid(
            files={
                "model.py": """
import tensorflow.compat.v1 as tf
def inference(images):
    return tf.layers.dense(tf.contrib.layers.batch_norm(images), 10)
""",
                "train.py": """
import tensorflow.compat.v1 as tf
import model
def train(images, labels):
    loss = tf.losses.sparse_softmax_cross_entropy(labels, model.inference(images))
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        return tf.train.AdamOptimizer().minimize(loss)
""",
            },
        ),
        # A builder whose training default is overridden by the evaluation script that restores it.
        Valid(
            """
import tensorflow.compat.v1 as tf
def inference(images, is_training=True):
    return tf.layers.dense(tf.layers.batch_normalization(images, training=is_training), 10)
images = tf.placeholder(tf.float32, [None, 784])
logits = inference(images, is_training=False)
with tf.Session() as sess:
    tf.train.Saver().restore(sess, "ckpt")
    print(sess.run(logits, {images: x_test}))
"""
        ),
        # Restored to go on training: the default is right there.
        Valid(
            """
import tensorflow.compat.v1 as tf
def inference(images, is_training=True):
    return tf.layers.dense(tf.layers.batch_normalization(images, training=is_training), 10)
images = tf.placeholder(tf.float32, [None, 784])
labels = tf.placeholder(tf.int64, [None])
loss = tf.losses.sparse_softmax_cross_entropy(labels, inference(images))
with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    train_op = tf.train.AdamOptimizer().minimize(loss)
with tf.Session() as sess:
    tf.train.Saver().restore(sess, "ckpt")
    sess.run(train_op, {images: x_train, labels: y_train})
"""
        ),
        # Named for prediction, but only ever run under a training step's tape: part of the loss.
        Valid(
            """
import tensorflow as tf
net = tf.keras.Sequential([tf.keras.layers.Dense(8), tf.keras.layers.BatchNormalization()])
optimizer = tf.keras.optimizers.SGD(0.1)
def predict_next(model, state):
    return model(state, training=True)
def train_step(state, target):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(predict_next(net, state) - target))
    optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables))
"""
        ),
        # The model_fn sets the flag from the mode.
        Valid(
            """
import tensorflow.compat.v1 as tf
def tower(images, is_training):
    return tf.layers.dense(tf.layers.batch_normalization(images, training=is_training), 10)
def model_fn(features, labels, mode):
    logits = tower(features, is_training=mode == tf.estimator.ModeKeys.TRAIN)
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions={"logits": logits})
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=tf.train.AdamOptimizer().minimize(loss))
"""
        ),
        # Training mode only on the path PREDICT and EVAL have left by then.
        Valid(
            """
import tensorflow.compat.v1 as tf
def tower(images, is_training):
    return tf.layers.dense(tf.layers.batch_normalization(images, training=is_training), 10)
def model_fn(features, labels, mode):
    if mode in (tf.estimator.ModeKeys.PREDICT, tf.estimator.ModeKeys.EVAL):
        logits = tower(features, is_training=False)
        return tf.estimator.EstimatorSpec(mode, predictions={"logits": logits})
    logits = tower(features, is_training=True)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=tf.train.AdamOptimizer().minimize(loss))
"""
        ),
        # Training mode only on the branch for TRAIN.
        Valid(
            """
import tensorflow.compat.v1 as tf
def tower(images, is_training):
    return tf.layers.dense(tf.layers.batch_normalization(images, training=is_training), 10)
def model_fn(features, labels, mode):
    if mode == tf.estimator.ModeKeys.TRAIN:
        logits = tower(features, is_training=True)
    else:
        logits = tower(features, is_training=False)
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions={"logits": logits})
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=tf.train.AdamOptimizer().minimize(loss))
"""
        ),
        # A builder whose flag is passed False on the inference path.
        Valid(
            """
import tensorflow.compat.v1 as tf
def net(x, phase_train=True):
    return tf.layers.batch_normalization(x, training=phase_train)
def build_test_graph(images):
    return net(images, phase_train=False)
"""
        ),
        # An unknown callee (it may be a preprocessing function).
        Valid(
            """
import tensorflow as tf
def eval_input_fn(images):
    return preprocess(images, is_training=True)
"""
        ),
    ]
    VALID += [
        # The wrapper forwards its flag.
        Valid(
            """
import tensorflow as tf
def batch_norm(x, train=True):
    return tf.contrib.layers.batch_norm(x, is_training=train, updates_collections=None)
def sampler(h):
    return batch_norm(h, train=False)
"""
        ),
        # The flag is dropped, but every caller wants training mode anyway.
        Valid(
            """
import tensorflow as tf
def batch_norm(x, train=True):
    return tf.contrib.layers.batch_norm(x, updates_collections=None)
def generator(h):
    return batch_norm(h, train=True)
"""
        ),
        # The reused copy is a second tower: the loss the optimizer minimizes depends on it.
        Valid(
            """
import tensorflow.compat.v1 as tf
def net(x, is_training=True, reuse=None):
    with tf.variable_scope("net", reuse=reuse):
        return tf.layers.batch_normalization(tf.layers.dense(x, 8), training=is_training)
def towers(a, b):
    loss = tf.reduce_mean(net(a)) + tf.reduce_mean(net(b, reuse=True))
    return tf.train.AdamOptimizer().minimize(loss)
"""
        ),
    ]
    INVALID = [
        # A copy sharing the trained variables that nothing trains: it is only evaluated.
        Invalid(
            """
import tensorflow.compat.v1 as tf
def net(x, is_training=True, reuse=None):
    with tf.variable_scope("net", reuse=reuse):
        return tf.layers.batch_normalization(tf.layers.dense(x, 8), training=is_training)
def run(a, b):
    train_op = tf.train.AdamOptimizer().minimize(tf.reduce_mean(net(a)))
    score = tf.reduce_mean(net(b, reuse=True))  # error: [BN005]
    return train_op, score
""",
            message="reuses its variables and that no train op trains",
        ),
        Invalid(
            """
import tensorflow as tf
def predict(model, images):
    return model(images, training=True)  # error: [BN005]
""",
            message="inside `predict`",
        ),
        # A wrapper drops its flag: the sampler's `train=False` (through `generator`) never arrives.
        Invalid(
            """
import tensorflow as tf
def batch_norm(x, train=True):
    return tf.contrib.layers.batch_norm(x, decay=0.9, updates_collections=None)  # error: [BN005]
def generator(z, train=True):
    return tf.nn.relu(batch_norm(tf.layers.dense(z, 64), train=train))
def sampler(z):
    return generator(z, train=False)
""",
            message="`batch_norm` takes `train` but never passes it on, though a caller asks for inference mode "
                    "(`False` at line 7)",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
slim = tf.contrib.slim
def serving_input_fn(images):
    net = slim.conv2d(images, 64, [3, 3])
    return slim.batch_norm(net)  # error: [BN005]
""",
            message="defaults to `is_training=True`",
        ),
        Invalid(
            """
import tensorflow as tf
tf.keras.backend.set_learning_phase(1)  # error: [BN005]
model = tf.keras.models.load_model("model.h5")
predictions = model.predict(images)
""",
            message="`model.predict(images)` (line 4)",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
K = tf.keras.backend
def evaluate(sess, model, x_test):
    return sess.run(model.output, feed_dict={model.input: x_test, K.learning_phase(): 1})  # error: [BN005]
""",
        ),
        Invalid(
            files={
                "model.py": """
import tensorflow.compat.v1 as tf
def build(images):
    net = tf.layers.conv2d(images, 32, 3)
    net = tf.layers.batch_normalization(net, training=True)  # error: [BN005]
    return tf.layers.dense(tf.layers.flatten(net), 10)
""",
                "export.py": """
import tensorflow.compat.v1 as tf
from model import build
images = tf.placeholder(tf.float32, [None, 28, 28, 1])
logits = build(images)
with tf.Session() as sess:
    tf.train.Saver().restore(sess, "ckpt")
    tf.saved_model.simple_save(sess, "serving", {"images": images}, {"logits": logits})
""",
            },
            message="exported by `tf.saved_model.simple_save` (export.py:7)",
        ),
        # An evaluation script: restores a checkpoint, builds no train op.
        Invalid(
            files={
                "model.py": """
import tensorflow.compat.v1 as tf
def inference(images, is_training):
    net = tf.layers.conv2d(images, 32, 3)
    net = tf.layers.batch_normalization(net, training=is_training)
    return tf.layers.dense(tf.layers.flatten(net), 10)
""",
                "eval.py": """
import tensorflow.compat.v1 as tf
import model
images = tf.placeholder(tf.float32, [None, 28, 28, 1])
labels = tf.placeholder(tf.int64, [None])
logits = model.inference(images, is_training=True)  # error: [BN005]
accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.float32))
saver = tf.train.Saver()
with tf.Session() as sess:
    saver.restore(sess, tf.train.latest_checkpoint("train_dir"))
    print(sess.run(accuracy, {images: x_test, labels: y_test}))
""",
            },
            message="restored by `saver.restore` (line 9)",
        ),
        # The same script, with the builder's flag left at its default.
        Invalid(
            files={
                "model.py": """
import tensorflow.compat.v1 as tf
def inference(images, is_training=True):
    net = tf.layers.conv2d(images, 32, 3)
    net = tf.layers.batch_normalization(net, training=is_training)
    return tf.layers.dense(tf.layers.flatten(net), 10)
""",
                "eval.py": """
import tensorflow.compat.v1 as tf
import model
images = tf.placeholder(tf.float32, [None, 28, 28, 1])
logits = model.inference(images)  # error: [BN005]
saver = tf.train.Saver()
with tf.Session() as sess:
    saver.restore(sess, tf.train.latest_checkpoint("train_dir"))
    print(sess.run(logits, {images: x_test}))
""",
            },
            message="leaves `is_training` at its default `True`, building its batch norms in training mode",
        ),
        Invalid(
            """
import tensorflow as tf
class Classifier(tf.keras.Model):
    def test_step(self, data):
        x, y = data
        y_pred = self.backbone(x, training=True)  # error: [BN005]
        return self.compute_metrics(x, y, y_pred, None)
    def predict_step(self, data):
        return self(data, training=True)  # error: [BN005]
""",
            message="inside `test_step`",
        ),
        # A builder's flag defaults to True and the inference path leaves it out.
        Invalid(
            """
import tensorflow.compat.v1 as tf
def net(x, phase_train=True):
    return tf.layers.batch_normalization(x, training=phase_train)
def build_test_graph(images):
    return net(images)  # error: [BN005]
""",
            message="leaves `phase_train` at its default `True` inside `build_test_graph`",
        ),
        # A test* function outside test files that does not assert is an evaluation.
        Invalid(
            """
import tensorflow.compat.v1 as tf
def generator(z, is_train):
    return tf.layers.batch_normalization(tf.layers.dense(z, 64), training=is_train)
def testGenerator(checkpoint):
    samples = generator(tf.random_normal([16, 100]), True)  # error: [BN005]
    with tf.Session() as sess:
        tf.train.Saver().restore(sess, checkpoint)
        return sess.run(samples)
""",
            message="passes `is_train=True` inside `testGenerator`",
        ),
        # The Keras model is an ancestor through a project base class in another module.
        Invalid(
            files={
                "detector.py": """
import tensorflow as tf
class Detector(tf.keras.Model):
    def call(self, images, training=None):
        return self.head(self.norm(self.conv(images), training=training))
""",
                "trainer.py": """
import tensorflow as tf
import detector
class DetectorTrainer(detector.Detector):
    def test_step(self, data):
        images, labels = data
        return {"loss": self.compiled_loss(labels, self(images, training=True))}  # error: [BN005]
""",
            },
            message="inside `test_step`",
        ),
        # An Estimator model_fn: PREDICT and EVAL run the network built for training.
        Invalid(
            """
import tensorflow.compat.v1 as tf
def tower(images, is_training):
    return tf.layers.dense(tf.layers.batch_normalization(images, training=is_training), 10)
def model_fn(features, labels, mode):
    logits = tower(features, is_training=True)  # error: [BN005]
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions={"logits": logits})
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    train_op = tf.train.AdamOptimizer().minimize(loss, tf.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
""",
            message="in every mode of `model_fn`, which also evaluates or predicts",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        if is_test_file(file):
            return
        project = ctx.project
        for site in file.calls:
            report = _training_call_at_inference(file, site, project) or _learning_phase_set(file, site, project)
            if report is not None:
                yield report
        yield from _learning_phase_fed(file, project)
        yield from _training_flag_fed_to_evaluation(file, project)
        yield from _flag_fed_but_never_wired(file, project)
        yield from _module_graph_run_at_inference(file, project)
        reported: set[int] = set()
        for where, node, what, graph in project.memo(self.CODE, lambda: _training_graph_findings(project)):
            if where is file:
                reported.add(id(node))
                yield Report(
                    node,
                    f"{what} in a graph {graph.describe(file)} {graph.why_not_training()}",
                    related=((graph.file, graph.site.node),),
                )
        for report in _dropped_inference_requests(project, file):
            if id(report.node) not in reported:
                reported.add(id(report.node))
                yield report
        for report in _model_fn_in_training_mode(file, project):
            if id(report.node) not in reported:
                yield report


def _training_flag_builds_batch_norm(file: FileModel, site: CallSite, project: ProjectIndex, arg: cst.Arg) -> bool:
    """The call's ``training``/``is_training`` keyword is the constant True, and the call builds batch norm."""
    return constant(Value(arg.value, file, site.scope)) is True and (
        classify(file, site, project) is not None or _runs_batch_norm(file, site, project))


def _training_keyword(site: CallSite) -> cst.Arg | None:
    for arg in site.node.args:
        if arg.keyword is not None and arg.keyword.value in registry.TRAINING_KEYWORDS:
            return arg
    return None


def _training_call_at_inference(file: FileModel, site: CallSite, project: ProjectIndex) -> Report | None:
    function = _inference_function(file, site.scope, project)
    data = _evaluation_data(file, site) if function is None else None
    if function is not None:
        where = f"inside `{function.name}`, an inference path"
    elif data is not None:
        where = f"on `{shortened(data)}`, evaluation data"
    elif untrained_reused_copy(file, site, project):
        where = "in a copy of the network that reuses its variables and that no train op trains (it is only evaluated)"
    else:
        return None
    bn = classify(file, site, project)
    if bn is not None:
        values = bn.training_values()
        if not values or not all(value is True for value in values):
            return None
        explicit = bn.training and all(value is not None for value in bn.training)
        how = "runs in training mode" if explicit else \
            f"defaults to `{bn.api.training.param.name}=True`" if bn.api.training else "runs in training mode"
        return Report(site.node, f"`{shortened(file.code(site.node))}` {how} {where}: it normalises with batch "
                                 f"statistics and updates the moving averages")
    arg = _training_keyword(site)
    if arg is not None and constant(Value(arg.value, file, site.scope)) is True \
            and _runs_batch_norm(file, site, project):
        return Report(site.node, f"`{shortened(file.code(site.node))}` runs its batch norms in training mode {where}: "
                                 f"they normalise with batch statistics")
    return _builder_in_training_mode(file, site, project, where)


def _evaluation_data(file: FileModel, site: CallSite) -> str | None:
    """The call's input, when its name says it is test or validation data (``test_input``, ``x_val``).

    Running a model in training mode on such data, wherever the code sits,
    evaluates with batch statistics (and, in Keras, moves the moving
    averages towards the test set). A lone ``val`` or ``test`` says too little.
    """
    arg = call_argument(site.node, "inputs", 0)
    if arg is None:
        return None
    expr = arg.value
    while isinstance(expr, (cst.Subscript, cst.Attribute)):
        expr = expr.value
    if not isinstance(expr, cst.Name):
        return None
    words = name_words(expr.value)
    if len(words) < 2 or not words & registry.EVALUATION_DATA_WORDS:
        return None
    return expr.value


def _inference_function(file: FileModel, scope: Scope, project: ProjectIndex) -> FunctionInfo | None:
    """The function named for inference around ``scope``, unless it is the model builder a training program calls.

    Names are evidence, not proof: a TF1 tutorial's ``inference(images)``
    defines the network, and the training script builds its graph with it.
    """
    function = inference_function_around(file, scope)
    if function is None or not (_shared_model_builder(project, file, function)
                                or _called_only_under_tapes(project, file, function)):
        return function
    return None


def _called_only_under_tapes(project: ProjectIndex, file: FileModel, function: FunctionInfo) -> bool:
    """Every project call of ``function`` is made under a ``tf.GradientTape``: it computes what a step trains on.

    ``predict_future(model, frame)`` called only inside a training step's tape
    is part of the loss, whatever its name says.
    """
    unit = file.function_unit(function)
    answers: dict[str, bool] = project.memo("BN005.called_under_tapes", dict)
    if unit not in answers:
        callers = project.callers(unit)
        answers[unit] = bool(callers) and all(under_gradient_tape(caller.file, caller.site) for caller in callers)
    return answers[unit]


def _shared_model_builder(project: ProjectIndex, file: FileModel, function: FunctionInfo) -> bool:
    """``function`` builds batch norms itself and a caller that is not an inference path builds a train op."""
    unit = file.function_unit(function)
    if unit not in batch_norm_sites_by_unit(project):
        return False
    # Asked for every call inside the function: answer once per function.
    answers: dict[str, bool] = project.memo("BN005.shared_model_builders", dict)
    if unit not in answers:
        trains = project.memo("BN005.train_units",
                              lambda: frozenset(t.file.unit_name(t.site.scope) for t in train_op_sites(project)))
        answers[unit] = any(
            inference_function_around(caller.file, caller.site.scope) is None
            and bool(project.reach(caller.file.unit_name(caller.site.scope)) & trains)
            for caller in project.callers(unit))
    return answers[unit]


def _builder_in_training_mode(file: FileModel, site: CallSite, project: ProjectIndex, where: str) -> Report | None:
    """A model builder called with every flag parameter True, passed or left at its default."""
    how = _builder_flags_true(file, site, project)
    if how is None:
        return None
    return Report(site.node, f"`{shortened(file.code(site.node))}` {how} {where}: its batch norms normalise "
                             f"with batch statistics")


def _builder_flags_true(file: FileModel, site: CallSite, project: ProjectIndex) -> str | None:
    """How a call sets every flag parameter of the model builder it calls to True (``passes `x=True```); else None."""
    for callee in project.callees_of_site(file, site):
        flags = flag_parameters(project, callee)
        if not flags:
            continue
        states = [(flag, *flag_at_call(flag, file, site)) for flag in flags]
        if not all(value is True for _flag, value, _defaulted in states):
            return None
        flag, _value, defaulted = states[0]
        return f"leaves `{flag.name}` at its default `True`" if defaulted else f"passes `{flag.name}=True`"
    return None


def _runs_batch_norm(file: FileModel, site: CallSite, project: ProjectIndex) -> bool:
    """The callee is a whole model, or a linted function that builds a batch norm."""
    func = site.node.func
    names = file.call_names(site)
    text = dotted(func) or ""
    last = text.rsplit(".", 1)[-1]
    if any(last.endswith(suffix) or any(name.rstrip("()").endswith(suffix) for name in names)
           for suffix in registry.NON_BATCH_NORM_TRAINING_LAYERS_SUFFIXES):
        return False
    if batch_norm_held_by(project, file, func, site.scope) is not None:
        return True
    if isinstance(func, cst.Name) and func.value == "self" and _keras_model_class(file, site, project):
        return True  # ``self(x, training=True)`` in a Keras model's ``test_step``/``predict_step``
    for name in names:
        base = name[: -len(INSTANCE)] if name.endswith(INSTANCE) else None
        if base is not None and (base in registry.KERAS_MODEL_FACTORIES
                                 or base.startswith(registry.KERAS_APPLICATIONS_PREFIX)):
            return True
        ref = project.function_for_name(name, near=file)
        if ref is not None:
            units = project.reach(ref.unit)
            return any(bn.unit in units for bn in batch_norm_sites(project))
    if any(is_tensorflow_name(name) for name in names):
        return False  # a TensorFlow API that is neither a model nor a batch norm
    return bool(name_words(last) & _MODEL_WORDS)


def _keras_model_class(file: FileModel, site: CallSite, project: ProjectIndex) -> bool:
    """The enclosing method's class is a Keras model, directly or through project base classes."""
    function = file.enclosing_function(site.scope)
    if function is None or not function.class_qualname:
        return False
    if project.linker is None:
        ancestors = file.base_names(function.class_qualname)
    else:
        ancestors = project.linker.mro(file.full_name(function.class_qualname), near=file)
    return any(name in registry.KERAS_MODEL_FACTORIES for name in ancestors)


def _learning_phase_value(file: FileModel, site: CallSite) -> object:
    arg = call_argument(site.node, "value", 0)
    return constant(Value(arg.value, file, site.scope)) if arg is not None else ...


def _learning_phase_set(file: FileModel, site: CallSite, project: ProjectIndex) -> Report | None:
    if not file.call_names(site) & registry.SET_LEARNING_PHASE_NAMES:
        return None
    if _learning_phase_value(file, site) not in (1, True):
        return None
    function = _inference_function(file, site.scope, project)
    if function is not None:
        return Report(site.node, f"`{file.code(site.node)}` puts every Keras batch norm in training mode inside "
                                 f"`{function.name}`, an inference path")
    enclosing = file.enclosing_function(site.scope)
    siblings = enclosing.calls if enclosing is not None else \
        [c for c in file.calls if file.enclosing_function(c.scope) is None]
    for later in sorted(siblings, key=lambda c: c.order):
        if later.order <= site.order:
            continue
        if file.call_names(later) & registry.SET_LEARNING_PHASE_NAMES:
            return None  # reset (or set again) before any inference
        if is_inference_call(file, later):
            return Report(
                site.node,
                f"`{file.code(site.node)}` keeps Keras batch norms in training mode for "
                f"`{shortened(file.code(later.node))}` (line {file.line(later.node)})",
                related=((file, later.node),),
            )
    return None


def _learning_phase_fed(file: FileModel, project: ProjectIndex) -> Iterator[Report]:
    if not any(file.call_names(site) & registry.LEARNING_PHASE_NAMES for site in file.calls):
        return
    for element in (node for node in walk(file.module) if isinstance(node, cst.DictElement)):
        key = element.key
        if not isinstance(key, cst.Call):
            continue
        site = file.call_by_node.get(id(key))
        if site is None or not file.call_names(site) & registry.LEARNING_PHASE_NAMES:
            continue
        if constant(Value(element.value, file, site.scope)) not in (1, True):
            continue
        function = _inference_function(file, site.scope, project)
        if function is None:
            continue
        yield Report(element, f"`{file.code(key)}` is fed `{file.code(element.value)}` inside `{function.name}`, "
                              f"an inference path: Keras batch norms run in training mode")


def _training_flag_fed_to_evaluation(file: FileModel, project: ProjectIndex) -> Iterator[Report]:
    """``sess.run(loss, {is_training: True})`` in a validation loop: the graph is evaluated in training mode.

    The run evaluates when it fetches no train op and the code around it
    says so (inside a function named for inference, or a loop, fetch or
    result named for test or validation data: ``for val_step in ...``,
    ``val_loss = sess.run(...)``). The fed key must reach a batch norm's
    flag in this file.
    """
    reported: set[int] = set()  # one feed dict may serve several runs
    for run in session_runs(file):
        for entry in run.feeds:
            if id(entry) in reported or constant(Value(entry.value, file, run.site.scope)) is not True:
                continue
            if not reaches_flag(project, file, run.site.scope, entry.key):
                continue
            function = _inference_function(file, run.site.scope, project)
            evidence = evaluation_names(run)
            if function is None and not evidence:
                continue
            if fetches_train_op(project, run):
                continue
            where = f"inside `{function.name}`" if function is not None else \
                f"({', '.join(f'`{name}`' for name in evidence[:3])})"
            reported.add(id(entry))
            yield Report(entry.value, f"`{shortened(file.code(entry.key))}` is fed `True` in an evaluation run "
                                      f"{where}: its batch norms normalise with batch statistics")


def _flag_fed_but_never_wired(file: FileModel, project: ProjectIndex) -> Iterator[Report]:
    """``sess.run(acc, {is_training: False})`` while the batch norms never receive ``is_training``.

    The program means to evaluate in inference mode and defines a flag for
    it, but the batch norms of the file stay at their training default
    (``slim.batch_norm(net)``): feeding False changes nothing for them.
    """
    unwired = [entry for run in session_runs(file) for entry in run.feeds
               if constant(Value(entry.value, file, run.site.scope)) is False
               and _bool_placeholder(file, run.site.scope, entry.key)
               and not reaches_flag(project, file, run.site.scope, entry.key)]
    if not unwired:
        return
    flag = unwired[0]
    for bn in batch_norm_sites_in(project, file):
        if not bn.api.training or bn.api.training.default is not True or any(v is not None for v in bn.training):
            continue  # an explicit flag (or an API without one): judged elsewhere
        if _inference_function(file, bn.site.scope, project) is not None:
            continue  # reported at the call
        yield Report(bn.site.node, f"`{shortened(file.code(bn.site.node))}` stays at "
                                   f"`{bn.api.training.param.name}=True`: the program feeds "
                                   f"`{shortened(file.code(flag.key))}: False` (line {file.line(flag.key)}) but never "
                                   f"passes that flag to its batch norms",
                     related=((file, flag.key),))


def _module_graph_run_at_inference(file: FileModel, project: ProjectIndex) -> Iterator[Report]:
    """``def predict(x): return sess.run(logits, ...)`` where ``logits`` is the module's training-mode graph.

    A script builds one graph at module level with its batch norms in
    training mode (a literal or a ``True`` default) and reuses it from a
    function named for inference: that function evaluates in training mode.
    """
    module_units = f"{file.path}::<module>"
    training = [bn for bn in batch_norm_sites_in(project, file)
                if bn.unit == module_units and bn.training_values() and all(v is True for v in bn.training_values())]
    if not training:
        return
    for run in session_runs(file):
        function = _inference_function(file, run.site.scope, project)
        if function is None or any(constant(Value(entry.value, file, run.site.scope)) is False
                                   for entry in run.feeds):
            continue
        fetched = [fetch for fetch in run.fetches if isinstance(fetch, cst.Name)
                   and file.is_module_global(fetch.value, run.site.scope)]
        if not fetched:
            continue
        first = training[0]
        yield Report(run.site.node,
                     f"`{shortened(file.code(run.site.node))}` inside `{function.name}`, an inference path, runs the "
                     f"module's graph (`{fetched[0].value}`), whose batch norm `{first.display()}` (line "
                     f"{file.line(first.site.node)}) is in training mode: it normalises with batch statistics",
                     related=((file, first.site.node),))


def _bool_placeholder(file: FileModel, scope: Scope, expr: cst.BaseExpression) -> bool:
    """``expr`` names a ``tf.placeholder`` (or ``placeholder_with_default``) of ``tf.bool``."""
    if not isinstance(expr, cst.Name):
        return False
    bindings = file.lookup(expr.value, scope)
    if len(bindings) != 1 or not isinstance(bindings[0].value, cst.Call):
        return False
    call = bindings[0].value
    names = file.resolve(call.func, bindings[0].scope)
    if not names & registry.PLACEHOLDER_NAMES:
        return False
    dtype = call_argument(call, "dtype", 0)
    if dtype is None:
        return False
    return bool(file.resolve(dtype.value, bindings[0].scope) & {"tensorflow.bool"}) \
        or literal(dtype.value) == "bool"


def _training_graph_findings(project: ProjectIndex) -> list[tuple[FileModel, cst.Call, str, InferenceGraph]]:
    """Batch norms (or calls building them) in training mode in a graph that is only evaluated or served."""
    graphs = inference_graphs(project)
    if not graphs:
        return []
    out: list[tuple[FileModel, cst.Call, str, InferenceGraph]] = []
    seen: set[int] = set()
    for graph in graphs:
        # A call in the evaluating unit itself: ``model.inference(images, is_training=True)``.
        for site in graph.file.calls:
            if graph.file.unit_name(site.scope) != graph.unit or id(site.node) in seen \
                    or not graph.on_its_path(site):
                continue
            if _inference_function(graph.file, site.scope, project) is not None:
                continue  # reported at the call
            arg = _training_keyword(site)
            if arg is None:
                # ``pose_net(images)`` where ``def pose_net(images, is_training=True)``: the default trains.
                how = _builder_flags_true(graph.file, site, project)
                if how is None:
                    continue
                what = f"`{shortened(graph.file.code(site.node))}` {how}, building its batch norms in training mode,"
            elif not _training_flag_builds_batch_norm(graph.file, site, project, arg):
                continue
            else:
                what = f"`{shortened(graph.file.code(site.node))}` builds its batch norms in training mode"
            seen.add(id(site.node))
            out.append((graph.file, site.node, what, graph))
    for bn in batch_norm_sites(project):
        if id(bn.site.node) in seen or is_test_file(bn.file) \
                or _inference_function(bn.file, bn.site.scope, project) is not None:
            continue
        values = bn.training_values()
        if not values or not all(value is True for value in values):
            continue
        for graph in graphs:
            if project.run_together(bn.unit, graph.unit):
                seen.add(id(bn.site.node))
                out.append((bn.file, bn.site.node, f"`{bn.display()}` runs in training mode", graph))
                break
    return out


def _model_fn_in_training_mode(file: FileModel, project: ProjectIndex) -> Iterator[Report]:
    """An Estimator ``model_fn`` that builds its network in training mode for every mode, PREDICT and EVAL too.

    The network counts when it is built before the function branches on an
    inference mode (the usual ``logits = net(...)`` then ``if mode == PREDICT:``)
    and outside any ``if`` on the mode: then every mode runs that call.
    """
    if not file.mentions(registry.ESTIMATOR_MODE_KEYS):
        return  # no mode to branch on: spares walking every function of every file
    for function in file.functions.values():
        last_mode = _last_inference_mode(file, function)
        if last_mode is None:
            continue
        mode_ifs = {id(node) for node in walk(function.node.body)
                    if isinstance(node, cst.If) and _mentions_mode(file, function, node.test)}
        for site in function.calls:
            if file.enclosing_function(site.scope) is not function or site.order > last_mode[0] \
                    or not mode_ifs.isdisjoint(site.blocks):
                continue
            how = _in_training_mode_for_every_mode(file, site, project)
            if how is None:
                continue
            yield Report(site.node, f"`{shortened(file.code(site.node))}` {how} in every mode of "
                                    f"`{function.name}`, which also evaluates or predicts "
                                    f"(`{file.code(last_mode[1])}`, {file.place(last_mode[1])}): evaluation and "
                                    f"predictions normalise with batch statistics")


def _last_inference_mode(file: FileModel, function: FunctionInfo) -> tuple[int, cst.CSTNode] | None:
    """The last reference to PREDICT or EVAL mode in the function's body, with the order of the last call before it.

    The body is read in source order, so the calls met before a reference are
    the ones written before it (no positions needed: they cost more than the rest).
    """
    last: tuple[int, cst.CSTNode] | None = None
    latest_call = -1
    stack: list[cst.CSTNode] = [function.node.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.Call):
            site = file.call_by_node.get(id(node))
            if site is not None:
                latest_call = max(latest_call, site.order)
        elif isinstance(node, cst.Attribute) and node.attr.value in ("PREDICT", "EVAL", "INFER") \
                and latest_call >= 0 and file.resolve(node, function.scope) & registry.ESTIMATOR_INFERENCE_MODES:
            last = (latest_call, node)
        stack.extend(reversed(child_nodes(node)))
    return last


def _mentions_mode(file: FileModel, function: FunctionInfo, test: cst.BaseExpression) -> bool:
    for node in walk(test):
        if isinstance(node, cst.Name) and node.value == "mode" and function.param_named("mode") is not None:
            return True
        if isinstance(node, cst.Attribute) and any(registry.ESTIMATOR_MODE_KEYS in name
                                                   for name in file.resolve(node, function.scope)):
            return True
    return False


def _in_training_mode_for_every_mode(file: FileModel, site: CallSite, project: ProjectIndex) -> str | None:
    """How a call builds batch norms in training mode whatever the mode: a literal flag, or a True default."""
    arg = _training_keyword(site)
    if arg is not None:
        return f"passes `{arg.keyword.value}=True`" if _training_flag_builds_batch_norm(file, site, project, arg) \
            else None
    bn = classify(file, site, project)
    if bn is not None:
        values = bn.training_values()
        return "leaves the batch norm at its training default" if values and all(values) else None
    return _builder_flags_true(file, site, project)


def _dropped_inference_requests(project: ProjectIndex, file: FileModel) -> Iterator[Report]:
    """A wrapper drops its flag, its batch norm trains by default, and a caller asks for inference mode."""
    for bn in batch_norm_sites(project):
        if bn.file is not file or bn.api.training is None or bn.api.training.default is not True \
                or bn.frozen_layer():
            continue
        dropped = dropped_flag(bn)
        if dropped is None:
            continue
        asking = callers_asking_for(project, file, dropped, False)
        if not asking:
            continue
        first = asking[0]
        where = first.file.place(first.expr, with_path=first.file is not file)
        yield Report(
            bn.site.node,
            f"`{shortened(file.code(bn.site.node))}` runs in training mode (`{bn.api.training.param.name}` defaults "
            f"to True) whatever its callers ask: {dropped.describe()}, though a caller asks for inference mode "
            f"(`{first.file.code(first.expr)}` at {where})",
            related=((first.file, first.expr),),
        )
