"""``bnlint audit``: the runtime audit's command line.

``bnlint.cli`` dispatches ``bnlint audit ARGS...`` to :func:`main`; ``python -m
bnlint.audit.cli ARGS...`` runs it directly (the CLI re-runs itself that way when a
target needs ``TF_USE_LEGACY_KERAS=1`` and TensorFlow is already imported).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import warnings

from .errors import AuditError, TensorFlowMissing
from .report import CHECKS, FORMATS
from .tfenv import LEGACY_KERAS_ENV, legacy_keras_active, tensorflow, tensorflow_imported


def build_parser() -> argparse.ArgumentParser:
    """The ``bnlint audit`` argument parser."""
    p = argparse.ArgumentParser(
        prog="bnlint audit",
        description="Run a real model and prove its batch normalization behaves: moving statistics "
        "frozen at inference (BNR001), updated by training (BNR002), no batch dependence at "
        "inference (BNR003), no training-mode BN in serving graphs (BNR004), moving statistics "
        "used at inference (BNR005).",
    )
    p.add_argument("target", metavar="TARGET",
                   help="a .keras/.h5 file, a SavedModel directory, or path/to/file.py:factory / "
                   "package.module:factory (runs that code)")
    p.add_argument("--format", choices=FORMATS, default="text", help="report format (default: text)")
    p.add_argument("--inputs", metavar="FILE.npz", help="inputs to use instead of synthesised ones")
    p.add_argument("--batch-size", type=int, default=8, help="samples per synthesised batch (default: 8)")
    p.add_argument("--seed", type=int, default=0, help="seed for synthesised inputs (default: 0)")
    p.add_argument("--input-shape", action="append", metavar="[NAME=]D1,D2,...",
                   help="shape of one sample (no batch dimension) for inputs with unknown dimensions; "
                   "repeat with NAME= for several inputs")
    p.add_argument("--device", choices=("cpu", "gpu", "auto"), default="auto",
                   help="where to run: gpu needs a visible GPU; auto uses one if visible (default)")
    p.add_argument("--select", metavar="CODES",
                   help=f"comma-separated checks to run (default: all of {', '.join(CHECKS)})")
    p.add_argument("--atol", type=float, help="absolute output tolerance for BNR003/BNR005")
    p.add_argument("--rtol", type=float, help="tolerance relative to the largest output, for BNR003/BNR005")
    p.add_argument("--legacy-keras", action="store_true",
                   help=f"run with {LEGACY_KERAS_ENV}=1 (tf_keras), as TF1 graphs built with "
                   "tf.compat.v1.layers need")
    p.add_argument("--unsafe-load", action="store_true",
                   help="let a .keras/.h5 TARGET run the Python code it holds (Lambda layers) while "
                   "loading; only for files you trust")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``bnlint audit``; return 0 (all checks pass), 1 (a check failed) or 2 (could not audit)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage and the error
        return int(exc.code or 0)

    if args.legacy_keras and not legacy_keras_active():
        if tensorflow_imported():
            return _rerun_legacy(argv)
        os.environ[LEGACY_KERAS_ENV] = "1"
    try:
        return _audit(args)
    except AuditError as exc:
        message = str(exc)
        wants_tf_keras = "not available with Keras 3" in message or "with Keras 3" in message
        if wants_tf_keras and not isinstance(exc, TensorFlowMissing) and not legacy_keras_active():
            # tf.compat.v1.layers refuse to run under Keras 3: the target wants tf_keras.
            print(f"bnlint audit: note: {args.target} needs tf_keras; re-running with "
                  f"{LEGACY_KERAS_ENV}=1 (pass --legacy-keras to skip this)", file=sys.stderr)
            return _rerun_legacy(argv)
        print(f"bnlint audit: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bnlint audit: interrupted", file=sys.stderr)
        return 2


def _audit(args: argparse.Namespace) -> int:
    tensorflow()
    _quiet()
    from .api import audit_target

    try:
        report = audit_target(
            args.target,
            inputs=args.inputs,
            batch_size=args.batch_size,
            seed=args.seed,
            input_shape=args.input_shape,
            device=args.device,
            select=[c.strip() for c in args.select.split(",") if c.strip()] if args.select else None,
            atol=args.atol,
            rtol=args.rtol,
            unsafe_load=args.unsafe_load,
        )
    except ImportError as exc:
        if legacy_keras_active():
            raise AuditError(f"{LEGACY_KERAS_ENV}=1 needs tf_keras: pip install --no-deps tf_keras ({exc})") from None
        raise AuditError(f"{args.target}: {exc}") from None
    sys.stdout.write(report.format(args.format))
    sys.stdout.flush()
    return report.exit_code


def _quiet() -> None:
    # The report is the output: TensorFlow's deprecation chatter would drown it.
    warnings.simplefilter("ignore")
    try:
        import absl.logging  # noqa: PLC0415

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass
    tensorflow().get_logger().setLevel("ERROR")


def _rerun_legacy(argv: list[str]) -> int:
    env = {**os.environ, LEGACY_KERAS_ENV: "1"}
    proc = subprocess.run([sys.executable, "-m", "bnlint.audit.cli", *argv], env=env,
                          capture_output=True, text=True, check=False)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
