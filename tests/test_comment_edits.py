"""Edits of comments alone keep the cache's findings; every other edit lints the import group again.

Each warm run is checked against a cold ``lint_files`` of the same texts: the
cache may only answer faster, never differently.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bnlint.comment_edits import NOTHING_MOVED, first_moved_row, same_code
from bnlint.engine import lint_files
from bnlint.incremental import lint_incremental
from bnlint.rule_loader import load_rules

ROOT = Path(__file__).resolve().parents[1]

LAYERS = """\
import tensorflow as tf


def normalized(h, training):
    return tf.compat.v1.layers.batch_normalization(h, training=training)


def flattened(h):
    return tf.reshape(h, [-1])
"""
MODEL = """\
import tensorflow as tf
from layers import normalized


def build(x, training):
    h = tf.compat.v1.layers.dense(x, 8)
    return normalized(h, training)
"""
TRAIN = """\
import tensorflow as tf
from model import build


def main():
    x = tf.compat.v1.placeholder(tf.float32, [None, 4])
    is_training = tf.compat.v1.placeholder(tf.bool)
    loss = tf.reduce_mean(build(x, is_training))
    train_op = tf.compat.v1.train.AdamOptimizer().minimize(loss)
    return train_op
"""
TRAIN_OP_ROW = 9


@pytest.fixture
def rules():
    return [rule for rule in load_rules().values() if not rule.OPT_IN]


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    for name, text in (("layers.py", LAYERS), ("model.py", MODEL), ("train.py", TRAIN)):
        (root / name).write_text(text)
    return root


def _files(root: Path) -> list[Path]:
    return sorted(root.glob("*.py"))


def _warm(root: Path, rules, cache: Path):
    """A cached run, and the findings a run without the cache gives on the same texts."""
    files = _files(root)
    return lint_incremental(files, rules, cache), lint_files(files, rules).findings


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


# --- which edits are comments alone ------------------------------------------------------------


@pytest.mark.parametrize("new", [
    TRAIN + "# a note at the end\n",
    TRAIN.replace("minimize(loss)\n", "minimize(loss)  # trailing note\n"),
    TRAIN.replace("    return train_op\n", "    return train_op   \n"),
    TRAIN + "\n\n\n",
])
def test_comments_blank_lines_and_line_end_spaces_are_not_code(new):
    assert same_code(TRAIN, new)


def test_a_comment_line_inserted_above_code_moves_the_rows_below_it():
    assert first_moved_row(TRAIN, TRAIN.replace("def main():\n", "# a note\ndef main():\n")) == 5
    assert first_moved_row(TRAIN, TRAIN.replace("\n\n\ndef main", "\ndef main")) == 5
    assert first_moved_row(TRAIN, TRAIN + "# a note\n") == NOTHING_MOVED
    # The code itself differs: no row of it maps to the other text.
    assert first_moved_row(TRAIN, TRAIN.replace("\n\n\ndef main", "\ndef  main")) is None


@pytest.mark.parametrize("new", [
    # Everything below moves one row down: same code, but not at the same places.
    TRAIN.replace("def main():\n", "# a note\ndef main():\n"),
    TRAIN.replace("minimize(loss)", "minimize(loss * 2)"),
    # Two statements joined on one row: the rows no longer correspond.
    TRAIN.replace("    return train_op\n", "    return train_op; pass\n"),
    # Between brackets a comment belongs to an expression, which a message may quote.
    TRAIN.replace("[None, 4]", "[None,  # batch\n4]"),
    TRAIN.replace("[None, 4]", "[None, 4  # batch\n]"),
    # A space after a continuation backslash stops the file from parsing.
    TRAIN.replace("    return train_op\n", "    return \\\n        train_op\n").replace("\\\n", "\\ \n"),
])
def test_moved_rows_bracketed_comments_and_code_are_changes(new):
    assert not same_code(TRAIN, new)


def test_a_changed_comment_between_brackets_is_a_change():
    old = TRAIN.replace("[None, 4]", "[None,  # batch\n4]")
    assert not same_code(old, old.replace("# batch", "# examples"))


# --- the cache ------------------------------------------------------------------------------


def test_a_comment_appended_to_a_linked_file_keeps_every_finding_without_parsing(project, rules, tmp_path):
    cache = tmp_path / "cache"
    first = lint_incremental(_files(project), rules, cache)
    assert [f.code for f in first.findings] == ["BN001"]
    (project / "layers.py").write_text(LAYERS + "# a note appended by an editor\n")
    warm, cold = _warm(project, rules, cache)
    assert warm.files_parsed == 0
    assert warm.findings == cold == first.findings


def test_a_noqa_comment_is_judged_again_on_a_warm_run(project, rules, tmp_path):
    cache = tmp_path / "cache"
    lint_incremental(_files(project), rules, cache)
    train = project / "train.py"
    _edit(train, "minimize(loss)\n", "minimize(loss)  # noqa: BN001\n")
    hidden, cold = _warm(project, rules, cache)
    # The noqa sits on the row the fix rewrites, so this edit relints; the next one does not,
    # and the hidden finding stays hidden.
    assert hidden.findings == cold == []
    train.write_text(train.read_text() + "# reviewed\n")
    still_hidden, cold = _warm(project, rules, cache)
    assert still_hidden.files_parsed == 0
    assert still_hidden.findings == cold == []


def test_removing_a_noqa_comment_brings_the_hidden_finding_back_without_parsing(project, rules, tmp_path):
    cache = tmp_path / "cache"
    # A file-level noqa for one code hides the finding without touching the fix's rows.
    (project / "train.py").write_text("# bnlint: noqa: BN001\n" + TRAIN)
    assert lint_incremental(_files(project), rules, cache).findings == []
    (project / "train.py").write_text("# bnlint: checked by hand\n" + TRAIN)
    shown, cold = _warm(project, rules, cache)
    assert shown.files_parsed == 0
    assert [f.code for f in shown.findings] == ["BN001"]
    assert shown.findings == cold


def test_a_comment_inside_a_fixs_rows_relints_the_group(project, rules, tmp_path):
    cache = tmp_path / "cache"
    lint_incremental(_files(project), rules, cache)
    _edit(project / "train.py", "minimize(loss)\n", "minimize(loss)  # the train op\n")
    warm, cold = _warm(project, rules, cache)
    assert warm.files_parsed == 3
    assert warm.findings == cold


def test_a_comment_that_changes_what_a_rule_reads_in_the_raw_text_relints(project, rules, tmp_path):
    cache = tmp_path / "cache"
    first = lint_incremental(_files(project), rules, cache)
    assert "tf.compat.v1.get_collection" in first.findings[0].fix.edits[0].content
    # BN001's fix spells the collection API the way the file already does, comments included.
    (project / "train.py").write_text(TRAIN + "# see tf.get_collection(...) in the docs\n")
    warm, cold = _warm(project, rules, cache)
    assert warm.files_parsed == 3
    assert warm.findings == cold
    assert "tf.get_collection(tf.GraphKeys" in warm.findings[0].fix.edits[0].content


def test_a_comment_line_inserted_above_code_relints_and_moves_locations(project, rules, tmp_path):
    cache = tmp_path / "cache"
    first = lint_incremental(_files(project), rules, cache)
    assert "(layers.py:5)" in first.findings[0].message
    _edit(project / "layers.py", "def normalized", "# the only batch norm\ndef normalized")
    warm, cold = _warm(project, rules, cache)
    assert warm.files_parsed == 3
    assert warm.findings == cold
    assert "(layers.py:6)" in warm.findings[0].message


def test_a_comment_line_inserted_where_no_position_was_asked_keeps_every_finding(project, rules, tmp_path):
    cache = tmp_path / "cache"
    first = lint_incremental(_files(project), rules, cache)
    # The finding points at row 5 of layers.py; nothing ever asked about the rows below it.
    _edit(project / "layers.py", "def flattened", "# Kept for the next release.\n\ndef flattened")
    warm, cold = _warm(project, rules, cache)
    assert warm.files_parsed == 0
    assert warm.findings == cold == first.findings


def test_a_comment_line_inserted_above_a_finding_relints_and_moves_it(project, rules, tmp_path):
    cache = tmp_path / "cache"
    lint_incremental(_files(project), rules, cache)
    _edit(project / "train.py", "    train_op =", "    # The optimizer step.\n    train_op =")
    warm, cold = _warm(project, rules, cache)
    assert warm.files_parsed == 3
    assert [f.location.row for f in warm.findings] == [TRAIN_OP_ROW + 1]
    assert warm.findings == cold


def test_a_comment_between_brackets_of_a_file_nothing_quotes_is_no_change(project, rules, tmp_path):
    cache = tmp_path / "cache"
    bracketed = MODEL.replace("dense(x, 8)", "dense(\n        x,  # the input\n        8)")
    (project / "model.py").write_text(bracketed)
    first = lint_incremental(_files(project), rules, cache)
    # No message quotes model.py: its comments between brackets are in no output.
    (project / "model.py").write_text(bracketed.replace("# the input", "# the features"))
    warm, cold = _warm(project, rules, cache)
    assert warm.files_parsed == 0
    assert warm.findings == cold == first.findings


def test_a_comment_between_brackets_of_a_quoted_file_relints(project, rules, tmp_path):
    cache = tmp_path / "cache"
    bracketed = LAYERS.replace("tf.reshape(h, [-1])", "tf.reshape(h, [-1  # flat\n])")
    (project / "layers.py").write_text(bracketed)
    lint_incremental(_files(project), rules, cache)
    # The finding quotes layers.py's batch norm: a comment there could be in a message.
    (project / "layers.py").write_text(bracketed.replace("# flat", "# one row each"))
    warm, cold = _warm(project, rules, cache)
    assert warm.files_parsed == 3
    assert warm.findings == cold


def test_removing_a_hidden_parse_errors_noqa_reports_it(project, rules, tmp_path):
    cache = tmp_path / "cache"
    broken = "h = = batch_normalization(x){}\n"
    (project / "broken.py").write_text(broken.format("  # noqa: BN000"))
    assert [f.code for f in lint_incremental(_files(project), rules, cache).findings] == ["BN001"]
    (project / "broken.py").write_text(broken.format(""))
    warm, cold = _warm(project, rules, cache)
    assert sorted(f.code for f in warm.findings) == ["BN000", "BN001"]
    assert warm.findings == cold


def test_an_edit_and_its_revert_give_the_cold_findings_each_time(project, rules, tmp_path):
    cache = tmp_path / "cache"
    lint_incremental(_files(project), rules, cache)
    for text in (LAYERS + "# note\n", LAYERS, LAYERS.replace("batch_normalization(h, training=training)", "dense(h, 8)"),
                 LAYERS):
        (project / "layers.py").write_text(text)
        warm, cold = _warm(project, rules, cache)
        assert warm.findings == cold


def test_a_code_edit_in_one_file_updates_a_finding_in_another_on_a_warm_run(project, rules, tmp_path):
    """Three files: the batch norm is in layers.py, the finding in train.py, and the edit in layers.py."""
    cache = tmp_path / "cache"
    assert [f.filename for f in lint_incremental(_files(project), rules, cache).findings] == [str(project / "train.py")]
    (project / "layers.py").write_text(LAYERS.replace("batch_normalization(h, training=training)", "dense(h, 8)"))
    gone, cold = _warm(project, rules, cache)
    assert gone.findings == cold == []
    (project / "layers.py").write_text(LAYERS)
    back, cold = _warm(project, rules, cache)
    assert [(f.filename, f.location.row, f.code) for f in back.findings] == \
        [(str(project / "train.py"), TRAIN_OP_ROW, "BN001")]
    assert back.findings == cold


def test_rules_ask_the_raw_text_only_through_mentions():
    """A direct read of ``.text`` would let a comment change a finding behind the cache's back."""
    offenders = []
    for path in [*sorted((ROOT / "rules").glob("*.py")), *sorted((ROOT / "bnlint" / "facts").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "text" and isinstance(node.ctx, ast.Load):
                offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    # ``use.text`` in BN014 is a layer call's own description, not a file's source.
    assert [line for line in offenders if not line.endswith(": use.text")] == []


@pytest.mark.parametrize("damage", ["garbage", "missing"])
def test_a_damaged_source_pack_only_costs_the_fast_path(project, rules, tmp_path, damage):
    cache = tmp_path / "cache"
    first = lint_incremental(_files(project), rules, cache)
    (pack,) = cache.glob("*.pack")
    if damage == "garbage":
        pack.write_bytes(b"\x00not a pack" * 100)
    else:
        pack.unlink()
    (project / "layers.py").write_text(LAYERS + "# a note\n")
    warm, cold = _warm(project, rules, cache)
    assert warm.files_parsed == 3
    assert warm.findings == cold == first.findings
    # The next comment edit is fast again: the run rewrote the pack.
    (project / "layers.py").write_text(LAYERS + "# another note\n")
    again, cold = _warm(project, rules, cache)
    assert again.files_parsed == 0
    assert again.findings == cold
