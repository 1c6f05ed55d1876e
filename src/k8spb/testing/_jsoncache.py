"""JSON encoding of stored objects, cached per (uid, resourceVersion), for lists and watch events.

kube-apiserver serializes an object once per encoding and reuses the bytes for every watcher; this
does the same so that JSON clients, like protobuf ones, are measured against a server that is not
the bottleneck.  Only stored objects may be passed: their content never changes under one
resourceVersion.
"""

from __future__ import annotations

import json
from typing import Any

from k8spb.testing._lru import BytesLRU, identity

__all__ = ["JsonCache"]

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class JsonCache:
    """Compact JSON of stored objects: ``{"apiVersion":..,"kind":.., rest}`` with ``rest`` cached."""

    def __init__(self, size: int = 50_000) -> None:
        self._lru = BytesLRU(size)
        self._heads: dict[tuple[str, str], bytes] = {}

    def clear(self) -> None:
        """Forget every cached encoding."""
        self._lru.clear()

    def _members(self, obj: dict[str, Any]) -> bytes:
        """The object's members other than apiVersion and kind, and its closing brace."""
        key = identity(obj)
        body = self._lru.get(key)
        if body is None:
            body = _dumps({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}).encode()[1:]
            self._lru.put(key, body)
        return body

    def _head(self, obj: dict[str, Any]) -> bytes:
        type_meta = (obj["apiVersion"], obj["kind"])
        head = self._heads.get(type_meta)
        if head is None:
            head = self._heads[type_meta] = b'{"apiVersion":%s,"kind":%s' % (
                _dumps(type_meta[0]).encode(), _dumps(type_meta[1]).encode())
        return head

    def object(self, obj: dict[str, Any]) -> bytes:
        """The whole object, apiVersion and kind first (as kube-apiserver writes them)."""
        rest = self._members(obj)
        return self._head(obj) + (rest if rest == b"}" else b"," + rest)

    def item(self, obj: dict[str, Any]) -> bytes:
        """The object as a list item: without apiVersion and kind."""
        return b"{" + self._members(obj)

    @staticmethod
    def list(kind: str, api_version: str, meta: dict[str, Any], items: list[bytes]) -> bytes:
        """A whole list document from its items' bytes (with the trailing newline)."""
        return b"".join((b'{"kind":', _dumps(kind).encode(), b',"apiVersion":', _dumps(api_version).encode(),
                         b',"metadata":', _dumps(meta).encode(), b',"items":[', b",".join(items), b"]}\n"))

    def watch_line(self, event_type: str, obj: dict[str, Any]) -> tuple[bytes, ...]:
        """One newline-terminated watch event, in parts that share the cached bytes (joined, the line)."""
        prefix = _PREFIXES.get(event_type) or b'{"type":%s,"object":' % _dumps(event_type).encode()
        rest = self._members(obj)
        return prefix, self._head(obj), b"" if rest == b"}" else b",", rest, b"}\n"


_PREFIXES = {t: b'{"type":"%s","object":' % t.encode() for t in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")}
