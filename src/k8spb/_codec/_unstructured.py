"""Objects of kinds known only at run time (custom resources): typed metadata, the rest as JSON.

Decoded from JSON they stay encoded like every JSON-decoded model: ``metadata`` becomes a lazy
``ObjectMeta``, and a body key is parsed when it is first read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Self

from k8spb._codec._document import model_from_document, parse_json, type_meta
from k8spb._errors import DecodeError
from k8spb._schema import DefaultField, Model, Raw, _json_copy, json_field, json_model, parse_raw
from k8spb._traits import ListResource
from k8spb.apimachinery.pkg.apis.meta.v1 import ListMeta, ObjectMeta

__all__ = ["DynamicList", "DynamicObject"]

_TYPE_KEYS = ("apiVersion", "kind", "metadata")


def _checktype_meta(doc: dict[str, Any], what: str) -> str:
    api_version, kind = type_meta(doc, "apiVersion"), type_meta(doc, "kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        raise DecodeError(f"{what} needs string apiVersion and kind fields (got apiVersion={api_version!r}, "
                          f"kind={kind!r})")
    return kind


class _Dynamic(Model):
    """What DynamicObject and DynamicList share: the kind is per object."""

    _dynamic = True

    @classmethod
    def from_json(cls, data: bytes, origin: str = "") -> Self:
        """From JSON bytes (lazily, as the codec decodes); ``origin`` is named in errors of fields read later."""
        obj: Self = model_from_document(parse_json(data, listing=issubclass(cls, ListResource)), "JSON", cls,
                                        origin)  # type: ignore[assignment]
        return obj


class DynamicObject(_Dynamic):
    """A Kubernetes object of any kind: apiVersion, kind, typed ``metadata``, every other key in ``body``.

    ``obj["spec"]`` parses only that key of a decoded object; ``body`` parses them all.
    """

    api_version: str
    kind: str
    metadata: ObjectMeta

    def __init__(self, *, api_version: str, kind: str, metadata: ObjectMeta | None = None,
                 body: dict[str, Any] | None = None) -> None:
        d = self.__dict__
        d["api_version"] = api_version
        d["kind"] = kind
        d["metadata"] = metadata if metadata is not None else ObjectMeta()
        d["_body"] = body if body is not None else {}

    @property
    def body(self) -> dict[str, Any]:
        """Every top-level key other than apiVersion, kind and metadata (``spec``, ``status``, ``data`` ...)."""
        d = self.__dict__
        body: dict[str, Any] | None = d.get("_body")
        if body is None:
            src = self._json or {}
            parts = d.pop("_parts", {})
            body = d["_body"] = {k: parts[k] if k in parts else self._parse(k, v)
                                 for k, v in src.items() if k not in _TYPE_KEYS}
        return body

    @body.setter
    def body(self, value: dict[str, Any]) -> None:
        self.__dict__.pop("_parts", None)
        self.__dict__["_body"] = value

    def _parse(self, key: str, value: Any) -> Any:
        return parse_raw(value, f"{self._path}.{key}") if value.__class__ is Raw else _json_copy(value)

    def __getitem__(self, key: str) -> Any:
        d = self.__dict__
        body = d.get("_body")
        if body is not None:
            return body[key]
        parts = d.setdefault("_parts", {})
        if key not in parts:
            src = self._json or {}
            if key in _TYPE_KEYS or key not in src:
                raise KeyError(key)
            parts[key] = self._parse(key, src[key])
        return parts[key]

    def __contains__(self, key: object) -> bool:
        body = self.__dict__.get("_body")
        if body is not None:
            return key in body
        return key in (self._json or ()) and key not in _TYPE_KEYS

    def get(self, key: str, default: Any = None) -> Any:
        """A body key's value, or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    # conversion -------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> DynamicObject:
        """From a Kubernetes-JSON dict; the dict is validated (metadata) and copied."""
        if not isinstance(data, dict):
            raise DecodeError(f"expected an object, got {type(data).__name__}")
        kind = _checktype_meta(data, "object")
        meta = data.get("metadata")
        try:
            rest = _json_copy({k: v for k, v in data.items() if k not in _TYPE_KEYS})
        except RecursionError:
            raise DecodeError("nested too deeply", kind=kind) from None
        return cls(api_version=data["apiVersion"], kind=kind,
                   metadata=ObjectMeta.from_dict(meta) if meta is not None else ObjectMeta(), body=rest)

    @classmethod
    def _from_document(cls, doc: dict[str, Any], what: str, origin: str = "") -> DynamicObject:
        kind = _checktype_meta(doc, f"{what} object")
        return cls._from_json_dict(doc, f"{origin}: {kind}" if origin else kind)

    def to_dict(self) -> dict[str, Any]:
        """The object as a Kubernetes-JSON dict (a copy)."""
        out: dict[str, Any] = {"apiVersion": self.api_version, "kind": self.kind,
                               "metadata": self.metadata.to_dict()}
        d = self.__dict__
        body = d.get("_body")
        if body is not None:
            out.update(_json_copy(body))
            return out
        parts = d.get("_parts", {})
        for k, v in (self._json or {}).items():
            if k not in _TYPE_KEYS:
                out[k] = _json_copy(parts[k]) if k in parts else self._parse(k, v)
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DynamicObject):
            return NotImplemented
        return (self.api_version, self.kind, self.metadata, self.body) == (
            other.api_version, other.kind, other.metadata, other.body)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"DynamicObject(api_version={self.api_version!r}, kind={self.kind!r}, metadata={self.metadata!r}, "
                f"body={self.body!r})")


