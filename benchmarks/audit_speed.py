"""How much the runtime audit costs over the work it cannot avoid.

For a small CNN and a ResNet-50-sized Keras model (ResNet50 architecture, 23.6M
parameters, 64x64 inputs) on the CPU, measures in one process:

- bare: build the model and run what the audit must run anyway: one training step
  (``train_on_batch``), the inference passes of BNR001 (``model(x, training=False)``,
  ``predict``, ``evaluate``), the batch compositions of BNR003 and the per-layer
  perturbation passes of BNR005 through one traced inference function;
- audit: build the same model afresh and run ``bnlint.audit.audit_model`` on it.

TensorFlow's import and runtime start-up are measured once and added to both sides.
Each side runs twice, in alternating order, and the faster run counts.
Prints the figures and the ratio (audit / bare); the target is at most 1.5. Speed is
never asserted in the tests. Run: ``python benchmarks/audit_speed.py [--only cnn]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 8


def small_cnn(keras):
    inp = keras.Input((32, 32, 3))
    x = inp
    for filters in (16, 32):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(x))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


def resnet50(keras):
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


def bare(build, keras, tf, np):
    """Build the model and do the passes the audit must do, nothing else."""
    from bnlint.audit.inputs import compositions

    t = time.perf_counter()
    model = build(keras)
    t_build = time.perf_counter() - t
    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(0).standard_normal((BATCH, *shape)).astype("float32")
    t = time.perf_counter()
    y = model(x, training=False).numpy()
    model.predict(x, batch_size=BATCH, verbose=0)
    model.evaluate(x, y, batch_size=BATCH, verbose=0)
    fn = tf.function(lambda a: model(a, training=False),
                     input_signature=[tf.TensorSpec((None, *shape), tf.float32)])
    fn(x)
    for _, batch, _ in compositions({"x": x}):
        fn(batch["x"])
    n_bn = sum("BatchNormalization" in type(layer).__name__ for layer in model.layers)
    probe = x[:4]
    for _ in range(n_bn + 1):
        fn(probe)
    model.train_on_batch(x, y)
    return t_build, time.perf_counter() - t, n_bn


def audited(build, keras):
    from bnlint.audit import audit_model

    t = time.perf_counter()
    model = build(keras)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    report = audit_model(model, batch_size=BATCH, device="cpu")
    return t_build, time.perf_counter() - t, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("cnn", "resnet50"))
    args = parser.parse_args()

    t = time.perf_counter()
    import keras
    import numpy as np
    import tensorflow as tf

    # Runtime start-up (thread pools, oneDNN) belongs to neither side: pay it here.
    warm = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    warm.compile(optimizer="sgd", loss="mse")
    warm.train_on_batch(np.zeros((2, 2), "float32"), np.zeros((2, 1), "float32"))
    t_import = time.perf_counter() - t
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, CPU; batch {BATCH}")
    print(f"import + runtime start-up: {t_import:.2f}s")

    models = {"cnn": small_cnn, "resnet50": resnet50}
    worst = 0.0
    for name, build in models.items():
        if args.only and name != args.only:
            continue
        # Two rounds in alternating order, the faster of each side: whichever runs first
        # pays first-use costs (Keras trainer code paths, kernel caches) the other does not.
        rounds = []
        for order in ("bare-first", "audit-first"):
            if order == "bare-first":
                b = bare(build, keras, tf, np)
                a = audited(build, keras)
            else:
                a = audited(build, keras)
                b = bare(build, keras, tf, np)
            rounds.append((b, a))
        b_build, b_work, n_bn = min((r[0] for r in rounds), key=lambda b: b[0] + b[1])
        a_build, a_work, report = min((r[1] for r in rounds), key=lambda a: a[0] + a[1])
        bare_total = t_import + b_build + b_work
        audit_total = t_import + a_build + a_work
        ratio = audit_total / bare_total
        worst = max(worst, ratio)
        status = ", ".join(f"{c.code} {c.status}" for c in report.checks)
        print(f"{name}: {n_bn} BN layers; "
              f"bare {bare_total:.2f}s (build {b_build:.2f}s, passes+train {b_work:.2f}s); "
              f"audit {audit_total:.2f}s (build {a_build:.2f}s, audit {a_work:.2f}s); "
              f"ratio {ratio:.2f} (target <= 1.5) [{status}]")
    print(f"worst ratio {worst:.2f}: {'within' if worst <= 1.5 else 'OVER'} the 1.5 target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
