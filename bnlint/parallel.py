"""``--jobs``: lint import-connected groups of files in parallel worker processes.

A group closed under imports holds every file its findings can depend on
(see ``bnlint.import_graph``), so linting groups separately finds exactly
what one run over everything finds. Workers return findings, which are plain
data; syntax trees never cross a process boundary.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Mapping, Sequence

from bnlint.engine import PARSE_ERROR_CODE, LintResult, lint_files, token_pattern
from bnlint.findings import Finding
from bnlint.import_graph import GraphInputs, components, graph_and_analysed, graph_inputs
from bnlint.rule import Rule

# Below this many files, starting workers costs more than it saves.
_MIN_FILES_PER_JOB = 16


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def lint_parallel(files: Sequence[Path], rules: Sequence[type[Rule]], jobs: int,
                  progress: Callable[[int], None] | None = None,
                  known: Mapping[str, tuple[GraphInputs, int]] | None = None) -> LintResult:
    """Lint ``files`` with up to ``jobs`` processes; same findings as ``lint_files``.

    ``known`` gives files' graph inputs and sizes already read (the cache has them), so they are not read twice.
    """
    if jobs <= 1 or len(files) < jobs * _MIN_FILES_PER_JOB:
        return lint_files(files, rules, progress=progress)
    relevant = token_pattern([rule for rule in rules if rule.CODE != PARSE_ERROR_CODE])
    inputs: dict[str, GraphInputs] = {}
    sizes: dict[str, int] = {}
    for path in files:
        name = str(path)
        if known is not None and name in known:
            inputs[name], sizes[name] = known[name]
            continue
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        inputs[name] = graph_inputs(path, data.decode("utf-8", "replace"), relevant)
        sizes[name] = len(data)
    graph, keep = graph_and_analysed(inputs)
    groups = components(graph)
    batches = _balance(groups, sizes, jobs * 4)
    codes = [rule.CODE for rule in rules]
    result = LintResult()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        jobs_args = [(batch, codes, sorted(keep.intersection(batch))) for batch in batches]
        for findings, checked, parsed, errors, python2, suppressed, probes, rows in pool.map(_lint_batch, jobs_args):
            result.findings.extend(findings)
            result.suppressed.extend(suppressed)
            result.text_probes |= probes
            result.rows_asked.update(rows)
            result.errors.extend(errors)
            result.python2.extend(python2)
            result.files_checked += checked
            result.files_parsed += parsed
            if progress is not None:
                progress(result.files_checked)
    result.findings.sort(key=Finding.sort_key)
    result.python2.sort()
    return result


def _balance(groups: list[set[str]], sizes: dict[str, int], count: int) -> list[list[str]]:
    """Whole groups into ``count`` batches of similar byte size, largest groups first."""
    batches: list[list[str]] = [[] for _ in range(max(count, 1))]
    loads = [0] * len(batches)
    for group in sorted(groups, key=lambda g: -sum(sizes[name] for name in g)):
        index = loads.index(min(loads))
        batches[index].extend(sorted(group))
        loads[index] += sum(sizes[name] for name in group)
    return [batch for batch in batches if batch]


def _lint_batch(job: tuple[list[str], list[str], list[str]]) \
        -> tuple[list[Finding], int, int, list[str], list[str], list[Finding], set[str], dict[str, int]]:
    names, codes, analysed = job
    from bnlint.rule_loader import load_rules

    available = load_rules()
    result = lint_files([Path(name) for name in names], [available[code] for code in codes], analysed=set(analysed))
    return (result.findings, result.files_checked, result.files_parsed, result.errors, result.python2,
            result.suppressed, result.text_probes, result.rows_asked)
