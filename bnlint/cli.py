"""The ``bnlint`` command: ``check`` (the default), ``rule`` and ``audit``.

Exit codes follow ruff: 0 no findings, 1 findings, 2 a usage, configuration or
internal error. The report goes to stdout (or ``--output-file``), errors to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

import bnlint
from bnlint import output
from bnlint.config import Config, ConfigError, Selection, check_selectors, find_config, load_config_file
from bnlint.config import per_file_ignored, resolve_rules
from bnlint.discovery import discover
from bnlint.output.style import wants_color
from bnlint.progress import progress_for
from bnlint.project_context import context_files, narrowed, together
from bnlint.rule import Rule, rule_doc, rule_summary
from bnlint.rule_loader import RuleLoadError, load_rules

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

DESCRIPTION = """\
Catch batch-normalization misuse in TensorFlow and Keras code.

commands:
  bnlint [check] [PATH ...]   lint Python files (the default command)
  bnlint rule CODE            show a rule's documentation (--all lists every rule)
  bnlint audit ...            audit a model at runtime (needs TensorFlow)
"""


class _UsageError(Exception):
    """A mistake on the command line, found after argparse accepted it."""


def _error(message: str) -> None:
    print(f"bnlint: error: {message}", file=sys.stderr)


def _note_python2(files: Sequence[str], quiet: bool) -> None:
    """One line per Python 2 file: its findings are real, but came through a translation (not a finding)."""
    if quiet:
        return
    for name in files:
        print(f"bnlint: note: {name}: Python 2 source, linted through a translation to Python 3 syntax; "
              "no fixes offered", file=sys.stderr)


def _codes(values: list[str] | None) -> tuple[str, ...] | None:
    """``--select BN001,BN002 --select BN003`` -> all three; None when the option is absent."""
    if values is None:
        return None
    return tuple(code.strip() for value in values for code in value.split(",") if code.strip())


def _check_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bnlint",
        usage="bnlint [check] [options] [PATH ...]",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", type=Path,
                        help="files or directories to lint (default: .)")
    parser.add_argument("--version", action="version", version=f"bnlint {bnlint.__version__}")
    selection = parser.add_argument_group("rule selection")
    selection.add_argument("--select", action="append", metavar="CODES",
                           help="comma-separated codes or prefixes to enable, replacing the configured ones")
    selection.add_argument("--extend-select", action="append", metavar="CODES",
                           help="codes or prefixes to enable on top of the selection")
    selection.add_argument("--ignore", action="append", metavar="CODES",
                           help="codes or prefixes to disable")
    config = parser.add_argument_group("configuration")
    config.add_argument("--config", type=Path, metavar="FILE",
                        help="use this pyproject.toml ([tool.bnlint]) or bnlint.toml (top-level keys)")
    config.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    config.add_argument("--no-project-context", action="store_true",
                        help="judge named files by themselves; by default files named on the command line are "
                             "linted with the rest of their project (configuration directory, git root or top "
                             "package) and only their findings are reported")
    report = parser.add_argument_group("report")
    report.add_argument("--format", "--output-format", dest="format", choices=output.FORMATS, metavar="FORMAT",
                        help=f"report format: {', '.join(output.FORMATS)} (default: concise)")
    report.add_argument("--show-source", action="store_true", help="same as --format full")
    report.add_argument("--statistics", action="store_true",
                        help="show the number of findings per code instead of each finding")
    report.add_argument("-q", "--quiet", action="store_true", help="leave out the summary line")
    report.add_argument("-o", "--output-file", type=Path, metavar="FILE", help="write the report to FILE")
    report.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    speed = parser.add_argument_group("speed")
    speed.add_argument("--no-cache", action="store_true", help="lint everything again; neither read nor write the cache")
    speed.add_argument("--cache-dir", type=Path, metavar="DIR",
                       help="where to keep the result cache (default: .bnlint_cache beside the configuration)")
    speed.add_argument("-j", "--jobs", type=_positive_int, metavar="N",
                       help="worker processes (default: all cores)")
    fixing = parser.add_argument_group("fixes")
    fixing.add_argument("--fix", action="store_true", help="apply safe fixes, then report what remains")
    fixing.add_argument("--unsafe-fixes", action="store_true",
                        help="with --fix or --diff, also apply unsafe fixes (they change what a model computes)")
    fixing.add_argument("--diff", action="store_true",
                        help="print the fixes as a unified diff without writing; exit 1 if there is any")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _lint(args: argparse.Namespace, files: list[Path], rules: list[type[Rule]], root: Path):
    """Lint with the cache unless ``--no-cache``, and in ``--jobs`` processes."""
    from bnlint.parallel import default_jobs

    jobs = args.jobs or default_jobs()
    progress = progress_for(sys.stderr, len(files))
    try:
        if args.no_cache:
            from bnlint.parallel import lint_parallel

            return lint_parallel(files, rules, jobs, progress)
        from bnlint.cache import CACHE_DIR_NAME
        from bnlint.incremental import lint_incremental

        return lint_incremental(files, rules, args.cache_dir or root / CACHE_DIR_NAME, jobs, progress)
    finally:
        if progress is not None:
            progress.close()


def _load_config(args: argparse.Namespace) -> Config:
    if args.config is not None:
        return load_config_file(args.config)
    if args.isolated:
        return Config(root=Path.cwd())
    return find_config(args.paths[0] if args.paths else Path.cwd())


def _select_rules(args: argparse.Namespace, config: Config, rules: dict[str, type[Rule]]) -> dict[str, type[Rule]]:
    command_line = Selection(
        None,
        select=_codes(args.select),
        extend_select=_codes(args.extend_select) or (),
        ignore=_codes(args.ignore) or (),
    )
    for pattern, selectors in config.per_file_ignores.items():
        check_selectors(selectors, rules, f"`per-file-ignores` of {config.path} ({pattern!r})")
    return resolve_rules(rules, [config.selection(), command_line])


def _render(args: argparse.Namespace, report: output.LintReport, fixed: int | None = None) -> str:
    fmt = args.format or ("full" if args.show_source else "concise")
    text = output.render_statistics(report, fmt) if args.statistics else output.render(fmt, report)
    if fmt in ("concise", "full") and not args.quiet:
        if fmt == "full" and text:
            text += "\n"
        text += output.summary(report.findings, fixed, args.unsafe_fixes) + "\n"
    return text


def _write(text: str, destination: Path | None) -> None:
    if destination is None:
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:
            # A file name the terminal's encoding cannot show (not UTF-8, or an ASCII
            # locale): write it escaped rather than stop with an internal error.
            encoding = sys.stdout.encoding or "utf-8"
            sys.stdout.write(text.encode(encoding, "backslashreplace").decode(encoding))
        sys.stdout.flush()
        return
    try:
        # surrogateescape writes a file name that is not UTF-8 back as its own bytes,
        # as stdout does, instead of stopping with UnicodeEncodeError.
        destination.write_text(text, encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise _UsageError(f"cannot write {destination}: {exc.strerror or exc}") from exc


def _check(argv: list[str]) -> int:
    args = _check_parser().parse_args(argv)
    all_rules = load_rules()
    config = _load_config(args)
    rules = _select_rules(args, config, all_rules)

    paths = args.paths or [Path(".")]
    found = discover(paths, config.exclude, config.root)
    for message in found.errors:
        _error(message)

    # The rest of the named files' project, read so project-wide rules see what `bnlint .` sees.
    context = [] if args.no_project_context else context_files(paths, found.files, config)

    def selected(finding) -> bool:
        return finding.code in rules and not per_file_ignored(config, finding.filename, finding.code)

    fixed = None
    fix_failed = False
    if args.diff:
        return _diff(args, found.files, context, list(rules.values()), selected, bool(found.errors))
    if args.fix:
        from bnlint.fixer import fix_files

        outcome = fix_files(found.files, list(rules.values()), unsafe=args.unsafe_fixes, keep=selected,
                            context=context)
        for message in outcome.errors:
            _error(message)
        result, fixed, fix_failed = outcome.result, outcome.fixed_count, bool(outcome.errors)
    elif context:
        result = narrowed(_lint(args, together(found.files, context), list(rules.values()), config.root),
                          found.files)
    else:
        result = _lint(args, found.files, list(rules.values()), config.root)
    for message in result.errors:
        _error(message)
    _note_python2(result.python2, args.quiet)
    findings = [finding for finding in result.findings if selected(finding)]
    color = args.output_file is None and wants_color(sys.stdout)
    report = output.LintReport(findings, rules, result.files_checked, Path.cwd(), all_rules, color=color)
    _write(_render(args, report, fixed), args.output_file)
    if found.errors or fix_failed or result.errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if findings and not args.exit_zero else EXIT_CLEAN


def _diff(args: argparse.Namespace, files: list[Path], context: list[Path], rules: list[type[Rule]], selected,
          errors: bool) -> int:
    """``--diff``: print what ``--fix`` would change; exit 1 when there is something to fix."""
    from bnlint.fixer import fix_files

    outcome = fix_files(files, rules, unsafe=args.unsafe_fixes, keep=selected, write=False, context=context)
    for message in outcome.errors:
        _error(message)
    _note_python2(outcome.result.python2, args.quiet)
    _write(outcome.diff(), args.output_file)
    count = outcome.fixed_count
    if not args.quiet:
        print(f"Would fix {count} finding{'' if count == 1 else 's'}." if count else "No fixes available.",
              file=sys.stderr)
    if errors or outcome.errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if count and not args.exit_zero else EXIT_CLEAN


def _rule(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bnlint rule", description="Show a rule's documentation.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("code", nargs="?", metavar="CODE", help="a rule code (BN001) or name")
    target.add_argument("--all", action="store_true", help="list every rule")
    args = parser.parse_args(argv)
    rules = load_rules()
    if args.all:
        code_width = max((len(code) for code in rules), default=0)
        name_width = max((len(rule.NAME) for rule in rules.values()), default=0)
        for code, rule in rules.items():
            opt_in = "  (opt-in)" if rule.OPT_IN else ""
            print(f"{code:<{code_width}}  {rule.NAME:<{name_width}}  {rule_summary(rule)}{opt_in}")
        return EXIT_CLEAN
    by_name = {rule.NAME: rule for rule in rules.values()}
    rule = rules.get(args.code.upper()) or by_name.get(args.code)
    if rule is None:
        raise _UsageError(f"unknown rule `{args.code}` (`bnlint rule --all` lists them)")
    print(f"# {rule.NAME} ({rule.CODE})\n")
    if rule.OPT_IN:
        print(f"This rule is opt-in: enable it with `--extend-select {rule.CODE}`.\n")
    print(rule_doc(rule))
    return EXIT_CLEAN


def _audit(argv: list[str]) -> int:
    try:
        from bnlint.audit.cli import main as audit_main
    except ImportError as exc:
        _error(f"the runtime audit is not available: {exc}")
        return EXIT_ERROR
    return audit_main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run bnlint with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["audit"]:
            return _audit(args[1:])
        if args[:1] == ["rule"]:
            return _rule(args[1:])
        return _check(args[1:] if args[:1] == ["check"] else args)
    except SystemExit as exc:  # argparse: --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    except (ConfigError, RuleLoadError, _UsageError) as exc:
        _error(str(exc))
    except KeyboardInterrupt:
        _error("interrupted")
    except BrokenPipeError:
        # The reader (``| head``) went away; stop quietly, without a traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except Exception as exc:  # noqa: BLE001 - never show a traceback
        print(f"bnlint: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return EXIT_ERROR
