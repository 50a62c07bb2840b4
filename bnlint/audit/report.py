"""The audit report and its formats: text, json, sarif, github."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from bnlint.findings import Finding, Location

CHECKS: dict[str, str] = {
    "BNR001": "inference-updates-moving-stats",
    "BNR002": "training-leaves-moving-stats",
    "BNR003": "batch-dependent-inference",
    "BNR004": "training-mode-in-serving-graph",
    "BNR005": "moving-stats-ignored-at-inference",
}

DESCRIPTIONS: dict[str, str] = {
    "BNR001": "Running inference changed a BN moving statistic.",
    "BNR002": "One training step left the moving statistics of a trainable BN unchanged.",
    "BNR003": "A sample's inference output depends on the other samples in its batch.",
    "BNR004": "An inference graph runs BN in training mode or writes BN moving statistics.",
    "BNR005": "Perturbing the moving statistics does not move the inference output.",
}

FORMATS = ("text", "json", "sarif", "github")


@dataclass
class CheckResult:
    """The outcome of one check.

    ``figure`` is the number behind the verdict (a max absolute change or difference,
    or a node count for BNR004); ``summary`` says it in words; ``rows`` is the
    per-layer (or per-node) table. ``margin`` is how many times its threshold the
    weakest layer or tensor clears (above 1 passes, below 1 misses by that factor);
    None for the bitwise and graph checks (BNR001, BNR004).
    """

    code: str
    status: str  # "pass" | "fail" | "skipped"
    figure: float | int | None
    summary: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    margin: float | None = None

    @property
    def name(self) -> str:
        return CHECKS[self.code]

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "status": self.status,
            "figure": _num(self.figure),
            "details": {"summary": self.summary, "rows": _clean(self.rows), "margin": _num(self.margin)},
        }


@dataclass
class AuditReport:
    """Everything one audit found; ``ok`` is False when any check failed."""

    target: str
    device: str
    tensorflow_version: str
    keras_version: str
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def check(self, code: str) -> CheckResult:
        """The result of check ``code`` (``"BNR001"`` ...)."""
        for c in self.checks:
            if c.code == code:
                return c
        raise KeyError(code)

    def status(self) -> dict[str, str]:
        """``{code: status}`` for every check run."""
        return {c.code: c.status for c in self.checks}

    def findings(self) -> list[Finding]:
        """One linter :class:`~bnlint.findings.Finding` per failed check."""
        out = []
        for c in self.checks:
            if c.status != "fail":
                continue
            out.append(
                Finding(
                    code=c.code,
                    name=c.name,
                    message=f"{DESCRIPTIONS[c.code]} {c.summary}",
                    filename=self.target,
                    location=Location(1, 1),
                    end_location=Location(1, 1),
                )
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "device": self.device,
            "tensorflow_version": self.tensorflow_version,
            "keras_version": self.keras_version,
            "checks": [c.to_json() for c in self.checks],
            "findings": [finding_json(f) for f in self.findings()],
        }

    def format(self, fmt: str = "text") -> str:
        """Render the report as ``text``, ``json``, ``sarif`` or ``github``."""
        if fmt == "text":
            return format_text(self)
        if fmt == "json":
            return json.dumps(self.to_json(), indent=2) + "\n"
        if fmt == "sarif":
            return json.dumps(format_sarif(self), indent=2) + "\n"
        if fmt == "github":
            return format_github(self)
        raise ValueError(f"unknown format {fmt!r}")

    def __str__(self) -> str:
        return format_text(self)


def _num(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, (bool, int)):
        return int(x)
    x = float(x)
    return x if math.isfinite(x) else str(x)


def _clean(obj: Any) -> Any:
    # numpy scalars and tuples must not reach json.dumps
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, str) or obj is None:
        return obj
    if hasattr(obj, "item"):
        obj = obj.item()
    if isinstance(obj, (bool, int, float)):
        return _num(obj) if not isinstance(obj, bool) else obj
    return str(obj)


def finding_json(f: Finding) -> dict[str, Any]:
    """A finding in the linter's JSON field names."""
    return {
        "code": f.code,
        "name": f.name,
        "message": f.message,
        "filename": f.filename,
        "location": {"row": f.location.row, "column": f.location.column},
        "end_location": {"row": f.end_location.row, "column": f.end_location.column},
        "fix": None,
        "noqa_row": f.noqa_row,
        "url": f.url,
    }


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return str(v)


def format_text(report: AuditReport) -> str:
    """One line per check, then a table of the failing layers or nodes."""
    lines = [
        f"bnlint audit {report.target} (device {report.device}, "
        f"TensorFlow {report.tensorflow_version}, Keras {report.keras_version})"
    ]
    for c in report.checks:
        lines.append(f"{c.code} {c.name:<36} {c.status.upper():<7} {c.summary}")
    failed = [c for c in report.checks if c.status == "fail" and c.rows]
    for c in failed:
        lines.append("")
        lines.append(f"{c.code} {c.name}:")
        cols = list(dict.fromkeys(k for row in c.rows for k in row))
        table = [cols] + [[_fmt_value(row.get(k, "")) for k in cols] for row in c.rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
        for r in table:
            lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    n_fail = sum(c.status == "fail" for c in report.checks)
    lines.append("")
    lines.append("audit passed" if n_fail == 0 else f"audit failed: {n_fail} check(s) failed")
    return "\n".join(lines) + "\n"


def format_github(report: AuditReport) -> str:
    """GitHub Actions workflow commands, one ``::error`` line per failed check."""
    lines = []
    for f in report.findings():
        msg = f.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        # Property values escape ':' and ',' too: a factory target reads "file.py:factory".
        file = f.filename.replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
        lines.append(
            f"::error file={file},line={f.location.row},col={f.location.column},"
            f"title={f.code} ({f.name})::{msg}"
        )
    return "".join(line + "\n" for line in lines)


def format_sarif(report: AuditReport) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run and one result per failed check."""
    from bnlint import __version__

    rules = [
        {
            "id": code,
            "name": name,
            "shortDescription": {"text": DESCRIPTIONS[code]},
            "defaultConfiguration": {"level": "error"},
        }
        for code, name in CHECKS.items()
    ]
    index = {code: i for i, code in enumerate(CHECKS)}
    results = [
        {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "error",
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.filename},
                        "region": {"startLine": 1, "startColumn": 1},
                    }
                }
            ],
        }
        for f in report.findings()
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "bnlint audit",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "results": results,
                "properties": {
                    "device": report.device,
                    "tensorflowVersion": report.tensorflow_version,
                    "kerasVersion": report.keras_version,
                },
            }
        ],
    }
