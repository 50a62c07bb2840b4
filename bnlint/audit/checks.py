"""The five runtime checks, BNR001-BNR005, written against :class:`~.subjects.Subject`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import CheckSkipped
from .graph import inspect_graph
from .inputs import batch_size_of, compositions, take
from .observe import Observation, degenerate
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


# One step should move a moving statistic by (1 - momentum) * |batch statistic - old value|;
# a statistic that moves by less than this share of that is judged not to update. Dropout
# in the training step draws other masks than the audit's own training pass, so the batch
# statistics the step saw differ a little from the ones measured: the share is generous.
UPDATE_SHARE = 0.1
_EPS32 = float(np.finfo(np.float32).eps)


def _axes(axis, ndim: int) -> set[int]:
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return {int(a) % ndim for a in axes}


def _expected_moves(subject: Subject, inputs: dict, stats: list[Stat],
                    original: list[np.ndarray]) -> dict[int, tuple[float, float, float]]:
    """Per statistic index: (expected change, momentum, float32 resolution) for one step.

    Measured from the batch mean and variance of each trainable batch norm's actual
    inputs in a training-mode pass of the model. Statistics of layers called more than
    once, of custom layers and of graphs get no entry: they are judged by any change.
    """
    owners = {s.key: s.owner for s in stats
              if s.kind == "bn" and s.owner is not None and not s.frozen and hasattr(s.owner, "momentum")}
    if not owners:
        return {}
    observed = subject.observe(inputs, training=True).layers
    out = {}
    for i, s in enumerate(stats):
        calls = observed.get(s.key) if s.key in owners else None
        if not calls or len(calls) != 1:
            continue
        x = calls[0].astype(np.float64)
        if x.ndim < 1:
            continue
        try:
            keep = _axes(getattr(s.owner, "axis", -1), x.ndim)
        except (TypeError, ValueError):
            continue
        reduce = tuple(a for a in range(x.ndim) if a not in keep)
        batch = x.var(axis=reduce) if "var" in s.variable.lower() else x.mean(axis=reduce)
        old = original[i].astype(np.float64)
        if batch.size != old.size:
            continue
        momentum = float(s.owner.momentum)
        # A momentum of 1 or more never updates: judge it against Keras's default 0.99.
        share = 1.0 - momentum if 0.0 <= momentum < 1.0 else 0.01
        expected = share * float(np.max(np.abs(batch.reshape(old.shape) - old)))
        resolution = 8 * _EPS32 * float(max(np.max(np.abs(old)), np.max(np.abs(batch)), 1e-30))
        out[i] = (expected, momentum, resolution)
    return out


def check_training_updates(subject: Subject, inputs: dict, stats: list[Stat]) -> CheckResult:
    """BNR002: one training step must move every trainable BN's statistics as its momentum says.

    The threshold of each Keras batch norm's statistic is relative: a tenth of what one
    step on that layer's actual inputs should move it ((1 - momentum) times the gap
    between the batch statistic and the moving one). Statistics whose momentum or
    inputs the audit cannot see (custom layers, graphs) must change at all.
    """
    if not stats:
        return CheckResult("BNR002", "skipped", None, NO_STATISTICS)
    snapshot = getattr(subject, "snapshot", None)
    weights = snapshot() if snapshot else None
    original = [s.read() for s in stats]
    try:
        try:
            expected = _expected_moves(subject, inputs, stats, original)
        finally:
            # The audit's own training-mode pass moved the statistics and drew dropout masks:
            # restoring every variable (seed generators too) lets the step draw the same ones.
            if weights is not None:
                for v, value in weights:
                    v.assign(value)
            _restore(stats, original)
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
    rows, margins, changes, frozen, tiny, weakest = [], [], [], 0, 0, None
    relative: dict[Any, list[dict]] = {}
    for i, (s, b, a) in enumerate(zip(stats, original, after)):
        delta = _max_change(b, a)
        moved = not _same_bits(b, a)
        if s.frozen:
            frozen += 1
            if moved:
                rows.append({"layer": s.layer, "variable": s.variable, "status": "frozen but changed",
                             "max_abs_change": delta})
            continue
        changes.append(delta if moved else 0.0)
        if i in expected:
            exp, momentum, resolution = expected[i]
            if exp <= resolution and momentum < 1.0:
                tiny += 1  # one step's move is below float32 resolution: nothing to see
                continue
            threshold = UPDATE_SHARE * exp
            relative.setdefault(s.key, []).append(
                {"layer": s.layer, "variable": s.variable, "max_abs_change": delta if moved else 0.0,
                 "expected": exp, "threshold": threshold, "momentum": momentum,
                 "margin": (delta if moved else 0.0) / threshold})
        elif not moved:
            margins.append(0.0)
            rows.append({"layer": s.layer, "variable": s.variable, "status": "unchanged", "max_abs_change": 0.0})
    # A layer updates when one of its statistics moves as one step should: a batch mean
    # that happens to equal the moving one (a zero-mean input) leaves the variance to judge.
    for items in relative.values():
        best = max(items, key=lambda r: r["margin"])
        margins.append(best["margin"])
        if best["margin"] >= 1.0:
            if weakest is None or best["margin"] < weakest["margin"]:
                weakest = best
            continue
        for r in items:
            status = "unchanged" if r["max_abs_change"] == 0.0 else "moved too little"
            if r["momentum"] >= 1.0:
                status += f" (momentum {r['momentum']:g} never updates)"
            rows.append({**r, "status": status})
    n_rel = sum(len(items) for items in relative.values())
    n_any = len(changes) - len(expected)
    figure = min(margins) if margins else (min(changes) if changes else 0.0)
    judged = (f"{len(relative)} layers ({n_rel} statistics) judged against {UPDATE_SHARE:g} of the move one "
              "step on each layer's inputs should make"
              + (f", {n_any} statistics by any change (momentum or inputs unknown)" if n_any else ""))
    notes = ""
    if tiny:
        notes += f"; {tiny} statistics whose expected move is below float32 resolution not judged"
    if frozen:
        notes += f"; {frozen} frozen (trainable=False) statistics" + (
            " left unchanged, as they should" if not any(r["status"] == "frozen but changed" for r in rows) else "")
    if not rows:
        if weakest is not None:
            head = (f"weakest {weakest['layer']}/{weakest['variable']} moved {weakest['max_abs_change']:.3g}, "
                    f"{weakest['margin']:.3g}x its threshold {weakest['threshold']:.3g}")
        else:
            head = f"min |change| {min(changes) if changes else 0.0:.4g}"
        return CheckResult("BNR002", "pass", figure, f"{head}; {judged}, after {how}{notes}",
                           margin=min(margins) if margins else None)
    parts = []
    for status, words in (("unchanged", "left unchanged"), ("moved too little", "moved by under their threshold"),
                          ("frozen but changed", "changed although frozen")):
        hit = [r for r in rows if r["status"].startswith(status)]
        if hit:
            parts.append(f"{len(hit)} statistics of {', '.join(dict.fromkeys(r['layer'] for r in hit))} {words}")
    worst = [r for r in rows if "threshold" in r and r["expected"] > 0]
    short = ""
    if worst:
        w = min(worst, key=lambda r: r["margin"])
        short = (f"; worst {w['layer']}/{w['variable']} moved {w['max_abs_change']:.3g} where one step "
                 f"should move it {w['expected']:.3g} (threshold {w['threshold']:.3g})")
    return CheckResult("BNR002", "fail", figure, f"{'; '.join(parts)} by {how}{short}; {judged}{notes}", rows,
                       margin=min(margins) if margins else None)


def _observables(subject: Subject, stats: list[Stat], obs: Observation) -> dict[Any, tuple[str, np.ndarray]]:
    """Everything one observation lets the checks compare: each output, each layer call's output."""
    names = {s.key: s.layer for s in stats}
    out: dict[Any, tuple[str, np.ndarray]] = {}
    for i, o in enumerate(obs.outputs):
        out[("output", i)] = (f"output {i}", o)
    for key, calls in obs.layers.items():
        for c, arr in enumerate(calls):
            label = names.get(key, "?") + (f" (call {c + 1})" if len(calls) > 1 else "")
            out[(key, c)] = (label, arr)
    return out


