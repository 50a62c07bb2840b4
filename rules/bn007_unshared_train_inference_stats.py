"""BN007: a training batch norm and an inference batch norm on the same input that do not share variables."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts import tokens
from bnlint.facts.batch_norm import BatchNormSite, batch_norm_sites_in
from bnlint.facts.conditionals import branch_around
from bnlint.facts.values import Value, constant, literal
from bnlint.project import ProjectIndex
from bnlint.rule import Invalid, Report, Rule, Valid
from bnlint.semantic import (
    CallSite, FileModel, FunctionInfo, Scope, WithFrame, call_argument, child_nodes, contains, iter_names,
)


class UnsharedTrainInferenceStats(Rule):
    """Training and inference batch norms on the same input do not share variables.

    ## What it does
    Flags the inference-mode batch norm of a pair built in one function over
    the same input, one in training mode and one in inference mode, that
    create two sets of variables instead of one. The two branch functions of
    one ``tf.cond`` or ``tf.case`` count as the function around the
    conditional: TensorFlow builds both branches when it builds the
    conditional, so ``tf.cond(p, lambda: bn(x, is_training=True), lambda:
    bn(x, is_training=False))`` is such a pair. The pairs:

    - ``tf.contrib.layers.batch_norm``/``slim.batch_norm`` with different
      ``scope`` strings, or without ``scope`` (each call gets a fresh
      ``BatchNorm_N`` scope), or the same ``scope`` without ``reuse=True``;
    - ``tf.compat.v1.layers.batch_normalization`` with different ``name``
      strings, without ``name``, or the same ``name`` without ``reuse=True``;
    - two different Keras ``BatchNormalization`` objects, one called with
      ``training=True`` and the other with ``training=False``.

    Also flags the first unscoped batch norm (no ``scope``/``name``, no
    ``reuse``, no ``variable_scope`` around it) of a builder that takes a
    ``reuse`` parameter it never reads, called several times and at least
    once with ``reuse=True``: the caller means the calls to share variables,
    but each builds a fresh ``BatchNorm_N``.

    Left alone: pairs under ``variable_scope(..., reuse=...)`` (in the
    function or around a call of it) or after ``scope.reuse_variables()``,
    pairs in different variable scopes or in different arms of a Python
    ``if`` (one graph build runs only one of them), branches of
    ``smart_cond`` (given a Python bool it builds one branch only), scopes
    computed at run time, and batch norms on different inputs.

    ## Why is this bad?
    Moving statistics live in variables. Training updates the variables of
    the training-mode batch norm; an inference batch norm with its own
    variables reads a moving mean of 0 and a variance of 1 forever, and its
    ``gamma``/``beta`` are never trained either. Evaluation accuracy is near
    chance while training looks fine. With the same scope and no
    ``reuse=True``, TF1 raises "Variable .../beta already exists" instead.

    ## Example
    ```python
    train_out = slim.batch_norm(net, is_training=True, scope="bn_train")
    eval_out = slim.batch_norm(net, is_training=False, scope="bn_eval")
    ```

    ## Use instead
    ```python
    train_out = slim.batch_norm(net, is_training=True, scope="bn")
    eval_out = slim.batch_norm(net, is_training=False, scope="bn", reuse=True)
    ```
    For Keras, call one layer object twice: ``bn(x, training=True)`` and
    ``bn(x, training=False)``.

    ## Fix safety
    No automatic fix: renaming scopes changes which checkpoint variables load.

    ## References
    - [tf.compat.v1.variable_scope (sharing variables)](https://www.tensorflow.org/api_docs/python/tf/compat/v1/variable_scope)
    - [tf.keras.layers.BatchNormalization](https://www.tensorflow.org/api_docs/python/tf/keras/layers/BatchNormalization)
    """

    CODE = "BN007"
    NAME = "unshared-train-inference-stats"
    FIX_TITLE = "Share one set of batch-norm variables (same scope and `reuse=True`, or one layer object)"
    TOKENS = tokens.BATCH_NORM
    PROJECT_WIDE = False

    VALID = [
        Valid(
            """
import tensorflow as tf
slim = tf.contrib.slim
train_out = slim.batch_norm(net, is_training=True, scope="bn")
eval_out = slim.batch_norm(net, is_training=False, scope="bn", reuse=True)
"""
        ),
        Valid(
            """
import tensorflow as tf
bn = tf.keras.layers.BatchNormalization()
train_out = bn(x, training=True)
eval_out = bn(x, training=False)
"""
        ),
        # Reuse through the variable scope.
        Valid(
            """
import tensorflow.compat.v1 as tf
with tf.variable_scope("model", reuse=tf.AUTO_REUSE):
    train_out = tf.layers.batch_normalization(x, training=True)
    eval_out = tf.layers.batch_normalization(x, training=False)
"""
        ),
        # Python if/else: each build of the graph creates one of them.
        Valid(
            """
import tensorflow as tf
def block(x, is_training):
    if is_training:
        return tf.contrib.layers.batch_norm(x, is_training=True)
    else:
        return tf.contrib.layers.batch_norm(x, is_training=False)
"""
        ),
        # Different inputs: two different batch norms.
        Valid(
            """
import tensorflow.compat.v1 as tf
a = tf.layers.batch_normalization(x, training=True, name="bn1")
b = tf.layers.batch_normalization(y, training=False, name="bn2")
"""
        ),
        # One scope shared by the branch lambdas of a tf.cond.
        Valid(
            """
import tensorflow as tf
out = tf.cond(is_train,
              lambda: tf.contrib.layers.batch_norm(x, is_training=True, scope="bn", reuse=None),
              lambda: tf.contrib.layers.batch_norm(x, is_training=False, scope="bn", reuse=True))
"""
        ),
        # smart_cond given a Python bool builds one branch only.
        Valid(
            """
import tensorflow as tf
from tensorflow.python.framework import smart_cond
out = smart_cond.smart_cond(training,
                            lambda: tf.contrib.layers.batch_norm(x, is_training=True),
                            lambda: tf.contrib.layers.batch_norm(x, is_training=False))
"""
        ),
        # Scope computed at run time.
        Valid(
            """
import tensorflow as tf
train_out = tf.contrib.layers.batch_norm(x, is_training=True, scope=prefix + "bn")
eval_out = tf.contrib.layers.batch_norm(x, is_training=False, scope=other + "bn")
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow as tf
slim = tf.contrib.slim
train_out = slim.batch_norm(net, is_training=True, scope="bn_train")
eval_out = slim.batch_norm(net, is_training=False, scope="bn_eval")  # error: [BN007]
out = tf.cond(is_training, lambda: train_out, lambda: eval_out)
""",
            message="scope `bn_train` vs `bn_eval`",
        ),
        Invalid(
            """
import tensorflow.compat.v1 as tf
def bn(x, phase):
    train = tf.layers.batch_normalization(x, training=True, name="bn")
    test = tf.layers.batch_normalization(x, training=False, name="bn")  # error: [BN007]
    return tf.cond(phase, lambda: train, lambda: test)
""",
            message="without `reuse=True`",
        ),
        Invalid(
            """
import tensorflow as tf
train_bn = tf.keras.layers.BatchNormalization()
eval_bn = tf.keras.layers.BatchNormalization()
h_train = train_bn(features, training=True)
h_eval = eval_bn(features, training=False)  # error: [BN007]
""",
            message="different layer objects (`train_bn` on line 2, `eval_bn` on line 3)",
        ),
        Invalid(
            """
import tensorflow as tf
train_out = tf.contrib.layers.batch_norm(x, is_training=True)
eval_out = tf.contrib.layers.batch_norm(x, is_training=False)  # error: [BN007]
""",
            message="no `scope`",
        ),
        # Both branch lambdas of one tf.cond are built: no scope, so nothing is shared.
        Invalid(
            """
import tensorflow as tf
out = tf.cond(is_train,
              lambda: tf.contrib.layers.batch_norm(x, is_training=True, reuse=None),
              lambda: tf.contrib.layers.batch_norm(x, is_training=False, reuse=True))  # error: [BN007]
""",
            message="`reuse=True` without a `scope`",
        ),
        # Branch functions given by name, inside a model function.
        Invalid(
            """
import tensorflow.compat.v1 as tf
def block(x, phase):
    def train_bn():
        return tf.layers.batch_normalization(x, training=True, name="bn_train")
    def eval_bn():
        return tf.layers.batch_normalization(x, training=False, name="bn_eval")  # error: [BN007]
    return tf.cond(phase, train_bn, eval_bn)
""",
            message="name `bn_train` vs `bn_eval`",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        sites = batch_norm_sites_in(ctx.project, file)
        yield from _reuse_dropped(file, sites, ctx.project)
        if len(sites) < 2:
            return
        reported: set[int] = set()
        for train in sites:
            if not _always(train, True) or not train.site.node.args:
                continue
            for infer in sites:
                if infer is train or id(infer.site.node) in reported or infer.api is not train.api:
                    continue
                # Same function (or branches of one conditional) and same if/else arm: both
                # run in one build of the graph.
                if _build_scope(file, infer.site) is not _build_scope(file, train.site) \
                        or not infer.site.node.args or _exclusive_arms(file, train, infer):
                    continue
                if not _always(infer, False):
                    continue
                if file.code(infer.site.node.args[0].value) != file.code(train.site.node.args[0].value):
                    continue
                why = _unshared(file, train, infer, ctx.project)
                if why is None:
                    continue
                reported.add(id(infer.site.node))
                yield Report(
                    infer.site.node,
                    f"Inference batch norm `{infer.display()}` does not share variables with the training "
                    f"batch norm `{train.display()}` (line {file.line(train.site.node)}) on the same input: "
                    f"{why}; it reads moving statistics training never updates",
                    related=((file, train.site.node),),
                )


def _reuse_dropped(file: FileModel, sites: list[BatchNormSite], project: ProjectIndex) -> Iterable[Report]:
    """A builder called with ``reuse=True`` that never reads its ``reuse`` parameter, over unscoped batch norms.

    ``discriminator(real)`` then ``discriminator(fake, reuse=True)``: the
    caller means both calls to share variables, but each call's unscoped
    batch norms get fresh ``BatchNorm_N`` variables, so the second copy's
    statistics (and ``gamma``/``beta``) are its own.
    """
    by_function: dict[int, list[BatchNormSite]] = {}
    for bn in sites:
        function = file.enclosing_function(bn.site.scope)
        if function is not None and isinstance(function.node, cst.FunctionDef):
            by_function.setdefault(id(function.node), []).append(bn)
    for bns in by_function.values():
        function = file.enclosing_function(bns[0].site.scope)
        assert function is not None
        if function.param_named(registry.REUSE_PARAM) is None or _reads_name(function, registry.REUSE_PARAM):
            continue
        callers = project.callers(file.function_unit(function))
        reusing = [c for c in callers if (arg := call_argument(c.site.node, registry.REUSE_PARAM, None)) is not None
                   and constant(Value(arg.value, c.file, c.site.scope)) is True]
        if not reusing or len(callers) < 2:
            continue
        unscoped = [bn for bn in bns if _fresh_variables(file, bn, project)]
        if not unscoped:
            continue
        first, call = unscoped[0], reusing[0]
        param = registry.BATCH_NORM_SCOPE_PARAMS[first.api.key]
        yield Report(
            first.site.node,
            f"`{first.display()}` gets new variables on every call of `{function.name}`: its `reuse` parameter, "
            f"passed `reuse=True` ({call.file.place(call.site.node, with_path=call.file is not file)}), never "
            f"reaches it, and it has no `{param.name}`",
            related=((call.file, call.site.node),),
        )


def _reads_name(function: FunctionInfo, name: str) -> bool:
    """The function's body reads ``name`` (not only declares it as a parameter)."""
    body = function.node.body
    return any(node.value == name for node in iter_names(body, nested=True))


def _fresh_variables(file: FileModel, bn: BatchNormSite, project: ProjectIndex) -> bool:
    """Each build of this batch norm creates new variables: no scope or name, no reuse around it."""
    param = registry.BATCH_NORM_SCOPE_PARAMS.get(bn.api.key)
    if param is None or bn.via_normalizer_fn or _reuses(bn):
        return False
    return _scope_value(file, bn, param) is None and not _reuse_context(file, bn, project) \
        and not _scope_frames(file, bn)


def _enclosing_conds(file: FileModel, site: CallSite) -> list[CallSite]:
    """The ``tf.cond``/``tf.case`` calls whose branch function holds ``site`` directly, innermost first."""
    out: list[CallSite] = []
    scope = site.scope
    while True:
        branch = branch_around(file, scope)
        # smart_cond with a Python bool calls one branch only: its branches are not built together.
        if branch is None or branch.scope is not scope \
                or not file.call_names(branch.cond) & registry.CONTROL_FLOW_CONDS:
            return out
        out.append(branch.cond)
        scope = branch.cond.scope


def _build_scope(file: FileModel, site: CallSite) -> Scope:
    """The scope whose code builds ``site``: its own, or that of the conditional it is a branch of."""
    conds = _enclosing_conds(file, site)
    return conds[-1].scope if conds else site.scope


def _exclusive_arms(file: FileModel, a: BatchNormSite, b: BatchNormSite) -> bool:
    """The calls may not both run in one build: different ``if`` arms, or one under a block the other is not."""
    if set(a.site.blocks) != set(b.site.blocks):
        return True
    nodes = _block_nodes(file)
    for block in a.site.blocks:
        node = nodes.get(block)
        if isinstance(node, cst.If) and contains(node.body, a.site.node) != contains(node.body, b.site.node):
            return True
    return False


def _block_nodes(file: FileModel) -> dict[int, cst.CSTNode]:
    cached = getattr(file, "_bn007_blocks", None)
    if cached is None:
        cached = {}
        stack: list[cst.CSTNode] = [file.module]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.If, cst.For, cst.While, cst.Try)):
                cached[id(node)] = node
            stack.extend(child_nodes(node))
        file._bn007_blocks = cached  # type: ignore[attr-defined]
    return cached


