"""Shared fixtures for the runtime audit's tests: real TensorFlow on the CPU, tiny models.

Keras 3 models are audited in this process; TF1 graphs need TF_USE_LEGACY_KERAS=1 set
before TensorFlow is imported, so they are audited in one subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# audit_helpers also puts fixtures/models on sys.path for `import keras_models`.
from audit_helpers import TF1_GRAPHS, clean_env


@pytest.fixture(scope="session")
def keras_models():
    """The fixture module of Keras models (imports TensorFlow)."""
    import keras_models as km

    return km


_REPORTS: dict[str, object] = {}


@pytest.fixture(scope="session")
def keras_report(keras_models):
    """``keras_report(name)``: the audit report of factory ``name``, computed once per session."""
    from bnlint.audit import audit_model

    def get(name: str):
        if name not in _REPORTS:
            _REPORTS[name] = audit_model(getattr(keras_models, name)(), target=name, device="cpu")
        return _REPORTS[name]

    return get


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory, keras_models):
    """SavedModels exported with BN called with training=True and training=False."""
    base = tmp_path_factory.mktemp("saved")
    return {
        True: keras_models.export_saved_model(base / "training_true", training=True),
        False: keras_models.export_saved_model(base / "training_false", training=False),
    }


TF1_SCRIPT = """
import json, sys
from bnlint.audit import audit_target
out = {}
for name in sys.argv[1:]:
    out[name] = audit_target(f"{PATH}:{name}", device="cpu").to_json()
print("JSON:" + json.dumps(out))
"""


@pytest.fixture(scope="session")
def tf1_reports():
    """JSON reports of the TF1 graph fixtures, audited in one TF_USE_LEGACY_KERAS=1 process."""
    names = ["with_update_ops", "without_update_ops", "ema_outside_cond"]
    script = TF1_SCRIPT.replace("{PATH}", str(TF1_GRAPHS).replace("\\", "/"))
    proc = subprocess.run([sys.executable, "-c", script, *names], capture_output=True, text=True,
                          env=clean_env(TF_USE_LEGACY_KERAS="1"), timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("JSON:"))
    return json.loads(line[5:])
