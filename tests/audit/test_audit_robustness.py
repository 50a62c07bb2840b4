"""``bnlint audit`` on hostile input: one clear line and the documented exit code, never a traceback.

Real TensorFlow throughout. Every artifact (broken files, SavedModels, factories) is
built once per session in one temporary directory.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from bnlint.audit.cli import main

from audit_helpers import KERAS_MODELS

CNN = f"{KERAS_MODELS}:cnn"

FACTORIES = '''
import keras
import numpy as np


def raises():
    raise ValueError("bad config: depth must be positive\\nsecond line of detail")


def exits():
    raise SystemExit(3)


def an_int():
    return 3


def a_string():
    return "model.keras"


def an_array():
    return np.zeros((2, 3))


def nothing():
    return None


def broken_call():
    """A subclassed model whose first call fails."""

    class Broken(keras.Model):
        def call(self, x, training=None):
            raise ValueError("shape mismatch in call")

    return Broken()


def nan_output():
    """Dense weights of NaN before a BN: every output is NaN."""
    inp = keras.Input((4,), name="x")
    h = keras.layers.Dense(4, kernel_initializer=keras.initializers.Constant(float("nan")))(inp)
    h = keras.layers.BatchNormalization()(h)
    return keras.Model(inp, keras.layers.Dense(1)(h))
'''


@pytest.fixture(scope="session")
def hostile(tmp_path_factory, keras_models):
    """Paths of every hostile target, built once."""
    import keras
    import tensorflow as tf

    d = tmp_path_factory.mktemp("hostile")
    paths = {"dir": d}

    cnn = d / "cnn.keras"
    keras_models.cnn().save(cnn)
    data = cnn.read_bytes()
    (d / "random.keras").write_bytes(np.random.default_rng(0).bytes(2048))
    (d / "truncated.keras").write_bytes(data[: len(data) // 2])
    with zipfile.ZipFile(d / "no_config.keras", "w") as z:
        z.writestr("metadata.json", "{}")
    (d / "bad_saved_model").mkdir()
    (d / "bad_saved_model" / "saved_model.pb").write_bytes(b"\x00not a protobuf\xff" * 8)

    class NoSignature(tf.Module):
        def __init__(self):
            super().__init__()
            self.scale = tf.Variable(2.0)

        @tf.function  # no input_signature, and saved without signatures=
        def __call__(self, x):
            return x * self.scale

    module = NoSignature()
    module(tf.zeros((2, 3)))
    tf.saved_model.save(module, str(d / "no_signature"))

    inp = keras.Input((3,), name="x")
    keras.Model(inp, keras.layers.Dense(2)(inp)).save(d / "no_bn.keras")

    inp = keras.Input((None, None, 3), name="image")
    h = keras.layers.BatchNormalization(name="bn")(keras.layers.Conv2D(2, 3)(inp))
    keras.Model(inp, keras.layers.GlobalAveragePooling2D()(h)).save(d / "dynamic.keras")

    inp = keras.Input((4,), name="x")
    h = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(4)(inp))
    keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0)(h)).save(d / "lambda.keras")

    (d / "factories.py").write_text(FACTORIES)
    x = np.random.default_rng(1).standard_normal((4, 8, 8, 3)).astype("float32")
    x[1, 2, 3, 0] = np.nan
    np.savez(d / "nan.npz", image=x)
    x = np.random.default_rng(1).standard_normal((4, 8, 8, 3)).astype("float32")
    x[0, 0, 0, 0] = np.inf
    np.savez(d / "inf.npz", image=x)
    return paths


def run(capsys, *argv):
    code = main([*map(str, argv), "--device", "cpu"])
    out, err = capsys.readouterr()
    return code, out, err


def assert_error(code, out, err, phrase):
    """Exit 2, nothing on stdout, exactly one ``bnlint audit: error:`` line holding ``phrase``."""
    assert code == 2, err
    assert out == ""
    assert err.startswith("bnlint audit: error: ") and err.count("\n") == 1, err
    assert phrase in err, err
    assert "Traceback" not in err


# 1. missing paths (a missing .keras file is covered by test_audit_cli.py)


def test_missing_saved_model_directory(capsys, hostile):
    path = hostile["dir"] / "exported" / "missing_model"
    code, out, err = run(capsys, path)
    assert_error(code, out, err, f"{path}: no such file or directory")


def test_missing_factory_file(capsys, hostile):
    path = hostile["dir"] / "nowhere.py"
    code, out, err = run(capsys, f"{path}:make_model")
    assert_error(code, out, err, f"no such file {path}")


# 2. corrupted .keras files


@pytest.mark.parametrize(
    "name, phrase",
    [
        ("random.keras", "not a valid .keras file (not a zip archive"),
        ("truncated.keras", "not a valid .keras file (not a zip archive"),
        ("no_config.keras", "not a valid .keras file (the archive has no config.json)"),
    ],
)
def test_corrupted_keras_file(capsys, hostile, name, phrase):
    path = hostile["dir"] / name
    code, out, err = run(capsys, path)
    assert_error(code, out, err, f"{path}: {phrase}")
    # Keras itself says "File not found" for a file that exists: the audit must not echo it.
    assert "File not found" not in err


def test_corrupted_saved_model(capsys, hostile):
    path = hostile["dir"] / "bad_saved_model"
    code, out, err = run(capsys, path)
    assert_error(code, out, err, f"{path}: cannot load the SavedModel")


# 3. a SavedModel without signatures


def test_saved_model_without_signatures_says_what_to_do(capsys, hostile):
    path = hostile["dir"] / "no_signature"
    code, out, err = run(capsys, path)
    assert_error(code, out, err, f"{path}: the tf.Module or SavedModel has no serving signature")
    assert "signatures={'serving_default': module.fn}" in err and "input_signature" in err


# 4. factories that raise or return the wrong type


@pytest.mark.parametrize(
    "factory, phrase",
    [
        ("raises", "the factory raises() raised ValueError: bad config: depth must be positive"),
        ("exits", "the factory exits() raised SystemExit: 3"),
        ("an_int", "the factory an_int() returned an int (3); it must return a Keras model"),
        ("a_string", "the factory a_string() returned a str ('model.keras'); it must return a Keras model"),
        ("an_array", "the factory an_array() returned a ndarray of shape (2, 3); it must return a Keras model"),
        ("nothing", "the factory nothing() returned None; it must return a Keras model"),
    ],
)
def test_factory_that_raises_or_returns_the_wrong_type(capsys, hostile, factory, phrase):
    target = f"{hostile['dir'] / 'factories.py'}:{factory}"
    code, out, err = run(capsys, target)
    assert_error(code, out, err, f"{target}: {phrase}")
    assert "second line of detail" not in err


def test_model_that_fails_on_its_first_call(capsys, hostile):
    code, out, err = run(capsys, f"{hostile['dir'] / 'factories.py'}:broken_call", "--input-shape", "4")
    assert_error(code, out, err, "the model cannot run on the audit inputs: ValueError")


# 5. NaN and Inf


@pytest.mark.parametrize("name", ["nan.npz", "inf.npz"])
def test_inputs_with_nan_or_inf_are_refused(capsys, hostile, name):
    path = hostile["dir"] / name
    code, out, err = run(capsys, CNN, "--inputs", path)
    assert_error(code, out, err, f"--inputs {path}: array 'image' contains NaN or Inf (1 of 768 values)")


def test_python_inputs_with_nan_are_refused(keras_models):
    from bnlint.audit import AuditError, audit_model

    x = np.full((4, 6), np.nan, np.float32)
    with pytest.raises(AuditError, match=r"inputs: array 'features' contains NaN or Inf \(24 of 24 values\)"):
        audit_model(keras_models.mlp(), inputs=x, device="cpu")


def test_model_with_nan_output_is_refused_not_judged(capsys, hostile):
    # Before: BNR003 "FAIL max |diff| 0 > tolerance nan" and BNR005 "PASS min output change nan".
    code, out, err = run(capsys, f"{hostile['dir'] / 'factories.py'}:nan_output")
    assert_error(code, out, err, "the model's output 0 is NaN or Inf on the audit inputs (8 of 8 values)")


def test_nan_beside_a_number_is_an_infinite_difference():
    from bnlint.audit.checks import _max_change

    a = np.array([1.0, np.nan, np.inf, np.nan], np.float32)
    assert _max_change(a, a.copy()) == 0.0  # NaN vs NaN and inf vs inf: unchanged
    assert _max_change(a, np.array([1.0, 2.0, np.inf, np.nan], np.float32)) == np.inf
    assert _max_change(a, np.array([1.5, np.nan, -np.inf, np.nan], np.float32)) == np.inf


# 6. a model without batch normalization


def test_model_without_batch_norm_reports_it_and_exits_0(capsys, hostile):
    code, out, err = run(capsys, hostile["dir"] / "no_bn.keras")
    assert code == 0, err
    skipped = [ln for ln in out.splitlines() if " SKIPPED " in ln]
    assert [ln.split()[0] for ln in skipped] == ["BNR001", "BNR002", "BNR005"]
    assert all(ln.endswith("no batch-normalization layers or moving statistics found in the model")
               for ln in skipped)
    assert out.rstrip().endswith("audit passed")
    assert "Traceback" not in err


# 7. dynamic shapes


def test_dynamic_shape_without_input_shape(capsys, hostile):
    code, out, err = run(capsys, hostile["dir"] / "dynamic.keras")
    assert_error(code, out, err, "input 'image' has unknown dimensions (batch, ?, ?, 3); pass --input-shape")
    assert "e.g. --input-shape 8,8,3" in err


def test_dynamic_shape_with_input_shape_runs(capsys, hostile):
    code, out, err = run(capsys, hostile["dir"] / "dynamic.keras", "--input-shape", "6,6,3",
                         "--select", "BNR001,BNR003")
    assert code == 0, err
    assert "BNR001 inference-updates-moving-stats       PASS" in out


# 8. safe mode and --unsafe-load


def test_lambda_layer_is_refused_in_safe_mode(capsys, hostile):
    path = hostile["dir"] / "lambda.keras"
    code, out, err = run(capsys, path)
    assert_error(code, out, err, f"{path}: refused to load: the file holds Python code (a Lambda layer)")
    assert "pass --unsafe-load if you trust the file" in err


def test_unsafe_load_loads_the_lambda_and_audits(capsys, hostile):
    code, out, err = run(capsys, hostile["dir"] / "lambda.keras", "--unsafe-load", "--select", "BNR001,BNR005")
    assert code == 0, err
    assert [ln.split()[2] for ln in out.splitlines() if ln.startswith("BNR")] == ["PASS", "PASS"]
    assert "over 2 statistics" in out


def test_unsafe_load_in_python(hostile):
    from bnlint.audit import AuditError, audit_model

    path = str(hostile["dir"] / "lambda.keras")
    with pytest.raises(AuditError, match="--unsafe-load"):
        audit_model(path, device="cpu", select=["BNR001"])
    report = audit_model(path, device="cpu", select=["BNR001"], unsafe_load=True)
    assert report.status() == {"BNR001": "pass"}


def test_unsafe_load_is_in_the_help(capsys):
    assert main(["--help"]) == 0
    assert "--unsafe-load" in capsys.readouterr().out

