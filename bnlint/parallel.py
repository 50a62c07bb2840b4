"""``--jobs``: lint import-connected groups of files in parallel worker processes, or one after another.

A group closed under imports holds every file its findings can depend on
(see ``bnlint.import_graph``), so linting groups separately finds exactly
what one run over everything finds. Workers return findings, which are plain
data; syntax trees never cross a process boundary. With one job the groups
are linted in turn, in batches no larger than the largest group.

Every batch runs in a process of its own, forked for it, where the platform
forks: a process that has held one batch's trees cannot give that memory back
to the system, since what outlives the batch (results, caches) sits scattered
across the allocator's arenas. On the wheel corpus of
``benchmarks/lint_speed.py`` the second batch of a one-process run started
from 245 MB left by the first. Forking costs milliseconds; the largest
process then holds one batch, never the leftovers of another.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

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
    if len(files) < max(jobs, 2) * _MIN_FILES_PER_JOB:
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
    result = LintResult()
    batches = _in_turn(groups, sizes) if jobs <= 1 else _balance(groups, sizes, jobs * 4)
    codes = [rule.CODE for rule in rules]
    work = [(batch, codes, sorted(keep.intersection(batch))) for batch in batches]
    if jobs <= 1 and (len(batches) == 1 or _FORK is None):
        for batch in batches:
            done = result.files_checked
            counted = None if progress is None else (lambda count: progress(done + count))
            _merge(result, lint_files([Path(name) for name in batch], rules, progress=counted,
                                      analysed=keep.intersection(batch)))
            # What reference counting left (the rules' own cycles) goes before the next batch is parsed,
            # while the collector is off: else the batches' garbage adds up in the peak.
            gc.collect()
    else:
        parts = _each_in_a_fresh_process(work, jobs) if _FORK is not None else _in_one_pool(work, jobs)
        for part in parts:
            _merge(result, part)
            if progress is not None:
                progress(result.files_checked)
    result.findings.sort(key=Finding.sort_key)
    result.python2.sort()
    return result


# Forking is cheap where it is the platform's way (Linux); elsewhere a new process re-imports
# everything, and batches share the pool's workers instead.
_FORK = multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None


def _each_in_a_fresh_process(work: list[tuple[list[str], list[str], list[str]]], jobs: int) -> list[LintResult]:
    """Each batch's result, in order, each linted in a process forked for it, up to ``jobs`` at once."""
    results: dict[int, LintResult] = {}
    running: dict[Future, tuple[int, ProcessPoolExecutor]] = {}
    queue = list(enumerate(work))
    try:
        while queue or running:
            while queue and len(running) < max(jobs, 1):
                index, job = queue.pop(0)
                executor = ProcessPoolExecutor(max_workers=1, mp_context=_FORK)
                running[executor.submit(_lint_batch, job)] = (index, executor)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                index, executor = running.pop(future)
                executor.shutdown()
                results[index] = future.result()
    finally:
        for _index, executor in running.values():
            executor.shutdown(cancel_futures=True)
    return [results[index] for index in sorted(results)]


def _in_one_pool(work: list[tuple[list[str], list[str], list[str]]], jobs: int) -> Iterator[LintResult]:
    """Each batch's result, in order, from ``jobs`` workers that lint one batch after another."""
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(_lint_batch, work)


def _merge(result: LintResult, part: LintResult) -> None:
    result.findings.extend(part.findings)
    result.suppressed.extend(part.suppressed)
    result.text_probes |= part.text_probes
    result.rows_asked.update(part.rows_asked)
    result.quoted |= part.quoted
    result.errors.extend(part.errors)
    result.python2.extend(part.python2)
    result.files_checked += part.files_checked
    result.files_parsed += part.files_parsed


def _in_turn(groups: list[set[str]], sizes: dict[str, int]) -> list[list[str]]:
    """Whole groups into batches of at most the largest group's bytes (first fit, largest first), in file order.

    Few batches keep the per-run cost (rule set-up, the project index) low; none
    larger than the largest group keeps the trees held at once as few as can be.
    """
    ordered = sorted(groups, key=lambda g: -sum(sizes[name] for name in g))
    if not ordered:
        return []
    capacity = sum(sizes[name] for name in ordered[0])
    batches: list[list[str]] = []
    loads: list[int] = []
    for group in ordered:
        load = sum(sizes[name] for name in group)
        for index, used in enumerate(loads):
            if used + load <= capacity:
                batches[index].extend(group)
                loads[index] += load
                break
        else:
            batches.append(list(group))
            loads.append(load)
    return [sorted(batch) for batch in batches]


def _balance(groups: list[set[str]], sizes: dict[str, int], count: int) -> list[list[str]]:
    """Whole groups into ``count`` batches of similar byte size, largest groups first."""
    batches: list[list[str]] = [[] for _ in range(max(count, 1))]
    loads = [0] * len(batches)
    for group in sorted(groups, key=lambda g: -sum(sizes[name] for name in g)):
        index = loads.index(min(loads))
        batches[index].extend(sorted(group))
        loads[index] += sum(sizes[name] for name in group)
    return [batch for batch in batches if batch]


def _lint_batch(job: tuple[list[str], list[str], list[str]]) -> LintResult:
    names, codes, analysed = job
    from bnlint.rule_loader import load_rules

    available = load_rules()
    return lint_files([Path(name) for name in names], [available[code] for code in codes], analysed=set(analysed))
