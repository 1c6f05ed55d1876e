"""Protobuf encoding of stored objects, cached per (apiVersion, kind, uid, resourceVersion).

A stored object never changes under the same resourceVersion, so its protobuf bytes are computed
once; a list is the list metadata plus the cached bytes of each item, concatenated (the same bytes
kube-apiserver's streaming list encoder writes).  Envelopes and watch frames are assembled by hand
from those bytes: their layouts are fixed (see the wire notes) and upb would only copy them again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from k8spb._codec import PROTOBUF, encode
from k8spb._codec._content import MAGIC
from k8spb._registry import class_for
from k8spb._schema import Model

__all__ = ["ProtobufCache", "watch_frame"]

_Key = tuple[str, str, str, str]


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


def _field(tag: bytes, data: bytes) -> bytes:
    """A length-delimited field: tag byte, length, data."""
    return tag + _varint(len(data)) + data


_TYPE_META: dict[tuple[str, str], bytes] = {}


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    """``k8s\\0`` + runtime.Unknown{typeMeta, raw, contentEncoding: "", contentType: ""}, as Go writes it."""
    meta = _TYPE_META.get((api_version, kind))
    if meta is None:
        meta = _TYPE_META[(api_version, kind)] = _field(
            b"\x0a", _field(b"\x0a", api_version.encode()) + _field(b"\x12", kind.encode()))
    return b"".join((MAGIC, meta, b"\x12", _varint(len(raw)), raw, b"\x1a\x00\x22\x00"))


def watch_frame(event_type: str, enveloped: bytes) -> bytes:
    """One length-prefixed frame: meta/v1 WatchEvent{type, object: RawExtension{raw}}."""
    body = _field(b"\x0a", event_type.encode()) + _field(b"\x12", _field(b"\x0a", enveloped))
    return len(body).to_bytes(4, "big") + body


class ProtobufCache:
    """Encodes Kubernetes-JSON dicts as protobuf, reusing the bytes of unchanged objects."""

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._items: OrderedDict[_Key, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, obj: dict[str, Any], *, stored: bool = False) -> bytes:
        """The enveloped protobuf bytes of a top-level object or list.

        List items are always stored objects; a single object is cached only when the caller says it
        is one (``stored``), since a dry-run result shares uid and resourceVersion with the stored one.
        """
        api_version, kind = obj["apiVersion"], obj["kind"]
        cls = class_for(api_version, kind)
        schema = cls._schema
        items_field = schema.by_attr.get("items")
        meta_field = schema.by_attr.get("metadata")
        if (items_field is not None and items_field.cls is not None and meta_field is not None
                and items_field.number == 2 and meta_field.number == 1 and isinstance(obj.get("items"), list)):
            return self._list(obj, items_field.cls, meta_field.cls)
        if stored:
            return _envelope(api_version, kind, self._bare(cls, obj, api_version))
        return encode(cls._from_json_dict(obj, kind), PROTOBUF)

    @staticmethod
    def _key(cls: type[Model], obj: dict[str, Any], api_version: str) -> _Key | None:
        meta = obj.get("metadata") or {}
        uid, rv = meta.get("uid"), meta.get("resourceVersion")
        return (api_version, cls.__name__, str(uid), str(rv)) if uid and rv else None

    @staticmethod
    def _encode_bare(cls: type[Model], obj: dict[str, Any]) -> bytes:
        data: bytes = cls._from_json_dict(obj, cls.__name__)._synced_pb().SerializeToString(deterministic=True)
        return data

    def _store(self, key: _Key, data: bytes) -> None:
        """Remember ``data``; the caller holds the lock."""
        self._items[key] = data
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def _bare(self, cls: type[Model], obj: dict[str, Any], api_version: str) -> bytes:
        key = self._key(cls, obj, api_version)
        if key is not None:
            with self._lock:
                hit = self._items.get(key)
                if hit is not None:
                    self._items.move_to_end(key)
                    return hit
        data = self._encode_bare(cls, obj)
        if key is not None:
            with self._lock:
                self._store(key, data)
        return data

    def _list(self, obj: dict[str, Any], item_cls: type[Model], meta_cls: type[Model] | None) -> bytes:
        api_version = obj["apiVersion"]
        items: list[dict[str, Any]] = obj["items"]
        keys = [self._key(item_cls, item, api_version) for item in items]
        with self._lock:  # one pass under the lock for the hits; misses are encoded outside it
            found: list[bytes | None] = []
            for key in keys:
                hit = self._items.get(key) if key is not None else None
                if hit is not None:
                    self._items.move_to_end(key)  # type: ignore[arg-type]
                found.append(hit)
        parts: list[bytes] = []
        if meta_cls is not None:
            meta = meta_cls._from_json_dict(obj.get("metadata") or {}, "metadata")
            parts.append(_field(b"\x0a", meta._synced_pb().SerializeToString(deterministic=True)))
        missed: list[tuple[_Key, bytes]] = []
        for item, key, raw in zip(items, keys, found, strict=True):
            if raw is None:
                raw = self._encode_bare(item_cls, item)
                if key is not None:
                    missed.append((key, raw))
            parts += (b"\x12", _varint(len(raw)), raw)
        if missed:
            with self._lock:
                for key, raw in missed:
                    self._store(key, raw)
        return _envelope(api_version, obj["kind"], b"".join(parts))
