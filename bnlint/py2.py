"""Python 2 source translated to Python 3 syntax, row for row, so that it can be linted.

TF1-era code is often Python 2 (``print x``, ``except E, e:``, ``0777``). The
analysis only reads libcst trees, and libcst parses Python 3, so a file that
fails to parse and holds Python 2 constructs is rewritten token by token into
Python 3 syntax and the rewrite is parsed instead. Every construct is
rewritten within its own rows: no newline is ever added or removed, so a row
of the translation is the same row of the original, and :meth:`Translation.column`
maps a column of the translation back to the original's.

The scanner is bnlint's own, not :mod:`tokenize`: from Python 3.12 ``tokenize``
runs the interpreter's tokenizer, which raises on ``0777`` and ``10L``. This one
never raises; what it does not recognise passes through unchanged.

Rewritten (each only where Python 3 cannot read it):

- ``print x, y`` / ``print`` / ``print x,`` / ``print >>f, x`` ->
  ``print(x, y)`` / ``print()`` / ``print(x, end=' ')`` / ``print(x, file=f)``
- ``exec code in g, l`` -> ``exec(code, g, l)``
- ``except E, e:`` -> ``except E as e:``
- ``raise E, v`` / ``raise E, v, tb`` -> ``raise E(v)`` / ``raise E(v).with_traceback(tb)``
- backticks -> ``repr(...)``; ``<>`` -> ``!=``
- ``0777`` -> ``0o777``; ``10L``, ``0xFFL`` -> ``10``, ``0xFF``
- ``ur'...'`` -> ``r'...'``
- tuple parameters (``def f(a, (b, c))``, ``lambda (a, b): ...``) -> one plain name
- indentation mixing tabs and spaces -> spaces, a tab reaching the next multiple of 8
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

# Token kinds.
_WS, _NEWLINE, _NL, _COMMENT, _CONT = "ws", "newline", "nl", "comment", "cont"
_NAME, _NUMBER, _STRING, _OP, _BACKTICK, _OTHER = "name", "number", "string", "op", "backtick", "other"
_TRIVIA = frozenset({_WS, _NL, _COMMENT, _CONT})

_STRING_START = re.compile(r"(?i:ur|ub|br|rb|fr|rf|u|r|b|f)?('''|\"\"\"|'|\")")
_NUMBER_RE = re.compile(
    r"0[xX][0-9a-fA-F_]+[lL]?|0[oO][0-7_]+[lL]?|0[bB][01_]+[lL]?"
    r"|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJlL]?"
)
_NAME_RE = re.compile(r"[^\W\d]\w*")
_WS_RE = re.compile(r"[ \t\f]+")
_OPS = sorted(
    "<> ** // >> << != == <= >= -> += -= *= /= %= &= |= ^= @= := ... **= //= >>= <<= "
    "( ) [ ] { } , : ; . + - * / % & | ^ ~ < > = @ !".split(),
    key=len, reverse=True,
)
_OP_RE = re.compile("|".join(map(re.escape, _OPS)))
_OPENING, _CLOSING = "([{", ")]}"
_COMPOUND = frozenset({"if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class"})
_KEYWORDS = frozenset({
    "and", "as", "assert", "break", "class", "continue", "def", "del", "elif", "else", "except", "exec",
    "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "not", "or", "pass", "print",
    "raise", "return", "try", "while", "with", "yield", "None", "True", "False", "nonlocal",
})
_OCTAL = re.compile(r"0([0-7]+)[lL]?")
_PRINT_LEAVE = frozenset({"(", "=", ".", ")", "]", "}", ",", ":"})
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class _Token:
    kind: str
    text: str
    row: int  # 1-based
    col: int  # 0-based, in characters
    depth: int = 0  # brackets open outside the token (a bracket's own is outside it)
    opens: bool = False  # a backtick that opens ``repr``

    def end(self) -> tuple[int, int]:
        """(row, column) just after the token."""
        lines = _LINE_BREAK.split(self.text)
        if len(lines) == 1:
            return self.row, self.col + len(self.text)
        return self.row + len(lines) - 1, len(lines[-1])


def _string_end(text: str, pos: int, quote: str) -> int:
    """The end of a string body starting at ``pos``; an unterminated one ends at its line (or the text)."""
    triple = len(quote) == 3
    index = pos
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if text.startswith(quote, index):
            return index + len(quote)
        if not triple and char in "\r\n":
            return index
        index += 1
    return length


def _scan(text: str) -> list[_Token]:
    """Every character of ``text`` in exactly one token; never raises."""
    tokens: list[_Token] = []
    pos, row, col = 0, 1, 0
    length = len(text)
    stack: list[str] = []  # open brackets and backticks
    last = ""  # kind/text of the last significant token, to tell an opening backtick from a closing one
    last_kind = ""
    while pos < length:
        char = text[pos]
        depth = len(stack)
        if char in "\r\n":
            end = pos + 2 if text.startswith("\r\n", pos) else pos + 1
            kind = _NL if stack or last_kind in ("", _NEWLINE) else _NEWLINE
            if kind == _NEWLINE:
                last_kind = _NEWLINE
        elif char == "\\" and pos + 1 < length and text[pos + 1] in "\r\n":
            end = pos + (3 if text.startswith("\\\r\n", pos) else 2)
            kind = _CONT
        elif char in " \t\f":
            end = _WS_RE.match(text, pos).end()
            kind = _WS
        elif char == "#":
            end = text.find("\n", pos)
            end = length if end < 0 else end
            cr = text.find("\r", pos, end)
            end = cr if cr >= 0 else end
            kind = _COMMENT
        else:
            string = _STRING_START.match(text, pos)
            number = _NUMBER_RE.match(text, pos) if char.isdigit() or char == "." else None
            if string is not None:
                end = _string_end(text, string.end(), string.group(1))
                kind = _STRING
            elif number is not None and number.end() > pos and not (char == "." and number.group() == "."):
                end = number.end()
                kind = _NUMBER
            elif char == "`":
                end = pos + 1
                kind = _BACKTICK
                # A backtick closes the open one after an operand, and opens one where an operand may start.
                closes = bool(stack) and stack[-1] == "`" and (
                    last_kind in (_NUMBER, _STRING, _BACKTICK) or last in _CLOSING
                    or (last_kind == _NAME and last not in _KEYWORDS))
                if closes:
                    stack.pop()
                    depth = len(stack)
                    last_kind = _BACKTICK
                else:
                    stack.append("`")
                    last_kind = _OP  # an expression follows
                tokens.append(_Token(kind, "`", row, col, depth, opens=not closes))
                pos, col = end, col + 1
                last = "`"
                continue
            else:
                name = _NAME_RE.match(text, pos)
                op = _OP_RE.match(text, pos)
                if name is not None:
                    end, kind = name.end(), _NAME
                elif op is not None:
                    end, kind = op.end(), _OP
                    if op.group() in _OPENING:
                        stack.append(op.group())
                    elif op.group() in _CLOSING:
                        # A stray closer ends whatever is open, up to its own opener.
                        opener = _OPENING[_CLOSING.index(op.group())]
                        if opener in stack:
                            while stack and stack.pop() != opener:
                                pass
                        depth = len(stack)
                else:
                    end, kind = pos + 1, _OTHER
        piece = text[pos:end]
        tokens.append(_Token(kind, piece, row, col, depth))
        if kind not in _TRIVIA and kind != _NEWLINE:
            last, last_kind = piece, kind
        newlines = piece.count("\n") + piece.count("\r") - piece.count("\r\n")
        if newlines:
            row += newlines
            col = len(piece) - max(piece.rfind("\n"), piece.rfind("\r")) - 1
        else:
            col += len(piece)
        pos = end
    return tokens


@dataclass
class _Piece:
    """Output text and where it came from: ``same`` pieces are original text, others were rewritten."""

    text: str
    row: int
    col: int
    length: int  # characters of the original it stands for
    same: bool


@dataclass
class Translation:
    """Python 3 text with the original's rows, and where each translated column came from."""

    text: str
    # How many times each Python 2 construct was rewritten, by name (``{"print statement": 3}``).
    constructs: dict[str, int]
    # Rows holding rewritten text: sorted (translated column, original column, original length, unchanged).
    _rows: dict[int, list[tuple[int, int, int, bool]]] = field(default_factory=dict, repr=False)

    @property
    def rewritten_rows(self) -> frozenset[int]:
        """Rows (1-based) whose text the translation changed; every other row is the original's."""
        return frozenset(self._rows)

    def column(self, row: int, column: int) -> int:
        """The original file's 1-based column of 1-based ``row``, ``column`` of the translation."""
        anchors = self._rows.get(row)
        if not anchors:
            return column
        offset = column - 1
        index = bisect.bisect_right(anchors, (offset, float("inf"))) - 1
        if index < 0:
            return column
        start, original, length, same = anchors[index]
        within = offset - start
        return original + (within if same else min(within, length)) + 1


