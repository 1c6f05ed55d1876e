"""Objects of kinds known only at run time (custom resources): typed metadata, the rest as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from k8spb._errors import DecodeError
from k8spb._request import ResourceRef
from k8spb._traits import ListResource
from k8spb.apimachinery.pkg.apis.meta.v1 import ListMeta, ObjectMeta

__all__ = ["ApiResource", "DynamicList", "DynamicObject"]


@dataclass(frozen=True)
class ApiResource(ResourceRef):
    """A resource known at run time (from discovery or by hand); JSON only unless ``protobuf`` is set."""

    protobuf: bool = False


@dataclass(eq=True, kw_only=True)
class DynamicObject:
    """A Kubernetes object of any kind: apiVersion, kind, typed ``metadata``, every other key in ``body``."""

    api_version: str
    kind: str
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    body: dict[str, Any] = field(default_factory=dict)
    """Every top-level key other than apiVersion, kind and metadata (``spec``, ``status``, ``data`` ...)."""

    @classmethod
    def from_dict(cls, data: Any) -> DynamicObject:
        """From a Kubernetes-JSON dict; the dict is copied."""
        if not isinstance(data, dict):
            raise DecodeError(f"expected an object, got {type(data).__name__}")
        api_version, kind = data.get("apiVersion"), data.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise DecodeError(f"object needs string apiVersion and kind (got {api_version!r}, {kind!r})")
        meta = data.get("metadata")
        rest = {k: v for k, v in data.items() if k not in ("apiVersion", "kind", "metadata")}
        return cls(api_version=api_version, kind=kind,
                   metadata=ObjectMeta.from_dict(meta) if meta is not None else ObjectMeta(),
                   body=json.loads(json.dumps(rest)))

    @classmethod
    def from_json(cls, data: bytes) -> DynamicObject:
        try:
            return cls.from_dict(json.loads(data))
        except ValueError as exc:
            if isinstance(exc, DecodeError):
                raise
            raise DecodeError(f"invalid JSON: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"apiVersion": self.api_version, "kind": self.kind, "metadata": self.metadata.to_dict()}
        out.update(json.loads(json.dumps(self.body)))
        return out

    def __getitem__(self, key: str) -> Any:
        return self.body[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)


@dataclass(eq=True, kw_only=True)
class DynamicList(ListResource[DynamicObject]):
    """A list of dynamic objects (one page)."""

    item_kind: ClassVar[str] = ""
    api_version: str
    kind: str
    metadata: ListMeta = field(default_factory=ListMeta)
    items: list[DynamicObject] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Any) -> DynamicList:
        if not isinstance(data, dict):
            raise DecodeError(f"expected a list object, got {type(data).__name__}")
        items = data.get("items") or []
        if not isinstance(items, list):
            raise DecodeError("list 'items' is not an array")
        item_kind = str(data.get("kind", "")).removesuffix("List")
        api_version = str(data.get("apiVersion", ""))
        objs = [DynamicObject.from_dict({"apiVersion": api_version, "kind": item_kind, **item})
                if isinstance(item, dict) else DynamicObject.from_dict(item) for item in items]
        meta = data.get("metadata")
        return cls(api_version=api_version, kind=str(data.get("kind", "")),
                   metadata=ListMeta.from_dict(meta) if meta else ListMeta(), items=objs)

    @classmethod
    def from_json(cls, data: bytes) -> DynamicList:
        try:
            return cls.from_dict(json.loads(data))
        except ValueError as exc:
            if isinstance(exc, DecodeError):
                raise
            raise DecodeError(f"invalid JSON: {exc}") from None

    def __iter__(self) -> Iterator[DynamicObject]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
