"""BN010: a stateless batch norm given its scale and offset (or epsilon) in the wrong positional slots."""

from __future__ import annotations

import re
from typing import Iterable, Literal

import libcst as cst

from bnlint import registry
from bnlint.context import FileContext
from bnlint.facts.values import Value, constant, literal, single_assignment
from bnlint.registry import AffineSignature
from bnlint.rule import FixSpec, Invalid, Report, Rule, Valid
from bnlint.semantic import CallSite, FileModel, Scope, call_argument, has_star_args

Role = Literal["scale", "offset", "epsilon"]
# A positive constant this small in the scale slot is an epsilon, not a scale.
_EPSILON_MAX = 0.01
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_MAX_DEPTH = 4


class ScaleOffsetSwapped(Rule):
    """Scale and offset passed in each other's positional slots.

    ## What it does
    Checks positional calls of the stateless batch norms, whose parameter
    orders differ from one API to the next:

    - ``tf.nn.batch_normalization(x, mean, variance, offset, scale, variance_epsilon)``
    - ``tf.nn.fused_batch_norm(x, scale, offset, mean, variance, epsilon, ...)``
    - ``tf.nn.batch_norm_with_global_normalization(t, m, v, beta, gamma, variance_epsilon, scale_after_normalization)``
    - ``tf.keras.backend.batch_normalization(x, mean, var, beta, gamma, axis, epsilon)``
    - ``keras.ops.batch_normalization(x, mean, variance, axis, offset, scale, epsilon)``

    It flags a call whose offset slot holds a scale-like value and whose scale
    slot holds an offset-like value, and a call whose scale slot holds an
    epsilon. A value is scale-like when its name says so (``gamma``,
    ``scale``, ``bn_gamma``, ``self.gamma``, ``params["gamma"]``) or it is
    initialised to ones (``tf.Variable(tf.ones([n]))``,
    ``get_variable(..., initializer=tf.ones_initializer())``), offset-like
    when named ``beta``/``offset``/``shift``/``bias`` or initialised to zeros,
    an epsilon when named ``eps``/``epsilon`` or a positive constant of at most
    0.01. Values whose role is unclear are left alone.

    ## Why is this bad?
    Nothing fails: scale and offset have the same shape, so TensorFlow
    multiplies by the offset and adds the scale. With the usual initial values
    (scale 1, offset 0) every normalised activation is multiplied by zero at
    the first step, and the network trains badly or not at all. An epsilon in
    the scale slot shrinks every activation by a factor of a thousand.

    ## Example
    ```python
    gamma = tf.Variable(tf.ones([depth]))
    beta = tf.Variable(tf.zeros([depth]))
    y = tf.nn.batch_normalization(x, mean, variance, gamma, beta, 1e-3)
    ```

    ## Use instead
    ```python
    gamma = tf.Variable(tf.ones([depth]))
    beta = tf.Variable(tf.zeros([depth]))
    y = tf.nn.batch_normalization(x, mean, variance, offset=beta, scale=gamma, variance_epsilon=1e-3)
    ```

    ## Fix safety
    For swapped scale and offset, the fix passes the arguments from the first
    of the two slots on by keyword, each value under the parameter its role
    calls for. It is **unsafe**: the call then computes something else (the
    intended batch norm), and checkpoints trained with the swapped order hold
    values that were learned in the wrong roles. No fix is offered for an
    epsilon in the scale slot: which argument is missing is a guess.

    ## References
    - [tf.nn.batch_normalization](https://www.tensorflow.org/api_docs/python/tf/nn/batch_normalization)
    - [tf.compat.v1.nn.fused_batch_norm](https://www.tensorflow.org/api_docs/python/tf/compat/v1/nn/fused_batch_norm)
    - [tf.nn.batch_norm_with_global_normalization](https://www.tensorflow.org/api_docs/python/tf/nn/batch_norm_with_global_normalization)
    """

    CODE = "BN010"
    NAME = "scale-offset-swapped"
    FIX_TITLE = "Pass scale and offset by keyword, in their own roles"
    FIX_APPLICABILITY = "unsafe"
    TOKENS = ("batch_normalization", "fused_batch_norm", "batch_norm_with_global_normalization")

    VALID = [
        Valid(
            """
import tensorflow as tf
gamma = tf.Variable(tf.ones([64]))
beta = tf.Variable(tf.zeros([64]))
y = tf.nn.batch_normalization(x, mean, var, beta, gamma, 1e-3)
z, _, _ = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=1e-3)
"""
        ),
        # Keywords: the order does not matter.
        Valid(
            """
import tensorflow as tf
y = tf.nn.batch_normalization(x, mean, var, scale=gamma, offset=beta, variance_epsilon=1e-3)
"""
        ),
        # No affine parameters.
        Valid(
            """
import tensorflow as tf
y = tf.nn.batch_normalization(x, mean, var, None, None, 1e-5)
"""
        ),
        # Names that say nothing about the role.
        Valid(
            """
import tensorflow as tf
def norm(x, mean, var, a, b):
    return tf.nn.batch_normalization(x, mean, var, a, b, 0.001)
"""
        ),
        # The Keras backend takes beta before gamma.
        Valid(
            """
from tensorflow.keras import backend as K
y = K.batch_normalization(x, mean, var, beta, gamma, epsilon=1e-3)
"""
        ),
    ]
    INVALID = [
        Invalid(
            """
import tensorflow as tf
def batch_norm(x, depth, eps=1e-3):
    gamma = tf.Variable(tf.ones([depth]))
    beta = tf.Variable(tf.zeros([depth]))
    mean, var = tf.nn.moments(x, [0, 1, 2])
    return tf.nn.batch_normalization(x, mean, var, gamma, beta, eps)  # error: [BN010]
""",
            message="`gamma` is passed as the offset and `beta` as the scale of `tf.nn.batch_normalization`",
            expected_replacement="""
import tensorflow as tf
def batch_norm(x, depth, eps=1e-3):
    gamma = tf.Variable(tf.ones([depth]))
    beta = tf.Variable(tf.zeros([depth]))
    mean, var = tf.nn.moments(x, [0, 1, 2])
    return tf.nn.batch_normalization(x, mean, var, offset=beta, scale=gamma, variance_epsilon=eps)  # error: [BN010]
""",
        ),
        # fused_batch_norm takes scale first: batch_normalization's order is wrong here.
        Invalid(
            """
import tensorflow.compat.v1 as tf
y, _, _ = tf.nn.fused_batch_norm(x, self.beta, self.gamma, data_format="NCHW")  # error: [BN010]
""",
            message="order is `(x, scale, offset, mean, variance, epsilon, data_format, is_training)`",
            expected_replacement="""
import tensorflow.compat.v1 as tf
y, _, _ = tf.nn.fused_batch_norm(x, scale=self.gamma, offset=self.beta, data_format="NCHW")  # error: [BN010]
""",
        ),
        # Recognised by initialisers, not names.
        Invalid(
            """
import tensorflow as tf
w1 = tf.get_variable("w1", [256], initializer=tf.ones_initializer())
w2 = tf.get_variable("w2", [256], initializer=tf.zeros_initializer())
y = tf.nn.batch_norm_with_global_normalization(x, m, v, w1, w2, 1e-3, True)  # error: [BN010]
""",
            expected_replacement="""
import tensorflow as tf
w1 = tf.get_variable("w1", [256], initializer=tf.ones_initializer())
w2 = tf.get_variable("w2", [256], initializer=tf.zeros_initializer())
y = tf.nn.batch_norm_with_global_normalization(x, m, v, beta=w2, gamma=w1, variance_epsilon=1e-3, scale_after_normalization=True)  # error: [BN010]
""",
        ),
        # An epsilon in the scale slot: no fix, the missing argument is a guess.
        Invalid(
            """
import tensorflow as tf
y = tf.nn.batch_normalization(x, mean, var, beta, 1e-3, variance_epsilon=1e-3)  # error: [BN010]
""",
            message="`1e-3` looks like an epsilon but is passed as the scale",
        ),
    ]

    def check(self, ctx: FileContext) -> Iterable[Report]:
        file = ctx.file
        for site in file.calls:
            if has_star_args(site.node):
                continue
            signature = _signature(file, site)
            if signature is None:
                continue
            report = _check(file, site, signature)
            if report is not None:
                yield report


