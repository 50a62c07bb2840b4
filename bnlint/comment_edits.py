"""Edits that change nothing but comments: every finding stays where it was, only ``# noqa`` is judged again.

The edit a linter sees most between two runs is a comment: ``# noqa: BN001``
added to silence a finding, a TODO, a note appended at the end of a file.
Such an edit changes no fact any rule reads, in that file or in the files
linked to it, so the cache keeps every finding of the import group and the
group is not linted again (see ``bnlint.incremental``).

Two texts count as the same code when tokenising them gives the same tokens
at the same columns, and on the same rows up to some row, once
statement-level comments, blank lines and line-end whitespace are left out.
Rows below may move (a comment line inserted above them) when no position
there was ever asked: ``FileModel.span`` logs the last row asked of each file,
by its findings, by findings elsewhere pointing into it and by rules
comparing rows. Why that is exact:

- Rules read syntax trees, whose code is made of these tokens. A comment
  reaches a rule's output in four ways only: ``# noqa`` comments (judged
  again), the import graph and the rules' tokens (compared), questions a rule
  asks of the raw text (``FileModel.mentions`` logs them; each is asked again
  of both texts), and text copied from the source into a message or a fix.
- Messages quote expressions (``file.code(site.node)``). Inside an expression
  a comment can only sit between brackets, and comments between brackets are
  kept in the comparison, changing one changing the code, for every file some
  rule quoted (``FileModel.code`` logs it); a file nothing was quoted from
  leaves no text of its own in any output.
- A fix's edit may copy a whole statement with its comments, so a finding
  with a fix is kept only when the rows its edits span are unchanged, byte
  for byte (``rows_unchanged``).
- Every position anyone asked keeping its row and column means every
  location in every finding, in this file or pointing into it from another,
  stays right, and every decision made on rows is made again the same way.

An edit that moves a row someone asked about (a comment line inserted above
a finding) is not such an edit: the import group is linted again, as for any
change.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Iterable

_OPENING = frozenset("([{")
_CLOSING = frozenset(")]}")
# Tokens whose position is layout, not code: where a line's comment ends, or where the file does.
_POSITION_FREE = frozenset({tokenize.NEWLINE, tokenize.DEDENT, tokenize.ENDMARKER})


def code_tokens(text: str, bracketed_comments: bool = True) -> list[tuple] | None:
    """The tokens a rule can see, with their positions; None when the text does not tokenise.

    ``bracketed_comments``: comments between brackets count, as parts of expressions a message may quote.
    """
    out: list[tuple] = []
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = token.type
            if kind == tokenize.ERRORTOKEN:
                return None  # a stray character: whether it parses may hang on a space
            if kind == tokenize.NL:
                continue
            if kind == tokenize.COMMENT:
                if depth and bracketed_comments:
                    out.append((kind, token.string, token.start))
                continue
            if kind in _POSITION_FREE:
                out.append((kind,))
                continue
            if kind == tokenize.OP:
                if token.string in _OPENING:
                    depth += 1
                elif token.string in _CLOSING:
                    depth = max(depth - 1, 0)
            out.append((kind, token.string, token.start))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return out


# ``first_moved_row`` of two texts whose code did not move at all.
NOTHING_MOVED = float("inf")


def first_moved_row(old: str, new: str, bracketed_comments: bool = True) -> float | None:
    """The first row of ``old`` whose code sits on another row in ``new``; None when the code differs.

    ``NOTHING_MOVED`` when every token kept its row. Code is the same when only
    statement-level comments, blank lines and line-end spaces differ, rows of
    whole lines shifting with them; without ``bracketed_comments``, comments
    between brackets (and the rows they take) do not count either.
    """
    if old == new:
        return NOTHING_MOVED
    old_tokens, new_tokens = code_tokens(old, bracketed_comments), code_tokens(new, bracketed_comments)
    if old_tokens is None or new_tokens is None or len(old_tokens) != len(new_tokens):
        return None
    first = NOTHING_MOVED
    rows: dict[int, int] = {}
    for before, after in zip(old_tokens, new_tokens):
        if len(before) == 1 or len(after) == 1:
            if before != after:
                return None
            continue
        (kind, string, (row, column)), (new_kind, new_string, (new_row, new_column)) = before, after
        if (kind, string, column) != (new_kind, new_string, new_column):
            return None
        # One row stays one row: tokens that shared a line still share one, in the same order.
        if rows.setdefault(row, new_row) != new_row:
            return None
        if new_row != row and row < first:
            first = row
    mapped = sorted(rows.items())
    if any(later[1] <= earlier[1] for earlier, later in zip(mapped, mapped[1:])):
        return None
    return first


def same_code(old: str, new: str) -> bool:
    """True when ``new`` differs from ``old`` only in statement-level comments, blank lines and line-end spaces,
    every code token keeping its row and column."""
    return first_moved_row(old, new) == NOTHING_MOVED


def rows_unchanged(old: str, new: str, spans: Iterable[tuple[int, int]]) -> bool:
    """True when every row in each (first, last) span, counted from 1, is the same in both texts."""
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    return all(old_lines[first - 1:last] == new_lines[first - 1:last] for first, last in spans)


def probe_key(needle: "str | re.Pattern[str]") -> str:
    """A text question as plain data: a substring, or a regex with its flags."""
    if isinstance(needle, str):
        return "in:" + needle
    return f"re:{needle.flags}:{needle.pattern}"


def probe_answer(key: str, text: str) -> bool:
    """The answer of ``text`` to a question made by ``probe_key``."""
    if key.startswith("in:"):
        return key[3:] in text
    _kind, flags, pattern = key.split(":", 2)
    return _compiled(pattern, int(flags)).search(text) is not None


def same_answers(keys: Iterable[str], old: str, new: str) -> bool:
    """True when every logged text question gets the same answer from both texts."""
    return all(probe_answer(key, old) == probe_answer(key, new) for key in keys)


_PATTERNS: dict[tuple[str, int], re.Pattern[str]] = {}


def _compiled(pattern: str, flags: int) -> re.Pattern[str]:
    compiled = _PATTERNS.get((pattern, flags))
    if compiled is None:
        # Flags as stored include re.UNICODE, which ``re.compile`` takes back without complaint.
        compiled = _PATTERNS[(pattern, flags)] = re.compile(pattern, flags)
    return compiled
