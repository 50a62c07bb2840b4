"""In which order a program builds things: does this call run before that one?

Graph construction is ordinary Python execution: ``tf.get_collection`` returns
what the collection holds *when it is called*. To compare two calls that may
sit in different functions, find a unit (function or module top level) that
runs both and compare the positions, in that unit, of the statements that
lead to each: the calls themselves, or the calls of helpers that reach them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import libcst as cst

from bnlint.project import ProjectIndex
from bnlint.semantic import CallSite, FileModel, child_nodes

Order = Literal["before", "after", "unknown"]


@dataclass(frozen=True)
class Step:
    """A call of a unit that leads to a target: the target itself, or a call reaching it."""

    file: FileModel
    site: CallSite


def _unit_calls(project: ProjectIndex) -> dict[str, tuple[FileModel, list[CallSite]]]:
    def compute() -> dict[str, tuple[FileModel, list[CallSite]]]:
        out: dict[str, tuple[FileModel, list[CallSite]]] = {}
        for file in project.files:
            for info in file.functions.values():
                out[file.function_unit(info)] = (file, info.calls)
            out[f"{file.path}::<module>"] = (
                file, [c for c in file.calls if file.enclosing_function(c.scope) is None])
        return out
    return project.memo("build_order_unit_calls", compute)


def _call_reach(project: ProjectIndex, file: FileModel, site: CallSite) -> frozenset[str]:
    reach: set[str] = set()
    for ref in project.callees_of_site(file, site):
        reach |= project.reach(ref.unit)
    return frozenset(reach)


def steps_toward(project: ProjectIndex, unit: str, file: FileModel, site: CallSite) -> list[Step]:
    """The calls of ``unit`` that run ``site`` (``site`` itself when it is in ``unit``)."""
    target_unit = file.unit_name(site.scope)
    if target_unit == unit:
        return [Step(file, site)]
    entry = _unit_calls(project).get(unit)
    if entry is None:
        return []
    unit_file, calls = entry
    return [Step(unit_file, call) for call in calls if target_unit in _call_reach(project, unit_file, call)]


def _loop_ids(file: FileModel) -> frozenset[int]:
    cached = getattr(file, "_loop_ids", None)
    if cached is None:
        ids: set[int] = set()
        stack: list[cst.CSTNode] = [file.module]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.For, cst.While)):
                ids.add(id(node))
            stack.extend(child_nodes(node))
        cached = frozenset(ids)
        file._loop_ids = cached  # type: ignore[attr-defined]
    return cached


def build_order(project: ProjectIndex, first: tuple[FileModel, CallSite],
                second: tuple[FileModel, CallSite]) -> Order:
    """``before`` when ``first`` surely runs before ``second`` in every unit that runs both, ``after`` when
    it surely runs after, ``unknown`` otherwise (same statement, a shared loop, contradicting units)."""
    unit_a = first[0].unit_name(first[1].scope)
    unit_b = second[0].unit_name(second[1].scope)
    common = project.ancestors(unit_a) & project.ancestors(unit_b)
    verdicts: set[str] = set()
    for unit in common:
        steps_a = steps_toward(project, unit, *first)
        steps_b = steps_toward(project, unit, *second)
        if not steps_a or not steps_b:
            continue
        loops = _loop_ids(steps_a[0].file)
        shared_loop = any(set(a.site.blocks) & set(b.site.blocks) & loops for a in steps_a for b in steps_b)
        if shared_loop:
            return "unknown"
        orders_a = [s.site.order for s in steps_a]
        orders_b = [s.site.order for s in steps_b]
        if max(orders_a) < min(orders_b):
            verdicts.add("before")
        elif max(orders_b) < min(orders_a):
            verdicts.add("after")
        elif set(orders_a) != set(orders_b) or len(orders_a) > 1:
            return "unknown"  # interleaved: some of each on both sides
    if len(verdicts) == 1:
        return "before" if "before" in verdicts else "after"
    return "unknown"


def one_runs_the_other(project: ProjectIndex, unit_a: str, unit_b: str) -> bool:
    """One unit runs the other (or they are the same): their graph code runs in one flow.

    ``ProjectIndex.run_together`` also holds for siblings (``main`` calls ``train()``
    and then ``evaluate()``), which may build separate graphs.
    """
    return unit_a == unit_b or unit_b in project.reach(unit_a) or unit_a in project.reach(unit_b)
