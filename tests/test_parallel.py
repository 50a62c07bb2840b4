"""``--jobs``: the same findings with one process or several."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bnlint.engine import lint_files, token_pattern
from bnlint.import_graph import GraphInputs, components, graph_inputs, import_graph, imports_of
from bnlint.parallel import lint_parallel
from bnlint.rule_loader import load_rules

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lint"
RULES = [rule for rule in load_rules().values() if not rule.OPT_IN]


def _keys(result):
    return [(f.filename, f.location.row, f.location.column, f.code, f.message) for f in result.findings]


def _fixture_copies(tmp_path: Path, copies: int) -> list[Path]:
    """Many small projects (copies of the fixtures), so that the work really is split."""
    files = []
    for copy in range(copies):
        for path in sorted(FIXTURES.rglob("*.py")):
            target = tmp_path / f"copy{copy}" / path.relative_to(FIXTURES)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            files.append(target)
    return files


def test_parallel_run_finds_exactly_what_a_single_process_finds(tmp_path):
    files = _fixture_copies(tmp_path, 4)
    single = lint_files(files, RULES)
    parallel = lint_parallel(files, RULES, jobs=2)
    assert single.findings, "the fixtures must produce findings for this test to mean anything"
    assert _keys(parallel) == _keys(single)
    assert parallel.files_checked == single.files_checked == len(files)


def test_one_job_lints_groups_in_turn_and_finds_what_one_run_finds(tmp_path, monkeypatch):
    """``--jobs 1`` lints batches of whole import groups one after another, none larger than the largest group.

    On Linux each batch runs in a process forked for it (the memory of one batch's trees is not kept for the
    next): the batches are recorded from whichever process lints them.
    """
    import bnlint.parallel as parallel_module

    files = _fixture_copies(tmp_path, 2)
    single = lint_files(files, RULES)
    log = tmp_path / "batches.jsonl"

    def recording(batch, rules, **options):
        with log.open("a") as stream:
            stream.write(json.dumps({"pid": os.getpid(), "files": [str(path) for path in batch]}) + "\n")
        return lint_files(batch, rules, **options)

    monkeypatch.setattr(parallel_module, "lint_files", recording)
    in_turn = lint_parallel(files, RULES, jobs=1)
    assert _keys(in_turn) == _keys(single)
    assert in_turn.files_checked == single.files_checked == len(files)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    batches = [[Path(name) for name in record["files"]] for record in records]
    assert len(batches) > 1
    if sys.platform.startswith("linux"):
        pids = [record["pid"] for record in records]
        assert len(set(pids)) == len(pids) and os.getpid() not in pids
    assert sorted(path for batch in batches for path in batch) == sorted(files)
    relevant = token_pattern([rule for rule in RULES if rule.CODE != "BN000"])
    groups = components(import_graph({str(path): graph_inputs(path, path.read_text(), relevant) for path in files}))
    largest = max(sum(Path(name).stat().st_size for name in group) for group in groups)
    assert max(len(group) for group in groups) > 1, "some fixture must import another for this test to mean anything"
    assert all(sum(path.stat().st_size for path in batch) <= largest for batch in batches)
    # Whole groups only: a group's files are always linted together.
    batch_of = {path: index for index, batch in enumerate(batches) for path in batch}
    assert all(len({batch_of[Path(name)] for name in group}) == 1 for group in groups)


def test_imports_are_read_without_parsing():
    text = ("import a.b\nimport c.d as e\nfrom f import (g,\n  h)\nfrom .sibling import x\nfrom .. import up\n"
            "from .star import *\n")
    assert imports_of(text) == ["..up", ".sibling.x", ".star", "a.b", "c.d", "f.g", "f.h"]


def test_imports_are_found_wherever_the_word_import_stands():
    # The word elsewhere on a line (a module name, a string, a comment) is no statement;
    # a statement after such a line, or after a parenthesised list, still counts.
    text = ("# import nothing\nx = 'import y'\nfrom importlib import reload\n    import a.b, c\n"
            "from d import (e,\n    f)  # import g\nimport h; import i\nif True: import j\n"
            "mod = importlib.import_module('k.l')\nimport m")
    assert imports_of(text) == ["a.b", "c", "d.e", "d.f", "h", "importlib.reload", "k.l", "m"]


def test_files_that_import_each_other_share_a_component(tmp_path):
    imports = {"model.py": ["tensorflow"], "train.py": ["model.build"], "other.py": ["tensorflow"],
               "pkg/__init__.py": [], "pkg/nets.py": [], "use_pkg.py": ["pkg"], "pkg/sub/deep.py": ["..nets"]}
    inputs = {str(tmp_path / name): GraphInputs("", True, names) for name, names in imports.items()}
    groups = sorted(sorted(str(Path(name).relative_to(tmp_path)) for name in group)
                    for group in components(import_graph(inputs)))
    assert groups == [["model.py", "train.py"], ["other.py"],
                      ["pkg/__init__.py", "pkg/nets.py", "pkg/sub/deep.py", "use_pkg.py"]]


def test_a_file_without_tokens_joins_the_files_it_links_and_no_other(tmp_path):
    # networks.py mentions no rule token but links training.py to layers.py; helpers.py links nothing.
    imports = {"training.py": ["networks.build"], "networks.py": ["layers.block"], "layers.py": [],
               "helpers.py": ["json"], "unrelated.py": ["helpers.x"]}
    tokens = {"training.py": True, "networks.py": False, "layers.py": True, "helpers.py": False, "unrelated.py": False}
    inputs = {str(tmp_path / name): GraphInputs("", tokens[name], names) for name, names in imports.items()}
    groups = sorted(sorted(str(Path(name).relative_to(tmp_path)) for name in group)
                    for group in components(import_graph(inputs)))
    assert groups == [["helpers.py"], ["layers.py", "networks.py", "training.py"], ["unrelated.py"]]


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
