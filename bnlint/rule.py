"""The rule framework: a rule is one class in one module under ``rules/``.

A rule carries its own documentation (the class docstring, in ruff's sections)
and its own examples (``VALID`` and ``INVALID``); the test suite turns every
example into a test, so each rule is tested by construction.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Iterable, Mapping

from bnlint.findings import Applicability, Severity

if TYPE_CHECKING:  # pragma: no cover
    import libcst as cst

    from bnlint.context import FileContext
    from bnlint.semantic import FileModel

# Marks a line an example or fixture expects a finding on: ``x = f()  # error: [BN001]``.
EXPECTED_MARKER = re.compile(r"#\s*error:\s*\[(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)\]")


@dataclass(frozen=True)
class Valid:
    """Code the rule must not flag. ``files`` maps file names to sources for multi-file cases."""

    code: str = ""
    files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Invalid:
    """Code the rule must flag on exactly the lines marked ``# error: [CODE]``.

    ``message`` is a substring the finding's message must contain;
    ``expected_replacement`` is the source after all the rule's fixes (unsafe
    ones included) are applied: a string for a one-file example, or, for a
    multi-file example, a mapping of the changed files' names to their source.
    Every INVALID example whose findings have a fix must carry one.
    """

    code: str = ""
    files: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None
    expected_replacement: str | Mapping[str, str] | None = None


@dataclass(frozen=True)
class FixSpec:
    """A fix proposed by a rule: replace ``node`` with ``replacement`` (a CST node)."""

    node: "cst.CSTNode"
    replacement: "cst.CSTNode"
    message: str
    applicability: Applicability = "unsafe"


@dataclass(frozen=True)
class Report:
    """What a rule hands to the engine; the engine turns it into a ``Finding``."""

    node: "cst.CSTNode"
    message: str
    fix: FixSpec | None = None
    # (file model, node) pairs the message points at, for SARIF related locations.
    related: tuple[tuple["FileModel", "cst.CSTNode"], ...] = ()


class Rule:
    """Base class of every bnlint rule.

    Subclasses set the class attributes and implement :meth:`check`, which
    yields :class:`Report` objects for one file. ``ctx.project`` gives the
    whole-project index for rules whose bugs span functions and files.
    """

    CODE: ClassVar[str] = ""
    NAME: ClassVar[str] = ""
    # Imperative title of the fix, shown beside the message (ruff's "fix title").
    FIX_TITLE: ClassVar[str | None] = None
    # How safe the rule's automatic fixes are: "safe" (all of them keep behaviour),
    # "unsafe" (some need ``--unsafe-fixes``), None (the rule has no fix). The tests
    # check every fix a rule reports against it; the README's rule table shows it.
    FIX_APPLICABILITY: ClassVar[Applicability | None] = None
    SEVERITY: ClassVar[Severity] = "error"
    # Opt-in rules run only when selected explicitly (``--select``/``extend-select``).
    OPT_IN: ClassVar[bool] = False
    # A file can only produce findings of this rule if it contains one of these substrings, or
    # is parsed anyway (it links to such a file through imports) and holds one of CHECK_TOKENS.
    TOKENS: ClassVar[tuple[str, ...]] = ()
    # Words that make a file the rule checks, without making it worth parsing on their own
    # (``val``, ``test``, ``tensorflow``): a program with none of TOKENS has nothing to report.
    CHECK_TOKENS: ClassVar[tuple[str, ...]] = ()
    # True when a finding depends on other files than the one it is reported in.
    PROJECT_WIDE: ClassVar[bool] = False
    VALID: ClassVar[list[Valid]] = []
    INVALID: ClassVar[list[Invalid]] = []

    def check(self, ctx: "FileContext") -> Iterable[Report]:  # pragma: no cover - abstract
        raise NotImplementedError


def rule_doc(rule: type[Rule]) -> str:
    """The rule's full documentation (its class docstring, dedented)."""
    return inspect.cleandoc(rule.__doc__ or "")


def rule_summary(rule: type[Rule]) -> str:
    """The first line of the rule's documentation."""
    doc = rule_doc(rule)
    return doc.splitlines()[0].strip() if doc else rule.NAME


def doc_section(rule: type[Rule], title: str) -> str:
    """The text of one ``## title`` section of the rule's documentation."""
    lines = rule_doc(rule).splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("## "):
            inside = line[3:].strip().lower() == title.lower()
            continue
        if inside:
            out.append(line)
    return "\n".join(out).strip()


def rule_rationale(rule: type[Rule]) -> str:
    """The first sentence of the "Why is this bad?" section, for one-line output."""
    text = " ".join(doc_section(rule, "Why is this bad?").split())
    match = re.match(r"(.+?\.)(\s|$)", text)
    return match.group(1) if match else text
