"""BN901 (opt-in): a Keras batch norm built under a replicating distribution strategy without syncing."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.project import ProjectIndex
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import INSTANCE, CallSite, FileModel, WithFrame, call_argument, has_star_args

# How many calls up from the batch norm the strategy scope is looked for.
_MAX_CALL_DEPTH = 6
_KERAS_BATCH_NORM = "tf.keras.layers.BatchNormalization"


class UnsyncedBatchnormUnderDistribution(Rule):
    """Keras batch norm under a multi-replica strategy normalises each replica alone.

    ## What it does
    Flags a ``tf.keras.layers.BatchNormalization`` built inside
    ``with strategy.scope():`` of a ``MirroredStrategy``,
    ``MultiWorkerMirroredStrategy`` or ``TPUStrategy`` (directly, or in a
    function or class the block calls, across files) without
    ``synchronized=True`` and not as ``SyncBatchNormalization``. A layer whose
    class or ``synchronized`` argument is not a constant is left alone, and so
    is ``synchronized=False`` written out.

    This rule is opt-in (``--select BN901``): per-replica statistics are a
    legitimate choice when each replica's batch is large.

    ## Why is this bad?
    Under these strategies each replica computes batch statistics over its own
    share of the global batch. With 8 replicas and a global batch of 64, every
    batch norm sees 8 examples: the statistics are noisy, training is worse than
    on one device with the same global batch, and the moving averages differ
    from replica to replica until they are averaged.

    ## Example
    ```python
    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        model = tf.keras.Sequential([
            tf.keras.layers.Conv2D(64, 3, use_bias=False),
            tf.keras.layers.BatchNormalization(),
        ])
    ```

    ## Use instead
    ```python
    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        model = tf.keras.Sequential([
            tf.keras.layers.Conv2D(64, 3, use_bias=False),
            tf.keras.layers.BatchNormalization(synchronized=True),
        ])
    ```
    Before TensorFlow 2.12 use ``tf.keras.layers.experimental.SyncBatchNormalization``.

    ## Fix safety
    No automatic fix: ``synchronized=True`` needs Keras 2.12 or later, and the
    synchronised statistics change what the model learns.

    ## References
    - [tf.keras.layers.BatchNormalization](https://www.tensorflow.org/api_docs/python/tf/keras/layers/BatchNormalization) (``synchronized``)
    - [Distributed training with TensorFlow](https://www.tensorflow.org/guide/distributed_training)
    """

    CODE = "BN901"
    NAME = "unsynced-batchnorm-under-distribution"
    FIX_TITLE = "Pass `synchronized=True` (or use `SyncBatchNormalization`)"
    SEVERITY = "warning"
    OPT_IN = True
    PROJECT_WIDE = True
    # The layer, or the strategy's scope (a file that only relays calls between them is not read).
    TOKENS = ("BatchNormalization", "Strategy", ".scope(")

    VALID = [
        Valid(
            """
import tensorflow as tf
strategy = tf.distribute.MirroredStrategy()
with strategy.scope():
    bn = tf.keras.layers.BatchNormalization(synchronized=True)
    sync = tf.keras.layers.experimental.SyncBatchNormalization()
"""
        ),
        # One device: nothing to synchronise.
        Valid(
            """
import tensorflow as tf
strategy = tf.distribute.OneDeviceStrategy("/gpu:0")
with strategy.scope():
    bn = tf.keras.layers.BatchNormalization()
"""
        ),
        # Not under the scope.
        Valid(
            """
import tensorflow as tf
strategy = tf.distribute.MirroredStrategy()
bn = tf.keras.layers.BatchNormalization()
"""
        ),
        # The layer class is chosen at run time.
        Valid(
            """
import tensorflow as tf
def build(use_sync_bn):
    norm = (tf.keras.layers.experimental.SyncBatchNormalization if use_sync_bn
            else tf.keras.layers.BatchNormalization)
    return norm(momentum=0.99)
strategy = tf.distribute.MirroredStrategy()
with strategy.scope():
    layer = build(True)
"""
        ),
        # An explicit choice.
        Valid(
            """
import tensorflow as tf
with tf.distribute.MirroredStrategy().scope():
    bn = tf.keras.layers.BatchNormalization(synchronized=False)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow as tf
strategy = tf.distribute.MirroredStrategy()
with strategy.scope():
    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(64, 3, use_bias=False),
        tf.keras.layers.BatchNormalization(),  # error: [BN901]
    ])
