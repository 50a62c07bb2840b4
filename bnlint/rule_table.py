"""The README's rule table, generated from the rules themselves.

``python -m bnlint.rule_table`` rewrites the table in README.md; a test fails
when the README is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bnlint.rule import Rule, rule_summary
from bnlint.rule_loader import load_rules

START = "<!-- rule-table:start -->"
END = "<!-- rule-table:end -->"


def render(rules: dict[str, type[Rule]]) -> str:
    """A Markdown table: code, name, what it flags, severity, default on or opt-in, project-wide, fix."""
    lines = [
        "| Code | Name | What it flags | Severity | Enabled | Scope | Fix |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for code, rule in rules.items():
        summary = rule_summary(rule).rstrip(".")
        enabled = "opt-in" if rule.OPT_IN else "default"
        scope = "project" if rule.PROJECT_WIDE else "file"
        fix = rule.FIX_APPLICABILITY or ""
        lines.append(f"| {code} | `{rule.NAME}` | {summary} | {rule.SEVERITY} | {enabled} | {scope} | {fix} |")
    return "\n".join(lines)


def replace_table(readme: str, table: str) -> str:
    """README text with the part between the markers replaced by ``table``."""
    before, _, rest = readme.partition(START)
    _, _, after = rest.partition(END)
    return f"{before}{START}\n{table}\n{END}{after}"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("README.md")
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{path}: no {START} / {END} markers", file=sys.stderr)
        return 2
    path.write_text(replace_table(text, render(load_rules())), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
