"""Files named one by one are judged with the rest of their project, and only they are reported."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

import bnlint.incremental
from bnlint.cli import main
from bnlint.config import Config, find_config
from bnlint.engine import LintResult
from bnlint.findings import Finding, Location
from bnlint.project_context import context_files, narrowed, project_root

# The batch norm lives in one module, the train op that forgets its update ops in another.
MODEL = """\
import tensorflow as tf


def classifier(images):
    hidden = tf.compat.v1.layers.conv2d(images, 16, 3)
    hidden = tf.compat.v1.layers.batch_normalization(hidden, training=True)
    return tf.compat.v1.layers.dense(tf.compat.v1.layers.flatten(hidden), 10)
"""
TRAIN = """\
import tensorflow as tf

from model import classifier

images = tf.compat.v1.placeholder(tf.float32, [None, 28, 28, 1])
labels = tf.compat.v1.placeholder(tf.int64, [None])
logits = classifier(images)
loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
train_op = tf.compat.v1.train.AdamOptimizer(1e-3).minimize(loss)
"""
BN001 = ("{train}:9:12: BN001 Train op does not run the moving-average updates of "
         "`tf.compat.v1.layers.batch_normalization` (model.py:6)")
# A finding that needs no other file: reported the same with and without context.
MOMENTS = "mean, var = tf.nn.moments(images, axes=[0, 3])\n"
BN003 = "{train}:10:13: BN003 Moments over axes [0, 3]"
# A safe fix (BN015 drops the Keras 1 argument), for --fix.
KERAS1_MODE = "norm = tf.keras.layers.BatchNormalization(mode=0)\n"
CONFIG = "[tool.bnlint]\n"
# A neighbour with a finding of its own.
EVALUATE = """\
import tensorflow as tf
features = tf.compat.v1.placeholder(tf.float32, [None, 32, 32, 3])
mean, var = tf.nn.moments(features, axes=[0, 3])
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A configured three-file project, the working directory."""
    monkeypatch.chdir(tmp_path)
    return write(tmp_path, {"pyproject.toml": CONFIG, "model.py": MODEL, "train.py": TRAIN,
                            "evaluate.py": EVALUATE})


# --- what the user sees --------------------------------------------------------------


def test_a_named_file_gets_the_verdict_of_the_whole_project(project, capsys):
    whole = run(capsys, "--no-cache", ".")
    assert whole[0] == 1
    assert BN001.format(train="train.py") in whole[1].splitlines()

    named = run(capsys, "--no-cache", "train.py")
    assert named == (1, BN001.format(train="train.py") + "\n"
                     "Found 1 finding in 1 file (1 more with --fix --unsafe-fixes).\n", "")
    # The whole run's line for train.py, byte for byte.
    assert [line for line in whole[1].splitlines() if line.startswith("train.py:")] == named[1].splitlines()[:1]


def test_no_project_context_judges_the_named_file_alone(project, capsys):
    assert run(capsys, "--no-cache", "--no-project-context", "train.py") == (0, "All checks passed!\n", "")


def test_findings_in_the_context_files_are_not_reported(project, capsys):
    # evaluate.py holds a BN003 and broken.py cannot be parsed: `bnlint .` reports both, not their neighbours.
    write(project, {"broken.py": "mean, var = tf.nn.moments(x, [0]]\n"})
    whole = run(capsys, "--no-cache", ".")[1]
    assert "evaluate.py:3:13: BN003" in whole and "broken.py:1:" in whole
    assert run(capsys, "--no-cache", "model.py") == (0, "All checks passed!\n", "")
    code, out, _err = run(capsys, "--no-cache", "train.py")
    assert code == 1 and out.splitlines()[0] == BN001.format(train="train.py") and "evaluate.py" not in out


@pytest.mark.parametrize("cwd, named, shown", [
    (".", "src/train.py", "src/train.py"),
    ("src", "train.py", "train.py"),
    (".", "{root}/src/train.py", "{root}/src/train.py"),
])
def test_findings_keep_the_spelling_of_the_named_file(tmp_path, monkeypatch, capsys, cwd, named, shown):
    write(tmp_path, {"pyproject.toml": CONFIG, "src/model.py": MODEL, "src/train.py": TRAIN + MOMENTS})
    monkeypatch.chdir(tmp_path / cwd)
    named, shown = named.format(root=tmp_path), shown.format(root=tmp_path)
    alone = run(capsys, "--no-cache", "--no-project-context", named)[1].splitlines()
    code, out, _err = run(capsys, "--no-cache", named)
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == BN001.format(train=shown)
    assert lines[1].startswith(BN003.format(train=shown))
    # The finding that needed no context is the line it was before.
    assert lines[1] == alone[0]


def test_a_context_python2_file_gets_no_note_and_a_failing_rule_still_shows(project, capsys, monkeypatch):
    write(project, {"legacy.py": 'import tensorflow as tf\nprint "mean", tf.nn.moments(x, [0])\n'})
    assert run(capsys, "--no-cache", "train.py")[2] == ""
    assert "note: legacy.py: Python 2 source" in run(capsys, "--no-cache", "legacy.py")[2]

    # bnlint's own failure on a context file may hide a finding in the named one: it is shown.
    rule = importlib.import_module("bnlint.rules.bn001_unhooked_update_ops").UnhookedUpdateOps

    def broken(self, ctx):
        if ctx.file.path == "model.py":
            raise ValueError("unexpected node")
        return original(self, ctx)

    original = rule.check
    monkeypatch.setattr(rule, "check", broken)
    code, _out, err = run(capsys, "--no-cache", "train.py")
    assert code == 2
    assert "bnlint: error: internal error in BN001 on model.py: ValueError: unexpected node" in err


def test_a_warm_run_takes_the_context_from_the_cache(project, capsys, monkeypatch):
    linted: list[list[str]] = []
    real = bnlint.incremental.lint_parallel

    def spy(files, *args, **kwargs):
        linted.append(sorted(map(str, files)))
        return real(files, *args, **kwargs)

    monkeypatch.setattr(bnlint.incremental, "lint_parallel", spy)
    cold = run(capsys, "train.py")
    assert linted == [["evaluate.py", "model.py", "train.py"]]
    assert run(capsys, "train.py") == cold
    # The named file and its context are spelled as `bnlint .` spells them: one cache serves both.
    run(capsys, ".")
    assert len(linted) == 1
    # A change to the unchanged neighbour is seen.
    (project / "model.py").write_text(MODEL.replace("training=True", "training=False"))
    assert run(capsys, "train.py")[:2] == (0, "All checks passed!\n")
    assert linted[1] == ["model.py", "train.py"]


def test_fix_changes_only_the_named_file(project, capsys):
    write(project, {"model.py": MODEL + KERAS1_MODE, "train.py": TRAIN + KERAS1_MODE})
    assert run(capsys, "--fix", "train.py")[0] == 1  # the BN001 is left: its fix is unsafe
    assert (project / "train.py").read_text() == TRAIN + KERAS1_MODE.replace("(mode=0)", "()")
    assert (project / "model.py").read_text() == MODEL + KERAS1_MODE


def test_unsafe_fix_of_a_finding_only_context_reveals(project, capsys):
    code, diff, _err = run(capsys, "--diff", "--unsafe-fixes", "train.py")
    assert code == 1 and diff.startswith("--- train.py\n+++ train.py\n") and "model.py" not in diff
    assert run(capsys, "--fix", "--unsafe-fixes", "train.py")[:2] == (0, "Found 1 finding (1 fixed, 0 remaining).\n")
    assert "with tf.control_dependencies(" in (project / "train.py").read_text()
    assert (project / "model.py").read_text() == MODEL
    assert run(capsys, "--no-cache", ".")[0] == 1  # evaluate.py's BN003; train.py is clean now
    assert run(capsys, "--no-cache", "train.py")[:2] == (0, "All checks passed!\n")


def test_an_excluded_named_file_is_linted_and_excluded_neighbours_are_no_context(project, capsys):
    write(project, {"pyproject.toml": '[tool.bnlint]\nexclude = ["legacy/*"]\n', "legacy/old_train.py": TRAIN})
    code, out, _err = run(capsys, "--no-cache", "legacy/old_train.py")
    assert code == 1 and out.splitlines()[0] == BN001.format(train="legacy/old_train.py")
    config = find_config(Path("train.py"))
    assert sorted(map(str, context_files([Path("train.py")], [Path("train.py")], config))) == \
        ["evaluate.py", "model.py"]


# --- which files are the project -------------------------------------------------------


def test_the_configuration_directory_wins_over_the_git_root(tmp_path):
    write(tmp_path, {"repo/.git/HEAD": "", "repo/service/bnlint.toml": "", "repo/service/train.py": TRAIN})
    named = tmp_path / "repo/service/train.py"
    assert project_root([named], find_config(named)) == tmp_path / "repo/service"


@pytest.mark.parametrize("git", [".git/HEAD", ".git"], ids=["repository", "worktree-file"])
def test_the_git_root_is_the_project_without_a_configuration(tmp_path, git):
    write(tmp_path, {f"repo/{git}": "", "repo/nets/model.py": MODEL, "repo/scripts/train.py": TRAIN})
    named = [tmp_path / "repo/scripts/train.py"]
    config = Config(root=tmp_path)
    assert project_root(named, config) == tmp_path / "repo"
    assert context_files(named, named, config) == [tmp_path / "repo/nets/model.py"]


def test_the_parent_of_the_top_package_is_the_project_without_git(tmp_path):
    write(tmp_path, {"src/zoo/__init__.py": "", "src/zoo/nets/__init__.py": "", "src/zoo/nets/resnet.py": MODEL,
                     "src/zoo/train.py": TRAIN, "other/notes.py": ""})
    named = tmp_path / "src/zoo/nets/resnet.py"
    assert project_root([named], Config(root=tmp_path)) == tmp_path / "src"


def test_a_lone_script_has_no_project(tmp_path):
    write(tmp_path, {"scratch/train.py": TRAIN, "scratch/model.py": MODEL})
    named = [tmp_path / "scratch/train.py"]
    assert project_root(named, Config(root=tmp_path)) is None
    assert context_files(named, named, Config(root=tmp_path)) == []


def test_files_of_two_projects_get_no_context(tmp_path):
    write(tmp_path, {"one/.git/HEAD": "", "one/train.py": TRAIN, "two/.git/HEAD": "", "two/train.py": TRAIN,
                     "loose/train.py": TRAIN})
    config = Config(root=tmp_path)
    assert project_root([tmp_path / "one/train.py", tmp_path / "two/train.py"], config) is None
    assert project_root([tmp_path / "one/train.py", tmp_path / "loose/train.py"], config) is None
    # One file in a submodule that is also a subpackage, one beside it: the package root would be a guess.
    write(tmp_path, {"src/zoo/__init__.py": "", "src/zoo/train.py": TRAIN,
                     "src/zoo/vendor/__init__.py": "", "src/zoo/vendor/.git": "", "src/zoo/vendor/model.py": MODEL})
    assert project_root([tmp_path / "src/zoo/train.py", tmp_path / "src/zoo/vendor/model.py"], config) is None
    # Outside the configuration's directory too.
    write(tmp_path, {"one/bnlint.toml": ""})
    assert project_root([tmp_path / "one/train.py", tmp_path / "two/train.py"],
                        find_config(tmp_path / "one/train.py")) is None


def test_a_directory_on_the_command_line_gets_no_context(tmp_path):
    # `bnlint DIR` judges what DIR holds, as before, whatever lies around it.
    write(tmp_path, {"pyproject.toml": CONFIG, "src/train.py": TRAIN, "model.py": MODEL})
    config = find_config(tmp_path / "src")
    assert project_root([tmp_path / "src"], config) is None
    assert project_root([tmp_path], config) is None


def test_a_file_is_in_the_run_once_whatever_its_spelling(project):
    config = find_config(project)
    named = Path("src/../train.py")
    write(project, {"src/helpers.py": ""})
    context = context_files([named], [named], config)
    assert sorted(map(str, context)) == ["evaluate.py", "model.py", "src/helpers.py"]
    assert all(not path.is_absolute() for path in context)
    assert os.path.realpath(named) not in {os.path.realpath(path) for path in context}


def test_narrowed_counts_and_reports_the_named_files_only():
    def finding(filename: str) -> Finding:
        return Finding("BN003", "moments-axes-mismatch", "m", filename, Location(1, 1), Location(1, 2), "error")

    result = LintResult(findings=[finding("model.py"), finding("train.py")], files_checked=3, files_parsed=3,
                        errors=["internal error in BN001 on model.py"], python2=["model.py"])
    seen = narrowed(result, [Path("train.py")])
    assert (seen.findings, seen.files_checked, seen.errors, seen.python2) == \
        ([finding("train.py")], 1, ["internal error in BN001 on model.py"], [])
