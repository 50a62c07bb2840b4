"""bnlint where users run it: pre-commit, flake8, GitLab CI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bnlint.cli import main

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NHWC_BUG = (
    "import tensorflow as tf\n"
    "x = tf.compat.v1.placeholder(tf.float32, [None, 32, 32, 3])\n"
    "mean, var = tf.nn.moments(x, axes=[0, 3])\n"
)
UNHOOKED = (
    "import tensorflow.compat.v1 as tf\n"
    "h = tf.layers.batch_normalization(x, training=True)\n"
    "train_op = tf.train.AdamOptimizer().minimize(loss)\n"
)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", *args],
                   cwd=cwd, check=True, capture_output=True)


def _try_hook(tmp_path: Path, hook: str, files: dict[str, str], passed: tuple[str, ...] = ("--all-files",)):
    """A throwaway git repository holding ``files``, and a function running ``hook`` from this checkout on it.

    ``passed`` says which files pre-commit hands the hook: all, or ``("--files", name, ...)``.
    """
    project = tmp_path / "project"
    project.mkdir()
    for name, text in files.items():
        (project / name).write_text(text)
    _git(project, "init", "-q")
    _git(project, "add", *files)
    _git(project, "commit", "-qm", "init")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    command = [str(BIN / "pre-commit"), "try-repo", str(ROOT), hook, *passed]
    return project, lambda: subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed by pre-commit")
def test_pre_commit_try_repo_fails_on_a_finding_and_passes_once_fixed(tmp_path):
    project, run_hook = _try_hook(tmp_path, "bnlint", {"train.py": NHWC_BUG})

    failing = run_hook()
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "train.py:3:13: BN003 Moments over axes [0, 3]" in failing.stdout

    (project / "train.py").write_text(NHWC_BUG.replace("axes=[0, 3]", "axes=[0, 1, 2]"))
    passing = run_hook()
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "bnlint" in passing.stdout and "Passed" in passing.stdout


# The batch norm in one module, the train op that never runs its update ops in another.
MODEL = (
    "import tensorflow as tf\n"
    "def classifier(images):\n"
    "    hidden = tf.compat.v1.layers.batch_normalization(images, training=True)\n"
    "    return tf.compat.v1.layers.dense(hidden, 10)\n"
)
TRAIN = (
    "import tensorflow as tf\n"
    "from model import classifier\n"
    "loss = tf.reduce_mean(classifier(tf.compat.v1.placeholder(tf.float32, [None, 8])))\n"
    "train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)\n"
)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed by pre-commit")
def test_pre_commit_on_the_changed_file_alone_gives_the_verdict_of_the_whole_project(tmp_path):
    # Only train.py changed: the hook is passed train.py, and still sees the batch norm in model.py.
    project, run_hook = _try_hook(tmp_path, "bnlint", {"model.py": MODEL, "train.py": TRAIN},
                                  passed=("--files", "train.py"))
    whole = subprocess.run([sys.executable, "-m", "bnlint", "--no-cache", "."], cwd=project,
                           capture_output=True, text=True)
    expected = ("train.py:4:12: BN001 Train op does not run the moving-average updates of "
                "`tf.compat.v1.layers.batch_normalization` (model.py:3)")
    assert whole.returncode == 1 and whole.stdout.splitlines()[0] == expected, whole.stdout + whole.stderr

    hook = run_hook()
    assert hook.returncode == 1, hook.stdout + hook.stderr
    assert expected in hook.stdout.splitlines()
    assert "model.py:" not in hook.stdout.replace("(model.py:3)", "")


def test_flake8_runs_project_rules_on_the_one_file_it_is_given(tmp_path):
    (tmp_path / "moments.py").write_text(NHWC_BUG)
    (tmp_path / "train.py").write_text(UNHOOKED)
    result = subprocess.run([str(BIN / "flake8"), "--select", "BN", "moments.py", "train.py"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("moments.py:3:13: BN003 Moments over axes [0, 3] reduce the channel axis 3 of NHWC "
                        "features; keep it out: [0, 1, 2]")
    # A single TF1 script is its own project: its unhooked train op is reported, as by bnlint.
    assert [line.split(" ")[0] + " " + line.split(" ")[1] for line in lines[1:]] == ["train.py:3:12: BN001"]


def test_flake8_judges_each_file_alone_where_bnlint_links_them(tmp_path):
    # The train op is hooked by the caller in run.py: bnlint links the files, flake8 sees model.py alone.
    (tmp_path / "model.py").write_text(
        "import tensorflow.compat.v1 as tf\n"
        "def build(x, labels):\n"
        "    h = tf.layers.batch_normalization(x, training=True)\n"
        "    loss = tf.losses.mean_squared_error(labels, h)\n"
        "    return tf.train.AdamOptimizer().minimize(loss)\n")
    (tmp_path / "run.py").write_text(
        "import tensorflow.compat.v1 as tf\n"
        "import model\n"
        "train_op = model.build(images, labels)\n"
        "update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)\n"
        "with tf.Session() as sess:\n"
        "    sess.run([train_op, update_ops])\n")
    direct = subprocess.run([sys.executable, "-m", "bnlint", "."], cwd=tmp_path, capture_output=True, text=True)
    assert direct.returncode == 0, direct.stdout
    alone = subprocess.run([str(BIN / "flake8"), "--select", "BN", "model.py"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert "model.py:5:12: BN001" in alone.stdout


def test_flake8_lints_standard_input(tmp_path):
    result = subprocess.run([str(BIN / "flake8"), "--select", "BN", "-"], input=NHWC_BUG,
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.stdout.startswith("stdin:3:13: BN003 ")


def test_gitlab_code_quality_report(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(NHWC_BUG + NHWC_BUG.splitlines()[2] + "\n")
    assert main(["--format", "gitlab", "a.py"]) == 1
    issues = json.loads(capsys.readouterr().out)
    assert [(i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"], i["severity"])
            for i in issues] == [("BN003 (moments-axes-mismatch)", "a.py", 3, "major"),
                                 ("BN003 (moments-axes-mismatch)", "a.py", 4, "major")]
    assert all(i["description"].startswith("BN003 Moments over axes") for i in issues)
    # GitLab shows one issue per fingerprint: two findings need two fingerprints.
    assert len({i["fingerprint"] for i in issues}) == 2


KERAS2_MODE = (
    "import tensorflow as tf\n"
    "\n"
    "@tf.function\n"
    "def step(x):\n"
    "    return x\n"
    "\n"
    "bn = tf.keras.layers.BatchNormalization(mode=0)\n"
)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed by pre-commit")
def test_pre_commit_fix_hook_applies_the_safe_fix_then_passes(tmp_path):
    project, run_hook = _try_hook(tmp_path, "bnlint-fix", {"layers.py": KERAS2_MODE})

    first = run_hook()
    # pre-commit fails a hook that modified files, so the user reviews the fix.
    assert first.returncode == 1, first.stdout + first.stderr
    assert "files were modified by this hook" in first.stdout
    assert (project / "layers.py").read_text() == KERAS2_MODE.replace("(mode=0)", "()")

    second = run_hook()
    assert second.returncode == 0, second.stdout + second.stderr
