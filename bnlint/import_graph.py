"""Which linted files can influence each other's findings, read from import statements alone.

Project-wide rules relate files only through names one file imports from
another (a train op reaching a model builder, a helper returning a train op).
So the files a finding depends on lie in one connected component of the
import graph. The cache re-lints the component around a change; ``--jobs``
lints components in parallel. Both must find exactly what a plain run
finds, so edges over-approximate how ``bnlint.semantic`` resolves names:
``import pkg`` reaches every ``pkg.*`` module.

Imports are read with regular expressions, not a parse: the point is to avoid
parsing files whose findings are already known.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Mapping

from bnlint.project import module_name_for

_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w. \t,]+)", re.M)
_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)", re.M)


def graph_inputs(path: Path, text: str, relevant: re.Pattern[str] | None) -> tuple[str, list[str]]:
    """(module name, imports) of a file for the graph; a file the pre-filter skips has neither.

    Only parsed files take part in the project index, so only they can link
    other files: leaving the rest out keeps package ``__init__`` files from
    joining everything into one group.
    """
    if relevant is not None and not relevant.search(text):
        return "", []
    module = module_name_for(path)
    return module, imports_of(text, module, path.name == "__init__.py")


def imports_of(text: str, module: str, is_package: bool) -> list[str]:
    """Module paths a source reaches through its imports, absolute.

    ``import a.b`` binds ``a``, so it reaches all of ``a``; ``import a.b as c``
    reaches ``a.b``; ``from a import b, c`` reaches ``a.b`` and ``a.c``
    (each a submodule or a name of ``a``).
    """
    names: set[str] = set()
    for match in _IMPORT.finditer(text):
        for part in match.group(1).split(","):
            words = part.split()
            if not words:
                continue
            names.add(words[0] if "as" in words[1:2] else words[0].split(".")[0])
    package = module.split(".") if is_package else module.split(".")[:-1]
    for match in _FROM.finditer(text):
        dots, base_name, imported = match.group(1), match.group(2), match.group(3)
        if dots:
            up = len(dots) - 1
            base_parts = package[: len(package) - up] if up <= len(package) else []
            base = ".".join([*base_parts, base_name] if base_name else base_parts)
        else:
            base = base_name
        for item in imported.strip("() \t").replace("\n", " ").split(","):
            words = item.split()
            if words and words[0] != "*":
                names.add(f"{base}.{words[0]}" if base else words[0])
            elif words:
                names.add(base)
    return sorted(name for name in names if name)


def import_graph(modules: Mapping[str, str], imports: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Undirected edges between files (keys of ``modules``) where one imports the other's module."""
    exact: dict[str, set[str]] = {}
    under: dict[str, set[str]] = {}
    for name, module in modules.items():
        if not module:
            continue
        exact.setdefault(module, set()).add(name)
        parts = module.split(".")
        for end in range(1, len(parts) + 1):
            under.setdefault(".".join(parts[:end]), set()).add(name)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, names in imports.items():
        for imported in names:
            targets = set(under.get(imported, ()))
            parts = imported.split(".")
            for end in range(1, len(parts)):
                # Importing a.b.c runs a and a.b, and their names are reachable as well.
                targets |= exact.get(".".join(parts[:end]), set())
            targets.discard(name)
            for other in targets:
                graph[name].add(other)
                graph.setdefault(other, set()).add(name)
    return graph


def connected(graph: Mapping[str, set[str]], seeds: Iterable[str]) -> set[str]:
    """Every file reachable from ``seeds``."""
    seen: set[str] = set()
    stack = list(seeds)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(graph.get(name, ()))
    return seen


def components(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """The connected components of the graph."""
    out: list[set[str]] = []
    seen: set[str] = set()
    for name in graph:
        if name not in seen:
            component = connected(graph, [name])
            seen |= component
            out.append(component)
    return out
