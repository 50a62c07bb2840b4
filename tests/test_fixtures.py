"""Realistic TensorFlow programs under fixtures/lint: exactly the marked findings, nothing more.

Each directory is one project (files in it are linted together, so a model in
``model.py`` and its train op in ``train.py`` are judged as one program).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint.config import load_config_file, resolve_rules
from bnlint.engine import lint_files
from bnlint.rule_loader import load_rules
from bnlint.testing import expected_findings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lint"
PROJECTS = sorted(p for p in FIXTURES.iterdir() if p.is_dir())


def _default_rules():
    return [rule for rule in load_rules().values() if not rule.OPT_IN]


def _project_rules(project: Path):
    """The default rules, or those a project's own ``bnlint.toml`` selects (opt-in rules' fixtures)."""
    config = project / "bnlint.toml"
    if not config.is_file():
        return _default_rules()
    return list(resolve_rules(load_rules(), [load_config_file(config).selection()]).values())


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_fixture_project_has_exactly_the_marked_findings(project: Path):
    files = sorted(project.rglob("*.py"))
    sources = {str(path.relative_to(project)): path.read_text(encoding="utf-8") for path in files}
    result = lint_files(files, _project_rules(project))
    got = {(str(Path(f.filename).relative_to(project)), f.location.row, f.code) for f in result.findings}
    expected = expected_findings(sources)
    assert got == expected, "\n".join(
        f"{Path(f.filename).name}:{f.location.row}:{f.location.column}: {f.code} {f.message}"
        for f in result.findings
    )
    # One finding per problem: a marker stands for exactly one report (not one per call chain).
    reported = [(f.filename, f.location.row, f.location.column, f.code) for f in result.findings]
    assert len(reported) == len(set(reported)), sorted(reported)


def test_fixtures_cover_flagged_and_clean_projects():
    flagged = clean = 0
    for project in PROJECTS:
        sources = {p.name: p.read_text(encoding="utf-8") for p in project.rglob("*.py")}
        if expected_findings(sources):
            flagged += 1
        else:
            clean += 1
    assert flagged >= 5 and clean >= 3


def test_linting_all_fixture_projects_at_once_gives_the_same_findings():
    # Several projects have a train.py: module names collide, programs must not.
    files = sorted(FIXTURES.rglob("*.py"))
    together = {(f.filename, f.location.row, f.code) for f in lint_files(files, _default_rules()).findings}
    separately = set()
    for project in PROJECTS:
        result = lint_files(sorted(project.rglob("*.py")), _default_rules())
        separately |= {(f.filename, f.location.row, f.code) for f in result.findings}
    assert together == separately
