"""Chains through files that hold no rule token: they are analysed, cached and grouped like the others.

The pre-filter skips files that mention none of the selected rules' tokens,
but such a file can link a chain: ``training.py`` builds the train op over
``networks.py``'s builder, which calls ``layers.py``'s batch norm. These
tests pin that the middle file is analysed (and nothing else is), that the
cache re-lints the chain when only the middle file changes, and that
``--jobs`` keeps the chain in one group.
"""

from __future__ import annotations

from pathlib import Path

from bnlint.engine import lint_files
from bnlint.incremental import lint_incremental
from bnlint.parallel import lint_parallel
from bnlint.rule_loader import load_rules

RULES = [rule for rule in load_rules().values() if not rule.OPT_IN]

LAYERS = '''\
import tensorflow.compat.v1 as tf


def conv_unit(x, flag):
    x = tf.layers.conv2d(x, 8, 3, use_bias=False)
    return tf.layers.batch_normalization(x, training=flag)
'''
# Mentions no rule token: no "train", "norm", "bn", "minimize", ... anywhere.
NETWORKS = '''\
import layers


def stack(x, flag):
    return layers.conv_unit(layers.conv_unit(x, flag), flag)
'''
NETWORKS_UNLINKED = '''\
def stack(x, flag):
    return x
'''
TRAINING = '''\
import tensorflow.compat.v1 as tf

import networks


def build(images, labels):
    logits = tf.layers.dense(tf.reduce_mean(networks.stack(images, True), [1, 2]), 10)
    loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    return tf.train.AdamOptimizer(1e-3).minimize(loss)
'''
# A token-less file no token file is connected to: never parsed, so its syntax error is not reported.
UNRELATED = "def broken(:\n"


def _project(root: Path, networks: str = NETWORKS) -> list[Path]:
    files = {"layers.py": LAYERS, "networks.py": networks, "training.py": TRAINING, "unrelated.py": UNRELATED}
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return sorted(root / name for name in files)


def _codes(findings) -> set[tuple[str, int, str]]:
    return {(Path(f.filename).name, f.location.row, f.code) for f in findings}


def test_the_middle_file_mentions_no_token():
    tokens = {token for rule in RULES if rule.CODE != "BN000" for token in rule.TOKENS}
    assert not [token for token in tokens if token in NETWORKS]


def test_a_chain_through_a_token_less_file_is_followed(tmp_path):
    result = lint_files(_project(tmp_path), RULES)
    assert _codes(result.findings) == {("training.py", 9, "BN001")}
    assert "layers.py" in result.findings[0].message
    # layers, networks and training; unrelated.py is neither parsed nor reported.
    assert result.files_parsed == 3


def test_the_chain_is_the_middle_file_s_doing(tmp_path):
    result = lint_files(_project(tmp_path, NETWORKS_UNLINKED), RULES)
    assert _codes(result.findings) == set()


def test_parallel_runs_keep_the_chain_in_one_group(tmp_path):
    files = []
    for copy in range(12):  # enough files for the work to be split over two processes
        folder = tmp_path / f"copy{copy}"
        folder.mkdir()
        files.extend(_project(folder))
    single = lint_files(files, RULES)
    parallel = lint_parallel(files, RULES, jobs=2)
    assert len(single.findings) == 12
    assert sorted(_codes(parallel.findings)) == sorted(_codes(single.findings))
    assert [f.filename for f in parallel.findings] == [f.filename for f in single.findings]


def test_editing_only_the_middle_file_updates_the_cached_finding(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    files = _project(project)
    cache = tmp_path / "cache"
    assert _codes(lint_incremental(files, RULES, cache).findings) == {("training.py", 9, "BN001")}
    (project / "networks.py").write_text(NETWORKS_UNLINKED, encoding="utf-8")
    assert _codes(lint_incremental(files, RULES, cache).findings) == set()
    (project / "networks.py").write_text(NETWORKS, encoding="utf-8")
    warm = lint_incremental(files, RULES, cache)
    assert _codes(warm.findings) == {("training.py", 9, "BN001")}
    # Nothing changed since: nothing is parsed.
    assert lint_incremental(files, RULES, cache).files_parsed == 0
