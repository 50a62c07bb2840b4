"""``# noqa`` suppression comments, read from the source text with one regex pass."""

from __future__ import annotations

import io
import re
import tokenize

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,?\s*[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(r"^\s*#\s*bnlint:\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,?\s*[A-Z]+[0-9]+)*))?\s*$",
                        re.IGNORECASE | re.MULTILINE)
_CODE = re.compile(r"[A-Z]+[0-9]+", re.IGNORECASE)


class NoqaMap:
    """Which codes are suppressed on which lines of one file."""

    def __init__(self, text: str) -> None:
        # row -> None (all codes) or the set of codes
        self.lines: dict[int, frozenset[str] | None] = {}
        self.file_codes: frozenset[str] | None = frozenset()
        self.skip_file = False
        if "noqa" not in text and "NOQA" not in text:
            return
        for match in _FILE_NOQA.finditer(text):
            codes = match.group("codes")
            if codes is None:
                self.skip_file = True
            else:
                self.file_codes = (self.file_codes or frozenset()) | _codes(codes)
        for row, comment in _comments(text):
            match = _NOQA.search(comment)
            if match is None:
                continue
            codes = match.group("codes")
            self.lines[row] = None if codes is None else _codes(codes)

    def suppressed(self, code: str, row: int) -> bool:
        """True when a finding of ``code`` reported on ``row`` is silenced."""
        if self.skip_file or (self.file_codes and code in self.file_codes):
            return True
        if row not in self.lines:
            return False
        codes = self.lines[row]
        return codes is None or code in codes


def _codes(text: str) -> frozenset[str]:
    return frozenset(code.upper() for code in _CODE.findall(text))


def _comments(text: str) -> list[tuple[int, str]]:
    """(row, comment) for every real comment; strings that contain "# noqa" don't count."""
    out: list[tuple[int, str]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                out.append((token.start[0], token.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # Unfinished files: fall back to a line scan.
        for row, line in enumerate(text.splitlines(), start=1):
            if "#" in line:
                out.append((row, line[line.index("#"):]))
    return out
