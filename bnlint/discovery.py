"""Find the Python files to lint under the paths named on the command line.

Directories are walked in sorted order, so a run is deterministic. Symbolic
links to directories are not followed (as in ruff and git), which also rules
out symlink loops. A path named on the command line is always linted, even
when an ``exclude`` glob matches it or it does not end in ``.py`` or ``.ipynb``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from bnlint.config import path_matches

# Directories no one wants linted: VCS metadata, virtual environments, build output, caches.
# Python files and Jupyter notebooks (their code cells are linted as one module).
LINTED_SUFFIXES = (".py", ".ipynb")

SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", "build", "dist", "__pycache__", "site-packages",
    "node_modules", ".tox", ".nox", ".bnlint_cache",
})


@dataclass
class Discovery:
    """The files found, and one message per path that could not be examined."""

    files: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _describe_os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _skip_dir(entry: os.DirEntry, exclude: Sequence[str], root: Path) -> bool:
    if entry.name in SKIPPED_DIRS:
        return True
    path = Path(entry.path)
    # Any virtual environment, whatever its name.
    if (path / "pyvenv.cfg").is_file():
        return True
    return bool(exclude) and path_matches(path, exclude, root)


def _is_file(entry: os.DirEntry) -> bool:
    # A dangling or self-referencing link is no source file; skip it like git does.
    try:
        return entry.is_file()
    except OSError:
        return False


def _walk(directory: Path, exclude: Sequence[str], root: Path, found: Discovery) -> None:
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as exc:
        found.errors.append(f"{directory}: cannot read directory: {_describe_os_error(exc)}")
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError as exc:
            found.errors.append(f"{entry.path}: {_describe_os_error(exc)}")
            continue
        is_file = not is_dir and entry.name.endswith(LINTED_SUFFIXES) and _is_file(entry)
        if is_dir:
            if not _skip_dir(entry, exclude, root):
                _walk(Path(entry.path), exclude, root, found)
        elif is_file and not (exclude and path_matches(Path(entry.path), exclude, root)):
            found.files.append(Path(entry.path))


def discover(paths: Iterable[Path], exclude: Sequence[str] = (), root: Path | None = None) -> Discovery:
    """Every file to lint under ``paths``, each once, sorted; ``exclude`` globs are relative to ``root``."""
    root = root if root is not None else Path.cwd()
    found = Discovery()
    for path in paths:
        if path.is_dir():
            _walk(path, exclude, root, found)
        elif path.exists() or path.is_symlink():
            # Named explicitly: lint it whatever its name; the engine reports it if unreadable.
            found.files.append(path)
        else:
            found.errors.append(f"{path}: No such file or directory")
    unique = {os.path.normpath(os.path.abspath(path)): path for path in reversed(found.files)}
    found.files = sorted(unique.values(), key=lambda path: path.parts)
    return found
