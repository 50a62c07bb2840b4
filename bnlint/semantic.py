"""One pass over a libcst tree that records what the rules need to know about names.

LibCST's generic metadata providers (qualified names, scopes, positions)
cost about ten times the parse on TensorFlow code. bnlint records only what
it uses, in a single traversal: scopes and their bindings (imports, defs,
assignments, parameters), every call with the ``with`` blocks around it,
functions with their parameters and returns, and ``self.attr`` assignments.
Names are resolved lazily, on demand, and memoised.

A resolved name is a canonical dotted string (see ``bnlint.names``); a call
result is written with ``()``: ``tf.train.AdamOptimizer(0.1).minimize`` resolves
to ``tensorflow.train.AdamOptimizer().minimize``.
"""

from __future__ import annotations

import builtins
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Callable, Iterator, Literal

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from bnlint.comment_edits import probe_key
from bnlint.findings import Location
from bnlint.linker import ANY_IN_PREFIX, NAMESPACE_PREFIX
from bnlint.names import canonical
from bnlint.notebook import CellMap

ScopeKind = Literal["module", "class", "function", "lambda", "comprehension"]
BindingKind = Literal["import", "def", "class", "assign", "param", "loop", "with", "other"]

_PARTIAL_NAMES = frozenset({"functools.partial"})
_IMPORT_MODULE_NAMES = frozenset({"importlib.import_module"})
# Builtins never come from a library's ``from x import *``.
_BUILTINS = frozenset(dir(builtins))
# Calls whose result holds the elements of their first argument.
_ELEMENT_PRESERVING = frozenset({"list", "tuple", "reversed", "sorted", "set", "iter"})
# Methods that put their last argument (``extend``: its elements) into a container.
_ADDING_METHODS = frozenset({"append", "insert", "add"})

# How deep resolution follows assignments (``a = b``; ``b = c``; ...).
_MAX_RESOLVE_DEPTH = 12
# Bindings resolved at most this deep are memoised (deeper answers may be cut short by the bound).
_CACHED_BINDING_DEPTH = 3
INSTANCE = "()"


@dataclass(eq=False, slots=True)
class Scope:
    """A Python scope: the module, a class body, a function or lambda, a comprehension."""

    kind: ScopeKind
    node: cst.CSTNode
    parent: "Scope | None"
    qualname: str
    bindings: dict[str, list["Binding"]] = field(default_factory=dict)
    function: "FunctionInfo | None" = None
    class_qualname: str | None = None  # for class scopes and methods' scopes

    def bind(self, binding: "Binding") -> None:
        self.bindings.setdefault(binding.name, []).append(binding)


@dataclass(eq=False, slots=True)
class Binding:
    """One place a name gets a value."""

    name: str
    kind: BindingKind
    scope: Scope
    node: cst.CSTNode
    order: int
    value: cst.BaseExpression | None = None
    imported: str | None = None  # dotted name for imports (relative ones start with dots)
    unpack: tuple[int, ...] = ()  # index path when the target was a tuple/list
    blocks: tuple[int, ...] = ()  # ids of the compound statements around the binding
    param_index: int | None = None


@dataclass(eq=False, slots=True)
class WithFrame:
    """One item of a ``with`` statement enclosing a call."""

    item: cst.WithItem
    call: cst.Call | None
    order: int
    scope: Scope
    body: cst.BaseSuite


@dataclass(eq=False, slots=True)
class CallSite:
    """A call expression and its lexical surroundings."""

    node: cst.Call
    scope: Scope
    order: int
    withs: tuple[WithFrame, ...]
    enclosing_calls: tuple[cst.Call, ...]
    statement: cst.CSTNode | None
    assigned_to: tuple[str, ...]
    blocks: tuple[int, ...]


@dataclass(eq=False, slots=True)
class FunctionInfo:
    """A ``def`` (or lambda) with its parameters, returns and the calls in its body."""

    node: cst.FunctionDef | cst.Lambda
    scope: Scope
    qualname: str
    params: list[cst.Param]
    returns: list[cst.Return] = field(default_factory=list)
    calls: list[CallSite] = field(default_factory=list)
    class_qualname: str | None = None

    @property
    def name(self) -> str:
        return self.node.name.value if isinstance(self.node, cst.FunctionDef) else "<lambda>"

    @property
    def bound_offset(self) -> int:
        """Leading parameters a call through an instance or class leaves out: ``self`` or ``cls``; none when static."""
        if not self.class_qualname or not isinstance(self.node, cst.FunctionDef):
            return 0
        static = any(dotted(decorator.decorator) == "staticmethod" for decorator in self.node.decorators)
        return 0 if static else 1

    def param_named(self, name: str) -> tuple[int, cst.Param] | None:
        for index, param in enumerate(self.params):
            if param.name.value == name:
                return index, param
        return None


# Distinct answers of ``FileModel.resolve`` (sets of canonical names; no syntax trees), shared by every model.
_ANSWERS: dict[frozenset[str], frozenset[str]] = {}


