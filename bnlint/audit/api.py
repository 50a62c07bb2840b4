"""The Python API: :func:`audit_model` and :func:`audit_target`."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from . import checks as C
from .errors import AuditError, CheckSkipped, describe
from .inputs import load_npz, parse_input_shapes, require_finite, synthesize
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
    unsafe_load: bool = False,
) -> AuditReport:
    """Audit a model's batch normalization at runtime and return the report.

    ``model`` is a Keras model, a ``tf.Module`` with ``tf.function`` signatures (a loaded
    SavedModel included), a :class:`~bnlint.audit.graphdesc.TF1Graph`, or a target string
    as the CLI takes (``model.keras``, a SavedModel directory, ``file.py:factory``).

    ``inputs`` is an array (one input), a list of arrays, a mapping input name -> array,
    or a path to an ``.npz`` file; by default inputs are synthesised from the model's input
    signature with ``seed`` and ``batch_size``. ``select`` limits the checks run, by code.
    ``unsafe_load`` lets a ``.keras`` target deserialise Python code (Lambda layers).
    The model's variables are restored after the audit (the optimizer's are not).
    Raises :class:`~bnlint.audit.errors.AuditError` when the audit cannot run.
    """
    from .targets import load_target, make_subject

    tf = tensorflow()
    shapes = parse_input_shapes([input_shape] if isinstance(input_shape, str) else input_shape)
    label = target
    loaded = isinstance(model, str)
    if loaded:
        label = label or model
        model = load_target(model, unsafe_load=unsafe_load)
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
        try:
            subject = make_subject(model, shapes)
        except AuditError as exc:
            # A loaded target's message names the file the user typed.
            raise (AuditError(f"{label}: {exc}") if loaded else exc) from None
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
            data = {s.name: np.asarray(v) for s, v in zip(specs, inputs.values())}
        elif missing:
            raise AuditError(f"inputs: no array for {', '.join(missing)}")
        else:
            data = {s.name: np.asarray(inputs[s.name]) for s in specs}
    else:
        arrays = [inputs] if not isinstance(inputs, (list, tuple)) else list(inputs)
        if len(arrays) != len(specs):
            raise AuditError(f"inputs: the model takes {len(specs)} input(s), got {len(arrays)}")
        data = {s.name: np.asarray(a) for s, a in zip(specs, arrays)}
    require_finite(data, "inputs")
    return data


def _run(subject, data, codes, tol) -> dict[str, CheckResult]:
    try:
        subject.prepare(data)
    except AuditError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's model failed on the inputs: one line, no traceback
        raise AuditError(f"the model cannot run on the audit inputs: {describe(exc)}") from exc
    stats = subject.statistics()
    _require_finite_outputs(subject, data, stats)
    plan = [
        # Static first, training last: the training step changes state the others read.
        ("BNR004", lambda: C.check_serving_graph(subject, data, stats)),
        ("BNR001", lambda: C.check_inference_updates(subject, data, stats)),
        ("BNR003", lambda: C.check_batch_dependence(subject, data, tol, stats)),
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
            raise AuditError(f"{code} could not run on this model: {describe(exc)}") from exc
    return results


def _require_finite_outputs(subject, data, stats) -> None:
    """Refuse a model whose inference output holds NaN or Inf.

    BNR003 and BNR005 compare outputs; NaN compares unequal to everything and ``max``
    skips it, so their verdicts on such a model would be noise, not findings.
    """
    original = [s.read() for s in stats]
    try:
        outputs = subject.infer(data)
    except Exception:  # noqa: BLE001 - the checks run it again and report the failure
        return
    finally:
        # A model that updates its statistics at inference must reach BNR001 untouched.
        for s, v in zip(stats, original):
            s.write(v)
    for i, out in enumerate(outputs):
        out = np.asarray(out)
        if out.dtype.kind in "fc" and not np.all(np.isfinite(out)):
            bad = int(out.size - np.count_nonzero(np.isfinite(out)))
            raise AuditError(
                f"the model's output {i} is NaN or Inf on the audit inputs ({bad} of {out.size} values); "
                "the checks compare outputs and cannot judge it: fix the model, or pass --inputs it "
                "computes finite outputs for"
            )
