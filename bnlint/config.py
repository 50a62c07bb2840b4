"""Configuration: the ``[tool.bnlint]`` table, rule selection and path globs.

bnlint reads one configuration file, found like ruff finds its own: starting at
the first linted path (the current directory when none is given) and walking up,
the first directory holding ``.bnlint.toml``, ``bnlint.toml`` or a
``pyproject.toml`` with a ``[tool.bnlint]`` table wins. In ``bnlint.toml`` and
``.bnlint.toml`` the keys sit at the top level; in ``pyproject.toml`` they sit
under ``[tool.bnlint]``. ``--config FILE`` names the file instead. The directory
holding the file is the *config root*: ``exclude`` and ``per-file-ignores``
globs are matched against paths relative to it.

Rule selection follows ruff: a selector is a code (``BN001``) or a code prefix
(``BN0``, ``BN``); within one layer the more specific selector wins, ``select``
replaces what earlier layers chose, ``extend-select`` and ``ignore`` adjust it.
The layers are bnlint's default (``BN``), the configuration file, then the
command line. Opt-in rules are enabled only by their exact code.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from bnlint.rule import Rule

CONFIG_FILE_NAMES = (".bnlint.toml", "bnlint.toml", "pyproject.toml")
LIST_KEYS = ("select", "ignore", "extend-select", "exclude")
KNOWN_KEYS = (*LIST_KEYS, "per-file-ignores")
# Reported whenever a file cannot be parsed, unless a selector in ``ignore`` names it.
PARSE_ERROR_CODE = "BN000"
_SELECTOR = re.compile(r"^BN[0-9]{0,3}$")


class ConfigError(Exception):
    """A configuration file or option is invalid; the message is one line for the user."""


@dataclass(frozen=True)
class Config:
    """The settings of one run, before they are combined with the command line."""

    # The directory that ``exclude`` and ``per-file-ignores`` globs are relative to.
    root: Path
    # The file the settings came from; None when bnlint runs on its defaults.
    path: Path | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def selection(self) -> Selection:
        """The file's rule selection, as one layer."""
        return Selection(self.path, self.select, self.extend_select, self.ignore)


@dataclass(frozen=True)
class Selection:
    """One layer of rule selection (ruff's ``RuleSelection``).

    ``source`` is the config file the layer came from, or None for the command line.
    """

    source: Path | None
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    def where(self, key: str) -> str:
        """Name the setting ``key`` of this layer for an error message."""
        return f"`{key}` of {self.source}" if self.source else f"--{key}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 ({exc.reason})") from exc
    except RecursionError:  # tomllib recurses per nested array or inline table
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None


def _settings_table(path: Path, data: dict[str, Any]) -> dict[str, Any] | None:
    """The bnlint table of a parsed file: ``[tool.bnlint]`` or the top level."""
    if path.name != "pyproject.toml":
        return data
    tool = data.get("tool")
    if not isinstance(tool, dict) or "bnlint" not in tool:
        return None
    table = tool["bnlint"]
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: `tool.bnlint` must be a table")
    return table


