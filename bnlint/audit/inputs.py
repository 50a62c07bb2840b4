"""Audit inputs: synthesised from an input signature, or read from an ``.npz`` file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import AuditError


@dataclass
class InputSpec:
    """One model input: its name, shape without the batch dimension, and dtype name."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str


def parse_input_shapes(values: Sequence[str] | None) -> dict[str | None, tuple[int, ...]]:
    """Parse ``--input-shape`` values: ``32,32,3`` (every input) or ``name=32,32,3``."""
    out: dict[str | None, tuple[int, ...]] = {}
    for value in values or ():
        name, _, dims = value.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
        except ValueError:
            raise AuditError(
                f"--input-shape {value!r}: expected comma-separated sizes without the batch "
                "dimension, e.g. 32,32,3 or image=32,32,3"
            ) from None
        if any(d <= 0 for d in shape):
            raise AuditError(f"--input-shape {value!r}: sizes must be positive")
        out[name or None] = shape
    return out


def resolve_shape(spec: InputSpec, given: dict[str | None, tuple[int, ...]]) -> tuple[int, ...]:
    """The concrete per-sample shape of ``spec``, filling unknown dimensions from ``given``."""
    shape = given.get(spec.name, given.get(None))
    if shape is not None:
        if len(shape) != len(spec.shape) or any(
            s is not None and s != g for s, g in zip(spec.shape, shape)
        ):
            raise AuditError(
                f"--input-shape {','.join(map(str, shape))} does not fit input {spec.name!r} "
                f"of shape {_show(spec.shape)}"
            )
        return tuple(shape)
    if any(d is None for d in spec.shape):
        example = ",".join("8" if d is None else str(d) for d in spec.shape)
        raise AuditError(
            f"input {spec.name!r} has unknown dimensions {_show(spec.shape)}; pass "
            f"--input-shape (the shape without the batch dimension, e.g. --input-shape {example})"
        )
    return tuple(int(d) for d in spec.shape)


def _show(shape: tuple) -> str:
    return "(batch, " + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def synthesize(
    specs: Sequence[InputSpec],
    batch_size: int,
    seed: int,
    given_shapes: dict[str | None, tuple[int, ...]] | None = None,
) -> dict[str, np.ndarray]:
    """Seeded random inputs: standard normal floats, integers in [0, 2), random booleans."""
    if batch_size < 1:
        raise AuditError("--batch-size must be at least 1")
    rng = np.random.default_rng(seed)
    out = {}
    for spec in specs:
        shape = (batch_size, *resolve_shape(spec, given_shapes or {}))
        dt = np.dtype(spec.dtype)
        if dt.kind == "f":
            arr = rng.standard_normal(shape).astype(dt)
        elif dt.kind in "iu":
            # Small integers stay valid indices for embeddings and class labels.
            arr = rng.integers(0, 2, size=shape).astype(dt)
        elif dt.kind == "b":
            arr = rng.integers(0, 2, size=shape).astype(bool)
        else:
            raise AuditError(f"input {spec.name!r}: cannot synthesise dtype {spec.dtype}; use --inputs")
        out[spec.name] = arr
    return out


def load_npz(path: str, specs: Sequence[InputSpec]) -> dict[str, np.ndarray]:
    """Read inputs from an ``.npz`` file: arrays named after the inputs, or in input order."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise AuditError(f"--inputs {path}: cannot read ({exc})") from None
    out = {}
    names = list(arrays)
    for i, spec in enumerate(specs):
        if spec.name in arrays:
            arr = arrays[spec.name]
        elif len(specs) == 1 and len(arrays) == 1:
            arr = arrays[names[0]]
        elif f"arr_{i}" in arrays:
            arr = arrays[f"arr_{i}"]
        else:
            raise AuditError(f"--inputs {path}: no array for input {spec.name!r} (has {', '.join(names)})")
        if arr.ndim != len(spec.shape) + 1:
            raise AuditError(
                f"--inputs {path}: array for {spec.name!r} has shape {arr.shape}, "
                f"expected {_show(spec.shape)}"
            )
        try:
            out[spec.name] = arr.astype(np.dtype(spec.dtype), copy=False)
        except (TypeError, ValueError):  # strings where the model wants numbers
            raise AuditError(
                f"--inputs {path}: array for {spec.name!r} has dtype {arr.dtype}, which does not "
                f"convert to the input's {spec.dtype}"
            ) from None
    sizes = {a.shape[0] for a in out.values()}
    if len(sizes) != 1:
        raise AuditError(f"--inputs {path}: arrays have different batch sizes {sorted(sizes)}")
    require_finite(out, f"--inputs {path}")
    return out


def require_finite(inputs: dict[str, np.ndarray], source: str) -> None:
    """Refuse inputs holding NaN or Inf.

    Every check compares numbers: with NaN inputs the outputs are NaN, NaN compares
    unequal to itself and ``max`` ignores it, so checks would pass or fail on garbage.
    """
    for name, arr in inputs.items():
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            raise AuditError(
                f"{source}: array {name!r} contains NaN or Inf ({bad} of {arr.size} values); "
                "the audit needs finite inputs"
            )


def batch_size_of(inputs: dict[str, np.ndarray]) -> int:
    """The number of samples in ``inputs``."""
    return next(iter(inputs.values())).shape[0]


def take(inputs: dict[str, np.ndarray], index) -> dict[str, np.ndarray]:
    """The samples ``index`` (a slice or an index array) of every input."""
    return {k: v[index] for k, v in inputs.items()}


def compositions(inputs: dict[str, np.ndarray]) -> list[tuple[str, dict[str, np.ndarray], list[tuple[int, int]]]]:
    """Batches that hold some of the reference samples beside different partners.

    Each entry is ``(label, batch, pairs)`` where ``pairs`` maps a position in the batch
    to the index of the same sample in the reference batch.
    """
    n = batch_size_of(inputs)
    out = [("batch of one (sample 0)", take(inputs, slice(0, 1)), [(0, 0)])]
    if n >= 2:
        rev = np.arange(n)[::-1]
        out.append((f"reversed order (size {n})", take(inputs, rev), [(i, int(j)) for i, j in enumerate(rev)]))
        half = max(2, n // 2)
        if half < n:
            out.append((f"first {half} samples", take(inputs, slice(0, half)), [(i, i) for i in range(half)]))
        # Sample 0 beside shifted, scaled partners: batch statistics move, moving ones do not.
        partners = {}
        for k, v in inputs.items():
            if v.dtype.kind == "f":
                partners[k] = np.concatenate([v[:1], v[1:] * 3 + 2]).astype(v.dtype)
            else:
                partners[k] = np.concatenate([v[:1], np.roll(v[1:], 1, axis=0)])
        out.append((f"sample 0 with rescaled partners (size {n})", partners, [(0, 0)]))
        # Larger batch: the reference samples twice over.
        out.append((f"doubled batch (size {2 * n})", {k: np.concatenate([v, v[::-1]]) for k, v in inputs.items()},
                    [(i, i) for i in range(n)]))
    return out
