"""Train ops, and whether the batch-norm update ops run with them.

In TF1 graph code, batch-norm moving-average updates are separate ops: put in
the UPDATE_OPS collection (``tf.layers``, ``slim``) or in ``layer.updates``
(Keras layers). Nothing runs them unless the train op depends on them. This
module finds each train op (``optimizer.minimize``/``apply_gradients``) and the
ways code hooks the updates in: ``tf.control_dependencies``, ``tf.group``, a
shared ``sess.run`` fetch, or a helper that does it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from bnlint import registry
from bnlint.project import ProjectIndex
from bnlint.semantic import CallSite, FileModel, Scope, call_argument, child_nodes, contains, iter_names

UpdateKind = str  # "collection" | "layer_updates"
COLLECTION = "collection"
LAYER_UPDATES = "layer_updates"

_OPTIMIZER_RECEIVER = re.compile(r"opt", re.IGNORECASE)
_MAX_DEPTH = 6


@dataclass(eq=False)
class TrainOpSite:
    """``optimizer.minimize(...)`` or ``optimizer.apply_gradients(...)``."""

    file: FileModel
    site: CallSite
    # True: a TF1 graph-mode optimizer; None: the optimizer's type is not known.
    graph_optimizer: bool | None

    def display(self) -> str:
        text = self.file.code(self.site.node)
        return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class HookContext:
    """One way a train op is reached: its own site, then the callers that return it upwards."""

    chain: tuple[tuple[FileModel, CallSite], ...]
    kinds: frozenset[UpdateKind]

    @property
    def outermost(self) -> tuple[FileModel, CallSite]:
        return self.chain[-1]


def train_op_sites(project: ProjectIndex) -> list[TrainOpSite]:
    """Every train op of the project (computed once)."""
    return project.memo("train_op_sites", lambda: _collect(project))


def _collect(project: ProjectIndex) -> list[TrainOpSite]:
    out: list[TrainOpSite] = []
    for file, site in project.iter_calls():
        graph = classify_train_op(file, site)
        if graph is not False:
            out.append(TrainOpSite(file, site, None if graph is None else True))
    return out


def classify_train_op(file: FileModel, site: CallSite) -> bool | None:
    """False: not a train op. True: a train op of a TF1 optimizer. None: a train op of unknown type."""
    func = site.node.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in registry.TRAIN_OP_METHODS:
        return False
    receivers = file.resolve(func.value, site.scope)
    if receivers:
        if not any("optimizer" in name.lower() for name in receivers):
            return False
        if any(name.startswith(registry.GRAPH_OPTIMIZER_PREFIXES) for name in receivers):
            return True
        return None
    text = file.code(func.value)
    return None if _OPTIMIZER_RECEIVER.search(text.split(".")[-1]) else False


_GRAPH_MARKER_WORDS = frozenset(name.rsplit(".", 1)[-1] for name in registry.GRAPH_MODE_MARKERS)


def module_builds_graph(file: FileModel) -> bool:
    """The file uses TF1 graph machinery (sessions, placeholders, Estimator specs)."""
    def compute() -> bool:
        # Every marker's last name must be in the text: most files are spared resolving each call.
        if not any(file.mentions(name) for name in _GRAPH_MARKER_WORDS):
            return False
        for site in file.calls:
            if file.call_names(site) & registry.GRAPH_MODE_MARKERS:
                return True
        return False
    cached = getattr(file, "_builds_graph", None)
    if cached is None:
        cached = compute()
        file._builds_graph = cached  # type: ignore[attr-defined]
    return cached


# --- references to update ops ------------------------------------------------------------


def update_refs(file: FileModel, expr: cst.CSTNode, scope: Scope, _depth: int = 0,
                _seen: frozenset[int] = frozenset()) -> frozenset[UpdateKind]:
    """Which kinds of update ops an expression refers to (following names it uses)."""
    if _depth > _MAX_DEPTH:
        return frozenset()
    kinds: set[UpdateKind] = set()
    stack: list[cst.CSTNode] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Attribute):
            if node.attr.value == registry.LAYER_UPDATES_ATTRIBUTE:
                kinds.add(LAYER_UPDATES)
            elif node.attr.value == "UPDATE_OPS":
                kinds.add(COLLECTION)
            elif id(node) not in _seen:
                # ``self.update_ops``, filled by a method of the class: what it was assigned.
                for value, value_scope in file.attribute_values(node, scope):
                    kinds |= update_refs(file, value, value_scope, _depth + 1, _seen | {id(node)})
            stack.append(node.value)
            continue
        if isinstance(node, cst.SimpleString):
            try:
                if node.evaluated_value == registry.UPDATE_OPS_STRING:
                    kinds.add(COLLECTION)
            except Exception:  # noqa: BLE001
                pass
            continue
        if isinstance(node, cst.Name):
            if id(node) in _seen:
                continue
            if node.value == "UPDATE_OPS":
                kinds.add(COLLECTION)
            for binding in file.lookup(node.value, scope):
                if binding.value is not None and binding.kind in ("assign", "with", "other", "loop"):
                    kinds |= update_refs(file, binding.value, binding.scope, _depth + 1, _seen | {id(node)})
                elif binding.kind == "param" and binding.value is not None:
                    kinds |= update_refs(file, binding.value, binding.scope, _depth + 1, _seen | {id(node)})
            continue
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value == "get_updates_for":
            kinds.add(LAYER_UPDATES)
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            continue
        stack.extend(child_nodes(node))
    return frozenset(kinds)


def _is_control_dependencies(file: FileModel, call: cst.Call, scope: Scope) -> bool:
    if file.resolve(call.func, scope) & registry.CONTROL_DEPENDENCIES_NAMES:
        return True
    return isinstance(call.func, cst.Attribute) and call.func.attr.value in registry.CONTROL_DEPENDENCIES_METHODS


def _is_group_or_run(file: FileModel, call: cst.Call, scope: Scope) -> bool:
    if file.resolve(call.func, scope) & registry.GROUP_NAMES:
        return True
    return isinstance(call.func, cst.Attribute) and call.func.attr.value in registry.SESSION_RUN_METHODS


def _args_refs(file: FileModel, call: cst.Call, scope: Scope) -> frozenset[UpdateKind]:
    kinds: set[UpdateKind] = set()
    for arg in call.args:
        kinds |= update_refs(file, arg.value, scope)
    return frozenset(kinds)


def _with_hooks(file: FileModel, site: CallSite) -> set[UpdateKind]:
    kinds: set[UpdateKind] = set()
    for frame in site.withs:
        if frame.call is not None and _is_control_dependencies(file, frame.call, frame.scope):
            kinds |= _args_refs(file, frame.call, frame.scope)
    return kinds


def local_hooks(file: FileModel, site: CallSite) -> frozenset[UpdateKind]:
    """Update kinds the train op built at ``site`` runs, judging only its own function."""
    kinds = _with_hooks(file, site)
    # The loss (or the gradients) was computed under control_dependencies on the updates:
    # ``with tf.control_dependencies(update_ops): loss = tf.identity(loss)``.
    for arg in site.node.args[:1]:
        kinds |= _inputs_hooked(file, arg.value, site.scope, 0)
    # Built inside ``tf.group(...)`` or ``sess.run([...])`` together with the updates.
    for enclosing in site.enclosing_calls:
        if _is_group_or_run(file, enclosing, site.scope):
            kinds |= _args_refs(file, enclosing, site.scope)
    # Assigned to a name that is later grouped or fetched with the updates.
    if site.assigned_to:
        names = set(site.assigned_to)
        siblings = _sibling_calls(file, site)
        for other in siblings:
            if other.order <= site.order:
                continue
            mentioned = any(name.value in names for arg in other.node.args for name in iter_names(arg.value))
            if not mentioned:
                continue
            if _is_group_or_run(file, other.node, other.scope):
                kinds |= _args_refs(file, other.node, other.scope)
            elif _is_control_dependencies(file, other.node, other.scope):
                # ``with control_dependencies([train_op]): op = tf.no_op()`` inside (or around) a
                # ``control_dependencies(update_ops)`` block: the op built there runs both.
                for inner in siblings:
                    if any(frame.call is other.node for frame in inner.withs):
                        kinds |= _with_hooks(file, inner)
        if file.enclosing_function(site.scope) is None:
            kinds |= _global_fetched_with_updates(file, site, names)
    return frozenset(kinds)


def _global_fetched_with_updates(file: FileModel, site: CallSite, names: set[str]) -> set[UpdateKind]:
    """A module-level train op that a function of the file fetches or groups with the updates.

    ``train_op = opt.minimize(loss)`` at the top of a script, then
    ``def train(): sess.run([train_op, update_ops])``: the function reads
    the module's ``train_op`` (and its ``update_ops``), as Python does.
    """
    kinds: set[UpdateKind] = set()
    for other in file.calls:
        # Wherever the function is defined: it reads the global when it runs.
        if file.enclosing_function(other.scope) is None or not _is_group_or_run(file, other.node, other.scope):
            continue
        reads_global = any(name.value in names and file.is_module_global(name.value, other.scope)
                           for arg in other.node.args for name in iter_names(arg.value))
        if reads_global:
            kinds |= _args_refs(file, other.node, other.scope)
    return kinds


def _inputs_hooked(file: FileModel, expr: cst.BaseExpression, scope: Scope, depth: int) -> set[UpdateKind]:
    kinds: set[UpdateKind] = set()
    if depth > 3:
        return kinds
    for name in iter_names(expr):
        for binding in file.lookup(name.value, scope):
            if binding.kind == "def":
                # A callable loss (``opt.minimize(loss_fn)``): what the function returns was
                # computed under its own control_dependencies.
                loss_fn = file.function_by_node.get(id(binding.node))
                if loss_fn is not None:
                    for ret in loss_fn.returns:
                        if ret.value is not None:
                            kinds |= _inputs_hooked(file, ret.value, loss_fn.scope, depth + 1)
                continue
            if binding.kind != "assign" or binding.value is None:
                continue
            value = binding.value
            if isinstance(value, cst.Call):
                producer = file.call_by_node.get(id(value))
                if producer is not None:
                    kinds |= _with_hooks(file, producer)
                    # One step back: ``grads = opt.compute_gradients(loss)`` with a hooked loss.
                    for arg in value.args[:1]:
                        kinds |= _inputs_hooked(file, arg.value, binding.scope, depth + 1)
    return kinds


def _sibling_calls(file: FileModel, site: CallSite) -> list[CallSite]:
    function = file.enclosing_function(site.scope)
    if function is not None:
        return function.calls
    return [c for c in file.calls if file.enclosing_function(c.scope) is None]


def _returned(file: FileModel, site: CallSite) -> bool:
    """The call's result leaves its function through ``return``."""
    function = file.enclosing_function(site.scope)
    if function is None:
        return False
    names = set(site.assigned_to)
    for ret in function.returns:
        if ret.value is None:
            continue
        if contains(ret.value, site.node):
            return True
        if names and any(n.value in names for n in iter_names(ret.value)):
            return True
    return False


