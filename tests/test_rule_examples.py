"""Every rule's VALID and INVALID examples, run through the real engine."""

from __future__ import annotations

import pytest

from bnlint.rule import Invalid
from bnlint.rule_loader import load_rules
from bnlint.testing import expected_findings, expected_replacement, fix_example, lint_example

RULES = load_rules()


def _cases(kind: str):
    for code, rule in RULES.items():
        for index, example in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, example, id=f"{code}-{kind.lower()}-{index}")


@pytest.mark.parametrize(("rule", "example"), list(_cases("VALID")))
def test_valid_example_has_no_finding(rule, example, tmp_path):
    _files, findings = lint_example(rule, example, tmp_path)
    assert [(f.filename, f.location.row, f.code, f.message) for f in findings] == []


@pytest.mark.parametrize(("rule", "example"), list(_cases("INVALID")))
def test_invalid_example_is_flagged_on_marked_lines(rule, example: Invalid, tmp_path):
    files, findings = lint_example(rule, example, tmp_path)
    expected = expected_findings(files)
    assert expected, "an INVALID example must mark at least one line with # error: [CODE]"
    got = {(f.filename, f.location.row, f.code) for f in findings}
    assert got == expected, [f"{f.filename}:{f.location.row}: {f.code} {f.message}" for f in findings]
    if example.message is not None:
        assert any(example.message in f.message for f in findings), [f.message for f in findings]


@pytest.mark.parametrize(("rule", "example"), list(_cases("INVALID")))
def test_fix_gives_the_expected_replacement(rule, example: Invalid, tmp_path):
    files, findings = lint_example(rule, example, tmp_path / "lint")
    expected = expected_replacement(example)
    fixable = [f for f in findings if f.fix is not None]
    for finding in fixable:
        assert rule.FIX_APPLICABILITY in ("unsafe", finding.fix.applicability), (
            f"{rule.CODE} reports a fix that is {finding.fix.applicability}: "
            f"declare FIX_APPLICABILITY = {finding.fix.applicability!r} (\"unsafe\" when some fixes are)"
        )
    if expected is None:
        assert not fixable, f"{rule.CODE}: a fixable finding's INVALID example needs expected_replacement"
        return
    assert fixable, "expected_replacement is given but no finding has a fix"
    fixed = fix_example(rule, example, tmp_path / "fix")
    assert {name: fixed[name] for name in expected} == expected
    assert {name: code for name, code in fixed.items() if name not in expected} == \
        {name: code for name, code in files.items() if name not in expected}, "files not in expected_replacement changed"
    # A second run finds nothing more to fix.
    again = fix_example(rule, Invalid(files=fixed), tmp_path / "again")
    assert again == fixed


def test_every_checking_rule_has_valid_and_invalid_examples():
    for code, rule in RULES.items():
        if code == "BN000":
            continue
        assert rule.VALID and rule.INVALID, f"{code} needs VALID and INVALID examples"
