"""Running bnlint as a real process from the tests, installed or straight from the checkout."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def subprocess_env() -> dict[str, str]:
    """The environment for ``python -m bnlint``: the checkout on PYTHONPATH when bnlint is not installed."""
    env = dict(os.environ)
    try:
        importlib.metadata.distribution("bnlint")
    except importlib.metadata.PackageNotFoundError:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env