def _always(bn: BatchNormSite, mode: bool) -> bool:
    values = bn.training_values()
    return bool(values) and all(value is mode for value in values)


def _unshared(file: FileModel, train: BatchNormSite, infer: BatchNormSite, project: ProjectIndex) -> str | None:
    """Why the pair creates two sets of variables, or None when they share (or we cannot tell)."""
    if train.api.kind == "layer":
        if train.constructor is None or infer.constructor is None or train.constructor is infer.constructor:
            return None
        return f"different layer objects ({_layer_name(file, train)}, {_layer_name(file, infer)})"
    param = registry.BATCH_NORM_SCOPE_PARAMS.get(train.api.key)
    if param is None or train.via_normalizer_fn or infer.via_normalizer_fn:
        return None
    if _reuse_context(file, train, project) or _reuse_context(file, infer, project):
        return None
    if _scope_frames(file, train) != _scope_frames(file, infer):
        return None
    train_scope = _scope_value(file, train, param)
    infer_scope = _scope_value(file, infer, param)
    if train_scope is ... or infer_scope is ...:
        return None
    if train_scope is None and infer_scope is None:
        if param.name == "name":
            return "neither passes `name`, so each gets a new variable scope"
        if _reuses(infer):
            # variable_scope(None, "BatchNorm", reuse=True) has no name to reuse.
            return ("`reuse=True` without a `scope` has no variable scope to reuse (TF1 raises `ValueError`; "
                    "without `reuse`, each call gets a new variable scope)")
        return "no `scope` is passed, so each gets a new variable scope"
    if train_scope != infer_scope:
        return f"{param.name} `{train_scope or '(default)'}` vs `{infer_scope or '(default)'}`"
    later = infer if infer.site.order > train.site.order else train
    if not _reuses(later):
        return f"same {param.name} `{infer_scope}` but without `reuse=True`"
    return None


