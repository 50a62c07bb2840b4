"""Linting with the result cache: only the import-connected files around a change are linted again.

An edit of comments alone (``bnlint.comment_edits``) is no change: the cache
keeps every finding, judging the edited file's ``# noqa`` comments again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Sequence

from bnlint.cache import ResultCache, FileEntry, dirty_files, file_digest, finding_from_dict, finding_to_dict, run_key
from bnlint.comment_edits import first_moved_row, rows_unchanged, same_answers
from bnlint.engine import PARSE_ERROR_CODE, LintResult, checked_tokens, token_pattern
from bnlint.findings import Finding
from bnlint.import_graph import graph_inputs
from bnlint.noqa import NoqaMap
from bnlint.notebook import NOTEBOOK_SUFFIX
from bnlint.parallel import lint_parallel
from bnlint.rule import Rule
from bnlint.source import SourceError, decode


def lint_incremental(files: Sequence[Path], rules: Sequence[type[Rule]], cache_dir: Path,
                     jobs: int = 1, progress: Callable[[int], None] | None = None) -> LintResult:
    """Lint ``files`` like ``lint_files``, reusing cached findings of files untouched by any change."""
    cache = ResultCache(cache_dir, run_key(rules))
    checking = [rule for rule in rules if rule.CODE != PARSE_ERROR_CODE]
    relevant = token_pattern(checking)
    # Module names change only when a package's __init__.py appears or goes; while the
    # set of them is the same, an unchanged file keeps its cached module name and imports.
    packages_stable = {str(p) for p in files if p.name == "__init__.py"} == \
        {name for name in cache.entries if name.endswith("__init__.py")}
    current: dict[str, FileEntry] = {}
    sizes: dict[str, int] = {}
    # Bytes the cache's source pack does not hold yet: new and changed files.
    new_bytes: dict[str, bytes] = {}
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            # Unreadable files are always linted again (the engine reports them).
            current[str(path)] = FileEntry(digest=f"unreadable:{exc.errno}:{id(path)}")
            continue
        digest = file_digest(data)
        sizes[str(path)] = len(data)
        cached = cache.entries.get(str(path))
        if packages_stable and cached is not None and cached.digest == digest:
            current[str(path)] = FileEntry(digest, cached.module, cached.imports, holds_tokens=cached.holds_tokens)
            continue
        new_bytes[str(path)] = data
        inputs = graph_inputs(path, data.decode("utf-8", "replace"), relevant)
        current[str(path)] = FileEntry(digest, inputs.module, inputs.imports, holds_tokens=inputs.holds_tokens)
    comment_edits: dict[str, tuple[list[dict], list[dict]]] = {}
    if packages_stable:
        questions = [*cache.text_probes, *(f"in:{token}" for token in checked_tokens(checking) or ())]
        for name, data in new_bytes.items():
            cached = cache.entries.get(name)
            if cached is None or cached.graph_inputs() != current[name].graph_inputs():
                continue
            kept = _after_comment_edit(Path(name), cached, cache.previous_bytes(name), data, questions)
            if kept is not None:
                comment_edits[name] = kept
    dirty = dirty_files(current, cache.entries, comment_edits)
    to_lint = [path for path in files if str(path) in dirty]
    known = {name: (current[name].graph_inputs(), sizes[name]) for name in dirty if name in sizes}
    result = lint_parallel(to_lint, rules, jobs, progress, known) if to_lint else LintResult()
    fresh = _by_file(result.findings)
    fresh_suppressed = _by_file(result.suppressed)
    findings: list[Finding] = []
    translated = set(result.python2)
    for name, entry in current.items():
        if name in dirty:
            entry.findings = [finding_to_dict(f) for f in fresh.get(name, [])]
            entry.suppressed = [finding_to_dict(f) for f in fresh_suppressed.get(name, [])]
            entry.rows_asked = result.rows_asked.get(name, 0)
            entry.quoted = name in result.quoted
            entry.python2 = name in translated
            findings.extend(fresh.get(name, []))
            continue
        if name in comment_edits:
            entry.findings, entry.suppressed = comment_edits[name]
        else:
            entry.findings = cache.entries[name].findings
            entry.suppressed = cache.entries[name].suppressed
        entry.python2 = cache.entries[name].python2
        entry.rows_asked = cache.entries[name].rows_asked
        entry.quoted = cache.entries[name].quoted
        findings.extend(finding_from_dict(f) for f in entry.findings)
    # A run where a rule failed is not cached: the next run must try again.
    if (dirty or comment_edits or set(current) != set(cache.entries)) and not result.errors:
        kept_entries = {name: entry for name, entry in current.items() if not entry.digest.startswith("unreadable:")}
        cache.save(kept_entries, new_bytes, result.text_probes)
    findings.sort(key=Finding.sort_key)
    return LintResult(findings=findings, files_checked=len(files), files_parsed=result.files_parsed,
                      errors=result.errors, python2=sorted(name for name, entry in current.items() if entry.python2))


def _by_file(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for finding in findings:
        out.setdefault(finding.filename, []).append(finding)
    return out


def _after_comment_edit(path: Path, cached: FileEntry, old_data: bytes | None, new_data: bytes,
                        questions: Sequence[str]) -> tuple[list[dict], list[dict]] | None:
    """The file's findings and hidden findings after an edit of comments alone; None for any other edit.

    Only plain Python 3 files: a notebook's rows are its cells', a Python 2 file is linted through a
    translation, and a file that did not parse (``BN000``, shown or hidden) has no code to compare.
    """
    if old_data is None or cached.python2 or path.suffix == NOTEBOOK_SUFFIX:
        return None
    kept = [*cached.findings, *cached.suppressed]
    if any(finding["code"] == PARSE_ERROR_CODE for finding in kept):
        return None
    try:
        old, new = decode(path, old_data).text, decode(path, new_data).text
    except SourceError:
        return None
    new_noqa = NoqaMap(new)
    if NoqaMap(old).skip_file or new_noqa.skip_file:
        return None  # a skipped file leaves the project: the others' findings may change
    # Comments between brackets are part of an expression a message may quote: code, unless nothing was quoted.
    moved = first_moved_row(old, new, bracketed_comments=cached.quoted)
    # A row someone asked about (a finding's, one a rule compared) must not move.
    if moved is None or moved <= cached.rows_asked or not same_answers(questions, old, new):
        return None
    fix_rows = [(edit["location"]["row"], edit["end_location"]["row"])
                for finding in kept if finding.get("fix") for edit in finding["fix"]["edits"]]
    if not rows_unchanged(old, new, fix_rows):
        return None
    shown: list[dict] = []
    hidden: list[dict] = []
    for finding in kept:
        row = finding.get("noqa_row") or finding["location"]["row"]
        (hidden if new_noqa.suppressed(finding["code"], row) else shown).append(finding)
    return shown, hidden
