"""Which Keras layers and models hold batch normalization, as far as the linted code shows.

A called object holds batch norm when the linted code builds it with one:
a ``BatchNormalization`` layer itself, a ``tf.keras.applications`` network
known to contain batch norm (``registry.KERAS_APPLICATIONS_WITH_BATCH_NORM``),
a ``Sequential`` whose list holds such a layer, a functional ``Model`` whose
building function applies a Keras batch norm, a linted Keras ``Layer``/``Model``
subclass with such a sublayer, or a linted factory function returning one of
these. Anything else (a parameter, an unknown call, a loaded model) is unknown
and rules stay silent about it.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from bnlint import registry
from bnlint.facts.batch_norm import batch_norm_api_for, batch_norm_sites
from bnlint.facts.values import literal
from bnlint.messages import shortened
from bnlint.project import ProjectIndex
from bnlint.semantic import FileModel, Scope, call_argument, child_nodes, dotted, literal_index

_MAX_DEPTH = 6


@dataclass(frozen=True)
class BatchNormEvidence:
    """Where the batch norm held by a layer or model is built."""

    file: FileModel
    node: cst.CSTNode
    # What a message shows: ``tf.keras.layers.BatchNormalization()`` or ``tf.keras.applications.ResNet50``.
    shown: cst.CSTNode
    # A ``tf.keras.applications`` network with pretrained weights: Keras recommends running its
    # batch norms in inference mode while fine-tuning, so ``training=False`` there is deliberate.
    pretrained: bool = False

    @property
    def what(self) -> str:
        """Rendered only for a message: most evidence never reaches one."""
        return shortened(self.file.code(self.shown))

    def describe(self, here: FileModel) -> str:
        """```layers.BatchNormalization()` (line 7)``, with the file name when elsewhere."""
        return f"`{self.what}` ({self.file.place(self.node, with_path=self.file is not here)})"


def is_keras_batch_norm_class(names: frozenset[str], file: FileModel | None = None) -> bool:
    """Names of a Keras ``BatchNormalization`` class (its training flag follows Keras's call context).

    With ``file``, a project subclass of one counts too.
    """
    for name in names:
        api = batch_norm_api_for(file, name) if file is not None else registry.batch_norm_api(name)
        if api is not None and api.kind == "layer" and api.training is not None and api.training.default is None:
            return True
    return False


def is_batch_norm_application(name: str) -> bool:
    """A ``tf.keras.applications`` constructor of a network built with batch norm."""
    return name.startswith(registry.KERAS_APPLICATIONS_PREFIX) \
        and name.rsplit(".", 1)[-1] in registry.KERAS_APPLICATIONS_WITH_BATCH_NORM


def batch_norm_held_by(project: ProjectIndex, file: FileModel, expr: cst.BaseExpression,
                       scope: Scope) -> BatchNormEvidence | None:
    """Evidence that the layer or model ``expr`` denotes holds a Keras batch norm; None when not known."""
    return _expr_evidence(project, file, expr, scope, 0, frozenset())


_CONTAINERS = (cst.List, cst.Tuple, cst.Set, cst.Dict, cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)


def _expr_evidence(project: ProjectIndex, file: FileModel, expr: cst.BaseExpression, scope: Scope,
                   depth: int, seen: frozenset[int]) -> BatchNormEvidence | None:
    if depth > _MAX_DEPTH or id(expr) in seen:
        return None
    seen = seen | {id(expr)}
    if isinstance(expr, cst.Call):
        return _constructed_evidence(project, file, expr, scope, depth, seen)
    if isinstance(expr, _CONTAINERS):
        # ``[Block(), Block()]``, ``[ConvBN(c) for c in channels]``: what any element holds.
        for model, element, element_scope in file.element_expressions(expr, scope, None):
            found = _expr_evidence(project, model, element, element_scope, depth + 1, seen)
            if found is not None:
                return found
        return None
    if isinstance(expr, cst.Name):
        bindings = file.lookup(expr.value, scope)
        for binding in bindings:
            if binding.kind == "param" and binding.param_index == 0:
                function = binding.scope.function
                if function is not None and function.class_qualname:
                    return class_batch_norm(project, file, function.class_qualname, depth + 1)
            if binding.kind == "import" and project.linker is not None:
                # ``from model import model``: what the other module assigned.
                for where, source in project.linker.imported_bindings(file, binding.imported or ""):
                    if source.kind in ("assign", "with") and source.value is not None and not source.unpack:
                        found = _expr_evidence(project, where, source.value, source.scope, depth + 1, seen)
                        if found is not None:
                            return found
                continue
            if binding.kind == "param" and project.linker is not None:
                # What callers pass (``Trainer(make_backbone())`` for ``__init__(self, backbone)``), or the default.
                for where, value, value_scope in project.linker.parameter_arguments(file, binding):
                    found = _expr_evidence(project, where, value, value_scope, depth + 1, seen)
                    if found is not None:
                        return found
                continue
            if binding.kind in ("assign", "with") and binding.value is not None and not binding.unpack:
                found = _expr_evidence(project, file, binding.value, binding.scope, depth + 1, seen) \
                    or _added_layers_evidence(project, file, expr.value, binding, depth, seen)
                if found is not None:
                    return found
        return None
    if isinstance(expr, cst.Subscript):
        # ``self.blocks[i]``, ``self.norms[i][level]``: what that element of the container holds.
        for model, element, element_scope in file.element_expressions(expr.value, scope, literal_index(expr)):
            found = _expr_evidence(project, model, element, element_scope, depth + 1, seen)
            if found is not None:
                return found
        return None
    if isinstance(expr, cst.Attribute):
        # ``self.backbone``: what the class assigned to the attribute.
        for value, value_scope in file.attribute_values(expr, scope):
            found = _expr_evidence(project, file, value, value_scope, depth + 1, seen)
            if found is not None:
                return found
    return None


def _added_layers_evidence(project: ProjectIndex, file: FileModel, name: str, binding,
                           depth: int, seen: frozenset[int]) -> BatchNormEvidence | None:
    """``model = Sequential()`` followed by ``model.add(BatchNormalization())``."""
    value = binding.value
    if not isinstance(value, cst.Call) or not file.resolve(value.func, binding.scope) & registry.KERAS_SEQUENTIAL_NAMES:
        return None
    for site in file.calls:
        func = site.node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == registry.SEQUENTIAL_ADD_METHOD
                and isinstance(func.value, cst.Name) and func.value.value == name and site.node.args):
            continue
        if binding not in file.lookup(name, site.scope):
            continue
        found = _expr_evidence(project, file, site.node.args[0].value, site.scope, depth + 1, seen)
        if found is not None:
            return found
    return None


def _constructed_evidence(project: ProjectIndex, file: FileModel, call: cst.Call, scope: Scope,
                          depth: int, seen: frozenset[int]) -> BatchNormEvidence | None:
    names = file.resolve(call.func, scope)
    if is_keras_batch_norm_class(names, file):
        return BatchNormEvidence(file, call, call)
    for name in names:
        if is_batch_norm_application(name):
            weights = call_argument(call, registry.KERAS_APPLICATIONS_WEIGHTS.name,
                                    registry.KERAS_APPLICATIONS_WEIGHTS.position)
            pretrained = weights is None or literal(weights.value) is not None
            return BatchNormEvidence(file, call, call.func, pretrained=pretrained)
    if names & registry.KERAS_SEQUENTIAL_NAMES:
        layers = call.args[0].value if call.args and call.args[0].keyword is None else None
        if isinstance(layers, (cst.List, cst.Tuple)):
            for element in layers.elements:
                found = _expr_evidence(project, file, element.value, scope, depth + 1, seen)
                if found is not None:
                    return found
        return None
    if names & registry.KERAS_FUNCTIONAL_MODEL_NAMES:
        return _functional_evidence(project, file, call, scope)
    for name in names:
        ref = project.function_for_name(name, near=file)
        if ref is None:
            continue
        if ref.info.name == "__init__" and ref.info.class_qualname:
            return class_batch_norm(project, ref.file, ref.info.class_qualname, depth + 1)
        if ref.info.class_qualname is None:
            # A factory: what it returns.
            for ret in ref.info.returns:
                if ret.value is not None:
                    found = _expr_evidence(project, ref.file, ret.value, ref.info.scope, depth + 1, seen)
                    if found is not None:
                        return found
    # A linted class without ``__init__``: ``function_for_name`` found nothing.
    for name in names:
        qualname = _linted_class(project, file, name)
        if qualname is not None:
            return class_batch_norm(project, qualname[0], qualname[1], depth + 1)
    return None


def _linted_class(project: ProjectIndex, file: FileModel, name: str) -> tuple[FileModel, str] | None:
    """The linted class a resolved name denotes, this file's own first."""
    prefix = f"{file.module_name}." if file.module_name else ""
    if name.startswith(prefix) and name[len(prefix):] in file.class_scopes:
        return file, name[len(prefix):]
    if project.linker is not None:
        return project.linker.class_named(name, near=file)
    return None


def _functional_evidence(project: ProjectIndex, file: FileModel, call: cst.Call,
                         scope: Scope) -> BatchNormEvidence | None:
    """``keras.Model(inputs, outputs)``: a Keras batch norm applied in the function that builds it."""
    site = file.call_by_node.get(id(call))
    if site is None:
        return None
    unit = file.unit_name(site.scope)
    at_module_level = file.enclosing_function(site.scope) is None
    if at_module_level:
        # What the module ran before building the model: its own statements, and the
        # helpers they called (``x = conv_bn(x)`` applying a batch norm in ``conv_bn``).
        reach: set[str] = set()
        for earlier in file.calls:
            if earlier.order < site.order and file.enclosing_function(earlier.scope) is None:
                for ref in project.callees_of_site(file, earlier):
                    reach |= project.reach(ref.unit)
    else:
        reach = set(project.reach(unit))
    for bn in batch_norm_sites(project):
        if bn.api.updates != "layer_updates":
            continue
        if at_module_level and bn.file is file and file.enclosing_function(bn.site.scope) is None:
            if bn.site.order > site.order:
                continue
        elif bn.unit not in reach:
            continue
        node = bn.constructor if bn.constructor is not None else bn.site.node
        return BatchNormEvidence(bn.file, node, node)
    return None


def is_keras_class(project: ProjectIndex, file: FileModel, class_qualname: str, depth: int = 0) -> bool:
    """A linted class deriving (directly or through linted classes) from a Keras layer or model."""
    if depth > _MAX_DEPTH:
        return False
    scope = file.class_scopes.get(class_qualname)
    if scope is None:
        return False
    for base in file.class_bases.get(class_qualname, []):
        for name in file.resolve(base.value, scope.parent or file.module_scope):
            if name.startswith(registry.KERAS_LAYER_BASE_PREFIXES):
                return True
            linted = _linted_class(project, file, name)
            if linted is not None and is_keras_class(project, linted[0], linted[1], depth + 1):
                return True
    return False


def class_batch_norm(project: ProjectIndex, file: FileModel, class_qualname: str,
                     depth: int = 0) -> BatchNormEvidence | None:
    """Evidence that instances of a linted Keras layer/model class hold a Keras batch norm."""
    if depth > _MAX_DEPTH or not is_keras_class(project, file, class_qualname):
        return None
    for attr, values in file.class_attrs.get(class_qualname, {}).items():
        for value, value_scope in values:
            found = _attribute_value_evidence(project, file, value, value_scope, depth)
            if found is not None:
                return found
    # Layers built and applied inside the class's methods (``layers.BatchNormalization()(x)``).
    prefix = f"{class_qualname}."
    units = {file.function_unit(info) for qualname, info in file.functions.items() if qualname.startswith(prefix)}
    for bn in batch_norm_sites(project):
        if bn.api.updates == "layer_updates" and bn.file is file and bn.unit in units:
            node = bn.constructor if bn.constructor is not None else bn.site.node
            return BatchNormEvidence(file, node, node)
    # Batch norms of linted base classes.
    scope = file.class_scopes.get(class_qualname)
    for base in file.class_bases.get(class_qualname, []):
        for name in file.resolve(base.value, (scope.parent if scope else None) or file.module_scope):
            linted = _linted_class(project, file, name)
            if linted is not None:
                found = class_batch_norm(project, linted[0], linted[1], depth + 1)
                if found is not None:
                    return found
    return None


def _attribute_value_evidence(project: ProjectIndex, file: FileModel, value: cst.BaseExpression,
                              scope: Scope, depth: int) -> BatchNormEvidence | None:
    """``self.bn = BatchNormalization()``, ``self.blocks = [Block(), ...]``, ``self.model = model``."""
    return _expr_evidence(project, file, value, scope, depth + 1, frozenset())


def frozen_names(file: FileModel) -> frozenset[str]:
    """Dotted names set ``X.trainable = False`` somewhere in the file (deliberately frozen models)."""
    cached = getattr(file, "_frozen_names", None)
    if cached is not None:
        return cached
    out: set[str] = set()
    if not file.mentions(f".{registry.TRAINABLE_ATTRIBUTE}"):
        # Most files never freeze anything: a substring test spares walking their whole tree.
        file._frozen_names = frozenset()  # type: ignore[attr-defined]
        return file._frozen_names  # type: ignore[attr-defined]
    stack: list[cst.CSTNode] = [file.module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Assign) and literal(node.value) is False:
            for target in node.targets:
                if isinstance(target.target, cst.Attribute) \
                        and target.target.attr.value == registry.TRAINABLE_ATTRIBUTE:
                    name = dotted(target.target.value)
                    if name:
                        out.add(name)
            continue
        stack.extend(child_nodes(node))
    result = frozenset(out)
    file._frozen_names = result  # type: ignore[attr-defined]
    return result
