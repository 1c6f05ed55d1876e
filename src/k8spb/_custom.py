"""Typed custom resources written in Python: the class is the schema, its CRD is derived from it.

What kube-derive and schemars do for Rust, for dataclass-style classes::

    class WidgetSpec(Object):
        image: str
        replicas: Annotated[int, Minimum(1)] = 1

    class Widget(CustomResource, group="example.com", version="v1", short_names=("wd",)):
        spec: WidgetSpec
        status: WidgetStatus | None = None

    Widget.crd()                      # a CustomResourceDefinition with a structural OpenAPI v3 schema
    Api(client, Widget, namespace="default").list()

Classes are JSON-only models: decoded lazily like every k8spb model (a field is parsed when first
read), validated by ``from_dict``, written by ``to_dict``. Attribute names are snake_case, JSON keys
camelCase (``Key`` overrides). The schema comes from the annotations: ``str``, ``int``, ``float``,
``bool``, ``bytes``, ``datetime``, ``timedelta``, ``Enum`` and ``Literal`` values, ``int | str``,
``Quantity``, ``Any`` (preserved unknown fields), ``list[...]``, ``dict[str, ...]``, ``X | None``
(optional), nested ``Object`` classes and k8spb's generated models; defaults become schema defaults,
``Annotated`` constraints become validation, docstrings descriptions.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import enum
import inspect
import itertools
import sys
import textwrap
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NewType, dataclass_transform

from k8spb._errors import DecodeError, EncodeError
from k8spb._registry import register
from k8spb._schema import Field, Kind, Model, json_field, json_model
from k8spb._traits import HasConditions, HasKind, HasMetadata, HasSpec, HasStatus, ListResource, Resource, SubResource
from k8spb.apimachinery.pkg.apis.meta.v1 import ListMeta, ObjectMeta

if typing.TYPE_CHECKING:
    from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition

__all__ = [
    "CustomResource",
    "Default",
    "Description",
    "EmbeddedResource",
    "ExclusiveMaximum",
    "ExclusiveMinimum",
    "Format",
    "IntOrString",
    "Key",
    "ListType",
    "MapType",
    "MaxItems",
    "MaxLength",
    "MaxProperties",
    "Maximum",
    "MinItems",
    "MinLength",
    "MinProperties",
    "Minimum",
    "MultipleOf",
    "Nullable",
    "Object",
    "Pattern",
    "PreserveUnknownFields",
    "PrinterColumn",
    "Quantity",
    "Required",
    "Rule",
    "Scale",
    "merge_crds",
    "schema_of",
]

IntOrString = int | str
"""An integer or a string (``x-kubernetes-int-or-string``), as ``IntOrString`` in Kubernetes."""

Quantity = NewType("Quantity", str)
"""A resource quantity (``"500m"``, ``"1Gi"``); numbers in JSON are read as their text."""


# ---------------------------------------------------------------------------------------------------------
# Annotated markers: what the Python type cannot say


class Constraint:
    """A schema fact attached with ``Annotated[T, ...]``."""

    def apply(self, schema: dict[str, Any]) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class _Keyword(Constraint):
    value: Any

    keyword: ClassVar[str] = ""

    def apply(self, schema: dict[str, Any]) -> None:
        schema[self.keyword] = self.value


class Description(_Keyword):
    """The field's description (the attribute's docstring says the same)."""

    keyword = "description"


class Format(_Keyword):
    """An OpenAPI format: ``email``, ``uri``, ``hostname``, ``ipv4``, ``cidr``, ``uuid``, ``date``, ``byte`` ..."""

    keyword = "format"


class Minimum(_Keyword):
    keyword = "minimum"


class Maximum(_Keyword):
    keyword = "maximum"


class ExclusiveMinimum(_Keyword):
    """A strict lower bound."""

    def apply(self, schema: dict[str, Any]) -> None:
        schema["minimum"] = self.value
        schema["exclusiveMinimum"] = True


class ExclusiveMaximum(_Keyword):
    """A strict upper bound."""

    def apply(self, schema: dict[str, Any]) -> None:
        schema["maximum"] = self.value
        schema["exclusiveMaximum"] = True


class MultipleOf(_Keyword):
    keyword = "multipleOf"


class MinLength(_Keyword):
    keyword = "minLength"


class MaxLength(_Keyword):
    keyword = "maxLength"


class Pattern(_Keyword):
    """A regular expression strings must match (ECMA 262 as Kubernetes evaluates it)."""

    keyword = "pattern"


class MinItems(_Keyword):
    keyword = "minItems"


class MaxItems(_Keyword):
    keyword = "maxItems"


class MinProperties(_Keyword):
    keyword = "minProperties"


class MaxProperties(_Keyword):
    keyword = "maxProperties"


class Default(_Keyword):
    """A schema default where a Python default cannot go (a list item's, a map value's): JSON, as written."""

    keyword = "default"


@dataclass(frozen=True)
class Key(Constraint):
    """The JSON key of a field when it is not the camelCase of the attribute name."""

    name: str

    def apply(self, schema: dict[str, Any]) -> None:
        pass


@dataclass(frozen=True)
class Required(Constraint):
    """Listed in ``required`` although it has a default (the server applies the default first)."""

    def apply(self, schema: dict[str, Any]) -> None:
        pass


@dataclass(frozen=True)
class Nullable(Constraint):
    """``nullable: true``: a JSON null is kept rather than pruned."""

    def apply(self, schema: dict[str, Any]) -> None:
        schema["nullable"] = True


@dataclass(frozen=True)
class PreserveUnknownFields(Constraint):
    """``x-kubernetes-preserve-unknown-fields: true`` on an object: keys the schema does not list are kept."""

    def apply(self, schema: dict[str, Any]) -> None:
        schema["x-kubernetes-preserve-unknown-fields"] = True


@dataclass(frozen=True)
class EmbeddedResource(Constraint):
    """``x-kubernetes-embedded-resource``: the object is a whole Kubernetes object (apiVersion, kind, metadata)."""

    def apply(self, schema: dict[str, Any]) -> None:
        schema["x-kubernetes-embedded-resource"] = True
        schema.setdefault("x-kubernetes-preserve-unknown-fields", True)


@dataclass(frozen=True)
class ListType(Constraint):
    """``x-kubernetes-list-type`` (``atomic``, ``set`` or ``map``; ``keys`` for a map)."""

    type: typing.Literal["atomic", "set", "map"]
    keys: tuple[str, ...] = ()

    def apply(self, schema: dict[str, Any]) -> None:
        schema["x-kubernetes-list-type"] = self.type
        if self.keys:
            schema["x-kubernetes-list-map-keys"] = list(self.keys)


@dataclass(frozen=True)
class MapType(Constraint):
    """``x-kubernetes-map-type`` (``granular`` or ``atomic``)."""

    type: typing.Literal["granular", "atomic"]

    def apply(self, schema: dict[str, Any]) -> None:
        schema["x-kubernetes-map-type"] = self.type


@dataclass(frozen=True)
class Rule(Constraint):
    """A CEL validation rule (``x-kubernetes-validations``), on a field or, with ``rules=``, on a class."""

    rule: str
    message: str | None = None
    message_expression: str | None = None
    reason: typing.Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired",
                           "FieldValueDuplicate"] | None = None
    field_path: str | None = None
    optional_old_self: bool | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule}
        for key, value in (("message", self.message), ("messageExpression", self.message_expression),
                           ("reason", self.reason), ("fieldPath", self.field_path),
                           ("optionalOldSelf", self.optional_old_self)):
            if value is not None:
                out[key] = value
        return out

    def apply(self, schema: dict[str, Any]) -> None:
        schema.setdefault("x-kubernetes-validations", []).append(self.to_json())


@dataclass(frozen=True)
class PrinterColumn:
    """A column ``kubectl get`` shows (``additionalPrinterColumns``)."""

    name: str
    json_path: str
    type: typing.Literal["string", "integer", "number", "boolean", "date"] = "string"
    description: str | None = None
    format: str | None = None
    priority: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            out["description"] = self.description
        if self.format:
            out["format"] = self.format
        if self.priority:
            out["priority"] = self.priority
        return out


@dataclass(frozen=True)
class Scale:
    """The scale subresource: where the replica counts (and a label selector) live."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"specReplicasPath": self.spec_replicas_path, "statusReplicasPath": self.status_replicas_path}
        if self.label_selector_path:
            out["labelSelectorPath"] = self.label_selector_path
        return out


