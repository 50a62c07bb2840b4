"""Seeing inside a Keras model: what each statistics-owning layer receives and returns.

The checks used to look only at the model's final output. On real architectures that
output is often a softmax over untrained logits, saturated to one-hot, or sits behind
saturated activations and later batch norms: a perturbed moving mean or a
batch-dependent layer then moves it by nothing. Each layer's own output is where the
effect is, so the audit traces ``model(x, training=...)`` once with every
statistics-owning layer's ``call`` wrapped to hand back its input and output tensors,
alongside the model's outputs. The wrapping lives only while the function is traced;
the traced graph is the model's own computation, wrappers and all (a BN forced into
training mode by the layer around it is seen in training mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Normalisation layers whose non-trainable variables are not batch-norm moving statistics:
# a preprocessing Normalization's mean/variance are adapted once, never by a training step.
NOT_BATCH_NORM = frozenset({
    "Normalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "RMSNormalization", "SpectralNormalization", "PreprocessingLayer", "TFDataLayer", "DataLayer",
    "Discretization", "Rescaling",
})


def is_batch_norm(layer: Any) -> bool:
    """Keras/tf_keras ``BatchNormalization``, its subclasses and ``SyncBatchNormalization``."""
    names = {cls.__name__ for cls in type(layer).__mro__}
    return any("BatchNormalization" in n for n in names) and hasattr(layer, "moving_mean")


def is_other_normalization(layer: Any) -> bool:
    """A normalisation or preprocessing layer whose statistics are not batch-norm ones."""
    for cls in type(layer).__mro__:
        if cls.__name__ in NOT_BATCH_NORM or ".preprocessing." in (cls.__module__ or ""):
            return True
    return False


@dataclass
class Observation:
    """One traced run: the model's outputs and, per observed layer, its calls' tensors.

    ``layers`` maps a layer key (``id`` of the layer) to one array per call of that layer:
    its outputs for an inference run, its inputs for a training run.
    """

    outputs: list[np.ndarray]
    layers: dict[int, list[np.ndarray]] = field(default_factory=dict)


def _first_tensor(value: Any, tf: Any) -> Any:
    flat = tf.nest.flatten(value)
    return flat[0] if flat else None


class KerasProbe:
    """Traced ``model(x, training=...)`` functions that also return per-layer tensors."""

    def __init__(self, tf: Any, model: Any, specs: list, owners: list[Any]):
        self.tf = tf
        self.model = model
        self.specs = specs
        self.owners = owners
        self._fns: dict[bool, tuple[Any, list[int]]] = {}
        # Layers whose tensors the trace could not hand back (inside a tf.cond or a
        # nested tf.function): the checks fall back to the model's outputs for them.
        self.unobserved: set[int] = set()

    def _build(self, training: bool) -> tuple[Any, list[int]]:
        if training in self._fns:
            return self._fns[training]
        tf, model, owners = self.tf, self.model, self.owners
        single = len(self.specs) == 1
        keys: list[int] = []

        def traced(*xs):
            records: dict[int, list[Any]] = {id(layer): [] for layer in owners}
            patched = []
            try:
                for layer in owners:
                    own = layer.__dict__.get("call")
                    original = layer.call

                    def wrapper(*args, _original=original, _record=records[id(layer)], **kwargs):
                        out = _original(*args, **kwargs)
                        x = args[0] if args else kwargs.get("inputs", next(iter(kwargs.values()), None))
                        _record.append((_first_tensor(x, tf), _first_tensor(out, tf)))
                        return out

                    # object.__setattr__: Keras layers track attributes; a wrapper is no weight.
                    object.__setattr__(layer, "call", wrapper)
                    patched.append((layer, own))
                result = model(xs[0] if single else list(xs), training=training)
            finally:
                for layer, own in patched:
                    if own is None:
                        object.__delattr__(layer, "call")
                    else:
                        object.__setattr__(layer, "call", own)
            graph = tf.compat.v1.get_default_graph()
            extra = []
            keys.clear()
            for layer in owners:
                for x, out in records[id(layer)]:
                    t = x if training else out
                    if t is None or getattr(t, "graph", None) is not graph:
                        self.unobserved.add(id(layer))
                        continue
                    keys.append(id(layer))
                    extra.append(t)
                if not records[id(layer)]:
                    self.unobserved.add(id(layer))
            return tf.nest.flatten(result), extra

        sig = [tf.TensorSpec((None, *s.shape), tf.as_dtype(s.dtype), name=s.name.replace(":", "_"))
               for s in self.specs]
        fn = tf.function(traced, input_signature=sig, autograph=False).get_concrete_function()
        self._fns[training] = (fn, keys)
        return fn, keys

    def run(self, inputs: dict[str, np.ndarray], training: bool = False,
            only: set[int] | None = None) -> Observation:
        """Run the traced model on ``inputs``; its outputs and the tensors of layers ``only`` (default all)."""
        fn, keys = self._build(training)
        outputs, extra = fn(*[self.tf.constant(inputs[s.name]) for s in self.specs])
        layers: dict[int, list[np.ndarray]] = {}
        for key, t in zip(keys, extra):
            if only is None or key in only:
                # Copying every layer's tensor to numpy costs as much as the pass on a big model.
                layers.setdefault(key, []).append(np.array(t.numpy(), copy=True))
        return Observation([np.array(o.numpy(), copy=True) for o in outputs], layers)


def degenerate(outputs: list[np.ndarray]) -> str | None:
    """Why the model's outputs cannot show a change, or None when they can.

    ``constant``: every sample gets the same output. ``saturated``: the float outputs
    hold almost no distinct values (a one-hot softmax over untrained logits, clipped
    activations). Either hides a perturbation or a batch dependence at the output.
    """
    floats = [np.asarray(o) for o in outputs if np.asarray(o).dtype.kind == "f" and np.asarray(o).size]
    if not floats:
        return None
    if all(o.ndim >= 1 and o.shape[0] >= 2 and np.all(o == o[:1]) for o in floats):
        return "constant across samples"
    distinct = sum(np.unique(o).size for o in floats)
    total = sum(o.size for o in floats)
    if total >= 64 and distinct <= max(2, total // 50):
        return f"saturated ({distinct} distinct values among {total})"
    return None
