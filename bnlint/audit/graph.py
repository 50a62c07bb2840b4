"""Static inspection of inference graphs for BNR004.

Works on ``GraphDef`` protos so that ``tf.function`` traces, SavedModel signatures and
TF1 graphs share one walker. Only nodes reachable from the outputs are inspected, and
only functions those nodes call: a SavedModel's function library also holds restore
and initializer functions full of Assign ops that serving never runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

# Ops that write a variable. The TF1 ref-variable forms (Assign, AssignSub) come from
# assign_moving_average and ExponentialMovingAverage.apply.
WRITE_OPS = {
    "AssignVariableOp",
    "AssignSubVariableOp",
    "AssignAddVariableOp",
    "Assign",
    "AssignSub",
    "AssignAdd",
    "AssignMovingAvg",
    "ResourceScatterUpdate",
    "ScatterUpdate",
}
STAT_NAME = re.compile(
    r"moving_mean|moving_var|moving_variance|running_mean|running_var|ExponentialMovingAverage|"
    r"(^|[/_])ema([/_:]|$)|shadow|moving_average|batch_mean|batch_var|pop_mean|pop_var",
    re.IGNORECASE,
)
FUNC_CALL_FIRST_ARG_IS_CONTROL = {"If", "StatelessIf", "Case", "StatelessCase"}


def is_stat_name(name: str) -> bool:
    """Whether a variable name looks like a BN moving statistic or an EMA shadow."""
    return bool(STAT_NAME.search(name))


@dataclass
class Problem:
    """One offending node: its (function-qualified) name, op type and what it touches."""

    node: str
    op: str
    reason: str
    variable: str | None = None

    def row(self) -> dict[str, Any]:
        return {"node": self.node, "op": self.op, "variable": self.variable or "?", "reason": self.reason}


@dataclass
class _Scope:
    nodes: dict[str, Any]
    args: dict[str, tuple[str, "_Scope | None"]] = field(default_factory=dict)
    prefix: str = ""


def _src(inp: str) -> tuple[str, int, bool]:
    """Split a node input into (node name, output index, is-control)."""
    if inp.startswith("^"):
        return inp[1:], 0, True
    parts = inp.split(":")
    if len(parts) == 1:
        return parts[0], 0, False
    # Function-body inputs read "node:output_arg:index"; TF graph inputs "node:index".
    try:
        return parts[0], int(parts[-1]), False
    except ValueError:
        return parts[0], 0, False


def inspect_graph(
    graph_def: Any,
    outputs: Iterable[str],
    resolve_placeholder: Callable[[str], str | None] = lambda name: None,
    constants: dict[str, bool] | None = None,
    stat_names: set[str] | None = None,
) -> list[Problem]:
    """Find training-mode BN and moving-statistics writes reachable from ``outputs``.

    ``outputs`` are node names of the top-level graph. ``resolve_placeholder`` maps a
    top-level placeholder (a captured variable handle) to the variable's name.
    ``constants`` maps boolean placeholders (a TF1 training flag) to the value fed at
    inference, so that the branch of a ``tf.cond`` that cannot run is not inspected.
    """
    constants = constants or {}
    library = {f.signature.name: f for f in graph_def.library.function}
    top = _Scope({n.name: n for n in graph_def.node})
    dead = _dead_nodes(top.nodes, constants)
    problems: list[Problem] = []
    seen_funcs: set[tuple[str, int]] = set()

    def resolve_var(inp: str, scope: _Scope, depth: int = 0) -> str | None:
        name, _, _ = _src(inp)
        if depth > 50:
            return None
        if name in scope.args:
            caller_inp, caller = scope.args[name]
            return resolve_var(caller_inp, caller, depth + 1) if caller else None
        node = scope.nodes.get(name)
        if node is None:
            return None
        if node.op in {"VarHandleOp", "VariableV2", "Variable"}:
            shared = node.attr["shared_name"].s.decode() if "shared_name" in node.attr else ""
            return shared or node.name
        if node.op == "Placeholder" and scope is top:
            return resolve_placeholder(node.name) or node.name
        if node.op in {"Identity", "RefIdentity", "ReadVariableOp"} and node.input:
            return resolve_var(node.input[0], scope, depth + 1)
        return None

    def visit_node(node: Any, scope: _Scope) -> None:
        qual = scope.prefix + node.name
        fused = node.op.startswith("FusedBatchNorm") and "Grad" not in node.op
        if fused and "is_training" in node.attr and node.attr["is_training"].b:
            problems.append(Problem(qual, node.op, "batch norm in training mode (is_training=true)"))
        if node.op in WRITE_OPS and node.input:
            var = resolve_var(node.input[0], scope)
            is_stat = var is not None and ((stat_names and var in stat_names) or is_stat_name(var))
            if var is None or is_stat or is_stat_name(qual):
                problems.append(Problem(qual, node.op, "writes a moving statistic", var))
        for key, attr in node.attr.items():
            funcs = []
            if attr.HasField("func"):
                funcs = [attr.func.name]
            elif attr.HasField("list") and attr.list.func:
                funcs = [f.name for f in attr.list.func]
            for fname in funcs:
                if fname not in library:
                    continue
                if node.op in {"If", "StatelessIf"} and key in {"then_branch", "else_branch"}:
                    cond, _, _ = _src(node.input[0])
                    value = _const_bool(cond, scope, constants)
                    if value is not None and (key == "then_branch") != value:
                        continue
                data_inputs = [i for i in node.input if not i.startswith("^")]
                if node.op in FUNC_CALL_FIRST_ARG_IS_CONTROL:
                    data_inputs = data_inputs[1:]
                visit_function(library[fname], data_inputs, scope, qual + "/")

    def visit_function(fdef: Any, data_inputs: list[str], caller: _Scope, prefix: str) -> None:
        key = (fdef.signature.name, id(caller))
        if key in seen_funcs:
            return
        seen_funcs.add(key)
        args = {}
        for arg, inp in zip(fdef.signature.input_arg, data_inputs):
            args[arg.name] = (inp, caller)
        scope = _Scope({n.name: n for n in fdef.node_def}, args, prefix)
        for n in fdef.node_def:
            visit_node(n, scope)

    # Walk the top-level graph backwards from the outputs through data and control edges.
    stack = [o.split(":")[0].lstrip("^") for o in outputs]
    reached: set[str] = set()
    while stack:
        name = stack.pop()
        if name in reached or name not in top.nodes or name in dead:
            continue
        reached.add(name)
        node = top.nodes[name]
        visit_node(node, top)
        for inp in node.input:
            src, idx, _ = _src(inp)
            if _dead_edge(top.nodes.get(src), idx, constants, top) and node.op in {"Merge", "RefMerge"}:
                continue
            stack.append(src)
    return problems


def _const_bool(name: str, scope: _Scope, constants: dict[str, bool], depth: int = 0) -> bool | None:
    if depth > 20:
        return None
    if name in scope.args:
        inp, caller = scope.args[name]
        return _const_bool(_src(inp)[0], caller, constants, depth + 1) if caller else None
    if scope.prefix == "" and name in constants:
        return constants[name]
    node = scope.nodes.get(name)
    if node is not None and node.op in {"Identity", "Cast"} and node.input:
        return _const_bool(_src(node.input[0])[0], scope, constants, depth + 1)
    if node is not None and node.op == "LogicalNot" and node.input:
        v = _const_bool(_src(node.input[0])[0], scope, constants, depth + 1)
        return None if v is None else not v
    return None


def _dead_edge(node: Any, idx: int, constants: dict[str, bool], scope: _Scope) -> bool:
    """Whether output ``idx`` of a TF1 ``Switch`` never carries a value for the fed flag."""
    if node is None or node.op not in {"Switch", "RefSwitch"} or len(node.input) < 2:
        return False
    value = _const_bool(_src(node.input[1])[0], scope, constants)
    return value is not None and idx != (1 if value else 0)


def _dead_nodes(nodes: dict[str, Any], constants: dict[str, bool]) -> set[str]:
    """Top-level nodes in the untaken branch of a TF1 ``tf.cond`` for the fed flag."""
    if not constants:
        return set()
    scope = _Scope(nodes)
    consumers: dict[str, list[str]] = {}
    indeg: dict[str, int] = {n: 0 for n in nodes}
    for n in nodes.values():
        for inp in n.input:
            src = _src(inp)[0]
            if src in nodes:
                consumers.setdefault(src, []).append(n.name)
                indeg[n.name] += 1
    order = [n for n, d in indeg.items() if d == 0]
    i = 0
    while i < len(order):
        for c in consumers.get(order[i], ()):
            indeg[c] -= 1
            if indeg[c] == 0:
                order.append(c)
        i += 1
    dead: set[str] = set()
    for name in order:
        node = nodes[name]
        edges = []
        for inp in node.input:
            src, idx, ctl = _src(inp)
            if src not in nodes:
                continue
            edges.append(src in dead or (not ctl and _dead_edge(nodes[src], idx, constants, scope)))
        if not edges:
            continue
        if node.op in {"Merge", "RefMerge"}:
            if all(edges):
                dead.add(name)
        elif any(edges):
            dead.add(name)
    return dead