def hook_contexts(project: ProjectIndex, file: FileModel, site: CallSite,
                  _depth: int = 0, _seen: frozenset[int] = frozenset()) -> list[HookContext]:
    """Each calling context of a train op with the update kinds it runs.

    A helper that builds the train op may be hooked by its callers: called inside
    ``tf.control_dependencies(update_ops)``, or returning the op to a caller that
    groups it with the updates.
    """
    local = local_hooks(file, site)
    function = file.enclosing_function(site.scope)
    if function is None or _depth >= _MAX_DEPTH:
        return [HookContext(((file, site),), local)]
    callers = [c for c in project.callers(file.function_unit(function)) if id(c.site.node) not in _seen]
    if not callers:
        return [HookContext(((file, site),), local)]
    returned = _returned(file, site)
    contexts: list[HookContext] = []
    for caller in callers:
        seen = _seen | {id(caller.site.node)}
        if returned:
            outer = hook_contexts(project, caller.file, caller.site, _depth + 1, seen)
        else:
            # Not returned: only dynamic context (control_dependencies around the call) applies.
            outer = [HookContext(ctx.chain, frozenset(_with_hooks(caller.file, caller.site)) | ctx.kinds)
                     for ctx in _dynamic_contexts(project, caller.file, caller.site, _depth + 1, seen)]
        for ctx in outer:
            contexts.append(HookContext(((file, site), *ctx.chain), local | ctx.kinds))
    return contexts


