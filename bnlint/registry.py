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
