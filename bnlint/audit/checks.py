"""The five runtime checks, BNR001-BNR005, written against :class:`~.subjects.Subject`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import CheckSkipped
from .graph import inspect_graph
from .inputs import batch_size_of, compositions, take
from .report import CheckResult
from .subjects import Stat, Subject


# Why the statistics checks skip a model without BN: the user should read that none was found.
NO_STATISTICS = "no batch-normalization layers or moving statistics found in the model"


@dataclass
class Tolerance:
    """``|a - b| <= atol + rtol * max|reference|`` counts as equal for float32 outputs.

    The GPU default is looser: kernels pick different algorithms (and TF32 matmuls)
    for different batch sizes.
    """

    atol: float = 1e-4
    rtol: float = 1e-3

    @classmethod
    def for_device(cls, device: str) -> "Tolerance":
        return cls(1e-3, 1e-2) if "GPU" in device.upper() else cls()

    def bound(self, reference: list[np.ndarray]) -> float:
        scale = max((float(np.max(np.abs(r))) if r.size else 0.0) for r in reference) if reference else 0.0
        return self.atol + self.rtol * scale


def _max_change(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    # NaN where the other side is a number is an infinite change, not one that
    # max(0.0, nan) quietly drops; equal values (inf == inf) and NaN-vs-NaN are no change.
    same = (a64 == b64) | (np.isnan(a64) & np.isnan(b64))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(a64 - b64))
    return float(np.max(np.nan_to_num(diff, nan=np.inf, posinf=np.inf)))


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _restore(stats: list[Stat], values: list[np.ndarray]) -> None:
    for s, v in zip(stats, values):
        s.write(v)


def _out_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max((_max_change(x, y) for x, y in zip(a, b)), default=0.0)


def check_inference_updates(subject: Subject, inputs: dict, stats: list[Stat]) -> CheckResult:
    """BNR001: every inference path must leave every moving statistic bitwise unchanged."""
    if not stats:
        return CheckResult("BNR001", "skipped", None, NO_STATISTICS)
    original = [s.read() for s in stats]
    changed: dict[int, dict] = {}
    ran, skipped = [], []
    try:
        for label, run in subject.inference_runs(inputs):
            before = [s.read() for s in stats]
            try:
                run()
            except CheckSkipped as exc:
                skipped.append(f"{label}: {exc}")
                continue
            ran.append(label)
            for i, (s, b) in enumerate(zip(stats, before)):
                after = s.read()
                if not _same_bits(b, after):
                    row = changed.setdefault(i, {"layer": s.layer, "variable": s.variable,
                                                 "max_abs_change": 0.0, "changed_by": []})
                    row["max_abs_change"] = max(row["max_abs_change"], _max_change(b, after))
                    row["changed_by"].append(label)
    finally:
        _restore(stats, original)
    note = f" ({'; '.join(skipped)})" if skipped else ""
    if not changed:
        return CheckResult("BNR001", "pass", 0.0,
                           f"max |change| 0 over {len(stats)} statistics, bitwise unchanged after "
                           f"{', '.join(ran)}{note}")
    rows = sorted(changed.values(), key=lambda r: -r["max_abs_change"])
    top = rows[0]
    figure = top["max_abs_change"]
    return CheckResult(
        "BNR001", "fail", figure,
        f"max |change| {figure:.4g} ({top['layer']}/{top['variable']}); {len(rows)} of {len(stats)} "
        f"statistics changed by {', '.join(dict.fromkeys(run for r in rows for run in r['changed_by']))}{note}",
        rows,
    )


def check_training_updates(subject: Subject, inputs: dict, stats: list[Stat]) -> CheckResult:
    """BNR002: one training step must change the statistics of every trainable BN."""
    if not stats:
        return CheckResult("BNR002", "skipped", None, NO_STATISTICS)
    snapshot = getattr(subject, "snapshot", None)
    weights = snapshot() if snapshot else None
    original = [s.read() for s in stats]
    try:
        try:
            how = subject.train_step(inputs)
        except CheckSkipped as exc:
            return CheckResult("BNR002", "skipped", None, str(exc))
        after = [s.read() for s in stats]
    finally:
        # The audit must not leave the model trained: put every weight back.
        if weights is not None:
            for v, value in weights:
                v.assign(value)
        _restore(stats, original)
    rows, trainable_changes, frozen = [], [], 0
    for s, b, a in zip(stats, original, after):
        delta = _max_change(b, a)
        moved = not _same_bits(b, a)
        if s.frozen:
            frozen += 1
            if moved:
                rows.append({"layer": s.layer, "variable": s.variable, "status": "frozen but changed",
                             "max_abs_change": delta})
        else:
            trainable_changes.append(delta if moved else 0.0)
            if not moved:
                rows.append({"layer": s.layer, "variable": s.variable, "status": "unchanged",
                             "max_abs_change": 0.0})
    n_train = len(trainable_changes)
    figure = min(trainable_changes) if trainable_changes else 0.0
    frozen_note = f"; {frozen} frozen (trainable=False) statistics" + (
        " left unchanged, as they should" if not any(r["status"] == "frozen but changed" for r in rows) else "")
    if not rows:
        return CheckResult("BNR002", "pass", figure,
                           f"min |change| {figure:.4g} over {n_train} trainable statistics after {how}"
                           f"{frozen_note if frozen else ''}")
    parts = []
    for status, words in (("unchanged", "left unchanged"), ("frozen but changed", "changed although frozen")):
        hit = [r for r in rows if r["status"] == status]
        if hit:
            parts.append(f"{len(hit)} statistics of {', '.join(dict.fromkeys(r['layer'] for r in hit))} {words}")
    return CheckResult("BNR002", "fail", figure,
                       f"{'; '.join(parts)} by {how} "
                       f"(min |change| of trainable statistics {figure:.4g})"
                       f"{frozen_note if frozen else ''}", rows)


def check_batch_dependence(subject: Subject, inputs: dict, tol: Tolerance) -> CheckResult:
    """BNR003: a sample's output must not depend on the rest of its batch."""
    if not subject.batch_flexible:
        return CheckResult("BNR003", "skipped", None, "the inputs have a fixed batch size")
    if batch_size_of(inputs) < 2:
        return CheckResult("BNR003", "skipped", None, "needs a batch of at least 2 samples")
    reference = subject.infer(inputs)
    bound = tol.bound(reference)
    rows, worst = [], 0.0
    for label, batch, pairs in compositions(inputs):
        out = subject.infer(batch)
        diff = 0.0
        for o, r in zip(out, reference):
            pos = np.array([p for p, _ in pairs])
            ref_idx = np.array([q for _, q in pairs])
            diff = max(diff, _max_change(o[pos], r[ref_idx]))
        worst = max(worst, diff)
        rows.append({"batch": label, "max_abs_diff": diff, "tolerance": bound})
    if worst <= bound:
        return CheckResult("BNR003", "pass", worst,
                           f"max |diff| {worst:.3g} (tolerance {bound:.3g}) across {len(rows)} batch "
                           "compositions incl. a batch of one")
    bad = [r for r in rows if r["max_abs_diff"] > bound]
    return CheckResult("BNR003", "fail", worst,
                       f"max |diff| {worst:.4g} > tolerance {bound:.3g}: outputs change with "
                       f"{', '.join(r['batch'] for r in bad)}", bad)