# ---------------------------------------------------------------------------------------------------------
# Python types -> field conversions and schemas


def _camel(attr: str) -> str:
    head, *rest = attr.rstrip("_").split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _enum_kind(cls: type[enum.Enum]) -> Kind:
    by_value = {m.value: m for m in cls}

    def js(raw: Any, path: str) -> Any:
        try:
            return by_value[raw]
        except (KeyError, TypeError):
            raise DecodeError(f"expected one of {list(by_value)!r}, got {raw!r:.60}", path=path) from None

    def check(value: Any, path: str) -> Any:
        if isinstance(value, cls) or value in by_value:
            return value
        raise EncodeError(f"expected a {cls.__name__}, got {value!r:.60}", path=path)

    def tojs(value: Any, path: str) -> Any:
        return value.value if isinstance(value, cls) else value

    return Kind(msg=False, pb=lambda v: v, js=js, tojs=tojs, check=check)


def _literal_kind(values: tuple[Any, ...]) -> Kind:
    def js(raw: Any, path: str) -> Any:
        if raw in values and type(raw) in {type(v) for v in values}:
            return raw
        raise DecodeError(f"expected one of {list(values)!r}, got {raw!r:.60}", path=path)

    def check(value: Any, path: str) -> Any:
        if value in values:
            return value
        raise EncodeError(f"expected one of {list(values)!r}, got {value!r:.60}", path=path)

    return Kind(msg=False, pb=lambda v: v, js=js, tojs=lambda v, p: v, check=check)


