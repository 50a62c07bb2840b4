"""Jupyter notebooks as Python source: code cells joined in order, positions mapped back.

A notebook runs top to bottom, so its code cells are linted as one module: a
batch norm built in one cell and a train op built in a later one are judged
together. IPython syntax (``%magic``, ``%%cell magic``, ``!shell``, ``obj?``)
is blanked out line for line, so every other line keeps its position.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field

NOTEBOOK_SUFFIX = ".ipynb"
_IPYTHON_LINE = re.compile(r"^\s*(%|!|\?)|^\s*[\w.]+\?\??\s*$")


class NotebookError(ValueError):
    """The file is not a notebook bnlint can read (invalid JSON, unknown nbformat)."""


@dataclass
class CellMap:
    """Where each code cell starts in the joined source."""

    # 1-based row in the joined source where each code cell starts, and its 1-based number.
    starts: list[int] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    # Rows of the joined source that hold blanked-out IPython syntax: fixes must not touch them.
    blanked: set[int] = field(default_factory=set)

    def locate(self, row: int) -> tuple[int, int]:
        """(cell number, row within the cell) of a row of the joined source."""
        index = max(bisect_right(self.starts, row) - 1, 0)
        return self.numbers[index], row - self.starts[index] + 1


def notebook_source(data: bytes) -> tuple[str, CellMap]:
    """The Python source of a notebook's code cells and the map back to cells."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise NotebookError(f"notebook is not UTF-8: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(f"notebook is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        # json recurses once per nested array or object; a file of 100,000 brackets
        # must be one finding, not an error that stops the whole run.
        raise NotebookError("notebook JSON is nested too deeply to read") from None
    except ValueError as exc:  # a number too long to convert (``"nbformat": 999...``)
        raise NotebookError(f"notebook is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        version = document.get("nbformat") if isinstance(document, dict) else None
        if version == 4:
            # Not "nbformat 4; bnlint reads nbformat 4", which contradicted itself.
            raise NotebookError("notebook has no list of cells (nbformat 4 requires one)")
        raise NotebookError(f"unsupported notebook format (nbformat {version!r}; bnlint reads nbformat 4)")
    if document.get("nbformat") != 4:
        raise NotebookError(f"unsupported notebook format (nbformat {document.get('nbformat')!r}; bnlint reads nbformat 4)")
    return joined_source(document)


def joined_source(document: dict) -> tuple[str, CellMap]:
    """The code cells of an nbformat-4 document joined into one Python source, and the map back."""
    lines: list[str] = []
    cells = CellMap()
    code_number = 0
    for cell in document["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        code_number += 1
        text = _cell_text(cell, code_number)
        cell_lines = text.splitlines() or [""]
        cells.starts.append(len(lines) + 1)
        cells.numbers.append(code_number)
        if cell_lines[0].lstrip().startswith("%%"):
            # A cell magic makes the whole cell non-Python (%%bash, %%writefile, ...).
            cells.blanked.update(range(len(lines) + 1, len(lines) + len(cell_lines) + 1))
            lines.extend("" for _ in cell_lines)
            continue
        for line in cell_lines:
            if _IPYTHON_LINE.match(line):
                cells.blanked.add(len(lines) + 1)
                lines.append("")
            else:
                lines.append(line)
    return "\n".join(lines) + "\n", cells


def _cell_text(cell: dict, number: int) -> str:
    """A code cell's source: nbformat allows a string or a list of strings (a missing one is empty)."""
    source = cell.get("source", "")
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    # ``"".join`` of numbers raised TypeError and stopped the whole run; ``str(None)``
    # linted the text "None". Neither is a notebook Jupyter would open.
    raise NotebookError(f"code cell {number} has a source that is neither a string nor a list of strings")


def load_notebook(data: bytes) -> tuple[dict, int | None]:
    """The notebook's JSON document and the indentation its file uses (None: one line)."""
    text = data.decode("utf-8-sig")
    document = json.loads(text)
    match = re.search(r"\n( +)\"", text)
    return document, (len(match.group(1)) if match else None)


def code_cell_sources(document: dict) -> list[str]:
    """The source text of each code cell, in order."""
    out = []
    for cell in document.get("cells", []):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            out.append(_cell_text(cell, len(out) + 1))
    return out


def replace_code_cells(document: dict, sources: dict[int, str]) -> dict:
    """A copy of the document whose code cells numbered in ``sources`` (1-based) get new source.

    Outputs, metadata and every other cell stay as they were; a source kept as a
    list of lines stays a list, as Jupyter writes it.
    """
    copy = json.loads(json.dumps(document))
    number = 0
    for cell in copy.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        number += 1
        if number in sources:
            text = sources[number]
            cell["source"] = text.splitlines(keepends=True) if isinstance(cell.get("source"), list) else text
    return copy


def dump_notebook(document: dict, indent: int | None) -> str:
    """The document as Jupyter writes it: sorted keys are not imposed, non-ASCII kept, final newline."""
    return json.dumps(document, indent=indent, ensure_ascii=False) + "\n"
