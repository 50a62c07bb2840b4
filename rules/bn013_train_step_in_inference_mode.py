"""BN013: a custom training step runs a batch-norm model or layer without ``training=True``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.call_chains import MAX_CALL_SITES, CallLink, calls_of, may_be_named_by_callers, name_at_call
from bnlint.facts.inference import is_test_file
from bnlint.facts.keras_models import batch_norm_held_by, frozen_names, is_keras_class
from bnlint.facts.tf1 import is_gradient_tape
from bnlint.facts.values import single_assignment
from bnlint.messages import shortened
from bnlint.project import ProjectIndex
from bnlint.rule import FixSpec, Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, FunctionInfo, Scope, call_argument, child_nodes, dotted, has_star_args


class TrainStepInInferenceMode(Rule):
    """Custom training step calls a batch-norm model without `training=True`.

    ## What it does
    Flags a call of a Keras model or layer that holds batch normalization,
    made without a ``training`` argument inside a custom training step:

    - inside a ``with tf.GradientTape() as tape:`` block whose gradients
      (``tape.gradient(loss, X.trainable_variables)``) train that model, in a
      function that applies gradients (``optimizer.apply_gradients`` or
      ``minimize``);
    - inside an overridden ``Model.train_step``, ``self(x)`` (and sublayers
      whose variables the step differentiates);
    - inside a loss function given to ``minimize``
      (``optimizer.minimize(loss_fn, var_list=model.trainable_variables)``),
      which the optimizer runs under a tape of its own, for the models
      ``var_list`` trains;
    - inside a project function or method that such a step calls, up to three
      calls deep and across files: ``loss = critic_loss(critic, real, fake)``
      under the tape runs the ``critic(x)`` calls in ``critic_loss`` and in the
      helpers it calls. A helper's parameter stands for what the call passes
      (the critic the step trains), ``self`` for the receiver, a global or
      closure variable for itself. A helper's own tape over its inputs (the
      gradient penalty of a WGAN-GP) trains nothing by itself, but the step
      around the helper trains the critic through it. The finding is at the
      call in the helper (where ``training=True`` goes); its message names
      the step and the calls that lead there.

    A model counts as holding batch norm only when the linted code shows it:
    a ``BatchNormalization`` layer, a ``Sequential`` or functional ``Model``
    built with one, a Keras ``Layer``/``Model`` subclass with one, or a
    ``tf.keras.applications`` network listed in bnlint's registry as built
    with batch norm (ResNet, MobileNet, EfficientNet, ...) and trained from
    scratch (``weights=None``). Pretrained networks are left alone: the Keras
    fine-tuning guide keeps their batch norms in inference mode. A parameter
    holds what the project's callers pass for it (``Trainer(make_backbone())``
    for ``__init__(self, backbone)``). Also left alone: objects of unknown
    type (a parameter no linted caller passes a model to, loaded models),
    calls passing ``training``
    (any value: the author decided; a helper forwarding its own ``training``
    parameter included) or a second positional argument, frozen
    models (``model.trainable = False``), models the step does not train (a
    distillation teacher, also when a helper calls it), helpers called
    outside the tape (metrics after ``apply_gradients``), tapes that only
    differentiate with respect to inputs (saliency maps, adversarial
    examples) and the helpers they call, unless a training step's tape runs
    them, and unit-test modules (``*_test.py``, ``test_*.py``), which check
    gradients in either mode, as callers too.

    ## Why is this bad?
    Keras decides a layer's mode from its ``training`` argument; ``fit`` passes
    ``training=True``, but a custom loop or ``train_step`` must pass it itself.
    Without it, ``model(x)`` runs in inference mode: every batch norm
    normalises with its moving mean and variance (initially 0 and 1) and never
    updates them, dropout is off, and the model trains against statistics that
    do not describe its activations. Training converges worse and evaluation
    uses statistics that were never learned.

    ## Example
    ```python
    with tf.GradientTape() as tape:
        logits = model(images)
        loss = loss_fn(labels, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    ```

    A helper the step calls under its tape runs in the step too:
    ```python
    def gradient_penalty(critic, mixed):
        with tf.GradientTape() as inner:
            inner.watch(mixed)
            scores = critic(mixed)
        return tf.reduce_mean((tf.norm(inner.gradient(scores, mixed), axis=-1) - 1.0) ** 2)

    with tf.GradientTape() as tape:
        loss = wasserstein(critic, real, fake) + 10.0 * gradient_penalty(critic, mixed)
    critic_opt.apply_gradients(zip(tape.gradient(loss, critic.trainable_variables), critic.trainable_variables))
    ```

    ## Use instead
    ```python
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = loss_fn(labels, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    ```

    and ``scores = critic(mixed, training=True)`` in ``gradient_penalty``.

    ## Fix safety
    The fix adds ``training=True`` to the call. It is **unsafe**: it changes
    what the step computes (batch statistics instead of moving ones, moving
    averages updated, dropout on), which is the intent of a training step but
    changes the numbers the model trains on. No fix is offered in a helper
    that also runs outside training steps (a loss that ``test_step`` or an
    evaluation loop computes too): ``training=True`` would be wrong there;
    give the helper a ``training`` parameter and pass it on instead.

    ## References
    - [Customizing what happens in `fit()`](https://keras.io/guides/custom_train_step_in_tensorflow/)
    - [Writing a training loop from scratch](https://keras.io/guides/writing_a_custom_training_loop_in_tensorflow/)
    - [tf.keras.layers.BatchNormalization](https://www.tensorflow.org/api_docs/python/tf/keras/layers/BatchNormalization)
    """

    CODE = "BN013"
    NAME = "train-step-in-inference-mode"
    FIX_TITLE = "Pass `training=True` in the training step"
    FIX_APPLICABILITY = "unsafe"
    # The step itself, and every file that may build the model it calls.
    TOKENS = ("GradientTape", "train_step", "keras", "applications") + tokens.BATCH_NORM
    # A loss helper the step calls may mention only ``tensorflow``: checked when its imports link it.
    CHECK_TOKENS = ("tensorflow",)
    PROJECT_WIDE = True

    VALID = [
        # The loss function passes training=True; a model outside var_list is only read.
        Valid(
            """
import tensorflow as tf
encoder = tf.keras.Sequential([tf.keras.layers.Dense(16), tf.keras.layers.BatchNormalization()])
critic = tf.keras.Sequential([tf.keras.layers.Dense(16), tf.keras.layers.BatchNormalization()])
optimizer = tf.keras.optimizers.Adam()
def fit(batch):
    def adversarial_loss():
        return -tf.reduce_mean(critic(encoder(batch, training=True)))
    optimizer.minimize(adversarial_loss, var_list=encoder.trainable_variables)
"""
        ),
        # A saliency map: the helper runs under a tape over the inputs that no training step runs.
        Valid(
            """
import tensorflow as tf
net = tf.keras.Sequential([tf.keras.layers.Conv2D(8, 3), tf.keras.layers.BatchNormalization(),
                           tf.keras.layers.GlobalAveragePooling2D()])
def top_score(model, images):
    return tf.reduce_max(model(images), axis=-1)
def saliency(images):
    with tf.GradientTape() as tape:
        tape.watch(images)
        score = top_score(net, images)
    return tape.gradient(score, images)
"""
        ),
        # The helpers forward the step's ``training``; the metric helper runs after the tape.
        Valid(
            """
import tensorflow as tf
critic = tf.keras.Sequential([tf.keras.layers.Conv2D(8, 3), tf.keras.layers.BatchNormalization(),
                              tf.keras.layers.Flatten(), tf.keras.layers.Dense(1)])
opt = tf.keras.optimizers.Adam(1e-4)
def penalty(model, mixed, training):
    with tf.GradientTape() as inner:
        inner.watch(mixed)
        scores = model(mixed, training=training)
    return tf.reduce_mean((tf.norm(inner.gradient(scores, mixed), axis=-1) - 1.0) ** 2)
def mean_score(model, images):
    return tf.reduce_mean(model(images))
def critic_step(real, fake, mixed):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(critic(fake, training=True)) - tf.reduce_mean(critic(real, training=True))
        loss += 10.0 * penalty(critic, mixed, True)
    opt.apply_gradients(zip(tape.gradient(loss, critic.trainable_variables), critic.trainable_variables))
    return mean_score(critic, real)
"""
        ),
        # The helper runs the distillation teacher, which the student's step does not train.
        Valid(
            """
import tensorflow as tf
def make_net():
    return tf.keras.Sequential([tf.keras.layers.Dense(16), tf.keras.layers.BatchNormalization(),
                                tf.keras.layers.Dense(10)])
teacher = make_net()
student = make_net()
opt = tf.keras.optimizers.Adam()
def soft_labels(model, x):
    return tf.nn.softmax(model(x) / 3.0)
def distill_step(x):
    with tf.GradientTape() as tape:
        loss = tf.keras.losses.kl_divergence(soft_labels(teacher, x), tf.nn.softmax(student(x, training=True) / 3.0))
    opt.apply_gradients(zip(tape.gradient(loss, student.trainable_variables), student.trainable_variables))
"""
        ),
        # ``train_step`` calls the metrics helper after the update, outside the tape.
        Valid(
            """
import tensorflow as tf
class Trainer(tf.keras.Model):
    def __init__(self, network):
        super().__init__()
        self.network = network
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self.network(x, training=True))
        grads = tape.gradient(loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.network.trainable_weights))
        return self._report(x, y)
    def _report(self, x, y):
        return self.compute_metrics(x, y, self.network(x))
net = tf.keras.Sequential([tf.keras.layers.Dense(8), tf.keras.layers.BatchNormalization()])
trainer = Trainer(net)
"""
        ),
        # The step trains its own ``model``, not the helper module's global of that name.
        Valid(
            files={
                "nets.py": """
import tensorflow as tf
model = tf.keras.Sequential([tf.keras.layers.Dense(4), tf.keras.layers.BatchNormalization()])
def forward_loss(x):
    return tf.reduce_mean(model(x))
""",
                "train.py": """
import tensorflow as tf
from nets import forward_loss
model = tf.keras.Sequential([tf.keras.layers.Dense(4), tf.keras.layers.BatchNormalization()])
opt = tf.keras.optimizers.Adam()
def step(x):
    with tf.GradientTape() as tape:
        loss = forward_loss(x) + tf.reduce_mean(model(x, training=True))
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
""",
            }
        ),
        # A unit test drives the helper in a step of its own.
        Valid(
            files={
                "losses.py": """
import tensorflow as tf
net = tf.keras.Sequential([tf.keras.layers.Dense(4), tf.keras.layers.BatchNormalization()])
def squared_output(model, x):
    return tf.reduce_sum(model(x) ** 2)
""",
                "test_losses.py": """
import tensorflow as tf
from losses import net, squared_output
def test_gradients_flow():
    opt = tf.keras.optimizers.SGD(0.1)
    with tf.GradientTape() as tape:
        loss = squared_output(net, tf.ones([2, 3]))
    opt.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables))
