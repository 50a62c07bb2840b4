"""Every report format, on findings built by hand so each line can be spelled out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from bnlint import __version__
from bnlint.findings import Edit, Finding, Fix, Location
from bnlint.output import LintReport, render, render_statistics, summary
from bnlint.output.github import escape_data, escape_property
from bnlint.rule import Rule

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-2.1.0.json").read_text())


class UnhookedUpdateOps(Rule):
    """Training op does not run the batch-norm update ops.

    ## What it does
    Checks that the moving statistics are updated.

    ## Why is this bad?
    The moving mean and variance never change. Inference then uses the initial values.
    """

    CODE = "BN001"
    NAME = "unhooked-update-ops"
    FIX_TITLE = "Run the train op under `tf.control_dependencies(update_ops)`"


class MomentsAxesMismatch(Rule):
    """Moments reduce over the channel axis.

    ## Why is this bad?
    Statistics then mix channels.
    """

    CODE = "BN003"
    NAME = "moments-axes-mismatch"
    SEVERITY = "warning"


RULES = {"BN001": UnhookedUpdateOps, "BN003": MomentsAxesMismatch}
SOURCE = "import tensorflow as tf\nx = f()\nmean, var = tf.nn.moments(x, axes=[0, 3])\n\ttrain = opt.minimize(loss)\n"


@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "model.py").write_text(SOURCE)
    return tmp_path


def bn001(**kwargs) -> Finding:
    fields = dict(
        code="BN001", name="unhooked-update-ops", message="`opt.minimize` does not run `UPDATE_OPS`",
        filename="pkg/model.py", location=Location(4, 10), end_location=Location(4, 28),
    )
    return Finding(**{**fields, **kwargs})


def bn003(**kwargs) -> Finding:
    fields = dict(
        code="BN003", name="moments-axes-mismatch", message="`tf.nn.moments` reduces channel axis 3",
        filename="pkg/model.py", location=Location(3, 13), end_location=Location(3, 42), severity="warning",
    )
    return Finding(**{**fields, **kwargs})


def report(*findings: Finding, root: Path | None = None) -> LintReport:
    return LintReport(list(findings), RULES, 1, root or Path.cwd(), RULES)


def test_concise_lines(project):
    assert render("concise", report(bn003(), bn001())) == (
        "pkg/model.py:3:13: BN003 `tf.nn.moments` reduces channel axis 3\n"
        "pkg/model.py:4:10: BN001 `opt.minimize` does not run `UPDATE_OPS`\n"
    )
    assert render("concise", report()) == ""


def test_concise_notebook_finding_names_its_cell(project):
    assert render("concise", report(bn003(filename="nb.ipynb", cell=2))) == (
        "nb.ipynb:cell 2:3:13: BN003 `tf.nn.moments` reduces channel axis 3\n"
    )


def test_summary_line():
    assert summary([]) == "All checks passed!"
    assert summary([bn001()]) == "Found 1 finding in 1 file."
    assert summary([bn001(), bn003()]) == "Found 2 findings in 1 file."
    assert summary([bn001(), bn003(filename="train.py")]) == "Found 2 findings in 2 files."
    safe = Fix("safe", "Remove `mode=0`", ())
    unsafe = Fix("unsafe", "Pass `training=False`", ())
    findings = [bn001(fix=safe), bn003(fix=unsafe), bn003(filename="b.py", fix=unsafe)]
    assert summary(findings) == "Found 3 findings in 2 files (1 fixable with --fix, 2 more with --fix --unsafe-fixes)."
    assert summary(findings, unsafe=True) == "Found 3 findings in 2 files (3 fixable with --fix --unsafe-fixes)."
    assert summary(findings[1:], fixed=1) == "Found 3 findings (1 fixed, 2 remaining)."


def test_full_shows_source_underline_rationale_and_fix_title(project):
    assert render("full", report(bn003(), bn001())) == (
        "pkg/model.py:3:13: BN003 `tf.nn.moments` reduces channel axis 3\n"
        "  |\n"
        "3 | mean, var = tf.nn.moments(x, axes=[0, 3])\n"
        "  |             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ BN003\n"
        "  |\n"
        "  = why: Statistics then mix channels.\n"
        "\n"
        "pkg/model.py:4:10: BN001 `opt.minimize` does not run `UPDATE_OPS`\n"
        "  |\n"
        "4 | \ttrain = opt.minimize(loss)\n"
        "  | \t        ^^^^^^^^^^^^^^^^^^ BN001\n"
        "  |\n"
        "  = why: The moving mean and variance never change.\n"
        "  = help: Run the train op under `tf.control_dependencies(update_ops)`\n"
    )


def test_full_underlines_to_end_of_line_for_multiline_span_and_survives_missing_file(project):
    text = render("full", report(bn003(location=Location(3, 6), end_location=Location(5, 1)), bn001(filename="gone.py")))
    assert "3 | mean, var = tf.nn.moments(x, axes=[0, 3])\n  |      " + "^" * 36 + " BN003\n" in text
    # No source to show for a file that vanished; the finding itself is still there.
    assert "gone.py:4:10: BN001 `opt.minimize` does not run `UPDATE_OPS`\n  = why: " in text


def test_json_uses_ruff_field_names(project):
    fix = Fix("unsafe", "Add `training=False`", (Edit(", training=False", Location(4, 27), Location(4, 27)),))
    data = json.loads(render("json", report(bn001(fix=fix, noqa_row=4, url="https://x/BN001"), bn003())))
    assert data[0] == {
        "cell": None,
        "code": "BN001",
        "name": "unhooked-update-ops",
        "message": "`opt.minimize` does not run `UPDATE_OPS`",
        "filename": "pkg/model.py",
        "location": {"row": 4, "column": 10},
        "end_location": {"row": 4, "column": 28},
        "fix": {
            "applicability": "unsafe",
            "message": "Add `training=False`",
            "edits": [{
                "content": ", training=False",
                "location": {"row": 4, "column": 27},
                "end_location": {"row": 4, "column": 27},
            }],
        },
        "noqa_row": 4,
        "url": "https://x/BN001",
        "severity": "error",
    }
    assert (data[1]["code"], data[1]["fix"], data[1]["severity"]) == ("BN003", None, "warning")
    assert json.loads(render("json", report())) == []


def test_github_workflow_commands(project):
    assert render("github", report(bn001(), bn003())) == (
        "::error file=pkg/model.py,line=4,col=10,endLine=4,endColumn=28,title=BN001 (unhooked-update-ops)"
        "::`opt.minimize` does not run `UPDATE_OPS`\n"
        "::warning file=pkg/model.py,line=3,col=13,endLine=3,endColumn=42,title=BN003 (moments-axes-mismatch)"
        "::`tf.nn.moments` reduces channel axis 3\n"
    )


def test_github_escapes_messages_and_properties(project):
    finding = bn001(filename="a,b:c%.py", message="100% sure:\r\nnot, really")
    assert render("github", report(finding)) == (
        "::error file=a%2Cb%3Ac%25.py,line=4,col=10,endLine=4,endColumn=28,title=BN001 (unhooked-update-ops)"
        "::100% sure:%0D%0Anot, really\n".replace("100%", "100%25")
    )
    assert escape_data("a%b\nc") == "a%25b%0Ac"
    assert escape_property("x:y,z%\r") == "x%3Ay%2Cz%25%0D"


def sarif(rep: LintReport) -> dict:
    log = json.loads(render("sarif", rep))
    jsonschema.validate(log, SCHEMA)
    return log


def test_sarif_is_valid_and_describes_rules_and_results(project):
    related = bn001(related=(("pkg/layers.py", Location(7, 5)),))
    log = sarif(report(related, bn003()))
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("bnlint", __version__)
    assert [rule["id"] for rule in driver["rules"]] == ["BN001", "BN003"]
    rule = driver["rules"][0]
    assert rule["name"] == "unhooked-update-ops"
    assert rule["shortDescription"] == {"text": "Training op does not run the batch-norm update ops."}
    assert rule["fullDescription"] == {"text": "The moving mean and variance never change."}
    assert rule["help"]["text"].startswith("Training op does not run the batch-norm update ops.\n\n## What it does")
    assert rule["help"]["markdown"] == rule["help"]["text"]
    assert rule["defaultConfiguration"] == {"level": "error"}
    assert driver["rules"][1]["defaultConfiguration"] == {"level": "warning"}
    first, second = run["results"]
    assert first == {
        "ruleId": "BN001",
        "ruleIndex": 0,
        "level": "error",
        "message": {"text": "`opt.minimize` does not run `UPDATE_OPS`"},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": "pkg/model.py", "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": 4, "startColumn": 10, "endLine": 4, "endColumn": 28},
        }}],
        "relatedLocations": [{"id": 0, "physicalLocation": {
            "artifactLocation": {"uri": "pkg/layers.py", "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": 7, "startColumn": 5},
        }}],
    }
    assert (second["ruleId"], second["ruleIndex"], second["level"]) == ("BN003", 1, "warning")
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": project.as_uri() + "/"}}


def test_sarif_uris_are_relative_posix_and_percent_encoded(project):
    inside = bn001(filename=str(project / "pkg" / "my model.py"))
    outside = bn001(filename=str(project.parent / "other.py"))
    results = sarif(report(inside, outside))["runs"][0]["results"]
    uris = [result["locations"][0]["physicalLocation"]["artifactLocation"] for result in results]
    assert uris == [
        {"uri": "pkg/my%20model.py", "uriBaseId": "%SRCROOT%"},
        {"uri": (project.parent / "other.py").as_uri()},
    ]


def test_sarif_lists_every_rule_that_ran_even_without_results(project):
    log = sarif(report())
    assert [rule["id"] for rule in log["runs"][0]["tool"]["driver"]["rules"]] == ["BN001", "BN003"]
    assert log["runs"][0]["results"] == []


def test_statistics_table_counts_per_code_most_frequent_first(project):
    rep = report(bn001(), bn003(), bn003(location=Location(9, 1)))
    assert render_statistics(rep, "concise") == "2\tBN003\tmoments-axes-mismatch\n1\tBN001\tunhooked-update-ops\n"
    assert render_statistics(report(), "concise") == ""
    assert json.loads(render_statistics(rep, "json")) == [
        {"code": "BN003", "name": "moments-axes-mismatch", "count": 2},
        {"code": "BN001", "name": "unhooked-update-ops", "count": 1},
    ]


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render("xml", report())


def test_full_counts_rows_as_python_does(project):
    # A form feed is whitespace to Python, not a line break; the snippet must still show row 3.
    (project / "ff.py").write_text("x = 1\x0c\ny = 2\ntrain = opt.minimize(loss)\n")
    text = render("full", report(bn001(filename="ff.py", location=Location(3, 9), end_location=Location(3, 27))))
    assert "3 | train = opt.minimize(loss)\n  |         ^^^^^^^^^^^^^^^^^^ BN001\n" in text


def test_colour_follows_no_color_and_force_color():
    from bnlint.output.style import wants_color

    class Tty:
        def isatty(self):
            return True

    class Pipe:
        def isatty(self):
            return False

    assert wants_color(Tty(), {}) is True
    assert wants_color(Pipe(), {}) is False
    assert wants_color(Tty(), {"NO_COLOR": "1"}) is False
    assert wants_color(Pipe(), {"FORCE_COLOR": "1"}) is True
    assert wants_color(Tty(), {"TERM": "dumb"}) is False


def test_coloured_concise_output_keeps_the_text(project):
    plain = render("concise", report(bn001(), bn003()))
    coloured = render("concise", LintReport([bn001(), bn003()], RULES, 1, Path.cwd(), RULES, color=True))
    assert "\033[1;31mBN001\033[0m" in coloured and "\033[1;33mBN003\033[0m" in coloured
    assert re.sub(r"\033\[[0-9;]*m", "", coloured) == plain