""",
            message="built under `MirroredStrategy` (`strategy.scope()` on line 3)",
        ),
        # The model is built by a function in another file.
        Invalid(
            files={
                "model.py": """
from tensorflow.keras import layers
def conv_bn(x, filters):
    x = layers.Conv2D(filters, 3, use_bias=False)(x)
    return layers.BatchNormalization()(x)  # error: [BN901]
""",
                "train.py": """
import tensorflow as tf
from model import conv_bn
resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
strategy = tf.distribute.TPUStrategy(resolver)
def build():
    inputs = tf.keras.Input((32, 32, 3))
    return tf.keras.Model(inputs, conv_bn(inputs, 64))
with strategy.scope():
    model = build()
""",
            },
            message="`TPUStrategy` (`strategy.scope()` on train.py:8)",
        ),
        # A subclassed model whose constructor builds the layer; either strategy replicates.
        Invalid(
            """
import tensorflow as tf
class Net(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.bn = tf.keras.layers.BatchNormalization(momentum=0.9)  # error: [BN901]
    def call(self, x, training=None):
        return self.bn(x, training=training)
if use_tpu:
    strategy = tf.distribute.TPUStrategy(resolver)
else:
    strategy = tf.distribute.MirroredStrategy()
with strategy.scope():
    model = Net()
""",
            message="built under `MirroredStrategy or TPUStrategy`",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        for site in file.calls:
            if not _unsynced_constructor(file, site):
                continue
            found = _strategy_scope(file, site, ctx.project)
            if found is None:
                continue
            scope_file, frame, strategy = found
            where = scope_file.place(frame.call, with_path=scope_file is not file) if frame.call else ""
            yield Report(
                site.node,
                f"`{file.code(site.node.func)}` is built under `{strategy}` (`{scope_file.code(frame.call)}` on "
                f"{where}) without `synchronized=True`: each replica normalises its own share of the batch",
                related=((scope_file, frame.call),),
            )


def _unsynced_constructor(file: FileModel, site: CallSite) -> bool:
    """The call constructs a Keras batch norm that certainly does not synchronise its statistics."""
    names = file.call_names(site)
    if not names or has_star_args(site.node):
        return False
    for name in names:
        api = registry.batch_norm_api(name)
        if api is None or api.key != _KERAS_BATCH_NORM or name in registry.SYNC_BATCH_NORM_NAMES:
            return False
    return call_argument(site.node, registry.SYNCHRONIZED_PARAM, None) is None


def _strategy_scope(file: FileModel, site: CallSite,
                    project: ProjectIndex) -> tuple[FileModel, WithFrame, str] | None:
    """The innermost replicating strategy's ``scope()`` block around the call, here or up the call graph.

    Returns the file and frame of the block and the strategy's class name (``A or B`` when either may be).
    """
    stack: list[tuple[FileModel, CallSite, int]] = [(file, site, 0)]
    seen: set[int] = set()
    while stack:
        current_file, current, depth = stack.pop()
        for frame in reversed(current.withs):
            strategy = _strategy_of(current_file, frame)
            if strategy is not None:
                return current_file, frame, strategy
        function = current_file.enclosing_function(current.scope)
        if function is None or depth >= _MAX_CALL_DEPTH:
            continue
        for ref in project.callers(current_file.function_unit(function)):
            if id(ref.site.node) not in seen:
                seen.add(id(ref.site.node))
                stack.append((ref.file, ref.site, depth + 1))
    return None


def _strategy_of(file: FileModel, frame: WithFrame) -> str | None:
    call = frame.call
    if call is None or not isinstance(call.func, cst.Attribute) or call.func.attr.value != registry.STRATEGY_SCOPE_METHOD:
        return None
    names = file.resolve(call.func.value, frame.scope)
    if not names:
        return None
    strategies = set()
    for name in names:
        if not name.endswith(INSTANCE) or name[: -len(INSTANCE)] not in registry.REPLICATING_STRATEGIES:
            return None
        strategies.add(name[: -len(INSTANCE)].rsplit(".", 1)[-1])
    return " or ".join(sorted(strategies))
