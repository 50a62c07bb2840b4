"""``--fix`` and ``--diff``: apply the rules' fixes in passes, check the result, write it safely.

Each pass lints every file (fixed text held in memory), applies the
non-overlapping fixes of each file at once and defers the overlapping ones to
the next pass, which sees the re-linted result. Passes stop when nothing more
applies, or after :data:`MAX_PASSES`. A file is only written when its fixed
text parses with libcst and compiles with CPython (unless the original did
not compile either), encodes in the file's own encoding,
and the file on disk has not changed meanwhile; it is written atomically
(a temporary file in the same directory, renamed over the original) with the
original permissions, BOM and encoding. Line endings are kept because edits
replace only what they must and generated lines use the module's newline.
"""

from __future__ import annotations

import codecs
import difflib
import os
import stat
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from bnlint.edits import apply_fixes, select_fixes, split_lines
from bnlint.engine import LintResult, lint_files
from bnlint.findings import Finding, Fix
from bnlint.notebook import code_cell_sources, dump_notebook, joined_source, replace_code_cells
from bnlint.project_context import narrowed, together
from bnlint.rule import Rule
from bnlint.source import SourceError, SourceFile, parse, read_source, run_with_big_stack

MAX_PASSES = 8


@dataclass
class FixOutcome:
    """What fixing did: the findings left, the fixed texts, and what went wrong."""

    result: LintResult
    # Findings fixed, per file (only files whose fixed text is kept).
    fixed: dict[Path, int] = field(default_factory=dict)
    originals: dict[Path, SourceFile] = field(default_factory=dict)
    fixed_sources: dict[Path, SourceFile] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def fixed_count(self) -> int:
        return sum(self.fixed.values())

    def diff(self) -> str:
        """A unified diff of every changed file."""
        out: list[str] = []
        for path in sorted(self.fixed_sources, key=str):
            old, new = self.originals[path].text, self.fixed_sources[path].text
            for line in difflib.unified_diff(split_lines(old), split_lines(new), str(path), str(path)):
                out.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
        return "".join(out)


def allowed(fix: Fix | None, unsafe: bool) -> bool:
    """A fix ``--fix`` applies (``unsafe``: ``--unsafe-fixes`` was given)."""
    return fix is not None and (fix.applicability == "safe" or unsafe)


