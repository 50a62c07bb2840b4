"""Graphs a TF1 program only evaluates, exports or restores: where training mode is a bug without a name saying so.

An export (``tf.saved_model.simple_save``, ``convert_variables_to_constants``,
``export_meta_graph``, ...) or a ``saver.restore`` in graph code marks the
graph it runs on as served or evaluated when the program builds no train op
(an evaluation, export or inference script), or when it sits on a mode branch
of a script that also trains (``if args.mode == "export":``) and nothing on
that branch trains. Unit-test files are left out.
"""

from __future__ import annotations

import libcst as cst

from bnlint import registry
from bnlint.facts.inference import is_export_call, is_test_file, name_words
from bnlint.facts.train_ops import classify_train_op, module_builds_graph, train_op_sites, uses_hooking_helper
from bnlint.facts.values import literal
from bnlint.project import ProjectIndex
from bnlint.semantic import INSTANCE, CallSite, FileModel, contains, walk

# Longest callee text a message quotes.
_QUOTED = 50


class InferenceGraph:
    """A call that exports a graph for serving or restores a checkpoint into it, in a program that does not train it."""

    def __init__(self, file: FileModel, site: CallSite) -> None:
        self.file = file
        self.site = site
        self.unit = file.unit_name(site.scope)
        # The program trains too, but not on the mode branch (``if args.mode == "export":``) the call sits on.
        self.mode_branch: cst.If | None = None

    @property
    def on_mode_branch(self) -> bool:
        return self.mode_branch is not None

    def on_its_path(self, site: CallSite) -> bool:
        """A call of the graph's unit that builds this graph: anywhere in the unit, or on its mode branch only."""
        return self.mode_branch is None or _in_body_of(self.mode_branch, site)

    def why_not_training(self) -> str:
        return "on a branch of the script where nothing trains" if self.on_mode_branch else "that builds no train op"

    def describe(self, here: FileModel) -> str:
        """``exported by `tf.saved_model.simple_save` (line 34)``, the place named from ``here``."""
        verb = "restored by" if is_restore(self.file, self.site) else "exported by"
        callee = self.file.code(self.site.node.func)
        if len(callee) > _QUOTED:
            callee = callee[:_QUOTED - 3] + "..."
        return f"{verb} `{callee}` ({self.file.place(self.site.node, with_path=self.file is not here)})"


def inference_graphs(project: ProjectIndex) -> list[InferenceGraph]:
    """Graph-code exports and restores whose program (or mode branch) builds no train op; exports first."""
    candidates = [InferenceGraph(file, site) for file, site in project.iter_calls()
                  if module_builds_graph(file) and not is_test_file(file)
                  and (is_export_call(file, site) or is_restore(file, site))]
    if not candidates:
        return []
    trains = [(t.file, t.file.unit_name(t.site.scope)) for t in train_op_sites(project)]
    trains += [(file, file.unit_name(site.scope)) for file, site in project.iter_calls()
               if uses_hooking_helper(file, site)]
    # A train op in the same file, or in a unit that runs with the export, makes it a training program
    # (a script that trains at module level and restores in a function is one program).
    train_units = frozenset(unit for _file, unit in trains)
    graphs = []
    for graph in candidates:
        if not any(file is graph.file or project.run_together(unit, graph.unit) for file, unit in trains):
            graphs.append(graph)
        else:
            graph.mode_branch = _inference_mode_branch(project, graph, train_units)
            if graph.mode_branch is not None:
                graphs.append(graph)
    # Name the export in messages when a graph is both restored and exported.
    return sorted(graphs, key=lambda graph: is_restore(graph.file, graph.site))


def is_restore(file: FileModel, site: CallSite) -> bool:
    """``saver.restore(sess, path)`` on a ``tf.train.Saver``."""
    func = site.node.func
    if not isinstance(func, cst.Attribute) or func.attr.value != registry.RESTORE_METHOD:
        return False
    receivers = file.resolve(func.value, site.scope)
    return any(name.endswith(INSTANCE) and name[: -len(INSTANCE)] in registry.SAVER_CLASS_NAMES
               for name in receivers)


def _inference_mode_branch(project: ProjectIndex, graph: InferenceGraph,
                           train_units: frozenset[str]) -> cst.If | None:
    """The ``if args.mode == "export":`` (or "test", "predict"...) around the call, when nothing there trains.

    A script that trains, tests and exports by mode is one program with
    three paths: the export path builds the graph again without a train op.
    """
    file, site = graph.file, graph.site
    branch = _mode_branch(file, site)
    if branch is None:
        return None
    function = file.enclosing_function(site.scope)
    siblings = function.calls if function is not None else \
        [c for c in file.calls if file.enclosing_function(c.scope) is None]
    for other in siblings:
        if not _in_body_of(branch, other):
            continue
        if file.unit_name(other.scope) in train_units and classify_train_op(file, other) is not False:
            return None
        for callee in project.callees_of_site(file, other):
            if project.reach(callee.unit) & train_units:
                return None
    return branch


def _in_body_of(branch: cst.If, site: CallSite) -> bool:
    """The call sits in the ``if``'s body, not in its ``else``/``elif``."""
    return id(branch) in site.blocks and not (branch.orelse is not None and contains(branch.orelse, site.node))


def _mode_branch(file: FileModel, site: CallSite) -> cst.If | None:
    """The innermost ``if`` around ``site`` (in its body) that compares with a string naming an inference mode."""
    for statement in reversed(file.ifs_around(site)):
        if isinstance(statement.test, (cst.Comparison, cst.BooleanOperation)) and any(
                isinstance(inner, cst.SimpleString) and isinstance(literal(inner), str)
                and name_words(literal(inner)) & registry.INFERENCE_FUNCTION_WORDS for inner in walk(statement.test)):
            return statement
    return None
