"""What a TF1 ``sess.run(...)`` or ``tensor.eval(...)`` call fetches and feeds.

In graph code the same graph is trained when a run fetches the train op and
evaluated when it fetches only losses or metrics, and the training flag is
whatever the ``feed_dict`` sets. So rules ask of each run: what does it
fetch, what does it feed (a dict literal, or a name bound to one earlier in
the same function: ``feed_dict = {...}; sess.run(loss, feed_dict)``), and
what does the code around it call it (the loop it sits in, the names it
assigns: ``for val_step in ...: val_loss = sess.run(...)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from bnlint import registry
from bnlint.facts.inference import name_words
from bnlint.facts.train_ops import train_op_sites
from bnlint.project import ProjectIndex
from bnlint.semantic import Binding, CallSite, FileModel, call_argument, dotted, walk

# Words of a fetch's name that say it may train (``train_op``, ``optimizer_step``): such a run is never
# taken for an evaluation, even when bnlint cannot see what the name holds.
_TRAINING_FETCH_WORDS = frozenset({"train", "training", "optimizer", "optimize", "minimize", "opt", "step"})


@dataclass(frozen=True)
class SessionRun:
    """One ``sess.run``/``.eval`` call."""

    file: FileModel
    site: CallSite
    fetches: tuple[cst.BaseExpression, ...]
    feeds: tuple[cst.DictElement, ...]  # the feed dict's entries, when bnlint can see them


def session_runs(file: FileModel) -> list[SessionRun]:
    """Every run call of a file that feeds or fetches (computed once per file)."""
    cached = getattr(file, "_session_runs", None)
    if cached is None:
        cached = [run for site in file.calls if (run := _session_run(file, site)) is not None]
        file._session_runs = cached  # type: ignore[attr-defined]
    return cached


def _session_run(file: FileModel, site: CallSite) -> SessionRun | None:
    func = site.node.func
    if not isinstance(func, cst.Attribute):
        return None
    method = func.attr.value
    if method in registry.SESSION_RUN_METHODS:
        fetch_arg, feed_arg = call_argument(site.node, "fetches", 0), call_argument(site.node, "feed_dict", 1)
        fetched = fetch_arg.value if fetch_arg is not None else None
    elif method == "eval":
        fetched, feed_arg = func.value, call_argument(site.node, "feed_dict", 0)
    else:
        return None
    if fetched is None:
        return None
    feeds = _feed_entries(file, site, feed_arg.value) if feed_arg is not None else ()
    if method == "eval" and feed_arg is None:
        return None  # ``x.eval()`` of anything: too common to read as a graph evaluation
    return SessionRun(file, site, _fetch_list(fetched), feeds)


def _fetch_list(expr: cst.BaseExpression) -> tuple[cst.BaseExpression, ...]:
    if isinstance(expr, (cst.List, cst.Tuple)):
        return tuple(element.value for element in expr.elements)
    if isinstance(expr, cst.Dict):
        return tuple(element.value for element in expr.elements if isinstance(element, cst.DictElement))
    return (expr,)


def _feed_entries(file: FileModel, site: CallSite, expr: cst.BaseExpression) -> tuple[cst.DictElement, ...]:
    if isinstance(expr, cst.Name):
        binding = latest_binding_before(file, site, expr.value)
        expr = binding.value if binding is not None and binding.kind == "assign" and binding.value is not None \
            else expr
    if isinstance(expr, cst.Dict):
        return tuple(element for element in expr.elements if isinstance(element, cst.DictElement))
    return ()


def latest_binding_before(file: FileModel, site: CallSite, name: str) -> Binding | None:
    """The binding of ``name`` made last before ``site`` in the code order of its scope.

    A loop that reassigns ``feed_dict`` for training and then for validation
    runs each ``sess.run`` with the dict assigned just before it.
    """
    bindings = [binding for binding in file.lookup(name, site.scope) if binding.order < site.order]
    return max(bindings, key=lambda binding: binding.order) if bindings else None


def fetches_train_op(project: ProjectIndex, run: SessionRun) -> bool:
    """The run may train: a fetch is a train op, holds one, or is named like one."""
    train_calls = project.memo("sessions.train_call_ids",
                               lambda: frozenset(id(train.site.node) for train in train_op_sites(project)))
    for fetch in run.fetches:
        if isinstance(fetch, cst.Call):
            if id(fetch) in train_calls:
                return True
            continue
        text = dotted(fetch)
        if text is None:
            return True  # a fetch bnlint cannot read: assume it may train
        if name_words(text.replace(".", "_")) & _TRAINING_FETCH_WORDS:
            return True
        if isinstance(fetch, cst.Name):
            for binding in run.file.lookup(fetch.value, run.site.scope):
                value = binding.value
                if isinstance(value, cst.Call) and (id(value) in train_calls or _names_train_op(value)):
                    return True
    return False


def _names_train_op(call: cst.Call) -> bool:
    return isinstance(call.func, cst.Attribute) and call.func.attr.value in registry.TRAIN_OP_METHODS


def context_names(run: SessionRun) -> list[str]:
    """Names the code uses around a run: those it assigns and fetches, and those of the loops it sits in."""
    site = run.site
    names: list[str] = list(site.assigned_to)
    names += [text for fetch in run.fetches if (text := dotted(fetch)) is not None]
    loops = set(site.blocks)
    scope = site.scope
    while scope is not None:
        for bindings in scope.bindings.values():
            for binding in bindings:
                if binding.kind == "loop" and id(binding.node) in loops and isinstance(binding.node, cst.For):
                    names.append(binding.name)
                    names += [node.value for node in walk(binding.node.iter) if isinstance(node, cst.Name)]
        if scope.kind in ("function", "module"):
            break
        scope = scope.parent
    return list(dict.fromkeys(names))


def evaluation_names(run: SessionRun) -> list[str]:
    """The names around a run that say it evaluates test or validation data (``val_loss``, ``for val_step``)."""
    return [name for name in context_names(run)
            if name_words(name.replace(".", "_")) & registry.EVALUATION_DATA_WORDS]
