"""What the checks audit: a Keras model, a ``tf.Module``/SavedModel, or a TF1 graph.

Each subject exposes the same small surface so that checks do not care which kind
of model they look at: its input specs, its moving statistics, ways to run inference,
one training step, and its inference graphs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import AuditError, CheckSkipped, describe
from .graph import is_stat_name
from .inputs import InputSpec
from .observe import KerasProbe, Observation, is_batch_norm, is_other_normalization
from .tfenv import tensorflow

# Names of a custom layer's own non-trainable variables that hold statistics.
_CUSTOM_STAT = ("mean", "var", "moving", "running", "ema", "average", "stat")


@dataclass
class Stat:
    """One moving statistic: where it lives, whether its layer is frozen, how to read/write it."""

    layer: str
    variable: str
    frozen: bool
    read: Callable[[], np.ndarray]
    write: Callable[[np.ndarray], None]
    kind: str = "bn"  # "bn" for BatchNormalization layers, "custom", "tf1", "saved"
    owner: Any = None  # the Keras layer holding it; None in graphs

    @property
    def key(self) -> Any:
        """Groups the statistics of one layer: the layer object's id, else the layer name."""
        return id(self.owner) if self.owner is not None else self.layer


@dataclass
class GraphView:
    """An inference graph to inspect for BNR004."""

    label: str
    graph_def: Any
    outputs: list[str]
    resolve: Callable[[str], str | None]
    constants: dict[str, bool]


def _to_numpy(x: Any) -> np.ndarray:
    return np.array(x.numpy() if hasattr(x, "numpy") else x, copy=True)


