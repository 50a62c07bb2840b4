"""Calls that leave a Keras batch norm to the learning phase in TF1 graph code.

A Keras ``BatchNormalization`` called without ``training`` (or with ``None``)
runs in the mode of ``tf.keras.backend.learning_phase()``. In graph mode (a
``tf.compat.v1`` session program, an Estimator ``model_fn``, TF2's
``compat.v1`` Estimator included) that is a ``placeholder_with_default(False)``
which only Keras's own ``fit``/``evaluate`` feed; a plain Estimator does not
set it (``model_to_estimator`` does). So the batch norm runs in inference mode
in the graph that trains it.

The call that leaves ``training`` out is the place to fix, and it is not
always the batch norm's own call:

- ``BatchNormalization()(x)``: the batch norm's call itself;
- ``self.bn(x, training=training)`` in a method whose ``training`` parameter
  defaults to None (or False): each caller that leaves the flag out (a plain
  Python model class's ``model(x)``), followed through further parameters;
- inside a Keras layer's ``call``, Keras hands the flag down from the outer
  call (``model(x)``), so the outer calls made without it are the places;
- ``model(x)`` where ``model`` is a ``Sequential`` or functional Keras model,
  or a factory's, built with a batch norm.

Not origins: calls inside ``@tf.function`` or a ``GradientTape`` block
(eager training: BN013's concern), Keras batch norms built into a functional
model (``keras.Input`` ... ``keras.Model``: the model's own call decides),
frozen layers (``trainable=False``), project subclasses with their own
``call``, pretrained ``keras.applications`` networks, unit tests, and every
call of a project that sets, scopes or feeds the learning phase itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import libcst as cst

from bnlint import registry
from bnlint.facts.api_version import in_tf_function
from bnlint.facts.batch_norm import BatchNormSite, batch_norm_sites
from bnlint.facts.inference import is_test_file
from bnlint.facts.keras_models import batch_norm_held_by, is_keras_batch_norm_class, is_keras_class
from bnlint.facts.tf1 import autograph_converted, under_gradient_tape
from bnlint.facts.values import literal
from bnlint.project import ProjectIndex
from bnlint.semantic import INSTANCE, Binding, CallSite, FileModel, FunctionInfo, call_argument, has_star_args

_MAX_DEPTH = 6


@dataclass(frozen=True)
class PhaseOrigin:
    """A call that leaves ``training`` unset for a Keras batch norm it runs."""

    file: FileModel
    site: CallSite
    # Where the batch norm (or the model holding it) is built, and how the call runs it.
    bn_file: FileModel
    bn_node: cst.CSTNode
    # How the missing flag reaches the batch norm from this call ("" when it is the batch norm's own call):
    # "`__call__(..., training=None)`", "`Net.call`".
    through: str
    # The batch norm's own call (``BatchNormalization()(x)``, ``bn(x)``), not a call of what holds it.
    direct: bool

    @property
    def unit(self) -> str:
        return self.file.unit_name(self.site.scope)


def learning_phase_origins(project: ProjectIndex) -> list[PhaseOrigin]:
    """Every call in the project that leaves a Keras batch norm to the learning phase (computed once)."""
    return project.memo("learning_phase_origins", lambda: _collect(project))


def _collect(project: ProjectIndex) -> list[PhaseOrigin]:
    controlling = [file for file in project.files
                   if any(file.call_names(site) & registry.LEARNING_PHASE_CONTROL_NAMES for site in file.calls)]
    out: list[PhaseOrigin] = []
    seen: set[int] = set()

    def add(origins: list[PhaseOrigin]) -> None:
        for origin in origins:
            if id(origin.site.node) not in seen and _eligible(origin) \
                    and not _learning_phase_managed(project, origin.file, controlling):
                seen.add(id(origin.site.node))
                out.append(origin)

    for bn in batch_norm_sites(project):
        if _keras_batch_norm(project, bn):
            add(_origins_of_batch_norm(project, bn))
    for file, site in project.iter_calls():
        add(_model_call_origin(project, file, site))
    return out


def _learning_phase_managed(project: ProjectIndex, file: FileModel, controlling: list[FileModel]) -> bool:
    """Code of the same program sets, scopes or feeds the learning phase: it decides the mode, not the default.

    The same program: the file itself, or a file whose imports reach it or that its imports reach.
    """
    if not controlling:
        return False
    if file in controlling:
        return True
    linker = project.linker
    if linker is None:
        return True
    path = os.path.abspath(file.path)
    reached = linker.reached_by(file)
    return any(os.path.abspath(other.path) in reached or path in linker.reached_by(other) for other in controlling)


def _keras_batch_norm(project: ProjectIndex, bn: BatchNormSite) -> bool:
    """A Keras batch-norm layer call whose mode follows the learning phase, not frozen, not customised."""
    if bn.api.updates != "layer_updates" or bn.api.training is None or bn.api.training.default is not None:
        return False
    if bn.frozen_layer():
        return False
    linker = bn.file.linker
    if linker is not None:
        for name in bn.file.call_names(bn.site):
            base = name[: -len(INSTANCE)] if name.endswith(INSTANCE) else name
            if base not in linker.classes:
                continue
            for ancestor in linker.mro(base, bn.file):
                found = linker.class_named(ancestor, bn.file)
                if found is not None and any(f"{found[1]}.{method}" in found[0].functions
                                             for method in (registry.LAYER_CALL_METHOD, "__call__")):
                    return False  # its own ``call`` decides what ``training=None`` means
    return True


def _eligible(origin: PhaseOrigin) -> bool:
    """Graph code that is not a unit test, not traced by ``tf.function``, not an eager tape step."""
    file, site = origin.file, origin.site
    if is_test_file(file) or in_tf_function(file, site.scope) or autograph_converted(file, site.scope):
        return False
    return not under_gradient_tape(file, site)


def _origins_of_batch_norm(project: ProjectIndex, bn: BatchNormSite) -> list[PhaseOrigin]:
    value = bn.training[0] if bn.training else None
    if value is None or literal(value.expr) is None:
        if _building_functional_model(project, bn.file, bn.site):
            return []
        return _left_out_at(project, bn.file, bn.site, bn, "", 0)
    if not isinstance(value.expr, cst.Name):
        return []
    binding = _flag_parameter(value.file, value.expr, value.scope)
    if binding is None:
        return []
    function = binding.scope.function
    assert function is not None
    return _left_out_by_callers(project, value.file, function, binding.name, binding, bn, 0)


def _flag_parameter(file: FileModel, name: cst.Name, scope) -> Binding | None:
    """The parameter a flag is, when it defaults to None or False (leaving it out means inference mode)."""
    bindings = file.lookup(name.value, scope)
    if len(bindings) != 1 or bindings[0].kind != "param" or bindings[0].value is None:
        return None
    if literal(bindings[0].value) not in (None, False):
        return None
    function = bindings[0].scope.function
    if function is None or not isinstance(function.node, cst.FunctionDef):
        return None
    return bindings[0]


def _left_out_at(project: ProjectIndex, file: FileModel, site: CallSite, bn: BatchNormSite, through: str,
                 depth: int) -> list[PhaseOrigin]:
    """``site`` leaves the flag out: it is the origin, unless a Keras layer's ``call`` hands its own down."""
    function = file.enclosing_function(site.scope)
    if function is not None and function.class_qualname and function.name == registry.LAYER_CALL_METHOD \
            and is_keras_class(project, file, function.class_qualname):
        # Keras passes the outer call's ``training`` to the layers its ``call`` runs.
        return _left_out_by_callers(project, file, function, "training", None, bn, depth + 1)
    if _inside_keras_call(project, file, site):
        return []  # a helper of some layer's ``call``: the mode comes from that layer's caller
    return [PhaseOrigin(file, site, bn.file, bn.constructor or bn.site.node, through, site is bn.site)]


