"""Whole-project context for files named one by one (pre-commit, editors, ``bnlint changed.py``).

Project-wide rules judge a file by what other files do: a train op in
``train.py`` leaves the batch norms of an unchanged ``model.py`` without their
update ops. When only ``train.py`` is named, bnlint still lints every file of
its project, and reports findings only in the named files, as type checkers
do. So a hook that passes the changed files gives the verdict ``bnlint .`` gives
on them.

The project root is, in this order: the directory of the configuration file;
the nearest directory above the named files holding ``.git`` (a folder, or the
file of a worktree or submodule); the parent of the top-most package
(``__init__.py`` chain) holding them. Named files in two roots get no context
rather than a guess. A directory on the command line is linted as before, with
no context: it names the files the user wants judged together, and ``bnlint DIR``
must not change with what lies around ``DIR``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from bnlint.config import Config
from bnlint.discovery import discover

if TYPE_CHECKING:  # the engine (and libcst) load only when linting, not for `bnlint rule` or `--help`
    from bnlint.engine import LintResult


def project_root(paths: Sequence[Path], config: Config) -> Path | None:
    """The absolute root of the one project all ``paths`` lie in; None when there is none or no single one."""
    if not paths or any(path.is_dir() for path in paths):
        return None
    if config.path is not None:
        root = Path(os.path.abspath(config.path.parent))
        return root if all(_inside(path, root) for path in paths) else None
    for find in (_git_root, _package_root):
        roots = {find(_directory_of(path)) for path in paths}
        if len(roots) == 1 and None not in roots:
            return roots.pop()
        if roots != {None}:
            return None  # some paths have a root and others another or none: do not guess
    return None


def context_files(paths: Sequence[Path], files: Sequence[Path], config: Config) -> list[Path]:
    """The project's files that are not among ``files`` (what ``paths`` named), spelled like them.

    Empty when the paths belong to no single project. Files the configuration
    excludes are left out; a directory that cannot be read is skipped silently,
    since the user did not name it.
    """
    root = project_root(paths, config)
    if root is None:
        return []
    found = discover([root], config.exclude, config.root)
    relative = any(not path.is_absolute() for path in paths)
    given = {_identity(path) for path in files}
    context: list[Path] = []
    for path in found.files:
        if _identity(path) in given:
            continue
        # The spelling of the named files, so one file never enters the run under two names.
        context.append(Path(os.path.relpath(path)) if relative else path)
    return context


def together(files: Sequence[Path], context: Sequence[Path]) -> list[Path]:
    """The named files and their context in the order ``discover`` gives a whole directory."""
    return sorted([*files, *context], key=lambda path: path.parts)


def narrowed(result: LintResult, files: Iterable[Path]) -> LintResult:
    """``result`` as the user sees it: findings and Python 2 notes of the named ``files`` only.

    bnlint's own errors stay whatever file they concern: a rule that failed
    on a context file may have missed a finding in a named one.
    """
    names = {str(path) for path in files}
    return replace(
        result,
        findings=[finding for finding in result.findings if finding.filename in names],
        files_checked=len(names),
        python2=[name for name in result.python2 if name in names],
    )


def _identity(path: Path) -> str:
    return os.path.realpath(path)


def _directory_of(path: Path) -> Path:
    return Path(os.path.abspath(path)).parent


def _inside(path: Path, root: Path) -> bool:
    absolute = Path(os.path.abspath(path))
    return absolute == root or root in absolute.parents


def _git_root(directory: Path) -> Path | None:
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _package_root(directory: Path) -> Path | None:
    if not (directory / "__init__.py").is_file():
        return None
    while (directory.parent / "__init__.py").is_file() and directory.parent != directory:
        directory = directory.parent
    return directory.parent