def _string_list(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{path}: `{key}` must be a list of strings, got {_describe(value)}")
    return tuple(value)


def _describe(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a float",
             dict: "a table", list: "a list"}
    bad = [item for item in value if not isinstance(item, str)] if isinstance(value, list) else []
    if bad:
        return f"a list containing {names.get(type(bad[0]), type(bad[0]).__name__)}"
    return names.get(type(value), type(value).__name__)


def parse_config(path: Path, table: Mapping[str, Any]) -> Config:
    """Check the keys and types of a bnlint settings table and build a :class:`Config`."""
    for key in table:
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else f" (expected one of: {', '.join(KNOWN_KEYS)})"
            raise ConfigError(f"{path}: unknown key `{key}`{hint}")
    lists = {key: _string_list(path, key, table[key]) for key in LIST_KEYS if key in table}
    per_file: dict[str, tuple[str, ...]] = {}
    if "per-file-ignores" in table:
        raw = table["per-file-ignores"]
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: `per-file-ignores` must be a table of glob = [codes], got {_describe(raw)}")
        for pattern, codes in raw.items():
            per_file[pattern] = _string_list(path, f"per-file-ignores.{pattern}", codes)
    # A glob that is no valid pattern (``[z-a]``) failed only when first matched,
    # as an internal error; report it here as a configuration error.
    for key, patterns in (("exclude", lists.get("exclude", ())), ("per-file-ignores", tuple(per_file))):
        for pattern in patterns:
            try:
                _glob_regex(pattern.removeprefix("./"))
            except re.error as exc:
                raise ConfigError(f"{path}: `{key}` has an invalid glob {pattern!r}: {exc}") from None
    return Config(
        root=path.parent,
        path=path,
        select=lists.get("select"),
        ignore=lists.get("ignore", ()),
        extend_select=lists.get("extend-select", ()),
        exclude=lists.get("exclude", ()),
        per_file_ignores=per_file,
    )


def load_config_file(path: Path) -> Config:
    """Read the file ``--config`` names: a ``pyproject.toml`` or a ``bnlint.toml``-style file."""
    path = Path(os.path.abspath(path))
    table = _settings_table(path, _read_toml(path))
    if table is None:
        raise ConfigError(f"{path}: no [tool.bnlint] table")
    return parse_config(path, table)


def find_config(start: Path) -> Config:
    """The configuration of the nearest config file at or above ``start``; defaults if none."""
    start = Path(os.path.abspath(start))
    directory = start if start.is_dir() else start.parent
    for candidate_dir in (directory, *directory.parents):
        for name in CONFIG_FILE_NAMES:
            candidate = candidate_dir / name
            if not candidate.is_file():
                continue
            table = _settings_table(candidate, _read_toml(candidate))
            if table is not None:
                return parse_config(candidate, table)
    return Config(root=Path.cwd())


def check_selectors(selectors: Iterable[str], codes: Iterable[str], where: str) -> None:
    """Raise :class:`ConfigError` for a selector that is no rule's code or code prefix."""
    codes = list(codes)
    for selector in selectors:
        if not _SELECTOR.match(selector) or not any(code.startswith(selector) for code in codes):
            raise ConfigError(f"unknown rule selector `{selector}` in {where}")


def _matches(selector: str, rule: type[Rule], *, selecting: bool) -> bool:
    # A prefix never turns an opt-in rule on; only its exact code does.
    if selecting and rule.OPT_IN and selector != rule.CODE:
        return False
    return rule.CODE.startswith(selector)


def resolve_rules(rules: Mapping[str, type[Rule]], layers: Sequence[Selection]) -> dict[str, type[Rule]]:
    """The rules enabled by the selection layers, applied in order on top of the default ``BN``.

    Raises :class:`ConfigError` for a selector that names no rule.
    """
    codes = list(rules)
    for layer in layers:
        for key, selectors in (("select", layer.select or ()), ("extend-select", layer.extend_select),
                               ("ignore", layer.ignore)):
            check_selectors(selectors, codes, layer.where(key))
    enabled: set[str] = set()
    parse_error_on = True
    for layer in (Selection(None, select=("BN",)), *layers):
        updates: dict[str, bool] = {}
        chosen = [(s, True) for s in (*(layer.select or ()), *layer.extend_select)]
        dropped = [(s, False) for s in layer.ignore]
        # Shorter selectors are less specific; at equal length ``ignore`` wins (it comes last).
        for selector, on in sorted(chosen + dropped, key=lambda item: len(item[0])):
            for code, rule in rules.items():
                if _matches(selector, rule, selecting=on):
                    updates[code] = on
        if layer.select is not None:
            enabled = {code for code, on in updates.items() if on}
        else:
            enabled |= {code for code, on in updates.items() if on}
            enabled -= {code for code, on in updates.items() if not on}
        parse_error_on = updates.get(PARSE_ERROR_CODE, parse_error_on)
    # A file that cannot be parsed was checked for nothing; say so unless told not to.
    if PARSE_ERROR_CODE in rules and parse_error_on:
        enabled.add(PARSE_ERROR_CODE)
    return {code: rule for code, rule in rules.items() if code in enabled}


@functools.lru_cache(maxsize=None)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob as ruff reads it: ``*`` and ``**`` match across ``/``, ``{a,b}`` alternates."""
    out: list[str] = []
    i = 0
    depth = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                i = end
        elif char == "{":
            out.append("(?:")
            depth += 1
        elif char == "}" and depth:
            out.append(")")
            depth -= 1
        elif char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        i += 1
    if depth:  # an unclosed brace is a literal one
        return re.compile(re.escape(pattern) + r"\Z")
    return re.compile("".join(out) + r"\Z")


def relative_to_root(path: Path, root: Path) -> str | None:
    """``path`` relative to ``root`` as a POSIX string, or None when it lies outside."""
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return PurePosixPath(Path(relative)).as_posix()


def path_matches(path: Path, patterns: Iterable[str], root: Path) -> bool:
    """Whether a glob matches ``path`` relative to ``root``, or its base name."""
    relative = relative_to_root(path, root)
    name = path.name
    for pattern in patterns:
        regex = _glob_regex(pattern.removeprefix("./"))
        if (relative is not None and regex.match(relative)) or regex.match(name):
            return True
    return False


def per_file_ignored(config: Config, filename: str, code: str) -> bool:
    """Whether ``per-file-ignores`` drops findings of ``code`` in ``filename``."""
    path = Path(filename)
    return any(
        any(code.startswith(selector) for selector in selectors)
        and path_matches(path, (pattern,), config.root)
        for pattern, selectors in config.per_file_ignores.items()
    )