def _left_out_by_callers(project: ProjectIndex, file: FileModel, function: FunctionInfo, param: str,
                         binding: Binding | None, bn: BatchNormSite, depth: int) -> list[PhaseOrigin]:
    """Callers of ``function`` that leave its flag ``param`` out (or pass None, or a flag of theirs left out)."""
    if depth > _MAX_DEPTH:
        return []
    if binding is not None and binding.value is not None:
        through = f"`{function.qualname}(..., {param}={file.code(binding.value)})`"
    else:
        through = f"`{function.qualname}`"
    if binding is None:
        # A Keras ``call``: an omitted ``training`` takes the signature's default.
        found = function.param_named(param)
        if found is not None and found[1].default is not None and literal(found[1].default) not in (None, False):
            return []
        index = found[0] if found is not None else None
    else:
        index = binding.param_index
    offset = function.bound_offset
    out: list[PhaseOrigin] = []
    for caller in project.callers(file.function_unit(function)):
        if has_star_args(caller.site.node):
            continue
        position = index - offset if index is not None and index - offset >= 0 else None
        arg = call_argument(caller.site.node, param, position)
        if arg is None or literal(arg.value) is None:
            if _surely_calls(project, caller.file, caller.site, function):
                out.extend(_left_out_at(project, caller.file, caller.site, bn, through, depth + 1))
            continue
        if isinstance(arg.value, cst.Name):
            outer = _flag_parameter(caller.file, arg.value, caller.site.scope)
            if outer is not None and outer.scope.function is not None:
                out.extend(_left_out_by_callers(project, caller.file, outer.scope.function, outer.name, outer, bn,
                                                depth + 1))
    return out