""",
            }
        ),
        # The helper method the training step calls passes the flag on.
        Valid(
            """
import tensorflow as tf
class Trainer(tf.keras.Model):
    def __init__(self, network):
        super().__init__()
        self.network = network
    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss = self._loss(data, training=True)
        grads = tape.gradient(loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.network.trainable_weights))
        return {"loss": loss}
    def _loss(self, data, training):
        return tf.reduce_mean(self.network(data, training=training))
net = tf.keras.Sequential([tf.keras.layers.Dense(8), tf.keras.layers.BatchNormalization()])
trainer = Trainer(net)
"""
        ),
        Valid(
            """
import tensorflow as tf
model = tf.keras.applications.ResNet50(weights=None, classes=10)
optimizer = tf.keras.optimizers.Adam()
def train_step(images, labels):
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(images, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
"""
        ),
        # No batch norm in the model (VGG16 has none).
        Valid(
            """
import tensorflow as tf
model = tf.keras.applications.VGG16(weights=None, classes=10)
optimizer = tf.keras.optimizers.SGD()
def train_step(images, labels):
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(images))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
"""
        ),
        # Gradients with respect to the input (a saliency map), no optimizer: inference on purpose.
        Valid(
            """
import tensorflow as tf
model = tf.keras.applications.MobileNetV2()
def saliency(image):
    with tf.GradientTape() as tape:
        tape.watch(image)
        score = tf.reduce_max(model(image))
    return tape.gradient(score, image)
