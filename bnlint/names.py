"""bnlint's own alias table: many spellings of one TensorFlow API, one canonical name.

Import resolution (``bnlint.semantic``) turns ``tf.compat.v1.layers.batch_normalization``
or ``from keras import layers as L; L.BatchNormalization`` into a dotted name;
:func:`canonical` then folds the spellings TensorFlow itself treats as the same
API onto one name, so the registry and the rules list each API once.
"""

from __future__ import annotations

from functools import lru_cache

# Prefix rewrites, applied repeatedly until none matches; longest prefix first.
# Each maps a module path onto the one bnlint uses for that API.
_PREFIX_ALIASES: tuple[tuple[str, str], ...] = (
    ("tensorflow.compat.v1.compat.v2", "tensorflow"),
    ("tensorflow.compat.v2.compat.v1", "tensorflow"),
    ("tensorflow.compat.v1", "tensorflow"),
    ("tensorflow.compat.v2", "tensorflow"),
    ("tensorflow._api.v2.compat.v1", "tensorflow"),
    ("tensorflow._api.v2.compat.v2", "tensorflow"),
    ("tensorflow.python.keras", "tensorflow.keras"),
    ("tensorflow.keras.src", "tensorflow.keras"),
    ("tf_keras.src", "tensorflow.keras"),
    ("tf_keras", "tensorflow.keras"),
    ("keras.src", "tensorflow.keras"),
    ("keras", "tensorflow.keras"),
    ("tensorflow.keras.layers.normalization.batch_normalization", "tensorflow.keras.layers"),
    ("tensorflow.keras.layers.normalization", "tensorflow.keras.layers"),
    ("tensorflow.keras.layers.experimental", "tensorflow.keras.layers"),
    ("tensorflow.keras.layers.core", "tensorflow.keras.layers"),
    ("tensorflow.keras.layers.convolutional", "tensorflow.keras.layers"),
    ("tensorflow.keras.optimizers.legacy", "tensorflow.keras.optimizers"),
    ("tensorflow.keras.optimizers.optimizer_v2", "tensorflow.keras.optimizers"),
    ("tf_slim", "tensorflow.contrib.slim"),
    ("tensorflow.contrib.slim.python.slim", "tensorflow.contrib.slim"),
    ("tensorflow.contrib.layers.python.layers.layers", "tensorflow.contrib.layers"),
    ("tensorflow.contrib.layers.python.layers.optimizers", "tensorflow.contrib.layers"),
    ("tensorflow.contrib.layers.python.layers", "tensorflow.contrib.layers"),
    ("tensorflow.contrib.framework.python.ops.arg_scope", "tensorflow.contrib.framework"),
    ("tensorflow.contrib.framework.python.ops", "tensorflow.contrib.framework"),
    ("tensorflow.contrib.training.python.training.training", "tensorflow.contrib.training"),
    ("tensorflow.contrib.training.python.training", "tensorflow.contrib.training"),
    ("tensorflow.python.ops.nn_impl", "tensorflow.nn"),
    ("tensorflow.python.ops.nn_ops", "tensorflow.nn"),
    ("tensorflow.python.ops.nn", "tensorflow.nn"),
    ("tensorflow.python.ops.control_flow_ops", "tensorflow"),
    ("tensorflow.python.ops.cond", "tensorflow"),
    ("tensorflow.python.ops.variables", "tensorflow"),
    ("tensorflow.python.framework.ops", "tensorflow"),
    ("tensorflow.python.training.moving_averages", "tensorflow.train"),
    ("tensorflow.python.training", "tensorflow.train"),
    ("tensorflow.python.layers.normalization", "tensorflow.layers"),
    ("tensorflow.python.layers", "tensorflow.layers"),
    ("tensorflow.contrib.framework.smart_cond", "tensorflow.smart_cond"),
    ("tensorflow.python.framework.smart_cond", "tensorflow.smart_cond"),
    ("tensorflow.__internal__.smart_cond", "tensorflow.smart_cond"),
)

# Whole-name rewrites after prefixes: one API exported under several paths.
_EXACT_ALIASES: dict[str, str] = {
    # slim re-exports contrib.layers and contrib.framework under its own name.
    "tensorflow.contrib.slim.batch_norm": "tensorflow.contrib.layers.batch_norm",
    "tensorflow.contrib.slim.layers.batch_norm": "tensorflow.contrib.layers.batch_norm",
    "tensorflow.contrib.slim.arg_scope": "tensorflow.contrib.framework.arg_scope",
    "tensorflow.contrib.slim.ops.arg_scope": "tensorflow.contrib.framework.arg_scope",
    "tensorflow.contrib.slim.learning.create_train_op": "tensorflow.contrib.slim.create_train_op",
    "tensorflow.contrib.slim.training.create_train_op": "tensorflow.contrib.training.create_train_op",
    "tensorflow.contrib.slim.training.training.create_train_op": "tensorflow.contrib.training.create_train_op",
    "tensorflow.contrib.layers.optimizers.optimize_loss": "tensorflow.contrib.layers.optimize_loss",
    "tensorflow.smart_cond.smart_cond": "tensorflow.smart_cond",
    "tensorflow.keras.utils.control_flow_util.smart_cond": "tensorflow.smart_cond",
    "tensorflow.control_flow_ops.cond": "tensorflow.cond",
    "tensorflow.keras.layers.batch_normalization.BatchNormalization": "tensorflow.keras.layers.BatchNormalization",
    "tensorflow.layers.normalization.BatchNormalization": "tensorflow.layers.BatchNormalization",
    "tensorflow.layers.normalization.batch_normalization": "tensorflow.layers.batch_normalization",
    "tensorflow.layers.normalization.batch_norm": "tensorflow.layers.batch_normalization",
    "tensorflow.train.moving_averages.assign_moving_average": "tensorflow.train.assign_moving_average",
    "tensorflow.train.assign_moving_average": "tensorflow.train.assign_moving_average",
    "tensorflow.nn.fused_batch_norm_v3": "tensorflow.nn.fused_batch_norm",
    "tensorflow.assign_moving_average": "tensorflow.train.assign_moving_average",
    "tensorflow.keras.backend.moving_average_update": "tensorflow.train.assign_moving_average",
}


@lru_cache(maxsize=65536)
def canonical(name: str) -> str:
    """Map any spelling of a TensorFlow/Keras API onto bnlint's one name for it."""
    changed = True
    rounds = 0
    while changed and rounds < 8:
        changed = False
        rounds += 1
        for prefix, replacement in _PREFIX_ALIASES:
            if name == prefix or name.startswith(prefix + "."):
                new = replacement + name[len(prefix):]
                if new != name:
                    name = new
                    changed = True
                break
    return _EXACT_ALIASES.get(name, name)


def is_tensorflow_name(name: str) -> bool:
    """True for canonical names inside TensorFlow (which includes Keras after canonicalisation)."""
    return name == "tensorflow" or name.startswith("tensorflow.")