def _surely_calls(project: ProjectIndex, file: FileModel, site: CallSite, function: FunctionInfo) -> bool:
    """Every callee the call may denote is ``function``: a call that might be of another layer is no origin."""
    names = file.call_names(site)
    if not names:
        return False
    for name in names:
        ref = project.function_for_name(name, near=file)
        if ref is None or ref.info is not function:
            return False
    return True


def _model_call_origin(project: ProjectIndex, file: FileModel, site: CallSite) -> list[PhaseOrigin]:
    """``model(x)`` without ``training`` where ``model`` is a Keras model built with a batch norm.

    Calls that reach a project ``call``/``__call__`` are judged through the batch norms inside;
    the batch norm's own calls are judged as batch norms.
    """
    node = site.node
    if call_argument(node, registry.TRAINING_PARAM.name, registry.TRAINING_PARAM.position) is not None \
            or has_star_args(node) or not node.args:
        return []
    # The cheap tests first: this runs for every call of the project.
    names = file.call_names(site)
    if not names or not all(name.endswith(INSTANCE) for name in names):
        return []
    if is_keras_batch_norm_class(frozenset(name[: -len(INSTANCE)] for name in names), file):
        return []
    if project.callees_of_site(file, site):
        return []
    evidence = batch_norm_held_by(project, file, node.func, site.scope)
    if evidence is None or evidence.pretrained:
        return []
    if _inside_keras_call(project, file, site):
        return []
    return [PhaseOrigin(file, site, evidence.file, evidence.node, "", False)]


def _inside_keras_call(project: ProjectIndex, file: FileModel, site: CallSite) -> bool:
    """Code that some Keras layer's ``call`` runs (the layer's caller decides the mode)."""
    for unit in project.ancestors(file.unit_name(site.scope)):
        method = _function_of_unit(project, unit)
        if method is None:
            continue
        model, info = method
        if info.class_qualname and info.name == registry.LAYER_CALL_METHOD \
                and is_keras_class(project, model, info.class_qualname):
            return True
    return False


def _function_of_unit(project: ProjectIndex, unit: str) -> tuple[FileModel, FunctionInfo] | None:
    index = project.memo("learning_phase_units", lambda: {
        model.function_unit(info): (model, info) for model in project.files for info in model.functions.values()})
    return index.get(unit)


def _building_functional_model(project: ProjectIndex, file: FileModel, site: CallSite) -> bool:
    """The batch norm is applied while a functional Keras model is built (``keras.Input`` ... ``keras.Model``)."""
    markers = registry.KERAS_INPUT_NAMES | registry.KERAS_FUNCTIONAL_MODEL_NAMES
    unit = file.unit_name(site.scope)
    for ancestor in project.ancestors(unit):
        method = _function_of_unit(project, ancestor)
        if method is not None:
            model, info = method
            calls = info.calls
        elif ancestor == unit and file.enclosing_function(site.scope) is None:
            model, calls = file, [c for c in file.calls if file.enclosing_function(c.scope) is None]
        else:
            continue
        if any(model.call_names(call) & markers for call in calls):
            return True
    return False