"""
        ),
        # Knowledge distillation: the teacher is not trained by the step.
        Valid(
            """
import tensorflow as tf
from tensorflow import keras
class Distiller(keras.Model):
    def __init__(self, student, teacher):
        super().__init__()
        self.teacher = keras.applications.ResNet50(weights="imagenet")
        self.student = student
    def train_step(self, data):
        x, y = data
        teacher_predictions = self.teacher(x)
        with tf.GradientTape() as tape:
            student_predictions = self.student(x, training=True)
            loss = self.compiled_loss(y, student_predictions)
        grads = tape.gradient(loss, self.student.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.student.trainable_variables))
        return {}
"""
        ),
        # Fine-tuning a pretrained network: its batch norms stay in inference mode, as Keras recommends.
        Valid(
            """
import tensorflow as tf
model = tf.keras.applications.EfficientNetB0(weights="imagenet", classes=1000)
optimizer = tf.keras.optimizers.Adam(1e-5)
def fine_tune_step(images, labels):
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(images))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
"""
        ),
        # Unknown model type: a parameter no linted code passes a model to.
        Valid(
            """
import tensorflow as tf
def train_step(model, optimizer, images, labels):
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(images))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
"""
        ),
        # A frozen backbone, called in inference mode on purpose.
        Valid(
            """
import tensorflow as tf
backbone = tf.keras.applications.EfficientNetB0(include_top=False)
backbone.trainable = False
head = tf.keras.Sequential([tf.keras.layers.Dense(10)])
optimizer = tf.keras.optimizers.Adam()
def train_step(images, labels):
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, head(backbone(images)))
    grads = tape.gradient(loss, backbone.trainable_variables + head.trainable_variables)
    optimizer.apply_gradients(zip(grads, head.trainable_variables))
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow as tf
encoder = tf.keras.Sequential([tf.keras.layers.Dense(16), tf.keras.layers.BatchNormalization()])
optimizer = tf.keras.optimizers.Adam()
def fit(batch, targets):
    def reconstruction_loss():
        return tf.reduce_mean(tf.square(encoder(batch) - targets))  # error: [BN013]
    optimizer.minimize(reconstruction_loss, var_list=encoder.trainable_variables)
