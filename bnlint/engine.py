"""The lint pipeline: read, pre-filter, parse, index the project, run the rules, suppress.

1. Every file is read and decoded (cheap). A file mentioning none of the
   selected rules' tokens cannot hold or contribute to a finding and is not
   parsed at all.
2. The remaining files are parsed with libcst and modelled (``bnlint.semantic``).
3. One ``ProjectIndex`` over all models lets rules follow code across files.
4. Each rule checks each file holding one of its tokens; reports become
   findings with positions, which are computed only for files that have findings.
5. ``# noqa`` comments and file-level ``# bnlint: noqa`` suppress findings.
"""

from __future__ import annotations

import ctypes
import gc
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import libcst as cst

from bnlint.context import FileContext
from bnlint.edits import fix_from_spec
from bnlint.findings import Finding, Fix, Location
from bnlint.import_graph import GraphInputs, analysed, imports_of
from bnlint.noqa import NoqaMap
from bnlint.project import ProjectIndex, module_name_for
from bnlint.py2 import Translation
from bnlint.rule import Report, Rule
from bnlint.semantic import FileModel
from bnlint.source import SourceError, SourceFile, parse_source, read_source, run_with_big_stack

PARSE_ERROR_CODE = "BN000"


@dataclass
class LintResult:
    """Findings, sorted by file and position, and how many files were looked at."""

    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    files_parsed: int = 0
    # bnlint's own failures (a rule that raised): the run goes on, and the CLI exits 2.
    errors: list[str] = field(default_factory=list)
    # Files that are Python 2, linted through a translation to Python 3 syntax (``bnlint.py2``).
    python2: list[str] = field(default_factory=list)
    # Findings a ``# noqa`` comment hid: the cache keeps them, to judge them again when only comments change.
    suppressed: list[Finding] = field(default_factory=list)
    # Every question rules asked of a file's raw text (``FileModel.mentions``), as ``bnlint.comment_edits`` keys.
    text_probes: set[str] = field(default_factory=set)
    # Per file, the last row any finding or rule asked the position of (``FileModel.rows_asked``), when any.
    rows_asked: dict[str, int] = field(default_factory=dict)
    # Files whose source text some rule copied (``FileModel.code``): a message may hold their comments.
    quoted: set[str] = field(default_factory=set)


@dataclass
class _Parsed:
    source: SourceFile
    model: FileModel
    noqa: NoqaMap
    # The rules' tokens the file holds; None when the pre-filter is off (every rule checks it).
    tokens: frozenset[str] | None
    translation: Translation | None = None


def prefilter_tokens(rules: Sequence[type[Rule]]) -> list[str] | None:
    """Every token of the rules, the pre-filter's input; None (no pre-filter) when a rule declared none."""
    tokens: set[str] = set()
    for rule in rules:
        if not rule.TOKENS:
            return None
        tokens.update(rule.TOKENS)
    return sorted(tokens, key=len, reverse=True) if tokens else None


def checked_tokens(rules: Sequence[type[Rule]]) -> list[str] | None:
    """The pre-filter's tokens and the rules' check-only tokens: what a parsed file is searched for."""
    tokens = prefilter_tokens(rules)
    if tokens is None:
        return None
    every = set(tokens)
    for rule in rules:
        every.update(rule.CHECK_TOKENS)
    return sorted(every, key=len, reverse=True)


def token_pattern(rules: Sequence[type[Rule]]) -> re.Pattern[str] | None:
    """One regex matching any token of the rules; None when a rule did not declare tokens."""
    tokens = prefilter_tokens(rules)
    return re.compile("|".join(map(re.escape, tokens))) if tokens is not None else None


def lint_files(files: Sequence[Path], rules: Sequence[type[Rule]],
               sources: Mapping[Path, SourceFile] | None = None,
               progress: Callable[[int], None] | None = None,
               analysed: set[str] | None = None) -> LintResult:
    """Lint ``files`` with ``rules``; BN000 findings report files that cannot be read or parsed.

    ``sources`` gives the text to lint for some files instead of reading them
    (``--fix`` re-lints its edits before writing anything). ``analysed`` names
    the files worth parsing when the caller already knows them (``--jobs``
    decided it over all files); by default the engine works it out.
    """
    return run_with_big_stack(lambda: _lint(files, rules, sources or {}, progress, analysed))


