"""How fast bnlint lints a real TensorFlow codebase, against its peers and its floor.

Usage:
    python benchmarks/lint_speed.py [CORPUS_DIR] [--baseline REV]

Without CORPUS_DIR the script builds the reference corpus once under
``benchmarks/.corpus/``: the ``.py`` files of the tf-models-official 2.20.0,
tensor2tensor 1.15.7, tf-slim 1.1.0 and tflearn 0.5.0 distributions
(``pip download --no-deps``, unpacked). It prints, each measured in a fresh
process where time or memory is concerned:

- files, lines, bytes, and how many files the token pre-filter skips;
- cold wall time (no cache) and peak memory: everything in one run
  (``lint_files``), ``--jobs 1`` (import groups in turn) and all cores;
- warm wall time (cache, nothing changed), after appending a comment to one
  file, and after changing a function body in the module most files import,
  each followed by the run after reverting it;
- ruff ``--select ALL --no-cache`` on the same files when ruff is installed,
  bare ``libcst.parse_module`` and ``ast.parse`` of the files bnlint parses,
  and bnlint's ratio to each;
- whether findings are identical with 1 job and N jobs, with and without the
  cache and the pre-filter.

With ``--baseline REV`` it first measures the cold runs (1 job and all
cores: wall time, peak memory of the largest process, findings) of the
commit REV checked out in a temporary worktree and of this checkout, one
after the other on the same files, so a change's cost is read side by side.

Speed is reported here, never asserted by a test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / ".corpus"
PACKAGES = ("tf-models-official==2.20.0", "tensor2tensor==1.15.7", "tf-slim==1.1.0", "tflearn==0.5.0")


def build_corpus(target: Path) -> Path:
    """Download and unpack the reference distributions (once)."""
    source = target / "src"
    if source.exists() and any(source.rglob("*.py")):
        return source
    wheels = target / "dist"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels), *PACKAGES],
                   check=True)
    source.mkdir(parents=True, exist_ok=True)
    for archive in wheels.iterdir():
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(source)
        elif archive.name.endswith(".tar.gz"):
            with tarfile.open(archive) as tf:
                tf.extractall(source, filter="data")
    return source


def _child(code: str, root: Path = ROOT) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object. Adds wall time and peak RSS.

    ``root`` is the checkout whose bnlint runs: its ``bnlint/`` and its ``rules/``
    (installed as ``bnlint.rules``), whatever checkout the environment has installed.
    """
    probe = (
        "import json, resource, time, sys\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        "import bnlint\n"
        f"bnlint.__path__.append({str(root)!r})\n"
        "start = time.perf_counter()\n"
        f"{code}\n"
        "out['wall'] = time.perf_counter() - start\n"
        "out['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


LINT = """
from pathlib import Path
from bnlint.engine import lint_files
from bnlint.rule_loader import load_rules
files = sorted(Path({corpus!r}).rglob('*.py'))
rules = [r for r in load_rules().values() if not r.OPT_IN]
{prefilter}
result = lint_files(files, rules)
out = {{'files_parsed': result.files_parsed,
        'findings': sorted([f.filename, f.location.row, f.code] for f in result.findings)}}
"""

PARALLEL = """
from pathlib import Path
from bnlint.parallel import default_jobs, lint_parallel
from bnlint.rule_loader import load_rules
files = sorted(Path({corpus!r}).rglob('*.py'))
rules = [r for r in load_rules().values() if not r.OPT_IN]
jobs = default_jobs()
result = lint_parallel(files, rules, jobs)
out = {{'files_parsed': result.files_parsed, 'jobs': jobs,
        'worker_peak_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        'findings': sorted([f.filename, f.location.row, f.code] for f in result.findings)}}
"""

IN_TURN = """
from pathlib import Path
from bnlint.parallel import lint_parallel
from bnlint.rule_loader import load_rules
files = sorted(Path({corpus!r}).rglob('*.py'))
rules = [r for r in load_rules().values() if not r.OPT_IN]
result = lint_parallel(files, rules, 1)
# On Linux each batch runs in a process forked for it: the largest process may be a child.
out = {{'files_parsed': result.files_parsed,
        'largest_mb': max(resource.getrusage(who).ru_maxrss
                          for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024,
        'findings': sorted([f.filename, f.location.row, f.code] for f in result.findings)}}
"""

INCREMENTAL = """
from pathlib import Path
from bnlint.incremental import lint_incremental
from bnlint.rule_loader import load_rules
files = sorted(Path({corpus!r}).rglob('*.py'))
rules = [r for r in load_rules().values() if not r.OPT_IN]
result = lint_incremental(files, rules, Path({cache!r}))
out = {{'files_parsed': result.files_parsed,
        'findings': sorted([f.filename, f.location.row, f.code] for f in result.findings)}}
"""

PARSE = """
from pathlib import Path
from bnlint.engine import token_pattern
from bnlint.rule_loader import load_rules
import {module}
pattern = token_pattern([r for r in load_rules().values() if not r.OPT_IN and r.CODE != 'BN000'])
files = [p for p in sorted(Path({corpus!r}).rglob('*.py'))]
texts = [p.read_text(encoding='utf-8', errors='replace') for p in files]
texts = [t for t in texts if pattern is None or pattern.search(t)]
start = time.perf_counter()
ok = 0
for text in texts:
    try:
        {call}(text); ok += 1
    except Exception:
        pass
out = {{'parsed': ok, 'parse_only': time.perf_counter() - start}}
"""


def _most_imported_function(files: list[Path], corpus: Path) -> tuple[Path, int]:
    """The file most others import that defines a top-level function, and how many import it."""
    from bnlint.import_graph import imports_of
    from bnlint.project import module_name_for

    modules = {module_name_for(path): path for path in files if path.name != "__init__.py"}
    counts = dict.fromkeys(modules, 0)
    for path in files:
        named = set(imports_of(path.read_text(encoding="utf-8", errors="replace")))
        for module in modules:
            if module in named or any(name.startswith(module + ".") for name in named):
                counts[module] += 1
    for module in sorted(counts, key=lambda m: (-counts[m], m)):
        if _FUNCTION.search(modules[module].read_bytes()):
            return modules[module], counts[module]
    raise SystemExit(f"no top-level function under {corpus}")


_FUNCTION = re.compile(rb"^def \w+\([^\n]*\):[ \t]*\n", re.M)


def _with_changed_body(data: bytes) -> bytes:
    """The first top-level function with one more statement at the top of its body."""
    match = _FUNCTION.search(data)
    assert match is not None
    rest = data[match.end():]
    indent = rest[:len(rest) - len(rest.lstrip(b" \t"))] or b"    "
    return data[:match.end()] + indent + b"_benchmark_edit = None\n" + rest


def compare_with(revision: str, corpus: Path) -> None:
    """Cold runs of ``revision`` and of this checkout, side by side."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision],
                       check=True, capture_output=True)
        try:
            rows = []
            for label, root in ((f"baseline {revision}", tree), ("this checkout", ROOT)):
                one = _child(LINT.format(corpus=str(corpus), prefilter=""), root)
                many = _child(PARALLEL.format(corpus=str(corpus)), root)
                rows.append((label, one, many))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    print("side by side, cold (no cache):")
    for label, one, many in rows:
        print(f"  {label}: 1 job {one['wall']:.2f} s, {one['peak_mb']:.0f} MB, {one['files_parsed']} files parsed, "
              f"{len(one['findings'])} findings; {many['jobs']} jobs {many['wall']:.2f} s, largest process "
              f"{max(many['peak_mb'], many['worker_peak_mb']):.0f} MB")
    (_, old_one, old_many), (_, new_one, new_many) = rows
    print(f"  after / before: 1 job time {new_one['wall'] / old_one['wall']:.2f}, memory "
          f"{new_one['peak_mb'] / old_one['peak_mb']:.2f}; {new_many['jobs']} jobs time "
          f"{new_many['wall'] / old_many['wall']:.2f}, largest process "
          f"{max(new_many['peak_mb'], new_many['worker_peak_mb']) / max(old_many['peak_mb'], old_many['worker_peak_mb']):.2f}")
    old = {tuple(f) for f in old_one["findings"]}
    new = {tuple(f) for f in new_one["findings"]}
    for finding in sorted(new - old):
        print(f"  added: {finding[0]}:{finding[1]} {finding[2]}")
    for finding in sorted(old - new):
        print(f"  removed: {finding[0]}:{finding[1]} {finding[2]}")


def main() -> int:
    args = sys.argv[1:]
    baseline = None
    if "--baseline" in args:
        index = args.index("--baseline")
        baseline = args[index + 1]
        del args[index:index + 2]
    corpus = Path(args[0]) if args else build_corpus(CORPUS)
    if baseline is not None:
        compare_with(baseline, corpus)
    files = sorted(corpus.rglob("*.py"))
    if not files:
        print(f"no .py files under {corpus}", file=sys.stderr)
        return 2
    data = [p.read_bytes() for p in files]
    print(f"corpus: {corpus}")
    lines = sum(d.count(b"\n") for d in data)
    print(f"files: {len(files)}, lines: {lines:,}, bytes: {sum(map(len, data)):,}")

    cold = _child(LINT.format(corpus=str(corpus), prefilter=""))
    skipped = len(files) - cold["files_parsed"]
    print(f"pre-filter: {cold['files_parsed']} files parsed, {skipped} skipped")
    print(f"cold run (no cache), 1 job, one run over every file: {cold['wall']:.2f} s, "
          f"peak memory {cold['peak_mb']:.0f} MB, "
          f"{len(cold['findings'])} findings")
    in_turn = _child(IN_TURN.format(corpus=str(corpus)))
    print(f"cold run (no cache), --jobs 1 (import groups in turn): {in_turn['wall']:.2f} s, "
          f"peak memory {in_turn['largest_mb']:.0f} MB largest process")
    parallel = _child(PARALLEL.format(corpus=str(corpus)))
    print(f"cold run (no cache), {parallel['jobs']} jobs (the CLI's default): {parallel['wall']:.2f} s, "
          f"peak memory {parallel['peak_mb']:.0f} MB main process, {parallel['worker_peak_mb']:.0f} MB largest worker")

    no_filter = _child(LINT.format(corpus=str(corpus),
                                   prefilter="import bnlint.engine as e; e.prefilter_tokens = lambda rules: None"))
    print(f"without pre-filter: {no_filter['wall']:.2f} s ({no_filter['files_parsed']} files parsed)")

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        first = _child(INCREMENTAL.format(corpus=str(corpus), cache=str(cache)))
        warm = _child(INCREMENTAL.format(corpus=str(corpus), cache=str(cache)))
        touched = next(p for p in files if b"batch_norm" in p.read_bytes())
        original = touched.read_bytes()
        try:
            touched.write_bytes(original + b"\n# touched by lint_speed.py\n")
            after_touch = _child(INCREMENTAL.format(corpus=str(corpus), cache=str(cache)))
        finally:
            touched.write_bytes(original)
        reverted = _child(INCREMENTAL.format(corpus=str(corpus), cache=str(cache)))
        edited, importers = _most_imported_function(files, corpus)
        original = edited.read_bytes()
        try:
            edited.write_bytes(_with_changed_body(original))
            after_body = _child(INCREMENTAL.format(corpus=str(corpus), cache=str(cache)))
        finally:
            edited.write_bytes(original)
        body_reverted = _child(INCREMENTAL.format(corpus=str(corpus), cache=str(cache)))
    print(f"cache fill: {first['wall']:.2f} s; warm run (nothing changed): {warm['wall']:.2f} s, "
          f"{warm['files_parsed']} files parsed")
    print(f"after appending a comment to {touched.relative_to(corpus)}: {after_touch['wall']:.2f} s, "
          f"{after_touch['files_parsed']} files parsed; reverted: {reverted['wall']:.2f} s")
    print(f"after changing a function body in {edited.relative_to(corpus)} (imported by {importers} files): "
          f"{after_body['wall']:.2f} s, {after_body['files_parsed']} files parsed; reverted: "
          f"{body_reverted['wall']:.2f} s")

    same = cold["findings"] == in_turn["findings"] == parallel["findings"] == no_filter["findings"] == first["findings"] == warm["findings"] \
        == after_touch["findings"] == reverted["findings"] == body_reverted["findings"]
    print(f"findings identical (one run, groups in turn, N jobs, no pre-filter, cache fill, warm, after a "
          f"comment, after each revert): {same}")

    libcst = _child(PARSE.format(corpus=str(corpus), module="libcst", call="libcst.parse_module"))
    ast = _child(PARSE.format(corpus=str(corpus), module="ast", call="ast.parse"))
    print(f"libcst.parse_module of the {libcst['parsed']} files bnlint reads: {libcst['parse_only']:.2f} s "
          f"-> bnlint cold / libcst parse = {cold['wall'] / libcst['parse_only']:.2f}")
    print(f"ast.parse of the same files: {ast['parse_only']:.2f} s "
          f"-> bnlint cold / ast parse = {cold['wall'] / ast['parse_only']:.2f}")

    ruff = shutil.which("ruff")
    if ruff:
        start = time.perf_counter()
        subprocess.run([ruff, "check", "--no-cache", "--select", "ALL", "--exit-zero", "--quiet", str(corpus)],
                       capture_output=True)
        ruff_wall = time.perf_counter() - start
        print(f"ruff check --select ALL --no-cache: {ruff_wall:.2f} s -> bnlint cold ({parallel['jobs']} jobs) / ruff = "
              f"{parallel['wall'] / ruff_wall:.2f}")
    else:
        print("ruff: not installed (pip install ruff to compare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
