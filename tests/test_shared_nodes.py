"""Trees that share whitespace, punctuation and operator nodes (``bnlint.shared_nodes``).

Sharing must save memory (the nodes really are shared), print every file back
byte for byte, leave every other node where plain libcst puts it, and leave
libcst's classes as they were for code that builds nodes itself.
"""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from bnlint import shared_nodes
from bnlint.source import SourceError, parse

ROOT = Path(__file__).resolve().parent.parent

# Comments at line ends and between brackets, continuation lines, tabs, a form feed,
# aligned comments, every bracket kind, operators, semicolons and decorators.
AWKWARD = (
    "import os ,  sys;import re\n"
    "\f\n"
    "x = [1 ,2,\n"
    "     3]  # three\n"
    "y = {'a' : 1,   # aligned\n"
    "     'b' : (2 +\n"
    "            3)}        # aligned\n"
    "z = x[0]if x else\\\n"
    "    not y\n"
    "\n"
    "@decorator ( arg )\n"
    "def f(a, *, b = 1, **kw):\n"
    "\tif a is not b and a not in kw: return a  ;  b\n"
    "\treturn -a ** 2 // b\n"
    "\n"
    "class C (object) :\n"
    "    # a comment on its own line\n"
    "    v : int = 0\n"
    "    v += 1 ; v <<= 2\n"
)


def _python_files() -> list[Path]:
    files = sorted((ROOT / "fixtures").rglob("*.py")) + sorted((ROOT / "bnlint").rglob("*.py"))
    assert len(files) > 100
    return files


def _every_node(root: cst.CSTNode) -> list[cst.CSTNode]:
    nodes, stack = [], [root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.children)
    return nodes


def test_whitespace_and_punctuation_are_one_node_per_value():
    first, second = parse("a = b(1, 2)\n"), parse("c = d(3, 4)\n")
    call_one = first.body[0].body[0].value
    call_two = second.body[0].body[0].value
    # If libcst stops building nodes through its module's names, this fails: the memory saving is gone.
    assert call_one.args[0].comma is call_two.args[0].comma
    assert call_one.whitespace_before_args is call_two.whitespace_before_args
    assert first.body[0].trailing_whitespace is second.body[0].trailing_whitespace


def test_nodes_bnlint_reasons_about_stay_distinct():
    module = parse("x = x + x\n")
    assign = module.body[0].body[0]
    names = [assign.targets[0].target, assign.value.left, assign.value.right]
    assert len({id(name) for name in names}) == 3
    assert all(name.value == "x" for name in names)


def test_a_node_with_a_comment_is_its_own():
    module = parse("a = 1  # one\nb = 2  # two\n")
    first, second = (line.trailing_whitespace for line in module.body)
    assert first is not second
    assert (first.comment.value, second.comment.value) == ("# one", "# two")


@pytest.mark.parametrize("text", [AWKWARD, "", "\n", "# only a comment", "x = (\n    # inside\n    1)\n"])
def test_awkward_text_prints_back_exactly(text):
    assert parse(text).code == text


def test_every_fixture_and_bnlint_module_prints_back_exactly():
    for path in _python_files():
        text = path.read_text(encoding="utf-8")
        try:
            module = parse(text)
        except SourceError:
            continue  # fixtures of bad input
        assert module.code == text, path


def test_positions_of_real_nodes_are_plain_libcsts():
    shared_types = tuple(getattr(cst, name) for name in shared_nodes._REAL if name != "Name")
    for path in _python_files()[::7]:
        text = path.read_text(encoding="utf-8")
        try:
            shared = parse(text)
        except SourceError:
            continue
        plain = cst.parse_module(text)
        shared_positions = MetadataWrapper(shared, unsafe_skip_copy=True).resolve(PositionProvider)
        plain_positions = MetadataWrapper(plain, unsafe_skip_copy=True).resolve(PositionProvider)
        pairs = list(zip(_every_node(shared), _every_node(plain)))
        assert all(type(a) is type(b) for a, b in pairs), path
        for shared_node, plain_node in pairs:
            if not isinstance(shared_node, shared_types):
                assert shared_positions[shared_node] == plain_positions[plain_node], (path, shared_node)


def test_libcst_classes_are_put_back_even_when_the_parse_fails():
    before = {name: getattr(cst, name) for name in shared_nodes._REAL}
    with pytest.raises(SourceError):
        parse("def broken(:\n")
    parse("x = 1\n")
    assert {name: getattr(cst, name) for name in shared_nodes._REAL} == before
    assert all(isinstance(cls, type) for cls in before.values())
    # Code that builds nodes itself (a rule's fix) gets fresh, real nodes.
    assert cst.SimpleWhitespace("") is not cst.SimpleWhitespace("")


def test_past_the_limit_nodes_are_built_as_usual(monkeypatch):
    monkeypatch.setattr(shared_nodes, "_MAX_SHARED", len(shared_nodes._shared_ids) - len(shared_nodes._NOT_NODES))
    text = "a = [1 ,  2 ,   3 ,    4]  \n" + "".join(f"v{n} ={' ' * n}{n}\n" for n in range(40, 60))
    module = parse(text)
    assert module.code == text
    ranges = [line.body[0].targets[0].whitespace_after_equal for line in module.body[1:]]
    assert [node.value for node in ranges] == [" " * n for n in range(40, 60)]
    # A value first seen past the limit is not shared, even between two of its uses.
    twice = parse(f"p ={' ' * 97}1\nq ={' ' * 97}2\n")
    first, second = (line.body[0].targets[0].whitespace_after_equal for line in twice.body)
    assert first is not second and first.value == second.value
