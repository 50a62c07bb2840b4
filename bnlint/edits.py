"""Fixes as text edits: made from a rule's CST node replacement, applied to source text.

A rule proposes a fix as a node replacement (``FixSpec``); the engine turns it
into a ``Fix`` of text edits against the original source, so that the JSON
output shows real edits and fixes apply without re-parsing. The replacement
is generated inside its module, so nested blocks get the file's indentation
and new lines the file's line ending (libcst's ``default_newline``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable, Sequence

from bnlint.findings import Edit, Fix, Location

if TYPE_CHECKING:  # pragma: no cover
    from bnlint.rule import FixSpec
    from bnlint.semantic import FileModel

# Python ends lines at \r\n, \r or \n only (not at \f or \x1c, which str.splitlines splits on).
_NEWLINE = re.compile(r"\r\n|\r|\n")


class LineIndex:
    """Converts 1-based (row, column) locations of a text into offsets and back."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [match.end() for match in _NEWLINE.finditer(text)]

    def offset(self, location: Location) -> int:
        row = min(max(location.row, 1), len(self.starts))
        return min(self.starts[row - 1] + location.column - 1, len(self.text))

    def location(self, offset: int) -> Location:
        low, high = 0, len(self.starts) - 1
        while low < high:  # last line start <= offset
            mid = (low + high + 1) // 2
            if self.starts[mid] <= offset:
                low = mid
            else:
                high = mid - 1
        return Location(low + 1, offset - self.starts[low] + 1)


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split where Python splits them."""
    lines, start = [], 0
    for match in _NEWLINE.finditer(text):
        lines.append(text[start:match.end()])
        start = match.end()
    if start < len(text):
        lines.append(text[start:])
    return lines


def fix_from_spec(model: "FileModel", spec: "FixSpec") -> Fix | None:
    """The text edit that replaces ``spec.node`` by ``spec.replacement``; None if it changes nothing.

    The edit covers the node's span, widened to whatever else the regenerated
    module differs in (a statement replacement also rewrites its leading lines).
    """
    try:
        old = model.text
        new = model.module.deep_replace(spec.node, spec.replacement).code  # type: ignore[union-attr]
        start, end = model.span(spec.node)
        # libcst does not keep a form feed inside indentation: the regenerated text would
        # silently drop it, so such a file gets no fix rather than a rewrite of what was lost.
        reproduces = model.module.code == old
    except Exception:  # noqa: BLE001 - a broken fix must not break linting
        return None
    if new == old or not reproduces:
        return None
    index = LineIndex(old)
    first, last = index.offset(start), index.offset(end)
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    first = min(first, prefix)
    last = max(last, len(old) - suffix)
    tail = len(old) - last
    content = new[first:len(new) - tail]
    return Fix(spec.applicability, spec.message, (Edit(content, index.location(first), index.location(last)),))


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    # Touching ranges conflict when either is an insertion: their order would be arbitrary.
    if a[0] == a[1] or b[0] == b[1]:
        return a[0] <= b[1] and b[0] <= a[1]
    return a[0] < b[1] and b[0] < a[1]


def select_fixes(text: str, fixes: Iterable[Fix]) -> tuple[list[Fix], list[Fix]]:
    """Split fixes into (non-overlapping ones to apply now, ones deferred to a later pass).

    Fixes are taken in the order of their first edit; a fix whose edits overlap
    an accepted fix's edits waits for the next pass, which re-lints the result.
    Identical fixes (two findings, one cure) are applied once.
    """
    index = LineIndex(text)
    ranged = []
    for fix in fixes:
        spans = [(index.offset(edit.location), index.offset(edit.end_location)) for edit in fix.edits]
        ranged.append((min(spans, default=(0, 0)), spans, fix))
    ranged.sort(key=lambda item: item[0])
    taken: list[tuple[int, int]] = []
    accepted: list[Fix] = []
    deferred: list[Fix] = []
    seen: set[tuple] = set()
    for _first, spans, fix in ranged:
        key = tuple(fix.edits)
        if key in seen:
            continue
        if any(_overlaps(span, other) for span in spans for other in taken):
            deferred.append(fix)
            continue
        seen.add(key)
        taken.extend(spans)
        accepted.append(fix)
    return accepted, deferred


def apply_fixes(text: str, fixes: Sequence[Fix]) -> str:
    """``text`` with the edits of ``fixes`` (which must not overlap) applied."""
    index = LineIndex(text)
    edits = sorted(
        ((index.offset(edit.location), index.offset(edit.end_location), edit.content)
         for fix in fixes for edit in fix.edits),
        key=lambda item: (item[0], item[1]),
    )
    out: list[str] = []
    position = 0
    for start, end, content in edits:
        out.append(text[position:start])
        out.append(content)
        position = end
    out.append(text[position:])
    return "".join(out)
