"""Every check against a passing and a failing real Keras model."""

from __future__ import annotations

import math

import numpy as np
import pytest

ALL = ["BNR001", "BNR002", "BNR003", "BNR004", "BNR005"]


@pytest.mark.parametrize("name", ["cnn", "mlp", "frozen_finetune"])
def test_correct_models_pass_every_check(keras_report, name):
    report = keras_report(name)
    assert report.status() == {code: "pass" for code in ALL}
    assert report.ok and report.exit_code == 0
    assert report.findings() == []


def test_forced_training_wrapper_fails_inference_checks(keras_report):
    report = keras_report("forced_training")
    assert report.status() == {"BNR001": "fail", "BNR002": "pass", "BNR003": "fail",
                               "BNR004": "fail", "BNR005": "fail"}
    assert report.exit_code == 1
    assert [f.code for f in report.findings()] == ["BNR001", "BNR003", "BNR004", "BNR005"]


def test_bnr001_reports_the_change_per_variable(keras_report):
    fail = keras_report("forced_training").check("BNR001")
    assert fail.figure > 0
    assert {(r["layer"], r["variable"]) for r in fail.rows} == {
        ("inner_bn", "moving_mean"), ("inner_bn", "moving_variance")}
    assert all(r["max_abs_change"] > 0 and "model(x, training=False)" in r["changed_by"] for r in fail.rows)
    ok = keras_report("cnn").check("BNR001")
    assert ok.figure == 0.0
    assert "model.predict(x)" in ok.summary and "model.evaluate(x, y)" in ok.summary


def test_bnr002_fails_for_statistics_that_never_update(keras_report):
    report = keras_report("stale_stats")
    assert report.check("BNR002").status == "fail"
    assert report.check("BNR002").figure == 0.0
    assert {r["variable"] for r in report.check("BNR002").rows} == {"running_mean", "running_var"}
    assert "stale_norm" in report.check("BNR002").summary
    # Its inference path is sound: only the training check fails.
    assert [c.code for c in report.checks if c.status == "fail"] == ["BNR002"]


def test_bnr002_passes_with_a_real_change_and_reports_frozen_layers(keras_report):
    cnn = keras_report("cnn").check("BNR002")
    assert cnn.figure > 0 and "train_on_batch" in cnn.summary
    frozen = keras_report("frozen_finetune").check("BNR002")
    assert frozen.status == "pass"
    assert "2 frozen (trainable=False) statistics" in frozen.summary


def test_bnr003_reports_the_observed_difference(keras_report):
    fail = keras_report("forced_training").check("BNR003")
    assert fail.figure > 0.01
    assert any("batch of one" in r["batch"] for r in fail.rows)
    assert all(r["max_abs_diff"] > r["tolerance"] for r in fail.rows)
    ok = keras_report("cnn").check("BNR003")
    assert isinstance(ok.figure, float) and ok.figure < 1e-4


def test_bnr004_names_the_assign_nodes(keras_report):
    fail = keras_report("forced_training").check("BNR004")
    assert fail.figure == 2
    assert all(r["op"] == "AssignVariableOp" and "inner_bn" in r["node"] for r in fail.rows)
    assert {r["variable"].split("/")[-1] for r in fail.rows} == {"moving_mean", "moving_variance"}
    assert keras_report("mlp").check("BNR004").figure == 0


def test_bnr005_fails_when_inference_ignores_the_statistics(keras_report):
    fail = keras_report("forced_training").check("BNR005")
    assert fail.figure == 0.0
    assert fail.rows[0]["layer"] == "inner_bn"
    ok = keras_report("mlp").check("BNR005")
    assert ok.figure > 0.01


def test_figures_are_numbers(keras_report):
    for name in ["cnn", "forced_training", "stale_stats"]:
        for check in keras_report(name).checks:
            assert isinstance(check.figure, (int, float)) and math.isfinite(check.figure)


def test_audit_restores_the_model(keras_models):
    from bnlint.audit import audit_model

    model = keras_models.cnn()
    before = [v.numpy().copy() for v in model.variables]
    audit_model(model, device="cpu", select=["BNR002", "BNR005", "BNR001"])
    after = [v.numpy() for v in model.variables[: len(before)]]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_explicit_inputs_and_select(keras_models):
    from bnlint.audit import audit_model

    x = np.random.default_rng(3).standard_normal((4, 6)).astype("float32")
    report = audit_model(keras_models.forced_training(), inputs=x, device="cpu", select=["bnr003"])
    assert [c.code for c in report.checks] == ["BNR003"]
    assert report.check("BNR003").status == "fail"


def test_subclassed_model_with_input_shape(keras_models):
    from bnlint.audit import AuditError, audit_model

    with pytest.raises(AuditError, match="--input-shape"):
        audit_model(keras_models.no_input_signature(), device="cpu")
    report = audit_model(keras_models.no_input_signature(), input_shape="5", device="cpu")
    assert report.status() == {code: "pass" for code in ALL}


def test_model_without_batch_norm_skips_statistics_checks(keras_models):
    import keras

    from bnlint.audit import audit_model

    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2)(inp))
    report = audit_model(model, device="cpu")
    assert report.status() == {"BNR001": "skipped", "BNR002": "skipped", "BNR003": "pass",
                               "BNR004": "pass", "BNR005": "skipped"}
    assert report.ok


def test_synchronized_bn_two_models_deep_is_found(keras_report):
    report = keras_report("sync_bn_nested")
    assert report.status() == {code: "pass" for code in ALL}
    assert "over 2 statistics" in report.check("BNR001").summary
    assert "1 layers" in report.check("BNR005").summary
