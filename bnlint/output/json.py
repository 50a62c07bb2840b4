"""The ``json`` format: a list of findings with ruff's field names, plus ``severity``."""

from __future__ import annotations

import json
from typing import Any

from bnlint.findings import Finding, Location
from bnlint.output import LintReport


def _location(location: Location) -> dict[str, int]:
    return {"row": location.row, "column": location.column}


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """One finding as ruff's JSON output shows a diagnostic."""
    fix = None
    if finding.fix is not None:
        fix = {
            "applicability": finding.fix.applicability,
            "message": finding.fix.message,
            "edits": [
                {
                    "content": edit.content,
                    "location": _location(edit.location),
                    "end_location": _location(edit.end_location),
                }
                for edit in finding.fix.edits
            ],
        }
    return {
        "cell": finding.cell,
        "code": finding.code,
        "name": finding.name,
        "message": finding.message,
        "filename": finding.filename,
        "location": _location(finding.location),
        "end_location": _location(finding.end_location),
        "fix": fix,
        "noqa_row": finding.noqa_row,
        "url": finding.url,
        "severity": finding.severity,
    }


def render(report: LintReport) -> str:
    """A JSON array, indented, ending in a newline."""
    return json.dumps([finding_to_dict(finding) for finding in report.findings], indent=2) + "\n"