_SCALARS: dict[Any, tuple[str, dict[str, Any]]] = {
    str: ("s", {"type": "string"}),
    int: ("i", {"type": "integer"}),
    float: ("f", {"type": "number"}),
    bool: ("b", {"type": "boolean"}),
    bytes: ("y", {"type": "string", "format": "byte"}),
    datetime.datetime: ("time", {"type": "string", "format": "date-time"}),
    datetime.timedelta: ("dur", {"type": "string", "format": "duration"}),
}
_INT_OR_STRING = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
_ANY: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}


@dataclass
class _Shape:
    """What one annotation means: how the field converts (kind, container, class) and its schema."""

    schema: dict[str, Any]
    kind: str | Kind = "raw"
    container: str = ""
    cls: type[Model] | None = None
    optional: bool = False
    constraints: tuple[Any, ...] = ()


def _unwrap(tp: Any) -> tuple[Any, tuple[Any, ...], bool]:
    """(type, Annotated metadata, optional) with ``Annotated`` and ``| None`` peeled off."""
    meta: tuple[Any, ...] = ()
    optional = False
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            meta += tuple(tp.__metadata__)
            tp = tp.__origin__
            continue
        args = typing.get_args(tp)
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
            optional = True
            rest = tuple(a for a in args if a is not type(None))
            tp = rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007 (a runtime union of the rest)
            continue
        return tp, meta, optional


def _element(tp: Any, where: str, stack: tuple[type, ...]) -> _Shape:
    """The shape of a list item or map value (no further container on the Field side)."""
    shape = _shape(tp, where, stack)
    if shape.container:  # a list of lists: the Field holds plain JSON, the schema says what it is
        return _Shape(_rebuild(shape, stack) if shape.cls is not None else shape.schema)
    return shape


def _shape(tp: Any, where: str, stack: tuple[type, ...] = ()) -> _Shape:
    tp, meta, optional = _unwrap(tp)
    shape = _bare_shape(tp, where, stack)
    shape.optional = optional
    if meta:
        shape.schema = dict(shape.schema)
        for m in meta:
            if isinstance(m, Constraint):
                m.apply(shape.schema)
        shape.constraints = meta
    return shape


