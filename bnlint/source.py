"""Reading a file into text and a libcst tree, turning every failure into a message.

Decoding follows Python's own rules (BOM, then a PEP 263 coding cookie, else
UTF-8) so bnlint reads exactly what the interpreter would, and remembers the
encoding and BOM so that fixes can write the file back the same way.
"""

from __future__ import annotations

import ast
import codecs
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import libcst as cst

from bnlint import shared_nodes
from bnlint.notebook import NOTEBOOK_SUFFIX, CellMap, NotebookError, load_notebook, notebook_source
from bnlint.py2 import Translation, translate

_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")

# libcst's native parser recurses on the C stack; deeply nested code (long
# chains of binary operators, thousands of brackets) overflows the 8 MB main
# thread stack and kills the process. Parsing in a thread with a large stack
# turns that into a RecursionError we can report.
_BIG_STACK = 512 * 1024 * 1024
_BIG_RECURSION_LIMIT = 20_000

T = TypeVar("T")


@dataclass(frozen=True)
class SourceError(Exception):
    """Why a file could not be turned into a tree, and where (1-based)."""

    message: str
    row: int = 1
    column: int = 1


@dataclass
class SourceFile:
    """A decoded source file."""

    path: Path
    text: str
    encoding: str
    has_bom: bool
    # For a notebook: where each code cell starts in ``text`` (see ``bnlint.notebook``),
    # the JSON document and the indentation of its file, for writing fixes back.
    cells: CellMap | None = None
    notebook: dict | None = None
    notebook_indent: int | None = None

    def locate(self, row: int) -> tuple[int | None, int]:
        """(notebook cell or None, row within it) of a row of ``text``."""
        if self.cells is None:
            return None, row
        return self.cells.locate(row)


def detect_encoding(data: bytes) -> tuple[str, bool]:
    """Return (encoding, has_bom) as the Python interpreter would decide them."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8", True
    for line in data.split(b"\n", 2)[:2]:
        match = _COOKIE.match(line)
        if match:
            name = match.group(1).decode("ascii", "replace")
            try:
                return codecs.lookup(name).name, False
            except LookupError:
                raise SourceError(f"unknown encoding {name!r} in coding declaration") from None
        if line.strip() and not line.lstrip().startswith(b"#"):
            break
    return "utf-8", False


def decode(path: Path, data: bytes) -> SourceFile:
    """Decode ``data`` read from ``path``; raise SourceError with a location on failure."""
    encoding, has_bom = detect_encoding(data)
    body = data[len(codecs.BOM_UTF8):] if has_bom else data
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        row = body.count(b"\n", 0, exc.start) + 1
        column = exc.start - (body.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SourceError(
            f"cannot decode byte 0x{body[exc.start]:02x} as {encoding}", row, column
        ) from None
    return SourceFile(path=path, text=text, encoding=encoding, has_bom=has_bom)


def read_source(path: Path) -> SourceFile:
    """Read and decode a file; raise SourceError (never OSError) on failure."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise SourceError("is a directory, not a file") from None
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror or exc}") from None
    if path.suffix == NOTEBOOK_SUFFIX:
        try:
            text, cells = notebook_source(data)
        except NotebookError as exc:
            raise SourceError(str(exc)) from None
        document, indent = load_notebook(data)
        return SourceFile(path=path, text=text, encoding="utf-8", has_bom=False, cells=cells,
                          notebook=document, notebook_indent=indent)
    return decode(path, data)


def parse(text: str) -> cst.Module:
    """Parse source text with libcst; raise SourceError with the best message and location we have."""
    if "\x00" in text:
        row = text.count("\n", 0, text.index("\x00")) + 1
        raise SourceError("source contains a NUL byte", row, 1)
    _refuse_pathological_nesting(text)
    if _PY2_EXCEPT.search(text):
        _refuse_python2_except(text)
    try:
        return shared_nodes.parse_module(text)
    except cst.ParserSyntaxError as exc:
        raise _describe_syntax_error(text, exc) from None
    except cst.CSTValidationError as exc:
        # libcst's parser accepts some code CPython rejects, then fails building the
        # tree (``b'a' 'b'``: "Cannot concatenate string and bytes"). Report it as
        # CPython does instead of as an internal error.
        raise _describe_syntax_error(text, exc) from None
    except RecursionError:
        raise SourceError("code is nested too deeply to parse") from None


def parse_source(source: SourceFile) -> tuple[cst.Module, Translation | None]:
    """Parse a file; Python 2 code that Python 3 cannot read is parsed through a translation.

    Only a file that fails to parse pays for the translation, and only one that
    then parses is linted through it (with the translation handed back). Any
    other failure is the original file's own error, with CPython's message.
    Notebook cells are Python 3 in practice and are never translated.
    """
    try:
        return parse(source.text), None
    except SourceError as error:
        if source.cells is not None or not error.message.startswith("syntax error:"):
            raise
        translation = translate(source.text)
        if translation is None:
            raise
        try:
            return parse(translation.text), translation
        except SourceError:
            raise error from None


# libcst's parse time grows faster than quadratically with expression depth
# (a 4,000-term ``a + a + ...`` takes 5 s, 20,000 terms several minutes);
# CPython's parser takes milliseconds. Such code is generated, comes in long
# lines, and holds no batch-norm logic worth minutes of parsing.
_LONG_LINE = 2_000
_MAX_DEPTH = 1_000


