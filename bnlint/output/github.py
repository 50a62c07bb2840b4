"""The ``github`` format: GitHub Actions workflow commands that annotate the pull request."""

from __future__ import annotations

from bnlint.output import LintReport


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value, where ``:`` and ``,`` are separators."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(report: LintReport) -> str:
    """``::error file=...,line=...,col=...,endLine=...,endColumn=...,title=CODE (name)::message``."""
    out = []
    for finding in report.findings:
        command = "warning" if finding.severity == "warning" else "error"
        properties = {
            "file": finding.filename,
            "line": finding.location.row,
            "col": finding.location.column,
            "endLine": finding.end_location.row,
            "endColumn": finding.end_location.column,
            "title": f"{finding.code} ({finding.name})",
        }
        joined = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
        out.append(f"::{command} {joined}::{escape_data(finding.message)}\n")
    return "".join(out)
