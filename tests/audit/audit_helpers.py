"""Paths and helpers shared by the audit tests (a plain module: conftest names clash)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "fixtures" / "models"
KERAS_MODELS = MODELS / "keras_models.py"
TF1_GRAPHS = MODELS / "tf1_graphs.py"
SARIF_SCHEMA = Path(__file__).with_name("sarif-2.1.0.json")

if str(MODELS) not in sys.path:
    sys.path.insert(0, str(MODELS))


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: this one without a stray legacy-Keras switch."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env
