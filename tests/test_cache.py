"""The result cache: warm runs reuse findings, and a change re-lints every file it can affect."""

from __future__ import annotations

from pathlib import Path

from bnlint.engine import lint_files
from bnlint.incremental import lint_incremental
from bnlint.rule_loader import load_rules

RULES = [rule for rule in load_rules().values() if not rule.OPT_IN]
MODEL = (
    "import tensorflow.compat.v1 as tf\n"
    "def build(x):\n"
    "    return tf.layers.batch_normalization(x, training=True)\n"
)
TRAIN = (
    "import tensorflow.compat.v1 as tf\n"
    "import model\n"
    "def main(x):\n"
    "    loss = model.build(x)\n"
    "    train_op = tf.train.AdamOptimizer().minimize(loss)\n"
)
HOOKED_TRAIN = TRAIN.replace(
    "    train_op = tf.train.AdamOptimizer().minimize(loss)\n",
    "    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):\n"
    "        train_op = tf.train.AdamOptimizer().minimize(loss)\n",
)
OTHER = (
    "import tensorflow as tf\n"
    "x = tf.placeholder(tf.float32, [None, 8, 8, 3])\n"
    "mean, var = tf.nn.moments(x, [0, 3])\n"
)


def _project(tmp_path: Path) -> list[Path]:
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "other.py").write_text(OTHER)
    return sorted(tmp_path.glob("*.py"))


def _summary(result):
    return [(Path(f.filename).name, f.location.row, f.code) for f in result.findings]


def test_warm_run_parses_nothing_and_reports_the_same(tmp_path):
    files = _project(tmp_path)
    cache = tmp_path / ".bnlint_cache"
    cold = lint_incremental(files, RULES, cache)
    warm = lint_incremental(files, RULES, cache)
    assert _summary(cold) == _summary(warm) == [("other.py", 3, "BN003"), ("train.py", 5, "BN001")]
    assert cold.files_parsed == 3 and warm.files_parsed == 0
    assert [f.message for f in warm.findings] == [f.message for f in cold.findings]
    assert _summary(warm) == _summary(lint_files(files, RULES))
    assert (cache / ".gitignore").read_text().strip().endswith("*")


def test_adding_the_hook_in_train_py_clears_the_cached_bn001(tmp_path):
    files = _project(tmp_path)
    cache = tmp_path / ".bnlint_cache"
    lint_incremental(files, RULES, cache)
    (tmp_path / "train.py").write_text(HOOKED_TRAIN)
    result = lint_incremental(files, RULES, cache)
    assert _summary(result) == [("other.py", 3, "BN003")]
    # train.py changed and imports model.py: both linted again; other.py came from the cache.
    assert result.files_parsed == 2


def test_a_change_in_the_model_file_re_lints_the_train_file_that_imports_it(tmp_path):
    files = _project(tmp_path)
    cache = tmp_path / ".bnlint_cache"
    (tmp_path / "train.py").write_text(HOOKED_TRAIN)
    assert _summary(lint_incremental(files, RULES, cache)) == [("other.py", 3, "BN003")]
    # The hook stays in train.py, but the model now keeps its updates in a Keras layer.
    (tmp_path / "model.py").write_text(
        "import tensorflow.compat.v1 as tf\n"
        "bn = tf.keras.layers.BatchNormalization()\n"
        "def build(x):\n"
        "    return bn(x, training=True)\n"
    )
    result = lint_incremental(files, RULES, cache)
    assert _summary(result) == _summary(lint_files(files, RULES))
    assert ("train.py", 6, "BN001") in _summary(result)


def test_an_unrelated_change_re_lints_only_that_file(tmp_path):
    files = _project(tmp_path)
    cache = tmp_path / ".bnlint_cache"
    lint_incremental(files, RULES, cache)
    (tmp_path / "other.py").write_text(OTHER.replace("[0, 3]", "[0, 1, 2]"))
    result = lint_incremental(files, RULES, cache)
    assert result.files_parsed == 1
    assert _summary(result) == [("train.py", 5, "BN001")]


def test_a_deleted_file_re_lints_its_importers(tmp_path):
    files = _project(tmp_path)
    cache = tmp_path / ".bnlint_cache"
    lint_incremental(files, RULES, cache)
    (tmp_path / "model.py").unlink()
    remaining = sorted(tmp_path.glob("*.py"))
    result = lint_incremental(remaining, RULES, cache)
    # Without model.py the batch norm is gone: no BN001 any more.
    assert _summary(result) == [("other.py", 3, "BN003")]


def test_a_corrupt_cache_file_is_ignored(tmp_path):
    files = _project(tmp_path)
    cache = tmp_path / ".bnlint_cache"
    lint_incremental(files, RULES, cache)
    for path in cache.glob("*.json"):
        path.write_text("{not json")
    assert _summary(lint_incremental(files, RULES, cache)) == [("other.py", 3, "BN003"), ("train.py", 5, "BN001")]


def test_a_file_that_stops_importing_another_still_re_lints_it(tmp_path):
    # optim.py is unchanged, but its only caller stops hooking (and calling) it:
    # its train op is now judged on its own, and its BN001 appears.
    (tmp_path / "optim.py").write_text(
        "import tensorflow.compat.v1 as tf\n"
        "def make_train_op(x):\n"
        "    loss = tf.reduce_mean(tf.layers.batch_normalization(x, training=True))\n"
        "    return tf.train.AdamOptimizer().minimize(loss)\n"
    )
    (tmp_path / "train.py").write_text(
        "import tensorflow.compat.v1 as tf\n"
        "from optim import make_train_op\n"
        "def main(x):\n"
        "    # Read after make_train_op built the batch norm (a read before it would be BN016).\n"
        "    return tf.group(make_train_op(x), *tf.get_collection(tf.GraphKeys.UPDATE_OPS))\n"
    )
    files = sorted(tmp_path.glob("*.py"))
    cache = tmp_path / ".bnlint_cache"
    assert _summary(lint_incremental(files, RULES, cache)) == []
    (tmp_path / "train.py").write_text("import tensorflow.compat.v1 as tf\ndef main(x):\n    return tf.identity(x)\n")
    result = lint_incremental(files, RULES, cache)
    assert _summary(result) == _summary(lint_files(files, RULES)) == [("optim.py", 4, "BN001")]


def test_a_new_package_init_renames_modules_and_the_cache_follows(tmp_path):
    project = tmp_path / "pkg"
    project.mkdir()
    files = _project(project)
    cache = tmp_path / ".bnlint_cache"
    assert ("train.py", 5, "BN001") in _summary(lint_incremental(files, RULES, cache))
    # With an __init__.py, `import model` no longer names pkg/model.py (it is pkg.model now).
    (project / "__init__.py").write_text("")
    files = sorted(project.glob("*.py"))
    assert _summary(lint_incremental(files, RULES, cache)) == _summary(lint_files(files, RULES))


def test_a_warm_run_with_nothing_changed_leaves_the_cache_file_alone(tmp_path):
    files = _project(tmp_path)
    cache = tmp_path / ".bnlint_cache"
    lint_incremental(files, RULES, cache)
    (stored,) = cache.glob("*.json")
    before = stored.stat().st_mtime_ns
    lint_incremental(files, RULES, cache)
    assert stored.stat().st_mtime_ns == before
