"""The TF1 graph description a ``file.py:factory`` target may return.

Kept free of TensorFlow imports so users can import it anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


@dataclass
class TF1Graph:
    """A TF1 (``tf.compat.v1``) model the audit runs in a ``tf.compat.v1.Session``.

    Attributes:
        graph: the ``tf.Graph`` holding the model.
        inputs: placeholders the audit fills with data (features and, for the train op,
            labels); a mapping name -> placeholder or a sequence of placeholders.
        outputs: the inference fetches (tensors), in order.
        train_op: the op one training step runs; ``None`` skips BNR002.
        training_flag: the boolean placeholder switching BN between training and
            inference, or ``None`` when the graph has none.
        train_value: what ``training_flag`` is fed for the training step.
        infer_value: what ``training_flag`` is fed for inference.
        init_op: the op that initialises variables; by default every global and local
            variable initializer of ``graph``.
        statistics: the moving-statistics variables; by default every global variable
            named like ``moving_mean``, ``moving_variance`` or an EMA shadow.
    """

    graph: Any
    inputs: Mapping[str, Any] | Sequence[Any]
    outputs: Sequence[Any]
    train_op: Any | None = None
    training_flag: Any | None = None
    train_value: Any = True
    infer_value: Any = False
    init_op: Any | None = None
    statistics: Sequence[Any] | None = field(default=None)
