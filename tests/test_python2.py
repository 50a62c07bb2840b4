"""Python 2 files are linted through a row-keeping translation to Python 3 syntax (``bnlint.py2``).

What a user sees: the findings of the file at the original's rows and columns,
no fix, and one note per file on stderr that changes no exit code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bnlint import source as source_module
from bnlint.cli import main
from bnlint.engine import lint_files
from bnlint.findings import Location
from bnlint.parallel import lint_parallel
from bnlint.py2 import translate
from bnlint.rule_loader import load_rules
from bnlint.source import SourceError, SourceFile, parse, parse_source

RULES = [rule for rule in load_rules().values() if not rule.OPT_IN]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lint"
NOTE = "bnlint: note: {}: Python 2 source, linted through a translation to Python 3 syntax; no fixes offered\n"

# --- the translation, construct by construct ------------------------------------------------

# (Python 2, its translation): every construct on its own rows, the other rows verbatim.
CONSTRUCTS = {
    "print items": ('print "loss", loss\n', 'print("loss", loss)\n'),
    "print alone": ("x = 1\nprint\n", "x = 1\nprint()\n"),
    "print, trailing comma": ('print "step",\n', "print(\"step\", end=' ')\n"),
    "print to a file": ('print >>sys.stderr, "failed:", e\n', 'print("failed:", e, file=sys.stderr)\n'),
    "print to a file, trailing comma": ("print >>f, x,\n", "print(x, end=' ', file=f)\n"),
    "print to a file alone": ("print >>f\n", "print(file=f) \n"),
    "print of a list": ("print [1, 2]\n", "print([1, 2])\n"),
    "print continued with a backslash": ('print "a", \\\n    b\nz = 1\n', 'print("a", \\\n    b)\nz = 1\n'),
    "print continued in brackets": ('print "a", f(1,\n    2)\nz = 1\n', 'print("a", f(1,\n    2))\nz = 1\n'),
    "print after a colon and a semicolon": ("if x: print x; print\n", "if x: print(x); print()\n"),
    "print with a comment": ("print x  # show x\n", "print(x)  # show x\n"),
    "exec": ("exec code\n", "exec(code)\n"),
    "exec in a namespace": ("exec code in g, l\n", "exec(code , g, l)\n"),
    "except with a name": ("try:\n    pass\nexcept ValueError, e:\n    pass\n",
                           "try:\n    pass\nexcept ValueError as e:\n    pass\n"),
    "except a tuple with a name": ("try:\n    pass\nexcept (IOError, os.error), e:\n    pass\n",
                                   "try:\n    pass\nexcept (IOError, os.error) as e:\n    pass\n"),
    "raise with a value": ('raise ValueError, "bad"\n', 'raise ValueError( "bad")\n'),
    "raise with a traceback": ("raise E, v, tb\n", "raise E( v).with_traceback( tb)\n"),
    "backticks": ("s = `x` + `f(y)`\n", "s = repr(x) + repr(f(y))\n"),
    "not equal": ("if a <> b:\n    pass\n", "if a != b:\n    pass\n"),
    "octal": ("os.chmod(path, 0755)\n", "os.chmod(path, 0o755)\n"),
    "long": ("n = 10L + 0xFFL + 0777L + 0l\n", "n = 10 + 0xFF + 0o777 + 0\n"),
    "ur string": ("pattern = ur'\\d+'\n", "pattern = r'\\d+'\n"),
    "tuple parameter": ("def f(a, (b, c), d=1):\n    return b\n", "def f(a, b_c, d=1):\n    return b\n"),
    "nested tuple parameter over two rows": ("def f(a, (b,\n      (c, d))):\n    pass\n",
                                             "def f(a, b_c_d\n):\n    pass\n"),
    "lambda tuple parameter": ("key = lambda (k, v): v\n", "key = lambda k_v: v\n"),
    "tabs mixed with spaces": ("if x:\n        a = 1\n\tb = 2\n", "if x:\n        a = 1\n        b = 2\n"),
    "tab after spaces": ("if x:\n        a = 1\n    \tb = 2\n", "if x:\n        a = 1\n        b = 2\n"),
}


# Python 3 reads these too (a shift, a subscript, a name): they are translated only in a file that fails to parse.
ALSO_PYTHON3 = {"print alone", "print to a file", "print to a file alone", "print to a file, trailing comma",
                "print of a list"}


@pytest.mark.parametrize("construct", sorted(CONSTRUCTS))
def test_each_construct_is_translated_on_its_own_rows(construct):
    python2, expected = CONSTRUCTS[construct]
    if construct in ALSO_PYTHON3:
        parse(python2)
    else:
        with pytest.raises(SourceError):
            parse(python2)  # it is Python 2 indeed
    translation = translate(python2)
    assert translation is not None and translation.text == expected
    assert len(translation.text.splitlines()) == len(python2.splitlines())
    parse(translation.text)


def test_a_whole_file_keeps_its_rows_and_only_translated_rows_change():
    python2 = (FIXTURES / "tf1_python2_unhooked" / "train.py").read_text()
    translation = translate(python2)
    original, translated = python2.splitlines(), translation.text.splitlines()
    assert len(translated) == len(original)
    changed = [row for row, (a, b) in enumerate(zip(original, translated), 1) if a != b]
    assert changed == sorted(translation.rewritten_rows)
    assert {original[row - 1].split()[0] for row in changed} >= {"print", "except", "raise", "os.makedirs(LOG_DIR,"}
    assert translation.constructs == {
        "long literal": 1, "octal literal": 1, "backticks": 1, "`<>`": 1, "tabs mixed with spaces": 1,
        "print statement": 6, "`except E, e`": 1, "`raise E, v`": 1, "tuple parameter": 1}


@pytest.mark.parametrize("python3", [
    "print(x)\n", "print (a), b\n", "exec(code)\n", "print = log\n", "x = 0.5 + 00 + 0o17 + 0777j + 1e10\n",
    's = "print x <> `y`"  # except E, e:\n', "f = lambda a, b: a\n", "\tif x:\n\t\ty = 1\n",
])
def test_python3_text_holds_no_construct_to_translate(python3):
    assert translate(python3) is None


def test_columns_map_back_to_the_original_line():
    translation = translate("if x:\n        a = 1\n\tb = `a` + 2  # b\nprint >>f, g(a)\n")
    line3 = "\tb = `a` + 2  # b"
    # Every character of an untranslated token keeps its original column (1-based).
    for char in "b=a+2#":
        assert translation.column(3, translation.text.splitlines()[2].index(char) + 1) == line3.index(char) + 1
    # What the translation inserted points at the token it stands for: ``repr(`` at the backtick.
    assert translation.column(3, translation.text.splitlines()[2].index("repr") + 1) == line3.index("`") + 1
    # The print's destination moved behind its items; its column is still where ``f`` was written.
    line4 = translation.text.splitlines()[3]
    assert line4 == "print(g(a), file=f)"
    assert translation.column(4, line4.index("f)") + 1) == "print >>f, g(a)".index("f") + 1
    assert translation.column(4, line4.index("g") + 1) == "print >>f, g(a)".index("g") + 1
    assert translation.column(2, 9) == 9  # a row the translation left alone


# --- when a file is translated --------------------------------------------------------------


def _source(text: str) -> SourceFile:
    return SourceFile(path=Path("x.py"), text=text, encoding="utf-8", has_bom=False)


def test_a_file_that_parses_as_python3_is_never_translated(monkeypatch):
    def refuse(text):
        raise AssertionError("translated a Python 3 file")

    monkeypatch.setattr(source_module, "translate", refuse)
    # ``print >>f, x`` and a bare ``print`` are Python 3 expressions too: the file parses and is linted as it is.
    module, translation = parse_source(_source('import tensorflow as tf\nprint >>f, x\nprint\ns = "print x"\n'))
    assert translation is None and module.code.startswith("import tensorflow")


def test_python2_fixtures_fail_to_parse_and_parse_through_the_translation():
    for path in [FIXTURES / "tf1_python2_unhooked" / "train.py", FIXTURES / "tf1_python2_hooked_clean" / "train.py",
                 FIXTURES / "python2_model_python3_train" / "model.py"]:
        text = path.read_text()
        with pytest.raises(SourceError, match="syntax error"):
            parse(text)
        _module, translation = parse_source(_source(text))
        assert translation is not None, path


def test_a_file_that_does_not_translate_keeps_its_own_error():
    text = 'print "loss", loss\ndef f(:\n'
    with pytest.raises(SourceError) as raised:
        parse_source(_source(text))
    with pytest.raises(SourceError) as plain:
        parse(text)
    assert raised.value == plain.value
    assert (raised.value.row, raised.value.column) == (1, 1)
    assert "Missing parentheses in call to 'print'" in raised.value.message


def test_notebooks_are_not_translated():
    notebook = SourceFile(path=Path("x.ipynb"), text='print "loss", loss\n', encoding="utf-8", has_bom=False,
                          cells=object())
    with pytest.raises(SourceError, match="Missing parentheses"):
        parse_source(notebook)


# --- findings --------------------------------------------------------------------------------


def _findings(paths):
    result = lint_files(paths, RULES)
    assert result.errors == []
    return result


def test_python2_script_findings_at_the_original_rows_and_columns():
    path = FIXTURES / "tf1_python2_unhooked" / "train.py"
    lines = path.read_text().splitlines()
    result = _findings([path])
    bn009, bn001 = result.findings
    # BN009 lies on a translated row (its tab became 8 spaces): the column is the original line's.
    assert (bn009.code, bn009.location.row) == ("BN009", 15) and lines[14].startswith("\tnet = ")
    assert bn009.location.column == lines[14].index("0.1") + 1
    assert bn009.end_location.column == lines[14].index("0.1") + 4
    # BN001 lies on an untranslated row: the column is the same as in the translation.
    assert (bn001.code, bn001.location.row) == ("BN001", 35)
    assert bn001.location.column == lines[34].index("tf.train.MomentumOptimizer") + 1
    assert bn001.message == ("Train op does not run the moving-average updates of `tf.layers.batch_normalization` "
                             "(line 15)")
    assert result.python2 == [str(path)]


def test_cross_file_chain_through_a_python2_model():
    project = FIXTURES / "python2_model_python3_train"
    result = _findings([project / "model.py", project / "train.py"])
    assert [(Path(f.filename).name, f.location.row, f.code) for f in result.findings] == [("train.py", 10, "BN001")]
    finding = result.findings[0]
    assert finding.related == ((str(project / "model.py"), Location(8, 11)),)  # the batch norm in model.py
    # The fix is in the Python 3 file: offered as usual.
    assert finding.fix is not None
    assert result.python2 == [str(project / "model.py")]


def test_no_fix_is_offered_in_a_translated_file(tmp_path):
    python3 = "import tensorflow as tf\nnet = tf.layers.batch_normalization(x, momentum=0.1, training=True)\n"
    (tmp_path / "new.py").write_text(python3)
    (tmp_path / "old.py").write_text(python3 + 'print "built", net\n')
    result = _findings([tmp_path / "new.py", tmp_path / "old.py"])
    fixes = {Path(f.filename).name: f.fix for f in result.findings if f.code == "BN009"}
    assert fixes["new.py"] is not None  # the same finding has a fix in Python 3
    assert fixes["old.py"] is None


# --- the command line ----------------------------------------------------------------------


@pytest.fixture()
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(FIXTURES / "tf1_python2_unhooked" / "train.py", tmp_path / "legacy.py")
    shutil.copy(FIXTURES / "tf1_python2_hooked_clean" / "train.py", tmp_path / "clean.py")
    (tmp_path / "new.py").write_text(
        "import tensorflow as tf\nnet = tf.layers.batch_normalization(x, momentum=0.1, training=True)\n")
    return tmp_path


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_one_note_per_python2_file_with_and_without_the_cache(project, capsys):
    notes = NOTE.format("clean.py") + NOTE.format("legacy.py")
    for argv in (["--no-cache"], [], []):  # no cache, filling the cache, from the cache
        code, out, err = _run(capsys, *argv, ".")
        assert code == 1 and err == notes, argv
        assert out.splitlines()[:3] == [
            "legacy.py:15:52: BN009 `momentum=0.1` of `tf.layers.batch_normalization` is PyTorch's convention: "
            "TensorFlow keeps `momentum` of the moving average per step; use `0.9`",
            "legacy.py:35:16: BN001 Train op does not run the moving-average updates of "
            "`tf.layers.batch_normalization` (line 15)",
            "new.py:2:49: BN009 `momentum=0.1` of `tf.layers.batch_normalization` is PyTorch's convention: "
            "TensorFlow keeps `momentum` of the moving average per step; use `0.9`",
        ]
        assert out.splitlines()[3] == "Found 3 findings in 2 files (1 more with --fix --unsafe-fixes)."


def test_only_the_clean_python2_file_exits_0_with_its_note(project, capsys):
    assert _run(capsys, "--no-cache", "clean.py") == (0, "All checks passed!\n", NOTE.format("clean.py"))


def test_json_shows_no_fix_and_fix_leaves_the_python2_file_byte_identical(project, capsys):
    before = (project / "legacy.py").read_bytes()
    code, out, err = _run(capsys, "--no-cache", "--format", "json", "legacy.py", "new.py")
    fixes = {(f["filename"], f["code"]): f["fix"] for f in json.loads(out)}
    assert fixes[("legacy.py", "BN009")] is None and fixes[("legacy.py", "BN001")] is None
    assert fixes[("new.py", "BN009")] is not None
    assert err == NOTE.format("legacy.py")
    code, out, err = _run(capsys, "--diff", "--unsafe-fixes", "legacy.py", "new.py")
    assert "+++ new.py" in out and "legacy.py" not in out
    assert err == NOTE.format("legacy.py") + "Would fix 1 finding.\n"
    code, out, err = _run(capsys, "--fix", "--unsafe-fixes", "legacy.py", "new.py")
    assert (project / "legacy.py").read_bytes() == before
    assert "momentum=0.9," in (project / "new.py").read_text()
    assert err == NOTE.format("legacy.py")  # once, though --fix lints in passes
    assert out.splitlines()[-1] == "Found 3 findings (1 fixed, 2 remaining)."


def test_quiet_leaves_the_note_out(project, capsys):
    code, out, err = _run(capsys, "--no-cache", "-q", "legacy.py")
    assert code == 1 and err == "" and out.count("legacy.py:") == 2


def test_parallel_jobs_report_each_python2_file_once(tmp_path):
    # Enough files for two worker processes (bnlint.parallel starts them from 32 files).
    python2 = (FIXTURES / "tf1_python2_unhooked" / "train.py").read_text()
    paths = []
    for number in range(20):
        for kind, text in (("old", python2), ("new", "import tensorflow as tf\nx = tf.nn.moments(y, [0])\n")):
            path = tmp_path / f"{kind}{number}.py"
            path.write_text(text)
            paths.append(path)
    together = lint_parallel(paths, RULES, jobs=2)
    alone = lint_files(paths, RULES)
    assert together.python2 == sorted(str(path) for path in paths if path.name.startswith("old"))
    assert sorted(alone.python2) == together.python2
    assert together.findings == alone.findings
    assert len(together.findings) == 40
