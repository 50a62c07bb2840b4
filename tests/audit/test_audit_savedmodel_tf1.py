"""SavedModel targets (every serving signature) and TF1 graphs in a Session."""

from __future__ import annotations

from bnlint.audit import audit_target


def test_savedmodel_exported_with_training_true_fails(saved_models):
    report = audit_target(saved_models[True], device="cpu")
    assert report.status() == {"BNR001": "fail", "BNR002": "skipped", "BNR003": "fail",
                               "BNR004": "fail", "BNR005": "fail"}
    bnr004 = report.check("BNR004")
    assert bnr004.figure == 4
    assert all(r["graph"] == "signature 'serving_default'" for r in bnr004.rows)
    assert all(r["node"].endswith(("AssignVariableOp", "AssignVariableOp_1")) for r in bnr004.rows)
    assert "signature 'serving_default'" in report.check("BNR001").summary


def test_savedmodel_exported_with_training_false_passes(saved_models):
    # Its function library still holds restore functions full of Assign ops: not reachable.
    report = audit_target(saved_models[False], device="cpu")
    assert report.status() == {"BNR001": "pass", "BNR002": "skipped", "BNR003": "pass",
                               "BNR004": "pass", "BNR005": "pass"}
    assert "no training step" in report.check("BNR002").summary


def _status(report):
    return {c["code"]: c["status"] for c in report["checks"]}


def test_tf1_with_update_ops_passes(tf1_reports):
    assert set(_status(tf1_reports["with_update_ops"]).values()) == {"pass"}
    assert tf1_reports["with_update_ops"]["findings"] == []


def test_tf1_without_update_ops_fails_bnr002(tf1_reports):
    report = tf1_reports["without_update_ops"]
    assert _status(report) == {"BNR001": "pass", "BNR002": "fail", "BNR003": "pass",
                               "BNR004": "pass", "BNR005": "pass"}
    bnr002 = next(c for c in report["checks"] if c["code"] == "BNR002")
    assert {r["variable"] for r in bnr002["details"]["rows"]} == {"moving_mean", "moving_variance"}
    assert [f["code"] for f in report["findings"]] == ["BNR002"]


def test_tf1_ema_outside_cond_updates_at_inference(tf1_reports):
    report = tf1_reports["ema_outside_cond"]
    status = _status(report)
    assert status["BNR001"] == "fail" and status["BNR004"] == "fail" and status["BNR002"] == "pass"
    bnr004 = next(c for c in report["checks"] if c["code"] == "BNR004")
    assert all("ExponentialMovingAverage" in r["variable"] for r in bnr004["details"]["rows"])
    bnr001 = next(c for c in report["checks"] if c["code"] == "BNR001")
    assert bnr001["figure"] > 0


def test_tf_module_factory_audits_its_tf_functions(keras_models):
    from bnlint.audit import audit_model

    good = audit_model(keras_models.serving_module(), device="cpu")
    assert good.status() == {"BNR001": "pass", "BNR002": "skipped", "BNR003": "pass",
                             "BNR004": "pass", "BNR005": "pass"}
    assert "function 'serve'" in good.check("BNR001").summary
    model = keras_models.mlp()
    bad = audit_model(keras_models.Serving(model, training=True), device="cpu", select=["BNR001", "BNR004"])
    assert bad.status() == {"BNR001": "fail", "BNR004": "fail"}
    assert {r["layer"] for r in bad.check("BNR001").rows} == {"bn1", "bn2"}
