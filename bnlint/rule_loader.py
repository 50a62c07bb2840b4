"""Find every rule in ``bnlint.rules``; the engine never imports a rule by name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

from bnlint.rule import Rule

_CODE = re.compile(r"^BN[0-9]{3}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class RuleLoadError(Exception):
    """A rule module failed to import or declares a bad or duplicate code or name."""


def load_rules(package: str = "bnlint.rules") -> dict[str, type[Rule]]:
    """Import every module of ``package`` and return its rules by code, sorted by code."""
    try:
        pkg = importlib.import_module(package)
    except Exception as exc:  # noqa: BLE001 - any import failure is a load error
        raise RuleLoadError(f"cannot import rule package {package}: {exc}") from exc
    rules: dict[str, type[Rule]] = {}
    names: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module_name = f"{package}.{info.name}"
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001
            raise RuleLoadError(f"rule module {module_name} failed to import: {exc!r}") from exc
        found = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, Rule) and obj is not Rule
            and obj.__module__ == module_name
        ]
        if len(found) != 1:
            raise RuleLoadError(f"rule module {module_name} must define exactly one rule, found {len(found)}")
        rule = found[0]
        if not _CODE.match(rule.CODE):
            raise RuleLoadError(f"{module_name}: bad rule code {rule.CODE!r}")
        if not _NAME.match(rule.NAME):
            raise RuleLoadError(f"{module_name}: rule name {rule.NAME!r} is not kebab-case")
        if rule.CODE in rules:
            raise RuleLoadError(f"duplicate rule code {rule.CODE} in {module_name} and {rules[rule.CODE].__module__}")
        if rule.NAME in names:
            raise RuleLoadError(f"duplicate rule name {rule.NAME} ({rule.CODE} and {names[rule.NAME]})")
        if not rule.TOKENS and rule.CODE != "BN000":
            # Without tokens the pre-filter must parse every file for this rule.
            raise RuleLoadError(f"{module_name}: rule {rule.CODE} declares no TOKENS")
        if not rule.__doc__:
            raise RuleLoadError(f"{module_name}: rule {rule.CODE} has no documentation")
        rules[rule.CODE] = rule
        names[rule.NAME] = rule.CODE
    return dict(sorted(rules.items()))