class FileModel:
    """What bnlint knows about one parsed file."""

    def __init__(self, module: cst.Module, path: str, module_name: str, text: str | None = None) -> None:
        self.module = module
        self.path = path
        self.module_name = module_name
        # The source the module was parsed from; ``module.code`` would regenerate it on every access.
        self._text = text
        self.module_scope = Scope("module", module, None, "")
        self.scopes: list[Scope] = [self.module_scope]
        self.calls: list[CallSite] = []
        self.functions: dict[str, FunctionInfo] = {}  # module-relative qualname -> info
        self.function_by_node: dict[int, FunctionInfo] = {}
        self.class_attrs: dict[str, dict[str, list[tuple[cst.BaseExpression, Scope]]]] = {}
        self.class_bases: dict[str, list[cst.Arg]] = {}
        self.class_scopes: dict[str, Scope] = {}
        self.call_by_node: dict[int, CallSite] = {}
        # ``from m import *`` statements, in order (bindings of kind "import" named "*").
        self.star_imports: list[Binding] = []
        self._star_bindings: dict[str, list[Binding]] = {}
        self._scope_by_node: dict[int, Scope] | None = None
        self._adders: dict[str, list[CallSite]] | None = None
        self._binding_cache: dict[int, tuple[Binding, frozenset[str]]] = {}
        self._element_cache: dict[tuple[int, int, int | None], list[tuple[FileModel, cst.BaseExpression, Scope]]] = {}
        # Set by the project index: answers what lies in other files (``bnlint.linker``).
        self.linker = None
        # Keyed by one int packing the expression's and the scope's ids: a tuple of two ints
        # took three objects per entry (hundreds of thousands of entries on a large project).
        self._resolve_cache: dict[int, frozenset[str]] = {}
        self._if_statements: dict[int, list[cst.If]] = {}
        self._positions = None
        # Set by the engine for notebooks: maps rows of the joined cells back to cells.
        self.cells: CellMap | None = None
        # What rules asked of the raw text (``mentions``), as ``bnlint.comment_edits`` keys.
        self.text_probes: set[str] = set()
        # The last row any position asked of this file reached (``span``); 0 when none was asked.
        self.rows_asked = 0
        # Whether any rule copied a node's source text (``code``), which may hold comments between brackets.
        self.quoted = False
        _Collector(self).collect()

    def release(self) -> None:
        """Break the model's reference cycles; the model is unusable afterwards.

        Scopes and their bindings or functions point at each other, and facts that
        rules cache on the model point back at it. Left alone, a finished run's
        trees are garbage only the cycle collector can free: on the 1,840-file
        corpus that was one 10 s collection of 8.9 million objects, paid at exit or
        in the middle of the next run. With the cycles broken, reference counting
        frees each tree at once.
        """
        for scope in self.scopes:
            scope.bindings = {}
            scope.function = None
            scope.parent = None
        vars(self).clear()

    # --- names -----------------------------------------------------------------------

    def full_name(self, qualname: str) -> str:
        """The dotted name of something defined in this file."""
        return f"{self.module_name}.{qualname}" if self.module_name else qualname

    def lookup(self, name: str, scope: Scope) -> list[Binding]:
        """Bindings of ``name`` visible from ``scope`` under Python's rules (class bodies are skipped)."""
        current: Scope | None = scope
        first = True
        while current is not None:
            if current.kind != "class" or first:
                found = current.bindings.get(name)
                if found:
                    return found
            first = False
            current = current.parent
        if self.star_imports:
            return self._star_lookup(name)
        return []

    def _star_lookup(self, name: str) -> list[Binding]:
        """A binding for ``name`` from the file's ``from m import *`` statements; [] when none provides it.

        A project module provides its public top-level names (or those in its
        ``__all__``); a library module is taken to provide any name that is not
        a builtin, the last such import winning, as in Python.
        """
        cached = self._star_bindings.get(name)
        if cached is not None:
            return cached
        self._star_bindings[name] = []  # a cycle of star imports ends here
        found: list[Binding] = []
        library: Binding | None = None
        for star in reversed(self.star_imports):
            source = self.linker.star_source(self, star.imported or "") if self.linker is not None else None
            if source is None:
                if library is None and name not in _BUILTINS:
                    library = star
                continue
            if source is not self and source.exports(name):
                found = [Binding(name, "import", self.module_scope, star.node, star.order,
                                 imported=f"{star.imported}.{name}")]
                break
        if not found and library is not None:
            found = [Binding(name, "import", self.module_scope, library.node, library.order,
                             imported=f"{library.imported}.{name}")]
        self._star_bindings[name] = found
        return found

    def exports(self, name: str) -> bool:
        """``from this_module import *`` binds ``name``."""
        if name.startswith("_"):
            return False
        listed = self.module_scope.bindings.get("__all__")
        if listed and listed[-1].value is not None:
            names = _string_items(listed[-1].value)
            if names is not None:
                return name in names
        return bool(self.lookup(name, self.module_scope))

    def resolve(self, expr: cst.BaseExpression, scope: Scope, _depth: int = 0) -> frozenset[str]:
        """Every canonical dotted name ``expr`` may denote; empty when unknown."""
        key = id(expr) << 64 | id(scope)  # expression_in_scope(expr, scope), inlined: the hottest call of a run
        cached = self._resolve_cache.get(key)
        if cached is not None:
            return cached
        if _depth > _MAX_RESOLVE_DEPTH:
            return frozenset()
        # Guard against cycles (``x = x.y``): provisional empty answer while resolving.
        self._resolve_cache[key] = frozenset()
        result = self._resolve_uncached(expr, scope, _depth + 1)
        # One object per distinct answer: the cache holds hundreds of thousands of them, mostly the same few names.
        result = _ANSWERS.setdefault(result, result)
        self._resolve_cache[key] = result
        return result

    def _resolve_uncached(self, expr: cst.BaseExpression, scope: Scope, depth: int) -> frozenset[str]:
        if isinstance(expr, cst.Name):
            names: set[str] = set()
            for binding in self.lookup(expr.value, scope):
                names |= self._resolve_binding(binding, depth)
            return frozenset(names)
        if isinstance(expr, cst.Attribute):
            return self._resolve_attribute(expr, scope, depth)
        if isinstance(expr, cst.Call):
            return self._resolve_call(expr, scope, depth)
        if isinstance(expr, cst.IfExp):
            # ``layers = tf.keras.layers if keras else tf.layers``: either.
            return self.resolve(expr.body, scope, depth) | self.resolve(expr.orelse, scope, depth)
        if isinstance(expr, cst.BooleanOperation):
            return self.resolve(expr.left, scope, depth) | self.resolve(expr.right, scope, depth)
        if isinstance(expr, cst.Subscript):
            # ``blocks[i]``, ``models[name]``: an element of the container.
            out = set()
            for model, element, element_scope in self.element_expressions(expr.value, scope, literal_index(expr),
                                                                          depth):
                out |= model.resolve(element, element_scope, depth)
            return frozenset(out)
        return frozenset()

    def _resolve_attribute(self, expr: cst.Attribute, scope: Scope, depth: int) -> frozenset[str]:
        return self._members(self.resolve(expr.value, scope, depth), expr.attr.value, depth)

    def _getattr(self, obj: cst.BaseExpression, attr: cst.BaseExpression, scope: Scope,
                 depth: int) -> frozenset[str]:
        """``getattr(module, "name")`` is ``module.name``; with a computed name, any public definition of the module.

        A function picked by name from a module loaded by name
        (``getattr(importlib.import_module(pkg + kind), fn_name)``) is one of
        those modules' public top-level functions or classes. Of anything
        else (an object, a library module) a computed attribute is unknown.
        """
        bases = self.resolve(obj, scope, depth)
        if isinstance(attr, cst.SimpleString) and isinstance(attr.evaluated_value, str):
            return self._members(bases, attr.evaluated_value, depth)
        if self.linker is None:
            return frozenset()
        out: set[str] = set()
        for base in bases:
            out |= self.linker.public_members(base)
        return frozenset(out)

    def _members(self, bases: frozenset[str], attr: str, depth: int) -> frozenset[str]:
        out: set[str] = set()
        for base in bases:
            if base.startswith(NAMESPACE_PREFIX) and self.linker is not None:
                out.add(self.linker.member(base, attr))
                continue
            if base.startswith(ANY_IN_PREFIX) and self.linker is not None:
                out |= self.linker.any_member(base, attr)
                continue
            if base.endswith(INSTANCE):
                instance_values = self._instance_attribute(base[: -len(INSTANCE)], attr, depth)
                if instance_values:
                    out |= instance_values
                    continue
            out.add(canonical(f"{base}.{attr}"))
        return frozenset(out)

    def _resolve_call(self, expr: cst.Call, scope: Scope, depth: int) -> frozenset[str]:
        func = expr.func
        if isinstance(func, cst.Name) and not self.lookup(func.value, scope):
            if func.value == "super":
                return self._super_instance(scope, depth)
            if func.value == "__import__" and expr.args:
                return self._imported_module(expr.args[0].value, scope)
            if func.value == "getattr" and len(expr.args) >= 2 and all(arg.keyword is None for arg in expr.args[:2]):
                return self._getattr(expr.args[0].value, expr.args[1].value, scope, depth)
        out: set[str] = set()
        for name in self.resolve(func, scope, depth):
            if name in _PARTIAL_NAMES and expr.args:
                # ``partial(f, ...)`` calls ``f`` when called.
                out |= self.resolve(expr.args[0].value, scope, depth)
                continue
            if name in _IMPORT_MODULE_NAMES and expr.args:
                out |= self._imported_module(expr.args[0].value, scope)
                continue
            out.add(name + INSTANCE)
            if self.linker is not None and depth <= _MAX_RESOLVE_DEPTH:
                # A project function's call is what it returns (a factory's class or layer).
                out |= self.linker.call_results(self, name, depth)
        return frozenset(out)

    def _super_instance(self, scope: Scope, depth: int) -> frozenset[str]:
        """``super()`` in a method: an instance of each base class of the enclosing class."""
        function = self.enclosing_function(scope)
        if function is None or function.class_qualname is None:
            return frozenset()
        return frozenset(name + INSTANCE for name in self.base_names(function.class_qualname, depth))

    def base_names(self, class_qualname: str, depth: int = 0) -> list[str]:
        """Resolved names of a class's positional bases, in order (``metaclass=`` and such left out)."""
        class_scope = self.class_scopes.get(class_qualname)
        parent = class_scope.parent if class_scope is not None and class_scope.parent else self.module_scope
        out: list[str] = []
        for arg in self.class_bases.get(class_qualname, []):
            if arg.keyword is None:
                out.extend(sorted(self.resolve(arg.value, parent, depth)))
        return out

    def _imported_module(self, arg: cst.BaseExpression, scope: Scope) -> frozenset[str]:
        """``importlib.import_module(name)``: that module; any module of a package for ``"pkg." + computed``."""
        def assigned_once(name: cst.Name) -> cst.BaseExpression | None:
            bindings = self.lookup(name.value, scope)
            if len(bindings) == 1 and bindings[0].kind == "assign" and not bindings[0].unpack:
                return bindings[0].value
            return None

        name, complete = module_name_literal(arg, self.module_name if self.path.endswith("__init__.py") else None,
                                             assigned_once)
        if not name:
            return frozenset()
        if complete:
            binding = Binding(name, "import", self.module_scope, arg, 0, imported=name)
            return self._resolve_binding(binding, 0)
        package = name.rpartition(".")[0]
        if not package or self.linker is None:
            return frozenset()
        return self.linker.any_module_in(self, package)

    def resolve_binding(self, binding: Binding, depth: int = 0) -> frozenset[str]:
        """Every canonical name a binding of this file may give its name."""
        return self._resolve_binding(binding, depth)

    def _resolve_binding(self, binding: Binding, depth: int) -> frozenset[str]:
        if binding.kind not in ("param", "loop", "import") or depth > _CACHED_BINDING_DEPTH:
            # Deep in a chain an answer may be cut short by the depth bound: do not keep it.
            return self._resolve_binding_uncached(binding, depth)
        # Every use of a parameter, loop variable or import asks the same question: answer it once.
        # The binding is kept with its answer, so its id cannot be reused while the entry lives.
        cached = self._binding_cache.get(id(binding))
        if cached is not None:
            return cached[1]
        self._binding_cache[id(binding)] = (binding, frozenset())
        result = self._resolve_binding_uncached(binding, depth)
        self._binding_cache[id(binding)] = (binding, result)
        return result

    def _resolve_binding_uncached(self, binding: Binding, depth: int) -> frozenset[str]:
        if binding.kind == "import":
            if self.linker is not None:
                linked = self.linker.import_names(self, binding.imported or "", depth)
                if linked is not None:
                    return linked
            return frozenset({canonical(self._absolute_import(binding.imported or ""))})
        if binding.kind in ("def", "class"):
            return frozenset({self.full_name(child_qualname(binding.scope, binding.name))})
        if binding.kind in ("assign", "with") and binding.value is not None and not binding.unpack:
            return self.resolve(binding.value, binding.scope, depth)
        if binding.kind in ("loop", "assign") and binding.value is not None:
            # A loop variable, or a name unpacked from a tuple: ``conv, norm = make_block()``.
            return self._loop_values(binding, depth)
        if binding.kind == "param":
            function = binding.scope.function
            if binding.param_index == 0 and function is not None and function.class_qualname \
                    and not _is_static(function.node):
                # ``self`` in a method is an instance of the enclosing class.
                return frozenset({self.full_name(function.class_qualname) + INSTANCE})
            if self.linker is not None and depth <= _MAX_RESOLVE_DEPTH:
                return self.linker.parameter_values(self, binding, depth)
        return frozenset()

    def _loop_values(self, binding: Binding, depth: int) -> frozenset[str]:
        """What a loop variable takes: the elements of what it iterates over (unpacked by position)."""
        out: set[str] = set()
        for model, expr, scope in self.bound_expressions(binding, depth):
            out |= model.resolve(expr, scope, depth)
        return frozenset(out)

    def bound_expressions(self, binding: Binding, depth: int = 0) -> list[tuple["FileModel", cst.BaseExpression, Scope]]:
        """The expressions an assignment or loop binding takes its value from, unpacking included.

        ``a, b = make()`` binds ``b`` to the second element of what ``make``
        returns; ``for i, (conv, norm) in enumerate(blocks)`` binds ``norm`` to
        the second element of each element of ``blocks``.
        """
        value = binding.value
        if value is None:
            return []
        path = binding.unpack
        found: list[tuple[FileModel, cst.BaseExpression, Scope]] = [(self, value, binding.scope)]
        if binding.kind == "loop":
            found = []
            if path[:1] == (1,) and isinstance(value, cst.Call) and value.args and \
                    isinstance(value.func, cst.Name) and value.func.value == "enumerate":
                found, path = self.element_expressions(value.args[0].value, binding.scope, None, depth), path[1:]
            elif path[:1] == (1,) and isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
                    and value.func.attr.value == "items":
                found, path = self.element_expressions(value.func.value, binding.scope, None, depth), path[1:]
            elif path[:1] != (1,) or not isinstance(value, cst.Call):
                found = self.element_expressions(value, binding.scope, None, depth)
        for index in path:
            found = [item for model, expr, scope in found
                     for item in model.element_expressions(expr, scope, index if index >= 0 else None, depth)]
        return found

    def element_values(self, expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> frozenset[str]:
        """What the elements of a container may be (a list, tuple, set or dict's values)."""
        out: set[str] = set()
        for model, element, element_scope in self.element_expressions(expr, scope, None, depth):
            out |= model.resolve(element, element_scope, depth + 1)
        return frozenset(out)

    def element_expressions(self, expr: cst.BaseExpression, scope: Scope, index: int | None,
                            depth: int = 0) -> list[tuple["FileModel", cst.BaseExpression, Scope]]:
        """The expressions a container's elements come from (the ``index``-th only, where that is known).

        Memoised like ``resolve`` (a list of lists of names fans out quickly),
        with an empty provisional answer that ends cycles (``x = x + [y]``).
        """
        if depth > _MAX_RESOLVE_DEPTH:
            return []
        key = (id(expr), id(scope), index)
        cached = self._element_cache.get(key)
        if cached is not None:
            return cached
        self._element_cache[key] = []
        found = self._element_expressions(expr, scope, index, depth + 1)
        # Each (file, expression, scope) once: many paths lead to the same element.
        unique = list({(id(model), id(element)): (model, element, element_scope)
                       for model, element, element_scope in found}.values())
        self._element_cache[key] = unique
        return unique

    def _element_expressions(self, expr: cst.BaseExpression, scope: Scope, index: int | None,
                             depth: int) -> list[tuple["FileModel", cst.BaseExpression, Scope]]:
        out: list[tuple[FileModel, cst.BaseExpression, Scope]] = []
        if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
            elements = expr.elements
            if index is not None and not isinstance(expr, cst.Set) and index < len(elements) and \
                    not any(isinstance(element, cst.StarredElement) for element in elements[: index + 1]):
                return [(self, elements[index].value, scope)]
            for element in elements:
                if isinstance(element, cst.StarredElement):
                    out.extend(self.element_expressions(element.value, scope, None, depth))
                else:
                    out.append((self, element.value, scope))
        elif isinstance(expr, cst.Dict):
            out.extend((self, element.value, scope) for element in expr.elements if isinstance(element, cst.DictElement))
        elif isinstance(expr, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            inner = self.scope_of(expr) or scope
            out.append((self, expr.value if isinstance(expr, cst.DictComp) else expr.elt, inner))
        elif isinstance(expr, cst.IfExp):
            out.extend(self.element_expressions(expr.body, scope, index, depth))
            out.extend(self.element_expressions(expr.orelse, scope, index, depth))
        elif isinstance(expr, cst.Subscript):
            position = literal_index(expr)
            for model, inner, inner_scope in self.element_expressions(expr.value, scope, position, depth):
                out.extend(model.element_expressions(inner, inner_scope, index, depth))
        elif isinstance(expr, cst.Call):
            out.extend(self._call_elements(expr, scope, index, depth))
        elif isinstance(expr, cst.Name):
            bindings = self.lookup(expr.value, scope)
            for binding in bindings:
                if binding.kind in ("assign", "loop") and binding.value is not None:
                    for model, value, value_scope in self.bound_expressions(binding, depth):
                        out.extend(model.element_expressions(value, value_scope, index, depth))
                elif binding.kind == "param" and self.linker is not None:
                    for model, value, value_scope in self.linker.parameter_arguments(self, binding, depth):
                        out.extend(model.element_expressions(value, value_scope, index, depth))
            out.extend(self._added_elements(expr.value, bindings))
        elif isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            function = self.enclosing_function(scope)
            if function is not None and function.class_qualname and function.params \
                    and function.params[0].name.value == expr.value.value:
                for value, value_scope in self.class_attrs.get(function.class_qualname, {}).get(expr.attr.value, []):
                    out.extend(self.element_expressions(value, value_scope, index, depth))
                out.extend(self._added_elements(f"{expr.value.value}.{expr.attr.value}", None))
        return out

    def _call_elements(self, call: cst.Call, scope: Scope, index: int | None,
                       depth: int) -> list[tuple["FileModel", cst.BaseExpression, Scope]]:
        """Elements of what a call returns: ``list(x)``, ``d.values()``, or a project function's returned container."""
        func = call.func
        if isinstance(func, cst.Name) and func.value in _ELEMENT_PRESERVING and call.args:
            keeps_order = func.value in ("list", "tuple")
            return self.element_expressions(call.args[0].value, scope, index if keeps_order else None, depth)
        if isinstance(func, cst.Attribute) and func.attr.value == "values" and not call.args:
            return self.element_expressions(func.value, scope, None, depth)
        out: list[tuple[FileModel, cst.BaseExpression, Scope]] = []
        if self.linker is None:
            return out
        for name in self.resolve(func, scope, depth):
            found = self.linker.called_function(name, self)
            if found is None:
                continue
            for ret in found.info.returns:
                if ret.value is not None:
                    out.extend(found.file.element_expressions(ret.value, found.info.scope, index, depth))
        return out

    def _added_elements(self, receiver: str,
                        bindings: list[Binding] | None) -> list[tuple["FileModel", cst.BaseExpression, Scope]]:
        """Values put into a container by ``c.append(v)``/``c.insert(i, v)`` (``c.extend(vs)``: its elements).

        ``receiver`` is the container as written: ``layers`` (then only calls
        that see the same ``bindings`` count) or ``self.layers``.
        """
        if self._adders is None:
            self._adders = {}
            for site in self.calls:
                func = site.node.func
                if isinstance(func, cst.Attribute) and site.node.args and \
                        (func.attr.value in _ADDING_METHODS or func.attr.value == "extend"):
                    written = dotted(func.value)
                    if written is not None and written.count(".") <= 1:
                        self._adders.setdefault(written, []).append(site)
        out: list[tuple[FileModel, cst.BaseExpression, Scope]] = []
        for site in self._adders.get(receiver, ()):
            func = site.node.func
            assert isinstance(func, cst.Attribute)
            if bindings is not None and self.lookup(receiver, site.scope) is not bindings:
                continue
            last = site.node.args[-1].value
            if func.attr.value == "extend":
                out.extend(self.element_expressions(last, site.scope, None))
            else:
                out.append((self, last, site.scope))
        return out

    def scope_of(self, node: cst.CSTNode) -> Scope | None:
        """The scope a def, lambda, class or comprehension node opens."""
        if self._scope_by_node is None:
            self._scope_by_node = {id(scope.node): scope for scope in self.scopes}
        return self._scope_by_node.get(id(node))

    def _instance_attribute(self, class_name: str, attr: str, depth: int) -> frozenset[str]:
        prefix = f"{self.module_name}." if self.module_name else ""
        attrs = self.class_attrs.get(class_name[len(prefix):], {}).get(attr) \
            if class_name.startswith(prefix) else None
        if not attrs:
            # Set in another file's class, or in a base class.
            if self.linker is not None:
                return self.linker.instance_attribute(class_name, attr, depth)
            return frozenset()
        out: set[str] = set()
        for value, scope in attrs:
            out |= self.resolve(value, scope, depth)
        return frozenset(out)

    def _absolute_import(self, dotted: str) -> str:
        if not dotted.startswith("."):
            return dotted
        level = len(dotted) - len(dotted.lstrip("."))
        rest = dotted[level:]
        parts = self.module_name.split(".") if self.module_name else []
        is_package = self.path.endswith("__init__.py")
        package = parts if is_package else parts[:-1]
        if level - 1 > len(package):
            return rest
        base = package[: len(package) - (level - 1)]
        return ".".join([*base, rest] if rest else base)

    def call_names(self, call: CallSite | cst.Call, scope: Scope | None = None) -> frozenset[str]:
        """Names the callee of a call may denote."""
        if isinstance(call, CallSite):
            return self.resolve(call.node.func, call.scope)
        site = self.call_by_node.get(id(call))
        return self.resolve(call.func, scope or (site.scope if site else self.module_scope))

    # --- source -----------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The file's source text (libcst round-trips it exactly), generated at most once."""
        if self._text is None:
            self._text = self.module.code
        return self._text

    def mentions(self, needle: "str | re.Pattern[str]") -> bool:
        """Whether the source text, comments included, holds ``needle`` (a substring, or a regex that matches).

        Rules and facts ask the raw text through here, never through ``text``:
        a substring test that spares walking a tree, or a word looked for in
        importing files. Each question is logged so that after an edit of
        comments alone the cache can ask it again of the old and the new text
        (``bnlint.comment_edits``): a comment that changes an answer is a real change.
        """
        self.text_probes.add(probe_key(needle))
        return needle in self.text if isinstance(needle, str) else needle.search(self.text) is not None

    def code(self, node: cst.CSTNode) -> str:
        """Source text of a node, on one line."""
        # Logged for the cache: text of this file may now be in a message, comments between brackets included.
        self.quoted = True
        return " ".join(self.module.code_for_node(node).split())

    def _position_map(self):
        if self._positions is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        return self._positions

    def span(self, node: cst.CSTNode) -> tuple[Location, Location]:
        """1-based start and end of a node. Computed lazily: only files with findings pay for it."""
        code_range: CodeRange = self._position_map()[node]
        # Logged for the cache: an edit of comments that moves only rows below this one moves nothing anyone read.
        if code_range.end.line > self.rows_asked:
            self.rows_asked = code_range.end.line
        return (
            Location(code_range.start.line, code_range.start.column + 1),
            Location(code_range.end.line, code_range.end.column + 1),
        )

    def line(self, node: cst.CSTNode) -> int:
        return self.span(node)[0].row

    def place(self, node: cst.CSTNode, with_path: bool = False) -> str:
        """Where a node is, for messages: ``line 12``, ``cell 3, line 2`` in a notebook, or ``model.py:12``."""
        row = self.line(node)
        name = self.path.replace("\\", "/").rsplit("/", 1)[-1]
        if self.cells is not None:
            cell, row = self.cells.locate(row)
            return f"{name}:cell {cell}:{row}" if with_path else f"cell {cell}, line {row}"
        return f"{name}:{row}" if with_path else f"line {row}"

    # --- queries -----------------------------------------------------------------------

    def is_module_global(self, name: str, scope: Scope) -> bool:
        """``name`` read in ``scope`` is a module-level name of this file (no local or enclosing binding)."""
        bindings = self.lookup(name, scope)
        return bool(bindings) and all(binding.scope is self.module_scope for binding in bindings)

    def ifs_around(self, site: CallSite) -> list[cst.If]:
        """The ``if`` statements whose body (not their ``else``/``elif``) holds a call, outermost first."""
        if not site.blocks:
            return []
        function = self.enclosing_function(site.scope)
        root: cst.CSTNode = function.node if function is not None else self.module
        statements = self._if_statements.get(id(root))
        if statements is None:
            # ``walk`` yields a statement before anything inside it: outermost first.
            statements = self._if_statements[id(root)] = [node for node in walk(root) if isinstance(node, cst.If)]
        blocks = set(site.blocks)
        return [node for node in statements
                if id(node) in blocks and not (node.orelse is not None and contains(node.orelse, site.node))]

    def attribute_values(self, expr: cst.Attribute, scope: Scope) -> list[tuple[cst.BaseExpression, Scope]]:
        """What the class's methods assign to ``self.<attr>``, for ``expr`` read where ``self`` is a method's receiver.

        The receiver is found by name, so a closure inside the method (a ``tf.cond``
        branch function) reads the method's ``self`` too. [] for any other receiver.
        """
        if not isinstance(expr.value, cst.Name):
            return []
        for binding in self.lookup(expr.value.value, scope):
            function = binding.scope.function
            if binding.kind == "param" and binding.param_index == 0 and function is not None \
                    and function.class_qualname and not _is_static(function.node):
                return self.class_attrs.get(function.class_qualname, {}).get(expr.attr.value, [])
        return []

    def enclosing_function(self, scope: Scope) -> FunctionInfo | None:
        """The nearest ``def`` around a scope (lambdas and comprehensions are transparent)."""
        current: Scope | None = scope
        while current is not None:
            if current.kind == "function":
                return current.function
            if current.kind in ("module", "class"):
                return None
            current = current.parent
        return None

    def unit_name(self, scope: Scope) -> str:
        """Identity of the code unit a scope belongs to: its function, or the module's top level.

        Units are keyed by file path, not module name: two scripts named ``train.py``
        in one run are different programs.
        """
        function = self.enclosing_function(scope)
        return self.function_unit(function) if function is not None else f"{self.path}::<module>"

    def function_unit(self, function: "FunctionInfo") -> str:
        """Identity of a function of this file for the call graph."""
        return f"{self.path}::{function.qualname}"


def expression_in_scope(expr: cst.CSTNode, scope: Scope) -> int:
    """One number per (expression, scope) pair, for memos and cycle checks over pairs that stay alive.

    Both ids are kept whole (an id is below 2**64). ``id(expr) << 1 ^ id(scope)``
    made unrelated pairs collide: value origins took a path not yet followed for
    a cycle, and a BN003 of the fixtures came and went with where objects lay in memory.
    """
    return id(expr) << 64 | id(scope)


def child_qualname(parent: Scope, name: str) -> str:
    """Python's ``__qualname__`` of a def or class named ``name`` defined in ``parent``."""
    if parent.kind == "function":
        return f"{parent.qualname}.<locals>.{name}"
    return f"{parent.qualname}.{name}" if parent.qualname else name


def _is_static(node: cst.CSTNode) -> bool:
    if not isinstance(node, cst.FunctionDef):
        return False
    for decorator in node.decorators:
        dec = decorator.decorator
        if isinstance(dec, cst.Name) and dec.value in ("staticmethod", "classmethod"):
            return True
    return False


# Fields that hold only whitespace, brackets and punctuation: walking them is wasted time.
_PUNCTUATION_FIELDS = re.compile(
    r"^(whitespace\w*|leading_lines|lines_after_decorators|lpar|rpar|equal|comma|dot|semicolon|colon|"
    r"header|footer|asynchronous|star_tok|arrow|walrus|lbracket|rbracket|lbrace|rbrace|newline|"
    r"trailing_whitespace|first_line|empty_lines|default_indent|default_newline)$"
)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def child_nodes(node: cst.CSTNode) -> list[cst.CSTNode]:
    """A node's semantic children in field order, without rebuilding the node.

    ``CSTNode.children`` and ``CSTNode.visit`` re-create every node they pass
    (libcst's visitor is also a transformer); on TensorFlow code that cost twice
    the parse. Reading the dataclass fields directly costs a fraction of it.
    """
    fields = _CHILD_FIELDS.get(type(node))
    if fields is None:
        fields = tuple(f.name for f in dataclasses.fields(node) if not _PUNCTUATION_FIELDS.match(f.name))
        _CHILD_FIELDS[type(node)] = fields
    out: list[cst.CSTNode] = []
    for name in fields:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out.extend(item for item in value if isinstance(item, cst.CSTNode))
    return out


def iter_names(node: cst.CSTNode, nested: bool = False) -> Iterator[cst.Name]:
    """Every ``Name`` in a subtree except attribute names; nested ``def``s and classes only with ``nested``."""
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            yield current
            continue
        if not nested and current is not node and isinstance(current, (cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(current, cst.Attribute):
            stack.append(current.value)
            continue
        stack.extend(reversed(child_nodes(current)))


def walk(root: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node of a subtree, ``root`` included (reads fields; rebuilds nothing)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child_nodes(node))


def contains(root: cst.CSTNode, target: cst.CSTNode) -> bool:
    """``target`` (by identity) is ``root`` or inside it."""
    return any(node is target for node in walk(root))


def dotted(expr: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if isinstance(expr, cst.Name):
        parts.append(expr.value)
        return ".".join(reversed(parts))
    return None


def _attribute_dotted(node: cst.BaseExpression) -> str:
    return dotted(node) or ""


# Node type -> the collector's (visit_X, leave_X) functions. Kept per class, not per collector:
# bound methods cached on the instance made each collector a reference cycle holding its model.
_HANDLERS: dict[type, tuple] = {}


class _Collector:
    """Fills a FileModel in one traversal (``visit_X``/``leave_X`` methods, as in libcst)."""

    def __init__(self, model: FileModel) -> None:
        self.model = model
        self.scope = model.module_scope
        self.order = 0
        self.withs: list[WithFrame] = []
        self.saved_withs: list[list[WithFrame]] = []
        self.calls: list[cst.Call] = []
        self.saved_calls: list[list[cst.Call]] = []
        self.blocks: list[int] = []
        self.statement: cst.CSTNode | None = None
        self.assign_targets: dict[int, tuple[str, ...]] = {}

    def collect(self) -> None:
        self._walk(self.model.module)

    def _walk(self, node: cst.CSTNode) -> None:
        handlers = _HANDLERS.get(type(node))
        if handlers is None:
            name = type(node).__name__
            handlers = (getattr(_Collector, f"visit_{name}", None), getattr(_Collector, f"leave_{name}", None))
            _HANDLERS[type(node)] = handlers
        visit, leave = handlers
        if visit is not None:
            visit(self, node)
        for child in child_nodes(node):
            self._walk(child)
        if leave is not None:
            leave(self, node)

    # --- helpers ------------------------------------------------------------------------

    def _next(self) -> int:
        self.order += 1
        return self.order

    def _bind(self, name: str, kind: BindingKind, node: cst.CSTNode, **kw) -> None:
        target = self.scope
        if kind not in ("param",) and target.kind == "comprehension" and kind != "loop":
            target = target.parent or target
        target.bind(Binding(name, kind, target, node, self._next(), blocks=tuple(self.blocks), **kw))

    def _bind_target(self, target: cst.BaseExpression, kind: BindingKind, node: cst.CSTNode,
                     value: cst.BaseExpression | None, unpack: tuple[int, ...] = ()) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value, kind, node, value=value, unpack=unpack)
        elif isinstance(target, (cst.Tuple, cst.List)):
            if kind == "assign" and not unpack and _same_shape_display(target, value):
                # ``g, d = make_g(), make_d()`` binds each name as its own assignment would (``d = make_d()``),
                # so whatever reads a plain assignment's value reads this one's too.
                assert isinstance(value, (cst.Tuple, cst.List))
                for element, item in zip(target.elements, value.elements):
                    self._bind_target(element.value, kind, node, item.value)
                return
            for index, element in enumerate(target.elements):
                inner = element.value
                if isinstance(inner, cst.StarredElement):
                    inner = inner.value
                self._bind_target(inner, kind, node, value, unpack + (index,))
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, kind, node, value, unpack + (-1,))
        elif isinstance(target, cst.Attribute) and kind == "assign" and value is not None \
                and all(index >= 0 for index in unpack):
            # ``self.conv, self.norm = layers``: the attribute holds that element of the value.
            for index in unpack:
                value = cst.Subscript(value=value, slice=[cst.SubscriptElement(cst.Index(cst.Integer(str(index))))])
            self._record_self_attribute(target, value)

    def _record_self_attribute(self, target: cst.Attribute, value: cst.BaseExpression) -> None:
        if not isinstance(target.value, cst.Name):
            return
        function = self.model.enclosing_function(self.scope)
        if function is None or not function.class_qualname or not function.params:
            return
        if function.params[0].name.value != target.value.value:
            return
        attrs = self.model.class_attrs.setdefault(function.class_qualname, {})
        attrs.setdefault(target.attr.value, []).append((value, self.scope))

    def _push_scope(self, kind: ScopeKind, node: cst.CSTNode, name: str) -> Scope:
        parent = self.scope
        if kind == "comprehension" or kind == "lambda":
            qualname = parent.qualname
        else:
            qualname = child_qualname(parent, name)
        scope = Scope(kind, node, parent, qualname)
        self.model.scopes.append(scope)
        self.scope = scope
        return scope

    def _pop_scope(self) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent

    def _enter_function_body(self) -> None:
        self.saved_withs.append(self.withs)
        self.withs = []
        self.saved_calls.append(self.calls)
        self.calls = []

    def _leave_function_body(self) -> None:
        self.withs = self.saved_withs.pop()
        self.calls = self.saved_calls.pop()

    def _bind_params(self, params: cst.Parameters, function: FunctionInfo) -> None:
        ordered = [*params.posonly_params, *params.params]
        if isinstance(params.star_arg, cst.Param):
            ordered.append(params.star_arg)
        ordered.extend(params.kwonly_params)
        if params.star_kwarg is not None:
            ordered.append(params.star_kwarg)
        function.params = ordered
        for index, param in enumerate(ordered):
            self.scope.bind(Binding(param.name.value, "param", self.scope, param, self._next(),
                                    value=param.default, param_index=index))

    # --- scopes ---------------------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._bind(node.name.value, "def", node)
        class_qualname = self.scope.class_qualname if self.scope.kind == "class" else None
        scope = self._push_scope("function", node, node.name.value)
        function = FunctionInfo(node, scope, scope.qualname, [], class_qualname=class_qualname)
        scope.function = function
        scope.class_qualname = class_qualname
        self.model.functions.setdefault(scope.qualname, function)
        self.model.function_by_node[id(node)] = function
        self._bind_params(node.params, function)
        self._enter_function_body()

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._leave_function_body()
        self._pop_scope()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        scope = self._push_scope("lambda", node, "<lambda>")
        function = FunctionInfo(node, scope, scope.qualname, [])
        scope.function = function
        self.model.function_by_node[id(node)] = function
        self._bind_params(node.params, function)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self._pop_scope()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._bind(node.name.value, "class", node)
        scope = self._push_scope("class", node, node.name.value)
        scope.class_qualname = scope.qualname
        self.model.class_bases[scope.qualname] = list(node.bases)
        self.model.class_scopes[scope.qualname] = scope

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._pop_scope()

    def _visit_comprehension(self, node: cst.CSTNode) -> None:
        self._push_scope("comprehension", node, "<comp>")

    def _leave_comprehension(self, node: cst.CSTNode) -> None:
        self._pop_scope()

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _visit_comprehension
    leave_ListComp = leave_SetComp = leave_GeneratorExp = leave_DictComp = _leave_comprehension

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind_target(node.target, "loop", node, node.iter)

    # --- statements -----------------------------------------------------------------------

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.statement = node
        self._next()

    def _enter_block(self, node: cst.CSTNode) -> None:
        self.blocks.append(id(node))
        self.statement = node
        self._next()

    def _leave_block(self, node: cst.CSTNode) -> None:
        self.blocks.pop()

    visit_If = visit_While = visit_Try = visit_TryStar = visit_Match = _enter_block
    leave_If = leave_While = leave_Try = leave_TryStar = leave_Match = _leave_block

    def visit_For(self, node: cst.For) -> None:
        self._enter_block(node)
        self._bind_target(node.target, "loop", node, node.iter)

    def leave_For(self, original_node: cst.For) -> None:
        self._leave_block(original_node)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _attribute_dotted(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind(alias.asname.name.value, "import", node, imported=full)
            else:
                top = full.split(".")[0]
                self._bind(top, "import", node, imported=top)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = _attribute_dotted(node.module) if node.module is not None else ""
        dots = "." * len(node.relative)
        base = dots + module
        if isinstance(node.names, cst.ImportStar):
            if self.scope.kind == "module":
                self.model.star_imports.append(Binding("*", "import", self.scope, node, self._next(), imported=base))
            return
        for alias in node.names:
            name = _attribute_dotted(alias.name)
            if dots and not module:
                full = dots + name
            else:
                full = f"{base}.{name}"
            local = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name
            self._bind(local, "import", node, imported=full)

    def visit_Assign(self, node: cst.Assign) -> None:
        names: list[str] = []
        for target in node.targets:
            self._bind_target(target.target, "assign", node, node.value)
            names.extend(_target_names(target.target))
        if isinstance(node.value, cst.Call):
            self.assign_targets[id(node.value)] = tuple(names)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind_target(node.target, "assign", node, node.value)
            if isinstance(node.value, cst.Call):
                self.assign_targets[id(node.value)] = tuple(_target_names(node.target))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            self._bind(node.target.value, "other", node, value=node.value)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target, "assign", node, node.value)

    def visit_Global(self, node: cst.Global) -> None:
        return None

    def visit_With(self, node: cst.With) -> None:
        # Not a block: a with-body always runs, so it does not make assignments conditional.
        self.statement = node
        self._next()
        for item in node.items:
            call = item.item if isinstance(item.item, cst.Call) else None
            frame = WithFrame(item, call, self._next(), self.scope, node.body)
            if item.asname is not None:
                self._bind_target(item.asname.name, "with", node, item.item)
            self.withs.append(frame)

    def leave_With(self, original_node: cst.With) -> None:
        for _ in original_node.items:
            self.withs.pop()

    def visit_Return(self, node: cst.Return) -> None:
        function = self.model.enclosing_function(self.scope)
        if function is not None:
            function.returns.append(node)

    # --- calls ------------------------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        site = CallSite(
            node=node,
            scope=self.scope,
            order=self._next(),
            withs=tuple(self.withs),
            enclosing_calls=tuple(self.calls),
            statement=self.statement,
            assigned_to=self.assign_targets.get(id(node), ()),
            blocks=tuple(self.blocks),
        )
        self.model.calls.append(site)
        self.model.call_by_node[id(node)] = site
        function = self.model.enclosing_function(self.scope)
        if function is not None:
            function.calls.append(site)
        self.calls.append(node)

    def leave_Call(self, original_node: cst.Call) -> None:
        self.calls.pop()


def module_name_literal(expr: cst.BaseExpression, package: str | None,
                        follow: Callable[[cst.Name], cst.BaseExpression | None] | None = None,
                        _depth: int = 0) -> tuple[str, bool]:
    """The literal start of a computed module name, and whether that is all of it.

    ``"nets.resnet"`` -> ("nets.resnet", True); ``"nets." + name`` and
    ``f"nets.{name}"`` -> ("nets.", False); in a package's ``__init__.py``,
    ``f"{__name__}.functions.{name}"`` and ``".".join((__name__, "functions"))``
    start with the package's own name. ``follow`` gives the value of a name
    assigned once (``root = ".".join(...)`` then ``f"{root}.{name}"``).
    """
    if _depth > 8:
        return "", False
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return (value, True) if isinstance(value, str) else ("", False)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        left, complete = module_name_literal(expr.left, package, follow, _depth + 1)
        if complete:
            right, right_complete = module_name_literal(expr.right, package, follow, _depth + 1)
            return left + right, right_complete
        return left, False
    if isinstance(expr, cst.FormattedString):
        text = ""
        for part in expr.parts:
            if isinstance(part, cst.FormattedStringText):
                text += part.value
                continue
            if part.conversion is not None or part.format_spec is not None:
                return text, False
            value, complete = module_name_literal(part.expression, package, follow, _depth + 1)
            text += value
            if not complete:
                return text, False
        return text, True
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "join" \
            and isinstance(expr.func.value, cst.SimpleString) and len(expr.args) == 1 \
            and isinstance(expr.args[0].value, (cst.Tuple, cst.List)):
        separator = expr.func.value.evaluated_value
        if not isinstance(separator, str):
            return "", False
        text = ""
        for index, element in enumerate(expr.args[0].value.elements):
            if isinstance(element, cst.StarredElement):
                return text, False
            value, complete = module_name_literal(element.value, package, follow, _depth + 1)
            text += (separator if index else "") + value
            if not complete:
                return text, False
        return text, True
    if isinstance(expr, cst.Name):
        if expr.value == "__name__":
            return (package, True) if package else ("", False)
        assigned = follow(expr) if follow is not None else None
        if assigned is not None:
            return module_name_literal(assigned, package, follow, _depth + 1)
    return "", False


def literal_index(expr: cst.Subscript) -> int | None:
    """``k`` of ``x[k]`` for a non-negative integer literal ``k``, else None."""
    if len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
        return None
    value = expr.slice[0].slice.value
    if isinstance(value, cst.Integer):
        return int(value.value.replace("_", ""), 0)
    return None


def _string_items(expr: cst.BaseExpression) -> frozenset[str] | None:
    """The strings of a list or tuple literal of strings (``__all__``), else None."""
    if not isinstance(expr, (cst.List, cst.Tuple)):
        return None
    out: set[str] = set()
    for element in expr.elements:
        if not isinstance(element.value, cst.SimpleString):
            return None
        value = element.value.evaluated_value
        if not isinstance(value, str):
            return None
        out.add(value)
    return frozenset(out)


def _same_shape_display(target: cst.Tuple | cst.List, value: cst.BaseExpression | None) -> bool:
    """``value`` is a tuple or list display with one plain element per element of ``target`` (no ``*``)."""
    return isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(target.elements) \
        and not any(isinstance(element, cst.StarredElement) for element in (*target.elements, *value.elements))


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        out: list[str] = []
        for element in target.elements:
            out.extend(_target_names(element.value))
        return out
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return []


def call_argument(call: cst.Call, name: str, position: int | None) -> cst.Arg | None:
    """The argument passed for a parameter, by keyword or position (None if not passed or unknowable)."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    if position is None:
        return None
    index = 0
    for arg in call.args:
        if arg.keyword is not None:
            break
        if arg.star:
            return None
        if index == position:
            return arg
        index += 1
    return None


def has_star_args(call: cst.Call) -> bool:
    """True when ``*args`` or ``**kwargs`` may supply arguments we cannot see."""
    return any(arg.star for arg in call.args)
