"""The ``bn_audit`` fixture, as a user's test suite sees it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from audit_helpers import MODELS, ROOT, clean_env

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

USER_TESTS = f"""
import sys
sys.path.insert(0, {str(MODELS)!r})
import keras_models


def test_good_model(bn_audit):
    bn_audit(keras_models.mlp(), device="cpu")


def test_buggy_model(bn_audit):
    bn_audit(keras_models.forced_training(), device="cpu")


def test_allowed_failure(bn_audit):
    report = bn_audit(keras_models.stale_stats(), device="cpu", allow=["BNR002"])
    assert report.check("BNR002").status == "fail"
"""


def test_fixture_passes_and_fails_user_tests(tmp_path):
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    # Autoload off and -p on: the same plugin whether or not bnlint is pip-installed here.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "bnlint.audit.pytest_plugin", "-q", "-p", "no:cacheprovider",
         str(tmp_path / "test_user.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
        env=clean_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"),
    )
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "2 passed" in out and "1 failed" in out
    assert "bnlint audit failed BNR001, BNR003, BNR004, BNR005" in out
    assert "FAILED test_user.py::test_buggy_model" in out


def test_plugin_is_registered_as_a_pytest_entry_point():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["pytest11"] == {"bnlint_audit": "bnlint.audit.pytest_plugin"}
    assert "bnlint.audit" in pyproject["tool"]["setuptools"]["packages"]
