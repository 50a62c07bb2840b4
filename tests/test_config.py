"""Configuration files, rule selection and path globs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint.config import (
    Config,
    ConfigError,
    Selection,
    find_config,
    load_config_file,
    path_matches,
    per_file_ignored,
    resolve_rules,
)
from bnlint.rule import Rule


def _rule(code: str, name: str, opt_in: bool = False) -> type[Rule]:
    return type(name, (Rule,), {"CODE": code, "NAME": name, "OPT_IN": opt_in, "__doc__": f"{name}."})


RULES = {
    "BN000": _rule("BN000", "parse-error"),
    "BN001": _rule("BN001", "one"),
    "BN002": _rule("BN002", "two"),
    "BN101": _rule("BN101", "three"),
    "BN901": _rule("BN901", "opinion", opt_in=True),
}


def selected(*layers: Selection) -> list[str]:
    return list(resolve_rules(RULES, layers))


def cli(**kwargs) -> Selection:
    return Selection(None, **kwargs)


def file_layer(**kwargs) -> Selection:
    return Selection(Path("/p/pyproject.toml"), **kwargs)


# --- selection -------------------------------------------------------------------


def test_default_enables_every_rule_but_opt_in_ones():
    assert selected() == ["BN000", "BN001", "BN002", "BN101"]


def test_prefix_select_never_enables_an_opt_in_rule():
    assert selected(cli(select=("BN",))) == ["BN000", "BN001", "BN002", "BN101"]
    assert selected(cli(select=("BN9",))) == ["BN000"]


def test_opt_in_rule_runs_when_selected_by_exact_code():
    assert selected(cli(extend_select=("BN901",))) == ["BN000", "BN001", "BN002", "BN101", "BN901"]
    assert selected(file_layer(select=("BN901",))) == ["BN000", "BN901"]


def test_select_prefix_then_ignore_code():
    assert selected(file_layer(select=("BN0",), ignore=("BN002",))) == ["BN000", "BN001"]


def test_more_specific_select_beats_broader_ignore():
    assert selected(file_layer(select=("BN001",), ignore=("BN0",))) == ["BN001"]


def test_command_line_select_replaces_config_select_and_its_ignores():
    layers = [file_layer(select=("BN0",), ignore=("BN001",)), cli(select=("BN001",))]
    assert selected(*layers) == ["BN000", "BN001"]


def test_command_line_ignore_and_extend_select_adjust_config():
    layers = [file_layer(select=("BN001",)), cli(extend_select=("BN101",), ignore=("BN001",))]
    assert selected(*layers) == ["BN000", "BN101"]


def test_parse_errors_stay_reported_unless_ignored():
    assert "BN000" in selected(cli(select=("BN002",)))
    assert "BN000" not in selected(file_layer(ignore=("BN000",)))
    assert "BN000" not in selected(file_layer(ignore=("BN",)))
    # A later layer that names it again turns it back on.
    assert "BN000" in selected(file_layer(ignore=("BN000",)), cli(select=("BN000",)))


@pytest.mark.parametrize("selector", ["BN999", "BN2", "E501", "bn001", "BN0011", ""])
def test_unknown_selector_is_an_error_naming_where_it_came_from(selector):
    with pytest.raises(ConfigError, match=rf"^unknown rule selector `{selector}` in --ignore$"):
        selected(cli(ignore=(selector,)))
    with pytest.raises(ConfigError, match=rf"^unknown rule selector `{selector}` in `select` of /p/pyproject.toml$"):
        selected(file_layer(select=(selector,)))


# --- files -----------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nearest_pyproject_with_tool_bnlint_wins(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.bnlint]\nignore = ["BN002"]\n')
    # A pyproject.toml without [tool.bnlint] is passed over, as ruff does.
    write(tmp_path / "pkg" / "pyproject.toml", "[project]\nname = 'pkg'\n")
    target = write(tmp_path / "pkg" / "sub" / "model.py", "")
    config = find_config(target)
    assert config.path == tmp_path / "pyproject.toml"
    assert config.root == tmp_path
    assert config.ignore == ("BN002",)
    assert config.select is None


def test_bnlint_toml_has_top_level_keys_and_beats_pyproject(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.bnlint]\nignore = ["BN002"]\n')
    write(tmp_path / "bnlint.toml", 'select = ["BN001"]\nexclude = ["gen/"]\n')
    config = find_config(tmp_path)
    assert (config.path, config.select, config.ignore, config.exclude) == (
        tmp_path / "bnlint.toml", ("BN001",), (), ("gen/",))


def test_dot_bnlint_toml_is_found(tmp_path):
    write(tmp_path / ".bnlint.toml", '[per-file-ignores]\n"tests/*" = ["BN001", "BN0"]\n')
    assert find_config(tmp_path / "a" / "missing.py").per_file_ignores == {"tests/*": ("BN001", "BN0")}


def test_no_config_file_means_defaults_rooted_at_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = find_config(tmp_path)
    # Parents of tmp_path hold no bnlint config on a test machine.
    assert config == Config(root=tmp_path)


def test_explicit_pyproject_without_table_is_an_error(tmp_path):
    path = write(tmp_path / "pyproject.toml", "[tool.ruff]\n")
    with pytest.raises(ConfigError, match=r"pyproject.toml: no \[tool.bnlint\] table$"):
        load_config_file(path)


def test_explicit_config_file_of_any_name_uses_top_level_keys(tmp_path):
    path = write(tmp_path / "ci" / "lint.toml", 'extend-select = ["BN901"]\n')
    config = load_config_file(path)
    assert config.extend_select == ("BN901",)
    assert config.root == tmp_path / "ci"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tool.bnlint]\nselekt = ["BN001"]\n', r"unknown key `selekt` \(did you mean `select`\?\)$"),
        ('[tool.bnlint]\nlanguage = "py"\n', r"unknown key `language` \(expected one of: select, ignore, "),
        ('[tool.bnlint]\nselect = "BN001"\n', r"`select` must be a list of strings, got a string$"),
        ("[tool.bnlint]\nignore = [1]\n", r"`ignore` must be a list of strings, got a list containing an integer$"),
        ('[tool.bnlint]\nper-file-ignores = ["x"]\n', r"`per-file-ignores` must be a table of glob = \[codes\], got a list$"),
        ('[tool.bnlint]\nper-file-ignores = {"a.py" = "BN001"}\n',
         r"`per-file-ignores.a.py` must be a list of strings, got a string$"),
        ('[tool.bnlint]\ntool.bnlint = 1\nselect = [\n', r"invalid TOML: "),
        ("tool = {bnlint = 3}\n", r"`tool.bnlint` must be a table$"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, text, message):
    path = write(tmp_path / "pyproject.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        find_config(tmp_path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_unreadable_explicit_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^cannot read config file .*nope.toml: No such file or directory$"):
        load_config_file(tmp_path / "nope.toml")


# --- globs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("tests/*", "tests/test_a.py", True),
        ("tests/*", "tests/sub/test_a.py", True),  # like ruff, `*` crosses `/`
        ("tests/*", "src/tests.py", False),
        ("**/gen_*.py", "gen_a.py", True),
        ("**/gen_*.py", "a/b/gen_a.py", True),
        ("**/gen_*.py", "a/b/agen_a.py", False),
        ("conftest.py", "deep/down/conftest.py", True),  # base name
        ("legacy", "src/legacy", True),
        ("src/legacy", "other/src/legacy", False),
        ("./src/legacy", "src/legacy", True),
        ("{a,b}/x.py", "b/x.py", True),
        ("{a,b}/x.py", "c/x.py", False),
        ("model_?.py", "model_1.py", True),
        ("model_[0-4].py", "model_5.py", False),
        ("model_[!0-4].py", "model_5.py", True),
        ("weird[.py", "weird[.py", True),
        ("a.py", "a_py", False),
    ],
)
def test_path_matches(tmp_path, pattern, path, hit):
    assert path_matches(tmp_path / path, [pattern], tmp_path) is hit


def test_path_outside_root_matches_only_by_base_name(tmp_path):
    root = tmp_path / "root"
    assert path_matches(tmp_path / "elsewhere" / "x.py", ["x.py"], root)
    assert not path_matches(tmp_path / "elsewhere" / "x.py", ["elsewhere/*"], root)


def test_per_file_ignores_use_code_prefixes_relative_to_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = Config(root=tmp_path, per_file_ignores={"tests/*": ("BN0",), "nb.py": ("BN101",)})
    assert per_file_ignored(config, "tests/test_a.py", "BN001")
    assert per_file_ignored(config, str(tmp_path / "tests" / "test_a.py"), "BN002")
    assert not per_file_ignored(config, "tests/test_a.py", "BN101")
    assert per_file_ignored(config, "src/nb.py", "BN101")
    assert not per_file_ignored(config, "src/model.py", "BN001")
