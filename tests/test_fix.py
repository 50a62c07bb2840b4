"""``--fix``, ``--unsafe-fixes`` and ``--diff``: the guarantees every fix gets from the machinery."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Iterable

import libcst as cst
import pytest

from bnlint import fixer
from bnlint.cli import main
from bnlint.edits import LineIndex, apply_fixes, select_fixes
from bnlint.findings import Edit, Fix, Location
from bnlint.fixer import fix_files
from bnlint.rule import FixSpec, Report, Rule

# BN001 on line 3; its fix is unsafe.
UNHOOKED = """\
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=True)
train_op = tf.train.AdamOptimizer(0.01).minimize(loss)
"""
HOOKED = """\
import tensorflow.compat.v1 as tf
h = tf.layers.batch_normalization(x, training=True)
with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    train_op = tf.train.AdamOptimizer(0.01).minimize(loss)
"""


class RenameFoo(Rule):
    """Test rule: every ``foo(...)`` call becomes ``bar(...)`` (a safe fix of the whole call)."""

    CODE = "BN990"
    NAME = "test-rename-foo"
    TOKENS = ("foo",)

    def check(self, ctx) -> Iterable[Report]:
        for site in ctx.file.calls:
            if isinstance(site.node.func, cst.Name) and site.node.func.value == "foo":
                new = site.node.with_changes(func=cst.Name("bar"))
                yield Report(site.node, "`foo` call", fix=FixSpec(site.node, new, "Call `bar`", "safe"))


class BreakFoo(Rule):
    """Test rule whose fix of ``foo(2)`` gives code only libcst accepts (a repeated keyword)."""

    CODE = "BN991"
    NAME = "test-break-foo"
    TOKENS = ("foo",)

    def check(self, ctx) -> Iterable[Report]:
        for site in ctx.file.calls:
            if isinstance(site.node.func, cst.Name) and site.node.func.value == "foo":
                if ctx.file.code(site.node) == "foo(2)":
                    arg = cst.Arg(cst.Integer("2"), keyword=cst.Name("a"))
                    new = site.node.with_changes(args=[arg.with_changes(comma=cst.Comma()), arg])
                else:
                    new = site.node.with_changes(func=cst.Name("bar"))
                yield Report(site.node, "`foo` call", fix=FixSpec(site.node, new, "Call `bar`", "safe"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- edits ----------------------------------------------------------------------------


def test_line_index_counts_crlf_lone_cr_and_ignores_form_feed():
    index = LineIndex("a\r\nbc\rd\x0ce\nf")
    assert [index.location(offset) for offset in (0, 3, 6, 7, 10)] == [
        Location(1, 1), Location(2, 1), Location(3, 1), Location(3, 2), Location(4, 1)]
    assert index.offset(Location(3, 3)) == 8


def _fix(row: int, col: int, end_col: int, content: str) -> Fix:
    return Fix("safe", "m", (Edit(content, Location(row, col), Location(row, end_col)),))


def test_overlapping_fixes_are_deferred_and_duplicates_applied_once():
    text = "abcdef\n"
    first, overlapping, later, same = _fix(1, 1, 4, "X"), _fix(1, 3, 5, "Y"), _fix(1, 5, 7, "Z"), _fix(1, 1, 4, "X")
    accepted, deferred = select_fixes(text, [later, overlapping, first, same])
    assert accepted == [first, later] and deferred == [overlapping]
    assert apply_fixes(text, accepted) == "XdZ\n"


def test_two_insertions_at_one_point_do_not_both_apply():
    accepted, deferred = select_fixes("ab\n", [_fix(1, 2, 2, "X"), _fix(1, 2, 2, "Y")])
    assert len(accepted) == 1 and len(deferred) == 1


# --- passes -------------------------------------------------------------------------------


def test_nested_fixes_overlap_and_the_inner_one_waits_for_a_second_pass(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("x = foo(foo(1))\n")
    outcome = fix_files([path], [RenameFoo])
    assert path.read_text() == "x = bar(bar(1))\n"
    assert outcome.fixed_count == 2 and outcome.result.findings == [] and outcome.errors == []


def test_a_fix_that_breaks_the_code_is_reported_not_written(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("x = foo(2)\n")
    outcome = fix_files([path], [BreakFoo])
    assert path.read_text() == "x = foo(2)\n"
    assert outcome.fixed_count == 0
    assert outcome.errors == [f"{path}:1: the BN991 fix would leave the file unparseable; not applied"]
    assert [f.code for f in outcome.result.findings] == ["BN991"]


def test_only_the_breaking_fix_is_left_out(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("x = foo(1)\ny = foo(2)\n")
    outcome = fix_files([path], [BreakFoo])
    assert path.read_text() == "x = bar(1)\ny = foo(2)\n"
    assert len(outcome.errors) == 1 and ":2: the BN991 fix" in outcome.errors[0]


# --- files on disk ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "encoding", "newline"),
    [
        (b"", "utf-8", "\r\n"),
        (b"\xef\xbb\xbf", "utf-8", "\n"),
        ("# -*- coding: latin-1 -*-\n# caf\xe9\n".encode("latin-1"), "latin-1", "\n"),
        ("# -*- coding: latin-1 -*-\r\n# caf\xe9\r\n".encode("latin-1"), "latin-1", "\r\n"),
    ],
    ids=["crlf", "bom", "latin1-cookie", "latin1-crlf"],
)
def test_line_endings_encoding_declaration_and_bom_are_kept(tmp_path, capsys, prefix, encoding, newline):
    path = tmp_path / "train.py"

    def indented(source: str) -> str:
        first, *rest = source.splitlines()
        return first + "\ndef build():\n    # caf\xe9\n" + "".join("    " + line + "\n" for line in rest)

    path.write_bytes(prefix + indented(UNHOOKED).replace("\n", newline).encode(encoding))
    code, _out, _err = run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated", "--select", "BN001")
    assert code == 0
    data = path.read_bytes()
    assert data.startswith(prefix)
    assert data[len(prefix):].decode(encoding) == indented(HOOKED).replace("\n", newline)


def test_fix_twice_changes_nothing_the_second_time(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(UNHOOKED)
    assert run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated")[:2] == (
        0, "Found 1 finding (1 fixed, 0 remaining).\n")
    after_first = path.read_bytes()
    assert run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated")[:2] == (0, "All checks passed!\n")
    assert path.read_bytes() == after_first
    assert path.read_text() == HOOKED


def test_no_fix_is_offered_where_libcst_loses_a_form_feed(tmp_path, capsys):
    """libcst drops a form feed that starts an indentation; a fix would silently delete it."""
    path = tmp_path / "model.py"
    source = (b"import tensorflow as tf\ndef f(x):\n    y = 1\n"
              b"\x0c    return tf.keras.layers.BatchNormalization(momentum=0.1)(x)\n")
    path.write_bytes(source)
    code, out, _ = run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated")
    assert code == 1
    assert "BN009" in out and "fixed" not in out
    assert path.read_bytes() == source
    # Where nothing is lost, the same finding is fixed.
    path.write_bytes(source.replace(b"\x0c", b""))
    assert run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated")[0] == 0
    assert b"momentum=0.9" in path.read_bytes()


def test_unsafe_fixes_need_the_option(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(UNHOOKED)
    code, out, _err = run(capsys, str(path), "--fix", "--isolated")
    assert code == 1
    assert out.endswith("Found 1 finding in 1 file (1 more with --fix --unsafe-fixes).\n")
    assert "train.py:3:12: BN001" in out
    assert path.read_text() == UNHOOKED


def test_the_summary_says_which_fixes_are_available(tmp_path, capsys):
    (tmp_path / "train.py").write_text(UNHOOKED)
    path = tmp_path / "norm.py"
    path.write_text("import tensorflow as tf\n"
                    "y = tf.nn.batch_norm_with_global_normalization(x, m, v, b, g, 1e-3, True)\n")
    code, out, _err = run(capsys, str(tmp_path), "--isolated")
    assert code == 1
    assert out.endswith("Found 2 findings in 2 files (1 fixable with --fix, 1 more with --fix --unsafe-fixes).\n")
    assert run(capsys, str(tmp_path), "--isolated", "--unsafe-fixes")[1].endswith(
        "Found 2 findings in 2 files (2 fixable with --fix --unsafe-fixes).\n")
    code, out, _err = run(capsys, str(tmp_path), "--isolated", "--fix")
    assert (code, path.read_text().count("batch_normalization(x, m, v, b, g, 1e-3)")) == (1, 1)
    assert out.endswith("Found 2 findings (1 fixed, 1 remaining).\n")


def test_permissions_are_kept_and_no_temporary_file_is_left(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(UNHOOKED)
    os.chmod(path, 0o640)
    assert run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated")[0] == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]


def test_a_symlink_is_written_through(tmp_path, capsys):
    real = tmp_path / "real.py"
    real.write_text(UNHOOKED)
    link = tmp_path / "link.py"
    link.symlink_to(real)
    assert run(capsys, str(link), "--fix", "--unsafe-fixes", "--isolated")[0] == 0
    assert link.is_symlink() and real.read_text() == HOOKED


def test_a_failed_write_leaves_the_original_whole(tmp_path, capsys, monkeypatch):
    path = tmp_path / "train.py"
    path.write_text(UNHOOKED)

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fixer.os, "replace", failing_replace)
    code, out, err = run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated")
    assert code == 2
    assert err == f"bnlint: error: {path}: cannot write fixes: No space left on device\n"
    assert path.read_text() == UNHOOKED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]
    assert "train.py:3:12: BN001" in out and "Found 1 finding in 1 file" in out


def test_a_read_only_file_is_reported_not_crashed_on(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(UNHOOKED)
    os.chmod(path, 0o444)
    code, out, err = run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated")
    assert code == 2
    assert err == f"bnlint: error: {path}: cannot write fixes: the file is read-only\n"
    assert path.read_text() == UNHOOKED
    assert "train.py:3:12: BN001" in out


def test_a_file_changed_while_fixing_is_not_overwritten(tmp_path, monkeypatch):
    path = tmp_path / "m.py"
    path.write_text("x = foo(1)\n")
    real_write = fixer._write

    def edit_first(target, original, fixed, errors):
        path.write_text("x = foo(2)\n")
        return real_write(target, original, fixed, errors)

    monkeypatch.setattr(fixer, "_write", edit_first)
    outcome = fix_files([path], [RenameFoo])
    assert path.read_text() == "x = foo(2)\n"
    assert outcome.errors == [f"{path}: changed on disk while fixing; not written"]


# --- --diff and JSON ----------------------------------------------------------------------


def test_diff_prints_without_writing_and_exits_1(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("train.py").write_text(UNHOOKED)
    code, out, err = run(capsys, "train.py", "--diff", "--unsafe-fixes", "--isolated")
    assert code == 1
    assert out == (
        "--- train.py\n+++ train.py\n@@ -1,3 +1,4 @@\n"
        " import tensorflow.compat.v1 as tf\n"
        " h = tf.layers.batch_normalization(x, training=True)\n"
        "-train_op = tf.train.AdamOptimizer(0.01).minimize(loss)\n"
        "+with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):\n"
        "+    train_op = tf.train.AdamOptimizer(0.01).minimize(loss)\n"
    )
    assert err == "Would fix 1 finding.\n"
    assert Path("train.py").read_text() == UNHOOKED
    # Without --unsafe-fixes there is nothing to apply.
    assert run(capsys, "train.py", "--diff", "--isolated") == (0, "", "No fixes available.\n")


def test_json_fix_field_carries_applicability_message_and_edits(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(UNHOOKED)
    code, out, _err = run(capsys, str(path), "--format", "json", "--isolated")
    assert code == 1
    [finding] = json.loads(out)
    assert finding["fix"] == {
        "applicability": "unsafe",
        "message": "Build the train op under `tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS))`",
        "edits": [{
            "content": "with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):\n"
                       "    train_op = tf.train.AdamOptimizer(0.01).minimize(loss)",
            "location": {"row": 3, "column": 1},
            "end_location": {"row": 3, "column": 55},
        }],
    }


def test_fix_reports_remaining_findings_with_exit_1(tmp_path, capsys):
    # BN003 has no fix; BN001's is applied.
    path = tmp_path / "train.py"
    path.write_text(UNHOOKED + "xs = tf.placeholder(tf.float32, [None, 32, 32, 3])\n"
                    "mean, var = tf.nn.moments(xs, axes=[0, 3])\n")
    code, out, _err = run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated")
    assert code == 1
    assert out == f"{path}:6:13: BN003 " + out.split(" BN003 ", 1)[1]
    assert out.endswith("Found 2 findings (1 fixed, 1 remaining).\n")


def test_noqa_and_ignored_findings_are_not_fixed(tmp_path, capsys):
    path = tmp_path / "train.py"
    noqa = UNHOOKED.replace("minimize(loss)", "minimize(loss)  # noqa: BN001")
    path.write_text(noqa)
    assert run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated")[0] == 0
    assert run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated", "--ignore", "BN001")[0] == 0
    path.write_text(UNHOOKED)
    assert run(capsys, str(path), "--fix", "--unsafe-fixes", "--isolated", "--ignore", "BN001")[0] == 0
    assert path.read_text() == UNHOOKED


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_fixed_file_parses(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("x = foo(foo(1))\n")
    fix_files([path], [RenameFoo])
    assert fixer.parses(path.read_text())
