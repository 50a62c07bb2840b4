"""Cross-file answers for name resolution: what an import, a parameter, an attribute or a call denotes.

``FileModel.resolve`` answers "what can this expression be?" for one file.
Where the answer lies in another file (an imported project module, the
arguments callers pass to a parameter, an attribute set in another file's
``__init__``, a method inherited from a project base class, a function's
return value), it asks the project's ``Linker``. Every rule resolves names
through ``FileModel.resolve``, so every rule gets the same answers.

What each file contributes (its bindings, functions with parameters and
returns, classes with bases and ``self`` attributes, calls) is read from that
file's own model; the linker only joins those per-file facts, by name.

Names stay bnlint's canonical dotted strings: a project module is named by
its file's module name (``pkg.model``), a namespace folder by a marker
(``<ns:3>``) that attribute access turns into the module below it, and the
result of ``importlib.import_module("nets." + name)`` (a name computed
below a package) by ``<any-in:5>``, whose attributes are the top-level
definitions of that name in every module of the package.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, NamedTuple, TypeVar

import libcst as cst

from bnlint.modules import ModuleMap, ModuleTarget
from bnlint.names import canonical

if TYPE_CHECKING:
    from bnlint.semantic import Binding, CallSite, FileModel, FunctionInfo, Scope

NAMESPACE_PREFIX = "<ns:"
# ``importlib.import_module("pkg." + name)``: any module of a package (``<any-in:3>``, a folder by number).
ANY_IN_PREFIX = "<any-in:"
INSTANCE = "()"
# Module names that would be mistaken for a library's after ``canonical`` (``keras.x`` -> ``tensorflow.keras.x``).
_LIBRARY_ROOTS = frozenset({"tensorflow", "keras", "tf_keras", "tf_slim"})
PROJECT_PREFIX = "<project>."
# How many call sites are followed into one parameter: beyond that the parameter is a general-purpose one.
_MAX_CALL_SITES = 64
# Callers found this shallow in a resolution chain are memoised (deeper, the depth bound may cut them short).
_CACHED_CALLERS_DEPTH = 3
# How many subclass overrides ``self.m()`` dispatches to; beyond that the method is a framework hook.
_MAX_OVERRIDES = 8
# How many definitions ``getattr(module, computed_name)`` may stand for (more: unknown).
_MAX_PICKED_MEMBERS = 32
# How many modules a re-exported name is followed through (``from a import x`` where ``a`` imports it too).
_MAX_REEXPORT_DEPTH = 12


@dataclass(frozen=True)
class FunctionRef:
    """A function of a linted file."""

    file: "FileModel"
    info: "FunctionInfo"

    @property
    def full_name(self) -> str:
        return self.file.full_name(self.info.qualname)

    @property
    def unit(self) -> str:
        return self.file.function_unit(self.info)


T = TypeVar("T")


def nearest(items: "list[T]", near: "FileModel | None", file_of: "Callable[[T], FileModel]" = lambda ref: ref.file) -> T:
    """Of several definitions sharing a name (two projects' ``train.py``), the one closest to ``near``.

    Closest is the referring file itself, then the longest shared directory.
    """
    if near is None or len(items) == 1:
        return items[0]
    near_parts = Path(near.path).parts

    def closeness(item: T) -> tuple[int, int]:
        model = file_of(item)
        if model is near:
            return (1, 0)
        shared = 0
        for a, b in zip(Path(model.path).parts[:-1], near_parts[:-1]):
            if a != b:
                break
            shared += 1
        return (0, shared)

    return max(items, key=closeness)


def project_module_name(module_name: str) -> str:
    """A project module's name, kept apart from a library's when it is spelled like one."""
    if module_name.split(".", 1)[0] in _LIBRARY_ROOTS:
        return PROJECT_PREFIX + module_name
    return module_name


class Linker:
    """Joins the per-file facts of a project's models."""

    def __init__(self, files: Iterable["FileModel"],
                 functions: "dict[str, list[FunctionRef]]") -> None:
        self.files = list(files)
        # Full function name -> definitions (the project index's table).
        self.functions = functions
        self.map = ModuleMap(model.path for model in self.files)
        self.by_path: dict[str, FileModel] = {os.path.abspath(model.path): model for model in self.files}
        self._namespaces: list[str] = []
        self._namespace_ids: dict[str, int] = {}
        # Full class name -> (file, class qualname); several when two files share a module name.
        self.classes: dict[str, list[tuple[FileModel, str]]] = defaultdict(list)
        for model in self.files:
            for qualname in model.class_scopes:
                self.classes[model.full_name(qualname)].append((model, qualname))
        self._sites_by_callee: dict[str, list[tuple[FileModel, CallSite]]] | None = None
        self._reached: dict[str, set[str]] = {}
        # Keyed by (name, id of the referring model): the models live as long as the linker.
        self._function_cache: dict[tuple[str, int], FunctionRef | None] = {}
        self._mro_cache: dict[tuple[str, int], list[str]] = {}
        self._subclasses: dict[str, list[str]] | None = None
        # id(function) -> (function, its callers); the function is kept so its id stays its own.
        self._callers_cache: dict[int, tuple[FunctionInfo, list[tuple[FileModel, CallSite, int]]]] = {}
        # id(parameter binding) -> its literals (``values.constant_origins``); bindings live as long as the linker.
        self.constant_origins: dict[int, object] = {}

    # --- modules ------------------------------------------------------------------------

    def import_names(self, model: "FileModel", dotted: str, depth: int) -> frozenset[str] | None:
        """The names an import denotes when it reaches a project module; None when it is not the project's.

        A name the target module itself imports or assigns (a package
        ``__init__`` re-exporting ``from .model import build``, a star-import
        chain) is followed into that module.
        """
        target = self.map.resolve(model.path, dotted)
        if target is None:
            return None
        if not target.is_folder and target.rest and depth <= _MAX_REEXPORT_DEPTH:
            source = self.by_path[target.path]
            if source is not model:
                first, more = target.rest[0], target.rest[1:]
                bindings = source.lookup(first, source.module_scope)
                if bindings and all(binding.kind not in ("def", "class") for binding in bindings):
                    names: set[str] = set()
                    for binding in bindings:
                        names |= source.resolve_binding(binding, depth + 1)
                    return frozenset(self._extend(name, more) for name in names)
        return frozenset({self._target_name(target)})

    def imported_bindings(self, model: "FileModel", dotted: str) -> list[tuple["FileModel", "Binding"]]:
        """The bindings in a project module that ``from module import name`` (``dotted``) takes, with their file."""
        target = self.map.resolve(model.path, dotted)
        if target is None or target.is_folder or len(target.rest) != 1:
            return []
        source = self.by_path[target.path]
        if source is model:
            return []
        return [(source, binding) for binding in source.lookup(target.rest[0], source.module_scope)]

    def _extend(self, name: str, parts: tuple[str, ...]) -> str:
        for part in parts:
            name = self.member(name, part) if name.startswith(NAMESPACE_PREFIX) else canonical(f"{name}.{part}")
        return name

    def star_source(self, model: "FileModel", dotted: str) -> "FileModel | None":
        """The project module ``from dotted import *`` reads, or None for a library module."""
        target = self.map.resolve(model.path, dotted)
        if target is None or target.is_folder or target.rest:
            return None
        return self.by_path[target.path]

    def _target_name(self, target: ModuleTarget) -> str:
        if target.is_folder:
            base = self._namespace(target.path)
        else:
            base = self.by_path[target.path].module_name
        return ".".join([base, *target.rest]) if target.rest else base

    def _namespace(self, folder: str) -> str:
        index = self._namespace_ids.get(folder)
        if index is None:
            index = self._namespace_ids[folder] = len(self._namespaces)
            self._namespaces.append(folder)
        return f"{NAMESPACE_PREFIX}{index}>"

    def member(self, base: str, attr: str) -> str:
        """``base.attr`` where ``base`` is a namespace folder's marker name (with or without more parts)."""
        head, _, rest = base.partition(">")
        folder = self._namespaces[int(head[len(NAMESPACE_PREFIX):])]
        parts = tuple(part for part in rest.split(".") if part) + (attr,)
        target = self.map._descend(folder, parts, relative=True)
        return self._target_name(target) if target is not None else f"{base}.{attr}"

    def reached_by(self, model: "FileModel") -> set[str]:
        """Paths of the files ``model``'s imports reach (as the import graph counts them)."""
        reached = self._reached.get(model.path)
        if reached is None:
            from bnlint.import_graph import imports_of

            reached = set()
            for imported in imports_of(model.text):
                reached |= self.map.files_reached(model.path, imported)
            self._reached[model.path] = reached
        return reached

    def importers_of(self, model: "FileModel") -> list["FileModel"]:
        """The other linted files whose imports reach ``model``."""
        path = os.path.abspath(model.path)
        return [other for other in self.files if other is not model and path in self.reached_by(other)]

    def any_module_in(self, model: "FileModel", package: str) -> frozenset[str]:
        """What ``importlib.import_module(package + computed)`` gives: a marker for any module of ``package``."""
        target = self.map.resolve(model.path, package)
        if target is None or target.rest:
            return frozenset()
        folder = target.path if target.is_folder else os.path.dirname(target.path)
        if not target.is_folder and os.path.basename(target.path) != "__init__.py":
            return frozenset()
        index = self._namespace_ids.get(folder)
        if index is None:
            self._namespace(folder)
            index = self._namespace_ids[folder]
        return frozenset({f"{ANY_IN_PREFIX}{index}>"})

    def any_member(self, base: str, attr: str) -> frozenset[str]:
        """``attr`` of any module in the package an ``<any-in:N>`` marker stands for."""
        folder = self._namespaces[int(base[len(ANY_IN_PREFIX):].partition(">")[0])]
        out = set()
        for path in sorted(self.map.files_under(folder)):
            model = self.by_path.get(path)
            if model is not None and any(binding.kind in ("def", "class")
                                         for binding in model.module_scope.bindings.get(attr, ())):
                out.add(model.full_name(attr))
        return frozenset(out)

    def public_members(self, base: str) -> frozenset[str]:
        """Public top-level functions and classes of a project module (or of any module an ``<any-in:N>``
        marker stands for): what ``getattr(module, computed_name)`` may give.

        Empty for anything else, and for more than ``_MAX_PICKED_MEMBERS`` definitions: a name picked
        from a large module is a general-purpose lookup, not a choice between a few model functions.
        """
        if base.startswith(ANY_IN_PREFIX):
            folder = self._namespaces[int(base[len(ANY_IN_PREFIX):].partition(">")[0])]
            models = [self.by_path[path] for path in sorted(self.map.files_under(folder)) if path in self.by_path]
        else:
            models = [model for model in self.files if model.module_name == base]
            if len(models) != 1:
                return frozenset()
        out = set()
        for model in models:
            for name, bindings in model.module_scope.bindings.items():
                if not name.startswith("_") and any(binding.kind in ("def", "class") for binding in bindings):
                    out.add(model.full_name(name))
        return frozenset(out) if len(out) <= _MAX_PICKED_MEMBERS else frozenset()

    # --- classes --------------------------------------------------------------------------

    def class_named(self, full_name: str, near: "FileModel | None" = None) -> tuple["FileModel", str] | None:
        found = self.classes.get(full_name)
        if not found:
            return None
        return nearest(found, near, lambda item: item[0])

    def bases(self, model: "FileModel", qualname: str) -> list[str]:
        """Resolved names of a project class's bases, in order."""
        return model.base_names(qualname)

    def mro(self, full_name: str, near: "FileModel | None" = None) -> list[str]:
        """A project class and its ancestors by name, nearest first (library classes end the walk)."""
        key = (full_name, id(near))
        cached = self._mro_cache.get(key)
        if cached is None:
            cached = self._mro_cache[key] = self._mro(full_name, near)
        return cached

    def _mro(self, full_name: str, near: "FileModel | None") -> list[str]:
        out: list[str] = []
        stack = [full_name]
        while stack and len(out) < 32:
            name = stack.pop(0)
            if name in out:
                continue
            out.append(name)
            found = self.class_named(name, near)
            if found is not None:
                stack.extend(self.bases(*found))
        return out

    def subclasses(self, full_name: str) -> list[str]:
        """Project classes that inherit from ``full_name``, directly or not."""
        if self._subclasses is None:
            children: dict[str, set[str]] = defaultdict(set)
            for name, found in self.classes.items():
                for model, qualname in found:
                    for base in self.bases(model, qualname):
                        children[base].add(name)
            self._subclasses = {}
            for name in list(children):
                seen: set[str] = set()
                stack = list(children[name])
                while stack:
                    child = stack.pop()
                    if child not in seen:
                        seen.add(child)
                        stack.extend(children.get(child, ()))
                self._subclasses[name] = sorted(seen)
        return self._subclasses.get(full_name, [])

    def overrides(self, name: str, near: "FileModel | None" = None) -> list[FunctionRef]:
        """Methods overriding ``mod.C.m`` in subclasses of ``C``: ``self.m()`` in ``C`` may run any of them."""
        owner, _, method = name.replace(INSTANCE, "").rpartition(".")
        if not owner or owner not in self.classes:
            return []
        out = []
        for subclass in self.subclasses(owner):
            refs = self.functions.get(f"{subclass}.{method}")
            if refs:
                out.append(nearest(refs, near))
        if len(out) > _MAX_OVERRIDES:
            # A framework hook (``train_step`` of a library's ``Model``) that every test model overrides:
            # linking them all would make every program of the repository run every other's code.
            return []
        return out

    def instance_attribute(self, class_name: str, attr: str, depth: int) -> frozenset[str]:
        """What ``self.attr`` holds in an instance of a project class, its base classes included."""
        out: set[str] = set()
        for name in self.mro(class_name):
            found = self.class_named(name)
            if found is None:
                continue
            model, qualname = found
            values = model.class_attrs.get(qualname, {}).get(attr)
            if values:
                for value, scope in values:
                    out |= model.resolve(value, scope, depth)
                return frozenset(out)
            if f"{qualname}.{attr}" in model.functions:
                return frozenset({f"{name}{INSTANCE}.{attr}"})
        return frozenset()

    # --- functions --------------------------------------------------------------------------

    def function_for_name(self, name: str, near: "FileModel | None" = None) -> FunctionRef | None:
        """The linted function a resolved callee name denotes (``mod.f``, ``mod.C().m``, ``mod.C()``)."""
        key = (name, id(near))
        if key in self._function_cache:
            return self._function_cache[key]
        found = self._function_for_name(name, near)
        self._function_cache[key] = found
        return found

    def _function_for_name(self, name: str, near: "FileModel | None") -> FunctionRef | None:
        if name.endswith(INSTANCE):
            # Calling an instance runs Keras's ``call`` or ``__call__``.
            base = name[: -len(INSTANCE)].replace(INSTANCE, "")
            candidates = [f"{base}.call", f"{base}.__call__"]
        else:
            plain = name.replace(INSTANCE, "")
            candidates = [plain, f"{plain}.__init__"]
        for candidate in candidates:
            refs = self.functions.get(candidate)
            if refs:
                return nearest(refs, near)
        # Defined in a project base class: ``super().__init__`` chains, an inherited ``call``.
        for candidate in candidates:
            found = self._inherited(candidate, near)
            if found is not None:
                return found
        return None

    def function_named(self, name: str, near: "FileModel | None" = None) -> FunctionRef | None:
        """A project function (``mod.f``) or method (``mod.C.m``, inherited ones too) by name."""
        refs = self.functions.get(name)
        if refs:
            return nearest(refs, near)
        return self._inherited(name, near)

    def _inherited(self, name: str, near: "FileModel | None") -> FunctionRef | None:
        """``mod.C.m`` where ``m`` is defined in a base class of ``C``."""
        owner, _, method = name.rpartition(".")
        if owner and owner in self.classes:
            for ancestor in self.mro(owner, near)[1:]:
                inherited = self.functions.get(f"{ancestor}.{method}")
                if inherited:
                    return nearest(inherited, near)
        return None

    def return_values(self, model: "FileModel", info: "FunctionInfo", depth: int) -> frozenset[str]:
        """What a project function's ``return`` statements may give."""
        out: set[str] = set()
        for ret in info.returns:
            if ret.value is not None:
                out |= model.resolve(ret.value, info.scope, depth)
        return frozenset(out)

    def _call_sites(self) -> dict[str, list[tuple["FileModel", "CallSite"]]]:
        """Every call by the last name of its callee (``f(...)``, ``obj.f(...)``): candidates, resolved on demand."""
        if self._sites_by_callee is None:
            index: dict[str, list[tuple[FileModel, CallSite]]] = defaultdict(list)
            for model in self.files:
                for site in model.calls:
                    func = site.node.func
                    if isinstance(func, cst.Name):
                        index[func.value].append((model, site))
                    elif isinstance(func, cst.Attribute):
                        index[func.attr.value].append((model, site))
            self._sites_by_callee = dict(index)
        return self._sites_by_callee

    def callers_of(self, model: "FileModel", info: "FunctionInfo",
                   depth: int = 0) -> list[tuple["FileModel", "CallSite", int]]:
        """Call sites that run a function (memoised: each of its parameters asks), see ``_callers_of``."""
        cached = self._callers_cache.get(id(info))
        if cached is not None:
            return cached[1]
        found = self._callers_of(model, info, depth)
        if depth <= _CACHED_CALLERS_DEPTH:
            self._callers_cache[id(info)] = (info, found)
        return found

    def _callers_of(self, model: "FileModel", info: "FunctionInfo",
                    depth: int = 0) -> list[tuple["FileModel", "CallSite", int]]:
        """Call sites that run a function, each with how many leading parameters the call does not pass.

        A method called on an instance does not pass ``self``; a class called
        runs its ``__init__``, whose ``self`` is the new instance.
        """
        if not isinstance(info.node, cst.FunctionDef):
            return []
        name = info.node.name.value
        offset = info.bound_offset
        if info.class_qualname is not None and name == "__init__":
            name = info.class_qualname.rsplit(".", 1)[-1]
        out = []
        for caller, site in self._call_sites().get(name, ()):
            names = caller.resolve(site.node.func, site.scope, depth)
            if self._runs(caller, names, info):
                out.append((caller, site, offset))
                if len(out) >= _MAX_CALL_SITES:
                    break
        return out

    def _runs(self, caller: "FileModel", names: frozenset[str], info: "FunctionInfo") -> bool:
        """Some callee name, seen from ``caller``, denotes ``info`` (inherited methods and ``__init__`` included)."""
        for name in names:
            if name.endswith(INSTANCE):
                continue  # calling an instance runs ``call``, whose parameters are not followed
            found = self.function_for_name(name, near=caller)
            if found is not None and found.info is info:
                return True
        return False

    def called_function(self, name: str, near: "FileModel | None" = None) -> FunctionRef | None:
        """The project function (not a class: calling one builds an instance) a callee name denotes."""
        plain = name.replace(INSTANCE, "")
        return None if plain in self.classes else self.function_named(plain, near=near)

    def call_results(self, model: "FileModel", name: str, depth: int) -> frozenset[str]:
        """What calling a project function (not a class) gives: its return values."""
        found = self.called_function(name, model)
        if found is None:
            return frozenset()
        return self.return_values(found.file, found.info, depth)

    def parameter_values(self, model: "FileModel", binding: "Binding", depth: int) -> frozenset[str]:
        """What a parameter may hold: its default, and what every project call site passes for it."""
        out: set[str] = set()
        for where, expr, scope in self.parameter_arguments(model, binding, depth):
            out |= where.resolve(expr, scope, depth)
        return frozenset(out)

    def parameter_arguments(self, model: "FileModel", binding: "Binding",
                            depth: int = 0) -> list[tuple["FileModel", cst.BaseExpression, "Scope"]]:
        """The expressions a parameter may be bound to: its default, and what each project call site passes.

        Each comes with the file and scope it is evaluated in. A ``*args`` or
        ``**kwargs`` parameter, and call sites that unpack arguments, give nothing.
        """
        out: list[tuple[FileModel, cst.BaseExpression, Scope]] = []
        if binding.value is not None:
            out.append((model, binding.value, binding.scope.parent or model.module_scope))
        found = self.passed_arguments(model, binding, depth)
        if found is not None:
            out.extend(found.passed)
        return out

    def passed_arguments(self, model: "FileModel", binding: "Binding", depth: int = 0) -> "PassedArguments | None":
        """What the project's call sites pass for a parameter; None for ``*args``/``**kwargs`` or a non-parameter."""
        from bnlint.semantic import call_argument, has_star_args

        function = binding.scope.function
        if function is None or binding.param_index is None or function.params[binding.param_index].star:
            return None
        callers = self.callers_of(model, function, depth)
        passed: list[tuple[FileModel, cst.BaseExpression, Scope]] = []
        omitted = unpacked = False
        for caller, site, offset in callers:
            if has_star_args(site.node):
                unpacked = True
                continue
            position = binding.param_index - offset
            arg = call_argument(site.node, binding.name, position if position >= 0 else None)
            if arg is None:
                omitted = True
            else:
                passed.append((caller, arg.value, site.scope))
        return PassedArguments(passed, omitted, unpacked, len(callers))


class PassedArguments(NamedTuple):
    """A parameter's arguments at the project's call sites of its function."""

    passed: list[tuple["FileModel", cst.BaseExpression, "Scope"]]
    omitted: bool  # some call leaves it out: the default applies there
    unpacked: bool  # some call passes ``*args``/``**kwargs``: what it passes is unknown
    calls: int
