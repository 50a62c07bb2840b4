"""The engine on odd inputs: encodings, deep nesting, suppression comments, broken rule packages."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from bnlint.engine import lint_files
from bnlint.rule_loader import RuleLoadError, load_rules

RULES = [rule for rule in load_rules().values() if not rule.OPT_IN]
NHWC_BUG = (
    "import tensorflow as tf\n"
    "x = tf.placeholder(tf.float32, [None, 32, 32, 3])\n"
    "mean, var = tf.nn.moments(x, axes=[0, 3])\n"
)


def _lint(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return [(f.code, f.location.row, f.location.column, f.message) for f in lint_files([path], RULES).findings]


def test_utf8_bom_and_crlf_are_read_like_python(tmp_path):
    findings = _lint(tmp_path, "bom.py", b"\xef\xbb\xbf" + NHWC_BUG.replace("\n", "\r\n").encode())
    assert [(code, row) for code, row, _col, _msg in findings] == [("BN003", 3)]


def test_latin1_coding_cookie_is_honoured(tmp_path):
    source = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + NHWC_BUG
    findings = _lint(tmp_path, "latin.py", source.encode("latin-1"))
    assert [(code, row) for code, row, _col, _msg in findings] == [("BN003", 5)]


def test_undecodable_bytes_are_one_bn000_with_their_position(tmp_path):
    findings = _lint(tmp_path, "bad.py", NHWC_BUG.encode() + b"x = '\xff'\n")
    assert findings == [("BN000", 4, 6, "cannot decode byte 0xff as utf-8")]


def test_nul_byte_is_one_bn000(tmp_path):
    findings = _lint(tmp_path, "nul.py", NHWC_BUG.encode() + b"\x00\n")
    assert findings == [("BN000", 4, 1, "source contains a NUL byte")]


def test_python2_code_is_linted_through_its_translation(tmp_path):
    source = NHWC_BUG.replace("mean, var = ", 'print "moments", ')
    assert _lint(tmp_path, "py2.py", source.encode()) == [
        ("BN003", 3, 18, "Moments over axes [0, 3] reduce the channel axis 3 of NHWC features; keep it out: [0, 1, 2]")]


def test_python2_code_that_does_not_translate_gets_cpythons_message(tmp_path):
    # ``if x:`` without a body is no Python at all: the translation fails too, CPython's message stays.
    source = 'import tensorflow as tf\nprint "mean", tf.nn.moments(x, [0])\nif x:\nreturn\n'
    findings = _lint(tmp_path, "py2.py", source.encode())
    assert len(findings) == 1
    code, row, col, message = findings[0]
    assert (code, row, col) == ("BN000", 2, 1)
    assert message == ("syntax error: Missing parentheses in call to 'print'. Did you mean print(...)? "
                       "(Python 2 syntax is not supported)")


@pytest.mark.parametrize("depth", [3000, 20000])
def test_deeply_nested_expressions_do_not_crash_the_process(tmp_path, depth):
    # libcst's native parser recurses on the C stack; on the main thread's 8 MB
    # stack this chain kills the interpreter with a segmentation fault.
    # Parsing such a chain with libcst also takes minutes; bnlint refuses it in milliseconds.
    source = NHWC_BUG + "y = " + " + ".join(["a"] * depth) + "\n"
    findings = _lint(tmp_path, "deep.py", source.encode())
    assert [(code, row) for code, row, *_ in findings] == [("BN000", 4)]
    assert "too deep to analyse" in findings[0][3]
    assert sys.getrecursionlimit() < 20_000  # the big limit is confined to the worker thread


def test_deep_expression_over_many_lines_is_still_analysed(tmp_path):
    source = NHWC_BUG + "y = (\n" + " +\n".join(["a"] * 600) + "\n)\n"
    assert [code for code, *_ in _lint(tmp_path, "tall.py", source.encode())] == ["BN003"]


def test_file_level_noqa_skips_the_file_and_line_noqa_only_names_codes(tmp_path):
    assert _lint(tmp_path, "skip.py", ("# bnlint: noqa\n" + NHWC_BUG).encode()) == []
    one_code = NHWC_BUG.replace("axes=[0, 3])", "axes=[0, 3])  # noqa: BN001")
    assert [code for code, *_ in _lint(tmp_path, "other.py", one_code.encode())] == ["BN003"]
    in_string = NHWC_BUG + 'doc = "# noqa"\n'
    assert [code for code, *_ in _lint(tmp_path, "str.py", in_string.encode())] == ["BN003"]


def test_findings_in_strings_and_comments_are_not_findings(tmp_path):
    source = textwrap.dedent('''
        """Call tf.layers.batch_normalization(x, training=True) then opt.minimize(loss)."""
        # mean, var = tf.nn.moments(x, axes=[0, 3])
        EXAMPLE = "train_op = tf.train.AdamOptimizer().minimize(loss)"
    ''')
    assert _lint(tmp_path, "docs.py", source.encode()) == []


def _write_package(root, name: str, modules: dict[str, str]):
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, code in modules.items():
        (package / f"{module}.py").write_text(textwrap.dedent(code))


RULE_TEMPLATE = '''
from bnlint.rule import Rule
class R(Rule):
    """Doc."""
    CODE = "{code}"
    NAME = "{name}"
    TOKENS = ("batch_norm",)
    def check(self, ctx):
        return ()
'''


@pytest.mark.parametrize(
    ("modules", "error"),
    [
        ({"a": RULE_TEMPLATE.format(code="BN100", name="one"), "b": RULE_TEMPLATE.format(code="BN100", name="two")},
         "duplicate rule code BN100"),
        ({"a": RULE_TEMPLATE.format(code="BN100", name="one"), "b": RULE_TEMPLATE.format(code="BN101", name="one")},
         "duplicate rule name one"),
        ({"a": "import does_not_exist\n"}, "failed to import"),
        ({"a": RULE_TEMPLATE.format(code="BN100", name="NotKebab")}, "not kebab-case"),
        ({"a": RULE_TEMPLATE.format(code="BN100", name="one").replace('TOKENS = ("batch_norm",)', "")},
         "declares no TOKENS"),
    ],
)
def test_broken_rule_packages_are_errors_not_skipped(tmp_path, monkeypatch, modules, error):
    name = f"fake_rules_{abs(hash(error))}"
    _write_package(tmp_path, name, modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuleLoadError, match=error):
        load_rules(name)


def test_a_run_leaves_its_trees_to_reference_counting_not_the_cycle_collector():
    """Reference cycles around the models made every run's trees cyclic garbage: 8.9 million
    objects and a 10 s collection after linting the 1,840-file benchmark corpus."""
    import gc
    from pathlib import Path

    fixtures = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "lint").rglob("*.py"))
    gc.collect()
    result = lint_files(fixtures, RULES)
    assert result.files_parsed > 40 and result.findings
    # A few rule-local cycles (closures, exceptions) are fine; a tree is thousands of nodes.
    assert gc.collect() < 500


def test_a_deep_expression_with_one_term_per_line_is_refused_at_once(tmp_path):
    # Generated code: libcst took 68 s for this 5,000-term sum; CPython's depth check is instant.
    source = NHWC_BUG + "y = (\n    a\n" + "".join("    + a\n" for _ in range(5000)) + ")\n"
    findings = _lint(tmp_path, "tall.py", source.encode())
    assert [(code, row) for code, row, *_ in findings] == [("BN000", 4)]
    assert "too deep to analyse" in findings[0][3]


def test_an_expression_too_deep_for_cpython_spread_over_lines_is_one_bn000(tmp_path):
    # CPython's parser gives up (MemoryError) on 60,000 unary minuses, one per line.
    source = NHWC_BUG + "y = (\n" + "-\n" * 60_000 + "1)\n"
    findings = _lint(tmp_path, "tall_unary.py", source.encode())
    assert [(code, row) for code, row, *_ in findings] == [("BN000", 4)]
    assert "too deep to analyse" in findings[0][3]


def _val_words_rule():
    """A rule parsed for ``batch_norm`` that also checks files holding only ``val_`` (a check-only token)."""
    import libcst as cst

    from bnlint.rule import Report, Rule
    from bnlint.semantic import walk

    class ValWords(Rule):
        """Reports each ``val_`` name."""

        CODE = "BN990"
        NAME = "val-words"
        TOKENS = ("batch_norm",)
        CHECK_TOKENS = ("val_",)

        def check(self, ctx):
            for node in walk(ctx.file.module):
                if isinstance(node, cst.Name) and node.value.startswith("val_"):
                    yield Report(node, f"`{node.value}`")

    return ValWords


def test_check_only_tokens_choose_rules_for_parsed_files_but_parse_nothing(tmp_path):
    rule = _val_words_rule()
    (tmp_path / "model.py").write_text("import tensorflow as tf\nnet = tf.layers.batch_normalization\n")
    # Linked to a token file by its import: parsed, and checked for its check-only token.
    (tmp_path / "evaluate.py").write_text("import model\nval_loss = model.net\n")
    # Holds only the check-only token and links to nothing: never parsed.
    (tmp_path / "notes.py").write_text("val_count = 3\n")
    result = lint_files(sorted(tmp_path.glob("*.py")), [rule])
    assert [(f.filename.rsplit("/", 1)[-1], f.message) for f in result.findings] == [("evaluate.py", "`val_loss`")]
    assert result.files_parsed == 2


def test_the_largest_files_are_parsed_first_and_reported_in_file_order(tmp_path, monkeypatch):
    """libcst's parser peaks at hundreds of bytes per character of a file: the largest go first, with the
    freed heap given back after each, while few trees are held. Nothing else may see the order."""
    import bnlint.engine as engine

    texts = {
        "a_small.py": NHWC_BUG,
        "b_python2.py": "print 'python 2'\n" + NHWC_BUG + "x = 1\n" * 40,
        "c_broken.py": NHWC_BUG + "def broken(:\n" + "y = 2\n" * 20,
        "d_large.py": NHWC_BUG + "z = 3\n" * (engine._LARGE_SOURCE // 6 + 1),
    }
    paths = []
    for name, text in texts.items():
        paths.append(tmp_path / name)
        paths[-1].write_text(text)
    order: list[int] = []
    trims: list[int] = []
    real_parse = engine.parse_source
    monkeypatch.setattr(engine, "parse_source", lambda source: (order.append(len(source.text)), real_parse(source))[1])
    monkeypatch.setattr(engine, "_return_parser_scratch", lambda: trims.append(len(order)))
    result = lint_files(paths, RULES)
    assert order == sorted(order, reverse=True) and len(order) == 4
    assert trims[0] == 1, "the heap goes back right after the large file, before the next parse"
    assert result.python2 == [str(tmp_path / "b_python2.py")]
    found = [(Path(f.filename).name, f.code) for f in result.findings]
    assert found == [("a_small.py", "BN003"), ("b_python2.py", "BN003"), ("c_broken.py", "BN000"),
                     ("d_large.py", "BN003")]
