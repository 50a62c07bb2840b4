"""Fuzzing: no generated program or damaged fixture makes bnlint raise, and fixes never damage a file.

The example counts are fixed and the runs derandomized so CI is stable;
``benchmarks/fuzz.py`` runs the same properties with fresh random examples
for as long as it is given.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fuzz_programs import mutations, programs, python2_programs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnlint.engine import lint_files
from bnlint.fixer import fix_files, parses
from bnlint.py2 import translate
from bnlint.rule_loader import load_rules

ALL_RULES = list(load_rules().values())  # opt-in rules too: every rule must survive any input
CI_SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def lint_never_fails(data: bytes) -> None:
    """Lint ``data`` as a file: bnlint reports, it never raises or records an internal error."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "generated.py"
        path.write_bytes(data)
        result = lint_files([path], ALL_RULES)
        assert result.errors == [], result.errors
        assert result.files_checked == 1


def fixes_keep_the_file_parsing_and_are_stable(text: str) -> None:
    """``--fix --unsafe-fixes`` output parses, and fixing it again changes nothing."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "generated.py"
        path.write_text(text, encoding="utf-8")
        first = fix_files([path], ALL_RULES, unsafe=True)
        assert first.errors == [] and first.result.errors == [], (first.errors, first.result.errors)
        fixed = path.read_text(encoding="utf-8")
        assert parses(fixed), fixed
        second = fix_files([path], ALL_RULES, unsafe=True)
        assert second.fixed_count == 0, fixed
        assert path.read_text(encoding="utf-8") == fixed


def check_program(source: str) -> None:
    """The properties for a generated program."""
    lint_never_fails(source.encode())
    if parses(source):
        fixes_keep_the_file_parsing_and_are_stable(source)


def check_damaged_file(data: bytes) -> None:
    """The properties for a damaged fixture: fixes are only tried on what still parses."""
    lint_never_fails(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    if parses(text):
        fixes_keep_the_file_parsing_and_are_stable(text)


@CI_SETTINGS
@given(programs())
def test_generated_programs_lint_and_fix_cleanly(source):
    check_program(source)


@CI_SETTINGS
@given(mutations())
def test_damaged_fixtures_lint_and_fix_cleanly(data):
    check_damaged_file(data)


def test_the_generator_reaches_the_rules():
    """The property tests only mean something if generated code triggers findings (and fixes)."""
    from hypothesis import find

    def has_fixable_finding(source: str) -> bool:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "generated.py"
            path.write_text(source, encoding="utf-8")
            outcome = fix_files([path], ALL_RULES, unsafe=True, write=False)
            return outcome.fixed_count > 0

    example = find(programs(), has_fixable_finding, settings=settings(max_examples=200, derandomize=True,
                                                                         database=None))
    assert example


@CI_SETTINGS
@given(python2_programs())
def test_python2_programs_translate_row_for_row_and_lint_cleanly(source):
    translation = translate(source)
    if translation is not None:
        original, translated = source.splitlines(), translation.text.splitlines()
        assert len(translated) == len(original)
        for row, (before, after) in enumerate(zip(original, translated), 1):
            if row not in translation.rewritten_rows:
                assert after == before
            for column in range(1, len(after) + 2):
                assert 1 <= translation.column(row, column) <= len(before) + 1
    lint_never_fails(source.encode())


@CI_SETTINGS
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_any_text_translates_without_raising(text):
    translation = translate(text)
    assert translation is None or len(translation.text.splitlines()) == len(text.splitlines())
