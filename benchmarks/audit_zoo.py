"""Audit every ``keras.applications`` family, clean and with each batch-norm bug injected.

For each architecture in :data:`bnlint.audit.zoo.ARCHITECTURES` (``weights=None``, the
smallest input size it accepts, on the CPU) prints the clean verdict with the weakest
margin of each check, then for each injected bug the checks that failed, whether they are
exactly those the bug breaks, and the times. ``--legacy`` audits tf_keras applications
(in a child process with TF_USE_LEGACY_KERAS=1); ``--saved-model`` also exports the
named architectures with ``model.export`` and audits the SavedModels, clean and forced
into training mode. Exit 1 when any verdict is not the expected one.

Run: ``python benchmarks/audit_zoo.py [--only ResNet50,MobileNetV2] [--clean-only]``
``[--legacy ResNet50,MobileNetV2] [--saved-model MobileNetV2]``. Families Keras 3 does not
ship (ResNetRS, RegNet) are always audited as tf_keras applications.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CHECKS = ("BNR001", "BNR002", "BNR003", "BNR004", "BNR005")


def _cell(check) -> str:
    if check.status == "skipped":
        return "skip"
    if check.margin is None:
        margin = ""
    elif check.margin == float("inf"):
        # BNR003: no difference at all; BNR005 at a SavedModel's outputs: any move against zero noise.
        margin = " exact" if check.code == "BNR003" else " inf"
    else:
        margin = f" {check.margin:.3g}x"
    return f"{check.status}{margin}"


def audit_one(label: str, model, expected_fail: set[str], build_s: float) -> bool:
    """Audit ``model``, print one line, return whether the failed checks are exactly the expected."""
    from bnlint.audit import audit_model

    t = time.perf_counter()
    report = audit_model(model, target=label, device="cpu")
    audit_s = time.perf_counter() - t
    failed = {c.code for c in report.checks if c.status == "fail"}
    ok = failed == expected_fail
    cells = "  ".join(f"{c.code} {_cell(c):<14}" for c in report.checks)
    verdict = "ok" if ok else (f"UNEXPECTED (failed {sorted(failed) or 'none'}, "
                               f"expected {sorted(expected_fail) or 'none'})")
    print(f"{label:<36} {cells} build {build_s:5.1f}s audit {audit_s:6.1f}s  {verdict}", flush=True)
    if not ok or os.environ.get("BNLINT_ZOO_VERBOSE"):
        for c in report.checks:
            print(f"    {c.code} {c.status}: {c.summary[:600]}", flush=True)
    return ok


def run_keras(names: list[str], bugs: list[str], legacy: bool, sizes: dict[str, int] | None = None) -> bool:
    from bnlint.audit import zoo

    sizes = sizes or {}
    k = zoo.keras_module(legacy)
    all_ok = True
    for name in names:
        for bug in [None, *bugs]:
            side = sizes.get(name)
            label = (f"{name}{f' {side}x{side}' if side else ''}{'+' + bug if bug else ''}"
                     f"{' (tf_keras)' if legacy else ''}")
            t = time.perf_counter()
            model = zoo.factory(name, bug, legacy, side)()
            build_s = time.perf_counter() - t
            has_bn = any(zoo.is_bn_layer(layer) for layer in model.layers)
            expected = zoo.EXPECTED[bug] if bug and has_bn else set()
            if bug and not has_bn:
                label += " (no BN: nothing to inject)"
            all_ok &= audit_one(label, model, expected, build_s)
            del model
            k.backend.clear_session()
            gc.collect()
    return all_ok


def run_saved(names: list[str]) -> bool:
    from bnlint.audit import zoo

    all_ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for bug in (None, "forced_training"):
                label = f"{name}{'+' + bug if bug else ''} (SavedModel)"
                t = time.perf_counter()
                model = zoo.factory(name, bug)()
                path = os.path.join(tmp, label.replace(" ", "_").replace("+", "_"))
                zoo.export(model, path)
                build_s = time.perf_counter() - t
                # No training step in a SavedModel: BNR002 is skipped; BNR004 reads the exported graph.
                expected = zoo.EXPECTED_SAVED[bug] if bug else set()
                all_ok &= audit_one(label, path, expected, build_s)
    return all_ok


def main() -> int:
    from bnlint.audit import zoo

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma-separated architectures (default: all)")
    p.add_argument("--clean-only", action="store_true", help="no injected bugs")
    p.add_argument("--legacy", help="comma-separated architectures to audit as tf_keras applications")
    p.add_argument("--saved-model", help="comma-separated architectures to export and audit as SavedModels")
    p.add_argument("--size", action="append", default=[], metavar="NAME=SIDE",
                   help="build NAME at SIDE x SIDE instead of its smallest input (repeatable)")
    p.add_argument("--child-legacy", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    names = args.only.split(",") if args.only else list(zoo.ARCHITECTURES)
    unknown = [n for n in names if n not in zoo.ARCHITECTURES]
    if unknown:
        print(f"audit_zoo: unknown architecture(s) {', '.join(unknown)}; known: {', '.join(zoo.ARCHITECTURES)}",
              file=sys.stderr)
        return 2
    bugs = [] if args.clean_only else list(zoo.INJECTIONS)
    try:
        sizes = {k: int(v) for k, _, v in (item.partition("=") for item in args.size)}
    except ValueError:
        print("audit_zoo: --size takes NAME=SIDE, e.g. --size MobileNetV2=96", file=sys.stderr)
        return 2
    if args.child_legacy:
        return 0 if run_keras(names, bugs, legacy=True, sizes=sizes) else 1
    # Families Keras 3 lacks (ResNetRS, RegNet) are audited as tf_keras applications.
    legacy = [n for n in (args.legacy.split(",") if args.legacy else []) if n in zoo.ARCHITECTURES]
    legacy += [n for n in names if not zoo.available(n) and n not in legacy]
    names = [n for n in names if zoo.available(n)]

    import keras
    import tensorflow as tf

    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, CPU, batch 8; margins: how many times "
          "its threshold the weakest layer clears (BNR002, BNR003, BNR005)", flush=True)
    t0 = time.perf_counter()
    ok = run_keras(names, bugs, legacy=False, sizes=sizes)
    if args.saved_model:
        ok &= run_saved(args.saved_model.split(","))
    if legacy:
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
        argv = [sys.executable, __file__, "--child-legacy", "--only", ",".join(legacy)]
        if args.clean_only:
            argv.append("--clean-only")
        argv += [f"--size={item}" for item in args.size]
        ok &= subprocess.run(argv, env=env, check=False).returncode == 0
    verdict = "every verdict as expected" if ok else "UNEXPECTED verdicts above"
    print(f"total {time.perf_counter() - t0:.0f}s: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
