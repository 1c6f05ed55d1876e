"""A thread-safe LRU of encoded bytes, keyed by a stored object's identity.

A stored object never changes under one resourceVersion, so (uid, resourceVersion), plus whatever
else shapes the encoding, names its bytes for good.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

__all__ = ["BytesLRU", "identity"]


def identity(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(uid, resourceVersion) of an object, or None when it lacks either (not a stored object)."""
    meta = obj.get("metadata") or {}
    uid, rv = meta.get("uid"), meta.get("resourceVersion")
    return (str(uid), str(rv)) if uid and rv else None


class BytesLRU:
    """At most ``size`` entries and ``max_bytes`` bytes; reads refresh an entry, writes past either cap drop the
    oldest."""

    def __init__(self, size: int, max_bytes: int = 256 << 20) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[Hashable | None]) -> list[bytes | None]:
        """The cached bytes for each key (None for a miss or a None key), under one lock."""
        out: list[bytes | None] = []
        with self._lock:
            for key in keys:
                hit = self._items.get(key) if key is not None else None
                if hit is not None:
                    self._items.move_to_end(key)
                out.append(hit)
        return out

    def get(self, key: Hashable | None) -> bytes | None:
        if key is None:
            return None
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put_many(self, entries: Iterable[tuple[Hashable | None, bytes]]) -> None:
        with self._lock:
            for key, data in entries:
                if key is None:
                    continue
                old = self._items.get(key)
                self._bytes += len(data) - (len(old) if old is not None else 0)
                self._items[key] = data
                self._items.move_to_end(key)
                while len(self._items) > self._size or (self._bytes > self._max_bytes and len(self._items) > 1):
                    self._bytes -= len(self._items.popitem(last=False)[1])

    def put(self, key: Hashable | None, data: bytes) -> None:
        self.put_many(((key, data),))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """The bytes held."""
        return self._bytes
