"""Turn a rule's VALID/INVALID examples into checks (used by the test suite and by rule authors)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bnlint.engine import lint_files
from bnlint.findings import Finding
from bnlint.rule import EXPECTED_MARKER, Invalid, Rule, Valid
from bnlint.rule_loader import load_rules

DEFAULT_FILENAME = "example.py"


def example_files(example: Valid | Invalid) -> dict[str, str]:
    """File name -> dedented source for an example."""
    if example.files:
        return {name: textwrap.dedent(code).lstrip("\n") for name, code in example.files.items()}
    return {DEFAULT_FILENAME: textwrap.dedent(example.code).lstrip("\n")}


def expected_findings(files: dict[str, str]) -> set[tuple[str, int, str]]:
    """(file name, row, code) for every ``# error: [CODE]`` marker."""
    expected = set()
    for name, code in files.items():
        for row, line in enumerate(code.splitlines(), start=1):
            match = EXPECTED_MARKER.search(line)
            if match:
                for rule_code in match.group("codes").split(","):
                    expected.add((name, row, rule_code.strip()))
    return expected


def write_example(example: Valid | Invalid, directory: Path) -> tuple[dict[str, str], list[Path]]:
    """Write an example's files into ``directory``."""
    files = example_files(example)
    paths = []
    for name, code in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
        paths.append(path)
    return files, paths


def expected_replacement(example: Invalid) -> dict[str, str] | None:
    """File name -> dedented expected source after fixing (None when the example has none)."""
    expected = example.expected_replacement
    if expected is None:
        return None
    if isinstance(expected, str):
        return {next(iter(example_files(example))): textwrap.dedent(expected).lstrip("\n")}
    return {name: textwrap.dedent(code).lstrip("\n") for name, code in expected.items()}


def fix_example(rule: type[Rule], example: Invalid, directory: Path) -> dict[str, str]:
    """Apply every fix of ``rule`` (unsafe ones too) to the example; file name -> resulting source.

    Nothing is written: the fixer works on the example's files in memory.
    """
    from bnlint.fixer import fix_files

    files, paths = write_example(example, directory)
    outcome = fix_files(paths, [rule], unsafe=True, write=False)
    assert not outcome.errors, outcome.errors
    fixed = dict(files)
    for path, source in outcome.fixed_sources.items():
        fixed[str(path.relative_to(directory))] = source.text
    return fixed


def lint_example(rule: type[Rule], example: Valid | Invalid, directory: Path) -> tuple[dict[str, str], list[Finding]]:
    """Write an example's files into ``directory`` and lint them with ``rule`` (and BN000)."""
    files, paths = write_example(example, directory)
    rules = [rule]
    parse_error = load_rules().get("BN000")
    if parse_error is not None and parse_error is not rule:
        rules.append(parse_error)
    result = lint_files(paths, rules)
    for finding in result.findings:
        object.__setattr__(finding, "filename", str(Path(finding.filename).relative_to(directory)))
    return files, result.findings