def _signature(file: FileModel, site: CallSite) -> AffineSignature | None:
    for name in file.call_names(site):
        signature = registry.affine_signature(name)
        if signature is not None:
            return signature
    return None


def _positional(call: cst.Call, position: int) -> cst.Arg | None:
    args = [arg for arg in call.args if arg.keyword is None]
    return args[position] if position < len(args) else None


def _check(file: FileModel, site: CallSite, signature: AffineSignature) -> Report | None:
    call = site.node
    offset_arg = _positional(call, signature.position(signature.offset))
    scale_arg = _positional(call, signature.position(signature.scale))
    order = f"`({', '.join(signature.params)})`"
    if scale_arg is not None and _role(file, scale_arg.value, site.scope) == "epsilon":
        return Report(call, f"`{file.code(scale_arg.value)}` looks like an epsilon but is passed as the scale of "
                            f"`{signature.key}`: its positional order is {order}")
    if offset_arg is None or scale_arg is None:
        return None
    if _role(file, offset_arg.value, site.scope) != "scale" or _role(file, scale_arg.value, site.scope) != "offset":
        return None
    offset_code, scale_code = file.code(offset_arg.value), file.code(scale_arg.value)
    message = (f"`{offset_code}` is passed as the offset and `{scale_code}` as the scale of `{signature.key}`: "
               f"its positional order is {order}")
    fixed = _keyword_call(call, signature)
    fix = FixSpec(node=call, replacement=fixed, message=f"Pass `{signature.offset}={scale_code}` and "
                  f"`{signature.scale}={offset_code}` by keyword", applicability="unsafe") if fixed else None
    return Report(call, message, fix=fix)


