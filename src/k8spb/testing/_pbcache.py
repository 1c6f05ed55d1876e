"""Protobuf encoding of stored objects, cached per (apiVersion, kind, uid, resourceVersion).

A stored object never changes under the same resourceVersion, so its protobuf bytes are computed
once; a list is the list metadata plus the cached bytes of each item, concatenated (the same bytes
kube-apiserver's streaming list encoder writes).  Envelopes and watch frames are assembled by hand
from those bytes: their layouts are fixed (see the wire notes) and upb would only copy them again.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from k8spb._codec import PROTOBUF, encode
from k8spb._codec._envelope import ENVELOPE_TAIL, envelope_head, write_varint
from k8spb._codec._watch import EVENT_TYPES
from k8spb._registry import class_for
from k8spb._schema import Model
from k8spb.testing._lru import BytesLRU, identity

__all__ = ["ProtobufCache", "watch_frame"]



def _field(tag: bytes, data: bytes) -> bytes:
    """A length-delimited field: tag byte, length, data."""
    return tag + write_varint(len(data)) + data


def _envelope_parts(api_version: str, kind: str, raw: bytes) -> tuple[bytes, ...]:
    """``k8s\\0`` + runtime.Unknown{typeMeta, raw, contentEncoding: "", contentType: ""}, as Go writes it."""
    return envelope_head(api_version, kind), write_varint(len(raw)), raw, ENVELOPE_TAIL


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"".join(_envelope_parts(api_version, kind, raw))


_TYPE_FIELD = {t: _field(b"\x0a", t.encode()) for t in EVENT_TYPES}


def _type_field(event_type: str) -> bytes:
    return _TYPE_FIELD.get(event_type) or _field(b"\x0a", event_type.encode())


def watch_frame(event_type: str, enveloped: bytes) -> bytes:
    """One length-prefixed frame: meta/v1 WatchEvent{type, object: RawExtension{raw}}."""
    return _frame_head(_type_field(event_type), len(enveloped)) + enveloped


def _frame_head(type_field: bytes, size: int) -> bytes:
    """A frame up to its RawExtension.raw, which is ``size`` bytes long and follows."""
    head = _FRAME_HEADS.get((type_field, size))
    if head is None:
        raw_len = write_varint(size)
        ext_len = write_varint(1 + len(raw_len) + size)
        body_len = len(type_field) + 1 + len(ext_len) + 1 + len(raw_len) + size
        head = b"".join((body_len.to_bytes(4, "big"), type_field, b"\x12", ext_len, b"\x0a", raw_len))
        if len(_FRAME_HEADS) >= 4096:
            _FRAME_HEADS.clear()
        _FRAME_HEADS[(type_field, size)] = head
    return head


_FRAME_HEADS: dict[tuple[bytes, int], bytes] = {}  # objects of one kind often share a size


def _key(api_version: str, cls: type[Model], obj: dict[str, Any]) -> Hashable | None:
    """The cache key of a stored object's bare bytes; None for an object that is not stored."""
    ident = identity(obj)
    return (api_version, cls.__name__, *ident) if ident else None


class ProtobufCache:
    """Encodes Kubernetes-JSON dicts as protobuf, reusing the bytes of unchanged objects."""

    def __init__(self, size: int = 50_000) -> None:
        self._lru = BytesLRU(size)

    def clear(self) -> None:
        """Forget every cached encoding."""
        self._lru.clear()

    def encode(self, obj: dict[str, Any]) -> bytes:
        """The enveloped protobuf bytes of a top-level object or list.

        List items are always stored objects, so their bytes are cached; a single object is encoded
        afresh (it may be a dry-run result, which shares uid and resourceVersion with the stored one).
        """
        api_version, kind = obj["apiVersion"], obj["kind"]
        cls = class_for(api_version, kind)
        schema = cls._schema
        items_field = schema.by_attr.get("items")
        meta_field = schema.by_attr.get("metadata")
        if (items_field is not None and items_field.cls is not None and meta_field is not None
                and items_field.number == 2 and meta_field.number == 1 and isinstance(obj.get("items"), list)):
            return self._list(obj, items_field.cls, meta_field.cls)
        return encode(cls._from_json_dict(obj, kind), PROTOBUF)

    def watch_frame_parts(self, event_type: str, obj: dict[str, Any]) -> tuple[bytes, ...]:
        """The watch frame of a stored object, in parts to write in order (its bytes are cached).

        Only stored objects may be passed: their (uid, resourceVersion) names their content.
        """
        api_version, kind = obj["apiVersion"], obj["kind"]
        cls = class_for(api_version, kind)
        raw = self._lru.get(_key(api_version, cls, obj))
        if raw is None:
            raw = self._bare_many(cls, [obj], api_version)[0]
        meta, raw_len, raw, tail = _envelope_parts(api_version, kind, raw)
        size = len(meta) + len(raw_len) + len(raw) + len(tail)
        return _frame_head(_type_field(event_type), size) + meta + raw_len, raw, tail

    def _bare_many(self, cls: type[Model], objs: list[dict[str, Any]], api_version: str) -> list[bytes]:
        """The bare protobuf bytes of stored objects: cached ones looked up under one lock, the rest encoded."""
        keys = [_key(api_version, cls, o) for o in objs]
        found = self._lru.get_many(keys)
        missed: list[tuple[Hashable | None, bytes]] = []
        out: list[bytes] = []
        for obj, key, raw in zip(objs, keys, found, strict=True):
            if raw is None:
                raw = cls._from_json_dict(obj, cls.__name__)._synced_pb().SerializeToString(deterministic=True)
                missed.append((key, raw))
            out.append(raw)
        if missed:
            self._lru.put_many(missed)
        return out

    def _list(self, obj: dict[str, Any], item_cls: type[Model], meta_cls: type[Model] | None) -> bytes:
        api_version = obj["apiVersion"]
        parts: list[bytes] = []
        if meta_cls is not None:
            meta = meta_cls._from_json_dict(obj.get("metadata") or {}, "metadata")
            parts.append(_field(b"\x0a", meta._synced_pb().SerializeToString(deterministic=True)))
        for raw in self._bare_many(item_cls, obj["items"], api_version):
            parts += (b"\x12", write_varint(len(raw)), raw)
        return _envelope(api_version, obj["kind"], b"".join(parts))
