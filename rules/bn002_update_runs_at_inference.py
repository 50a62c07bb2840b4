"""BN002: moving-statistics updates that run at inference: outside the ``tf.cond`` branch, or on evaluation runs."""

from __future__ import annotations

from typing import Iterable, Iterator

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.batch_norm import BatchNormSite, batch_norm_sites, classify
from bnlint.facts.conditionals import Branch, branches_of, file_branches, inside
from bnlint.facts.inference import inference_function_around
from bnlint.facts.sessions import SessionRun, evaluation_names, fetches_train_op, session_runs
from bnlint.facts.training_flag import reaches_flag
from bnlint.facts.values import Value, constant, constant_origins
from bnlint.messages import shortened
from bnlint.project import ProjectIndex
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import INSTANCE, FileModel, Scope, iter_names, walk

_MOVING_STAT_TEXT = registry.MOVING_STAT_WORDS


class UpdateRunsAtInference(Rule):
    """Moving-statistics update runs at inference.

    ## What it does
    Flags an op that updates moving statistics in place (``ema.apply(...)``, a
    batch norm with ``updates_collections=None`` in training mode,
    ``assign_moving_average`` or an ``assign`` to a moving mean/variance)
    that is built *outside* the branch functions of a ``tf.cond``,
    ``tf.case`` or ``smart_cond`` while a branch uses it, by selecting its
    output or by pulling it in with ``tf.control_dependencies``: through a
    name, or through an attribute of the object (``self.ema_op``) that a
    method assigns outside the branch.

    Also flags a TF1 evaluation run (a ``sess.run``/``.eval`` that fetches no
    train op, in an inference function or in code named for test or
    validation data: ``loss_val.eval(...)``, ``for val_step in ...``) of a
    program whose batch norms update in place (``updates_collections=None``)
    and are in training mode in every context, with no training flag fed
    ``False``: each evaluation batch moves the moving statistics.

    ## Why is this bad?
    TensorFlow runs only the ops created inside the taken branch lazily; an op
    created before the conditional runs every time the conditional's output is
    needed. The moving statistics are then updated at inference too, drifting
    with every evaluation batch, and evaluation results depend on the data seen.

    ## Example
    ```python
    ema = tf.train.ExponentialMovingAverage(decay=0.99)
    ema_apply_op = ema.apply([batch_mean, batch_var])

    def mean_var_with_update():
        with tf.control_dependencies([ema_apply_op]):
            return tf.identity(batch_mean), tf.identity(batch_var)

    mean, var = tf.cond(is_training, mean_var_with_update,
                        lambda: (ema.average(batch_mean), ema.average(batch_var)))
    ```

    ## Use instead
    ```python
    ema = tf.train.ExponentialMovingAverage(decay=0.99)

    def mean_var_with_update():
        ema_apply_op = ema.apply([batch_mean, batch_var])
        with tf.control_dependencies([ema_apply_op]):
            return tf.identity(batch_mean), tf.identity(batch_var)
    ```
    Keep the EMA object itself (or the batch-norm layer) outside the branch: only the
    update op moves in, so the inference branch can still read ``ema.average(...)``
    (constructing the EMA inside the branch is BN006).

    ## Fix safety
    No automatic fix: moving the op changes which variables a branch creates.

    ## References
    - [tf.cond](https://www.tensorflow.org/api_docs/python/tf/cond)
    - [tf.train.ExponentialMovingAverage](https://www.tensorflow.org/api_docs/python/tf/train/ExponentialMovingAverage)
    """

    CODE = "BN002"
    NAME = "update-runs-at-inference"
    FIX_TITLE = "Build the update op inside the training branch function"
    TOKENS = ("ExponentialMovingAverage", "updates_collections", "assign_moving_average", "moving_",
              "running_", "pop_mean", "pop_var", "assign")
    # An evaluation run of a graph built elsewhere (``loss_val.eval(...)``): checked when linked.
    CHECK_TOKENS = tokens.EVALUATION
    PROJECT_WIDE = True

    VALID = [
        # The object's update op is built inside the branch that uses it.
        Valid(
            """
import tensorflow.compat.v1 as tf
class PopulationNorm:
    def __init__(self, decay=0.9):
        self.averages = tf.train.ExponentialMovingAverage(decay)

    def __call__(self, x, is_training):
        mean, variance = tf.nn.moments(x, [0, 1, 2])
        def with_update():
            self.update = self.averages.apply([mean, variance])
            with tf.control_dependencies([self.update]):
                return tf.identity(mean), tf.identity(variance)
        def population():
            return self.averages.average(mean), self.averages.average(variance)
        mean, variance = tf.cond(is_training, with_update, population)
        return tf.nn.batch_normalization(x, mean, variance, None, None, 1e-3)
"""
        ),
        Valid(
            """
import tensorflow as tf
ema = tf.train.ExponentialMovingAverage(decay=0.99)
def mean_var_with_update():
    ema_apply_op = ema.apply([batch_mean, batch_var])
    with tf.control_dependencies([ema_apply_op]):
        return tf.identity(batch_mean), tf.identity(batch_var)
mean, var = tf.cond(is_training, mean_var_with_update,
                    lambda: (ema.average(batch_mean), ema.average(batch_var)))
"""
        ),
        # Default updates_collections: the updates are separate ops in UPDATE_OPS.
        Valid(
            """
import tensorflow as tf
train_out = tf.contrib.layers.batch_norm(x, is_training=True, scope="bn")
test_out = tf.contrib.layers.batch_norm(x, is_training=False, scope="bn", reuse=True)
out = tf.cond(is_training, lambda: train_out, lambda: test_out)
"""
        ),
        # Built inside the branch lambdas.
        Valid(
            """
import tensorflow as tf
out = tf.cond(
    is_training,
    lambda: tf.contrib.layers.batch_norm(x, is_training=True, updates_collections=None, scope="bn"),
    lambda: tf.contrib.layers.batch_norm(x, is_training=False, updates_collections=None, scope="bn", reuse=True),
)
"""
        ),
        # Not used by any branch.
        Valid(
            """
import tensorflow as tf
ema = tf.train.ExponentialMovingAverage(0.9)
maintain_averages = ema.apply([w])
with tf.control_dependencies([maintain_averages]):
    train_op = tf.identity(step)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow.compat.v1 as tf
class PopulationNorm:
    def __init__(self, decay=0.9):
        self.averages = tf.train.ExponentialMovingAverage(decay)

    def __call__(self, x, is_training):
        mean, variance = tf.nn.moments(x, [0, 1, 2])
        self.update = self.averages.apply([mean, variance])  # error: [BN002]
        def with_update():
            with tf.control_dependencies([self.update]):
                return tf.identity(mean), tf.identity(variance)
        def population():
            return self.averages.average(mean), self.averages.average(variance)
        mean, variance = tf.cond(is_training, with_update, population)
        return tf.nn.batch_normalization(x, mean, variance, None, None, 1e-3)
""",
            message="pulled in by `control_dependencies`",
        ),
        Invalid(
            """
import tensorflow as tf
ema = tf.train.ExponentialMovingAverage(decay=0.5)
ema_apply_op = ema.apply([batch_mean, batch_var])  # error: [BN002]
def mean_var_with_update():
    with tf.control_dependencies([ema_apply_op]):
        return tf.identity(batch_mean), tf.identity(batch_var)
mean, var = tf.cond(phase_train, mean_var_with_update,
                    lambda: (ema.average(batch_mean), ema.average(batch_var)))
""",
            message="`mean_var_with_update`",
        ),
        Invalid(
            """
import tensorflow as tf
slim = tf.contrib.slim
train_out = slim.batch_norm(x, is_training=True, updates_collections=None, scope="bn")  # error: [BN002]
test_out = slim.batch_norm(x, is_training=False, updates_collections=None, scope="bn", reuse=True)
out = tf.cond(is_training, lambda: train_out, lambda: test_out)
""",
            message="`tf.cond` (line 5)",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
def bn(x, is_training, decay=0.99):
    pop_mean = tf.Variable(tf.zeros([x.shape[-1]]), trainable=False)
    batch_mean, batch_var = tf.nn.moments(x, [0])
    train_mean = tf.assign(pop_mean, pop_mean * decay + batch_mean * (1 - decay))  # error: [BN002]
    def train_branch():
        with tf.control_dependencies([train_mean]):
            return tf.identity(batch_mean)
    return tf.cond(is_training, train_branch, lambda: pop_mean)
"""
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        reported: set[int] = set()
        for site in file.calls:
            for branch in branches_of(file, site):
                for creation, how in _outside_updates(file, branch, ctx.project):
                    if id(creation) in reported:
                        continue
                    reported.add(id(creation))
                    cond_text = file.code(site.node.func)
                    yield Report(
                        creation,
                        f"`{shortened(file.code(creation))}` updates moving statistics whichever branch of "
                        f"`{cond_text}` ({file.place(site.node)}) runs: it is built outside {branch.label} "
                        f"and only {how} there",
                        related=((file, site.node),),
                    )
        yield from _evaluation_runs_updating(file, ctx.project)


def _evaluation_runs_updating(file: FileModel, project: ProjectIndex) -> Iterator[Report]:
    """Evaluation runs of a graph whose batch norms update their moving statistics in place, in training mode."""
    for run in session_runs(file):
        function = inference_function_around(file, run.site.scope)
        evidence = evaluation_names(run)
        if function is None and not evidence:
            continue
        if fetches_train_op(project, run) or _feeds_a_false_flag(project, run):
            continue
        reach = project.reach(file.unit_name(run.site.scope))
        updating = [bn for bn in batch_norm_sites(project)
                    if bn.unit in reach and bn.updates_in_place() and _always_training(bn)]
        if not updating:
            continue
        first = updating[0]
        what = f"inside `{function.name}`" if function is not None else \
            f"({', '.join(f'`{name}`' for name in evidence[:3])})"
        yield Report(run.site.node,
                     f"`{shortened(file.code(run.site.node))}` evaluates {what} through batch norms in training mode "
                     f"that update in place (`{shortened(first.display())}`, "
                     f"{first.file.place(first.site.node, with_path=first.file is not file)}): every evaluation "
                     f"batch moves the moving statistics",
                     related=((first.file, first.site.node),))


def _feeds_a_false_flag(project: ProjectIndex, run: SessionRun) -> bool:
    """The run switches the program to inference: it feeds False to a batch norm's flag or a conditional's predicate.

    A predicate selecting between batch norms built outside the conditional
    is the first judgement's finding, reported where the fix goes.
    """
    for entry in run.feeds:
        if constant(Value(entry.value, run.file, run.site.scope)) is not False:
            continue
        if reaches_flag(project, run.file, run.site.scope, entry.key) or _cond_predicate(run.file, entry.key):
            return True
    return False


def _cond_predicate(file: FileModel, expr: cst.BaseExpression) -> bool:
    """``expr`` is written as the predicate of a conditional of the file (its branches, computed once per file)."""
    text = file.code(expr)
    conds = {id(branch.cond.node): branch.cond.node for branch in file_branches(file)}
    return any(bool(cond.args) and file.code(cond.args[0].value) == text for cond in conds.values())


def _always_training(bn: BatchNormSite) -> bool:
    """The flag is True in every context, following parameters to what every caller passes."""
    if not bn.training:
        return False
    for value in bn.training:
        if value is None:
            if not bn.api.training or bn.api.training.default is not True:
                return False
            continue
        origins = constant_origins(value)
        if not origins or any(literal is not True for literal, _where in origins):
            return False
    return True


def _outside_updates(file: FileModel, branch: Branch,
                     project: ProjectIndex) -> Iterator[tuple[cst.Call, str]]:
    """In-place update ops a branch uses but that were created outside it."""
    pulled = _control_dependency_names(file, branch)
    for read, value, value_scope in _values_read(file, branch):
        if isinstance(value, cst.Call) and not inside(value_scope, branch.scope) \
                and _is_in_place_update(file, value, value_scope, project):
            how = "pulled in by `control_dependencies`" if id(read) in pulled else "selected"
            yield value, how


def _values_read(file: FileModel, branch: Branch) -> Iterator[tuple[cst.Name, cst.BaseExpression, Scope]]:
    """(the name read, a value it may hold, that value's scope) for the names the branch function reads.

    A name's assignments, and for ``self.ema_op`` what the class's methods assign
    to the attribute: an update op the object keeps, built by a method.
    """
    for name in iter_names(branch.function.node.body):
        for binding in file.lookup(name.value, branch.scope):
            if binding.kind == "assign" and binding.value is not None:
                yield name, binding.value, binding.scope
    for node in walk(branch.function.node.body):
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
            for value, value_scope in file.attribute_values(node, branch.scope):
                yield node.value, value, value_scope


def _control_dependency_names(file: FileModel, branch: Branch) -> set[int]:
    names: set[int] = set()
    for site in file.calls:
        if not inside(site.scope, branch.scope):
            continue
        if file.call_names(site) & registry.CONTROL_DEPENDENCIES_NAMES:
            for arg in site.node.args:
                names.update(id(name) for name in iter_names(arg.value))
    return names


def _is_in_place_update(file: FileModel, call: cst.Call, scope: Scope, project: ProjectIndex) -> bool:
    names = file.resolve(call.func, scope)
    for name in names:
        if name.endswith(f"{INSTANCE}.{registry.EMA_APPLY_METHOD}") and \
                name[: -len(f"{INSTANCE}.{registry.EMA_APPLY_METHOD}")] in registry.EMA_CLASS_NAMES:
            return True
        if name in registry.ASSIGN_MOVING_AVERAGE_NAMES:
            return True
        if name in registry.ASSIGN_FUNCTION_NAMES and call.args and _is_moving_stat(file.code(call.args[0].value)):
            return True
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in registry.ASSIGN_METHODS \
            and _is_moving_stat(file.code(func.value)):
        return True
    site = file.call_by_node.get(id(call))
    if site is not None:
        bn = classify(file, site, project)
        if bn is not None and bn.updates_in_place() and not bn.never_training():
            return True
    return False


def _is_moving_stat(text: str) -> bool:
    squashed = text.lower().replace("_", "").replace(".", "")
    return any(word in squashed for word in _MOVING_STAT_TEXT)