""",
            message="in the loss function of `optimizer.minimize(...)` (line 7), a training step",
            expected_replacement="""
import tensorflow as tf
encoder = tf.keras.Sequential([tf.keras.layers.Dense(16), tf.keras.layers.BatchNormalization()])
optimizer = tf.keras.optimizers.Adam()
def fit(batch, targets):
    def reconstruction_loss():
        return tf.reduce_mean(tf.square(encoder(batch, training=True) - targets))  # error: [BN013]
    optimizer.minimize(reconstruction_loss, var_list=encoder.trainable_variables)
""",
        ),
        # A WGAN-GP critic step: the penalty helper, two calls down, runs the critic in inference mode.
        Invalid(
            """
import tensorflow as tf
critic = tf.keras.Sequential([tf.keras.layers.Conv2D(8, 3), tf.keras.layers.BatchNormalization(),
                              tf.keras.layers.Flatten(), tf.keras.layers.Dense(1)])
opt = tf.keras.optimizers.Adam(1e-4)
def penalty(model, mixed):
    with tf.GradientTape() as inner:
        inner.watch(mixed)
        scores = model(mixed)  # error: [BN013]
    return tf.reduce_mean((tf.norm(inner.gradient(scores, mixed), axis=-1) - 1.0) ** 2)
def critic_loss(model, real, fake, mixed):
    distance = tf.reduce_mean(model(fake, training=True)) - tf.reduce_mean(model(real, training=True))
    return distance + 10.0 * penalty(model, mixed)
def critic_step(real, fake, mixed):
    with tf.GradientTape() as tape:
        loss = critic_loss(critic, real, fake, mixed)
    opt.apply_gradients(zip(tape.gradient(loss, critic.trainable_variables), critic.trainable_variables))
""",
            message="`model(mixed)` runs `model` in inference mode in the `tf.GradientTape` training step (line 14), "
                    "which runs it through `critic_loss(...)` (line 15) and `penalty(...)` (line 12): its batch norm "
                    "`tf.keras.layers.BatchNormalization()` (line 2)",
            expected_replacement="""
import tensorflow as tf
critic = tf.keras.Sequential([tf.keras.layers.Conv2D(8, 3), tf.keras.layers.BatchNormalization(),
                              tf.keras.layers.Flatten(), tf.keras.layers.Dense(1)])
opt = tf.keras.optimizers.Adam(1e-4)
def penalty(model, mixed):
    with tf.GradientTape() as inner:
        inner.watch(mixed)
        scores = model(mixed, training=True)  # error: [BN013]
    return tf.reduce_mean((tf.norm(inner.gradient(scores, mixed), axis=-1) - 1.0) ** 2)
def critic_loss(model, real, fake, mixed):
    distance = tf.reduce_mean(model(fake, training=True)) - tf.reduce_mean(model(real, training=True))
    return distance + 10.0 * penalty(model, mixed)
def critic_step(real, fake, mixed):
    with tf.GradientTape() as tape:
        loss = critic_loss(critic, real, fake, mixed)
    opt.apply_gradients(zip(tape.gradient(loss, critic.trainable_variables), critic.trainable_variables))
""",
        ),
        # The helper's global is the model the step imports and trains.
        Invalid(
            files={
                "nets.py": """
import tensorflow as tf
model = tf.keras.Sequential([tf.keras.layers.Dense(4), tf.keras.layers.BatchNormalization()])
def forward_loss(x):
    return tf.reduce_mean(model(x))  # error: [BN013]
""",
                "train.py": """
import tensorflow as tf
from nets import model, forward_loss
opt = tf.keras.optimizers.Adam()
def step(x):
    with tf.GradientTape() as tape:
        loss = forward_loss(x)
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
""",
            },
            expected_replacement={
                "nets.py": """
import tensorflow as tf
model = tf.keras.Sequential([tf.keras.layers.Dense(4), tf.keras.layers.BatchNormalization()])
def forward_loss(x):
    return tf.reduce_mean(model(x, training=True))  # error: [BN013]
""",
            },
        ),
        # The loss helper in another file (one that never names Keras) also serves evaluation:
        # flagged, but ``training=True`` is no fix there.
        Invalid(
            files={
                "losses.py": """
import tensorflow as tf
def classification_loss(model, images, labels):
    logits = model(images)  # error: [BN013]
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
""",
                "train.py": """
import tensorflow as tf
from losses import classification_loss
net = tf.keras.applications.MobileNetV2(weights=None, classes=10)
opt = tf.keras.optimizers.SGD(0.1)
def train_step(images, labels):
    with tf.GradientTape() as tape:
        loss = classification_loss(net, images, labels)
    opt.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables))