def _bare_shape(tp: Any, where: str, stack: tuple[type, ...]) -> _Shape:
    if isinstance(tp, type) and tp in _SCALARS:
        kind, schema = _SCALARS[tp]
        return _Shape(dict(schema), kind)
    if tp is Any or tp is object:
        return _Shape(dict(_ANY))
    if tp is Quantity:
        return _Shape(dict(_INT_OR_STRING), "qty")
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if set(args) == {int, str}:
            return _Shape(dict(_INT_OR_STRING), "ios")
        raise TypeError(f"{where}: unions other than X | None and int | str have no structural schema")
    if origin is typing.Literal:
        kinds = {type(a) for a in args}
        if kinds not in ({str}, {int}):
            raise TypeError(f"{where}: Literal values must all be strings or all integers")
        return _Shape({"type": "string" if kinds == {str} else "integer", "enum": list(args)}, _literal_kind(args))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        kinds = {type(v) for v in values}
        if not values or not (kinds <= {str} or kinds <= {int}):
            raise TypeError(f"{where}: enum {tp.__name__} needs string (or integer) values")
        return _Shape({"type": "string" if kinds <= {str} else "integer", "enum": values}, _enum_kind(tp))
    if origin in (list, Sequence, tuple) or tp is list:
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            raise TypeError(f"{where}: use list[X] (or tuple[X, ...]) for arrays")
        item = _element(args[0] if args else Any, f"{where}[]", stack)
        return _Shape({"type": "array", "items": item.schema}, item.kind, "l", item.cls)
    if origin is dict or tp is dict:
        if args and args[0] is not str:
            raise TypeError(f"{where}: map keys must be str")
        value_type = args[1] if len(args) == 2 else Any
        if value_type is Any or value_type is object:  # any JSON object (Annotated[Any, ...]: a map of anything)
            return _Shape({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
        value = _element(value_type, f"{where}{{}}", stack)
        return _Shape({"type": "object", "additionalProperties": value.schema}, value.kind, "m", value.cls)
    if isinstance(tp, type) and issubclass(tp, Model):
        return _Shape({}, "m", "", tp)  # the class's schema is built with the CRD's (see _rebuild)
    raise TypeError(f"{where}: {tp!r} has no Kubernetes schema (use a scalar, an Enum, list, dict, an Object "
                    "subclass or a k8spb model)")


def schema_of(cls: type[Model], stack: tuple[type, ...] = ()) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of an Object subclass or a generated k8spb model."""
    if cls is ObjectMeta:
        return {"type": "object"}  # metadata below the root: the server checks it as an object
    if cls in stack:  # structural schemas cannot refer to themselves: the recursion is kept as JSON
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    info: _ClassInfo | None = cls.__dict__.get("_crd_info")
    if info is not None:
        return info.schema((*stack, cls))
    return _generated_schema(cls, (*stack, cls))


_GENERATED: dict[str, dict[str, Any]] = {
    "s": {"type": "string"}, "i": {"type": "integer"}, "b": {"type": "boolean"}, "f": {"type": "number"},
    "y": {"type": "string", "format": "byte"}, "time": {"type": "string", "format": "date-time"},
    "mtime": {"type": "string", "format": "date-time"}, "dur": {"type": "string"},
    "qty": _INT_OR_STRING, "ios": _INT_OR_STRING,
    "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    "fv1": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}, "json": _ANY,
    "strs": {"type": "array", "items": {"type": "string"}},
}


def _generated_schema(cls: type[Model], stack: tuple[type, ...]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f in cls._schema.fields:
        if f.kind_code == "m":
            assert f.cls is not None
            one = schema_of(f.cls, stack)
        else:
            one = _GENERATED.get(f.kind_code, _ANY)
        props[f.key] = ({"type": "array", "items": one} if f.container == "l"
                        else {"type": "object", "additionalProperties": one} if f.container == "m" else dict(one))
    out: dict[str, Any] = {"type": "object", "properties": props}
    doc = (cls.__doc__ or "").strip()
    if doc and doc != f"{cls.__name__}.":  # build.py's stand-in when the upstream comments were absent
        out["description"] = doc
    return out


# ---------------------------------------------------------------------------------------------------------
# The classes


@dataclass
class _FieldInfo:
    attr: str
    key: str
    shape: _Shape
    required: bool
    default: Any  # dataclasses.MISSING or a zero-argument factory
    description: str | None


class _ClassInfo:
    """What a class's schema is built from: its fields, description and class-level rules."""

    def __init__(self, cls: type[Model], fields: list[_FieldInfo], description: str | None,
                 rules: tuple[Rule, ...], preserve_unknown: bool) -> None:
        self.cls = cls
        self.fields = fields
        self.description = description
        self.rules = rules
        self.preserve_unknown = preserve_unknown

    def schema(self, stack: tuple[type, ...], root: bool = False) -> dict[str, Any]:
        props: dict[str, Any] = {}
        required = []
        for f in self.fields:
            if root and f.attr == "metadata":
                props[f.key] = {"type": "object"}
                continue
            one = _rebuild(f.shape, stack) if f.shape.cls is not None else dict(f.shape.schema)
            if f.description and "description" not in one:
                one = {"description": f.description, **one}
            if f.default is not dataclasses.MISSING:
                value = f.default()
                if value is not None:
                    one["default"] = _default_json(self.cls, f, value)
            props[f.key] = one
            if f.required:
                required.append(f.key)
        out: dict[str, Any] = {}
        if self.description:
            out["description"] = self.description
        out["type"] = "object"
        if root:
            props = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, **props}
        out["properties"] = props
        if required:
            out["required"] = required
        if self.preserve_unknown:
            out["x-kubernetes-preserve-unknown-fields"] = True
        if self.rules:
            out["x-kubernetes-validations"] = [r.to_json() for r in self.rules]
        return out


def _rebuild(shape: _Shape, stack: tuple[type, ...]) -> dict[str, Any]:
    """A shape's schema with its nested class's schema built now (so recursion is cut where it recurs)."""
    assert shape.cls is not None
    inner = schema_of(shape.cls, stack)
    if shape.container:  # the item's own markers (a description ...) over its class's schema
        key = "items" if shape.container == "l" else "additionalProperties"
        return {**shape.schema, key: {**inner, **shape.schema.get(key, {})}}
    out = {**inner, **shape.schema}  # what the field says (a description, a rule) over what the class says
    rules = inner.get("x-kubernetes-validations", []) + shape.schema.get("x-kubernetes-validations", [])
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def _default_json(cls: type[Model], f: _FieldInfo, value: Any) -> Any:
    field = cls._schema.by_attr[f.attr]
    try:
        return field.to_json(value, f"{cls.__name__}.{f.key}")
    except EncodeError as exc:
        raise TypeError(f"{cls.__name__}.{f.attr}: the default {value!r:.60} does not fit the type: {exc}") from None


def _attribute_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string right after an annotated attribute), read from the source if there is one."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    out = {}
    for node, after in itertools.pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            out[node.target.id] = inspect.cleandoc(after.value.value)
    return out


