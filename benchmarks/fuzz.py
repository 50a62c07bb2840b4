"""Run the robustness fuzz properties of tests/test_fuzz.py longer, with fresh random examples.

    .venv/bin/python benchmarks/fuzz.py --examples 2000

Prints how many examples ran, which rule codes fired how often (so a
generator that stopped reaching a rule shows), and the first failing
example, shrunk by hypothesis, if a property breaks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fuzz_programs import mutations, programs  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from test_fuzz import ALL_RULES, check_damaged_file, check_program  # noqa: E402

from bnlint.engine import lint_files  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500, help="examples per property (default 500)")
    args = parser.parse_args()
    fired: Counter[str] = Counter()
    run_settings = settings(max_examples=args.examples, deadline=None, database=None,
                            suppress_health_check=list(HealthCheck))

    @run_settings
    @given(programs())
    def generated(source: str) -> None:
        check_program(source)
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "generated.py"
            path.write_text(source, encoding="utf-8")
            fired.update(finding.code for finding in lint_files([path], ALL_RULES).findings)

    @run_settings
    @given(mutations())
    def mutated(data: bytes) -> None:
        check_damaged_file(data)

    failed = False
    for name, prop in (("generated programs", generated), ("mutated fixtures", mutated)):
        started = time.perf_counter()
        try:
            prop()
            status = "ok"
        except Exception as error:  # noqa: BLE001 - report the property that broke and go on
            status = f"FAILED: {type(error).__name__}: {error}"
            failed = True
        print(f"{name:20} {args.examples} examples  {time.perf_counter() - started:6.1f} s  {status}")
    print("findings by code in generated programs:", ", ".join(f"{c} {n}" for c, n in sorted(fired.items())))
    silent = sorted({rule.CODE for rule in ALL_RULES} - set(fired) - {"BN000"})
    print("rules never reached:", ", ".join(silent) or "none")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