def evaluate(images, labels):
    return classification_loss(net, images, labels)
""",
            },
            message="in the `tf.GradientTape` training step (train.py:6), which runs it through "
                    "`classification_loss(...)` (train.py:7): its batch norm `tf.keras.applications.MobileNetV2` "
                    "(train.py:3)",
        ),
        # The model call sits in a helper method the training step calls on ``self``.
        Invalid(
            """
import tensorflow as tf
class Trainer(tf.keras.Model):
    def __init__(self, network):
        super().__init__()
        self.network = network
    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss = self._loss(data)
        grads = tape.gradient(loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.network.trainable_weights))
        return {"loss": loss}
    def _loss(self, data):
        return tf.reduce_mean(self.network(data))  # error: [BN013]
net = tf.keras.Sequential([tf.keras.layers.Dense(8), tf.keras.layers.BatchNormalization()])
trainer = Trainer(net)
""",
            expected_replacement="""
import tensorflow as tf
class Trainer(tf.keras.Model):
    def __init__(self, network):
        super().__init__()
        self.network = network
    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss = self._loss(data)
        grads = tape.gradient(loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.network.trainable_weights))
        return {"loss": loss}
    def _loss(self, data):
        return tf.reduce_mean(self.network(data, training=True))  # error: [BN013]
net = tf.keras.Sequential([tf.keras.layers.Dense(8), tf.keras.layers.BatchNormalization()])
trainer = Trainer(net)
""",
        ),
        Invalid(
            """
