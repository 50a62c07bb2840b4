"""The ``sarif`` format: SARIF 2.1.0, which GitHub code scanning and IDEs read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import bnlint
from bnlint.config import relative_to_root
from bnlint.findings import Finding, Location
from bnlint.output import LintReport
from bnlint.rule import Rule, rule_doc, rule_rationale, rule_summary

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"


def _artifact(filename: str, root: Path) -> dict[str, str]:
    """A path relative to ``%SRCROOT%`` where possible, else an absolute ``file:`` URI."""
    relative = relative_to_root(Path(filename), root)
    if relative is None:
        return {"uri": Path(os.path.abspath(filename)).as_uri()}
    # Quote the file name's bytes: a name that is not UTF-8 (kept by Python as lone
    # surrogates) made ``quote`` raise UnicodeEncodeError and stopped the report.
    return {"uri": quote(os.fsencode(relative)), "uriBaseId": SRCROOT}


def _region(start: Location, end: Location | None = None) -> dict[str, int]:
    region = {"startLine": start.row, "startColumn": start.column}
    if end is not None:
        region |= {"endLine": end.row, "endColumn": end.column}
    return region


def _rule_descriptor(rule: type[Rule]) -> dict[str, Any]:
    doc = rule_doc(rule)
    summary = rule_summary(rule)
    return {
        "id": rule.CODE,
        "name": rule.NAME,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": rule_rationale(rule) or summary},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": rule.SEVERITY},
    }


def _result(finding: Finding, index: int | None, root: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "level": finding.severity,
        "message": {"text": finding.message},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": _artifact(finding.filename, root),
                "region": _region(finding.location, finding.end_location),
            },
        }],
    }
    if index is not None:
        result["ruleIndex"] = index
    if finding.related:
        result["relatedLocations"] = [
            {
                "id": number,
                "physicalLocation": {"artifactLocation": _artifact(filename, root), "region": _region(location)},
            }
            for number, (filename, location) in enumerate(finding.related)
        ]
    return result


def render(report: LintReport) -> str:
    """One SARIF log with one run; its rules are every rule that ran."""
    root = Path(os.path.abspath(report.root))
    codes = sorted(set(report.rules) | {finding.code for finding in report.findings})
    rules = [rule for code in codes if (rule := report.rule(code)) is not None]
    index = {rule.CODE: number for number, rule in enumerate(rules)}
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "bnlint",
                "version": bnlint.__version__,
                "rules": [_rule_descriptor(rule) for rule in rules],
            }},
            "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri().rstrip("/") + "/"}},
            "columnKind": "unicodeCodePoints",
            "results": [_result(finding, index.get(finding.code), root) for finding in report.findings],
        }],
    }
    return json.dumps(log, indent=2) + "\n"
