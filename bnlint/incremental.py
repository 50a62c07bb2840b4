"""Linting with the result cache: only the import-connected files around a change are linted again."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from bnlint.cache import ResultCache, FileEntry, dirty_files, file_digest, finding_from_dict, finding_to_dict, run_key
from bnlint.engine import PARSE_ERROR_CODE, LintResult, token_pattern
from bnlint.findings import Finding
from bnlint.import_graph import GraphInputs, graph_inputs
from bnlint.parallel import lint_parallel
from bnlint.rule import Rule


def lint_incremental(files: Sequence[Path], rules: Sequence[type[Rule]], cache_dir: Path,
                     jobs: int = 1, progress: Callable[[int], None] | None = None) -> LintResult:
    """Lint ``files`` like ``lint_files``, reusing cached findings of files untouched by any change."""
    cache = ResultCache(cache_dir, run_key(rules))
    relevant = token_pattern([rule for rule in rules if rule.CODE != PARSE_ERROR_CODE])
    # Module names change only when a package's __init__.py appears or goes; while the
    # set of them is the same, an unchanged file keeps its cached module name and imports.
    packages_stable = {str(p) for p in files if p.name == "__init__.py"} == \
        {name for name in cache.entries if name.endswith("__init__.py")}
    current: dict[str, FileEntry] = {}
    sizes: dict[str, int] = {}
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
        inputs = graph_inputs(path, data.decode("utf-8", "replace"), relevant)
        current[str(path)] = FileEntry(digest, inputs.module, inputs.imports, holds_tokens=inputs.holds_tokens)
    dirty = dirty_files(current, cache.entries)
    to_lint = [path for path in files if str(path) in dirty]
    known = {name: (current[name].graph_inputs(), sizes[name]) for name in dirty if name in sizes}
    result = lint_parallel(to_lint, rules, jobs, progress, known) if to_lint else LintResult()
    fresh: dict[str, list[Finding]] = {}
    for finding in result.findings:
        fresh.setdefault(finding.filename, []).append(finding)
    findings: list[Finding] = []
    translated = set(result.python2)
    for name, entry in current.items():
        if name in dirty:
            entry.findings = [finding_to_dict(f) for f in fresh.get(name, [])]
            entry.python2 = name in translated
            findings.extend(fresh.get(name, []))
        else:
            entry.findings = cache.entries[name].findings
            entry.python2 = cache.entries[name].python2
            findings.extend(finding_from_dict(f) for f in entry.findings)
    # A run where a rule failed is not cached: the next run must try again.
    if (dirty or set(current) != set(cache.entries)) and not result.errors:
        cache.save({name: entry for name, entry in current.items() if not entry.digest.startswith("unreadable:")})
    findings.sort(key=Finding.sort_key)
    return LintResult(findings=findings, files_checked=len(files), files_parsed=result.files_parsed,
                      errors=result.errors, python2=sorted(name for name, entry in current.items() if entry.python2))