def _inverse(ratio: float) -> float:
    return 1.0 / ratio if ratio > 0 else float("inf")


def _scaled(inputs: dict, scale: float) -> dict:
    return {k: (v * scale).astype(v.dtype) if v.dtype.kind == "f" else v for k, v in inputs.items()}


def _informative_inputs(subject: Subject, inputs: dict, reference: Observation,
                        sees_layers: bool) -> tuple[dict, Observation, str]:
    """Inputs on which the model's outputs can show a change, and a note on what was done.

    Where the check sees each layer's own output, a saturated model output does not
    matter and is only reported. Where it sees only the model's outputs, inputs scaled
    down often bring untrained logits back out of saturation.
    """
    why = degenerate(reference.outputs)
    if why is None:
        return inputs, reference, ""
    if sees_layers:
        return inputs, reference, (f"; the model's output is {why} on the audit inputs, which would hide "
                                   "the effect: the layers' own outputs decide")
    if any(v.dtype.kind == "f" for v in inputs.values()):
        for scale in (0.1, 0.01, 0.001):
            scaled = _scaled(inputs, scale)
            obs = subject.observe(scaled)
            if degenerate(obs.outputs) is None:
                return scaled, obs, (f"; the model's output is {why} on the audit inputs, so measured on "
                                     f"them scaled by {scale:g}")
    return inputs, reference, (f"; the model's output is {why} on the audit inputs and on them scaled down "
                               "to 0.001, which can hide the effect")


