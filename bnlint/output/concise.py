"""The default format: one ``path:row:col: CODE message`` line per finding."""

from __future__ import annotations

from bnlint.findings import Finding
from bnlint.output import LintReport, location_prefix
from bnlint.output.style import paint


def headline(finding: Finding, color: bool) -> str:
    """``path:row:col: CODE message``, with the place and code coloured on a terminal."""
    code_style = ("bold", "yellow") if finding.severity == "warning" else ("bold", "red")
    return (f"{paint(location_prefix(finding), 'bold', enabled=color)}: "
            f"{paint(finding.code, *code_style, enabled=color)} {finding.message}")


def render(report: LintReport) -> str:
    """One line per finding; columns are 1-based."""
    return "".join(f"{headline(finding, report.color)}\n" for finding in report.findings)