def _reuses(bn: BatchNormSite) -> bool:
    """The call passes ``reuse`` with a value other than None/False."""
    reuse = call_argument(bn.site.node, registry.REUSE_PARAM, None)
    return reuse is not None and literal(reuse.value) not in (None, False)


def _layer_name(file: FileModel, bn: BatchNormSite) -> str:
    func = bn.site.node.func
    assert bn.constructor is not None
    line = file.line(bn.constructor)
    return f"`{file.code(func)}` on line {line}" if isinstance(func, cst.Name) else f"line {line}"


def _scope_value(file: FileModel, bn: BatchNormSite, param: registry.Param) -> object:
    """The literal scope/name string, None when not passed, ``...`` when unknown."""
    arg = call_argument(bn.site.node, param.name, param.position)
    if arg is None:
        return None
    value = constant(Value(arg.value, file, bn.site.scope))
    return value if isinstance(value, str) else ...


def _reuse_context(file: FileModel, bn: BatchNormSite, project: ProjectIndex) -> bool:
    """Inside ``variable_scope(..., reuse=...)`` (here or around a caller), or after ``reuse_variables()``."""
    for frame in _withs(file, bn.site):
        if frame.call is not None and call_argument(frame.call, registry.REUSE_PARAM, None) is not None:
            return True
    conds = _enclosing_conds(file, bn.site)
    # Where the graph build reaches the batch norm: at the outermost conditional whose branch holds it.
    built = conds[-1] if conds else bn.site
    function = file.enclosing_function(built.scope)
    if function is not None:
        for ref in project.callers(file.function_unit(function)):
            if any(frame.call is not None and call_argument(frame.call, registry.REUSE_PARAM, None) is not None
                   for frame in ref.site.withs):
                return True
    # ``scope.reuse_variables()`` before the build, or earlier in a named branch function.
    before = [(function.calls if function is not None else file.calls, built.order)]
    own = file.enclosing_function(bn.site.scope)
    if own is not function and own is not None:
        before.append((own.calls, bn.site.order))
    for calls, order in before:
        for site in calls:
            func = site.node.func
            if isinstance(func, cst.Attribute) and func.attr.value == registry.REUSE_VARIABLES_METHOD \
                    and site.order < order:
                return True
    return False


def _withs(file: FileModel, site: CallSite) -> list[WithFrame]:
    """The ``with`` frames around a call, and around the conditionals it is a branch of (by identity)."""
    frames = {id(frame.item): frame for frame in site.withs}
    for cond in _enclosing_conds(file, site):
        for frame in cond.withs:
            frames.setdefault(id(frame.item), frame)
    return list(frames.values())


def _scope_frames(file: FileModel, bn: BatchNormSite) -> tuple[int, ...]:
    """The ``variable_scope`` blocks around a batch norm (their names prefix its variables)."""
    return tuple(sorted(id(frame.item) for frame in _withs(file, bn.site)
                 if frame.call is not None
                 and file.resolve(frame.call.func, frame.scope) & registry.VARIABLE_SCOPE_NAMES))
