"""bnlint as a flake8 plugin: ``flake8 --select BN`` reports bnlint's findings one file at a time.

flake8 hands a plugin one file, so every default rule runs on that file,
the project-wide ones (``Rule.PROJECT_WIDE``, e.g. BN001) treating it as the
whole project: a flake8 user linting a single TF1 script gets its BN001. A
project split over files is judged better by ``bnlint`` itself, which links
them (a train op hooked by a caller in another file is hooked; seen alone it
is not).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import bnlint
from bnlint.engine import lint_files
from bnlint.rule import Rule
from bnlint.rule_loader import load_rules


def flake8_rules() -> list[type[Rule]]:
    """The default rules: the project-wide ones see the one file as the project."""
    return [rule for rule in load_rules().values() if not rule.OPT_IN]


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
            result = lint_files([path], flake8_rules())
        for finding in result.findings:
            # flake8 columns are 0-based.
            yield finding.location.row, finding.location.column - 1, f"{finding.code} {finding.message}", type(self)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
