"""bnlint as a flake8 plugin: ``flake8 --select BN`` reports bnlint's single-file findings.

flake8 checks one file at a time, so only rules that judge a file on its own
run here. Project-wide rules (``Rule.PROJECT_WIDE``, e.g. BN001, whose model
and train op may live in different files) would cry wolf on a file seen
alone; run ``bnlint`` itself for them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import bnlint
from bnlint.engine import lint_files
from bnlint.rule import Rule
from bnlint.rule_loader import load_rules


def single_file_rules() -> list[type[Rule]]:
    """Default rules that need no other file to judge one."""
    return [rule for rule in load_rules().values() if not rule.PROJECT_WIDE and not rule.OPT_IN]


class Flake8Plugin:
    """flake8 extension entry point (registered under the ``BN`` code prefix)."""

    name = "bnlint"
    version = bnlint.__version__

    def __init__(self, tree: object, filename: str, lines: Sequence[str]) -> None:
        self.filename = filename
        self.lines = lines

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        text = "".join(self.lines)
        path = Path(self.filename)
        on_disk = path.is_file() and _read(path) == text
        with tempfile.TemporaryDirectory(prefix="bnlint-flake8-") as tmp:
            if not on_disk:
                # stdin or an edited buffer: lint what flake8 holds, under the same base name.
                path = Path(tmp) / (path.name if path.suffix == ".py" else "stdin.py")
                path.write_text(text, encoding="utf-8")
            result = lint_files([path], single_file_rules())
        for finding in result.findings:
            # flake8 columns are 0-based.
            yield finding.location.row, finding.location.column - 1, f"{finding.code} {finding.message}", type(self)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