@contextmanager
def _trees_out_of_collector() -> Iterator[None]:
    """Keep Python's cycle collector from scanning the syntax trees, from parsing until the run ends.

    Parsing allocates millions of long-lived nodes, and every full collection
    walks all of them again: on 500 tf-models files, parsing and modelling took
    7.7 s with the collector running and 5.1 s without. So the collector is
    paused while the trees are built, and they are frozen (never scanned again)
    *before* it is re-enabled: re-enabling first let the very next allocation
    run a generation-0 collection over every node allocated while it was off,
    1 s of a 15 s run on tf-models' ``official`` package. Nothing is lost: the
    trees stay alive until the run ends anyway, and the collector runs as usual
    for what the rules allocate.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _return_parser_scratch() -> None:
    """Give back to the system the heap libcst's native parser freed, before the rules allocate.

    The parser's own buffers (tokens, its Rust tree) are freed after each file
    but stay in the C heap, where Python's small objects (in arenas of their own)
    never reuse them: on 400 tf-models files that was 20 MB of a 70 MB process,
    kept until the run ended. Only glibc has ``malloc_trim``; elsewhere nothing is done.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def _lint(files: Sequence[Path], rules: Sequence[type[Rule]], sources: Mapping[Path, SourceFile],
          progress: Callable[[int], None] | None = None, known_analysed: set[str] | None = None) -> LintResult:
    result = LintResult()
    rules_by_code = {rule.CODE: rule for rule in rules}
    parse_error_rule = rules_by_code.get(PARSE_ERROR_CODE)
    checking_rules = [rule() for rule in rules if rule.CODE != PARSE_ERROR_CODE]
    tokens = prefilter_tokens([type(rule) for rule in checking_rules])
    every = checked_tokens([type(rule) for rule in checking_rules])
    parse_tokens = set(tokens or ())
    check_only = [token for token in every if token not in parse_tokens] if every is not None else []

    parsed: list[_Parsed] = []
    try:
        with _trees_out_of_collector():
            _read_and_parse(files, sources, result, parse_error_rule, tokens, parsed, progress, known_analysed,
                            check_only)
        _return_parser_scratch()
        _check(parsed, checking_rules, result)
    finally:
        gc.unfreeze()
    result.findings.sort(key=Finding.sort_key)
    return result


def _read_and_parse(files: Sequence[Path], sources: Mapping[Path, SourceFile], result: LintResult,
                    parse_error_rule: type[Rule] | None, tokens: list[str] | None,
                    parsed: list[_Parsed], progress: Callable[[int], None] | None,
                    known_analysed: set[str] | None = None, check_only: Sequence[str] = ()) -> None:
    readable: list[tuple[Path, SourceFile, NoqaMap, frozenset[str] | None]] = []
    for path in files:
        result.files_checked += 1
        if progress is not None:
            progress(result.files_checked)
        try:
            source = sources[path] if path in sources else read_source(path)
        except SourceError as error:
            _add_parse_error(result, parse_error_rule, path, error)
            continue
        noqa = NoqaMap(source.text)
        if noqa.skip_file:
            continue
        # Substring tests, once per token: a regex alternation of all tokens per rule
        # cost five times as much on the corpus of benchmarks/lint_speed.py.
        present = frozenset(token for token in tokens if token in source.text) if tokens is not None else None
        readable.append((path, source, noqa, present))
    wanted = _linked_or_holding_tokens(readable) if known_analysed is None else known_analysed
    chosen = [entry for entry in readable if str(entry[0]) in wanted]
    trees = _parse_largest_first([source for _path, source, _noqa, _present in chosen])
    for (path, source, noqa, present), tree in zip(chosen, trees):
        try:
            if isinstance(tree, BaseException):
                raise tree
            module, translation = tree
            model = FileModel(module, str(path), module_name_for(path),
                              source.text if translation is None else translation.text)
            model.cells = source.cells
        except SourceError as error:
            # A hidden parse error is kept aside too: the cache must know the file did not parse.
            hidden = noqa.suppressed(PARSE_ERROR_CODE, error.row)
            _add_parse_error(result, parse_error_rule, path, error, source, hidden)
            continue
        except RecursionError:
            _add_parse_error(result, parse_error_rule, path, SourceError("code is nested too deeply to analyse"))
            continue
        except Exception as exc:  # noqa: BLE001 - a bug of bnlint's must not stop the other files
            result.errors.append(f"internal error while reading {path}: {type(exc).__name__}: {exc}")
            continue
        result.files_parsed += 1
        if translation is not None:
            result.python2.append(str(path))
        if present is not None and check_only:
            # Check-only tokens matter once a file is parsed anyway: they choose the rules that read it.
            present = present | frozenset(token for token in check_only if token in source.text)
        parsed.append(_Parsed(source, model, noqa, present, translation))


