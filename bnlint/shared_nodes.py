"""Parsing into trees that share their whitespace, punctuation and operator nodes.

A libcst tree keeps every space, newline, comma and dot as a node of its
own: on the largest import group of the wheel corpus, whitespace nodes alone
are 41% of all nodes, and nearly all of them hold one of a few dozen values
(``SimpleWhitespace("")`` is most of them). They are immutable, and bnlint
never asks where one of them is, never keys anything by one, and never
replaces one in a fix (fixes replace expressions and statements). So one node
per distinct value can stand for all of them: the tree prints the same code,
and every node bnlint reasons about keeps its own identity and position.

How: libcst's native parser builds each Python node by calling the class it
finds under that name on the ``libcst`` module. While ``parse_module`` runs,
those names point to constructors that hand out the one node of each value.
A node whose parts are not all shared (a line ending with a comment) is built
as usual. The classes are put back before the parse returns, so code that
builds nodes itself (the rules' fixes) gets the real classes.

Measured on 400 files of tf-models (``benchmarks/lint_speed.py`` prints the
whole runs): the trees take 74 MB instead of 132 MB, and parsing is no slower,
since a shared node skips the dataclass constructor and its validation.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

import libcst as cst

# Distinct values kept per run of a process; past this, nodes are built as usual (aligned
# comments can make many distinct runs of spaces, and the tables must stay small).
_MAX_SHARED = 20_000

# ids of the shared nodes: the tables keep those nodes alive, so an id stays theirs. Parts that
# are not nodes (no comment, no empty lines, an ``indent`` flag) are shared by Python itself.
_NOT_NODES = (None, (), True, False)
_shared_ids: set[int] = {id(part) for part in _NOT_NODES}


def _share(node: cst.CSTNode) -> bool:
    if len(_shared_ids) - len(_NOT_NODES) >= _MAX_SHARED:
        return False
    _shared_ids.add(id(node))
    return True


def _by_value(cls: type) -> Callable[..., cst.CSTNode]:
    """A constructor for ``SimpleWhitespace`` and ``Newline``: one node per value."""
    table: dict[object, cst.CSTNode] = {}

    def make(value=None):
        node = table.get(value)
        if node is None:
            node = cls(value)
            if _share(node):
                table[value] = node
        return node

    return make


def _by_parts(cls: type) -> Callable[..., cst.CSTNode]:
    """A constructor for a node made of other nodes: shared when all its parts are.

    Parts are keyed by id, in the order the parser passes them (always the same for a class):
    only a shared part's id is ever stored, and shared parts live as long as the tables do.
    """
    table: dict[tuple, cst.CSTNode] = {}
    shared = _shared_ids

    def make(**parts):
        key = tuple(map(id, parts.values()))
        node = table.get(key)
        if node is not None:
            return node
        node = cls(**parts)
        if shared.issuperset(key) and _share(node):
            table[key] = node
        return node

    return make


def _names_interned(cls: type) -> Callable[..., cst.CSTNode]:
    """``Name`` nodes stay one per use, but the identifier strings are shared (``self``, ``tf``, ``x``)."""
    intern = sys.intern

    def make(value, lpar=(), rpar=()):
        return cls(value=intern(value), lpar=lpar, rpar=rpar)

    return make


def _operator_classes() -> list[str]:
    bases = (cst.BaseBinaryOp, cst.BaseCompOp, cst.BaseUnaryOp, cst.BaseAugOp, cst.BaseBooleanOp)
    return sorted(name for name in dir(cst) if not name.startswith("Base")
                  and isinstance(getattr(cst, name), type) and issubclass(getattr(cst, name), bases))


_BY_VALUE = ("SimpleWhitespace", "Newline")
# In the order the parser builds them: a node's parts are shared before the node is built.
_BY_PARTS = ("TrailingWhitespace", "EmptyLine", "ParenthesizedWhitespace", "Comma", "Dot", "AssignEqual", "Colon",
             "Semicolon", "LeftParen", "RightParen", "LeftSquareBracket", "RightSquareBracket", "LeftCurlyBrace",
             "RightCurlyBrace", *_operator_classes())

_REAL = {name: getattr(cst, name) for name in (*_BY_VALUE, *_BY_PARTS, "Name")}
_SHARING = {
    **{name: _by_value(_REAL[name]) for name in _BY_VALUE},
    **{name: _by_parts(_REAL[name]) for name in _BY_PARTS},
    "Name": _names_interned(_REAL["Name"]),
}


@contextmanager
def sharing_constructors() -> Iterator[None]:
    """While the block runs, libcst's parser builds shared nodes (not re-entrant, not for other threads)."""
    for name, make in _SHARING.items():
        setattr(cst, name, make)
    try:
        yield
    finally:
        for name, cls in _REAL.items():
            setattr(cst, name, cls)


def parse_module(text: str) -> cst.Module:
    """``libcst.parse_module``, into a tree that shares whitespace, punctuation and operator nodes."""
    with sharing_constructors():
        return cst.parse_module(text)
