"""``bnlint audit`` as a user runs it: formats, exit codes, error messages."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from bnlint.audit.cli import main

from audit_helpers import KERAS_MODELS, ROOT, SARIF_SCHEMA, TF1_GRAPHS, clean_env

CNN = f"{KERAS_MODELS}:cnn"
FORCED = f"{KERAS_MODELS}:forced_training"


def run(capsys, *argv):
    code = main([*argv, "--device", "cpu"])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_report_one_line_per_check_and_exit_0(capsys):
    code, out, _ = run(capsys, CNN)
    assert code == 0
    lines = [ln for ln in out.splitlines() if ln.startswith("BNR")]
    assert [ln.split()[0] for ln in lines] == ["BNR001", "BNR002", "BNR003", "BNR004", "BNR005"]
    assert all(ln.split()[2] == "PASS" for ln in lines)
    assert "device CPU:0" in out and out.rstrip().endswith("audit passed")


def test_json_report_keys_and_exit_1(capsys):
    code, out, _ = run(capsys, FORCED, "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert list(data) == ["target", "device", "tensorflow_version", "keras_version", "checks", "findings"]
    assert data["target"] == FORCED and data["device"] == "CPU:0"
    for check in data["checks"]:
        assert list(check) == ["code", "name", "status", "figure", "details"]
        assert check["status"] in {"pass", "fail", "skipped"}
        assert isinstance(check["figure"], (int, float))
    assert [f["code"] for f in data["findings"]] == ["BNR001", "BNR003", "BNR004", "BNR005"]
    for finding in data["findings"]:
        assert list(finding) == ["code", "name", "message", "filename", "location", "end_location",
                                 "fix", "noqa_row", "url"]
        assert finding["filename"] == FORCED
        assert finding["location"] == {"row": 1, "column": 1}
        assert finding["fix"] is None
    bnr001 = data["findings"][0]
    assert bnr001["name"] == "inference-updates-moving-stats" and "max |change|" in bnr001["message"]


def test_text_report_has_a_per_layer_table_for_failures(capsys):
    code, out, _ = run(capsys, FORCED)
    assert code == 1
    assert "BNR001 inference-updates-moving-stats       FAIL" in out
    table = out.split("BNR005 moving-stats-ignored-at-inference:")[1]
    assert "inner_bn" in table and "max_output_change" in table
    assert out.rstrip().endswith("audit failed: 4 check(s) failed")


def test_sarif_is_valid(capsys):
    jsonschema = pytest.importorskip("jsonschema")
    code, out, _ = run(capsys, FORCED, "--format", "sarif")
    assert code == 1
    sarif = json.loads(out)
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    results = sarif["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["BNR001", "BNR003", "BNR004", "BNR005"]


def test_github_annotations(capsys):
    code, out, _ = run(capsys, FORCED, "--format", "github", "--select", "BNR001,BNR002")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 1
    target = FORCED.replace(":", "%3A")
    assert lines[0].startswith(
        f"::error file={target},line=1,col=1,title=BNR001 (inference-updates-moving-stats)::")


def test_keras_file_target_and_npz_inputs(capsys, tmp_path, keras_models):
    path = tmp_path / "cnn.keras"
    keras_models.cnn().save(path)
    npz = tmp_path / "inputs.npz"
    np.savez(npz, image=np.random.default_rng(0).standard_normal((4, 8, 8, 3)).astype("float32"))
    code, out, _ = run(capsys, str(path), "--inputs", str(npz), "--format", "json")
    assert code == 0
    assert {c["status"] for c in json.loads(out)["checks"]} == {"pass"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["missing.keras"], "missing.keras: no such file or directory"),
        ([f"{KERAS_MODELS}:nope"], "has no callable 'nope'"),
        ([f"{KERAS_MODELS}:no_input_signature"], "pass --input-shape"),
        ([CNN, "--select", "BNR009"], "unknown check code(s): BNR009"),
        ([CNN, "--inputs", "nowhere.npz"], "--inputs nowhere.npz: cannot read"),
        ([CNN, "--input-shape", "4,4"], "does not fit input"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("bnlint audit: error: ")
    assert message in err and "Traceback" not in err


def test_bad_option_exits_2(capsys):
    assert main(["--format", "xml", CNN]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_device_gpu(capsys):
    import tensorflow as tf

    code = main([CNN, "--device", "gpu", "--select", "BNR001"])
    out, err = capsys.readouterr()
    if tf.config.list_physical_devices("GPU"):
        assert code == 0 and "device GPU:0" in out
    else:
        assert code == 2
        assert "--device gpu: TensorFlow sees no GPU" in err


def test_tf1_target_reruns_with_legacy_keras(capsys):
    # This process runs Keras 3, so the CLI re-runs itself with TF_USE_LEGACY_KERAS=1.
    code = main([f"{TF1_GRAPHS}:without_update_ops", "--device", "cpu", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "re-running with TF_USE_LEGACY_KERAS=1" in err
    assert [f["code"] for f in json.loads(out)["findings"]] == ["BNR002"]


BLOCK_TF = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tensorflow", "keras"}:
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, Block())
from bnlint.audit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_tensorflow_prints_how_to_install():
    proc = subprocess.run([sys.executable, "-c", BLOCK_TF, CNN], capture_output=True, text=True,
                          env=clean_env(), cwd=ROOT, timeout=60, check=False)
    assert proc.returncode == 2
    assert 'pip install "bnlint[audit]"' in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_importing_the_audit_does_not_import_tensorflow():
    code = ("import sys, bnlint.audit, bnlint.audit.cli, bnlint.audit.pytest_plugin, bnlint.audit.report;"
            "sys.exit(1 if 'tensorflow' in sys.modules or 'keras' in sys.modules else 0)")
    proc = subprocess.run([sys.executable, "-c", code], env=clean_env(), cwd=ROOT, timeout=60,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
