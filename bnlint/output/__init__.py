"""Report formats: one module per ``--format`` value, each with ``render(report) -> str``."""

from __future__ import annotations

import importlib
# Aliased: importing the ``bnlint.output.json`` format rebinds the name ``json`` in this package.
import json as jsonlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from bnlint.findings import Finding
from bnlint.rule import Rule

FORMATS = ("concise", "full", "json", "github", "gitlab", "sarif")


@dataclass(frozen=True)
class LintReport:
    """Everything a format may show about one run."""

    findings: Sequence[Finding]
    # The rules that ran, by code; SARIF lists them all.
    rules: Mapping[str, type[Rule]]
    files_checked: int = 0
    # Paths in SARIF are relative to this directory (``%SRCROOT%``).
    root: Path = field(default_factory=Path.cwd)
    # Every known rule, to describe a finding whose rule did not run (a parse error).
    all_rules: Mapping[str, type[Rule]] = field(default_factory=dict)
    # ANSI colour in the text formats (a terminal, or FORCE_COLOR).
    color: bool = False

    def rule(self, code: str) -> type[Rule] | None:
        """The rule class behind ``code``, if bnlint knows it."""
        return self.rules.get(code) or self.all_rules.get(code)


def render(fmt: str, report: LintReport) -> str:
    """The report in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    module = importlib.import_module(f"bnlint.output.{fmt}")
    return module.render(report)


def summary(findings: Sequence[Finding], fixed: int | None = None, unsafe: bool = False) -> str:
    """The closing line of the text formats.

    ``fixed`` counts the findings ``--fix`` fixed; ``unsafe`` says ``--unsafe-fixes`` is on,
    so unsafe fixes count as available.
    """
    count = len(findings)
    if fixed:
        total = count + fixed
        return f"Found {total} finding{_s(total)} ({fixed} fixed, {count} remaining)."
    if not count:
        return "All checks passed!"
    files = len({finding.filename for finding in findings})
    available = sum(1 for f in findings if f.fix is not None and (f.fix.applicability == "safe" or unsafe))
    hidden = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "unsafe" and not unsafe)
    notes = []
    if available:
        notes.append(f"{available} fixable with --fix" + (" --unsafe-fixes" if unsafe else ""))
    if hidden:
        notes.append(f"{hidden} more with --fix --unsafe-fixes")
    suffix = f" ({', '.join(notes)})" if notes else ""
    return f"Found {count} finding{_s(count)} in {files} file{_s(files)}{suffix}."


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def statistics(report: LintReport) -> list[tuple[str, str, int]]:
    """(code, name, count) per code, most frequent first, as ``--statistics`` shows them."""
    counts = Counter(finding.code for finding in report.findings)
    names = {finding.code: finding.name for finding in report.findings}
    return sorted(((code, names[code], n) for code, n in counts.items()), key=lambda row: (-row[2], row[0]))


def render_statistics(report: LintReport, fmt: str) -> str:
    """``--statistics``: a JSON list for ``json``, else ruff's table of count, code and name."""
    rows = statistics(report)
    if fmt == "json":
        return jsonlib.dumps([{"code": code, "name": name, "count": n} for code, name, n in rows], indent=2) + "\n"
    width = max((len(str(n)) for _, _, n in rows), default=1)
    return "".join(f"{n:>{width}}\t{code}\t{name}\n" for code, name, n in rows)


def location_prefix(finding: Finding) -> str:
    """``path:row:col`` (``path:cell N:row:col`` inside a notebook)."""
    cell = f"cell {finding.cell}:" if finding.cell is not None else ""
    return f"{finding.filename}:{cell}{finding.location.row}:{finding.location.column}"