def _sees_all(subject: Subject, stats: list[Stat], obs: Observation) -> bool:
    return bool(stats) and all(s.key in obs.layers for s in stats)


def _where(subject: Subject, stats: list[Stat], obs: Observation) -> str:
    n = len({s.key for s in stats if s.key in obs.layers})
    if n and _sees_all(subject, stats, obs):
        return f"compared at the model's outputs and each of {n} statistics layers' own outputs"
    if n:
        return (f"compared at the model's outputs and {n} statistics layers' own outputs "
                "(the others' outputs could not be traced)")
    return f"compared at the model's outputs only ({subject.outputs_only_reason})"


def check_batch_dependence(subject: Subject, inputs: dict, tol: Tolerance,
                           stats: list[Stat] | None = None) -> CheckResult:
    """BNR003: a sample's output must not depend on the rest of its batch.

    Compared at the model's outputs and, for Keras models, at every statistics layer's
    own output, each against ``atol + rtol * max|that tensor|``.
    """
    stats = stats or []
    if not subject.batch_flexible:
        return CheckResult("BNR003", "skipped", None, "the inputs have a fixed batch size")
    if batch_size_of(inputs) < 2:
        return CheckResult("BNR003", "skipped", None, "needs a batch of at least 2 samples")
    reference = subject.observe(inputs)
    inputs, reference, note = _informative_inputs(subject, inputs, reference, _sees_all(subject, stats, reference))
    n = batch_size_of(inputs)
    ref = {k: v for k, v in _observables(subject, stats, reference).items() if v[1].ndim and v[1].shape[0] == n}
    bounds = {k: tol.bound([arr]) for k, (_, arr) in ref.items()}
    worst: dict[Any, dict] = {}
    labels = []
    for label, batch, pairs in compositions(inputs):
        labels.append(label)
        got = _observables(subject, stats, subject.observe(batch))
        pos = np.array([p for p, _ in pairs])
        ref_idx = np.array([q for _, q in pairs])
        m = batch_size_of(batch)
        for key, (name, r) in ref.items():
            o = got.get(key, (None, None))[1]
            if o is None or not o.ndim or o.shape[0] != m:
                continue
            diff = _max_change(o[pos], r[ref_idx])
            entry = worst.setdefault(key, {"where": name, "batch": [], "max_abs_diff": 0.0,
                                           "tolerance": bounds[key]})
            if diff > bounds[key]:
                entry["batch"].append(label)
            entry["max_abs_diff"] = max(entry["max_abs_diff"], diff)
    where = _where(subject, stats, reference)
    for entry in worst.values():
        entry["ratio"] = entry["max_abs_diff"] / entry["tolerance"]
    top = max(worst.values(), key=lambda e: e["ratio"], default=None)
    if top is None:
        return CheckResult("BNR003", "skipped", None, "no output with a batch dimension to compare")
    bad = sorted((e for e in worst.values() if e["batch"]), key=lambda e: -e["ratio"])
    if not bad:
        return CheckResult("BNR003", "pass", top["max_abs_diff"],
                           f"max |diff| {top['max_abs_diff']:.3g} (tolerance {top['tolerance']:.3g}, "
                           f"{top['ratio']:.2g} of it) at {top['where']}, across {len(labels)} batch "
                           f"compositions incl. a batch of one; {where}{note}",
                           margin=_inverse(top["ratio"]))
    rows = [{"where": e["where"], "batch": ", ".join(e["batch"]), "max_abs_diff": e["max_abs_diff"],
             "tolerance": e["tolerance"], "over_by": e["ratio"]} for e in bad]
    shown = ", ".join(f"{e['where']} ({e['ratio']:.3g}x)" for e in bad[:4]) + (" ..." if len(bad) > 4 else "")
    comps = list(dict.fromkeys(c for e in bad for c in e["batch"]))
    return CheckResult("BNR003", "fail", top["max_abs_diff"],
                       f"max |diff| {top['max_abs_diff']:.4g} > tolerance {top['tolerance']:.3g} at "
                       f"{top['where']}: {len(bad)} tensors change with {', '.join(comps)}; over their "
                       f"tolerance by {shown}; {where}{note}", rows, margin=_inverse(top["ratio"]))


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


