"""The package installs as users get it: rules/ lands in bnlint/rules/, and linting never imports TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

from bnlint import rule_table
from bnlint.rule_loader import load_rules

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_every_rule_module_under_bnlint_rules(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    wheel = next(tmp_path.glob("bnlint-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    rule_modules = sorted(p.name for p in (ROOT / "rules").glob("*.py"))
    assert rule_modules, "rules/ has no modules"
    missing = [name for name in rule_modules if f"bnlint/rules/{name}" not in names]
    assert missing == []
    assert "bnlint/facts/batch_norm.py" in names and "bnlint/output/sarif.py" in names
    assert not any(name.startswith("rules/") for name in names)


def test_a_regular_install_finds_its_rules(tmp_path):
    """``pip install .`` (not editable): the installed package, not the checkout, provides the rules."""
    wheels = tmp_path / "wheels"
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(next(wheels.glob("bnlint-*.whl")))],
        check=True, capture_output=True, text=True,
    )
    probe = (
        "import bnlint, bnlint.rules\n"
        "from bnlint.rule_loader import load_rules\n"
        "print(bnlint.__file__)\n"
        "print(sorted(load_rules()))\n"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    installed_at, codes = result.stdout.splitlines()
    assert installed_at.startswith(str(target))
    assert set(ast.literal_eval(codes)) == set(load_rules())


def test_linting_never_imports_tensorflow(tmp_path):
    target = tmp_path / "train.py"
    target.write_text(
        "import tensorflow.compat.v1 as tf\n"
        "h = tf.layers.batch_normalization(x, training=True)\n"
        "train_op = tf.train.AdamOptimizer().minimize(loss)\n",
        encoding="utf-8",
    )
    probe = (
        "import sys\n"
        "from bnlint.cli import main\n"
        f"code = main([{str(target)!r}])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "print('LOADED', loaded, 'EXIT', code)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert "BN001" in result.stdout
    assert "LOADED [] EXIT 1" in result.stdout, result.stdout + result.stderr


def test_linting_never_runs_the_code_it_reads(tmp_path):
    marker = tmp_path / "marker"
    imported_marker = tmp_path / "imported-marker"
    # A module the linted file imports, which the cross-file analysis reads too.
    (tmp_path / "layers_lib.py").write_text(
        f"open({str(imported_marker)!r}, 'w').write('imported')\n"
        "import tensorflow as tf\n"
        "def block(x):\n"
        "    return tf.layers.batch_normalization(x, training=True)\n",
        encoding="utf-8",
    )
    target = tmp_path / "evil.py"
    target.write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "import tensorflow as tf\n"
        "from layers_lib import block\n"
        "mean, var = tf.nn.moments(tf.placeholder(tf.float32, [None, 8, 8, 3]), [0, 3])\n"
        "train_op = tf.train.AdamOptimizer().minimize(tf.reduce_sum(block(x)))\n",
        encoding="utf-8",
    )
    result = subprocess.run([sys.executable, "-m", "bnlint", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1 and "BN003" in result.stdout
    assert "BN001" in result.stdout  # the imported module was read: its batch norm is unhooked
    assert not marker.exists() and not imported_marker.exists()


def test_readme_rule_table_is_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = rule_table.render(load_rules())
    assert rule_table.replace_table(readme, table) == readme, "run: python -m bnlint.rule_table"
