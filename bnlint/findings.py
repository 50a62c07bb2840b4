"""The data every part of bnlint exchanges: findings, their locations and fixes.

Field names follow ruff's JSON output so tools that read ruff can read bnlint.
Rows and columns are 1-based, as editors show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]
Applicability = Literal["safe", "unsafe"]


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based row and column in a source file."""

    row: int
    column: int


@dataclass(frozen=True)
class Edit:
    """Replace the text between ``location`` and ``end_location`` with ``content``."""

    content: str
    location: Location
    end_location: Location


@dataclass(frozen=True)
class Fix:
    """A set of edits that resolves one finding."""

    applicability: Applicability
    message: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Finding:
    """One reported problem."""

    code: str
    name: str
    message: str
    filename: str
    location: Location
    end_location: Location
    severity: Severity = "error"
    fix: Fix | None = None
    noqa_row: int | None = None
    url: str | None = None
    # Notebook cell (1-based) the finding lies in; None for plain Python files.
    cell: int | None = None
    # Other places the message refers to (the BN call behind a train-op finding).
    related: tuple[tuple[str, Location], ...] = field(default=())

    def sort_key(self) -> tuple:
        return (self.filename, self.location, self.code, self.message)