def _perturb(s: Stat, value: np.ndarray, direction: int = 1) -> np.ndarray:
    # The other direction (a lower mean, a smaller variance) raises the layer's output: it
    # reaches the model's outputs through ReLUs that the first direction keeps dead.
    if "var" in s.variable.lower():
        return (value * 4 + 1 if direction > 0 else value * 0.25).astype(value.dtype)
    return (value + direction * (1 + np.abs(value))).astype(value.dtype)


def _scale_is_zero(owner: Any) -> bool:
    """A batch norm whose gamma is all zero outputs beta whatever its statistics say."""
    gamma = getattr(owner, "gamma", None)
    if gamma is None:
        return False
    try:
        return bool(np.all(np.asarray(gamma.numpy()) == 0))
    except Exception:  # noqa: BLE001 - not a variable: nothing to conclude
        return False


def _perturbed(subject: Subject, probe: dict, stats: list[Stat], idx: list[int], original: list[np.ndarray],
               key: Any, direction: int) -> Observation:
    """One observation with the statistics ``idx`` of one layer perturbed, then put back."""
    for i in idx:
        stats[i].write(_perturb(stats[i], original[i], direction))
    try:
        return subject.observe(probe, only={key})
    finally:
        for i in idx:
            stats[i].write(original[i])