def check_serving_graph(subject: Subject, inputs: dict, stats: list[Stat]) -> CheckResult:
    """BNR004: inference graphs must not run BN in training mode or write its statistics."""
    views = subject.graphs(inputs)
    if not views:
        return CheckResult("BNR004", "skipped", None, "no inference graph to inspect")
    names = {f"{s.layer}/{s.variable}" for s in stats}
    rows = []
    for view in views:
        for p in inspect_graph(view.graph_def, view.outputs, view.resolve, view.constants, names):
            rows.append({"graph": view.label, **p.row()})
    labels = ", ".join(v.label for v in views)
    if not rows:
        return CheckResult("BNR004", "pass", 0, f"0 training-mode BN or statistic-writing nodes in {labels}")
    shown = ", ".join(r["node"] for r in rows[:4]) + (" ..." if len(rows) > 4 else "")
    return CheckResult("BNR004", "fail", len(rows), f"{len(rows)} offending node(s): {shown}", rows)


def _perturb(s: Stat, value: np.ndarray) -> np.ndarray:
    if "var" in s.variable.lower():
        return (value * 4 + 1).astype(value.dtype)
    return (value + 1 + np.abs(value)).astype(value.dtype)


def check_stats_used(subject: Subject, inputs: dict, stats: list[Stat], tol: Tolerance) -> CheckResult:
    """BNR005: perturbing a layer's moving statistics must move the inference output."""
    if not stats:
        return CheckResult("BNR005", "skipped", None, NO_STATISTICS)
    probe = take(inputs, slice(0, min(4, batch_size_of(inputs))))
    reference = subject.infer(probe)
    bound = tol.bound(reference)
    layers: dict[str, list[int]] = {}
    for i, s in enumerate(stats):
        layers.setdefault(s.layer, []).append(i)
    original = [s.read() for s in stats]
    moves, rows = [], []
    try:
        for layer, idx in layers.items():
            for i in idx:
                stats[i].write(_perturb(stats[i], original[i]))
            diff = _out_diff(subject.infer(probe), reference)
            for i in idx:
                stats[i].write(original[i])
            moves.append(diff)
            if diff <= bound:
                rows.append({"layer": layer, "variables": [stats[i].variable for i in idx],
                             "max_output_change": diff})
    finally:
        _restore(stats, original)
    figure = min(moves)
    if not rows:
        return CheckResult("BNR005", "pass", figure,
                           f"min output change {figure:.4g} (> {bound:.3g}) when perturbing each of "
                           f"{len(layers)} layers' moving statistics")
    return CheckResult("BNR005", "fail", figure,
                       f"output moves by at most {figure:.3g} (tolerance {bound:.3g}) when the moving "
                       f"statistics of {', '.join(r['layer'] for r in rows)} are perturbed", rows)
