"""Store (read-only views) and Writer (fed by a watcher): the cache of one kind of object.

Objects decoded from protobuf are kept as their protobuf bytes (after the transform, which by default
drops ``managedFields``) and decoded again on every read, in C: a cached pod costs its ~3 kB of bytes
rather than a tree of Python objects, keeping one never keeps a whole list's memory alive, and what a
reader gets is its own copy to change as it likes. JSON-decoded objects (custom resources,
DynamicObject) are kept as their still-encoded values, copied out of the response body they came in
(so a list's body is not kept either), and read as shallow copies; objects built by hand are kept as
they are.

One Writer (one watcher) writes; any number of threads or tasks read.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, NamedTuple, TypeVar

import msgspec
from google.protobuf.message import DecodeError as _PbDecodeError

from k8spb._errors import DecodeError
from k8spb._schema import Model, Raw
from k8spb.runtime._watcher import Apply, Delete, Encoded, Event, Init, InitApply, InitDone, peek_metadata

__all__ = ["IndexFunc", "ObjectRef", "Store", "Writer", "label_index", "strip_managed_fields"]

K = TypeVar("K")
IndexFunc = Callable[[Any], Iterable[str]]
"""An index: the values an object is found under (``store.indexed("app", "web")``)."""


class ObjectRef(NamedTuple):
    """Which object: ``ObjectRef("web", "default")``; namespace None for cluster-scoped kinds."""

    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def strip_managed_fields(obj: K) -> K:
    """The default transform: drop ``metadata.managedFields`` (often half an object's bytes)."""
    raw = getattr(obj, "_json", None)
    if raw is not None and "metadata" not in obj.__dict__ and type(raw.get("metadata")) is Raw:
        # still encoded JSON: edit the encoded metadata (one level parsed), nothing else is parsed
        meta_doc = _RAW_FIELDS.decode(raw["metadata"])
        if meta_doc.pop("managedFields", None) is not None:
            obj._json = {**raw, "metadata": Raw(msgspec.json.encode(meta_doc))}  # type: ignore[attr-defined]
        return obj
    meta: Any = getattr(obj, "metadata", None)
    if meta is None:
        return obj
    pb = getattr(meta, "_pb", None)
    if pb is not None:  # straight on the message: nothing is converted to Python
        pb.ClearField("managedFields")
        meta.__dict__.pop("managed_fields", None)
    elif getattr(meta, "managed_fields", None) is not None:
        meta.managed_fields = None
    return obj


_RAW_FIELDS = msgspec.json.Decoder(dict[str, Raw])
_READ_ONLY = (None, strip_managed_fields)
"""Transforms that change objects only in their sources (a protobuf message, encoded JSON), never through
values read into models: such an object's source alone is the truth."""


def label_index(key: str) -> IndexFunc:
    """An index of objects by the value of one label."""

    def index(obj: Any) -> Iterable[str]:
        labels = obj.metadata.labels if obj.metadata is not None else None
        value = labels.get(key) if labels else None
        return (value,) if value is not None else ()

    return index


_PLAIN = (str, int, float, bool, type(None))


def _plain(obj: Model) -> bool:
    """No field of ``obj`` was read into a model or a container (values read are plain, or none)."""
    by_attr = obj._schema.by_attr
    return not any(k in by_attr and not isinstance(v, _PLAIN) for k, v in obj.__dict__.items())


def _detached(obj: Model) -> Model:
    """A JSON-decoded object that no longer holds its response body (a list's whole body, say).

    Its values are still-encoded slices of the body: each is copied. An object some of whose fields
    were already read into models is kept as it is (copying those would mean converting them).
    """
    raw = obj._json
    if raw is None or not _plain(obj):
        return obj
    copy = object.__new__(type(obj))
    copy.__dict__.update(obj.__dict__)
    copy._json = {k: v.copy() if v.__class__ is Raw else v for k, v in raw.items()}
    return copy


class _Packed:
    """How entries are kept: protobuf bytes of one model class, or objects as they are."""

    __slots__ = ("cls", "parse")

    def __init__(self) -> None:
        self.cls: Any = None
        self.parse: Any = None

    def pack(self, obj: Any, untouched: bool) -> Any:
        """``untouched``: only read since it was decoded (its message alone is the truth)."""
        pb = obj._pb if isinstance(obj, Model) else None
        if pb is not None and (self.cls is None or type(obj) is self.cls):
            if self.cls is None:
                self.cls, self.parse = type(obj), type(obj)._pb_class().FromString
            return (pb if untouched else obj._synced_pb()).SerializePartialToString()
        if isinstance(obj, Model) and obj._json is not None:
            return _detached(obj)
        return obj

    def unpack(self, entry: Any) -> Any:
        """What a reader gets: its own object (for JSON ones, a shallow copy: values are still encoded)."""
        if entry.__class__ is not bytes:
            if isinstance(entry, Model) and entry._json is not None and _plain(entry):
                copy = object.__new__(type(entry))
                copy.__dict__.update(entry.__dict__)
                return copy
            return entry
        obj = object.__new__(self.cls)  # Model._wrap, inline
        try:
            obj._pb = self.parse(entry)
        except (_PbDecodeError, RuntimeError, ValueError) as exc:  # corrupt bytes from the server
            kind = getattr(self.cls, "kind", self.cls.__name__)
            raise DecodeError(f"cached object does not decode: {exc}", kind=kind) from None
        return obj


class Store(Generic[K]):
    """A read-only view of the objects a :class:`Writer` holds."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str | None], Any] = {}
        self._packed = _Packed()
        self._lock = threading.Lock()
        self._namespaces: dict[str | None, set[tuple[str, str | None]]] | None = None  # built on first use
        self._indexes: dict[str, dict[str, set[tuple[str, str | None]]]] = {}
        self._ready = threading.Event()
        self._waiters: builtins.list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    # reads -------------------------------------------------------------------------------------------

    def get(self, name: str | ObjectRef, namespace: str | None = None) -> K | None:
        """The object, or None; ``get("web", "default")`` or ``get(ObjectRef(...))``."""
        entry = self._data.get(name if isinstance(name, ObjectRef) else (name, namespace or None))
        return None if entry is None else self._packed.unpack(entry)

    def __contains__(self, ref: object) -> bool:
        return ref in self._data

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> builtins.list[ObjectRef]:
        """The ObjectRef of every object."""
        return [ObjectRef(*k) for k in list(self._data)]

    def list(self) -> builtins.list[K]:
        """Every object (each read decodes it: prefer ``get`` or an index for a few)."""
        unpack = self._packed.unpack
        return [unpack(e) for e in list(self._data.values())]

    def in_namespace(self, namespace: str | None) -> builtins.list[K]:
        """The objects of one namespace (None: the cluster-scoped ones)."""
        with self._lock:
            if self._namespaces is None:
                self._namespaces = {}
                for key in list(self._data):
                    self._namespaces.setdefault(key[1], set()).add(key)
            keys = list(self._namespaces.get(namespace or None, ()))
        return self._many(keys)

    def indexed(self, index: str, value: str) -> builtins.list[K]:
        """The objects an index (given to the Writer) files under ``value``."""
        with self._lock:
            try:
                keys = list(self._indexes[index].get(value, ()))
            except KeyError:
                raise KeyError(f"no index named {index!r} (indexes: {sorted(self._indexes)})") from None
        return self._many(keys)

    def _many(self, keys: builtins.list[tuple[str, str | None]]) -> builtins.list[K]:
        unpack, data = self._packed.unpack, self._data
        return [unpack(e) for e in (data.get(k) for k in sorted(keys)) if e is not None]

    # readiness --------------------------------------------------------------------------------------

    @property
    def is_ready(self) -> bool:
        """True once the first initial state (list) is complete."""
        return self._ready.is_set()

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until the store is ready; False if ``timeout`` passed first."""
        return self._ready.wait(timeout)

    async def until_ready(self) -> None:
        """Wait (asyncio) until the store is ready."""
        if self._ready.is_set():
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._ready.is_set():
                return
            self._waiters.append((loop, fut))
        await fut

    def _set_ready(self) -> None:
        with self._lock:
            self._ready.set()
            waiters, self._waiters = self._waiters, []
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_resolve, fut)

    def __repr__(self) -> str:
        return f"Store({len(self._data)} objects{', ready' if self.is_ready else ''})"


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Writer(Generic[K]):
    """Applies watcher events to a :class:`Store` (``writer.store``).

    ``transform`` runs on every object before it is kept (default: :func:`strip_managed_fields`; pass
    ``None`` to keep objects whole); ``indexes`` name functions giving the values to find objects by.
    """

    def __init__(self, *, transform: Callable[[K], K] | None = strip_managed_fields,
                 indexes: dict[str, IndexFunc] | None = None) -> None:
        self.store: Store[K] = Store()
        self._transform = transform
        self._index_funcs = dict(indexes or {})
        self._keeps_encoded = not self._index_funcs and transform in _READ_ONLY  # an encoded object stays so
        self.store._indexes = {name: {} for name in self._index_funcs}
        self._buffer: dict[tuple[str, str | None], Any] | None = None  # the initial state being listed
        self._buffer_values: dict[tuple[str, str | None], dict[str, tuple[str, ...]]] = {}
        self._interned: dict[str, str] = {}
        self._values: dict[tuple[str, str | None], dict[str, tuple[str, ...]]] = {}

    def apply(self, event: Event[K]) -> None:
        """Apply one watcher event."""
        if isinstance(event, (Apply, InitApply)):
            initial = type(event) is InitApply
            encoded = event._encoded
            if encoded is None or not self._put_encoded(encoded, initial):
                self._put(event.object, initial=initial)
        elif isinstance(event, Delete):
            encoded = event._encoded
            gone: Any = encoded.meta if encoded is not None else peek_metadata(event.object)
            self._remove(self._key(gone))
        elif isinstance(event, Init):
            self._buffer, self._buffer_values = {}, {}
        elif isinstance(event, InitDone):
            self._replace(self._buffer or {}, self._buffer_values)
            self._buffer, self._buffer_values = None, {}
            self.store._set_ready()

    def _key(self, meta: Any) -> tuple[str, str | None]:
        """The key of an object's metadata (a model or a protobuf ObjectMeta: the same names)."""
        ns = meta.namespace or None
        if ns is not None:  # one string per namespace, not one per object
            ns = self._interned.setdefault(ns, ns)
        return (meta.name or "", ns)

    def _put_encoded(self, encoded: Encoded, initial: bool) -> bool:
        """Keep an object that came encoded without parsing it (False: it needs the general way)."""
        packed = self.store._packed
        cls = encoded.raw.cls
        if not self._keeps_encoded or (packed.cls is not cls and packed.cls is not None):
            return False
        if packed.cls is None:
            packed.cls, packed.parse = cls, cls._pb_class().FromString
        key = self._key(encoded.meta)
        entry = encoded.raw.data if self._transform is None else encoded.without_managed_fields()
        self._store(key, entry, None, initial)
        return True

    def _put(self, obj: K, *, initial: bool) -> None:
        key = self._key(peek_metadata(obj))
        if self._transform is not None:
            obj = self._transform(obj)
        values = self._index_values(obj) if self._index_funcs else None
        self._store(key, self.store._packed.pack(obj, self._transform in _READ_ONLY), values, initial)

    def _store(self, key: tuple[str, str | None], entry: Any, values: dict[str, tuple[str, ...]] | None,
               initial: bool) -> None:
        if initial:
            if self._buffer is None:
                self._buffer = {}
            self._buffer[key] = entry
            if values is not None:
                self._buffer_values[key] = values
        else:
            self.store._data[key] = entry
            self._index(key, values)

    def _index_values(self, obj: Any) -> dict[str, tuple[str, ...]]:
        return {name: tuple(fn(obj)) for name, fn in self._index_funcs.items()}

    def _index(self, key: tuple[str, str | None], values: dict[str, tuple[str, ...]] | None) -> None:
        store = self.store
        if store._namespaces is None and values is None:
            return
        with store._lock:
            if store._namespaces is not None:
                store._namespaces.setdefault(key[1], set()).add(key)
            if values is None:
                return
            old = self._values.get(key, {})
            for name, vals in values.items():
                table = store._indexes[name]
                for v in old.get(name, ()):
                    if v not in vals:
                        _discard(table, v, key)
                for v in vals:
                    table.setdefault(v, set()).add(key)
            self._values[key] = values

    def _remove(self, key: tuple[str, str | None]) -> None:
        store = self.store
        store._data.pop(key, None)
        with store._lock:
            if store._namespaces is not None:
                _discard(store._namespaces, key[1], key)
            for name, vals in self._values.pop(key, {}).items():
                for v in vals:
                    _discard(store._indexes[name], v, key)

    def _replace(self, data: dict[tuple[str, str | None], Any],
                 values: dict[tuple[str, str | None], dict[str, tuple[str, ...]]]) -> None:
        store = self.store
        namespaces: dict[str | None, set[tuple[str, str | None]]] | None = None
        if store._namespaces is not None:
            namespaces = {}
            for key in data:
                namespaces.setdefault(key[1], set()).add(key)
        indexes: dict[str, dict[str, set[tuple[str, str | None]]]] = {name: {} for name in self._index_funcs}
        for key, vals in values.items():
            for name, vs in vals.items():
                for v in vs:
                    indexes[name].setdefault(v, set()).add(key)
        with store._lock:
            store._data = data
            store._namespaces = namespaces
            store._indexes = indexes
            self._values = values


def _discard(table: dict[Any, set[Any]], value: Any, key: Any) -> None:
    keys = table.get(value)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del table[value]
