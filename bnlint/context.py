"""What a rule sees while checking one file."""

from __future__ import annotations

from dataclasses import dataclass

from bnlint.project import ProjectIndex
from bnlint.semantic import FileModel


@dataclass
class FileContext:
    """The file being checked and the index of the whole linted project."""

    file: FileModel
    project: ProjectIndex