# Above this many characters a file's parse leaves enough freed C heap to give back at once
# (libcst's parser needs several hundred bytes per character of some files while it runs).
_LARGE_SOURCE = 100_000


def _parse_largest_first(sources: list[SourceFile]) -> list[tuple[cst.Module, Translation | None] | BaseException]:
    """Each source's tree and translation, or what parsing it raised; the largest files are parsed first.

    libcst's parser needs far more memory while it runs than the tree it
    returns: Keras' 437 KB ``numpy_test.py`` took a process to 389 MB for a
    15 MB tree. Parsed last, such a file adds that on top of every tree held;
    parsed first, on top of none. The heap it freed goes back to the system
    right after it, before the next file's trees fill memory.
    """
    trees: list[tuple[cst.Module, Translation | None] | BaseException] = [RuntimeError("not parsed")] * len(sources)
    for index in sorted(range(len(sources)), key=lambda i: -len(sources[i].text)):
        try:
            trees[index] = parse_source(sources[index])
        except Exception as exc:  # noqa: BLE001 - the caller reports it for its file
            trees[index] = exc
        if len(sources[index].text) > _LARGE_SOURCE:
            _return_parser_scratch()
    return trees


def _linked_or_holding_tokens(readable: list[tuple[Path, SourceFile, NoqaMap, frozenset[str] | None]]) -> set[str]:
    """Files worth parsing: those holding a rule's token, and those import-connected to one.

    A file without tokens cannot hold a finding, but it can link a chain (a
    ``networks.py`` between a training script and the layers it builds), so
    it is analysed when imports connect it to a file that can.
    """
    if all(present is None or present for _path, _source, _noqa, present in readable):
        return {str(path) for path, *_rest in readable}
    inputs = {str(path): GraphInputs("", present is None or bool(present), imports_of(source.text))
              for path, source, _noqa, present in readable}
    return analysed(inputs)


def _check(parsed: list[_Parsed], checking_rules: list[Rule], result: LintResult) -> None:
    project = ProjectIndex(item.model for item in parsed)
    try:
        _run_rules(parsed, checking_rules, project, result)
    finally:
        # Reference counting, not a 10 s cycle collection, then frees the trees.
        project.release()
        for item in parsed:
            result.text_probes |= item.model.text_probes
            if item.model.rows_asked:
                result.rows_asked[item.model.path] = item.model.rows_asked
            if item.model.quoted:
                result.quoted.add(item.model.path)
            item.model.release()