def _keyword_call(call: cst.Call, signature: AffineSignature) -> cst.Call | None:
    """The call with every positional argument from the first affine slot on passed by keyword, roles swapped."""
    first = min(signature.position(signature.offset), signature.position(signature.scale))
    positional = [arg for arg in call.args if arg.keyword is None]
    if len(positional) > len(signature.params):
        return None
    swap = {signature.offset: signature.scale, signature.scale: signature.offset}
    values = {signature.params[i]: arg.value for i, arg in enumerate(positional)}
    no_space = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
    new_args: list[cst.Arg] = []
    index = 0
    for arg in call.args:
        if arg.keyword is not None or index < first:
            new_args.append(arg)
        else:
            param = signature.params[index]
            value = values[swap.get(param, param)]
            new_args.append(arg.with_changes(keyword=cst.Name(param), value=value, equal=no_space))
        if arg.keyword is None:
            index += 1
    return call.with_changes(args=new_args)


def _role(file: FileModel, expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> Role | None:
    """What a value is, by its name or its initial value; None when unclear."""
    by_name = _role_of_name(_name_of(file, expr, scope))
    by_value = _role_of_value(file, expr, scope, depth)
    if by_name and by_value and by_name != by_value:
        return None
    return by_name or by_value


def _name_of(file: FileModel, expr: cst.BaseExpression, scope: Scope) -> str | None:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
        key = literal(expr.slice[0].slice.value)
        return key if isinstance(key, str) else None
    if isinstance(expr, cst.Call) and file.call_names(expr, scope) & registry.VARIABLE_NAMES:
        arg = call_argument(expr, "name", None)
        if arg is None and file.call_names(expr, scope) & {"tensorflow.get_variable"}:
            arg = call_argument(expr, "name", 0)
        key = literal(arg.value) if arg is not None else ...
        return key if isinstance(key, str) else None
    return None


def _role_of_name(name: str | None) -> Role | None:
    if not name:
        return None
    words = {word.lower() for word in _WORDS.findall(name)}
    roles = set()
    if words & registry.SCALE_WORDS:
        roles.add("scale")
    if words & registry.OFFSET_WORDS:
        roles.add("offset")
    if words & registry.EPSILON_WORDS:
        roles.add("epsilon")
    return roles.pop() if len(roles) == 1 else None


def _role_of_value(file: FileModel, expr: cst.BaseExpression, scope: Scope, depth: int) -> Role | None:
    if depth > _MAX_DEPTH:
        return None
    value = literal(expr)
    if isinstance(value, float) and 0 < value <= _EPSILON_MAX:
        return "epsilon"
    if isinstance(expr, cst.Name):
        assigned = single_assignment(file, expr, scope)
        if assigned is not None:
            return _role_of_value(file, assigned, scope, depth + 1)
        return None
    if not isinstance(expr, cst.Call):
        return None
    names = file.call_names(expr, scope)
    if names & registry.ONES_NAMES:
        return "scale"
    if names & registry.ZEROS_NAMES:
        return "offset"
    if names & registry.CONSTANT_NAMES and expr.args:
        filled = constant(Value(expr.args[0].value, file, scope))
        if filled in (0, 0.0) and not isinstance(filled, bool):
            return "offset"
        if filled == 1 and not isinstance(filled, bool):
            return "scale"
        return None
    if names & registry.VARIABLE_NAMES:
        # The initial value of ``tf.Variable(init)``, or ``get_variable``'s initializer.
        init = call_argument(expr, "initializer", None) or call_argument(expr, "initial_value", None)
        if init is None and "tensorflow.Variable" in names:
            init = call_argument(expr, "initial_value", 0)
        if init is None:
            return None
        return _role_of_value(file, init.value, scope, depth + 1) if not _is_epsilon_literal(init.value) else None
    return None


def _is_epsilon_literal(expr: cst.BaseExpression) -> bool:
    value = literal(expr)
    return isinstance(value, float) and 0 < value <= _EPSILON_MAX