json_model(DynamicObject, (json_field("api_version", "apiVersion", "s"), json_field("kind", "kind", "s"),
                           json_field("metadata", "metadata", "m", cls=ObjectMeta, factory=ObjectMeta)))


class DynamicList(_Dynamic, ListResource[DynamicObject]):
    """A list of dynamic objects (one page). Items without apiVersion/kind take the list's."""
    item_kind: ClassVar[str] = ""

    api_version: str
    kind: str
    metadata: ListMeta
    items: list[DynamicObject]

    def __init__(self, *, api_version: str, kind: str, metadata: ListMeta | None = None,
                 items: list[DynamicObject] | None = None) -> None:
        d = self.__dict__
        d["api_version"] = api_version
        d["kind"] = kind
        d["metadata"] = metadata if metadata is not None else ListMeta()
        d["items"] = items if items is not None else []

    @classmethod
    def from_dict(cls, data: Any) -> DynamicList:
        """From a Kubernetes-JSON list dict; the dict is copied."""
        if not isinstance(data, dict):
            raise DecodeError(f"expected a list object, got {type(data).__name__}")
        items = data.get("items") or []
        if not isinstance(items, list):
            raise DecodeError("list 'items' is not an array")
        api_version, kind = str(data.get("apiVersion", "")), str(data.get("kind", ""))
        item_kind = kind.removesuffix("List")
        objs = [DynamicObject.from_dict({"apiVersion": api_version, "kind": item_kind, **item})
                if isinstance(item, dict) else DynamicObject.from_dict(item) for item in items]
        meta = data.get("metadata")
        return cls(api_version=api_version, kind=kind, metadata=ListMeta.from_dict(meta) if meta else ListMeta(),
                   items=objs)

    @classmethod
    def _from_document(cls, doc: dict[str, Any], what: str, origin: str = "") -> DynamicList:
        kind = type_meta(doc, "kind")
        name = kind if isinstance(kind, str) and kind else "List"
        return cls._from_json_dict(doc, f"{origin}: {name}" if origin else name)

    def to_dict(self) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": self.metadata.to_dict(),
                "items": [o.to_dict() for o in self.items]}

    def __iter__(self) -> Iterator[DynamicObject]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DynamicList):
            return NotImplemented
        return (self.api_version, self.kind, self.metadata, self.items) == (
            other.api_version, other.kind, other.metadata, other.items)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"DynamicList(api_version={self.api_version!r}, kind={self.kind!r}, items=<{len(self.items)}>)"


class _Items(DefaultField):
    """The items of a decoded DynamicList, each given the list's apiVersion and kind when it has none."""

    __slots__ = ()

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return None
        items = super().__get__(obj, owner)
        if items and obj._json is not None:
            api_version, kind = obj.api_version, (obj.kind or "").removesuffix("List")
            for item in items:
                src = item._json
                if src is not None:
                    if "apiVersion" not in src:
                        item.__dict__["api_version"] = api_version
                    if "kind" not in src:
                        item.__dict__["kind"] = kind
        return items


json_model(DynamicList, (json_field("api_version", "apiVersion", "s"), json_field("kind", "kind", "s"),
                         json_field("metadata", "metadata", "m", cls=ListMeta, factory=ListMeta),
                         _Items("items", "items", "m", "l", list)))
DynamicList._schema.by_attr["items"].cls = DynamicObject
