"""Name resolution sees through every import and alias style to one canonical name per API."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from bnlint.names import canonical
from bnlint.semantic import FileModel

BN = "tensorflow.layers.batch_normalization"
CONTRIB_BN = "tensorflow.contrib.layers.batch_norm"
KERAS_BN = "tensorflow.keras.layers.BatchNormalization"


def _callee_names(source: str) -> frozenset[str]:
    """Names the last call of ``source`` may denote."""
    model = FileModel(cst.parse_module(textwrap.dedent(source)), "example.py", "example")
    return model.call_names(model.calls[-1])


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import tensorflow as tf\ntf.layers.batch_normalization(x)\n", BN),
        ("import tensorflow.compat.v1 as tf\ntf.layers.batch_normalization(x)\n", BN),
        ("import tensorflow as tf\ntf.compat.v1.layers.batch_normalization(x)\n", BN),
        ("from tensorflow.compat import v1 as tf\ntf.layers.batch_normalization(x)\n", BN),
        ("import tensorflow\ntensorflow.compat.v2.compat.v1.layers.batch_normalization(x)\n", BN),
        ("from tensorflow.compat.v1.layers import batch_normalization as bn\nbn(x)\n", BN),
        ("import tensorflow as tf\nslim = tf.contrib.slim\nslim.batch_norm(x)\n", CONTRIB_BN),
        ("import tensorflow.contrib.slim as slim\nslim.batch_norm(x)\n", CONTRIB_BN),
        ("from tensorflow.contrib import slim\nslim.batch_norm(x)\n", CONTRIB_BN),
        ("import tf_slim as slim\nslim.batch_norm(x)\n", CONTRIB_BN),
        ("from tensorflow.contrib.layers.python.layers import batch_norm\nbatch_norm(x)\n", CONTRIB_BN),
        ("from tensorflow.contrib.layers.python.layers.layers import batch_norm\nbatch_norm(x)\n", CONTRIB_BN),
        ("import keras\nkeras.layers.BatchNormalization(axis=1)\n", KERAS_BN),
        ("from keras import layers\nlayers.BatchNormalization()\n", KERAS_BN),
        ("import tensorflow as tf\nlayers = tf.keras.layers\nlayers.BatchNormalization()\n", KERAS_BN),
        ("from tensorflow.keras.layers import BatchNormalization as BN\nBN()\n", KERAS_BN),
        ("import tf_keras as keras\nkeras.layers.BatchNormalization()\n", KERAS_BN),
        ("from tensorflow import keras\nkeras.layers.BatchNormalization()\n", KERAS_BN),
    ],
)
def test_every_alias_style_resolves_to_the_canonical_api(source, expected):
    assert expected in _callee_names(source)


def test_a_call_result_is_an_instance_and_methods_resolve_on_it():
    source = """
    import tensorflow.compat.v1 as tf
    opt = tf.train.AdamOptimizer(0.1)
    opt.minimize(loss)
    """
    assert _callee_names(source) == {"tensorflow.train.AdamOptimizer().minimize"}


def test_self_attributes_resolve_to_what_init_assigned():
    source = """
    import tensorflow as tf
    class Block(tf.keras.layers.Layer):
        def __init__(self):
            self.bn = tf.keras.layers.BatchNormalization()
        def call(self, x, training=None):
            return self.bn(x, training=training)
    """
    assert _callee_names(source) == {KERAS_BN + "()"}


def test_a_local_function_shadowing_an_import_resolves_to_the_local():
    source = """
    from tensorflow.layers import batch_normalization
    def f():
        def batch_normalization(x):
            return x
        return batch_normalization(1)
    """
    assert _callee_names(source) == {"example.f.<locals>.batch_normalization"}


def test_unknown_names_resolve_to_nothing():
    assert _callee_names("something.batch_normalization(x)\n") == frozenset()
    assert _callee_names("def f(layer):\n    return layer.batch_normalization(x)\n") == frozenset()


def test_relative_imports_resolve_against_the_package():
    module = cst.parse_module("from . import model\nfrom ..nets import resnet\nmodel.build()\nresnet.net()\n")
    model = FileModel(module, "pkg/sub/train.py", "pkg.sub.train")
    assert model.call_names(model.calls[0]) == {"pkg.sub.model.build"}
    assert model.call_names(model.calls[1]) == {"pkg.nets.resnet.net"}


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("tensorflow.compat.v1.train.AdamOptimizer", "tensorflow.train.AdamOptimizer"),
        ("tf_slim.learning.create_train_op", "tensorflow.contrib.slim.create_train_op"),
        ("tensorflow.contrib.slim.arg_scope", "tensorflow.contrib.framework.arg_scope"),
        ("keras.src.layers.normalization.batch_normalization.BatchNormalization", KERAS_BN),
        ("torch.nn.BatchNorm2d", "torch.nn.BatchNorm2d"),
    ],
)
def test_alias_table(spelling, name):
    assert canonical(spelling) == name
