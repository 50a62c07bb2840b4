"""What bnlint knows about TensorFlow's batch-norm APIs, as data.

Rules read these tables; no rule spells an API name itself. Names are
canonical (see ``bnlint.names``). A name ending in ``()`` denotes an
instance of that class, so a Keras layer *call* is the name of its class
followed by ``()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

UpdateMechanism = Literal["collection", "layer_updates", "stateless"]


@dataclass(frozen=True)
class Param:
    """A parameter by name, with its position in the signature (0-based) if it may be positional."""

    name: str
    position: int | None = None


@dataclass(frozen=True)
class TrainingFlag:
    """The parameter that switches an API between training and inference mode.

    ``default`` is what the API does when the flag is not passed: True or
    False, or None when it follows the Keras learning phase.
    """

    param: Param
    default: bool | None


@dataclass(frozen=True)
class BatchNormApi:
    """One batch-norm API: how it is called, trained and how it updates its statistics."""

    key: str
    names: frozenset[str]
    # "function": a call builds the op; "layer": a constructor whose instance is called.
    kind: Literal["function", "layer"]
    training: TrainingFlag | None
    updates: UpdateMechanism
    graph_mode: bool
    updates_collections: Param | None = None
    momentum: Param | None = None
    axis: Param | None = None
    data_format: Param | None = None
    # Keyword arguments of the layer *call* (for kind == "layer") come from ``training``.

    def display(self) -> str:
        return self.key


BATCH_NORM_APIS: tuple[BatchNormApi, ...] = (
    BatchNormApi(
        key="tf.layers.batch_normalization",
        names=frozenset({"tensorflow.layers.batch_normalization"}),
        kind="function",
        training=TrainingFlag(Param("training", 14), default=False),
        updates="collection",
        graph_mode=True,
        momentum=Param("momentum", 2),
        axis=Param("axis", 1),
    ),
    BatchNormApi(
        key="tf.layers.BatchNormalization",
        names=frozenset({"tensorflow.layers.BatchNormalization"}),
        kind="layer",
        training=TrainingFlag(Param("training", 1), default=False),
        updates="collection",
        graph_mode=True,
        momentum=Param("momentum", 1),
        axis=Param("axis", 0),
    ),
    BatchNormApi(
        key="tf.contrib.layers.batch_norm",
        names=frozenset({"tensorflow.contrib.layers.batch_norm"}),
        kind="function",
        training=TrainingFlag(Param("is_training", 9), default=True),
        updates="collection",
        graph_mode=True,
        updates_collections=Param("updates_collections", 8),
        momentum=Param("decay", 1),
        data_format=Param("data_format", 16),
    ),
    BatchNormApi(
        key="tf.keras.layers.BatchNormalization",
        names=frozenset({
            "tensorflow.keras.layers.BatchNormalization",
            "tensorflow.keras.layers.SyncBatchNormalization",
        }),
        kind="layer",
        training=TrainingFlag(Param("training", 1), default=None),
        updates="layer_updates",
        graph_mode=False,
        momentum=Param("momentum", 1),
        axis=Param("axis", 0),
    ),
    BatchNormApi(
        key="tf.nn.batch_normalization",
        names=frozenset({"tensorflow.nn.batch_normalization"}),
        kind="function",
        training=None,
        updates="stateless",
        graph_mode=False,
    ),
    BatchNormApi(
        key="tf.nn.fused_batch_norm",
        names=frozenset({"tensorflow.nn.fused_batch_norm"}),
        kind="function",
        training=TrainingFlag(Param("is_training", 7), default=True),
        updates="stateless",
        graph_mode=False,
        data_format=Param("data_format", 6),
    ),
    BatchNormApi(
        key="tf.nn.batch_norm_with_global_normalization",
        names=frozenset({"tensorflow.nn.batch_norm_with_global_normalization"}),
        kind="function",
        training=None,
        updates="stateless",
        graph_mode=False,
    ),
)

_BY_NAME: dict[str, BatchNormApi] = {name: api for api in BATCH_NORM_APIS for name in api.names}


def batch_norm_api(name: str) -> BatchNormApi | None:
    """The batch-norm API a canonical name denotes, if any."""
    return _BY_NAME.get(name)


# Layers that accept ``normalizer_fn=`` (slim/contrib): passing a batch norm there builds one.
NORMALIZER_FN_PARAM = "normalizer_fn"
NORMALIZER_PARAMS_PARAM = "normalizer_params"

ARG_SCOPE_NAMES = frozenset({"tensorflow.contrib.framework.arg_scope"})

# --- The graph collection and where updates go ------------------------------------------

UPDATE_OPS_NAMES = frozenset({"tensorflow.GraphKeys.UPDATE_OPS"})
UPDATE_OPS_STRING = "update_ops"
GET_COLLECTION_NAMES = frozenset({"tensorflow.get_collection", "tensorflow.get_collection_ref"})
# Methods of a graph object that read a collection: ``tf.get_default_graph().get_collection``.
GET_COLLECTION_METHODS = frozenset({"get_collection", "get_collection_ref"})
# Attribute of a Keras layer or model holding its update ops in graph mode.
LAYER_UPDATES_ATTRIBUTE = "updates"

CONTROL_DEPENDENCIES_NAMES = frozenset({"tensorflow.control_dependencies"})
CONTROL_DEPENDENCIES_METHODS = frozenset({"control_dependencies"})
GROUP_NAMES = frozenset({"tensorflow.group", "tensorflow.tuple"})

# --- Train ops ------------------------------------------------------------------------

TRAIN_OP_METHODS = frozenset({"minimize", "apply_gradients"})
# Module prefixes whose optimizers are TF1 graph-mode optimizers.
GRAPH_OPTIMIZER_PREFIXES = ("tensorflow.train.", "tensorflow.contrib.opt.")

# Helpers that build a train op which already runs the UPDATE_OPS collection
# (their ``update_ops`` parameter defaults to it).
HOOKED_TRAIN_OP_HELPERS = frozenset({
    "tensorflow.contrib.slim.create_train_op",
    "tensorflow.contrib.training.create_train_op",
    "tensorflow.contrib.layers.optimize_loss",
})

# Calls whose presence says a module builds a TF1 graph (not eager TF2).
GRAPH_MODE_MARKERS = frozenset({
    "tensorflow.Session",
    "tensorflow.InteractiveSession",
    "tensorflow.train.MonitoredTrainingSession",
    "tensorflow.train.MonitoredSession",
    "tensorflow.placeholder",
    "tensorflow.placeholder_with_default",
    "tensorflow.disable_eager_execution",
    "tensorflow.disable_v2_behavior",
    "tensorflow.estimator.EstimatorSpec",
    "tensorflow.Graph",
})

# --- Session runs ------------------------------------------------------------------------
SESSION_RUN_METHODS = frozenset({"run"})
# Graph inputs fed at run time (a training flag is one of ``tf.bool``).
PLACEHOLDER_NAMES = frozenset({"tensorflow.placeholder", "tensorflow.placeholder_with_default"})

# --- Control flow ------------------------------------------------------------------------

@dataclass(frozen=True)
class CondApi:
    """A conditional whose branch functions TF runs lazily (only the taken branch)."""

    names: frozenset[str]
    branches: tuple[Param, ...]
    # tf.case takes (pred, fn) pairs and a default.
    pairs: Param | None = None


COND_APIS: tuple[CondApi, ...] = (
    CondApi(frozenset({"tensorflow.cond"}), (Param("true_fn", 1), Param("false_fn", 2), Param("fn1"), Param("fn2"))),
    CondApi(frozenset({"tensorflow.smart_cond"}), (Param("true_fn", 1), Param("false_fn", 2), Param("fn1"), Param("fn2"))),
    CondApi(frozenset({"tensorflow.case"}), (Param("default", 1),), pairs=Param("pred_fn_pairs", 0)),
)
_COND_BY_NAME = {name: api for api in COND_APIS for name in api.names}


def cond_api(name: str) -> CondApi | None:
    """The conditional API a canonical name denotes, if any."""
    return _COND_BY_NAME.get(name)


# --- In-place updates of moving statistics -------------------------------------------------

EMA_CLASS_NAMES = frozenset({"tensorflow.train.ExponentialMovingAverage"})
EMA_APPLY_METHOD = "apply"
ASSIGN_MOVING_AVERAGE_NAMES = frozenset({"tensorflow.train.assign_moving_average"})
ASSIGN_FUNCTION_NAMES = frozenset({"tensorflow.assign", "tensorflow.assign_sub", "tensorflow.assign_add"})
ASSIGN_METHODS = frozenset({"assign", "assign_sub", "assign_add"})
# Variable names that hold moving statistics, lower-cased and with separators removed.
MOVING_STAT_WORDS = ("movingmean", "movingvar", "runningmean", "runningvar", "popmean", "popvar",
                     "populationmean", "populationvar", "emamean", "emavar", "globalmean", "globalvar")

# --- Statistics and shapes -----------------------------------------------------------------

MOMENTS_NAMES = frozenset({
    "tensorflow.nn.moments", "tensorflow.nn.weighted_moments", "tensorflow.nn.sufficient_statistics",
})

# --- Inference paths and the Keras learning phase (BN005, BN012) ---------------------------

# Keyword arguments that put a layer, a model or a model-building function into training mode.
TRAINING_KEYWORDS = ("training", "is_training")
# The Estimator modes a ``model_fn`` evaluates or predicts in (``mode == tf.estimator.ModeKeys.PREDICT``).
ESTIMATOR_INFERENCE_MODES = frozenset({
    "tensorflow.estimator.ModeKeys.PREDICT", "tensorflow.estimator.ModeKeys.EVAL",
    "tensorflow.contrib.learn.ModeKeys.INFER", "tensorflow.contrib.learn.ModeKeys.EVAL",
})
# Any Estimator mode constant, in the test of an ``if`` that branches on the mode.
ESTIMATOR_MODE_KEYS = "ModeKeys."
# Parameter names by which a function receives its callers' training mode (a batch-norm wrapper's flag).
TRAINING_FLAG_PARAMETERS = frozenset({"training", "is_training", "train", "is_train", "phase_train", "train_phase"})
SET_LEARNING_PHASE_NAMES = frozenset({"tensorflow.keras.backend.set_learning_phase"})
LEARNING_PHASE_NAMES = frozenset({"tensorflow.keras.backend.learning_phase"})
# Code that sets, scopes or feeds the Keras learning phase takes charge of it (BN019 then stays silent).
LEARNING_PHASE_CONTROL_NAMES = SET_LEARNING_PHASE_NAMES | LEARNING_PHASE_NAMES | frozenset({
    "tensorflow.keras.backend.learning_phase_scope", "tensorflow.keras.backend.symbolic_learning_phase",
})
# ``keras.Input(...)``: a functional model is being built (its layers run in the mode the model is called in).
KERAS_INPUT_NAMES = frozenset({"tensorflow.keras.Input", "tensorflow.keras.layers.Input"})
# Words of a function name (split at ``_`` and case changes) that mark an inference path.
INFERENCE_FUNCTION_WORDS = frozenset({
    "predict", "prediction", "predictions", "eval", "evaluate", "evaluation", "infer", "inference",
    "serve", "serving", "export", "test", "validate", "validation",
})
# Words of a variable's name that mark test or validation data (``test_input``, ``x_val``, ``valid_batch``).
EVALUATION_DATA_WORDS = frozenset({"test", "val", "valid", "validation", "eval", "evaluation", "holdout"})
# Methods that evaluate or predict with a Keras model.
INFERENCE_METHODS = frozenset({
    "predict", "predict_on_batch", "predict_generator", "evaluate", "evaluate_generator", "test_on_batch",
})
# Calls that save a graph or model for serving.
EXPORT_NAMES = frozenset({
    "tensorflow.saved_model.simple_save", "tensorflow.saved_model.save",
    "tensorflow.saved_model.builder.SavedModelBuilder", "tensorflow.saved_model.Builder",
    "tensorflow.graph_util.convert_variables_to_constants", "tensorflow.train.write_graph",
    "tensorflow.io.write_graph", "tensorflow.keras.models.save_model",
    "tensorflow.train.export_meta_graph", "tensorflow.train.Saver().export_meta_graph",
    "tensorflow.python.tools.freeze_graph.freeze_graph",
})
# A checkpoint restored into a graph that has no train op: the graph is evaluated or served.
SAVER_CLASS_NAMES = frozenset({"tensorflow.train.Saver"})
RESTORE_METHOD = "restore"
# Layers that take ``training=`` but hold no batch statistics (Monte-Carlo dropout is deliberate).
NON_BATCH_NORM_TRAINING_LAYERS_SUFFIXES = ("dropout", "Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout")
# Keras models: a ``name`` in this set, or under a prefix, called returns a model.
KERAS_MODEL_FACTORIES = frozenset({
    "tensorflow.keras.Model", "tensorflow.keras.Sequential", "tensorflow.keras.models.Model",
    "tensorflow.keras.models.Sequential", "tensorflow.keras.models.load_model",
    "tensorflow.keras.models.clone_model", "tensorflow.keras.saving.load_model",
})
KERAS_APPLICATIONS_PREFIX = "tensorflow.keras.applications."
TRAINABLE_ATTRIBUTE = "trainable"

# --- Tensors used as Python booleans (BN008) ------------------------------------------------

# Calls whose result is a boolean tensor, not a Python bool.
TENSOR_BOOL_PRODUCERS = frozenset({
    "tensorflow.placeholder", "tensorflow.placeholder_with_default",
    "tensorflow.equal", "tensorflow.not_equal", "tensorflow.less", "tensorflow.less_equal",
    "tensorflow.greater", "tensorflow.greater_equal", "tensorflow.logical_and", "tensorflow.logical_or",
    "tensorflow.logical_not", "tensorflow.logical_xor", "tensorflow.math.equal", "tensorflow.math.not_equal",
    "tensorflow.math.less", "tensorflow.math.greater", "tensorflow.math.logical_and",
    "tensorflow.math.logical_or", "tensorflow.math.logical_not",
})
# Conditionals that reject a Python bool predicate in TF1 graph mode (``smart_cond`` accepts one).
TENSOR_PREDICATE_CONDS = frozenset({"tensorflow.cond"})
COND_PREDICATE = Param("pred", 0)
# Conditionals that always build their branches in a control-flow context (``smart_cond`` with a
# Python bool just calls one branch).
CONTROL_FLOW_CONDS = frozenset({"tensorflow.cond", "tensorflow.case"})
# Decorators whose functions AutoGraph converts (tensor ``if`` becomes ``tf.cond``; stateful ops run).
AUTOGRAPH_DECORATORS = frozenset({
    "tensorflow.function", "tensorflow.autograph.to_graph",
    "tensorflow.contrib.eager.defun", "tensorflow.contrib.autograph.convert", "tensorflow.autograph.convert",
})
# Import spellings that say a module is TF1 graph code.
TF1_IMPORT_PREFIXES = ("tensorflow.compat.v1", "tensorflow.contrib", "tf_slim")

# --- Exponential moving averages (BN006, BN011) ---------------------------------------------

EMA_AVERAGE_METHODS = frozenset({"average", "average_name"})
EMA_RESTORE_METHODS = frozenset({"variables_to_restore"})

# --- Variable sharing between batch norms (BN007) -------------------------------------------

# The parameter naming a function-style batch norm's variable scope, per API key.
BATCH_NORM_SCOPE_PARAMS = {
    "tf.contrib.layers.batch_norm": Param("scope"),
    "tf.layers.batch_normalization": Param("name"),
}
REUSE_PARAM = "reuse"
VARIABLE_SCOPE_NAMES = frozenset({"tensorflow.variable_scope"})
REUSE_VARIABLES_METHOD = "reuse_variables"

# --- Moving-average momentum (BN009) ---------------------------------------------------------

# ``ExponentialMovingAverage(decay, num_updates=None, ...)``: the EMA's momentum.
EMA_DECAY = Param("decay", 0)
# ``functools.partial(BatchNormalization, momentum=...)`` binds a batch norm's keywords.
PARTIAL_NAMES = frozenset({"functools.partial"})
# Adding an op to a graph collection (a batch-norm subclass putting its updates into UPDATE_OPS).
ADD_TO_COLLECTION_NAMES = frozenset({"tensorflow.add_to_collection", "tensorflow.add_to_collections"})

# --- Stateless batch norms: where the affine parameters go (BN010) ---------------------------


@dataclass(frozen=True)
class AffineSignature:
    """The positional parameters of a stateless batch norm and which of them are offset, scale, epsilon."""

    key: str
    names: frozenset[str]
    # Positional parameter names in order; the keyword spellings valid in TF1 and TF2 alike.
    params: tuple[str, ...]
    offset: str
    scale: str
    epsilon: str

    def position(self, param: str) -> int:
        return self.params.index(param)


AFFINE_SIGNATURES: tuple[AffineSignature, ...] = (
    AffineSignature(
        key="tf.nn.batch_normalization",
        names=frozenset({"tensorflow.nn.batch_normalization"}),
        params=("x", "mean", "variance", "offset", "scale", "variance_epsilon"),
        offset="offset", scale="scale", epsilon="variance_epsilon",
    ),
    AffineSignature(
        key="tf.nn.fused_batch_norm",
        names=frozenset({"tensorflow.nn.fused_batch_norm"}),
        params=("x", "scale", "offset", "mean", "variance", "epsilon", "data_format", "is_training"),
        offset="offset", scale="scale", epsilon="epsilon",
    ),
    AffineSignature(
        key="tf.nn.batch_norm_with_global_normalization",
        names=frozenset({"tensorflow.nn.batch_norm_with_global_normalization"}),
        # TF1 calls the first three ``t, m, v``, TF2 ``input, mean, variance``.
        params=("t", "m", "v", "beta", "gamma", "variance_epsilon", "scale_after_normalization"),
        offset="beta", scale="gamma", epsilon="variance_epsilon",
    ),
    AffineSignature(
        key="tf.keras.backend.batch_normalization",
        names=frozenset({"tensorflow.keras.backend.batch_normalization"}),
        params=("x", "mean", "var", "beta", "gamma", "axis", "epsilon"),
        offset="beta", scale="gamma", epsilon="epsilon",
    ),
    AffineSignature(
        key="keras.ops.batch_normalization",
        names=frozenset({"tensorflow.keras.ops.batch_normalization", "tensorflow.keras.ops.nn.batch_normalization"}),
        params=("x", "mean", "variance", "axis", "offset", "scale", "epsilon"),
        offset="offset", scale="scale", epsilon="epsilon",
    ),
)
_AFFINE_BY_NAME = {name: sig for sig in AFFINE_SIGNATURES for name in sig.names}


def affine_signature(name: str) -> AffineSignature | None:
    """The stateless batch norm a canonical name denotes, with its affine parameters, if any."""
    return _AFFINE_BY_NAME.get(name)


# Words (of a name split at ``_``, digits and case changes) that say what a value is.
SCALE_WORDS = frozenset({"gamma", "scale"})
OFFSET_WORDS = frozenset({"beta", "offset", "shift", "bias"})
EPSILON_WORDS = frozenset({"eps", "epsilon"})
# Calls that make a tensor or an initializer of ones (a scale) or zeros (an offset).
ONES_NAMES = frozenset({
    "tensorflow.ones", "tensorflow.ones_like", "tensorflow.ones_initializer",
    "tensorflow.keras.initializers.Ones", "tensorflow.keras.initializers.ones",
})
ZEROS_NAMES = frozenset({
    "tensorflow.zeros", "tensorflow.zeros_like", "tensorflow.zeros_initializer",
    "tensorflow.keras.initializers.Zeros", "tensorflow.keras.initializers.zeros",
})
# Calls that wrap an initial value or initializer into a variable: ``tf.Variable(tf.ones([n]))``.
VARIABLE_NAMES = frozenset({"tensorflow.Variable", "tensorflow.get_variable"})
CONSTANT_NAMES = frozenset({"tensorflow.constant", "tensorflow.constant_initializer"})

# --- Batch norms under a distribution strategy (BN901) ---------------------------------------

# Strategies that run one model replica per device, each normalising its own slice of the batch.
REPLICATING_STRATEGIES = frozenset({
    "tensorflow.distribute.MirroredStrategy",
    "tensorflow.distribute.MultiWorkerMirroredStrategy",
    "tensorflow.distribute.experimental.MultiWorkerMirroredStrategy",
    "tensorflow.distribute.TPUStrategy",
    "tensorflow.distribute.experimental.TPUStrategy",
    "tensorflow.contrib.distribute.MirroredStrategy",
    "tensorflow.contrib.distribute.TPUStrategy",
})
STRATEGY_SCOPE_METHOD = "scope"
# Keras batch norms that average statistics across replicas.
SYNC_BATCH_NORM_NAMES = frozenset({"tensorflow.keras.layers.SyncBatchNormalization"})
SYNCHRONIZED_PARAM = "synchronized"

# --- Layers with a bias (BN902) --------------------------------------------------------------


@dataclass(frozen=True)
class BiasedLayerApi:
    """A conv or dense layer that adds a per-channel bias unless told not to.

    ``max_positional`` is how many leading positional arguments are known not to
    be ``activation``/``use_bias``/``data_format``; with more, the rule cannot tell.
    """

    names: frozenset[str]
    kind: Literal["function", "layer"]
    max_positional: int
    use_bias: str = "use_bias"
    activation: str = "activation"
    data_format: str | None = "data_format"


_KERAS_CONVS = ("Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D",
                "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Convolution2DTranspose",
                "Convolution3DTranspose", "SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D",
                "SeparableConvolution2D", "DepthwiseConv1D", "DepthwiseConv2D")
_TF_LAYERS_CONVS = ("conv1d", "conv2d", "conv3d", "conv2d_transpose", "conv3d_transpose",
                    "separable_conv1d", "separable_conv2d")

BIASED_LAYER_APIS: tuple[BiasedLayerApi, ...] = (
    BiasedLayerApi(frozenset(f"tensorflow.keras.layers.{name}" for name in _KERAS_CONVS), "layer", 4),
    BiasedLayerApi(frozenset({"tensorflow.keras.layers.Dense"}), "layer", 1, data_format=None),
    BiasedLayerApi(frozenset(f"tensorflow.layers.{name}" for name in _TF_LAYERS_CONVS), "function", 5),
    BiasedLayerApi(frozenset({"tensorflow.layers.dense"}), "function", 2, data_format=None),
)
_BIASED_BY_NAME = {name: api for api in BIASED_LAYER_APIS for name in api.names}


def biased_layer_api(name: str) -> BiasedLayerApi | None:
    """The conv/dense layer API a canonical name denotes, if any."""
    return _BIASED_BY_NAME.get(name)


# Keras containers whose layers run in list order, and the method that appends one.
SEQUENTIAL_NAMES = frozenset({"tensorflow.keras.Sequential", "tensorflow.keras.models.Sequential"})
SEQUENTIAL_ADD_METHOD = "add"

# --- Deprecated batch-norm APIs (BN015) -----------------------------------------------------


@dataclass(frozen=True)
class DeprecatedBatchNorm:
    """A batch-norm API that TF2 code should not use, and what to use instead.

    ``tf2_only``: flagged only in TF2-targeted code (the API works in TF1);
    otherwise it is deprecated in every TensorFlow version.
    """

    key: str
    names: frozenset[str]
    instead: str
    tf2_only: bool


DEPRECATED_BATCH_NORMS: tuple[DeprecatedBatchNorm, ...] = (
    DeprecatedBatchNorm("tf.nn.batch_norm_with_global_normalization",
                        frozenset({"tensorflow.nn.batch_norm_with_global_normalization"}),
                        "tf.nn.batch_normalization", tf2_only=False),
    DeprecatedBatchNorm("tf.contrib.layers.batch_norm", frozenset({"tensorflow.contrib.layers.batch_norm"}),
                        "tf.keras.layers.BatchNormalization", tf2_only=True),
    DeprecatedBatchNorm("tf.layers.batch_normalization", frozenset({"tensorflow.layers.batch_normalization"}),
                        "tf.keras.layers.BatchNormalization", tf2_only=True),
    DeprecatedBatchNorm("tf.layers.BatchNormalization", frozenset({"tensorflow.layers.BatchNormalization"}),
                        "tf.keras.layers.BatchNormalization", tf2_only=True),
)
_DEPRECATED_BY_NAME = {name: api for api in DEPRECATED_BATCH_NORMS for name in api.names}


def deprecated_batch_norm(name: str) -> DeprecatedBatchNorm | None:
    """The deprecated batch-norm API a canonical name denotes, if any."""
    return _DEPRECATED_BY_NAME.get(name)


# ``batch_norm_with_global_normalization`` -> ``batch_normalization``: keyword renames
# (TF1 and TF2 spellings); positions 0-5 and ``name`` keep their places once
# ``scale_after_normalization`` (position 6) is gone.
GLOBAL_NORMALIZATION_KEYWORDS = {
    "t": "x", "input": "x", "m": "mean", "mean": "mean", "v": "variance", "variance": "variance",
    "beta": "offset", "gamma": "scale", "variance_epsilon": "variance_epsilon", "name": "name",
}
GLOBAL_NORMALIZATION_SCALE = Param("scale_after_normalization", 6)
GLOBAL_NORMALIZATION_GAMMA = Param("gamma", 4)
BATCH_NORMALIZATION_ATTRIBUTE = "batch_normalization"

# Calls (or decorators) that only TF2-style code makes: eager training loops, tf.function.
TF2_MARKERS = frozenset({
    "tensorflow.function", "tensorflow.GradientTape", "tensorflow.random.set_seed",
    "tensorflow.summary.create_file_writer", "tensorflow.config.list_physical_devices",
    "tensorflow.config.experimental.set_memory_growth", "tensorflow.distribute.MirroredStrategy",
})
# Calls that make code deliberately TF1 (graph mode) even under TF2.
TF1_MARKERS = frozenset({"tensorflow.disable_v2_behavior", "tensorflow.disable_eager_execution"})
# Module spellings that opt into one API version explicitly.
COMPAT_V1_MODULE = "tensorflow.compat.v1"
COMPAT_V2_MODULE = "tensorflow.compat.v2"
# Maintained TF2 homes of TF1 APIs: using them is deliberate, not deprecated.
TF2_COMPATIBLE_PACKAGES = ("tf_slim",)

# Keras batch-norm constructor arguments of older Keras versions.
# ``mode`` (Keras 1): Keras 2 and 3 reject it; ``mode=0`` is what they always do.
KERAS1_BATCH_NORM_MODE = "mode"
# Keras 2 (tf.keras, tf_keras) only: Keras 3 rejects them. ``fused`` only picks the kernel.
KERAS2_ONLY_BATCH_NORM_ARGS = ("fused", "virtual_batch_size", "adjustment")
KERAS_IMPLEMENTATION_ONLY_ARGS = frozenset({"fused"})
# Modules only Keras 3 has: a file importing standalone ``keras`` and using one targets Keras 3.
KERAS3_MODULES = ("keras.ops", "keras.config", "keras.random", "keras.src", "keras_core")

# --- Custom training steps and Keras models holding batch norm (BN013, BN018) ----------------

GRADIENT_TAPE_NAMES = frozenset({"tensorflow.GradientTape"})
# Keras ``Model`` methods that run one training step (``fit`` calls them).
TRAIN_STEP_METHODS = frozenset({"train_step"})
# The method Keras runs when a layer or model is called, and the flag it forwards.
LAYER_CALL_METHOD = "call"
TRAINING_PARAM = Param("training", 1)
# Gradients of a loss with respect to the variables a step trains: ``tape.gradient(loss, sources)``.
GRADIENT_METHOD = "gradient"
GRADIENT_SOURCES = Param("sources", 1)
MINIMIZE_METHOD = "minimize"
MINIMIZE_VAR_LIST = Param("var_list", 1)
# Attributes holding a Keras layer's or model's trainable variables.
TRAINABLE_VARIABLES_ATTRIBUTES = frozenset({"trainable_variables", "trainable_weights"})
# Base classes of Keras layers and models (a linted class deriving from one is a Keras layer).
KERAS_LAYER_BASE_PREFIXES = ("tensorflow.keras.",)
# ``weights="imagenet"`` (the default) loads pretrained weights; ``weights=None`` trains from scratch.
KERAS_APPLICATIONS_WEIGHTS = Param("weights", 1)
# ``tf.keras.applications`` networks built with batch normalization (VGG and ConvNeXt are not).
KERAS_APPLICATIONS_WITH_BATCH_NORM = frozenset({
    "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2",
    "ResNetRS50", "ResNetRS101", "ResNetRS152", "ResNetRS200", "ResNetRS270", "ResNetRS350", "ResNetRS420",
    "InceptionV3", "InceptionResNetV2", "Xception", "MobileNet", "MobileNetV2",
    "MobileNetV3Small", "MobileNetV3Large", "DenseNet121", "DenseNet169", "DenseNet201",
    "NASNetMobile", "NASNetLarge",
    "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
    "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
    "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
    "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L",
    "RegNetX002", "RegNetX004", "RegNetX006", "RegNetX008", "RegNetX016", "RegNetX032", "RegNetX040",
    "RegNetX064", "RegNetX080", "RegNetX120", "RegNetX160", "RegNetX320",
    "RegNetY002", "RegNetY004", "RegNetY006", "RegNetY008", "RegNetY016", "RegNetY032", "RegNetY040",
    "RegNetY064", "RegNetY080", "RegNetY120", "RegNetY160", "RegNetY320",
})
# Keras model constructors taking the layers as a list (``Sequential([...])``) or a functional graph.
KERAS_SEQUENTIAL_NAMES = frozenset({"tensorflow.keras.Sequential", "tensorflow.keras.models.Sequential"})
# ``model.add(layer)`` appends a layer to a ``Sequential``.
SEQUENTIAL_ADD_METHOD = "add"
KERAS_FUNCTIONAL_MODEL_NAMES = frozenset({"tensorflow.keras.Model", "tensorflow.keras.models.Model"})

# --- Weight variables reused without batch norm (BN014) ---------------------------------------

VARIABLE_FACTORY_NAMES = frozenset({"tensorflow.Variable", "tensorflow.get_variable"})
# Ops that apply a weight variable to an activation (the layer a batch norm follows).
WEIGHT_OP_NAMES = frozenset({
    "tensorflow.matmul", "tensorflow.linalg.matmul", "tensorflow.nn.xw_plus_b", "tensorflow.nn.conv1d",
    "tensorflow.nn.conv2d", "tensorflow.nn.conv3d", "tensorflow.nn.convolution", "tensorflow.nn.depthwise_conv2d",
    "tensorflow.nn.separable_conv2d", "tensorflow.nn.atrous_conv2d", "tensorflow.nn.conv2d_transpose",
})

# --- Savers and the variables they cover (BN017) ----------------------------------------------

SAVER_VAR_LIST = Param("var_list", 0)
CHECKPOINT_CLASS_NAMES = frozenset({"tensorflow.train.Checkpoint"})
TRAINABLE_VARIABLES_NAMES = frozenset({"tensorflow.trainable_variables"})
TRAINABLE_VARIABLES_COLLECTION = frozenset({"tensorflow.GraphKeys.TRAINABLE_VARIABLES"})
TRAINABLE_VARIABLES_STRING = "trainable_variables"
# The replacement that covers the moving statistics: same module, this function.
GLOBAL_VARIABLES_FUNCTION = "global_variables"
# ``@tf.function``: inside, automatic control dependencies run every stateful op (batch-norm updates too).
TF_FUNCTION_NAMES = frozenset({"tensorflow.function"})
