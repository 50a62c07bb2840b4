"""The default format: one ``path:row:col: CODE message`` line per finding."""

from __future__ import annotations

from bnlint.output import LintReport, location_prefix


def render(report: LintReport) -> str:
    """One line per finding; columns are 1-based."""
    return "".join(
        f"{location_prefix(finding)}: {finding.code} {finding.message}\n" for finding in report.findings
    )
