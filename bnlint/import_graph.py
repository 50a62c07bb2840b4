"""Which linted files can influence each other's findings, read from import statements alone.

Project-wide rules relate files only through names one file imports from
another (a train op reaching a model builder, a helper returning a train op).
So the files a finding depends on lie in one connected component of the
import graph. The cache re-lints the component around a change; ``--jobs``
lints components in parallel. Both must find exactly what a plain run
finds, so edges over-approximate how ``bnlint.linker`` resolves imports
(``bnlint.modules``): an import reaches the module it names and the package
``__init__.py`` files above it, and importing a package reaches every module
in it.

Which files are analysed at all is decided here too. A file holding a token
of the selected rules is; so is a file without one that is import-connected
to such a file: a ``networks.py`` between ``training.py`` and ``layers.py``,
an entry script that only calls ``learn(policy=...)``, a package
``__init__.py`` that re-exports a builder. Any other file cannot hold or
contribute to a finding, and is never parsed.

Imports are read with regular expressions, not a parse: the point is to avoid
parsing files whose findings are already known, or that cannot matter.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Mapping, NamedTuple

from bnlint.modules import ModuleMap
from bnlint.project import module_name_for

_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w. \t,]+)", re.M)
_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)", re.M)
# ``import_module("nets.resnet")``, ``import_module("nets." + name)``, ``import_module(f"{__name__}.functions.{x}")``:
# the literal start of the module name (``bnlint.semantic.module_name_literal`` reads the same from the tree).
_IMPORT_MODULE = re.compile(r"""(?:import_module|__import__)\(\s*f?(["'])(\{__name__\})?([\w.]*)(\1)?""")


class GraphInputs(NamedTuple):
    """What the import graph needs of one file, read without parsing it."""

    module: str  # its module name by ``__init__.py`` chain (changes when a package appears or goes)
    holds_tokens: bool  # it holds a token of the selected rules
    imports: list[str]  # what its imports name, as written (relative ones keep their dots)


def graph_inputs(path: Path, text: str, relevant: re.Pattern[str] | None) -> GraphInputs:
    """A file's graph inputs; ``relevant`` matches the rules' tokens (None: every file holds them)."""
    holds = relevant is None or relevant.search(text) is not None
    return GraphInputs(module_name_for(path), holds, imports_of(text))


def imports_of(text: str) -> list[str]:
    """What a source's imports name, as written: ``a.b`` for ``import a.b``, ``.m.x`` for ``from .m import x``.

    ``from a import b`` names ``a.b`` (a submodule or a name of ``a``);
    ``from a import *`` names ``a``.
    """
    names: set[str] = set()
    for match in _import_statements(text):
        if match.re is _IMPORT:
            for part in match.group(1).split(","):
                words = part.split()
                if words:
                    names.add(words[0])
            continue
        dots, base_name, imported = match.group(1), match.group(2), match.group(3)
        base = dots + base_name
        for item in imported.strip("() \t").replace("\n", " ").split(","):
            words = item.split()
            if not words:
                continue
            if words[0] == "*":
                names.add(base)
            elif base_name:
                names.add(f"{base}.{words[0]}")
            else:
                names.add(f"{dots}{words[0]}")
    if "import_module" in text or "__import__" in text:
        for match in _IMPORT_MODULE.finditer(text):
            own_package, literal, closed = match.group(2), match.group(3), match.group(4)
            module = literal if closed and not literal.endswith(".") else literal.rpartition(".")[0]
            if own_package:
                module = "." + module.lstrip(".")
            names.add(module)
    return sorted(name for name in names if name.strip("."))


def _import_statements(text: str) -> Iterator[re.Match[str]]:
    """``_IMPORT`` and ``_FROM`` matches, found from each line holding the word ``import``.

    Both statements hold ``import`` on their first line, and a plain search for
    it is several times faster than trying the patterns at every line start
    (0.04 against 0.35 s over TensorFlow and Keras, 42 MB). As with
    ``finditer``, a line inside a match already made (a parenthesised
    ``from`` list) starts no other.
    """
    done = 0  # where the last match ended: lines before it are taken
    position = text.find("import")
    while position >= 0:
        line = text.rfind("\n", 0, position) + 1
        if line >= done:
            match = _IMPORT.match(text, line) or _FROM.match(text, line)
            if match is not None:
                done = match.end()
                yield match
            else:
                done = line
        next_line = text.find("\n", position)
        if next_line < 0:
            break
        position = text.find("import", max(next_line, done))


def import_edges(inputs: Mapping[str, GraphInputs], modules: ModuleMap | None = None) -> dict[str, set[str]]:
    """Undirected edges between files (keys of ``inputs``) where one may reach the other by name.

    Importing a package counts as importing every module in it (``import pkg``
    lets code name ``pkg.sub.f``), and the package ``__init__.py`` files on the
    way count too: an over-approximation, for grouping files.
    """
    graph: dict[str, set[str]] = {name: set() for name in inputs}
    for name, targets in _imported(inputs, True, modules).items():
        for other in targets:
            graph[name].add(other)
            graph[other].add(name)
    return graph


def _imported(inputs: Mapping[str, GraphInputs], whole_packages: bool,
              modules: ModuleMap | None = None) -> dict[str, set[str]]:
    """For each file, the files its imports reach (``ModuleMap.files_reached``).

    ``modules`` is the files' map when the caller has one: its resolutions are memoised.
    """
    modules = ModuleMap(inputs) if modules is None else modules
    canonical_path = {name: os.path.abspath(name) for name in inputs}
    by_path = {path: name for name, path in canonical_path.items()}
    out: dict[str, set[str]] = {}
    for name, entry in inputs.items():
        targets: set[str] = set()
        for imported in entry.imports:
            for path in modules.files_reached(canonical_path[name], imported, whole_packages):
                other = by_path.get(path)
                if other is not None and other != name:
                    targets.add(other)
        out[name] = targets
    return out


def analysed(inputs: Mapping[str, GraphInputs], modules: ModuleMap | None = None) -> set[str]:
    """Files worth parsing: those holding tokens, and those linked to one by imports through token-less files.

    A token-less file is linked when it imports a token file, directly or
    through other token-less files (an entry script, a ``networks.py`` in the
    middle of a chain), or when a token file imports it that way (a helper, a
    package ``__init__.py`` that re-exports). Two files that merely import the
    same package are not linked through it.
    """
    seeds = {name for name, entry in inputs.items() if entry.holds_tokens}
    if len(seeds) == len(inputs):
        return set(seeds)
    imports = _imported(inputs, False, modules)
    importers: dict[str, set[str]] = {}
    for name, targets in imports.items():
        for target in targets:
            importers.setdefault(target, set()).add(name)
    keep = set(seeds)
    for edges in (imports, importers):
        stack = list(seeds)
        seen = set(seeds)
        while stack:
            for other in edges.get(stack.pop(), ()):
                if other not in seen:
                    seen.add(other)
                    if other not in seeds:
                        stack.append(other)  # through token-less files only
        keep |= seen
    return keep


def import_graph(inputs: Mapping[str, GraphInputs]) -> dict[str, set[str]]:
    """The import graph among the files that are analysed; every other file stands alone."""
    return graph_and_analysed(inputs)[0]


def graph_and_analysed(inputs: Mapping[str, GraphInputs]) -> tuple[dict[str, set[str]], set[str]]:
    """``import_graph`` and ``analysed`` of the same files, resolving each import once."""
    modules = ModuleMap(inputs)
    graph = import_edges(inputs, modules)
    keep = analysed(inputs, modules)
    return {name: (edges & keep if name in keep else set()) for name, edges in graph.items()}, keep


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