def check_stats_used(subject: Subject, inputs: dict, stats: list[Stat], tol: Tolerance) -> CheckResult:
    """BNR005: perturbing a layer's moving statistics must move that layer's inference output.

    For Keras models each layer's own output (traced inside the real ``model(x,
    training=False)``) is compared, against ``atol + rtol * max|that output|``. Where a
    layer's output cannot be seen (SavedModels, TF1 graphs), the model's outputs are, and
    any move beyond the run-to-run noise counts: a layer that ignores its statistics
    leaves them bitwise unchanged.
    """
    if not stats:
        return CheckResult("BNR005", "skipped", None, NO_STATISTICS)
    probe = take(inputs, slice(0, min(4, batch_size_of(inputs))))
    reference = subject.observe(probe)
    probe, reference, note = _informative_inputs(subject, probe, reference, _sees_all(subject, stats, reference))
    groups: dict[Any, list[int]] = {}
    for i, s in enumerate(stats):
        groups.setdefault(s.key, []).append(i)
    noise = None
    if not all(k in reference.layers for k in groups):
        noise = _out_diff(subject.observe(probe).outputs, reference.outputs)
    original = [s.read() for s in stats]
    dead_output = degenerate(reference.outputs)
    results, skipped, unreached = [], [], []
    try:
        for key, idx in groups.items():
            layer = stats[idx[0]].layer
            owner = stats[idx[0]].owner
            if owner is not None and _scale_is_zero(owner):
                skipped.append(layer)
                continue
            obs = _perturbed(subject, probe, stats, idx, original, key, 1)
            if key in reference.layers and key in obs.layers:
                change = max(_max_change(a, b) for a, b in zip(obs.layers[key], reference.layers[key]))
                threshold = tol.bound(reference.layers[key])
                measured, passed = "its output", change > threshold
                margin = change / threshold
            else:
                threshold = noise or 0.0
                change = _out_diff(obs.outputs, reference.outputs)
                if change <= threshold:
                    other = _perturbed(subject, probe, stats, idx, original, key, -1)
                    change = max(change, _out_diff(other.outputs, reference.outputs))
                measured, passed = "model output", change > threshold
                # Against no noise at all any change is a real dependence: an infinite margin.
                margin = change / threshold if threshold > 0 else (float("inf") if passed else 0.0)
                if not passed and dead_output:
                    unreached.append(layer)  # a degenerate output cannot witness: not judged
                    continue
            results.append({"layer": layer, "variables": [stats[i].variable for i in idx],
                            "max_output_change": change, "threshold": threshold, "measured_at": measured,
                            "margin": margin, "ok": passed})
    finally:
        _restore(stats, original)
    skip_note = (f"; {len(skipped)} layers with an all-zero scale (gamma) not judged: their output "
                 f"does not depend on their statistics ({', '.join(skipped[:3])}{' ...' if len(skipped) > 3 else ''})"
                 if skipped else "")
    if unreached:
        skip_note += (f"; {len(unreached)} layers not judged: the model's output is {dead_output} and "
                      f"perturbing their statistics either way does not reach it ({', '.join(unreached[:3])}"
                      f"{' ...' if len(unreached) > 3 else ''})")
    if not results:
        return CheckResult("BNR005", "skipped", None,
                           f"no layer whose output can be seen to depend on its statistics{skip_note}")
    n_out = sum(r["measured_at"] == "model output" for r in results)
    if not n_out:
        how = "measured at each layer's own output"
    else:
        how = (f"measured at the model's outputs for {n_out} layers ({subject.outputs_only_reason}; any move "
               f"beyond the run-to-run noise {noise or 0.0:.3g} counts)")
        if n_out < len(results):
            how += f", at their own output for {len(results) - n_out}"
    bad = sorted((r for r in results if not r["ok"]), key=lambda r: r["margin"])
    weakest = min(results, key=lambda r: (r["margin"], r["max_output_change"]))
    if not bad:
        beyond = (f"{weakest['margin']:.3g}x its threshold {weakest['threshold']:.3g}"
                  if weakest["threshold"] > 0 else "where a layer that ignores its statistics moves it by 0")
        return CheckResult("BNR005", "pass", weakest["max_output_change"],
                           f"weakest {weakest['layer']} moved {weakest['max_output_change']:.4g}, {beyond}, "
                           "when perturbing "
                           f"each of {len(results)} layers' moving statistics; {how}{note}{skip_note}",
                           margin=weakest["margin"])
    rows = [{k: v for k, v in r.items() if k != "ok"} for r in bad]
    shown = ", ".join(f"{r['layer']} ({r['max_output_change']:.3g} <= {r['threshold']:.3g})" for r in bad[:4])
    return CheckResult("BNR005", "fail", bad[0]["max_output_change"],
                       f"output moves by at most its threshold when the moving statistics of {len(bad)} of "
                       f"{len(results)} layers are perturbed: {shown}{' ...' if len(bad) > 4 else ''}; "
                       f"{how}{note}{skip_note}", rows, margin=bad[0]["margin"])
