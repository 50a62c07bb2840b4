"""Where a helper function runs: the project calls that reach it, and what its names denote there.

A rule that judges a call by where it runs (inside a training step's
``GradientTape``) must judge the calls a helper makes on that step's behalf
too: ``loss = d_loss(generator, critic, batch)`` under the tape runs
``critic(fake)`` inside ``d_loss``. This module gives a rule the two pieces
it needs to follow such a call upward:

- ``calls_of``: the linted call sites of a function (any file), each with how
  many leading parameters the call does not pass (``self`` of a method);
- ``name_at_call``: the dotted name that, at one such call site, denotes the
  object a name denotes inside the function: a parameter becomes what the
  call passes for it (``critic`` -> ``discriminator``), ``self`` the receiver
  (``self.net`` -> ``trainer.net``), and a global or closure variable stays
  itself when the caller sees the same binding.

Calls of an instance (``model(x)`` running ``call``) are not followed: Keras
hands the outer call's ``training`` to the layers ``call`` runs, so those
calls need no flag of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from bnlint.linker import _MAX_CALL_SITES
from bnlint.project import ProjectIndex
from bnlint.semantic import Binding, CallSite, FileModel, FunctionInfo, Scope, call_argument, dotted, has_star_args


# ``Linker.callers_of`` reads at most this many call sites of one function.
MAX_CALL_SITES = _MAX_CALL_SITES


@dataclass(frozen=True)
class CallLink:
    """One linted call of a function: the caller's file, the call site, and the parameters it does not pass."""

    file: FileModel
    site: CallSite
    offset: int

    def caller(self) -> FunctionInfo | None:
        """The function the call sits in (None at a module's top level)."""
        return self.file.enclosing_function(self.site.scope)


def calls_of(project: ProjectIndex, file: FileModel, function: FunctionInfo) -> list[CallLink]:
    """Linted call sites of ``function``, calls from inside itself (recursion) left out."""
    if project.linker is None:
        return []
    out = []
    for caller, site, offset in project.linker.callers_of(file, function):
        link = CallLink(caller, site, offset)
        if link.caller() is not function:
            out.append(link)
    return out


def may_be_named_by_callers(file: FileModel, scope: Scope, name: str, function: FunctionInfo) -> bool:
    """Whether some call of ``function`` could name what ``name`` denotes there (``name_at_call`` without a call).

    A parameter, ``self``, or a variable of an enclosing scope can be; a variable
    local to the function, a function or class, or a library import (``tf``) cannot.
    Cheap: a rule asks before walking up the callers.
    """
    bindings = file.lookup(name.partition(".")[0], scope)
    if not bindings:
        return False
    if _own_parameter(bindings, function) is not None:
        return True
    enclosing = set()
    outer = function.scope.parent
    while outer is not None:
        enclosing.add(id(outer))
        outer = outer.parent
    if any(id(binding.scope) not in enclosing for binding in bindings):
        return False  # bound in the function itself (or in a comprehension of it)
    for binding in bindings:
        if binding.kind in ("def", "class"):
            return False
        if binding.kind == "import" and (file.linker is None or not file.linker.imported_bindings(file, binding.imported or "")):
            return False
    return True


def name_at_call(file: FileModel, scope: Scope, name: str, function: FunctionInfo, link: CallLink) -> str | None:
    """The dotted name denoting, at ``link``'s call, what ``name`` denotes in ``scope`` of ``function``.

    None when the call gives it no name: the argument is an expression
    (``critic(make())``), the parameter is not passed (its default applies) or
    is reassigned in the function, the call unpacks ``*args``, or the caller
    sees another binding of a free name.
    """
    root, dot, rest = name.partition(".")
    bindings = file.lookup(root, scope)
    if not bindings:
        return None
    parameter = _own_parameter(bindings, function)
    if parameter is not None:
        base = _passed_name(parameter, function, link)
        return None if base is None else base + dot + rest
    if any(binding.kind == "param" and binding.scope.function is function for binding in bindings):
        return None  # a parameter reassigned in the body
    return name if _same_binding(file, bindings, root, link) else None


def _own_parameter(bindings: list[Binding], function: FunctionInfo) -> Binding | None:
    """The parameter of ``function`` a name is bound to, when nothing in the body rebinds it."""
    if len(bindings) != 1:
        return None
    binding = bindings[0]
    if binding.kind != "param" or binding.scope.function is not function or binding.param_index is None:
        return None
    return None if function.params[binding.param_index].star else binding


def _passed_name(parameter: Binding, function: FunctionInfo, link: CallLink) -> str | None:
    call = link.site.node
    assert parameter.param_index is not None
    position = parameter.param_index - link.offset
    if position < 0:
        # ``self`` of a method: the receiver, ``self`` in ``self._loss(x)``, ``trainer`` in ``trainer.loss(x)``.
        return dotted(call.func.value) if isinstance(call.func, cst.Attribute) else None
    if has_star_args(call):
        return None
    arg = call_argument(call, parameter.name, position)
    return dotted(arg.value) if arg is not None else None


def _same_binding(file: FileModel, bindings: list[Binding], root: str, link: CallLink) -> bool:
    """The caller sees the binding a free name of the function has (a global, a closure variable)."""
    seen = link.file.lookup(root, link.site.scope)
    if link.file is file:
        return seen is bindings or (len(seen) == len(bindings) and all(a is b for a, b in zip(seen, bindings)))
    linker = link.file.linker
    if linker is None:
        return False
    # ``from losses import model`` in the caller: the helper module's own global.
    wanted = {id(binding) for binding in bindings}
    for binding in seen:
        if binding.kind != "import" or not binding.imported:
            return False
        if not any(where is file and id(source) in wanted
                   for where, source in linker.imported_bindings(link.file, binding.imported)):
            return False
    return bool(seen)