# The same expressions spread over many lines, one term per line, are as slow (a
# 5,000-term sum: 68 s). A thousand consecutive lines continuing an operator send
# the file to the same depth check; real code never has them.
_TALL_RUN = 1_000
_CONTINUING = tuple("+-*/%&|^@([{")


def _tall_expression_row(lines: list[str]) -> int | None:
    """The first row of a run of ``_TALL_RUN`` operator-continued lines, if the file has one."""
    if len(lines) < _TALL_RUN:
        return None
    run = 0
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.endswith(_CONTINUING) or stripped.startswith(_CONTINUING):
            run += 1
            if run >= _TALL_RUN:
                return number - run + 1
        else:
            run = 0
    return None


def _refuse_pathological_nesting(text: str) -> None:
    lines = text.splitlines()
    suspect_row = next((number for number, line in enumerate(lines, 1) if len(line) > _LONG_LINE), None)
    if suspect_row is None:
        suspect_row = _tall_expression_row(lines)
    if suspect_row is None:
        return
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        # CPython refuses more than 200 nested brackets; libcst accepts thousands but
        # takes minutes for them (3,000 nested calls on one line: over two minutes).
        if "too many nested" in error.msg:
            raise _cpython_error(error) from None
        return  # libcst will report it
    except (RecursionError, MemoryError):
        # CPython's own parser gives up ("too complex"); libcst would run the machine
        # out of memory (50,000 unary minuses: killed after 100 s and several GB).
        raise SourceError("expression nested too deeply for Python's parser; too deep to analyse",
                          suspect_row, 1) from None
    except ValueError:
        return  # libcst will report it
    stack: list[tuple[ast.AST, int, int]] = [(tree, 0, 1)]
    while stack:
        node, depth, row = stack.pop()
        if depth > _MAX_DEPTH:
            raise SourceError(f"expression nested more than {_MAX_DEPTH} levels deep; too deep to analyse", row, 1)
        # Report the statement that holds the expression, not a term deep inside it.
        stack.extend((child, depth + 1, child.lineno if isinstance(child, ast.stmt) else row)
                     for child in ast.iter_child_nodes(node))


# libcst parses Python 2's ``except ValueError, e:`` and ``except (A, B), e:`` (as a bare tuple)
# although CPython rejects them; the file was linted as if it could run. Ask CPython when the
# pattern appears.
_PY2_EXCEPT = re.compile(r"^[ \t]*except[ \t]+(?:[\w.]+|\([^()]*\))[ \t]*,[ \t]*\w+[ \t]*:", re.M)


def _refuse_python2_except(text: str) -> None:
    try:
        ast.parse(text)
    except SyntaxError as error:
        raise _cpython_error(error, _python2_hinted(text, error.msg)) from None
    except (RecursionError, MemoryError, ValueError):
        pass  # libcst decides


def _cpython_error(error: SyntaxError, message: str | None = None) -> SourceError:
    """A BN000 with CPython's message (or ``message``) at CPython's position."""
    return SourceError(f"syntax error: {message or error.msg}", error.lineno or 1, max(error.offset or 1, 1))


def _python2_hinted(text: str, message: str) -> str:
    """CPython's message, saying why when the file looks like Python 2 and CPython did not."""
    if _looks_like_python2(text) and "Python 2" not in message:
        return f"{message} (Python 2 syntax is not supported)"
    return message


_LIBCST_LOCATION = re.compile(r"error at (\d+):(\d+)")


def _describe_syntax_error(text: str, exc: cst.ParserSyntaxError | cst.CSTValidationError) -> SourceError:
    """CPython's own message and position when it agrees the code is invalid; libcst's otherwise.

    CPython's messages ("Missing parentheses in call to 'print'") are the ones
    users know, and libcst's native parser reports positions only in its message.
    """
    try:
        ast.parse(text)
    except SyntaxError as error:
        return _cpython_error(error, _python2_hinted(text, error.msg))
    except (RecursionError, MemoryError, ValueError):
        pass
    if isinstance(exc, cst.CSTValidationError):  # no position: only parse errors carry one
        return SourceError(f"syntax error: {' '.join(str(exc).split())}")
    message = " ".join(exc.message.split())
    match = _LIBCST_LOCATION.search(message)
    row, column = (int(match.group(1)), int(match.group(2)) + 1) if match else (exc.raw_line, exc.raw_column + 1)
    return SourceError(f"syntax error: {message}", row, column)


_PY2_HINTS = re.compile(r"^\s*(print\s+[^\s(=]|exec\s+\"|except\s+[\w.]+\s*,\s*\w+\s*:)|^\s*raise\s+\w+\s*,", re.M)


def _looks_like_python2(text: str) -> bool:
    return bool(_PY2_HINTS.search(text))


def run_with_big_stack(func: Callable[[], T]) -> T:
    """Run ``func`` in a thread with a large C stack and recursion limit; re-raise its error."""
    result: list = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(func())
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            error.append(exc)

    old_size = threading.stack_size()
    old_limit = sys.getrecursionlimit()
    threading.stack_size(_BIG_STACK)
    sys.setrecursionlimit(max(old_limit, _BIG_RECURSION_LIMIT))
    try:
        thread = threading.Thread(target=target, name="bnlint-worker")
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if error:
        raise error[0]
    return result[0]
