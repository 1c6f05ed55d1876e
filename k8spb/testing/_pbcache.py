"""Protobuf encoding of stored objects, cached per (apiVersion, kind, uid, resourceVersion).

A stored object never changes under the same resourceVersion, so its protobuf bytes are computed
once; a list is the list metadata plus the cached bytes of each item, concatenated (the same bytes
kube-apiserver's streaming list encoder writes).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from k8spb._codec import PROTOBUF, encode
from k8spb._codec._content import MAGIC
from k8spb._registry import class_for
from k8spb._schema import Model
from k8spb.apimachinery.pkg.runtime import Unknown

__all__ = ["ProtobufCache"]

_Unknown: Any = Unknown._pb_class()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class ProtobufCache:
    """Encodes Kubernetes-JSON dicts as protobuf, reusing the bytes of unchanged objects."""

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, obj: dict[str, Any], *, stored: bool = False) -> bytes:
        """The enveloped protobuf bytes of a top-level object or list.

        List items are always stored objects; a single object is cached only when the caller says it
        is one (``stored``), since a dry-run result shares uid and resourceVersion with the stored one.
        """
        cls = class_for(obj["apiVersion"], obj["kind"])
        schema = cls._schema
        items_field = schema.by_attr.get("items")
        meta_field = schema.by_attr.get("metadata")
        if (items_field is not None and items_field.cls is not None and meta_field is not None
                and items_field.number == 2 and meta_field.number == 1 and isinstance(obj.get("items"), list)):
            return self._list(obj, items_field.cls, meta_field.cls)
        if stored:
            return _envelope(obj["apiVersion"], obj["kind"], self._bare(cls, obj, obj["apiVersion"]))
        return encode(cls._from_json_dict(obj, obj["kind"]), PROTOBUF)

    def _bare(self, cls: type[Model], obj: dict[str, Any], api_version: str) -> bytes:
        meta = obj.get("metadata") or {}
        uid, rv = meta.get("uid"), meta.get("resourceVersion")
        key = (api_version, cls.__name__, str(uid), str(rv)) if uid and rv else None
        if key is not None:
            with self._lock:
                hit = self._items.get(key)
                if hit is not None:
                    self._items.move_to_end(key)
                    return hit
        data: bytes = cls._from_json_dict(obj, cls.__name__)._synced_pb().SerializeToString(deterministic=True)
        if key is not None:
            with self._lock:
                self._items[key] = data
                if len(self._items) > self._size:
                    self._items.popitem(last=False)
        return data

    def _list(self, obj: dict[str, Any], item_cls: type[Model], meta_cls: type[Model] | None) -> bytes:
        api_version = obj["apiVersion"]
        parts: list[bytes] = []
        if meta_cls is not None:
            meta = meta_cls._from_json_dict(obj.get("metadata") or {}, "metadata")
            raw = meta._synced_pb().SerializeToString(deterministic=True)
            parts += [b"\x0a", _varint(len(raw)), raw]
        for item in obj["items"]:
            raw = self._bare(item_cls, item, api_version)
            parts += [b"\x12", _varint(len(raw)), raw]
        return _envelope(api_version, obj["kind"], b"".join(parts))


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    env = _Unknown(raw=raw, contentEncoding="", contentType="")
    env.typeMeta.apiVersion = api_version
    env.typeMeta.kind = kind
    body: bytes = env.SerializeToString(deterministic=True)
    return MAGIC + body