def _dynamic_contexts(project: ProjectIndex, file: FileModel, site: CallSite, depth: int,
                      seen: frozenset[int]) -> list[HookContext]:
    """Contexts of a call whose result is not the train op: only enclosing with-blocks matter."""
    kinds = frozenset(_with_hooks(file, site))
    function = file.enclosing_function(site.scope)
    if function is None or depth >= _MAX_DEPTH:
        return [HookContext(((file, site),), kinds)]
    callers = [c for c in project.callers(file.function_unit(function)) if id(c.site.node) not in seen]
    if not callers:
        return [HookContext(((file, site),), kinds)]
    out = []
    for caller in callers:
        for ctx in _dynamic_contexts(project, caller.file, caller.site, depth + 1, seen | {id(caller.site.node)}):
            out.append(HookContext(((file, site), *ctx.chain), kinds | ctx.kinds))
    return out


def uses_hooking_helper(file: FileModel, site: CallSite) -> bool:
    """A call to a helper (``slim.learning.create_train_op``) that runs UPDATE_OPS by default."""
    if not file.call_names(site) & registry.HOOKED_TRAIN_OP_HELPERS:
        return False
    arg = call_argument(site.node, "update_ops", None)
    return arg is None or not (isinstance(arg.value, cst.List) and not arg.value.elements)
