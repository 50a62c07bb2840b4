"""The ``full`` format: each finding with its source line, an underline, why it matters and the fix."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from bnlint.findings import Finding
from bnlint.output import LintReport
from bnlint.output.concise import headline
from bnlint.rule import rule_rationale
from bnlint.source import SourceError, read_source

_NEWLINE = re.compile(r"\r\n|\r|\n")


@lru_cache(maxsize=64)
def _lines(filename: str) -> tuple[str, ...]:
    # Decoded and split as the engine did, so rows and columns point at the same characters
    # (str.splitlines would also break at form feeds and other characters Python does not).
    try:
        return tuple(_NEWLINE.split(read_source(Path(filename)).text))
    except SourceError:
        return ()


def _snippet(finding: Finding) -> list[str]:
    """The flagged line with ``^`` under the flagged span (to the end of the line if it spans lines)."""
    # A notebook finding's row counts within its cell, not within the file.
    lines = _lines(finding.filename) if finding.cell is None else ()
    row = finding.location.row
    if not 1 <= row <= len(lines):
        return []
    line = lines[row - 1]
    start = min(max(finding.location.column - 1, 0), len(line))
    end = finding.end_location.column - 1 if finding.end_location.row == row else len(line)
    end = min(max(end, start + 1), max(len(line), start + 1))
    # Keep tabs so the carets line up under the source as a terminal shows it.
    pad = "".join("\t" if char == "\t" else " " for char in line[:start])
    gutter = " " * len(str(row))
    return [
        f"{gutter} |",
        f"{row} | {line}",
        f"{gutter} | {pad}{'^' * (end - start)} {finding.code}",
        f"{gutter} |",
    ]


def render(report: LintReport) -> str:
    """Findings separated by blank lines, each with source, rationale and fix title."""
    blocks = []
    for finding in report.findings:
        lines = [headline(finding, report.color), *_snippet(finding)]
        rule = report.rule(finding.code)
        indent = " " * (len(str(finding.location.row)) + 1)
        if rule is not None and (why := rule_rationale(rule)):
            lines.append(f"{indent}= why: {why}")
        title = (rule.FIX_TITLE if rule is not None else None) or (finding.fix.message if finding.fix else None)
        if title:
            lines.append(f"{indent}= help: {title}")
        blocks.append("\n".join(lines) + "\n")
    _lines.cache_clear()
    return "\n".join(blocks)