def parses(text: str, compiles: bool = True) -> bool:
    """libcst parses the text and, with ``compiles``, CPython compiles it (libcst accepts ``f(a=1, a=1)``)."""
    try:
        run_with_big_stack(lambda: parse(text))
        if compiles:
            with warnings.catch_warnings():  # invalid escape sequences and the like are not ours to report
                warnings.simplefilter("ignore")
                compile(text, "<fixed>", "exec", dont_inherit=True)
    except (SourceError, SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def fix_files(files: Sequence[Path], rules: Sequence[type[Rule]], *, unsafe: bool = False,
              keep: Callable[[Finding], bool] = lambda finding: True, write: bool = True,
              context: Sequence[Path] = ()) -> FixOutcome:
    """Fix ``files`` with ``rules``; ``keep`` filters findings (selection, per-file ignores).

    With ``write`` False nothing is written (``--diff``). The outcome's result
    holds the findings that remain in the fixed text. ``context`` names other
    files of the project (``bnlint.project_context``): they are linted with
    ``files``, so project-wide rules see them, but never fixed, and their
    findings are not in the result.
    """
    by_name = {str(path): path for path in files}
    linted = together(files, context) if context else files
    outcome = FixOutcome(LintResult())
    sources: dict[Path, SourceFile] = {}
    failed: set[tuple[Path, str, str]] = set()

    def lint(texts: dict[Path, SourceFile]) -> LintResult:
        result = lint_files(linted, rules, texts)
        return narrowed(result, files) if context else result

    for pass_number in range(MAX_PASSES + 1):
        result = lint(sources)
        outcome.result = result
        fixable: dict[Path, list[Finding]] = {}
        for finding in result.findings:
            path = by_name.get(finding.filename)
            if path is not None and keep(finding) and allowed(finding.fix, unsafe) \
                    and (path, finding.code, finding.message) not in failed:
                fixable.setdefault(path, []).append(finding)
        if not fixable:
            break
        if pass_number == MAX_PASSES:
            outcome.errors.append(f"fixes did not converge after {MAX_PASSES} passes; some were not applied")
            break
        progress = False
        for path, findings in fixable.items():
            source = sources.get(path) or _read(path)
            if source is None:
                continue  # unreadable now
            outcome.originals.setdefault(path, source)
            if source.notebook is not None:
                fixed_source, count = _apply_notebook(path, source, findings, failed, outcome.errors)
            else:
                text, count = _apply(path, source.text, findings, failed, outcome.errors)
                fixed_source = replace(source, text=text)
            if fixed_source.text != source.text:
                sources[path] = fixed_source
                outcome.fixed[path] = outcome.fixed.get(path, 0) + count
                progress = True
        if not progress:
            break
    outcome.fixed_sources = {path: sources[path] for path in outcome.fixed if path in sources}
    if write and outcome.fixed_sources:
        unwritten = [path for path, source in outcome.fixed_sources.items()
                     if not _write(path, outcome.originals[path], source, outcome.errors)]
        if unwritten:
            for path in unwritten:
                del outcome.fixed_sources[path]
                del outcome.fixed[path]
            # What is left is what is on disk now.
            outcome.result = lint(outcome.fixed_sources)
    return outcome


def _read(path: Path) -> SourceFile | None:
    try:
        return read_source(path)
    except SourceError:
        return None


def _apply(path: Path, text: str, findings: list[Finding], failed: set, errors: list[str]) -> tuple[str, int]:
    """Apply the non-overlapping fixes of one file; a fix that breaks the code is left out and reported."""
    accepted, _deferred = select_fixes(text, [finding.fix for finding in findings if finding.fix is not None])
    fixed = apply_fixes(text, accepted)
    # A fix must not make code that compiled fail to compile (code that did not is held to libcst's parse).
    compiles = parses(text)
    if not parses(fixed, compiles):
        good: list[Fix] = []
        for fix in accepted:
            if parses(apply_fixes(text, [*good, fix]), compiles):
                good.append(fix)
                continue
            for finding in findings:
                if finding.fix is fix:
                    failed.add((path, finding.code, finding.message))
                    errors.append(f"{path}:{finding.location.row}: the {finding.code} fix would leave the file "
                                  f"unparseable; not applied")
        accepted = good
        fixed = apply_fixes(text, accepted)
    keys = {tuple(fix.edits) for fix in accepted}
    count = sum(1 for finding in findings if finding.fix is not None and tuple(finding.fix.edits) in keys)
    return fixed, count


def _apply_notebook(path: Path, source: SourceFile, findings: list[Finding], failed: set,
                    errors: list[str]) -> tuple[SourceFile, int]:
    """Apply fixes cell by cell (their edits count rows within a cell); only changed code cells change.

    A cell may hold IPython syntax, so the check that the result still parses is
    made on the notebook's joined Python source, as it was linted.
    """
    assert source.notebook is not None
    cells = code_cell_sources(source.notebook)
    per_cell: dict[int, list[Fix]] = {}
    for finding in findings:
        if finding.fix is not None and finding.cell is not None and 1 <= finding.cell <= len(cells):
            per_cell.setdefault(finding.cell, []).append(finding.fix)
    accepted = {cell: select_fixes(cells[cell - 1], fixes)[0] for cell, fixes in per_cell.items()}

    def build(chosen: dict[int, list[Fix]]) -> SourceFile:
        document = replace_code_cells(source.notebook, {
            cell: apply_fixes(cells[cell - 1], fixes) for cell, fixes in chosen.items() if fixes})
        text, cell_map = joined_source(document)
        return replace(source, text=text, cells=cell_map, notebook=document)

    compiles = parses(source.text)
    fixed = build(accepted)
    if not parses(fixed.text, compiles):
        good: dict[int, list[Fix]] = {}
        for cell, fixes in accepted.items():
            for fix in fixes:
                trial = {**good, cell: [*good.get(cell, []), fix]}
                if parses(build(trial).text, compiles):
                    good = trial
                    continue
                for finding in findings:
                    if finding.fix is fix:
                        failed.add((path, finding.code, finding.message))
                        errors.append(f"{path}:cell {finding.cell}:{finding.location.row}: the {finding.code} fix "
                                      f"would leave the notebook unparseable; not applied")
        accepted = good
        fixed = build(accepted)
    keys = {tuple(fix.edits) for fixes in accepted.values() for fix in fixes}
    count = sum(1 for finding in findings if finding.fix is not None and tuple(finding.fix.edits) in keys)
    return fixed, count


def _write(path: Path, original: SourceFile, fixed: SourceFile, errors: list[str]) -> bool:
    """Write ``fixed`` over ``path`` atomically, as the original was encoded; report instead of raising."""
    target = Path(os.path.realpath(path))  # write through a symlink, keep the link
    try:
        if fixed.notebook is not None:
            data = dump_notebook(fixed.notebook, fixed.notebook_indent).encode("utf-8")
        else:
            data = fixed.text.encode(fixed.encoding)
    except UnicodeEncodeError:
        errors.append(f"{path}: the fixed code cannot be encoded as {fixed.encoding}; not written")
        return False
    if fixed.has_bom:
        data = codecs.BOM_UTF8 + data
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
        # Write bits, not os.access: a read-only file stays read-only even for root.
        if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
            errors.append(f"{path}: cannot write fixes: the file is read-only")
            return False
        if read_source(target).text != original.text:
            errors.append(f"{path}: changed on disk while fixing; not written")
            return False
    except (OSError, SourceError) as exc:
        errors.append(f"{path}: cannot write fixes: {getattr(exc, 'strerror', None) or exc}")
        return False
    temp = None
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".bnlint-tmp", dir=target.parent)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except OSError as exc:
        errors.append(f"{path}: cannot write fixes: {exc.strerror or exc}")
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)
        return False
    return True
