"""Edits that change nothing but comments: every finding stays where it was, only ``# noqa`` is judged again.

The edit a linter sees most between two runs is a comment: ``# noqa: BN001``
added to silence a finding, a TODO, a note appended at the end of a file.
Such an edit changes no fact any rule reads, in that file or in the files
linked to it, so the cache keeps every finding of the import group and the
group is not linted again (see ``bnlint.incremental``).

Two texts count as the same code when tokenising them gives the same tokens
at the same rows and columns once statement-level comments, blank lines and
line-end whitespace are left out. Why that is exact:

- Rules read syntax trees, whose code is made of these tokens. A comment
  reaches a rule's output in four ways only: ``# noqa`` comments (judged
  again), the import graph and the rules' tokens (compared), questions a rule
  asks of the raw text (``FileModel.mentions`` logs them; each is asked again
  of both texts), and text copied from the source into a message or a fix.
- Messages quote expressions (``file.code(site.node)``). Inside an expression
  a comment can only sit between brackets, and comments between brackets are
  kept in the comparison: changing one changes the code.
- A fix's edit may copy a whole statement with its comments, so a finding
  with a fix is kept only when the rows its edits span are unchanged, byte
  for byte (``rows_unchanged``).
- Every code token keeping its row and column means every location in every
  finding, in this file or pointing into it from another, stays right.

An edit that moves code to another row (a comment line inserted above it) is
not such an edit: the import group is linted again, as for any change.
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


def code_tokens(text: str) -> list[tuple] | None:
    """The tokens a rule can see, with their positions; None when the text does not tokenise."""
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
                if depth:  # inside brackets, a comment is part of an expression a message may quote
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


def same_code(old: str, new: str) -> bool:
    """True when ``new`` differs from ``old`` only in statement-level comments, blank lines and line-end spaces."""
    if old == new:
        return True
    old_tokens = code_tokens(old)
    return old_tokens is not None and old_tokens == code_tokens(new)


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