def _hint(cls: type, attr: str, frame_locals: dict[str, Any]) -> Any:
    """The annotation of a dataclass field, evaluated where the class declaring it was written."""
    for owner in cls.__mro__:
        annotations = inspect.get_annotations(owner)
        if attr in annotations:
            break
    else:
        raise TypeError(f"{cls.__qualname__}.{attr} has no annotation")
    annotation = annotations[attr]
    if not isinstance(annotation, str):
        return annotation
    module = sys.modules.get(owner.__module__)
    namespace = {**(vars(module) if module is not None else {}), **(frame_locals if owner is cls else {}),
                 cls.__name__: cls}
    try:
        return eval(annotation, namespace)  # an annotation of the class, evaluated as typing.get_type_hints does
    except NameError as exc:
        raise TypeError(f"{cls.__qualname__}.{attr}: cannot resolve {annotation!r} ({exc}); define the classes a "
                        "field uses before the class (structural schemas cannot be recursive)") from None


def _build(cls: type[Model], frame_locals: dict[str, Any], rules: Iterable[Rule], preserve_unknown: bool) -> None:
    doc = cls.__dict__.get("__doc__")
    dataclass(eq=True, repr=False, kw_only=True)(cls)
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if "_crd_info" in base.__dict__ or base is cls:
            docs.update(_attribute_docs(base))
    infos: list[_FieldInfo] = []
    fields: list[Field] = []
    for dc_field in dataclasses.fields(cls):  # type: ignore[arg-type]
        attr = dc_field.name
        shape = _shape(_hint(cls, attr, frame_locals), f"{cls.__qualname__}.{attr}")
        key = next((m.name for m in shape.constraints if isinstance(m, Key)), None) or _camel(attr)
        if dc_field.default is not dataclasses.MISSING:
            value = dc_field.default
            default: Any = lambda value=value: value  # noqa: E731
        elif dc_field.default_factory is not dataclasses.MISSING:
            default = dc_field.default_factory
        else:
            default = dataclasses.MISSING
        description = dc_field.metadata.get("description") or docs.get(attr)
        required = (default is dataclasses.MISSING and not shape.optional) or any(
            isinstance(m, Required) for m in shape.constraints)
        infos.append(_FieldInfo(attr, key, shape, required, default, description))
        # a default of None is what an absent key reads anyway: only other defaults need a factory
        factory = default if default is not dataclasses.MISSING and dc_field.default is not None else None
        fields.append(json_field(attr, key, shape.kind, shape.container, shape.cls, factory=factory))
    if len({f.key for f in fields}) != len(fields):
        raise TypeError(f"{cls.__qualname__}: two fields have the same JSON key")
    json_model(cls, fields)
    description = inspect.cleandoc(doc) if isinstance(doc, str) else None
    cls._crd_info = _ClassInfo(cls, infos, description, tuple(rules), preserve_unknown)  # type: ignore[attr-defined]


