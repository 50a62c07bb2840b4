"""Random TensorFlow programs and fixture mutations for the robustness fuzz test and benchmark.

``programs()`` composes modules from the building blocks the rules look at:
imports in every alias style, batch-norm calls with random arguments, conds,
control dependencies, sessions, Keras models and custom training steps.
``mutations()`` damages real fixture files the way editors and tools do:
truncation, byte flips, shuffled, duplicated or deleted lines.

The generated code need not make sense (names are often unbound); it only has
to look like code bnlint reads, so that every rule gets exercised.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

from bnlint.rule_loader import load_rules
from bnlint.testing import example_files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lint"

IMPORTS = [
    "import tensorflow as tf",
    "import tensorflow.compat.v1 as tf",
    "import tensorflow.compat.v2 as tf",
    "from tensorflow.compat import v1 as tf",
    "import tensorflow as tensorflow_alias\ntf = tensorflow_alias",
    "import tensorflow.contrib.slim as slim\nimport tensorflow as tf",
    "import tf_slim as slim\nimport tensorflow as tf",
    "from tensorflow.contrib import slim\nimport tensorflow as tf",
    "from tensorflow import keras\nimport tensorflow as tf",
    "import keras\nimport tensorflow as tf",
    "from tensorflow.keras import layers\nimport tensorflow as tf",
    "from tensorflow.keras.layers import BatchNormalization as BN\nimport tensorflow as tf",
    "import tf_keras as keras\nimport tensorflow as tf",
    "from tensorflow.keras.applications import ResNet50\nimport tensorflow as tf",
]

FLAGS = ["True", "False", "is_training", "training", "phase_train", "None", "tf.constant(True)", "mode == 'train'"]
NUMBERS = ["0.1", "0.9", "0.99", "0.997", "1e-3", "0.01", "1.0", "-1", "3", "0"]
AXES = ["-1", "1", "3", "[0, 1, 2]", "[0, 2, 3]", "[1, 2]", "(0,)"]

BATCH_NORM_CALLS = [
    "tf.layers.batch_normalization({x}, training={flag}, momentum={num}, axis={axis})",
    "tf.compat.v1.layers.batch_normalization({x}, {flag}, fused={bool})",
    "tf.contrib.layers.batch_norm({x}, is_training={flag}, decay={num}, updates_collections={coll})",
    "slim.batch_norm({x}, is_training={flag}, decay={num}, scale={bool})",
    "tf.nn.batch_normalization({x}, mean, var, {num}, {num}, 1e-3)",
    "tf.nn.fused_batch_norm({x}, scale, offset, mean=mean, variance=var, is_training={flag})",
    "tf.keras.layers.BatchNormalization(momentum={num}, axis={axis})({x}, training={flag})",
    "layers.BatchNormalization(axis={axis})({x})",
    "BN(momentum={num})({x}, {flag})",
    "keras.layers.BatchNormalization(epsilon={num}, trainable={bool})({x})",
    "slim.conv2d({x}, 32, [3, 3], normalizer_fn=slim.batch_norm, normalizer_params={{'is_training': {flag}}})",
    "tf.keras.layers.experimental.SyncBatchNormalization()({x}, training={flag})",
]

STATEMENTS = [
    "{v} = {bn}",
    "{v} = tf.nn.conv2d({x}, w, [1, 1, 1, 1], 'SAME', data_format='{fmt}')",
    "{v} = tf.layers.conv2d({x}, 16, 3, data_format='{dfmt}', use_bias={bool})",
    "mean, var = tf.nn.moments({x}, axes={axis}, keep_dims={bool})",
    "{v} = tf.cond({flag}, lambda: {bn}, lambda: {x})",
    "{v} = tf.cond(is_training, lambda: tf.identity({x}), lambda: ema.average({x}))",
    "ema = tf.train.ExponentialMovingAverage({num})\nema_op = ema.apply([mean, var])",
    "update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)",
    "with tf.control_dependencies(update_ops):\n    train_op = tf.train.AdamOptimizer({num}).minimize(loss)",
    "train_op = tf.train.GradientDescentOptimizer({num}).minimize(loss)",
    "train_op = slim.learning.create_train_op(loss, optimizer, update_ops={coll})",
    "train_op = tf.group(train_op, *update_ops)",
    "is_training = tf.placeholder(tf.bool, name='is_training')",
    "is_training = tf.placeholder_with_default({bool}, [])",
    "if {flag}:\n    {v} = {bn}\nelse:\n    {v} = {x}",
    "with tf.Session() as sess:\n    sess.run(train_op, feed_dict={{is_training: {bool}}})",
    "saver = tf.train.Saver(tf.trainable_variables())",
    "saver = tf.train.Saver(var_list={{v.op.name: v for v in tf.global_variables()}})",
    "tf.saved_model.simple_save(sess, 'export', {{'x': x}}, {{'y': {v}}})",
    "model = tf.keras.Sequential([tf.keras.layers.Dense(4), tf.keras.layers.BatchNormalization(momentum={num})])",
    "base = ResNet50(weights={weights}, include_top=False)\nbase.trainable = {bool}\n{v} = base({x}, training={flag})",
    "with tf.GradientTape() as tape:\n    logits = model({x})\n    loss = tf.reduce_mean(logits)\n"
    "grads = tape.gradient(loss, model.trainable_variables)\noptimizer.apply_gradients(zip(grads, model.trainable_variables))",
    "predictions = model({x}, training={flag})",
    "tf.keras.backend.set_learning_phase({int})",
    "strategy = tf.distribute.MirroredStrategy()\nwith strategy.scope():\n    model = tf.keras.Sequential([tf.keras.layers.BatchNormalization()])",
    "with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm):\n    {v} = slim.conv2d({x}, 8, [3, 3])",
    "{v} = {x} if {flag} else {bn}",
    "tf.logging.info('%s', {v})",
]

CLASS_TEMPLATE = '''
class Block(tf.keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.bn = tf.keras.layers.BatchNormalization(momentum={num})
        self.conv = tf.keras.layers.Conv2D(8, 3, use_bias={bool})

    def call(self, inputs, training=None):
        return self.bn(self.conv(inputs), training={flag})

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compiled_loss(y, self(x))
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        return {{}}
'''


def _rule_examples() -> list[str]:
    """Every single-file VALID/INVALID example of every rule: chunks that reach each rule for sure."""
    chunks = []
    for rule in load_rules().values():
        for example in [*rule.VALID, *rule.INVALID]:
            files = example_files(example)
            if len(files) == 1:
                chunks.append(next(iter(files.values())))
    return chunks


RULE_EXAMPLES = _rule_examples()


@st.composite
def _statement(draw: st.DrawFn, index: int) -> str:
    names = {
        "x": draw(st.sampled_from(["x", "net", "inputs", f"h{max(index - 1, 0)}"])),
        "v": f"h{index}",
        "flag": draw(st.sampled_from(FLAGS)),
        "num": draw(st.sampled_from(NUMBERS)),
        "axis": draw(st.sampled_from(AXES)),
        "bool": draw(st.sampled_from(["True", "False"])),
        "int": draw(st.sampled_from(["0", "1"])),
        "coll": draw(st.sampled_from(["None", "tf.GraphKeys.UPDATE_OPS", "[]", "update_ops"])),
        "fmt": draw(st.sampled_from(["NHWC", "NCHW"])),
        "dfmt": draw(st.sampled_from(["channels_last", "channels_first"])),
        "weights": draw(st.sampled_from(["None", "'imagenet'"])),
    }
    names["bn"] = draw(st.sampled_from(BATCH_NORM_CALLS)).format(**names)
    return draw(st.sampled_from(STATEMENTS)).format(**names)


def _indent(code: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in code.splitlines())


@st.composite
def programs(draw: st.DrawFn) -> str:
    """A module: imports, then statements at module level and inside functions (with a call between them)."""
    imports = draw(st.lists(st.sampled_from(IMPORTS), min_size=1, max_size=3, unique=True))
    lines = list(imports)
    count = draw(st.integers(1, 12))
    statements = [draw(_statement(i)) for i in range(count)]
    in_function = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    body = [s for s, inside in zip(statements, in_function) if inside]
    if body:
        lines.append("\n\ndef build(x, is_training, training=None, mode='train'):")
        lines.extend(_indent(s, "    ") for s in body)
        lines.append("    return h0 if 'h0' in dir() else x")
        lines.append("\n\nh0 = build(inputs, tf.placeholder(tf.bool))")
    lines.extend(s for s, inside in zip(statements, in_function) if not inside)
    # Whole rule examples mixed in: their imports and names meet the generated code's.
    lines.extend(draw(st.lists(st.sampled_from(RULE_EXAMPLES), max_size=2)))
    if draw(st.booleans()):
        lines.append(CLASS_TEMPLATE.format(
            num=draw(st.sampled_from(NUMBERS)), bool=draw(st.sampled_from(["True", "False"])),
            flag=draw(st.sampled_from(FLAGS))))
    return "\n".join(lines) + "\n"


def fixture_sources() -> list[Path]:
    """Every Python fixture file, the material the mutations start from."""
    return sorted(FIXTURES.rglob("*.py"))


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    """A fixture file damaged by one to three random edits."""
    data = draw(st.sampled_from(fixture_sources())).read_bytes()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "shuffle", "duplicate", "delete", "insert"]))
        lines = data.splitlines(keepends=True)
        if kind == "truncate" and data:
            data = data[: draw(st.integers(0, len(data) - 1))]
        elif kind == "flip" and data:
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
        elif kind == "shuffle" and len(lines) > 1:
            data = b"".join(draw(st.permutations(lines)))
        elif kind == "duplicate" and lines:
            at = draw(st.integers(0, len(lines) - 1))
            data = b"".join(lines[:at + 1] + lines[at:])
        elif kind == "delete" and lines:
            at = draw(st.integers(0, len(lines) - 1))
            data = b"".join(lines[:at] + lines[at + 1:])
        elif kind == "insert":
            at = draw(st.integers(0, len(lines)))
            junk = draw(st.sampled_from([b"(\n", b"    return\n", b"\tif x:\n", b"\xff\xfe\n", b"\x00", b"'''\n",
                                         b"print 'py2'\n", b"\r", b"\x0c\n", b"    " * 40 + b"x = (\n"]))
            data = b"".join(lines[:at] + [junk] + lines[at:])
    return data


# Python 2 statements TF1-era code is made of, each a construct ``bnlint.py2`` rewrites, with the
# batch norms and train ops the rules read, so translated programs also reach the rules.
PYTHON2_STATEMENTS = [
    'print "step", step, loss', "print", "print x,", 'print >>sys.stderr, "failed:", e', "print >>f",
    'print "a", \\\n    b', 'print ("a",\n    b), c', "print `x`", "exec code in ns", 'exec "x = 1"',
    "raise ValueError, 'bad'", "raise E, v, tb", "x = 0777 + 10L + 0xffL", "y = a <> b", "s = ur'\\d+'",
    "f = lambda (a, b): a + b", "def g(a, (b, c)=(1, 2)):\n    return b",
    "try:\n    pass\nexcept (IOError, OSError), e:\n    print e",
    "if x <> 0: print x; print",
    "net = tf.layers.batch_normalization(net, momentum=0.1, training=True)",
    "net = tf.contrib.layers.batch_norm(net, decay=0.5, is_training=is_training)",
    "train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)",
    "with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):\n    train_op = opt.minimize(loss)",
    "import tensorflow as tf", "import sys",
]


@st.composite
def python2_programs(draw: st.DrawFn) -> str:
    """Python 2 programs: its statements at top level or in blocks indented with a tab or 8 spaces (the same
    depth to Python 2, a mix Python 3 refuses), half of them damaged by one character."""
    lines = []
    for statement in draw(st.lists(st.sampled_from(PYTHON2_STATEMENTS), min_size=1, max_size=12)):
        block = draw(st.booleans())
        if block:
            lines.append("if True:")
        for line in statement.split("\n"):
            lines.append((draw(st.sampled_from(["\t", " " * 8, "  \t"])) if block else "") + line)
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):  # damage: cut or insert a character anywhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["", "`", "(", ")", "'", '"""', "\\", "\t", "<>", ",", ":"])) \
            + text[at + draw(st.integers(0, 2)):]
    return text