import tensorflow as tf
from tensorflow import keras
model = keras.Sequential([
    keras.layers.Conv2D(32, 3),
    keras.layers.BatchNormalization(),
    keras.layers.GlobalAveragePooling2D(),
    keras.layers.Dense(10),
])
optimizer = keras.optimizers.Adam()
@tf.function
def train_step(images, labels):
    with tf.GradientTape() as tape:
        logits = model(images)  # error: [BN013]
        loss = loss_fn(labels, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
""",
            message="`model(images)` runs `model` in inference mode in the `tf.GradientTape` training step "
                    "(line 12): its batch norm `keras.layers.BatchNormalization()` (line 5)",
            expected_replacement="""
import tensorflow as tf
from tensorflow import keras
model = keras.Sequential([
    keras.layers.Conv2D(32, 3),
    keras.layers.BatchNormalization(),
    keras.layers.GlobalAveragePooling2D(),
    keras.layers.Dense(10),
])
optimizer = keras.optimizers.Adam()
@tf.function
def train_step(images, labels):
    with tf.GradientTape() as tape:
        logits = model(images, training=True)  # error: [BN013]
        loss = loss_fn(labels, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
""",
        ),
        # A GAN: the discriminator is built with ``Sequential.add``.
        Invalid(
            """
import tensorflow as tf
from tensorflow.keras import layers
def make_discriminator():
    model = tf.keras.Sequential()
    model.add(layers.Conv2D(64, 5, strides=2, padding="same"))
    model.add(layers.BatchNormalization())
    model.add(layers.Flatten())
    model.add(layers.Dense(1))
    return model
discriminator = make_discriminator()
d_opt = tf.keras.optimizers.Adam(1e-4)
def discriminator_step(images, generated):
    with tf.GradientTape() as tape:
        real_output = discriminator(images)  # error: [BN013]
        fake_output = discriminator(generated, training=True)
        loss = tf.reduce_mean(fake_output) - tf.reduce_mean(real_output)
    grads = tape.gradient(loss, discriminator.trainable_variables)
    d_opt.apply_gradients(zip(grads, discriminator.trainable_variables))
""",
            message="`layers.BatchNormalization()` (line 6)",
            expected_replacement="""
import tensorflow as tf
from tensorflow.keras import layers
def make_discriminator():
    model = tf.keras.Sequential()
    model.add(layers.Conv2D(64, 5, strides=2, padding="same"))
    model.add(layers.BatchNormalization())
    model.add(layers.Flatten())
    model.add(layers.Dense(1))
    return model
discriminator = make_discriminator()
d_opt = tf.keras.optimizers.Adam(1e-4)
def discriminator_step(images, generated):
    with tf.GradientTape() as tape:
        real_output = discriminator(images, training=True)  # error: [BN013]
        fake_output = discriminator(generated, training=True)
        loss = tf.reduce_mean(fake_output) - tf.reduce_mean(real_output)
    grads = tape.gradient(loss, discriminator.trainable_variables)
    d_opt.apply_gradients(zip(grads, discriminator.trainable_variables))
""",
        ),
        # An overridden ``train_step`` calling ``self`` without ``training=True``.
        Invalid(
            """
import tensorflow as tf
from tensorflow import keras
class Classifier(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(16, 3)
        self.bn = keras.layers.BatchNormalization()
        self.head = keras.layers.Dense(10)
    def call(self, x, training=None):
        return self.head(self.bn(self.conv(x), training=training))
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x)  # error: [BN013]
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self.compute_metrics(x, y, y_pred)
""",
            message="in `Classifier.train_step`",
            expected_replacement="""
import tensorflow as tf
from tensorflow import keras
class Classifier(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(16, 3)
        self.bn = keras.layers.BatchNormalization()
        self.head = keras.layers.Dense(10)
    def call(self, x, training=None):
        return self.head(self.bn(self.conv(x), training=training))
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)  # error: [BN013]
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self.compute_metrics(x, y, y_pred)
""",
        ),
        # A keras.applications network built by a factory in another file.
        Invalid(
            files={
                "model.py": """
import tensorflow as tf
def make_backbone(num_classes):
    return tf.keras.applications.ResNet50V2(weights=None, classes=num_classes)
""",
                "train.py": """
import tensorflow as tf
from model import make_backbone
net = make_backbone(100)
opt = tf.keras.optimizers.SGD(0.1, momentum=0.9)
variables = net.trainable_variables
def step(x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(
            tf.keras.losses.sparse_categorical_crossentropy(y, net(x), from_logits=True))  # error: [BN013]
    opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
""",
            },
            message="`tf.keras.applications.ResNet50V2` (model.py:3)",
            expected_replacement={
                "train.py": """
import tensorflow as tf
from model import make_backbone
net = make_backbone(100)
opt = tf.keras.optimizers.SGD(0.1, momentum=0.9)
variables = net.trainable_variables
def step(x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(
            tf.keras.losses.sparse_categorical_crossentropy(y, net(x, training=True), from_logits=True))  # error: [BN013]
    opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
""",
            },
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file, project = ctx.file, ctx.project
        if is_test_file(file):
            return  # unit tests differentiate layers in whatever mode they test
        for site in file.calls:
            func = site.node.func
            if not isinstance(func, (cst.Name, cst.Attribute)) or has_star_args(site.node):
                continue
            if call_argument(site.node, registry.TRAINING_PARAM.name, registry.TRAINING_PARAM.position) is not None:
                continue
            if not site.node.args:
                continue
            called = dotted(func)
            if called is None or called in frozen_names(file):
                continue
            found = _step_training(project, file, site, called)
            if found is None:
                continue
            step, chain, only_in_steps = found
            evidence = batch_norm_held_by(project, file, func, site.scope)
            if evidence is None or evidence.pretrained:
                continue  # pretrained networks are fine-tuned with batch norm in inference mode on purpose
            related = [(evidence.file, evidence.node)]
            if chain:
                # Where the helper's call runs in training: the step, and each call leading to it.
                related += [(step.file, step.anchor), *((link.file, link.site.node) for link in reversed(chain))]
            yield Report(
                site.node,
                f"`{shortened(file.code(site.node))}` runs `{called}` in inference mode in {step.describe(file)}"
                f"{_describe_chain(chain, file)}: its batch norm "
                f"{evidence.describe(file)} normalises with moving statistics and never updates them",
                # In a helper that also runs outside training steps, ``training=True`` would be wrong there.
                fix=_fix(site.node) if only_in_steps else None,
                related=tuple(related),
            )


# Marks that ``train_step`` trains ``self`` itself (not each of its sublayers).
_SELF_ONLY = "<self>"
# How many helper calls deep a model call is followed up to the training step (step -> loss -> penalty).
_MAX_HELPER_DEPTH = 3
# Call paths followed up from one function: beyond that it is a utility called from everywhere.
_MAX_PATHS = 64


def _same_object(called: str, root: str) -> bool:
    """``called`` is, contains or belongs to the object whose variables the step trains."""
    if root == _SELF_ONLY:
        return called == "self"
    return called == root or called.startswith(root + ".") or root.startswith(called + ".")


def _fix(call: cst.Call) -> FixSpec | None:
    last = call.args[-1]
    if not isinstance(last.comma, cst.MaybeSentinel):
        return None  # a trailing comma: leave the layout to the author
    fixed = call.with_changes(args=[
        *call.args[:-1],
        last.with_changes(comma=cst.MaybeSentinel.DEFAULT),
        cst.Arg(keyword=cst.Name("training"), value=cst.Name("True"),
                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))),
    ])
    return FixSpec(node=call, replacement=fixed, message="Pass `training=True`", applicability="unsafe")


@dataclass(frozen=True)
class _Step:
    """A training step: where it is, and the objects whose variables it trains (dotted names in its scope)."""

    file: FileModel
    anchor: cst.CSTNode  # the tape's ``with`` item, the ``train_step`` method, or the ``minimize`` call
    roots: frozenset[str]
    keras_method: str | None = None  # ``Trainer.train_step`` for a Keras ``train_step`` override
    minimized: bool = False  # the step is a loss function ``optimizer.minimize`` runs

    def describe(self, here: FileModel) -> str:
        """Named only for a finding: positions cost more than the rest of the rule on the wheel corpus."""
        if self.keras_method is not None:
            where = f" ({self.file.place(self.anchor, with_path=True)})" if self.file is not here else ""
            return f"`{self.keras_method}`{where}"
        if self.minimized:
            assert isinstance(self.anchor, cst.Call)
            return f"the loss function of `{shortened(self.file.code(self.anchor.func))}(...)` " \
                   f"({self.file.place(self.anchor, with_path=self.file is not here)}), a training step"
        return f"the `tf.GradientTape` training step ({self.file.place(self.anchor, with_path=self.file is not here)})"

    def trains(self, called: str) -> bool:
        return any(_same_object(called, root) for root in self.roots)


def _describe_chain(chain: tuple[CallLink, ...], here: FileModel) -> str:
    """`` through `d_loss(...)` (line 40) and `penalty(...)` (line 22)``, outermost call first."""
    if not chain:
        return ""
    calls = [f"`{shortened(link.file.code(link.site.node.func))}(...)` "
             f"({link.file.place(link.site.node, with_path=link.file is not here)})" for link in reversed(chain)]
    joined = calls[0] if len(calls) == 1 else ", ".join(calls[:-1]) + " and " + calls[-1]
    return f", which runs it through {joined}"


def _step_training(project: ProjectIndex, file: FileModel, site: CallSite,
                   called: str) -> tuple[_Step, tuple[CallLink, ...], bool] | None:
    """The training step that runs ``called`` at ``site`` and trains it, the helper calls between them,
    and whether the call runs only in such steps (so that ``training=True`` is right wherever it runs).

    A call in a helper (``gradient_penalty(critic, real, fake)``, ``self._compute_loss(data)``)
    that a training step calls under its tape runs in that step: the walk follows the
    helper's project callers up to ``_MAX_HELPER_DEPTH`` levels, renaming the called
    object at each call (a parameter becomes what the caller passes for it). A tape
    that only differentiates with respect to inputs (a saliency map, the input
    gradient of a gradient penalty) is no training step of its own, so the walk
    goes on above it: a penalty term computed under the critic's tape trains the critic.
    """
    step = _direct_step(project, file, site)
    if step is not None:
        return (step, (), True) if step.trains(called) else None
    function = file.enclosing_function(site.scope)
    if function is None or not may_be_named_by_callers(file, site.scope, called, function):
        return None
    first: tuple[_Step, tuple[CallLink, ...]] | None = None
    every = True
    for chain, outer in _paths_to_steps(project, file, function):
        name: str | None = called
        where, scope, callee = file, site.scope, function
        for link in chain:
            name = name_at_call(where, scope, name, callee, link)
            if name is None:
                break
            where, scope = link.file, link.site.scope
            callee = link.caller()  # type: ignore[assignment]
        if name is not None and outer is not None and outer.trains(name):
            if first is None:
                first = (outer, chain)
        else:
            every = False
    if first is None:
        return None
    return first[0], first[1], every


def _paths_to_steps(project: ProjectIndex, file: FileModel,
                    function: FunctionInfo) -> list[tuple[tuple[CallLink, ...], _Step | None]]:
    """Every call path up from ``function`` (innermost call first), with the training step it ends in, or None.

    Memoised per function: every call in a helper asks.
    """
    memo: dict[int, tuple[FunctionInfo, list]] = project.memo("BN013.paths_to_steps", dict)
    cached = memo.get(id(function))
    if cached is None:
        cached = memo[id(function)] = (function, _walk_up(project, file, function, 1))
    return cached[1]


def _walk_up(project: ProjectIndex, file: FileModel, function: FunctionInfo,
             depth: int) -> list[tuple[tuple[CallLink, ...], _Step | None]]:
    paths: list[tuple[tuple[CallLink, ...], _Step | None]] = []
    links = calls_of(project, file, function)
    for link in links:
        if is_test_file(link.file):
            paths.append(((link,), None))  # a unit test calls it in whatever mode it tests
            continue
        step = _direct_step(project, link.file, link.site, helper_call=True)
        caller = link.caller()
        if step is not None or caller is None or depth >= _MAX_HELPER_DEPTH:
            paths.append(((link,), step))
        else:
            above = _walk_up(project, link.file, caller, depth + 1)
            paths.extend(((link, *chain), outer) for chain, outer in above)
            if not above:
                paths.append(((link,), None))
        if len(paths) >= _MAX_PATHS:
            break
    if len(paths) >= _MAX_PATHS or len(links) >= MAX_CALL_SITES:
        paths.append(((), None))  # callers left unread: whether it runs only in training steps is unknown
    return paths


def _direct_step(project: ProjectIndex, file: FileModel, site: CallSite, helper_call: bool = False) -> _Step | None:
    """The training step a call sits in without a helper call between: a Keras ``train_step``
    override, or a ``tf.GradientTape`` block in a function that applies gradients.

    A helper runs in the step only when called under the tape: one that ``train_step``
    calls after ``apply_gradients`` (metrics, logging) computes nothing the step trains on.
    """
    if helper_call and not _tape_names(file, site):
        return None
    function = file.enclosing_function(site.scope)
    siblings = function.calls if function is not None else \
        [c for c in file.calls if file.enclosing_function(c.scope) is None]
    if function is not None and isinstance(function.node, cst.FunctionDef) \
            and function.name in registry.TRAIN_STEP_METHODS and function.class_qualname \
            and is_keras_class(project, file, function.class_qualname):
        # ``train_step`` trains ``self`` by definition; ``self.teacher`` only if differentiated.
        roots = {root for root in _trained_roots(file, siblings, None) if root != "self"}
        return _Step(file, function.node.name, frozenset(roots | {_SELF_ONLY}),
                     keras_method=f"{function.class_qualname}.{function.name}")
    tapes = _tape_names(file, site)
    if not tapes or not any(_applies_gradients(other) for other in siblings):
        return _minimized_step(project, file, function)
    tape_frame = next(frame for frame in site.withs if is_gradient_tape(file, frame.call, frame.scope))
    return _Step(file, tape_frame.item, frozenset(_trained_roots(file, siblings, tapes)))


def _minimized_step(project: ProjectIndex, file: FileModel, function: FunctionInfo | None) -> _Step | None:
    """``opt.minimize(loss_fn, var_list=model.trainable_variables)``: ``loss_fn`` is a training step.

    Given a function instead of a loss tensor, ``minimize`` (TF2, or eager TF1)
    calls it under a tape of its own and applies the gradients: the calls in it
    train what ``var_list`` names.
    """
    if function is None or not isinstance(function.node, cst.FunctionDef):
        return None
    by_function: dict[int, CallSite] = project.memo(f"BN013.minimized:{file.path}", lambda: _minimized_functions(file))
    minimize = by_function.get(id(function.node))
    if minimize is None:
        return None
    roots = _trained_roots(file, [minimize], None)
    return _Step(file, minimize.node, frozenset(roots), minimized=True) if roots else None


def _minimized_functions(file: FileModel) -> dict[int, CallSite]:
    """The file's ``minimize`` calls by the ``def`` node of the loss function each is given."""
    out: dict[int, CallSite] = {}
    for site in file.calls:
        func = site.node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != registry.MINIMIZE_METHOD:
            continue
        loss = call_argument(site.node, "loss", 0)
        if loss is None or not isinstance(loss.value, cst.Name):
            continue
        for binding in file.lookup(loss.value.value, site.scope):
            if binding.kind == "def":
                out.setdefault(id(binding.node), site)
    return out


def _tape_names(file: FileModel, site: CallSite) -> set[str]:
    names: set[str] = set()
    for frame in site.withs:
        if is_gradient_tape(file, frame.call, frame.scope) and frame.item.asname is not None \
                and isinstance(frame.item.asname.name, cst.Name):
            names.add(frame.item.asname.name.value)
    return names


def _applies_gradients(site: CallSite) -> bool:
    func = site.node.func
    return isinstance(func, cst.Attribute) and func.attr.value in registry.TRAIN_OP_METHODS


def _trained_roots(file: FileModel, siblings: list[CallSite], tapes: set[str] | None) -> set[str]:
    """Dotted names of objects whose ``trainable_variables`` are differentiated or minimised in the step."""
    roots: set[str] = set()
    for other in siblings:
        func = other.node.func
        if not isinstance(func, cst.Attribute):
            continue
        if func.attr.value == registry.GRADIENT_METHOD:
            if tapes is not None and not (isinstance(func.value, cst.Name) and func.value.value in tapes):
                continue
            param = registry.GRADIENT_SOURCES
        elif func.attr.value == registry.MINIMIZE_METHOD:
            param = registry.MINIMIZE_VAR_LIST
        else:
            continue
        arg = call_argument(other.node, param.name, param.position)
        if arg is not None:
            roots |= _variable_owners(file, arg.value, other.scope, 0)
    return roots


def _variable_owners(file: FileModel, expr: cst.CSTNode, scope: Scope, depth: int) -> set[str]:
    owners: set[str] = set()
    if depth > 4:
        return owners
    stack: list[cst.CSTNode] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Attribute) and node.attr.value in registry.TRAINABLE_VARIABLES_ATTRIBUTES:
            owner = dotted(node.value)
            if owner:
                owners.add(owner)
            continue
        if isinstance(node, cst.Name):
            value = single_assignment(file, node, scope)
            if value is not None:
                owners |= _variable_owners(file, value, scope, depth + 1)
            continue
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        stack.extend(child_nodes(node))
    return owners
