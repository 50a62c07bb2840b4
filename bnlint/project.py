"""The project index: every linted file's model, and the calls that link them.

Bugs such as an unhooked train op span functions and files: the model is built
in ``model.py``, the train op in ``train.py``. The index maps module names to
files, function names to their definitions, and records who calls whom, so a
rule can ask "which functions build a batch norm that this train op's graph
contains?" without knowing how the code was split.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import libcst as cst

from bnlint.linker import FunctionRef, Linker, nearest, project_module_name
from bnlint.semantic import INSTANCE, CallSite, FileModel, FunctionInfo, child_nodes, dotted


def module_name_for(path: Path) -> str:
    """The dotted module name Python would import ``path`` under from its top package's parent."""
    path = path.resolve() if path.exists() else path
    parts = [path.stem] if path.stem != "__init__" else []
    directory = path.parent
    while (directory / "__init__.py").exists():
        parts.append(directory.name)
        if directory.parent == directory:
            break
        directory = directory.parent
    return ".".join(reversed(parts))


@dataclass(frozen=True)
class CallRef:
    """A call site in a linted file."""

    file: FileModel
    site: CallSite


class ProjectIndex:
    """All linted files, their functions, and the call graph between them."""

    def __init__(self, files: Iterable[FileModel]) -> None:
        self.files: list[FileModel] = list(files)
        self.modules: dict[str, FileModel] = {}
        # Several files may share a module name (two projects' ``train.py``): keep them all
        # and pick the one nearest the caller.
        self.functions: dict[str, list[FunctionRef]] = defaultdict(list)
        for model in self.files:
            model.module_name = project_module_name(model.module_name)
            self.modules.setdefault(model.module_name, model)
            for qualname, info in model.functions.items():
                self.functions[model.full_name(qualname)].append(FunctionRef(model, info))
        # Resolution across files: every model asks the linker what lies beyond it.
        self.linker = Linker(self.files, self.functions)
        for model in self.files:
            model.linker = self.linker
        self._callers: dict[str, list[CallRef]] | None = None
        self._callees: dict[str, set[str]] | None = None
        self._reach: dict[str, frozenset[str]] = {}
        self._ancestors: dict[str, frozenset[str]] = {}
        self._parents: dict[str, set[str]] | None = None
        self._facts: dict[str, object] = {}

    # --- resolution -----------------------------------------------------------------------

    def function_for_name(self, name: str, near: FileModel | None = None) -> FunctionRef | None:
        """The linted function a resolved callee name denotes (``mod.f``, ``mod.C().m``, ``mod.C()``)."""
        return self.linker.function_for_name(name, near) if self.linker is not None else None

    def callees_of_site(self, model: FileModel, site: CallSite) -> list[FunctionRef]:
        """Linted functions a call site may invoke."""
        out = []
        for name in model.call_names(site):
            ref = self.function_for_name(name, near=model)
            if ref is not None:
                out.append(ref)
            if INSTANCE in name[:-1] and self.linker is not None:
                # ``self.forward(x)`` in a base class runs the subclasses' overrides too.
                out.extend(self.linker.overrides(name, near=model))
        return out

    # --- call graph -----------------------------------------------------------------------

    def _build_call_graph(self) -> None:
        callers: dict[str, list[CallRef]] = defaultdict(list)
        callees: dict[str, set[str]] = defaultdict(set)
        for model in self.files:
            for site in model.calls:
                unit = model.unit_name(site.scope)
                for ref in self.callees_of_site(model, site):
                    callers[ref.unit].append(CallRef(model, site))
                    callees[unit].add(ref.unit)
                # A function passed as an argument (``tf.cond(p, branch_fn, ...)``,
                # ``Estimator(model_fn=...)``) runs on behalf of the caller too.
                for arg in site.node.args:
                    # A function is passed by name; a call or a literal there passes its result.
                    if not isinstance(arg.value, (cst.Name, cst.Attribute)):
                        continue
                    for name in model.resolve(arg.value, site.scope):
                        refs = self.functions.get(name)
                        if refs:
                            callees[unit].add(nearest(refs, model).unit)
            # Reading ``self.outputs`` runs the ``@property`` method ``outputs`` (a lazily built graph).
            for reader, prop in _property_reads(model):
                callees[model.function_unit(reader)].add(model.function_unit(prop))
        self._callers = dict(callers)
        self._callees = dict(callees)

    def callers(self, unit: str) -> list[CallRef]:
        """Call sites, in linted code, of a linted function (by unit, see ``FileModel.function_unit``)."""
        if self._callers is None:
            self._build_call_graph()
        assert self._callers is not None
        return self._callers.get(unit, [])

    def callees(self, unit: str) -> set[str]:
        if self._callees is None:
            self._build_call_graph()
        assert self._callees is not None
        return self._callees.get(unit, set())

    def reach(self, unit: str) -> frozenset[str]:
        """Units (functions, or ``mod.<module>``) a unit runs, itself included, transitively."""
        cached = self._reach.get(unit)
        if cached is not None:
            return cached
        seen = {unit}
        stack = [unit]
        while stack:
            for callee in self.callees(stack.pop()):
                if callee not in seen:
                    seen.add(callee)
                    stack.append(callee)
        result = frozenset(seen)
        self._reach[unit] = result
        return result

    def run_together(self, unit_a: str, unit_b: str) -> bool:
        """True when some unit runs both (they build parts of one graph)."""
        if unit_a == unit_b:
            return True
        return bool(self.ancestors(unit_a) & self.ancestors(unit_b))

    def ancestors(self, unit: str) -> frozenset[str]:
        """Units that run ``unit``, directly or through other calls, itself included."""
        cached = self._ancestors.get(unit)
        if cached is not None:
            return cached
        if self._parents is None:
            self._parents = defaultdict(set)
            if self._callees is None:
                self._build_call_graph()
            assert self._callees is not None
            for caller, callees in self._callees.items():
                for callee in callees:
                    self._parents[callee].add(caller)
        seen = {unit}
        stack = [unit]
        while stack:
            for parent in self._parents.get(stack.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        result = frozenset(seen)
        self._ancestors[unit] = result
        return result

    # --- per-project memo for rules ---------------------------------------------------------

    def release(self) -> None:
        """Drop the shared facts: some hold the index itself, a cycle that keeps every tree alive."""
        self._facts = {}
        self.linker = None
        self._callers = self._callees = self._parents = None
        self._reach = {}
        self._ancestors = {}

    def memo(self, key: str, compute):
        """Compute a project-wide fact once (e.g. every batch-norm site) and share it between rules."""
        if key not in self._facts:
            self._facts[key] = compute()
        return self._facts[key]

    def iter_calls(self) -> Iterator[tuple[FileModel, CallSite]]:
        for model in self.files:
            for site in model.calls:
                yield model, site


def _property_reads(model: FileModel) -> list[tuple[FunctionInfo, FunctionInfo]]:
    """(method, property) pairs where a method of a class reads ``self.<property>`` of that class.

    A property is a method decorated ``@property`` (or ``cached_property``, ...): reading the
    attribute calls it, so it belongs to the call graph like a call would.
    """
    properties: dict[str, dict[str, FunctionInfo]] = {}
    for info in model.functions.values():
        if info.class_qualname and isinstance(info.node, cst.FunctionDef) and any(
                (dotted(decorator.decorator) or "").endswith("property") for decorator in info.node.decorators):
            properties.setdefault(info.class_qualname, {})[info.name] = info
    if not properties:
        return []
    pairs = []
    for info in model.functions.values():
        owned = properties.get(info.class_qualname or "")
        if not owned or not info.params or not isinstance(info.node, cst.FunctionDef) or any(
                dotted(decorator.decorator) == "staticmethod" for decorator in info.node.decorators):
            continue
        receiver = info.params[0].name.value
        stack: list[cst.CSTNode] = [info.node.body]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                continue  # a nested definition reads ``self`` only when it runs
            if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) \
                    and node.value.value == receiver and node.attr.value in owned:
                prop = owned[node.attr.value]
                if prop is not info:
                    pairs.append((info, prop))
            stack.extend(child_nodes(node))
    return pairs
