"""The Python API: :func:`audit_model` and :func:`audit_target`."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from . import checks as C
from .errors import AuditError, CheckSkipped
from .inputs import load_npz, parse_input_shapes, synthesize
from .report import CHECKS, AuditReport, CheckResult
from .tfenv import select_device, tensorflow, versions


def audit_model(
    model: Any,
    inputs: Any = None,
    *,
    target: str | None = None,
    batch_size: int = 8,
    seed: int = 0,
    input_shape: str | Sequence[str] | None = None,
    device: str = "auto",
    select: Iterable[str] | None = None,
    atol: float | None = None,
    rtol: float | None = None,
) -> AuditReport:
    """Audit a model's batch normalization at runtime and return the report.

    ``model`` is a Keras model, a ``tf.Module`` with ``tf.function`` signatures (a loaded
    SavedModel included), a :class:`~bnlint.audit.graphdesc.TF1Graph`, or a target string
    as the CLI takes (``model.keras``, a SavedModel directory, ``file.py:factory``).

    ``inputs`` is an array (one input), a list of arrays, a mapping input name -> array,
    or a path to an ``.npz`` file; by default inputs are synthesised from the model's input
    signature with ``seed`` and ``batch_size``. ``select`` limits the checks run, by code.
    The model's variables are restored after the audit (the optimizer's are not).
    Raises :class:`~bnlint.audit.errors.AuditError` when the audit cannot run.
    """
    from .targets import load_target, make_subject

    tf = tensorflow()
    shapes = parse_input_shapes([input_shape] if isinstance(input_shape, str) else input_shape)
    label = target
    if isinstance(model, str):
        label = label or model
        model = load_target(model)
    label = label or type(model).__name__
    dev, dev_name = select_device(device)
    codes = list(CHECKS) if select is None else [c.upper() for c in select]
    unknown = [c for c in codes if c not in CHECKS]
    if unknown:
        raise AuditError(f"unknown check code(s): {', '.join(unknown)} (known: {', '.join(CHECKS)})")
    tol = C.Tolerance.for_device(dev_name)
    if atol is not None:
        tol.atol = atol
    if rtol is not None:
        tol.rtol = rtol

    with tf.device(dev):
        subject = make_subject(model, shapes)
        try:
            data = _inputs(subject, inputs, batch_size, seed, shapes)
            results = _run(subject, data, codes, tol)
        finally:
            subject.close()
    tfv, kv = versions()
    return AuditReport(label, dev_name, tfv, kv, [results[c] for c in CHECKS if c in results])


def audit_target(target: str, **options: Any) -> AuditReport:
    """Load ``target`` (as the CLI does) and audit it; options as :func:`audit_model`."""
    return audit_model(target, target=target, **options)


def _inputs(subject, inputs, batch_size, seed, shapes) -> dict[str, np.ndarray]:
    specs = subject.specs
    if inputs is None:
        return synthesize(specs, batch_size, seed, shapes)
    if isinstance(inputs, str):
        return load_npz(inputs, specs)
    if isinstance(inputs, Mapping):
        missing = [s.name for s in specs if s.name not in inputs]
        if missing and len(inputs) == len(specs):
            return {s.name: np.asarray(v) for s, v in zip(specs, inputs.values())}
        if missing:
            raise AuditError(f"inputs: no array for {', '.join(missing)}")
        return {s.name: np.asarray(inputs[s.name]) for s in specs}
    arrays = [inputs] if not isinstance(inputs, (list, tuple)) else list(inputs)
    if len(arrays) != len(specs):
        raise AuditError(f"inputs: the model takes {len(specs)} input(s), got {len(arrays)}")
    return {s.name: np.asarray(a) for s, a in zip(specs, arrays)}


def _run(subject, data, codes, tol) -> dict[str, CheckResult]:
    subject.prepare(data)
    stats = subject.statistics()
    plan = [
        # Static first, training last: the training step changes state the others read.
        ("BNR004", lambda: C.check_serving_graph(subject, data, stats)),
        ("BNR001", lambda: C.check_inference_updates(subject, data, stats)),
        ("BNR003", lambda: C.check_batch_dependence(subject, data, tol)),
        ("BNR005", lambda: C.check_stats_used(subject, data, stats, tol)),
        ("BNR002", lambda: C.check_training_updates(subject, data, stats)),
    ]
    results = {}
    for code, fn in plan:
        if code not in codes:
            continue
        try:
            results[code] = fn()
        except CheckSkipped as exc:
            results[code] = CheckResult(code, "skipped", None, str(exc))
        except AuditError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as one line by the CLI
            raise AuditError(f"{code} could not run on this model: {type(exc).__name__}: {_first_line(exc)}") from exc
    return results


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""