@dataclass_transform(kw_only_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
class Object(Model):
    """Base of the classes a custom resource is made of (its spec, status and their parts).

    A subclass is a keyword-only dataclass and a k8spb model: ``rules=`` adds CEL rules on the object,
    ``preserve_unknown_fields=True`` keeps keys the class does not list.
    """

    _crd_info: ClassVar[_ClassInfo]

    def __init_subclass__(cls, *, rules: Iterable[Rule] = (), preserve_unknown_fields: bool = False,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _build(cls, _caller_locals(), rules, preserve_unknown_fields)


def _caller_locals() -> dict[str, Any]:
    """The namespace the class statement ran in (a function's locals, for classes defined in one)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name == "__init_subclass__":  # CustomResource -> Object
        frame = frame.f_back  # type: ignore[assignment]
    return dict(frame.f_locals) if frame is not None else {}


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        return lower[:-1] + "ies"
    return lower + "s"


_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass_transform(kw_only_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
class CustomResource(Object, Resource, HasMetadata):
    """Base of a custom resource's class: the class keywords are its facts, the fields its schema.

    ``class Widget(CustomResource, group="example.com", version="v1"):`` with ``spec`` (and ``status``)
    fields. Keywords: ``kind`` (the class name), ``plural``, ``singular``, ``namespaced`` (True),
    ``short_names``, ``categories``, ``printer_columns``, ``scale``, ``rules`` (CEL on the object),
    ``selectable_fields``, ``served``, ``storage``, ``deprecated``, ``deprecation_warning``.
    A ``status`` field brings the status subresource.
    """

    metadata: ObjectMeta | None = None
    """Standard object metadata."""

    singular: ClassVar[str]
    printer_columns: ClassVar[tuple[PrinterColumn, ...]]
    scale: ClassVar[Scale | None]
    selectable_fields: ClassVar[tuple[str, ...]]
    served: ClassVar[bool]
    storage: ClassVar[bool]
    deprecated: ClassVar[bool]
    deprecation_warning: ClassVar[str | None]

    def __init_subclass__(cls, *, group: str, version: str, kind: str | None = None, plural: str | None = None,
                          singular: str | None = None, namespaced: bool = True, short_names: Iterable[str] = (),
                          categories: Iterable[str] = (), printer_columns: Iterable[PrinterColumn] = (),
                          scale: Scale | None = None, rules: Iterable[Rule] = (),
                          selectable_fields: Iterable[str] = (), served: bool = True, storage: bool = True,
                          deprecated: bool = False, deprecation_warning: str | None = None,
                          preserve_unknown_fields: bool = False) -> None:
        if not group or "." not in group:
            raise TypeError(f"{cls.__name__}: group must be a domain with at least one dot, got {group!r}")
        kind = kind or cls.__name__
        cls.group, cls.version, cls.kind = group, version, kind
        cls.api_version = f"{group}/{version}"
        cls.plural = plural or _plural(kind)
        cls.singular = singular or kind.lower()
        cls.namespaced = namespaced
        cls.list_kind = f"{kind}List"
        cls.verbs = _VERBS
        cls.short_names, cls.categories = tuple(short_names), tuple(categories)
        cls.printer_columns, cls.scale = tuple(printer_columns), scale
        cls.selectable_fields = tuple(selectable_fields)
        cls.served, cls.storage = served, storage
        cls.deprecated, cls.deprecation_warning = deprecated, deprecation_warning
        super().__init_subclass__(rules=rules, preserve_unknown_fields=preserve_unknown_fields)
        by_attr = cls._schema.by_attr
        traits: list[type] = []
        if "spec" in by_attr and not issubclass(cls, HasSpec):
            traits.append(HasSpec)
        if "status" in by_attr:
            if not issubclass(cls, HasStatus):
                traits.append(HasStatus)
            if not issubclass(cls, HasConditions):
                traits.append(HasConditions)
        if traits:
            cls.__bases__ = (*cls.__bases__, *traits)
        subs = [SubResource("status", kind, ("get", "patch", "update"))] if "status" in by_attr else []
        if scale is not None:
            subs.append(SubResource("scale", "Scale", ("get", "patch", "update")))
        cls.subresources = tuple(subs)
        register(cls, cls.api_version, kind)
        register(_list_class(cls), cls.api_version, cls.list_kind)

    @classmethod
    def crd(cls) -> CustomResourceDefinition:
        """The CustomResourceDefinition serving this class's version (see :func:`merge_crds` for several)."""
        from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition

        return CustomResourceDefinition.from_dict(cls.crd_dict())

    @classmethod
    def crd_dict(cls) -> dict[str, Any]:
        """The CustomResourceDefinition as a Kubernetes-JSON dict."""
        names: dict[str, Any] = {"plural": cls.plural, "singular": cls.singular, "kind": cls.kind,
                                 "listKind": cls.list_kind}
        if cls.short_names:
            names["shortNames"] = list(cls.short_names)
        if cls.categories:
            names["categories"] = list(cls.categories)
        version: dict[str, Any] = {"name": cls.version, "served": cls.served, "storage": cls.storage}
        if cls.deprecated:
            version["deprecated"] = True
            if cls.deprecation_warning:
                version["deprecationWarning"] = cls.deprecation_warning
        version["schema"] = {"openAPIV3Schema": cls._crd_info.schema((cls,), root=True)}
        subresources: dict[str, Any] = {}
        if "status" in cls._schema.by_attr:
            subresources["status"] = {}
        if cls.scale is not None:
            subresources["scale"] = cls.scale.to_json()
        if subresources:
            version["subresources"] = subresources
        if cls.printer_columns:
            version["additionalPrinterColumns"] = [c.to_json() for c in cls.printer_columns]
        if cls.selectable_fields:
            version["selectableFields"] = [{"jsonPath": p} for p in cls.selectable_fields]
        return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{cls.plural}.{cls.group}"},
                "spec": {"group": cls.group, "names": names, "scope": "Namespaced" if cls.namespaced else "Cluster",
                         "versions": [version]}}


def _list_class(cls: type[CustomResource]) -> type[Model]:
    """``<Kind>List``: the list type a list request of the class answers with."""
    ns = {"__module__": cls.__module__, "__qualname__": f"{cls.__qualname__}.List",
          "__doc__": f"A list of {cls.kind}.", "api_version": cls.api_version, "group": cls.group,
          "version": cls.version, "kind": cls.list_kind, "item_kind": cls.kind}
    list_cls: type[Model] = types.new_class(cls.list_kind, (Model, HasKind, ListResource[cls]),  # type: ignore[valid-type]
                                            exec_body=lambda body: body.update(ns))
    dataclass(eq=True, repr=False, kw_only=True)(list_cls)
    json_model(list_cls, (json_field("metadata", "metadata", "m", cls=ListMeta),
                          json_field("items", "items", "m", "l", cls)))
    cls.List = list_cls  # type: ignore[attr-defined]
    return list_cls


def merge_crds(crds: Sequence[CustomResourceDefinition | dict[str, Any]], storage: str) -> CustomResourceDefinition:
    """One CRD serving every version of several (one per class), ``storage`` the stored version.

    The group, names and scope must agree; the versions are listed in the order given.
    """
    from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition

    docs = [c.to_dict() if isinstance(c, Model) else c for c in crds]
    if not docs:
        raise ValueError("merge_crds needs at least one CRD")
    first = docs[0]
    versions = []
    for doc in docs:
        for key in ("group", "names", "scope"):
            if doc["spec"].get(key) != first["spec"].get(key):
                raise ValueError(f"CRDs disagree on spec.{key}: {doc['spec'].get(key)!r} vs {first['spec'].get(key)!r}")
        versions.extend(doc["spec"]["versions"])
    names = [v["name"] for v in versions]
    if len(set(names)) != len(names):
        raise ValueError(f"a version is given twice: {names}")
    if storage not in names:
        raise ValueError(f"storage version {storage!r} is not one of {names}")
    for v in versions:
        v["storage"] = v["name"] == storage
    return CustomResourceDefinition.from_dict({**first, "spec": {**first["spec"], "versions": versions}})