def _run_rules(parsed: list[_Parsed], checking_rules: list[Rule], project: ProjectIndex,
               result: LintResult) -> None:
    # A rule only checks files holding one of its tokens: any other file cannot hold one of its
    # findings (it may still feed the rule's project-wide facts, through the index).
    translations = {item.model.path: item.translation for item in parsed if item.translation is not None}
    for item in parsed:
        context = FileContext(item.model, project)
        for rule in checking_rules:
            if item.tokens is not None and item.tokens.isdisjoint(rule.TOKENS) \
                    and item.tokens.isdisjoint(rule.CHECK_TOKENS):
                continue
            try:
                findings = [_in_original(_finding(rule, item.model, report), translations)
                            for report in rule.check(context)]
            except RecursionError:
                result.errors.append(f"{rule.CODE} skipped {item.model.path}: code nested too deeply to analyse")
                continue
            except Exception as exc:  # noqa: BLE001 - one rule's bug must not hide the other findings
                result.errors.append(f"internal error in {rule.CODE} on {item.model.path}: "
                                     f"{type(exc).__name__}: {exc}")
                continue
            for finding in findings:
                hidden = item.noqa.suppressed(finding.code, finding.noqa_row or finding.location.row)
                (result.suppressed if hidden else result.findings).append(in_cells(finding, item.source))


def _finding(rule: Rule, model: FileModel, report: Report) -> Finding:
    start, end = model.span(report.node)
    related = tuple((other.path, other.span(node)[0]) for other, node in report.related)
    return Finding(
        code=rule.CODE,
        name=rule.NAME,
        message=report.message,
        filename=model.path,
        location=start,
        end_location=end,
        severity=rule.SEVERITY,
        fix=fix_from_spec(model, report.fix) if report.fix is not None else None,
        noqa_row=start.row,
        related=related,
    )


def _in_original(finding: Finding, translations: Mapping[str, Translation]) -> Finding:
    """A finding placed in the original text of files linted through a Python 2 translation.

    Rows are the same; columns move back where the translation rewrote a line.
    No fix is offered in a translated file: its edits would be of the translation.
    """
    if not translations:
        return finding
    own = translations.get(finding.filename)
    related = tuple((path, _original(translations.get(path), location)) for path, location in finding.related)
    if own is None and related == finding.related:
        return finding
    return replace(finding, location=_original(own, finding.location),
                   end_location=_original(own, finding.end_location), related=related,
                   fix=finding.fix if own is None else None)


def _original(translation: Translation | None, location: Location) -> Location:
    if translation is None:
        return location
    return Location(location.row, translation.column(location.row, location.column))


def in_cells(finding: Finding, source: SourceFile | None) -> Finding:
    """A finding in a notebook, with rows counted within its code cell and the cell named."""
    if source is None or source.cells is None:
        return finding
    cell, row = source.locate(finding.location.row)
    end_cell, end_row = source.locate(finding.end_location.row)
    if end_cell != cell:
        end_row = row
    return replace(
        finding,
        cell=cell,
        location=Location(row, finding.location.column),
        end_location=Location(end_row, finding.end_location.column),
        noqa_row=row,
        fix=_fix_in_cell(finding.fix, source, cell),
    )


def _fix_in_cell(fix: Fix | None, source: SourceFile, cell: int) -> Fix | None:
    """A fix with rows counted within ``cell``; None when it would reach another cell or IPython syntax."""
    if fix is None or source.cells is None:
        return fix
    edits = []
    for edit in fix.edits:
        rows = range(edit.location.row, edit.end_location.row + 1)
        start_cell, start = source.locate(edit.location.row)
        end_cell, end = source.locate(edit.end_location.row)
        if start_cell != cell or end_cell != cell or any(row in source.cells.blanked for row in rows):
            return None
        edits.append(replace(edit, location=Location(start, edit.location.column),
                             end_location=Location(end, edit.end_location.column)))
    return replace(fix, edits=tuple(edits))


def _add_parse_error(result: LintResult, rule: type[Rule] | None, path: Path, error: SourceError,
                     source: SourceFile | None = None, hidden: bool = False) -> None:
    if rule is None:
        return
    location = Location(max(error.row, 1), max(error.column, 1))
    (result.suppressed if hidden else result.findings).append(in_cells(
        Finding(
            code=rule.CODE,
            name=rule.NAME,
            message=error.message,
            filename=str(path),
            location=location,
            end_location=location,
            severity=rule.SEVERITY,
            noqa_row=location.row,
        ),
        source,
    ))
