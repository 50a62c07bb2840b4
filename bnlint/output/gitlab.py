"""The ``gitlab`` format: a GitLab Code Quality report (a subset of the Code Climate spec).

GitLab shows these in merge requests when the job declares
``artifacts: reports: codequality: bnlint-report.json``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bnlint.output import LintReport

# GitLab's severities are info, minor, major, critical, blocker.
_SEVERITY = {"error": "major", "warning": "minor"}


def _relative(filename: str, root: Path) -> str:
    path = Path(filename)
    try:
        path = path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        pass
    return path.as_posix()


def render(report: LintReport) -> str:
    """A JSON list of issues with ``description``, ``check_name``, ``fingerprint``, ``severity``, ``location``."""
    issues = []
    for finding in report.findings:
        path = _relative(finding.filename, report.root)
        # GitLab shows one issue per fingerprint: include the place and message so
        # two findings of one rule in one file stay distinct.
        key = "\0".join([finding.code, path, str(finding.location.row), str(finding.location.column), finding.message])
        issues.append({
            "description": f"{finding.code} {finding.message}",
            "check_name": f"{finding.code} ({finding.name})",
            # surrogateescape: a file name that is not UTF-8 must not stop the report.
            "fingerprint": hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32],
            "severity": _SEVERITY.get(finding.severity, "major"),
            "location": {
                "path": path,
                "lines": {"begin": finding.location.row, "end": finding.end_location.row},
            },
        })
    return json.dumps(issues, indent=2) + "\n"
