"""BN011: an ``ExponentialMovingAverage`` whose averages are read but whose ``apply`` op never runs."""

from __future__ import annotations

import re
from typing import Iterable

import libcst as cst

from bnlint.context import FileContext
from bnlint.facts.ema import EmaObject, ema_objects
from bnlint.facts.tf1 import autograph_converted
from bnlint.facts.train_ops import module_builds_graph
from bnlint.messages import shortened
from bnlint.project import ProjectIndex
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, iter_names


class EmaApplyNeverRun(Rule):
    """Moving averages are read but the op that updates them never runs.

    ## What it does
    In TF1 graph code, flags an ``ExponentialMovingAverage`` whose averages
    are used (``ema.average(v)``, ``ema.average_name(v)``, or
    ``ema.variables_to_restore()`` for an inference ``Saver``) while:

    - the op returned by ``ema.apply(...)`` is thrown away: the call is a bare
      statement, or its result is assigned to a name that nothing uses (not
      under ``tf.control_dependencies``, not in ``tf.group``, not fetched in
      ``sess.run``, not returned), and no other ``apply`` of that object is
      used; or
    - ``ema.average(v)`` is read before ``ema.apply([v])`` is built: in the
      same function, or in a function that a caller runs before the one
      building ``apply`` (``self.build_eval(); self.build_train()``), in
      graph and eager code alike; or, in graph code, ``apply`` is never built
      for that object in its file (``average`` then returns ``None``).

    The EMA may be a local, a module global or a ``self`` attribute set in
    the class's methods.

    Left alone: an EMA object passed to or stored by other code (it may be
    applied there), an eval script that only restores averages with
    ``variables_to_restore()`` and never builds ``apply`` (the training script
    does), eager TF2 code, where ``apply`` runs when called, and ``@tf.function``
    code, whose automatic control dependencies run it.

    ## Why is this bad?
    ``apply`` creates the shadow variables and returns the op that updates
    them; in graph mode nothing runs that op unless the training step depends
    on it. The shadow variables keep their initial values, and inference
    reads (or a checkpoint restores) averages that were never trained.
    ``average(v)`` before ``apply([v])`` returns ``None``, which fails later
    with an error far from its cause.

    ## Example
    ```python
    ema = tf.train.ExponentialMovingAverage(decay=0.999)
    maintain_averages_op = ema.apply(tf.trainable_variables())
    train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
    saver = tf.train.Saver(ema.variables_to_restore())
    ```

    ## Use instead
    ```python
    ema = tf.train.ExponentialMovingAverage(decay=0.999)
    train_step = tf.train.AdamOptimizer(1e-3).minimize(loss)
    with tf.control_dependencies([train_step]):
        train_op = ema.apply(tf.trainable_variables())
    saver = tf.train.Saver(ema.variables_to_restore())
    ```

    ## Fix safety
    No automatic fix: which op should run the update is the author's choice.

    ## References
    - [tf.train.ExponentialMovingAverage](https://www.tensorflow.org/api_docs/python/tf/compat/v1/train/ExponentialMovingAverage)
    """

    CODE = "BN011"
    NAME = "ema-apply-never-run"
    FIX_TITLE = "Run the `ema.apply(...)` op with the train op (`tf.control_dependencies` or `tf.group`)"
    TOKENS = ("ExponentialMovingAverage",)
    PROJECT_WIDE = False

    VALID = [
        Valid(
            """
import tensorflow.compat.v1 as tf
x = tf.placeholder(tf.float32, [None, 4])
ema = tf.train.ExponentialMovingAverage(decay=0.999)
train_step = tf.train.AdamOptimizer(1e-3).minimize(loss)
with tf.control_dependencies([train_step]):
    train_op = ema.apply(tf.trainable_variables())
saver = tf.train.Saver(ema.variables_to_restore())
with tf.Session() as sess:
    sess.run(train_op)
"""
        ),
        # Grouped with the train step.
        Valid(
            """
import tensorflow.compat.v1 as tf
x = tf.placeholder(tf.float32, [None, 4])
ema = tf.train.ExponentialMovingAverage(0.99)
maintain = ema.apply([w, b])
train_op = tf.group(tf.train.GradientDescentOptimizer(0.1).minimize(loss), maintain)
smoothed = ema.average(w)
"""
        ),
        # Evaluation script: only restores the averages the training script maintained.
        Valid(
            """
import tensorflow.compat.v1 as tf
images = tf.placeholder(tf.float32, [None, 32, 32, 3])
ema = tf.train.ExponentialMovingAverage(0.9999)
saver = tf.train.Saver(ema.variables_to_restore())
with tf.Session() as sess:
    saver.restore(sess, ckpt)
"""
        ),
        # The EMA is handed to a helper that may apply it.
        Valid(
            """
import tensorflow.compat.v1 as tf
x = tf.placeholder(tf.float32, [None, 4])
ema = tf.train.ExponentialMovingAverage(0.99)
train_op = build_train_op(loss, ema)
value = ema.average(w)
"""
        ),
        # Eager TF2: apply runs when called.
        Valid(
            """
import tensorflow as tf
ema = tf.train.ExponentialMovingAverage(0.99)
ema.apply(model.trainable_variables)
shadow = ema.average(model.trainable_variables[0])
"""
        ),
        # Inside a tf.function, automatic control dependencies run the update.
        Valid(
            """
import tensorflow.compat.v1 as tf
x = tf.placeholder(tf.float32, [None, 4])
ema = tf.train.ExponentialMovingAverage(0.99)
@tf.function
def update(variables):
    ema.apply(variables)
    return ema.average(variables[0])
"""
        ),
        # The apply op is returned to the caller.
        Valid(
            """
import tensorflow.compat.v1 as tf
def averages(variables):
    x = tf.placeholder(tf.float32)
    ema = tf.train.ExponentialMovingAverage(0.99)
    op = ema.apply(variables)
    return op, [ema.average(v) for v in variables]
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow.compat.v1 as tf
x = tf.placeholder(tf.float32, [None, 784])
ema = tf.train.ExponentialMovingAverage(decay=0.999)
maintain_averages_op = ema.apply(tf.trainable_variables())  # error: [BN011]
train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
saver = tf.train.Saver(ema.variables_to_restore())
""",
            message="`maintain_averages_op` is never used",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
def model_fn(features, labels, mode):
    ema = tf.train.ExponentialMovingAverage(0.99)
    ema.apply([w])  # error: [BN011]
    predictions = tf.matmul(features, ema.average(w))
    return tf.estimator.EstimatorSpec(mode, predictions=predictions)
""",
            message="`ema.average(w)` (line 5)",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
x = tf.placeholder(tf.float32, [None, 4])
ema = tf.train.ExponentialMovingAverage(0.99)
smoothed_w = ema.average(w)  # error: [BN011]
train_op = tf.group(step, ema.apply([w]))
""",
            message="returns `None`",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        graph = module_builds_graph(file)
        for ema in ema_objects(file):
            if ema.escapes:
                continue
            # ``average`` returns None before ``apply`` in eager TF2 too; the unused update op only matters
            # in a graph.
            yield from _average_before_apply(file, ema, ctx.project, graph)
            if graph:
                yield from _apply_never_runs(file, ema, ctx.project)


def _apply_never_runs(file: FileModel, ema: EmaObject, project: ProjectIndex) -> Iterable[Report]:
    reads = ema.averages + ema.restores
    if not reads or not ema.applies:
        return
    if any(autograph_converted(file, site.scope) for site in ema.applies):
        return  # a ``tf.function`` runs every stateful op it creates
    unused = [(site, _unused_result(file, site, project)) for site in ema.applies]
    if any(why is None for _site, why in unused):
        return
    read = reads[0]
    what = "restored by" if read in ema.restores else "read by"
    for site, why in unused:
        yield Report(
            site.node,
            f"The update op of `{shortened(file.code(site.node))}` never runs ({why}), yet the averages are "
            f"{what} `{shortened(file.code(read.node))}` (line {file.line(read.node)})",
            related=((file, read.node),),
        )


def _unused_result(file: FileModel, site: CallSite, project: ProjectIndex) -> str | None:
    """Why the op a call returns is thrown away, or None when it may be used."""
    statement = site.statement
    if isinstance(statement, cst.SimpleStatementLine):
        for small in statement.body:
            if isinstance(small, cst.Expr) and small.value is site.node:
                return "its result is discarded"
            if isinstance(small, cst.Assign) and small.value is site.node:
                names = site.assigned_to
                if len(small.targets) != 1 or not isinstance(small.targets[0].target, cst.Name) \
                        or not names:
                    return None
                if _name_used(file, site, names[0], small):
                    return None
                if file.enclosing_function(site.scope) is None and _imported_elsewhere(project, file, names[0]):
                    return None
                return f"`{names[0]}` is never used"
    return None


def _name_used(file: FileModel, site: CallSite, name: str, assignment: cst.Assign) -> bool:
    function = file.enclosing_function(site.scope)
    root: cst.CSTNode = function.node if function is not None else file.module
    target = assignment.targets[0].target
    # Nested functions included: a closure may use the op.
    for node in iter_names(root, nested=True):
        if node.value == name and node is not target:
            return True
    return False


def _imported_elsewhere(project: ProjectIndex, file: FileModel, name: str) -> bool:
    """A module-level name that a linted file importing this one mentions (it may run the op)."""
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    importers = project.linker.importers_of(file) if project.linker is not None else project.files
    return any(other is not file and other.mentions(pattern) for other in importers)


def _average_before_apply(file: FileModel, ema: EmaObject, project: ProjectIndex,
                          graph: bool) -> Iterable[Report]:
    for average in ema.averages:
        if not average.node.args:
            continue
        arg_text = file.code(average.node.args[0].value)
        if not ema.applies:
            # Only a graph file is judged whole here: eager code may apply a module's EMA elsewhere.
            if graph and ema.name and not ema.restores:
                yield Report(
                    average.node,
                    f"`{shortened(file.code(average.node))}` returns `None`: `{ema.name}.apply(...)` is never "
                    f"built, so `{ema.name}` has no averages",
                    related=((file, ema.constructor.node),),
                )
            continue
        same_scope = [a for a in ema.applies if a.scope is average.scope]
        if len(same_scope) == len(ema.applies):
            covering = [a for a in same_scope if _applies_to(file, a, arg_text)]
            if covering and all(a.order > average.order for a in covering):
                first = min(covering, key=lambda a: a.order)
                yield Report(
                    average.node,
                    f"`{shortened(file.code(average.node))}` returns `None`: it is read before "
                    f"`{shortened(file.code(first.node))}` (line {file.line(first.node)}) creates the average",
                    related=((file, first.node),),
                )
            continue
        report = _average_built_first(file, average, ema, project)
        if report is not None:
            yield report


def _average_built_first(file: FileModel, average: CallSite, ema: EmaObject, project: ProjectIndex) -> Report | None:
    """``ema.average`` in one function, ``ema.apply`` in another, and a caller that runs the first one first.

    ``self.build_eval(); self.build_train()``: the evaluation graph reads the
    average before the training graph's ``apply`` creates it.
    """
    average_function = file.enclosing_function(average.scope)
    apply_functions = {id(f.node): f for a in ema.applies if (f := file.enclosing_function(a.scope)) is not None}
    if average_function is None or len(apply_functions) != 1 or len(ema.applies) != 1 \
            or id(average_function.node) in apply_functions:
        return None
    apply = ema.applies[0]
    if not _applies_to(file, apply, file.code(average.node.args[0].value)) \
            and not _applies_to_all(file, apply):
        return None
    apply_unit = file.unit_name(apply.scope)
    apply_calls = project.callers(apply_unit)
    for first in project.callers(file.function_unit(average_function)):
        caller_unit = first.file.unit_name(first.site.scope)
        later = [c for c in apply_calls if c.file is first.file and c.file.unit_name(c.site.scope) == caller_unit]
        if later and all(c.site.order > first.site.order for c in later):
            second = min(later, key=lambda c: c.site.order)
            return Report(
                average.node,
                f"`{shortened(file.code(average.node))}` returns `None`: "
                f"`{shortened(first.file.code(first.site.node))}` "
                f"({first.file.place(first.site.node, with_path=first.file is not file)}) reads it before "
                f"`{shortened(second.file.code(second.site.node))}` (line {second.file.line(second.site.node)}) "
                f"builds `{shortened(file.code(apply.node))}`",
                related=((first.file, first.site.node), (second.file, second.site.node), (file, apply.node)),
            )
    return None


def _applies_to_all(file: FileModel, apply: CallSite) -> bool:
    """``ema.apply(tf.trainable_variables())``: every variable, whichever ``average`` asks for."""
    if not apply.node.args:
        return False
    value = apply.node.args[0].value
    return isinstance(value, cst.Call) and bool(file.resolve(value.func, apply.scope) & _ALL_VARIABLES)


_ALL_VARIABLES = frozenset({"tensorflow.trainable_variables", "tensorflow.global_variables",
                            "tensorflow.moving_average_variables"})


def _applies_to(file: FileModel, apply: CallSite, arg_text: str) -> bool:
    if not apply.node.args:
        return False
    values = apply.node.args[0].value
    if isinstance(values, (cst.List, cst.Tuple)):
        return any(file.code(element.value) == arg_text for element in values.elements)
    return False


