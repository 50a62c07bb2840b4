"""``--jobs``: the same findings with one process or several."""

from __future__ import annotations

from pathlib import Path

from bnlint.engine import lint_files
from bnlint.import_graph import components, import_graph, imports_of
from bnlint.parallel import lint_parallel
from bnlint.rule_loader import load_rules

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lint"
RULES = [rule for rule in load_rules().values() if not rule.OPT_IN]


def _keys(result):
    return [(f.filename, f.location.row, f.location.column, f.code, f.message) for f in result.findings]


def test_parallel_run_finds_exactly_what_a_single_process_finds(tmp_path):
    # Many small projects (copies of the fixtures) so that the work really is split.
    files = []
    for copy in range(4):
        for path in sorted(FIXTURES.rglob("*.py")):
            target = tmp_path / f"copy{copy}" / path.relative_to(FIXTURES)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            files.append(target)
    single = lint_files(files, RULES)
    parallel = lint_parallel(files, RULES, jobs=2)
    assert single.findings, "the fixtures must produce findings for this test to mean anything"
    assert _keys(parallel) == _keys(single)
    assert parallel.files_checked == single.files_checked == len(files)


def test_imports_are_read_without_parsing():
    text = "import a.b\nimport c.d as e\nfrom f import (g,\n  h)\nfrom .sibling import x\nfrom .. import up\n"
    assert imports_of(text, "pkg.sub.mod", is_package=False) == ["a", "c.d", "f.g", "f.h", "pkg.sub.sibling.x", "pkg.up"]


def test_files_that_import_each_other_share_a_component():
    modules = {"model.py": "model", "train.py": "train", "other.py": "other", "pkg/__init__.py": "pkg",
               "pkg/nets.py": "pkg.nets", "use_pkg.py": "use_pkg"}
    imports = {"model.py": ["tensorflow"], "train.py": ["model.build"], "other.py": ["tensorflow"],
               "pkg/__init__.py": [], "pkg/nets.py": [], "use_pkg.py": ["pkg"]}
    groups = sorted(sorted(g) for g in components(import_graph(modules, imports)))
    assert groups == [["model.py", "train.py"], ["other.py"], ["pkg/__init__.py", "pkg/nets.py", "use_pkg.py"]]


def test_cached_parallel_run_finds_what_a_single_process_finds(tmp_path):
    from bnlint.incremental import lint_incremental

    files = []
    for copy in range(3):
        for path in sorted(FIXTURES.rglob("*.py")):
            target = tmp_path / f"copy{copy}" / path.relative_to(FIXTURES)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            files.append(target)
    cached = lint_incremental(files, RULES, tmp_path / ".bnlint_cache", jobs=2)
    assert _keys(cached) == _keys(lint_files(files, RULES))
