"""Several bnlint processes sharing one ``--cache-dir`` at the same time.

Each process writes the cache through a temporary file of its own
(``tempfile.mkstemp``) renamed over the cache file (``os.replace``), so a reader
sees one whole file or another, never a mix, and every run reports what a
``--no-cache`` run reports.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bnlint_process import subprocess_env

from bnlint.discovery import discover
from bnlint.incremental import lint_incremental
from bnlint.rule_loader import load_rules

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures" / "lint"
COPIES = 5
PROCESSES = 2
# The fixture files written in Python 2.
PYTHON2_FIXTURES = ("python2_model_python3_train/model.py", "tf1_python2_hooked_clean/train.py",
                    "tf1_python2_unhooked/train.py")



def _command(*argv: str) -> list[str]:
    # --isolated: the fixtures' own bnlint.toml files must not choose the rules.
    return [sys.executable, "-m", "bnlint", "--isolated", "--format", "json", *argv, "."]


def _summary(stdout: str) -> list[tuple]:
    return [(f["filename"], f["location"]["row"], f["location"]["column"], f["code"], f["message"])
            for f in json.loads(stdout)]


def _no_cache(project: Path) -> list[tuple]:
    proc = subprocess.run(_command("--no-cache"), cwd=project, env=subprocess_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == _python2_notes(project)
    return _summary(proc.stdout)


def _python2_notes(project: Path) -> str:
    """What every run prints on stderr: one note per Python 2 fixture file, whether it came from the cache or not."""
    names = sorted(f"copy_{copy}/{name}" for copy in range(COPIES) for name in PYTHON2_FIXTURES)
    return "".join(f"bnlint: note: {name}: Python 2 source, linted through a translation to Python 3 syntax; "
                   "no fixes offered\n" for name in names)


def _together(project: Path, cache: Path) -> list[subprocess.CompletedProcess]:
    """Start PROCESSES runs at once on the same project and cache; wait for all."""
    procs = [subprocess.Popen(_command("--cache-dir", str(cache)), cwd=project, env=subprocess_env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(PROCESSES)]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def _check_cache_files(cache: Path, project_files: set[str]) -> None:
    stored = sorted(cache.glob("*.json"))
    assert stored, "no cache file written"
    for path in stored:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert set(data["files"]) == project_files
    # No temporary file left behind by any writer.
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith(".tmp-")) == []


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("concurrent")
    for copy in range(COPIES):
        shutil.copytree(FIXTURES, root / f"copy_{copy}", ignore=shutil.ignore_patterns("bnlint.toml", "*.md"))
    return root


def _files(project: Path, monkeypatch) -> list[Path]:
    monkeypatch.chdir(project)
    return discover([Path(".")]).files


def test_project_is_big_enough_to_overlap(project, monkeypatch):
    assert len(_files(project, monkeypatch)) >= 200


def _assert_cache_consistent(project: Path, cache: Path, monkeypatch, expected: list) -> None:
    """Every cache file is valid and covers the project; a warm run parses nothing and agrees."""
    files = _files(project, monkeypatch)
    _check_cache_files(cache, {str(path) for path in files})
    rules = [rule for rule in load_rules().values() if not rule.OPT_IN]
    warm = lint_incremental(files, rules, cache)
    assert warm.files_parsed == 0
    assert [(f.filename, f.location.row, f.location.column, f.code, f.message) for f in warm.findings] == expected


def test_processes_sharing_a_cache_agree_with_a_no_cache_run(project, tmp_path, monkeypatch):
    expected = _no_cache(project)
    assert len(expected) >= 5 * COPIES
    cache = tmp_path / "cache"
    for proc in _together(project, cache):
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr == _python2_notes(project)
        assert _summary(proc.stdout) == expected

    # A third, warm run reports the same and parses nothing.
    _assert_cache_consistent(project, cache, monkeypatch, expected)
    proc = subprocess.run(_command("--cache-dir", str(cache)), cwd=project, env=subprocess_env(), capture_output=True,
                          text=True, timeout=300)
    assert (proc.returncode, proc.stderr) == (1, _python2_notes(project))
    assert _summary(proc.stdout) == expected


def test_an_edit_between_concurrent_runs_is_re_linted(project, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    for proc in _together(project, cache):
        assert proc.returncode == 1, proc.stderr
    # Fix one finding and add another, then lint concurrently from the warm cache.
    target = project / "copy_0" / "nchw_moments" / "resnet_block.py"
    original = target.read_text()
    try:
        target.write_text(original + "\nimport tensorflow as tf\n"
                          "z = tf.compat.v1.placeholder(tf.float32, [None, 32, 32, 3])\n"
                          "zm, zv = tf.nn.moments(z, axes=[0, 3])\n")
        (project / "copy_1" / "added.py").write_text(
            "import tensorflow as tf\nbn = tf.keras.layers.BatchNormalization(momentum=0.1)\n")
        expected = _no_cache(project)
        assert any(name == "copy_0/nchw_moments/resnet_block.py" and code == "BN003"
                   and row == original.count("\n") + 4 for name, row, _c, code, _m in expected)
        assert any(name == "copy_1/added.py" and code == "BN009" for name, _r, _c, code, _m in expected)
        for proc in _together(project, cache):
            assert (proc.returncode, proc.stderr) == (1, _python2_notes(project))
            assert _summary(proc.stdout) == expected
        _assert_cache_consistent(project, cache, monkeypatch, expected)
    finally:
        target.write_text(original)
        (project / "copy_1" / "added.py").unlink(missing_ok=True)
