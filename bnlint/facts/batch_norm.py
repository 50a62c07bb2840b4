"""Every place the linted project builds a batch norm, and how its statistics update.

A batch norm is built by calling a batch-norm function (``tf.layers.batch_normalization``,
``slim.batch_norm``), by calling a batch-norm layer object (``bn(x)`` where
``bn = tf.keras.layers.BatchNormalization()``), or by a slim/contrib layer
given ``normalizer_fn=slim.batch_norm`` directly or through ``arg_scope``.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from bnlint import registry
from bnlint.linker import PROJECT_PREFIX
from bnlint.names import canonical
from bnlint.facts.values import Value, arg_scope_defaults, argument, constant, literal, truth
from bnlint.project import ProjectIndex
from bnlint.registry import BatchNormApi
from bnlint.semantic import INSTANCE, CallSite, FileModel, call_argument


@dataclass(eq=False)
class BatchNormSite:
    """A call that builds (or applies) a batch norm."""

    file: FileModel
    site: CallSite
    api: BatchNormApi
    # The constructor call of a layer object (Keras / tf.layers classes), when visible.
    constructor: cst.Call | None
    # Effective keyword values: explicit arguments, normalizer_params, arg_scope defaults.
    # Each is a list of possible values (one per calling context).
    training: list[Value | None]
    updates_collections: list[Value | None]
    via_normalizer_fn: bool
    # A project subclass that puts its own updates into UPDATE_OPS (``tf.add_to_collection`` in its ``call``).
    joins_update_ops: bool = False

    @property
    def unit(self) -> str:
        return self.file.unit_name(self.site.scope)

    def display(self) -> str:
        """How the user wrote it: ``slim.batch_norm``, ``bn`` or ``slim.conv2d(normalizer_fn=...)``."""
        func = self.site.node.func
        text = self.file.code(func)
        if self.via_normalizer_fn:
            return f"{text}(normalizer_fn=...)"
        if len(text) > 60:
            text = text[:57] + "..."
        return text

    def training_values(self) -> list[bool | None]:
        """For each calling context: True/False when the training flag is constant, None otherwise."""
        out: list[bool | None] = []
        for value in self.training:
            if value is None:
                out.append(self.api.training.default if self.api.training else None)
            else:
                out.append(truth(value))
        return out

    def never_training(self) -> bool:
        """The training flag is the constant False in every context (no updates are built)."""
        values = self.training_values()
        return bool(values) and all(v is False for v in values)

    def updates_in_place(self) -> bool:
        """``updates_collections=None`` in some context: the update runs with the output."""
        for value in self.updates_collections:
            if value is not None and constant(value) is None:
                return True
        return False

    def custom_collection(self) -> bool:
        """Updates go to a collection other than UPDATE_OPS (we cannot tell who runs them)."""
        for value in self.updates_collections:
            if value is None:
                continue
            if constant(value) is None:
                continue
            names = value.file.resolve(value.expr, value.scope)
            if names & registry.UPDATE_OPS_NAMES:
                continue
            if literal(value.expr) == registry.UPDATE_OPS_STRING:
                continue
            return True
        return False

    def frozen_layer(self) -> bool:
        """A Keras layer constructed with ``trainable=False`` (it runs in inference mode)."""
        if self.constructor is None:
            return False
        arg = call_argument(self.constructor, "trainable", None)
        return arg is not None and literal(arg.value) is False


def batch_norm_api_for(file: FileModel, name: str) -> BatchNormApi | None:
    """The batch-norm API a resolved name denotes: a library one, or a project subclass of one.

    ``class FrozenBN(tf.keras.layers.BatchNormalization)`` (or a subclass of
    that) builds a Keras batch norm with the same training flag, momentum and
    axis; the first library ancestor gives the semantics.
    """
    api = registry.batch_norm_api(name)
    if api is None and name.startswith(PROJECT_PREFIX):
        # The project is (a copy of) the library it is named after: the keras repository itself.
        api = registry.batch_norm_api(canonical(name[len(PROJECT_PREFIX):]))
    if api is not None or file.linker is None:
        return api
    instance = name.endswith(INSTANCE)
    base = name[: -len(INSTANCE)] if instance else name
    if base not in file.linker.classes:
        return None
    for ancestor in file.linker.mro(base, file)[1:]:
        api = registry.batch_norm_api(ancestor + INSTANCE if instance else ancestor)
        if api is not None and api.kind == "layer":
            return api
    return None


def batch_norm_sites(project: ProjectIndex) -> list[BatchNormSite]:
    """Every batch-norm site of the project (computed once, shared by all rules)."""
    return project.memo("batch_norm_sites", lambda: _collect(project))


def batch_norm_sites_by_unit(project: ProjectIndex) -> dict[str, list[BatchNormSite]]:
    """Every batch-norm site, by the unit (function or module top level) that builds it (computed once)."""
    def compute() -> dict[str, list[BatchNormSite]]:
        out: dict[str, list[BatchNormSite]] = {}
        for bn in batch_norm_sites(project):
            out.setdefault(bn.unit, []).append(bn)
        return out
    return project.memo("batch_norm_sites_by_unit", compute)


def batch_norm_sites_in(project: ProjectIndex, file: FileModel) -> list[BatchNormSite]:
    return [bn for bn in batch_norm_sites(project) if bn.file is file]


def _collect(project: ProjectIndex) -> list[BatchNormSite]:
    sites: list[BatchNormSite] = []
    for file, site in project.iter_calls():
        found = classify(file, site, project)
        if found is not None:
            sites.append(found)
    return sites


def classify(file: FileModel, site: CallSite, project: ProjectIndex) -> BatchNormSite | None:
    """The batch norm a call builds, if it builds one."""
    names = file.call_names(site)
    for name in names:
        api = batch_norm_api_for(file, name)
        if api is not None and api.kind == "function":
            return _function_site(file, site, api, project,
                                  extra=_partial_keywords(file, site.node.func, site.scope) or None,
                                  via_normalizer_fn=False)
        if name.endswith(INSTANCE):
            api = batch_norm_api_for(file, name[: -len(INSTANCE)])
            if api is not None and api.kind == "layer":
                found = _layer_site(file, site, api)
                found.joins_update_ops = _class_joins_update_ops(file, name[: -len(INSTANCE)])
                return found
    return _normalizer_site(file, site, names, project)


def _function_site(file: FileModel, site: CallSite, api: BatchNormApi, project: ProjectIndex,
                   extra: dict[str, Value] | None = None, via_normalizer_fn: bool | None = None) -> BatchNormSite:
    contexts = arg_scope_defaults(file, site, frozenset(api.names), project)
    training: list[Value | None] = []
    updates: list[Value | None] = []
    explicit_training = argument(file, site, api.training.param if api.training else None)
    explicit_updates = argument(file, site, api.updates_collections)
    for defaults in contexts:
        merged = dict(defaults)
        if extra:
            merged.update(extra)
        training.append(explicit_training or (merged.get(api.training.param.name) if api.training else None))
        updates.append(explicit_updates or (merged.get(api.updates_collections.name) if api.updates_collections else None))
    if via_normalizer_fn is None:
        via_normalizer_fn = extra is not None
    return BatchNormSite(file, site, api, None, training, updates, via_normalizer_fn=via_normalizer_fn)


def _class_joins_update_ops(file: FileModel, class_name: str) -> bool:
    """A project class (or project base) whose methods add ops to the UPDATE_OPS collection.

    Some TF1-compatible Keras batch-norm subclasses do ``for u in self.updates:
    tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, u)`` so that the usual hook runs them.
    """
    linker = file.linker
    if linker is None or class_name not in linker.classes:
        return False
    for ancestor in linker.mro(class_name, file):
        found = linker.class_named(ancestor, file)
        if found is None:
            continue
        model, qualname = found
        prefix = qualname + "."
        for method_name, info in model.functions.items():
            if not method_name.startswith(prefix):
                continue
            for site in info.calls:
                if not model.call_names(site) & registry.ADD_TO_COLLECTION_NAMES or not site.node.args:
                    continue
                first = site.node.args[0].value
                if model.resolve(first, site.scope) & registry.UPDATE_OPS_NAMES or \
                        literal(first) == registry.UPDATE_OPS_STRING:
                    return True
    return False


def _partial_keywords(file: FileModel, expr: cst.BaseExpression, scope, _depth: int = 0) -> dict[str, Value]:
    """Keywords bound by ``functools.partial`` when ``expr`` names a partial of a batch-norm function.

    ``batch_norm = partial(slim.batch_norm, updates_collections=None)`` then
    ``bn = partial(batch_norm, is_training=training)``: ``bn`` binds both (the
    outer partial wins). A call's own arguments come before all of them.
    """
    if not isinstance(expr, cst.Name) or _depth > 4:
        return {}
    bindings = file.lookup(expr.value, scope)
    if len(bindings) != 1 or bindings[0].kind != "assign" or bindings[0].unpack:
        return {}
    value = bindings[0].value
    if not isinstance(value, cst.Call) or not value.args or \
            not file.resolve(value.func, bindings[0].scope) & registry.PARTIAL_NAMES:
        return {}
    keywords = _partial_keywords(file, value.args[0].value, bindings[0].scope, _depth + 1)
    keywords.update({arg.keyword.value: Value(arg.value, file, bindings[0].scope) for arg in value.args[1:]
                     if arg.keyword is not None})
    return keywords


def _layer_site(file: FileModel, site: CallSite, api: BatchNormApi) -> BatchNormSite:
    explicit = argument(file, site, api.training.param if api.training else None)
    return BatchNormSite(file, site, api, _constructor(file, site), [explicit], [None], via_normalizer_fn=False)


def _constructor(file: FileModel, site: CallSite) -> cst.Call | None:
    func = site.node.func
    if isinstance(func, cst.Call):
        return func
    if isinstance(func, cst.Name):
        for binding in file.lookup(func.value, site.scope):
            if binding.kind == "assign" and isinstance(binding.value, cst.Call) and not binding.unpack:
                return binding.value
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        function = file.enclosing_function(site.scope)
        if function is not None and function.class_qualname:
            for value, _scope in file.class_attrs.get(function.class_qualname, {}).get(func.attr.value, []):
                if isinstance(value, cst.Call):
                    return value
    return None


def _normalizer_site(file: FileModel, site: CallSite, names: frozenset[str],
                     project: ProjectIndex) -> BatchNormSite | None:
    """``slim.conv2d(..., normalizer_fn=slim.batch_norm)``, directly or through arg_scope."""
    if names & registry.ARG_SCOPE_NAMES:
        return None  # arg_scope only sets defaults; the layers inside build the batch norms
    explicit = call_argument(site.node, registry.NORMALIZER_FN_PARAM, None)
    candidates: list[tuple[Value, Value | None]] = []
    if explicit is not None:
        params = call_argument(site.node, registry.NORMALIZER_PARAMS_PARAM, None)
        candidates.append((Value(explicit.value, file, site.scope),
                           Value(params.value, file, site.scope) if params is not None else None))
    elif names and any(name.startswith("tensorflow.contrib.") for name in names):
        for defaults in arg_scope_defaults(file, site, names, project):
            fn = defaults.get(registry.NORMALIZER_FN_PARAM)
            if fn is not None:
                candidates.append((fn, defaults.get(registry.NORMALIZER_PARAMS_PARAM)))
    for fn, params in candidates:
        if isinstance(fn.expr, cst.Name) and fn.expr.value == "None":
            continue
        for name in fn.file.resolve(fn.expr, fn.scope):
            api = registry.batch_norm_api(name)
            if api is not None and api.kind == "function":
                extra = _partial_keywords(fn.file, fn.expr, fn.scope)
                extra.update(_dict_values(params) if params is not None else {})
                return _function_site(file, site, api, project, extra=extra)
    return None


def _dict_values(value: Value) -> dict[str, Value]:
    """Keys and values of a dict literal (or a name assigned one dict literal)."""
    expr = value.expr
    if isinstance(expr, cst.Name):
        for binding in value.file.lookup(expr.value, value.scope):
            if binding.kind == "assign" and isinstance(binding.value, (cst.Dict, cst.Call)):
                expr = binding.value
    out: dict[str, Value] = {}
    if isinstance(expr, cst.Dict):
        for element in expr.elements:
            if isinstance(element, cst.DictElement):
                key = literal(element.key)
                if isinstance(key, str):
                    out[key] = Value(element.value, value.file, value.scope)
    elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "dict":
        for arg in expr.args:
            if arg.keyword is not None:
                out[arg.keyword.value] = Value(arg.value, value.file, value.scope)
    return out
