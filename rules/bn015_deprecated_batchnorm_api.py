"""BN015: a batch-norm API or argument the targeted TensorFlow/Keras version no longer has."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts.api_version import raw_names, targets_keras3, targets_tf2
from bnlint.facts.values import Value, constant
from bnlint.rule import FixSpec, Invalid, Report, Rule, Valid
from bnlint.semantic import INSTANCE, CallSite, FileModel, call_argument, has_star_args


class DeprecatedBatchNormApi(Rule):
    """Deprecated or removed batch-norm API.

    ## What it does
    Flags batch-norm APIs and arguments that the code's TensorFlow or Keras
    version deprecates or no longer has, and says what to use instead:

    - ``tf.nn.batch_norm_with_global_normalization`` (deprecated since
      TF 1.x, in TF1 graph code and through ``tf.compat.v1`` too): use
      ``tf.nn.batch_normalization``;
    - ``tf.contrib.layers.batch_norm`` (``tf.contrib.slim.batch_norm``),
      ``tf.layers.batch_normalization`` and ``tf.layers.BatchNormalization``
      in **TF2-targeted code**: use ``tf.keras.layers.BatchNormalization``
      (or ``tf_slim.batch_norm``);
    - ``BatchNormalization(mode=...)``, a Keras 1 argument Keras 2 and 3 reject;
    - ``BatchNormalization(fused=...)``, ``virtual_batch_size=`` and
      ``adjustment=``, Keras 2 arguments, in code that targets Keras 3.

    A file is **TF2-targeted** when it uses a TF2-style API (``tf.function``,
    ``tf.GradientTape``, ``tf.random.set_seed``, ``tf.summary.create_file_writer``,
    ``tf.config.list_physical_devices``, ``tf.distribute.MirroredStrategy``,
    or imports ``tensorflow.compat.v2``) and does not deliberately use TF1:
    it spells nothing through ``compat.v1`` (not even in a comment), does not call
    ``disable_v2_behavior``/``disable_eager_execution``, and builds no TF1 graph
    (``tf.Session``, ``tf.placeholder``, ``EstimatorSpec``, ``tf.Graph``). Code
    that uses ``tf.compat.v1`` on purpose is never flagged, nor is
    ``tf_slim``. Code targets **Keras 3** when it imports standalone ``keras``
    and uses ``keras.ops``, ``keras.config``, ``keras.random`` or ``keras.src``.

    ## Why is this bad?
    ``tf.contrib`` and ``tf.layers`` do not exist in TF2, so TF2 code using them
    fails as soon as it runs on TF2, or is stuck on ``compat.v1`` graph-mode
    semantics (update ops in collections, see BN001). Arguments a Keras version
    dropped raise on construction. The deprecated op is kept only for old code.

    ## Example
    ```python
    import tensorflow as tf

    @tf.function
    def step(x):
        return tf.layers.batch_normalization(x, training=True)

    y = tf.nn.batch_norm_with_global_normalization(x, m, v, beta, gamma, 1e-3, True)
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    bn = tf.keras.layers.BatchNormalization()

    @tf.function
    def step(x):
        return bn(x, training=True)

    y = tf.nn.batch_normalization(x, m, v, beta, gamma, 1e-3)
    ```

    ## Fix safety
    Fixes are offered only where the replacement is one-to-one, and they are
    **safe**: they compute exactly what the old code did.
    ``batch_norm_with_global_normalization(t, m, v, beta, gamma, eps, scale)``
    becomes ``batch_normalization(t, m, v, beta, gamma if scale else None, eps)``,
    which is how TensorFlow implements it (only with a literal ``True``/``False``
    ``scale_after_normalization``); ``mode=0`` (Keras 2's only behaviour) and
    ``fused=...`` (a kernel choice) are removed. The layer APIs have no fix:
    a Keras layer is an object that owns its variables, not a drop-in call.

    ## References
    - [Migrate to TF2](https://www.tensorflow.org/guide/migrate)
    - [tf.nn.batch_normalization](https://www.tensorflow.org/api_docs/python/tf/nn/batch_normalization)
    - [Keras 3 BatchNormalization](https://keras.io/api/layers/normalization_layers/batch_normalization/)
    """

    CODE = "BN015"
    NAME = "deprecated-batchnorm-api"
    FIX_TITLE = "Use the replacement API"
    FIX_APPLICABILITY = "safe"
    SEVERITY = "warning"
    TOKENS = ("batch_norm", "batch_normalization", "BatchNormalization")

    VALID = [
        # Deliberate TF1 through compat.v1.
        Valid(
            """
import tensorflow.compat.v1 as tf
@tf.function
def f(x):
    return tf.layers.batch_normalization(x, training=True)
"""
        ),
        # TF1 code (no TF2-style API): tf.layers is what it should use.
        Valid(
            """
import tensorflow as tf
x = tf.placeholder(tf.float32, [None, 10])
h = tf.layers.batch_normalization(x, training=True)
"""
        ),
        Valid(
            """
import tensorflow as tf
import tf_slim as slim
@tf.function
def f(x):
    return slim.batch_norm(x, is_training=True)
"""
        ),
        Valid(
            """
import tensorflow as tf
bn = tf.keras.layers.BatchNormalization(fused=True)
y = tf.nn.batch_normalization(x, m, v, beta, gamma, 1e-3)
"""
        ),
        # Keras 2 code (no Keras 3 module in use): fused= is fine.
        Valid(
            """
import keras
bn = keras.layers.BatchNormalization(fused=False)
"""
        ),
    ]
    INVALID = [
        # Deprecated since TF 1.x: TF1 graph code and the compat.v1 spelling too.
        Invalid(
            """
import tensorflow.compat.v1 as tf
images = tf.placeholder(tf.float32, [None, 28, 28, 1])
y = tf.nn.batch_norm_with_global_normalization(images, m, v, beta, gamma, 1e-3, True)  # error: [BN015]
z = tf.compat.v1.nn.batch_norm_with_global_normalization(images, m, v, beta, gamma, 1e-3, True)  # error: [BN015]
""",
            message="is deprecated",
            expected_replacement="""
import tensorflow.compat.v1 as tf
images = tf.placeholder(tf.float32, [None, 28, 28, 1])
y = tf.nn.batch_normalization(images, m, v, beta, gamma, 1e-3)  # error: [BN015]
z = tf.compat.v1.nn.batch_normalization(images, m, v, beta, gamma, 1e-3)  # error: [BN015]
""",
        ),
        Invalid(
            """
import tensorflow as tf
y = tf.nn.batch_norm_with_global_normalization(x, m, v, beta, gamma, 1e-3, True)  # error: [BN015]
z = tf.nn.batch_norm_with_global_normalization(  # error: [BN015]
    t=x, m=m, v=v, beta=beta, gamma=gamma,
    variance_epsilon=1e-3, scale_after_normalization=False, name="bn",
)
""",
            message="use `tf.nn.batch_normalization`",
            expected_replacement="""
import tensorflow as tf
y = tf.nn.batch_normalization(x, m, v, beta, gamma, 1e-3)  # error: [BN015]
z = tf.nn.batch_normalization(  # error: [BN015]
    x=x, mean=m, variance=v, offset=beta, scale=None,
    variance_epsilon=1e-3, name="bn",
)
""",
        ),
        # scale_after_normalization is not a literal: reported, not fixed.
        Invalid(
            """
import tensorflow as tf
y = tf.nn.batch_norm_with_global_normalization(x, m, v, beta, gamma, 1e-3, use_scale)  # error: [BN015]
"""
        ),
        Invalid(
            """
import tensorflow as tf

@tf.function
def train_step(x):
    h = tf.layers.batch_normalization(x, training=True)  # error: [BN015]
    return tf.contrib.layers.batch_norm(h, is_training=True)  # error: [BN015]
""",
            message="`tf.layers.batch_normalization` does not exist in TF2; use `tf.keras.layers.BatchNormalization`",
        ),
        Invalid(
            """
import tensorflow.compat.v2 as tf
slim = tf.contrib.slim
net = slim.batch_norm(images)  # error: [BN015]
""",
            message="`tf.contrib.layers.batch_norm`",
        ),
        Invalid(
            """
from keras.layers import BatchNormalization
bn = BatchNormalization(mode=0, axis=1)  # error: [BN015]
other = BatchNormalization(axis=1, mode=2)  # error: [BN015]
""",
            message="`mode=` is a Keras 1 argument",
            expected_replacement="""
from keras.layers import BatchNormalization
bn = BatchNormalization(axis=1)  # error: [BN015]
other = BatchNormalization(axis=1, mode=2)  # error: [BN015]
""",
        ),
        Invalid(
            """
import keras
from keras import ops
bn = keras.layers.BatchNormalization(momentum=0.9, fused=True)  # error: [BN015]
h = bn(ops.ones((2, 3)))
""",
            message="`fused=` is a Keras 2 argument that Keras 3 rejects",
            expected_replacement="""
import keras
from keras import ops
bn = keras.layers.BatchNormalization(momentum=0.9)  # error: [BN015]
h = bn(ops.ones((2, 3)))
""",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        for site in file.calls:
            names = file.call_names(site)
            for name in names:
                api = registry.deprecated_batch_norm(name)
                if api is not None:
                    report = _deprecated_call(file, site, api)
                    if report is not None:
                        yield report
                    break
                if name.endswith(INSTANCE):
                    continue
                layer = registry.batch_norm_api(name)
                if layer is not None and layer.key == "tf.keras.layers.BatchNormalization":
                    yield from _keras_arguments(file, site)
                    break


def _deliberate_spelling(file: FileModel, site: CallSite) -> bool:
    """Spelled through ``compat.v1``, or a maintained TF2 package (``tf_slim``)."""
    for raw in raw_names(file, site.node.func, site.scope):
        if ".compat.v1" in raw or raw.startswith(registry.TF2_COMPATIBLE_PACKAGES):
            return True
    return False


def _deprecated_call(file: FileModel, site: CallSite, api: registry.DeprecatedBatchNorm) -> Report | None:
    if api.tf2_only:
        # Removed in TF2 only: TF1 code, and code spelling it through compat.v1, may keep it.
        if _deliberate_spelling(file, site) or not targets_tf2(file):
            return None
        return Report(site.node, f"`{api.key}` does not exist in TF2; use `{api.instead}`")
    # Deprecated since TF 1.x, in every spelling (``tf.compat.v1.nn.*`` is the same deprecated op).
    return Report(site.node, f"`{api.key}` is deprecated; use `{api.instead}`", fix=_global_normalization_fix(site))


def _global_normalization_fix(site: CallSite) -> FixSpec | None:
    """``batch_norm_with_global_normalization(t, m, v, beta, gamma, eps, scale)`` -> ``batch_normalization``."""
    call = site.node
    func = call.func
    if not isinstance(func, cst.Attribute) or has_star_args(call):
        return None
    scale_param = registry.GLOBAL_NORMALIZATION_SCALE
    scale_arg = call_argument(call, scale_param.name, scale_param.position)
    if scale_arg is None or not isinstance(scale_arg.value, cst.Name) or scale_arg.value.value not in ("True", "False"):
        return None
    gamma_param = registry.GLOBAL_NORMALIZATION_GAMMA
    gamma = call_argument(call, gamma_param.name, gamma_param.position)
    if gamma is None:
        return None
    args: list[cst.Arg] = []
    for original in call.args:
        if original is scale_arg:
            continue
        arg = original
        if original is gamma and scale_arg.value.value == "False":
            arg = arg.with_changes(value=cst.Name("None"))
        if original.keyword is not None:
            keyword = registry.GLOBAL_NORMALIZATION_KEYWORDS.get(original.keyword.value)
            if keyword is None:
                return None
            arg = arg.with_changes(keyword=cst.Name(keyword))
        args.append(arg)
    args = _fix_last_comma(call, args)
    new_func = func.with_changes(attr=cst.Name(registry.BATCH_NORMALIZATION_ATTRIBUTE))
    return FixSpec(call, call.with_changes(func=new_func, args=args),
                   "Use `batch_normalization`", "safe")


def _keras_arguments(file: FileModel, site: CallSite) -> Iterable[Report]:
    """``BatchNormalization(mode=...)`` anywhere; Keras 2-only arguments in Keras 3 code."""
    call = site.node
    if has_star_args(call):
        return
    for arg in call.args:
        if arg.keyword is None:
            continue
        keyword = arg.keyword.value
        if keyword == registry.KERAS1_BATCH_NORM_MODE:
            value = constant(Value(arg.value, file, site.scope))
            fix = _remove_argument(call, arg, "Remove `mode=0`: Keras 2 and 3 always normalize per feature") \
                if value == 0 and not isinstance(value, bool) else None
            yield Report(arg, "`mode=` is a Keras 1 argument that Keras 2 and 3 reject; `mode=0` is their "
                              "only behaviour, other modes have no replacement", fix=fix)
        elif keyword in registry.KERAS2_ONLY_BATCH_NORM_ARGS and targets_keras3(file) and _standalone_keras(file, site):
            fix = _remove_argument(call, arg, f"Remove `{keyword}=`") \
                if keyword in registry.KERAS_IMPLEMENTATION_ONLY_ARGS else None
            yield Report(arg, f"`{keyword}=` is a Keras 2 argument that Keras 3 rejects", fix=fix)


def _standalone_keras(file: FileModel, site: CallSite) -> bool:
    names = raw_names(file, site.node.func, site.scope)
    return bool(names) and all(name == "keras" or name.startswith("keras.") for name in names)


def _remove_argument(call: cst.Call, arg: cst.Arg, message: str) -> FixSpec:
    args = _fix_last_comma(call, [other for other in call.args if other is not arg])
    return FixSpec(call, call.with_changes(args=args), message, "safe")


def _fix_last_comma(call: cst.Call, args: list[cst.Arg]) -> list[cst.Arg]:
    """After removing arguments, the last one takes the comma style the old last one had."""
    if args and call.args and args[-1] is not call.args[-1]:
        args[-1] = args[-1].with_changes(comma=call.args[-1].comma)
    return args

