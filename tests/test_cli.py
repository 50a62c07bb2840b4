"""The ``bnlint`` command end to end, with the real engine and rules."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import jsonschema
import pytest
from bnlint_process import subprocess_env

import bnlint
from bnlint.cli import main
from bnlint.rule import rule_doc
from bnlint.rule_loader import RuleLoadError, load_rules

REPO = Path(__file__).resolve().parents[1]
SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-2.1.0.json").read_text())

# BN003 on line 3: moments over a channels_last tensor that reduce the channel axis.
MOMENTS = """\
import tensorflow as tf
x = tf.compat.v1.placeholder(tf.float32, [None, 32, 32, 3])
mean, var = tf.nn.moments(x, axes=[0, 3])
"""
CLEAN = "import tensorflow as tf\nx = tf.constant(1.0)\n"
# A syntax error in a file that mentions a batch-norm API (files mentioning none are never parsed).
SYNTAX_ERROR = 'mean, var = tf.nn.moments(x, [0]]\n'
# MOMENTS in Python 2: linted through its translation, with a note on stderr.
PY2_MOMENTS = MOMENTS.replace("mean, var = ", 'print "mean", ')
PY2_CLEAN = 'import tensorflow as tf\nprint "mean", tf.nn.moments(x, [0])\n'
PY2_NOTE = "bnlint: note: {name}: Python 2 source, linted through a translation to Python 3 syntax; no fixes offered\n"
BN003_LINE = re.compile(r"^(?P<file>\S+):3:(?P<col>\d+): BN003 (?P<message>\S.*)$")


@pytest.fixture()
def tree(tmp_path, monkeypatch):
    """Write files into a fresh directory and make it the working directory."""
    monkeypatch.chdir(tmp_path)

    def write(**files: str) -> Path:
        for name, text in files.items():
            path = tmp_path / name.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return tmp_path

    return write


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def bn003_lines(out: str) -> list[re.Match]:
    return [match for line in out.splitlines() if (match := BN003_LINE.match(line))]


# --- check ------------------------------------------------------------------------


def test_finding_is_reported_on_its_line_with_exit_1(tree, capsys):
    tree(**{"t.py": MOMENTS})
    code, out, err = run(capsys, "t.py")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    match = BN003_LINE.match(lines[0])
    assert match and match["file"] == "t.py"
    assert 1 <= int(match["col"]) <= len("mean, var = tf.nn.moments(x, axes=[0, 3])")
    assert lines[1] == "Found 1 finding in 1 file."
    assert err == ""


def test_the_word_check_is_optional(tree, capsys):
    tree(**{"t.py": MOMENTS})
    assert run(capsys, "check", "t.py") == run(capsys, "t.py")


def test_default_path_is_the_current_directory(tree, capsys):
    tree(**{"pkg__t.py": MOMENTS, "pkg__ok.py": CLEAN, ".venv__lib__t.py": MOMENTS})
    code, out, _ = run(capsys)
    assert code == 1
    assert [match["file"] for match in bn003_lines(out)] == ["pkg/t.py"]


def test_clean_code_passes_with_exit_0(tree, capsys):
    tree(**{"ok.py": CLEAN})
    assert run(capsys, ".") == (0, "All checks passed!\n", "")


def test_parse_error_is_a_finding_and_other_files_are_still_linted(tree, capsys):
    tree(**{"bad.py": SYNTAX_ERROR, "t.py": MOMENTS})
    code, out, err = run(capsys, ".")
    assert code == 1
    lines = out.splitlines()
    assert re.match(r"^bad\.py:1:\d+: BN000 \S", lines[0]), lines
    assert BN003_LINE.match(lines[1])
    assert lines[2:] == ["Found 2 findings in 2 files."]
    assert err == ""


def test_missing_path_is_an_error_but_the_rest_is_linted(tree, capsys):
    tree(**{"t.py": MOMENTS})
    code, out, err = run(capsys, "nope.py", "t.py")
    assert code == 2
    assert err == "bnlint: error: nope.py: No such file or directory\n"
    assert len(bn003_lines(out)) == 1


def test_exit_zero_quiet_and_statistics(tree, capsys):
    tree(**{"t.py": MOMENTS})
    code, out, _ = run(capsys, "--exit-zero", "t.py")
    assert code == 0 and len(bn003_lines(out)) == 1
    code, out, _ = run(capsys, "--quiet", "t.py")
    assert code == 1 and len(out.splitlines()) == 1 and bn003_lines(out)
    assert run(capsys, "--statistics", "t.py") == (1, "1\tBN003\tmoments-axes-mismatch\nFound 1 finding in 1 file.\n", "")
    code, out, _ = run(capsys, "--statistics", "--format", "json", "t.py")
    assert (code, json.loads(out)) == (1, [{"code": "BN003", "name": "moments-axes-mismatch", "count": 1}])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--select", "BN001"], 0),
        (["--select", "BN001,BN003"], 1),
        (["--select", "BN001", "--select", "BN003"], 1),
        (["--select", "BN0"], 1),
        (["--ignore", "BN003"], 0),
        (["--ignore", "BN0"], 0),
        (["--select", "BN001", "--extend-select", "BN003"], 1),
        (["--ignore", "BN0", "--extend-select", "BN003"], 1),
    ],
)
def test_command_line_selection(tree, capsys, options, expected):
    tree(**{"t.py": MOMENTS})
    code, out, _ = run(capsys, *options, "t.py")
    assert code == expected
    assert len(bn003_lines(out)) == expected


def test_unknown_code_on_command_line_is_a_usage_error(tree, capsys):
    tree(**{"t.py": MOMENTS})
    assert run(capsys, "--select", "BN999", "t.py") == (
        2, "", "bnlint: error: unknown rule selector `BN999` in --select\n")


def test_parse_errors_are_reported_under_a_narrow_select(tree, capsys):
    # The file mentions a train op, so BN001 must read it.
    tree(**{"bad.py": 'step = opt.minimize(loss]\n'})
    code, out, _ = run(capsys, "--select", "BN001", "bad.py")
    assert code == 1 and " BN000 " in out
    assert run(capsys, "--ignore", "BN000", "bad.py")[:2] == (0, "All checks passed!\n")


def test_unparseable_file_unrelated_to_the_selected_rules_is_not_parsed(tree, capsys):
    # Documented pre-filter: a file that mentions no API a selected rule looks at is never parsed.
    tree(**{"bad.py": 'print "hello"\n'})
    # Not parsed, so not translated either: no note.
    assert run(capsys, "bad.py") == (0, "All checks passed!\n", "")
    tree(**{"bad.py": SYNTAX_ERROR})
    assert run(capsys, "--select", "BN001", "bad.py")[:2] == (0, "All checks passed!\n")


def test_noqa_comment_suppresses_the_finding(tree, capsys):
    tree(**{"t.py": MOMENTS.replace("axes=[0, 3])\n", "axes=[0, 3])  # noqa: BN003\n")})
    assert run(capsys, "t.py")[:2] == (0, "All checks passed!\n")


# --- configuration ------------------------------------------------------------------------


def test_pyproject_config_and_command_line_override(tree, capsys):
    tree(**{"pyproject.toml": '[tool.bnlint]\nignore = ["BN003"]\n', "src__t.py": MOMENTS})
    assert run(capsys, "src")[:2] == (0, "All checks passed!\n")
    # The config is found from the linted path, not only from the working directory.
    root = tree()
    os.chdir("/")
    assert run(capsys, str(root / "src")) == (0, "All checks passed!\n", "")
    os.chdir(root)
    code, out, _ = run(capsys, "--select", "BN003", "src")
    assert code == 1 and len(bn003_lines(out)) == 1
    code, out, _ = run(capsys, "--isolated", "src")
    assert code == 1 and len(bn003_lines(out)) == 1


def test_per_file_ignores_and_exclude(tree, capsys):
    tree(**{
        "pyproject.toml": '[tool.bnlint]\nexclude = ["gen"]\n[tool.bnlint.per-file-ignores]\n"legacy/*" = ["BN0"]\n',
        "legacy__t.py": MOMENTS, "new__t.py": MOMENTS, "gen__t.py": MOMENTS,
    })
    code, out, _ = run(capsys)
    assert code == 1
    assert [match["file"] for match in bn003_lines(out)] == ["new/t.py"]
    # A path named on the command line is linted even when excluded.
    code, out, _ = run(capsys, "gen/t.py")
    assert code == 1 and [match["file"] for match in bn003_lines(out)] == ["gen/t.py"]


def test_explicit_config_file_with_top_level_keys(tree, capsys):
    tree(**{"ci__bnlint.toml": 'select = ["BN001"]\n', "t.py": MOMENTS})
    assert run(capsys, "--config", "ci/bnlint.toml", "t.py")[:2] == (0, "All checks passed!\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tool.bnlint]\nselekt = ["BN003"]\n', "unknown key `selekt` (did you mean `select`?)"),
        ('[tool.bnlint]\nselect = "BN003"\n', "`select` must be a list of strings, got a string"),
        ('[tool.bnlint]\nignore = ["BN99"]\n', "unknown rule selector `BN99` in `ignore` of "),
        ('[tool.bnlint.per-file-ignores]\n"a.py" = ["XX1"]\n', "unknown rule selector `XX1` in `per-file-ignores` of "),
        ("[tool.bnlint\n", "invalid TOML"),
    ],
)
def test_bad_config_exits_2_with_one_line(tree, capsys, text, message):
    tree(**{"pyproject.toml": text, "t.py": MOMENTS})
    code, out, err = run(capsys, "t.py")
    assert (code, out) == (2, "")
    assert err.startswith("bnlint: error: ") and err.count("\n") == 1
    assert message in err


# --- formats and output file ------------------------------------------------------------


def test_json_format(tree, capsys):
    tree(**{"t.py": MOMENTS})
    code, out, _ = run(capsys, "--format", "json", "t.py")
    (finding,) = json.loads(out)
    assert code == 1
    assert (finding["code"], finding["name"], finding["filename"]) == ("BN003", "moments-axes-mismatch", "t.py")
    assert finding["location"]["row"] == 3 and finding["end_location"]["row"] >= 3
    assert finding["severity"] in ("error", "warning")
    assert set(finding) >= {"code", "name", "message", "filename", "location", "end_location", "fix", "noqa_row", "url"}


def test_github_format(tree, capsys):
    tree(**{"t.py": MOMENTS})
    code, out, _ = run(capsys, "--format", "github", "t.py")
    assert code == 1
    assert re.fullmatch(
        r"::(error|warning) file=t\.py,line=3,col=\d+,endLine=\d+,endColumn=\d+,"
        r"title=BN003 \(moments-axes-mismatch\)::\S.*\n", out)


def test_sarif_format_validates(tree, capsys):
    tree(**{"t.py": MOMENTS, "bad.py": SYNTAX_ERROR})
    code, out, _ = run(capsys, "--format", "sarif", ".")
    log = json.loads(out)
    jsonschema.validate(log, SARIF_SCHEMA)
    assert code == 1
    run_ = log["runs"][0]
    rule_ids = [rule["id"] for rule in run_["tool"]["driver"]["rules"]]
    assert {"BN000", "BN003"} <= set(rule_ids)
    results = {result["ruleId"]: result for result in run_["results"]}
    assert set(results) == {"BN000", "BN003"}
    location = results["BN003"]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "t.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"]["startLine"] == 3
    assert rule_ids[results["BN003"]["ruleIndex"]] == "BN003"


@pytest.mark.parametrize("options", [["--format", "full"], ["--show-source"]])
def test_full_format_shows_the_source_line(tree, capsys, options):
    tree(**{"t.py": MOMENTS})
    code, out, _ = run(capsys, *options, "t.py")
    lines = out.splitlines()
    assert code == 1
    assert BN003_LINE.match(lines[0])
    assert lines[1:3] == ["  |", "3 | mean, var = tf.nn.moments(x, axes=[0, 3])"]
    assert re.fullmatch(r"  \| +\^+ BN003", lines[3])
    assert any(line.startswith("  = why: ") for line in lines)
    assert lines[-1] == "Found 1 finding in 1 file."


def test_output_file_receives_the_report(tree, capsys):
    root = tree(**{"t.py": MOMENTS})
    code, out, err = run(capsys, "--output-file", "report.json", "--format", "json", "t.py")
    assert (code, out, err) == (1, "", "")
    assert json.loads((root / "report.json").read_text())[0]["code"] == "BN003"
    code, _, err = run(capsys, "-o", "missing-dir/report.txt", "t.py")
    assert code == 2 and err.startswith("bnlint: error: cannot write missing-dir/report.txt: ")


def test_bad_format_is_a_usage_error(tree, capsys):
    code, out, err = run(capsys, "--format", "xml", ".")
    assert (code, out) == (2, "")
    assert "invalid choice: 'xml'" in err


def test_version(capsys):
    assert run(capsys, "--version") == (0, f"bnlint {bnlint.__version__}\n", "")


# --- rule ----------------------------------------------------------------------------------


def test_rule_prints_its_documentation(capsys):
    rule = load_rules()["BN003"]
    code, out, err = run(capsys, "rule", "BN003")
    assert (code, err) == (0, "")
    assert out == f"# moments-axes-mismatch (BN003)\n\n{rule_doc(rule)}\n"
    assert run(capsys, "rule", "moments-axes-mismatch")[1] == out


def test_rule_all_lists_every_rule(capsys):
    rules = load_rules()
    code, out, _ = run(capsys, "rule", "--all")
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(rules)
    for line, rule in zip(lines, rules.values()):
        assert re.match(rf"^{rule.CODE}  {rule.NAME} +\S", line), line
        assert line.endswith("  (opt-in)") is rule.OPT_IN


def test_unknown_rule_and_missing_argument(capsys):
    assert run(capsys, "rule", "BN999") == (
        2, "", "bnlint: error: unknown rule `BN999` (`bnlint rule --all` lists them)\n")
    code, _, err = run(capsys, "rule")
    assert code == 2 and "one of the arguments CODE --all is required" in err


# --- audit dispatch and failures ---------------------------------------------------------


def test_audit_gets_the_rest_of_the_arguments(monkeypatch):
    seen = []
    fake = types.ModuleType("bnlint.audit.cli")
    fake.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "bnlint.audit.cli", fake)
    assert main(["audit", "model.py", "--json"]) == 3
    assert seen == [["model.py", "--json"]]


def test_audit_missing_is_an_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "bnlint.audit.cli", None)  # makes the import fail
    code, _, err = run(capsys, "audit", "model.py")
    assert code == 2 and err.startswith("bnlint: error: the runtime audit is not available: ")


def test_rule_load_error_exits_2(monkeypatch, capsys, tree):
    def broken():
        raise RuleLoadError("rule module bnlint.rules.bn009_x failed to import: SyntaxError()")

    monkeypatch.setattr("bnlint.cli.load_rules", broken)
    tree(**{"t.py": MOMENTS})
    assert run(capsys, "t.py") == (
        2, "", "bnlint: error: rule module bnlint.rules.bn009_x failed to import: SyntaxError()\n")


def test_unexpected_exception_is_one_line_not_a_traceback(monkeypatch, capsys, tree):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    # Every lint (cached or not, one job or many) goes through the parallel driver.
    monkeypatch.setattr(importlib.import_module("bnlint.parallel"), "lint_files", boom)
    tree(**{"t.py": MOMENTS})
    assert run(capsys, "t.py") == (2, "", "bnlint: internal error: RuntimeError: boom\n")


# --- a real process ----------------------------------------------------------------------



def bnlint_process(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bnlint", *argv],
        cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize(
    ("files", "argv", "exit_code", "stdout_end", "stderr"),
    [
        ({"ok.py": CLEAN}, [], 0, "All checks passed!\n", ""),
        ({"t.py": MOMENTS}, [], 1, "Found 1 finding in 1 file.\n", ""),
        ({"t.py": MOMENTS}, ["--exit-zero"], 0, "Found 1 finding in 1 file.\n", ""),
        ({"bad.py": SYNTAX_ERROR}, ["bad.py"], 1, "Found 1 finding in 1 file.\n", ""),
        # The note on Python 2 is no finding: it changes no exit code, -q leaves it out.
        ({"old.py": PY2_MOMENTS}, ["old.py"], 1, "Found 1 finding in 1 file.\n", PY2_NOTE.format(name="old.py")),
        ({"old.py": PY2_CLEAN}, [], 0, "All checks passed!\n", PY2_NOTE.format(name="old.py")),
        ({"old.py": PY2_MOMENTS}, ["-q", "old.py"], 1, "BN003 Moments over axes [0, 3] reduce the channel axis 3 of "
         "NHWC features; keep it out: [0, 1, 2]\n", ""),
        ({"t.py": MOMENTS}, ["nope"], 2, "All checks passed!\n", "bnlint: error: nope: No such file or directory\n"),
        ({"pyproject.toml": "[tool.bnlint]\nselect = 3\n"}, [], 2, "",
         "bnlint: error: {root}/pyproject.toml: `select` must be a list of strings, got an integer\n"),
        ({}, ["rule", "BN003"], 0, "", ""),
    ],
)
def test_real_process_exit_codes(tmp_path, files, argv, exit_code, stdout_end, stderr):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    proc = bnlint_process(tmp_path, *argv)
    assert proc.returncode == exit_code, proc.stderr
    assert proc.stdout.endswith(stdout_end)
    assert proc.stderr == stderr.format(root=tmp_path)
    if argv[:1] == ["rule"]:
        assert proc.stdout.startswith("# moments-axes-mismatch (BN003)\n\n")


def test_a_failing_rule_is_reported_and_the_rest_still_checked(monkeypatch, capsys, tree):
    # A bug in one rule must not hide the other rules' findings, nor pass silently.
    rule = importlib.import_module("bnlint.rules.bn002_update_runs_at_inference").UpdateRunsAtInference

    def broken(self, ctx):
        raise ValueError("unexpected node")

    monkeypatch.setattr(rule, "check", broken)
    tree(**{"t.py": MOMENTS + "ema_update = tf.assign(moving_mean, 0.0)\n"})
    code, out, err = run(capsys, "--no-cache", "t.py")
    assert code == 2
    assert out.startswith("t.py:3:13: BN003 ")
    assert err == "bnlint: error: internal error in BN002 on t.py: ValueError: unexpected node\n"