class Subject:
    """The common surface; subclasses fill it in."""

    kind = "model"
    specs: list[InputSpec]
    batch_flexible = True
    # Where the checks look when they cannot see a layer's own output.
    outputs_only_reason = "this target exposes no intermediate outputs"

    def prepare(self, inputs: dict[str, np.ndarray]) -> None:
        """Build what the first call builds, so that statistics exist before they are read."""

    def statistics(self) -> list[Stat]:
        raise NotImplementedError

    def inference_runs(self, inputs: dict[str, np.ndarray]) -> list[tuple[str, Callable[[], None]]]:
        raise NotImplementedError

    def infer(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def observe(self, inputs: dict[str, np.ndarray], training: bool = False,
                only: set | None = None) -> Observation:
        """The outputs and, where the subject can see them, the statistics layers' tensors.

        ``only`` limits the layers (by :attr:`Stat.key`) whose tensors are returned.
        """
        return Observation(self.infer(inputs))

    def train_step(self, inputs: dict[str, np.ndarray]) -> str:
        raise CheckSkipped("this target has no training step")

    def graphs(self, inputs: dict[str, np.ndarray]) -> list[GraphView]:
        return []

    def close(self) -> None:
        """Release resources (a TF1 session)."""


# --------------------------------------------------------------------------- Keras


def _children(layer: Any) -> list[Any]:
    fl = getattr(layer, "_flatten_layers", None)
    if fl is None:
        return []
    try:
        return list(fl(include_self=False, recursive=False))
    except TypeError:
        return []


def _own_non_trainable(layer: Any, children: list[Any]) -> list[Any]:
    theirs = {id(v) for c in children for v in getattr(c, "variables", [])}
    return [v for v in getattr(layer, "non_trainable_variables", []) if id(v) not in theirs]


def _var_name(v: Any) -> str:
    name = getattr(v, "path", None) or v.name
    return name.split(":")[0]


class KerasSubject(Subject):
    """A Keras 3 (or tf_keras) model."""

    kind = "keras"

    def __init__(self, model: Any, input_shapes: dict | None = None):
        tf = tensorflow()
        self.model = model
        self.tf = tf
        self.specs = self._specs(input_shapes or {})
        self._infer_fn = None
        self._probe = None
        self._probe_failed = False

    def _specs(self, given: dict) -> list[InputSpec]:
        inputs = getattr(self.model, "inputs", None)
        try:
            inputs = list(inputs) if inputs is not None else None
        except Exception:  # noqa: BLE001 - unbuilt models raise various errors here
            inputs = None
        if inputs:
            specs = []
            for i, t in enumerate(inputs):
                name = getattr(t, "name", None) or f"input_{i}"
                dtype = getattr(t, "dtype", "float32")
                dtype = getattr(dtype, "name", dtype)
                specs.append(InputSpec(str(name).split(":")[0], tuple(t.shape[1:]), str(dtype)))
            return specs
        # Subclassed or unbuilt models have no symbolic inputs; --input-shape says the shape.
        shape = given.get(None) or (next(iter(given.values())) if len(given) == 1 else None)
        if shape is None:
            raise AuditError(
                "the model has no input signature (a subclassed or unbuilt model); pass "
                "--input-shape with the shape of one sample, e.g. --input-shape 32,32,3"
            )
        return [InputSpec("input", tuple(shape), "float32")]

    def _args(self, inputs: dict[str, np.ndarray]) -> Any:
        arrays = [inputs[s.name] for s in self.specs]
        return arrays[0] if len(arrays) == 1 else arrays

    def prepare(self, inputs: dict[str, np.ndarray]) -> None:
        # Subclassed models create their variables on the first call.
        if not getattr(self.model, "built", True) or not self.model.variables:
            self.model(self._args({k: v[:1] for k, v in inputs.items()}), training=False)

    # -- statistics
    def statistics(self) -> list[Stat]:
        stats: list[Stat] = []
        seen: set[int] = set()

        def walk(layer: Any, frozen: bool) -> None:
            if id(layer) in seen:
                return
            seen.add(id(layer))
            frozen = frozen or not getattr(layer, "trainable", True)
            children = _children(layer)
            if is_batch_norm(layer):
                for attr in ("moving_mean", "moving_variance"):
                    v = getattr(layer, attr, None)
                    if v is not None:
                        stats.append(self._stat(layer, v, frozen, "bn"))
            elif is_other_normalization(layer):
                pass  # a preprocessing Normalization's mean/variance are no moving statistics
            elif layer is not self.model:
                for v in _own_non_trainable(layer, children):
                    short = _var_name(v).split("/")[-1].lower()
                    if any(word in short for word in _CUSTOM_STAT) and "seed" not in short:
                        stats.append(self._stat(layer, v, frozen, "custom"))
            for child in children:
                walk(child, frozen)

        walk(self.model, False)
        return stats

    def _stat(self, layer: Any, v: Any, frozen: bool, kind: str) -> Stat:
        def read() -> np.ndarray:
            return _to_numpy(v)

        def write(value: np.ndarray) -> None:
            v.assign(value)

        return Stat(layer.name, _var_name(v).split("/")[-1], frozen, read, write, kind, layer)

    def observe(self, inputs: dict[str, np.ndarray], training: bool = False,
                only: set | None = None) -> Observation:
        if self._probe is None:
            owners = list({id(s.owner): s.owner for s in self.statistics() if s.owner is not None}.values())
            self._probe = KerasProbe(self.tf, self.model, self.specs, owners)
        if not self._probe_failed:
            try:
                return self._probe.run(inputs, training, only)
            except Exception as exc:  # noqa: BLE001 - an exotic layer the wrapping breaks: judge outputs
                self._probe_failed = True
                self.outputs_only_reason = f"the layers' outputs could not be traced: {describe(exc)}"
        if training:
            return Observation([])
        return Observation(self.infer(inputs))

    # -- inference
    def _compiled(self) -> bool:
        return bool(getattr(self.model, "compiled", False) or getattr(self.model, "_is_compiled", False))

    def _targets(self, inputs: dict[str, np.ndarray]) -> list[Any]:
        # Synthetic labels: the model's own predictions, then their argmax for sparse losses.
        # Computed once: evaluate and the training step both need them.
        key = id(inputs)
        if getattr(self, "_targets_key", None) == key:
            return self._targets_cache
        pred = self.model(self._args(inputs), training=False)
        pred = self.tf.nest.map_structure(_to_numpy, pred)
        flat = [np.asarray(p) for p in self.tf.nest.flatten(pred)]
        cands = [pred]
        if all(p.ndim >= 2 and p.shape[-1] > 1 for p in flat):
            ints = [np.argmax(p, axis=-1) for p in flat]
            cands.append(ints[0] if len(ints) == 1 else ints)
        self._targets_key, self._targets_cache = key, cands
        return cands

    def inference_runs(self, inputs: dict[str, np.ndarray]) -> list[tuple[str, Callable[[], None]]]:
        x = self._args(inputs)
        n = next(iter(inputs.values())).shape[0]
        runs = [
            ("model(x, training=False)", lambda: self.model(x, training=False)),
            ("model.predict(x)", lambda: self.model.predict(x, batch_size=n, verbose=0)),
        ]
        if self._compiled():
            runs.append(("model.evaluate(x, y)", lambda: self._evaluate(inputs)))
        return runs

    def _evaluate(self, inputs: dict[str, np.ndarray]) -> None:
        x = self._args(inputs)
        n = next(iter(inputs.values())).shape[0]
        errors = []
        for y in self._targets(inputs):
            try:
                self.model.evaluate(x, y, batch_size=n, verbose=0)
                return
            except Exception as exc:  # noqa: BLE001 - the loss decides which targets fit
                errors.append(exc)
        raise CheckSkipped(f"evaluate: no synthetic target fits the compiled loss ({errors[-1]})")

    def _inference_function(self) -> Any:
        if self._infer_fn is None:
            tf = self.tf
            sig = [tf.TensorSpec((None, *s.shape), tf.as_dtype(s.dtype), name=s.name.replace(":", "_"))
                   for s in self.specs]
            model, single = self.model, len(self.specs) == 1

            def infer(*xs):
                return model(xs[0] if single else list(xs), training=False)

            self._infer_fn = tf.function(infer, input_signature=sig, autograph=False)
        return self._infer_fn

    def infer(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        out = self._inference_function()(*[inputs[s.name] for s in self.specs])
        return [_to_numpy(o) for o in self.tf.nest.flatten(out)]

    def graphs(self, inputs: dict[str, np.ndarray]) -> list[GraphView]:
        fn = self._inference_function().get_concrete_function()
        return [_concrete_view("traced model(x, training=False)", fn)]

    # -- training
    def train_step(self, inputs: dict[str, np.ndarray]) -> str:
        tf = self.tf
        x = self._args(inputs)
        if self._compiled():
            errors = []
            for y in self._targets(inputs):
                try:
                    self.model.train_on_batch(x, y)
                    return "model.train_on_batch(x, y) with the compiled loss"
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)
            # Fall through to a generic step when the compiled loss wants real labels.
        with tf.GradientTape() as tape:
            out = self.model(x, training=True)
            loss = tf.add_n([tf.reduce_mean(tf.square(tf.cast(o, tf.float32))) for o in tf.nest.flatten(out)])
        weights = self.model.trainable_variables
        grads = tape.gradient(loss, weights)
        for w, g in zip(weights, grads):
            if g is not None:
                w.assign_sub(0.01 * tf.cast(tf.convert_to_tensor(g), w.dtype))
        return "a GradientTape step (mean squared output loss, SGD 0.01)"

    def snapshot(self) -> list[tuple[Any, np.ndarray]]:
        return [(v, _to_numpy(v)) for v in self.model.variables]


def _concrete_view(label: str, fn: Any) -> GraphView:
    handles = {}
    for v in getattr(fn, "variables", ()):
        handles[id(v.handle)] = v.name.split(":")[0]
    placeholders = {}
    for external, internal in fn.graph.captures:
        name = handles.get(id(external))
        if name:
            placeholders[internal.op.name] = name
    outputs = [t.op.name for t in fn.outputs] + [op.name for op in getattr(fn.graph, "control_outputs", [])]
    return GraphView(label, fn.graph.as_graph_def(), outputs, placeholders.get, {})


# --------------------------------------------------------------------------- tf.Module / SavedModel


class ModuleSubject(Subject):
    """A ``tf.Module`` with ``tf.function`` signatures, or a loaded SavedModel."""

    kind = "module"
    outputs_only_reason = "a SavedModel or tf.Module signature exposes no intermediate outputs"

    def __init__(self, module: Any, input_shapes: dict | None = None):
        tf = tensorflow()
        self.tf = tf
        self.module = module
        self.functions = self._functions()
        if not self.functions:
            # Say what to do, not only what is missing: the fix is in the export.
            raise AuditError(
                "the tf.Module or SavedModel has no serving signature and no tf.function with an "
                "input_signature: export it with tf.saved_model.save(module, path, "
                "signatures={'serving_default': module.fn}) or give its tf.function an input_signature"
            )
        self.specs = self._specs(self.functions[0][1])
        self.input_shapes = input_shapes or {}

    def _functions(self) -> list[tuple[str, Any]]:
        tf = self.tf
        sigs = getattr(self.module, "signatures", None)
        if sigs:
            return [(f"signature {k!r}", sigs[k]) for k in sorted(sigs)]
        out = []
        names = sorted(set(vars(type(self.module))) | set(vars(self.module)))
        for name in names:
            if name.startswith("_"):
                continue
            attr = getattr(self.module, name, None)
            if isinstance(attr, tf.types.experimental.PolymorphicFunction) and attr.input_signature:
                out.append((f"function {name!r}", attr.get_concrete_function()))
        return out

    @staticmethod
    def _arg_specs(fn: Any) -> tuple[list[Any], dict[str, Any]]:
        args, kwargs = fn.structured_input_signature
        return list(args), dict(kwargs)

    def _specs(self, fn: Any) -> list[InputSpec]:
        args, kwargs = self._arg_specs(fn)
        specs = []
        for i, s in enumerate(args):
            specs.append(InputSpec(s.name or f"arg_{i}", tuple(s.shape[1:]), s.dtype.name))
        for k in sorted(kwargs):
            s = kwargs[k]
            specs.append(InputSpec(k, tuple(s.shape[1:]), s.dtype.name))
        return specs

    def _call(self, fn: Any, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        args, kwargs = self._arg_specs(fn)
        specs = self._specs(fn)
        if [s.name for s in specs] != [s.name for s in self.specs]:
            raise CheckSkipped("serving functions have different inputs")
        values = [self.tf.constant(inputs[s.name]) for s in specs]
        out = fn(*values[: len(args)], **dict(zip(sorted(kwargs), values[len(args):])))
        if isinstance(out, dict):
            out = [out[k] for k in sorted(out)]
        return [_to_numpy(o) for o in self.tf.nest.flatten(out)]

    def statistics(self) -> list[Stat]:
        seen: dict[int, Any] = {}
        for _, fn in self.functions:
            for v in fn.variables:
                seen.setdefault(id(v), v)
        stats = []
        for v in seen.values():
            name = v.name.split(":")[0]
            if not v.trainable and is_stat_name(name):
                layer, _, short = name.rpartition("/")
                stats.append(Stat(layer or name, short, False, lambda v=v: _to_numpy(v),
                                  lambda value, v=v: v.assign(value), "saved"))
        return stats

    def inference_runs(self, inputs):
        return [(label, lambda fn=fn: self._call(fn, inputs)) for label, fn in self.functions]

    def infer(self, inputs):
        return self._call(self.functions[0][1], inputs)

    def graphs(self, inputs):
        return [_concrete_view(label, fn) for label, fn in self.functions]

    def train_step(self, inputs):
        raise CheckSkipped("a SavedModel or tf.Module has no training step to run")


# --------------------------------------------------------------------------- TF1


class TF1Subject(Subject):
    """A :class:`~bnlint.audit.graphdesc.TF1Graph` run in a ``tf.compat.v1.Session``."""

    kind = "tf1"
    outputs_only_reason = "a TF1 graph's statistics are measured at its inference fetches"

    def __init__(self, desc: Any, input_shapes: dict | None = None):
        tf = tensorflow()
        self.tf = tf
        self.desc = desc
        self.graph = desc.graph
        placeholders = desc.inputs
        if isinstance(placeholders, dict):
            self.placeholders = dict(placeholders)
        else:
            self.placeholders = {p.op.name: p for p in placeholders}
        self.specs = [
            InputSpec(name, tuple(p.shape.as_list()[1:]) if p.shape.rank else (), p.dtype.name)
            for name, p in self.placeholders.items()
        ]
        self.batch_flexible = all(p.shape.rank and p.shape.as_list()[0] is None for p in self.placeholders.values())
        with self.graph.as_default():
            init = desc.init_op
            if init is None:
                init = tf.group(tf.compat.v1.global_variables_initializer(),
                                tf.compat.v1.local_variables_initializer())
            self.session = tf.compat.v1.Session(graph=self.graph)
        self.session.run(init)

    def close(self) -> None:
        self.session.close()

    def _feed(self, inputs: dict[str, np.ndarray], flag_value: Any) -> dict:
        feed = {self.placeholders[k]: v for k, v in inputs.items()}
        if self.desc.training_flag is not None:
            feed[self.desc.training_flag] = flag_value
        return feed

    def statistics(self) -> list[Stat]:
        tf = self.tf
        if self.desc.statistics is not None:
            variables = list(self.desc.statistics)
        else:
            variables = [v for v in self.graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
                         if is_stat_name(v.op.name)]
        stats = []
        for v in variables:
            layer, _, short = v.op.name.rpartition("/")

            def read(v=v):
                return np.array(self.session.run(v), copy=True)

            with self.graph.as_default():
                # Assign through a placeholder made once: new ops per write would grow the graph.
                ph = tf.compat.v1.placeholder(v.dtype.base_dtype, v.shape)
                assign = v.assign(ph) if hasattr(v, "assign") else tf.compat.v1.assign(v, ph)

            def write(value, ph=ph, assign=assign):
                self.session.run(assign, {ph: value})

            stats.append(Stat(layer or v.op.name, short, False, read, write, "tf1"))
        return stats

    def infer(self, inputs):
        fetched = self.session.run(list(self.desc.outputs), self._feed(inputs, self.desc.infer_value))
        return [np.array(o) for o in fetched]

    def inference_runs(self, inputs):
        flag = "" if self.desc.training_flag is None else f" with the training flag fed {self.desc.infer_value!r}"
        return [(f"session.run(outputs){flag}", lambda: self.infer(inputs))]

    def train_step(self, inputs):
        if self.desc.train_op is None:
            raise CheckSkipped("the graph description has no train_op")
        self.session.run(self.desc.train_op, self._feed(inputs, self.desc.train_value))
        flag = "" if self.desc.training_flag is None else f" with the training flag fed {self.desc.train_value!r}"
        return f"session.run(train_op){flag}"

    def graphs(self, inputs):
        constants = {}
        flag = self.desc.training_flag
        if flag is not None and isinstance(self.desc.infer_value, (bool, np.bool_)):
            constants[flag.op.name] = bool(self.desc.infer_value)
        outputs = [t.op.name if hasattr(t, "op") else t.name for t in self.desc.outputs]
        return [GraphView("TF1 inference fetches", self.graph.as_graph_def(), outputs, lambda name: None, constants)]