class _Rewriter:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.replace: dict[int, str] = {}
        self.after: dict[int, list[_Piece | str]] = {}
        self.constructs: dict[str, int] = {}
        self._moved_pieces: dict[int, list[_Piece]] = {}

    def count(self, construct: str) -> None:
        self.constructs[construct] = self.constructs.get(construct, 0) + 1

    def insert_after(self, index: int, item: _Piece | str) -> None:
        self.after.setdefault(index, []).append(item)

    # --- the passes -------------------------------------------------------------------

    def run(self) -> None:
        self._tokens_alone()
        self._indentation()
        for statement in self._statements():
            self._statement(statement)

    def _tokens_alone(self) -> None:
        """Constructs one token shows: ``<>``, backticks, long and octal literals, ``ur''``."""
        for index, token in enumerate(self.tokens):
            if token.kind == _OP and token.text == "<>":
                self.replace[index] = "!="
                self.count("`<>`")
            elif token.kind == _BACKTICK:
                self.replace[index] = "repr(" if token.opens else ")"
                if token.opens:
                    self.count("backticks")
            elif token.kind == _NUMBER:
                octal = _OCTAL.fullmatch(token.text)
                if octal is not None and token.text.rstrip("lL") != "0" * len(token.text.rstrip("lL")):
                    self.replace[index] = "0o" + octal.group(1)
                    self.count("octal literal")
                elif token.text[-1] in "lL":
                    self.replace[index] = token.text[:-1]
                    self.count("long literal")
            elif token.kind == _STRING and token.text[:2].lower() == "ur":
                self.replace[index] = token.text[1:]
                self.count("`ur` string prefix")

    def _indentation(self) -> None:
        """Python 2 reads a tab in indentation as reaching the next multiple of 8; Python 3 refuses a mix."""
        starts = self._logical_line_starts()
        indents = {index - 1: self.tokens[index - 1].text for index in starts
                   if index > 0 and self.tokens[index - 1].kind == _WS and self._at_line_start(index - 1)}
        texts = list(indents.values())
        has_tab = any("\t" in text for text in texts)
        has_space = any(" " in text for text in texts)
        if not (has_tab and has_space):
            return
        for index, text in indents.items():
            if "\t" in text and "\f" not in text:
                width = 0
                for char in text:
                    width = (width // 8 + 1) * 8 if char == "\t" else width + 1
                self.replace[index] = " " * width
                self.count("tabs mixed with spaces")

    def _at_line_start(self, index: int) -> bool:
        return index == 0 or self.tokens[index - 1].kind in (_NEWLINE, _NL)

    def _logical_line_starts(self) -> list[int]:
        starts = []
        expect = True
        for index, token in enumerate(self.tokens):
            if token.kind == _NEWLINE:
                expect = True
            elif expect and token.kind not in _TRIVIA:
                starts.append(index)
                expect = False
        return starts

    def _statements(self) -> list[list[int]]:
        """The significant tokens of each simple statement (split at ``;`` and compound headers' colons)."""
        statements: list[list[int]] = []
        current: list[int] = []
        header = False
        for index, token in enumerate(self.tokens):
            if token.kind == _NEWLINE:
                if current:
                    statements.append(current)
                current, header = [], False
                continue
            if token.kind in _TRIVIA:
                continue
            if not current and token.kind == _NAME and token.text in _COMPOUND:
                header = True
            current.append(index)
            if token.depth == 0 and token.kind == _OP and (token.text == ";" or (token.text == ":" and header)):
                if token.text == ":":
                    # The header (``except E, e:``) is a statement of its own; what follows the colon another.
                    statements.append(current)
                else:
                    statements.append(current[:-1])
                current, header = [], False
        if current:
            statements.append(current)
        return [statement for statement in statements if statement]

    def _statement(self, indices: list[int]) -> None:
        first = self.tokens[indices[0]]
        handlers = {"print": self._print, "exec": self._exec, "except": self._except, "raise": self._raise,
                    "def": self._def}
        handler = handlers.get(first.text) if first.kind == _NAME else None
        if handler is not None:
            handler(indices)
        self._lambdas(indices)

    def _commas(self, indices: list[int], depth: int) -> list[int]:
        """The commas among ``indices`` at bracket ``depth``."""
        return [index for index in indices if self.tokens[index].kind == _OP and self.tokens[index].text == ","
                and self.tokens[index].depth == depth]

    def _split(self, indices: list[int], depth: int) -> list[list[int]]:
        """``indices`` split at commas at bracket ``depth``."""
        commas = set(self._commas(indices, depth))
        parts: list[list[int]] = [[]]
        for index in indices:
            if index in commas:
                parts.append([])
            else:
                parts[-1].append(index)
        return parts

    def _open_after(self, index: int, text: str) -> None:
        """``print x`` -> ``print(x``: the blank after the keyword becomes the bracket when there is one."""
        following = self.tokens[index + 1]
        if following.kind == _WS and following.text.startswith(" "):
            self.replace[index + 1] = text + following.text[1:]
        else:
            self.insert_after(index, text)

    def _print(self, indices: list[int]) -> None:
        keyword, rest = indices[0], indices[1:]
        if rest and self.tokens[rest[0]].kind == _OP and self.tokens[rest[0]].text in _PRINT_LEAVE:
            return  # ``print(x)``, ``print = f``: already Python 3 (or not a print statement)
        destination: list[int] = []
        if rest and self.tokens[rest[0]].kind == _OP and self.tokens[rest[0]].text == ">>":
            destination, rest = self._print_destination(rest)
            if not destination:
                return  # nothing sensible to move; the parser will refuse the file as before
        self.count("print statement")
        trailing = bool(rest) and self.tokens[rest[-1]].kind == _OP and self.tokens[rest[-1]].text == ","
        tail: list[_Piece | str] = [" end=' '"] if trailing else []
        if destination:
            tail.append(", file=" if rest else "file=")
            tail.extend(self._moved(destination))
        tail.append(")")
        if rest:
            self._open_after(keyword, "(")
            anchor = rest[-1]
        else:
            self.insert_after(keyword, "(")
            anchor = keyword
        for item in tail:
            self.insert_after(anchor, item)

    def _print_destination(self, rest: list[int]) -> tuple[list[int], list[int]]:
        """``>>f, x, y`` -> ([f], [x, ',', y]) with ``>>f,`` blanked; ([], rest) when ``f`` spans rows."""
        shift = rest[0]
        depth = self.tokens[shift].depth
        after = rest[1:]
        commas = self._commas(after, depth)
        comma = after.index(commas[0]) if commas else None
        destination = after[:comma] if comma is not None else after
        items = after[comma + 1:] if comma is not None else []
        if not destination or self._spans_rows(destination):
            return [], rest
        moved = self._moved(destination)
        stop = after[comma] if comma is not None else destination[-1]
        for index in range(shift, stop + 1):
            if self.tokens[index].kind not in (_NL, _CONT, _COMMENT):
                self.replace[index] = ""
        # The blank after the comma goes too: ``print >>f, x`` -> ``print(x, file=f)``.
        if stop + 1 < len(self.tokens) and self.tokens[stop + 1].kind == _WS:
            self.replace[stop + 1] = ""
        self._moved_pieces[destination[0]] = moved
        return destination, items

    def _moved(self, indices: list[int]) -> list[_Piece]:
        """The text of ``indices`` (with what other rewrites made of it) as pieces keeping their origin."""
        if indices[0] in self._moved_pieces:
            return self._moved_pieces[indices[0]]
        pieces = []
        for index in range(indices[0], indices[-1] + 1):
            token = self.tokens[index]
            text = self.replace.get(index, token.text)
            pieces.append(_Piece(text, token.row, token.col, len(token.text), text == token.text))
        return pieces

    def _spans_rows(self, indices: list[int]) -> bool:
        return any(self.tokens[index].kind in (_NL, _CONT) or _LINE_BREAK.search(self.tokens[index].text)
                   for index in range(indices[0], indices[-1] + 1))

    def _exec(self, indices: list[int]) -> None:
        rest = indices[1:]
        if not rest or self.tokens[rest[0]].kind == _OP:
            return  # ``exec(code)`` or ``exec = x``
        self.count("exec statement")
        self._open_after(indices[0], "(")
        for index in rest:
            token = self.tokens[index]
            if token.kind == _NAME and token.text == "in" and token.depth == self.tokens[indices[0]].depth:
                self.replace[index] = ","
                break
        self.insert_after(rest[-1], ")")

    def _except(self, indices: list[int]) -> None:
        # ``except E, e:``: the header's tokens end with the colon.
        body = indices[1:-1] if self.tokens[indices[-1]].text == ":" else []
        depth = self.tokens[indices[0]].depth
        parts = self._split(body, depth)
        if len(parts) == 2 and parts[0] and len(parts[1]) == 1 and self.tokens[parts[1][0]].kind == _NAME:
            self.replace[self._commas(body, depth)[0]] = " as"
            self.count("`except E, e`")

    def _raise(self, indices: list[int]) -> None:
        depth = self.tokens[indices[0]].depth
        if not all(self._split(indices[1:], depth)):
            return  # ``raise E,`` or ``raise , x``: not Python 2 either
        commas = self._commas(indices[1:], depth)
        if len(commas) not in (1, 2):
            return
        self.count("`raise E, v`")
        self.replace[commas[0]] = "("
        if len(commas) == 2:
            self.replace[commas[1]] = ").with_traceback("
        self.insert_after(indices[-1], ")")

    def _def(self, indices: list[int]) -> None:
        if len(indices) < 3 or self.tokens[indices[2]].text != "(":
            return
        depth = self.tokens[indices[2]].depth + 1
        previous = indices[2]
        for position, index in enumerate(indices[3:], 3):
            token = self.tokens[index]
            if token.depth < depth:
                break
            if (token.depth == depth and token.text == "(" and token.kind == _OP
                    and self.tokens[previous].text in ("(", ",")):
                self._tuple_parameter(indices, position)
            previous = index

    def _lambdas(self, indices: list[int]) -> None:
        for position, index in enumerate(indices):
            token = self.tokens[index]
            if token.kind != _NAME or token.text != "lambda":
                continue
            depth = token.depth
            previous = index
            for later_position in range(position + 1, len(indices)):
                later = self.tokens[indices[later_position]]
                if later.depth < depth or (later.depth == depth and later.text == ":"):
                    break
                if (later.depth == depth and later.text == "(" and later.kind == _OP
                        and self.tokens[previous].text in ("lambda", ",")):
                    self._tuple_parameter(indices, later_position)
                previous = indices[later_position]

    def _tuple_parameter(self, indices: list[int], position: int) -> None:
        """``(a, (b, c))`` as a parameter -> ``a_b_c``; newlines inside stay, the def's brackets hold them."""
        opening = indices[position]
        depth = self.tokens[opening].depth
        names = []
        group = [opening]
        for index in indices[position + 1:]:
            token = self.tokens[index]
            group.append(index)
            if token.kind == _NAME:
                names.append(token.text)
            if token.depth == depth and token.text == ")":
                break
        else:
            return
        if any(index in self.replace for index in group):
            return  # nested inside a tuple parameter already replaced
        self.count("tuple parameter")
        self.replace[opening] = "_".join(names) or "_"
        for index in range(opening + 1, group[-1] + 1):
            if self.tokens[index].kind not in (_NL, _COMMENT, _CONT):
                self.replace[index] = ""

    # --- output -----------------------------------------------------------------------

    def output(self) -> Translation:
        pieces: list[_Piece] = []
        for index, token in enumerate(self.tokens):
            text = self.replace.get(index, token.text)
            pieces.append(_Piece(text, token.row, token.col, len(token.text), text == token.text))
            if index in self.after:
                end_row, end_col = token.end()
                pieces.extend(_as_piece(item, end_row, end_col) for item in self.after[index])
        # (row, column) of each segment of the output, the original column it starts at, its length, unchanged.
        segments: list[tuple[int, int, int, int, bool]] = []
        row, col = 1, 0
        for piece in pieces:
            # Rewritten text never holds a line break, so a piece's later rows are original text from column 0.
            for number, segment in enumerate(_LINE_BREAK.split(piece.text)):
                if number:
                    row, col = row + 1, 0
                if segment:
                    same = piece.same and (number > 0 or piece.row == row)
                    segments.append((row, col, piece.col if number == 0 else 0,
                                     piece.length if number == 0 else len(segment), same))
                col += len(segment)
        changed = {row for row, _col, _original, _length, same in segments if not same}
        rows: dict[int, list[tuple[int, int, int, bool]]] = {}
        for row, col, original, length, same in segments:
            if row in changed:
                rows.setdefault(row, []).append((col, original, length, same))
        return Translation("".join(piece.text for piece in pieces), self.constructs, rows)


def _as_piece(item: _Piece | str, row: int, col: int) -> _Piece:
    return item if isinstance(item, _Piece) else _Piece(item, row, col, 0, False)


def translate(text: str) -> Translation | None:
    """``text`` rewritten from Python 2 to Python 3 syntax, rows kept; None when it holds no Python 2 construct."""
    rewriter = _Rewriter(_scan(text))
    rewriter.run()
    if not rewriter.constructs:
        return None
    translation = rewriter.output()
    if _rows(translation.text) != _rows(text):
        return None  # a bug of the rewriter must never move a finding to another row
    return translation


def _rows(text: str) -> int:
    return len(text.splitlines())
