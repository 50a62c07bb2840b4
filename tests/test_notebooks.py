"""Jupyter notebooks: code cells linted as one program, findings named by cell."""

from __future__ import annotations

import json
from pathlib import Path

from bnlint.cli import main

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "notebooks" / "unhooked_training.ipynb"
# The fixture lies in bnlint's own checkout, whose other files are no project of the notebook's.
ALONE = "--no-project-context"


def _notebook(cells: list[str], nbformat: int = 4) -> str:
    return json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
                  for source in cells],
        "metadata": {}, "nbformat": nbformat, "nbformat_minor": 5,
    })


def test_bn_in_one_cell_and_train_op_in_a_later_cell_are_judged_together(capsys):
    # Cell numbers count code cells; magics and shell escapes keep every other line in place.
    assert main([ALONE, str(FIXTURE)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"{FIXTURE}:cell 5:3:12: BN001 Train op does not run the moving-average updates of "
        "`tf.layers.batch_normalization` (cell 3, line 3)"
    )


def test_json_names_the_cell(capsys):
    main([ALONE, "--format", "json", str(FIXTURE)])
    finding = json.loads(capsys.readouterr().out)[0]
    assert (finding["cell"], finding["location"], finding["code"]) == (5, {"row": 3, "column": 12}, "BN001")


def test_notebooks_are_found_in_directories(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(_notebook([
        "import tensorflow as tf\n",
        "x = tf.placeholder(tf.float32, [None, 8, 8, 3])\nmean, var = tf.nn.moments(x, [0, 3])\n",
    ]))
    assert main(["."]) == 1
    assert capsys.readouterr().out.startswith("nb.ipynb:cell 2:2:13: BN003 ")


def test_a_syntax_error_in_a_cell_is_located_in_that_cell(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(_notebook(["import tensorflow as tf\n", "x = tf.nn.moments(\n"]))
    assert main(["nb.ipynb"]) == 1
    assert capsys.readouterr().out.startswith("nb.ipynb:cell 2:1:")


def test_broken_notebooks_are_one_bn000_each_not_a_crash(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "invalid.ipynb").write_text('{"cells": [')
    (tmp_path / "old.ipynb").write_text(json.dumps({"worksheets": [], "nbformat": 3}))
    assert main(["."]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("invalid.ipynb:1:1: BN000 notebook is not valid JSON")
    assert out[1] == "old.ipynb:1:1: BN000 unsupported notebook format (nbformat 3; bnlint reads nbformat 4)"


def test_fix_rewrites_only_the_changed_code_cell_and_keeps_everything_else(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    document = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Keras 2 port\n"]},
            {"cell_type": "code", "execution_count": 1, "metadata": {"tags": ["setup"]},
             "outputs": [{"output_type": "stream", "name": "stdout", "text": ["ready\n"]}],
             "source": ["%matplotlib inline\n", "import tensorflow as tf\n"]},
            {"cell_type": "code", "execution_count": 2, "metadata": {}, "outputs": [],
             "source": ["@tf.function\n", "def step(x):\n", "    return x\n"]},
            {"cell_type": "code", "execution_count": 3, "metadata": {"collapsed": False},
             "outputs": [{"output_type": "execute_result", "data": {"text/plain": ["<BatchNormalization>"]},
                          "metadata": {}, "execution_count": 3}],
             "source": ["bn = tf.keras.layers.BatchNormalization(mode=0)  # é\n", "!nvidia-smi\n"]},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    original = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    (tmp_path / "port.ipynb").write_text(original, encoding="utf-8")

    assert main(["--isolated", "--no-cache", "port.ipynb"]) == 1
    assert "port.ipynb:cell 3:1:" in capsys.readouterr().out

    assert main(["--isolated", "--no-cache", "--fix", "port.ipynb"]) == 0
    assert capsys.readouterr().out.endswith("Found 1 finding (1 fixed, 0 remaining).\n")
    written = (tmp_path / "port.ipynb").read_text(encoding="utf-8")
    expected = json.loads(original)
    expected["cells"][3]["source"] = ["bn = tf.keras.layers.BatchNormalization()  # é\n", "!nvidia-smi\n"]
    # Only the fixed cell's source changed: outputs, metadata, magics, indentation all kept.
    assert written == json.dumps(expected, indent=1, ensure_ascii=False) + "\n"
    assert main(["--isolated", "--no-cache", "--fix", "port.ipynb"]) == 0
    assert (tmp_path / "port.ipynb").read_text(encoding="utf-8") == written


def test_unsafe_fix_across_cells_keeps_the_notebook_valid(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    notebook = tmp_path / "training.ipynb"
    notebook.write_bytes(FIXTURE.read_bytes())
    assert main(["--isolated", "--no-cache", "--fix", "--unsafe-fixes", "training.ipynb"]) == 0
    cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    # The train op's cell gets the hook, spelled with the notebook's own `tf`; the help line stays.
    assert "".join(cells[4]["source"]) == (
        "optimizer = tf.train.AdamOptimizer(0.001)\n"
        "tf.nn.moments?\n"
        "with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):\n"
        "    train_op = optimizer.minimize(loss)\n"
    )
    assert "%matplotlib inline\n" in cells[0]["source"]
    assert main(["--isolated", "--no-cache", "training.ipynb"]) == 0
