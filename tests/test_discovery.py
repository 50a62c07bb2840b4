"""Which files a run lints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bnlint.discovery import SKIPPED_DIRS, discover


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")


def names(found, root: Path) -> list[str]:
    return [path.relative_to(root).as_posix() for path in found.files]


def test_finds_python_files_recursively_in_sorted_order(tmp_path):
    touch(tmp_path, "z.py", "a.py", "pkg/b.py", "pkg/sub/c.py", "pkg/README.md", "setup.cfg", "a.pyi", "B.py")
    found = discover([tmp_path])
    assert names(found, tmp_path) == ["B.py", "a.py", "pkg/b.py", "pkg/sub/c.py", "z.py"]
    assert found.errors == []


@pytest.mark.parametrize("skipped", sorted(SKIPPED_DIRS))
def test_skips_tool_and_environment_directories(tmp_path, skipped):
    touch(tmp_path, "keep.py", f"{skipped}/lost.py", f"src/{skipped}/lost.py")
    assert names(discover([tmp_path]), tmp_path) == ["keep.py"]


def test_skips_any_virtual_environment_by_its_pyvenv_cfg(tmp_path):
    touch(tmp_path, "keep.py", "env311/lib/mod.py", "env311/pyvenv.cfg")
    assert names(discover([tmp_path]), tmp_path) == ["keep.py"]


def test_exclude_globs_match_relative_path_or_base_name(tmp_path):
    touch(tmp_path, "src/model.py", "src/gen/out.py", "legacy/old.py", "src/legacy/old2.py", "src/model_pb2.py")
    found = discover([tmp_path], exclude=["src/gen", "legacy", "*_pb2.py"], root=tmp_path)
    assert names(found, tmp_path) == ["src/model.py"]


def test_exclude_globs_are_relative_to_the_config_root(tmp_path, monkeypatch):
    touch(tmp_path, "proj/src/gen/out.py", "proj/src/model.py")
    monkeypatch.chdir(tmp_path / "proj" / "src")
    found = discover([Path(".")], exclude=["src/gen"], root=tmp_path / "proj")
    assert [path.as_posix() for path in found.files] == ["model.py"]


def test_explicit_paths_are_linted_even_if_excluded_or_not_python(tmp_path):
    touch(tmp_path, "build/gen.py", "scripts/train", "notes.txt")
    explicit = [tmp_path / "build" / "gen.py", tmp_path / "scripts" / "train"]
    found = discover(explicit, exclude=["build", "train"], root=tmp_path)
    assert names(found, tmp_path) == ["build/gen.py", "scripts/train"]


def test_explicitly_named_directory_is_walked_even_if_its_name_is_skipped(tmp_path):
    touch(tmp_path, "build/gen.py", "build/__pycache__/x.py")
    assert names(discover([tmp_path / "build"]), tmp_path) == ["build/gen.py"]


def test_a_file_named_twice_is_linted_once_under_its_first_name(tmp_path, monkeypatch):
    touch(tmp_path, "a.py")
    monkeypatch.chdir(tmp_path)
    found = discover([Path("a.py"), Path("."), tmp_path / "a.py"])
    assert found.files == [Path("a.py")]


def test_missing_path_is_reported_and_the_rest_still_found(tmp_path, monkeypatch):
    touch(tmp_path, "a.py")
    monkeypatch.chdir(tmp_path)
    found = discover([Path("nope.py"), Path("a.py")])
    assert found.files == [Path("a.py")]
    assert found.errors == ["nope.py: No such file or directory"]


def test_symlink_loop_terminates(tmp_path):
    touch(tmp_path, "pkg/a.py")
    (tmp_path / "pkg" / "loop").symlink_to(tmp_path / "pkg", target_is_directory=True)
    (tmp_path / "pkg" / "self.py").symlink_to(tmp_path / "pkg" / "self.py")  # a link to itself
    found = discover([tmp_path])
    assert names(found, tmp_path) == ["pkg/a.py"]
    assert found.errors == []


def test_unreadable_directory_is_reported_without_a_traceback(tmp_path, monkeypatch):
    touch(tmp_path, "a.py", "locked/b.py")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = discover([tmp_path])
    assert names(found, tmp_path) == ["a.py"]
    assert found.errors == [f"{tmp_path / 'locked'}: cannot read directory: Permission denied"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads every directory")
def test_unreadable_directory_on_disk(tmp_path):
    touch(tmp_path, "a.py", "locked/b.py")
    (tmp_path / "locked").chmod(0)
    try:
        found = discover([tmp_path])
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert names(found, tmp_path) == ["a.py"]
    assert found.errors == [f"{tmp_path / 'locked'}: cannot read directory: Permission denied"]
