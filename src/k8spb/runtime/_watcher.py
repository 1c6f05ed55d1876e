"""watcher(): list, then watch from the list's resourceVersion, recovering from every failure.

The state machine is written once, without IO (:class:`_Machine`): it says what to do next (list a
page, watch) and how long to wait after a failure, and turns what came back into :data:`Event`
values. :func:`watcher` drives it
with an :class:`~k8spb.Api` (an iterator) or an :class:`~k8spb.AsyncApi` (an async iterator).

Recovery, as client-go's reflector and kube-rs's watcher do it:

* a watch that ends (the server's timeout, a dropped connection, a stream cut mid-frame) is started
  again from the last resourceVersion seen: nothing is listed again and nothing is lost;
* 410 Gone (that resourceVersion is compacted away) lists again: ``Init``, ``InitApply`` ...,
  ``InitDone``, after which a store holds exactly what the server holds;
* any other failure (429, 5xx, a refused connection) waits, with exponential backoff and jitter, then
  retries the step that failed; a successful step resets the backoff.

Bookmarks are asked for and only move the resourceVersion on. With ``initial_list="streaming"`` the
initial state comes from one watch (``sendInitialEvents``, ended by the ``k8s.io/initial-events-end``
bookmark); a server that refuses it is listed instead, from then on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar, overload

from google.protobuf.message import DecodeError as _PbDecodeError

from k8spb._api import Api, AsyncApi
from k8spb._codec._envelope import read_varint, write_varint
from k8spb._codec._watch import RawObject
from k8spb._errors import ApiError, DecodeError, Gone, TransportError
from k8spb._request import ListParams, WatchParams
from k8spb._schema import Model

if TYPE_CHECKING:
    from k8spb.apimachinery.pkg.apis.meta.v1 import PartialObjectMetadata

__all__ = [
    "Apply",
    "Backoff",
    "Delete",
    "Event",
    "Init",
    "InitApply",
    "InitDone",
    "WatcherConfig",
    "metadata_watcher",
    "watcher",
]

K = TypeVar("K")
log = logging.getLogger("k8spb.runtime")

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


# ---------------------------------------------------------------------------------------------------------
# Events


@dataclass(slots=True)
class Init:
    """A (re)list starts: what follows, up to :class:`InitDone`, is the whole state."""


class Encoded:
    """An object as it came off the wire, its metadata alone parsed (the watcher reads no more of it).

    Go writes every kind's ``metadata`` (field 1) first: it is parsed from its own bytes, so the
    watcher and a store can read keys and resourceVersions, and drop ``managedFields``, without parsing
    the rest; the object itself is parsed only when someone reads it.
    """

    __slots__ = ("end", "meta", "raw")

    def __init__(self, raw: RawObject) -> None:
        data = raw.data
        if data[:1] != b"\x0a" or not _metadata_first(raw.cls):
            raise ValueError("not a message whose metadata comes first")
        n, p = data[1], 2  # metadata's length: mostly one or two bytes
        if n >= 0x80:
            n, p = read_varint(data, 1)
        try:
            self.meta: Any = _object_meta().FromString(memoryview(data)[p : p + n])
        except (_PbDecodeError, RuntimeError, ValueError) as exc:
            kind = getattr(raw.cls, "kind", raw.cls.__name__)
            raise DecodeError(f"truncated or corrupt protobuf metadata: {exc}", kind=kind) from None
        self.raw = raw
        self.end = p + n

    def without_managed_fields(self) -> bytes:
        """The object's bytes with ``metadata.managedFields`` dropped."""
        meta, data = self.meta, self.raw.data
        if not meta.managedFields:
            return data
        meta.ClearField("managedFields")
        md = meta.SerializePartialToString()
        return b"".join((b"\x0a", write_varint(len(md)), md, memoryview(data)[self.end:]))


def _metadata_first(cls: type[Any]) -> bool:
    """Whether ``cls``'s field 1 is its ObjectMeta (so Go writes the metadata first)."""
    known = _METADATA_FIRST.get(cls)
    if known is None:
        field = cls._schema.by_key.get("metadata")
        known = _METADATA_FIRST[cls] = (field is not None and field.number == 1
                                        and field.ref == "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    return known


_METADATA_FIRST: dict[type[Any], bool] = {}


@cache
def _object_meta() -> Any:
    from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta

    return ObjectMeta._pb_class()


_new = object.__new__


class _ObjectEvent(Generic[K]):
    """An event about one object: ``event.object`` (parsed on first read when it came encoded)."""

    __slots__ = ("_encoded", "_object")
    __match_args__ = ("object",)

    def __init__(self, object: K) -> None:
        self._object: K | None = object
        self._encoded: Encoded | None = None

    @classmethod
    def _of(cls, obj: Any) -> Any:
        event = _new(cls)
        if type(obj) is Encoded:
            event._object, event._encoded = None, obj
        else:
            event._object, event._encoded = obj, None
        return event

    @property
    def object(self) -> K:
        obj = self._object
        if obj is None:
            assert self._encoded is not None
            obj = self._object = self._encoded.raw.decode()  # type: ignore[assignment]
        return obj  # type: ignore[return-value]

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and bool(other.object == self.object)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = self._object if self._object is not None else self._encoded and self._encoded.raw
        return f"{type(self).__name__}({shown!r})"


class InitApply(_ObjectEvent[K]):
    """An object of the initial state."""

    __slots__ = ()


@dataclass(slots=True)
class InitDone:
    """The initial state is complete; ``resource_version`` is where watching starts."""

    resource_version: str | None = None


class Apply(_ObjectEvent[K]):
    """An object was added or modified."""

    __slots__ = ()


class Delete(_ObjectEvent[K]):
    """An object was deleted (its last state)."""

    __slots__ = ()


Event: TypeAlias = Init | InitApply[K] | InitDone | Apply[K] | Delete[K]
"""What a watcher yields: ``match event: case Apply(obj): ...``."""


# ---------------------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: ``initial`` doubling up to ``maximum`` seconds."""

    initial: float = 0.8
    maximum: float = 30.0
    factor: float = 2.0
    jitter: bool = True

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` consecutive failures (1 or more)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, failures - 1))
        return base * (0.5 + random.random()) if self.jitter else base


@dataclass(frozen=True, slots=True)
class WatcherConfig:
    """What to watch and how.

    ``list_semantic``: "most_recent" lists consistently (resourceVersion unset, paged);
    "any" lets the server answer from its cache (resourceVersion "0"), faster and possibly stale.
    """

    label_selector: str | None = None
    field_selector: str | None = None
    page_size: int | None = 500
    timeout_seconds: int = 290
    """The server ends each watch after this long; the watcher starts the next one."""
    bookmarks: bool = True
    list_semantic: Literal["most_recent", "any"] = "most_recent"
    initial_list: Literal["list", "streaming"] = "list"
    backoff: Backoff = Backoff()

    def list_params(self) -> ListParams:
        any_rv = self.list_semantic == "any"
        return ListParams(label_selector=self.label_selector, field_selector=self.field_selector,
                          limit=None if any_rv else self.page_size, resource_version="0" if any_rv else None)

    def watch_params(self, resource_version: str | None, *, initial: bool = False) -> WatchParams:
        return WatchParams(label_selector=self.label_selector, field_selector=self.field_selector,
                           resource_version=resource_version, timeout_seconds=self.timeout_seconds,
                           allow_bookmarks=self.bookmarks or initial, send_initial_events=initial)


# ---------------------------------------------------------------------------------------------------------
# The state machine (no IO)


@dataclass(frozen=True, slots=True)
class _List:
    params: ListParams


@dataclass(frozen=True, slots=True)
class _Watch:
    params: WatchParams


_Step = _List | _Watch


def peek_metadata(obj: Any) -> Any:
    """An object's metadata, read without keeping it on a JSON-decoded object (so that a store can keep
    the object's encoded form rather than a tree of models)."""
    if isinstance(obj, Model) and obj._json is not None and "metadata" not in obj.__dict__:
        field = obj._schema.by_attr.get("metadata")
        if field is not None:
            return field.peek_source(obj)
    return getattr(obj, "metadata", None)


def _resource_version(obj: Any) -> str | None:
    if type(obj) is Encoded:
        encoded: str = obj.meta.resourceVersion
        return encoded or None
    meta = peek_metadata(obj)
    rv = getattr(meta, "resource_version", None) if meta is not None else None
    return rv or None


def _ends_initial_events(obj: Any) -> bool:
    if type(obj) is Encoded:
        return bool(obj.meta.annotations.get(INITIAL_EVENTS_END) == "true")
    meta = peek_metadata(obj)
    annotations: dict[str, str] | None = getattr(meta, "annotations", None) if meta is not None else None
    return annotations is not None and annotations.get(INITIAL_EVENTS_END) == "true"


def _encoded(obj: Any) -> Any:
    """A RawObject as :class:`Encoded` (or decoded, when its layout is not Go's); anything else as it is."""
    if type(obj) is not RawObject:
        return obj
    try:
        return Encoded(obj)
    except ValueError:
        return obj.decode()


class _Machine:
    """The watcher's states: listing (page by page), streaming the initial state, watching."""

    def __init__(self, config: WatcherConfig) -> None:
        self.config = config
        self.streaming = config.initial_list == "streaming"
        self.listing = True  # the next step builds the initial state
        self.continue_token: str | None = None
        self.rv: str | None = None  # where the next watch starts
        self.initial = False  # inside a streamed initial state (between Init and the end bookmark)
        self.failures = 0

    def step(self) -> _Step:
        if self.listing and not self.streaming:  # list, page by page
            params = self.config.list_params()
            if self.continue_token:
                params = replace(params, continue_token=self.continue_token, resource_version=None)
            return _List(params)
        if self.listing:  # stream the initial state (sendInitialEvents)
            return _Watch(self.config.watch_params(None, initial=True))
        return _Watch(self.config.watch_params(self.rv))

    def page(self, page: Any) -> list[Event[Any]]:
        """A list page arrived: its objects, framed by Init / InitDone."""
        events: list[Event[Any]] = [Init()] if self.continue_token is None else []
        events += [InitApply._of(obj) for obj in page]
        self.continue_token = page.continue_token
        if self.continue_token is None:
            self.rv = page.resource_version
            self.listing = False
            events.append(InitDone(self.rv))
        self.failures = 0
        return events

    def event(self, type_: str, obj: Any) -> list[Event[Any]]:
        """A watch event arrived (its object decoded, or a RawObject)."""
        self.failures = 0
        obj = _encoded(obj)
        rv = _resource_version(obj)
        if rv is not None:
            self.rv = rv
        if self.listing:  # the first event of a streamed initial state
            self.listing, self.initial = False, True
            return [Init(), *self.event(type_, obj)]
        if type_ == "BOOKMARK":
            if self.initial and _ends_initial_events(obj):
                self.initial = False
                return [InitDone(self.rv)]
            return []
        if self.initial:
            return [InitApply._of(obj)] if type_ != "DELETED" else []
        if type_ == "DELETED":
            return [Delete._of(obj)]
        return [Apply._of(obj)]

    def watch_ended(self) -> None:
        """The server ended the watch (its timeout): watch again from the last resourceVersion."""
        if self.initial:  # ended before the initial state was complete: start it over
            self._restart()

    def failed(self, exc: Exception) -> float:
        """A step failed: how long to wait before the next one."""
        if isinstance(exc, Gone):
            log.info("watcher: %s; listing again", exc)
            self._restart()
            self.failures = 0
            return 0.0
        if self.listing and self.streaming and isinstance(exc, ApiError) and exc.code in (400, 403, 422):
            log.info("watcher: the server refuses streaming lists (%s); listing instead", exc)
            self.streaming = False
            self._restart()
            return 0.0
        if self.initial:
            self._restart()
        self.failures += 1
        delay = self.config.backoff.delay(self.failures)
        log.warning("watcher: %s; retrying in %.2f s", exc, delay)
        return delay

    def _restart(self) -> None:
        self.listing = True
        self.initial = False
        self.continue_token = None


_RECOVERABLE = (ApiError, TransportError, DecodeError)


# ---------------------------------------------------------------------------------------------------------
# Drivers


@overload
def watcher(api: Api[K], config: WatcherConfig | None = None, *,
            stop: threading.Event | None = None) -> Iterator[Event[K]]: ...
@overload
def watcher(api: AsyncApi[K], config: WatcherConfig | None = None, *,
            stop: threading.Event | None = None) -> AsyncIterator[Event[K]]: ...


def watcher(api: Api[K] | AsyncApi[K], config: WatcherConfig | None = None, *,
            stop: threading.Event | None = None) -> Iterator[Event[K]] | AsyncIterator[Event[K]]:
    """Every change of the objects ``api`` sees, forever (see the module docstring).

    With an :class:`~k8spb.Api` it is an iterator; with an :class:`~k8spb.AsyncApi` an async one
    (cancel its task to stop it). A sync watcher ends once ``stop`` is set: at the next event, failure
    or step (a watch waiting for events ends at the server's next bookmark or timeout).
    """
    machine = _Machine(config or WatcherConfig())
    if isinstance(api, AsyncApi):
        return _arun(machine, api.list, api._watch_raw)
    return _run(machine, api.list, api._watch_raw, stop)


@overload
def metadata_watcher(api: Api[Any], config: WatcherConfig | None = None, *,
                     stop: threading.Event | None = None) -> Iterator[Event[PartialObjectMetadata]]: ...
@overload
def metadata_watcher(api: AsyncApi[Any], config: WatcherConfig | None = None, *,
                     stop: threading.Event | None = None) -> AsyncIterator[Event[PartialObjectMetadata]]: ...


def metadata_watcher(api: Api[Any] | AsyncApi[Any], config: WatcherConfig | None = None, *,
                     stop: threading.Event | None = None) -> Iterator[Event[PartialObjectMetadata]] | AsyncIterator[
                         Event[PartialObjectMetadata]]:
    """Like :func:`watcher`, with only each object's metadata (PartialObjectMetadata, in protobuf
    also for custom resources): a fraction of the bytes and memory for controllers that need no more."""
    machine = _Machine(config or WatcherConfig())
    if isinstance(api, AsyncApi):
        return _arun(machine, api.list_metadata, api.watch_metadata)
    return _run(machine, api.list_metadata, api.watch_metadata, stop)


def _run(machine: _Machine, list_: Any, watch: Any, stop: threading.Event | None) -> Iterator[Event[Any]]:
    stopped = stop.is_set if stop is not None else lambda: False
    while not stopped():
        step = machine.step()
        try:
            if isinstance(step, _List):
                yield from machine.page(list_(step.params))
                continue
            for ev in watch(step.params):
                yield from machine.event(ev.type, ev.object)
                if stopped():
                    return
            machine.watch_ended()
        except _RECOVERABLE as exc:
            pause = machine.failed(exc)
            if pause:
                if stop is not None:
                    stop.wait(pause)
                else:
                    time.sleep(pause)


async def _arun(machine: _Machine, list_: Any, watch: Any) -> AsyncIterator[Event[Any]]:
    while True:
        step = machine.step()
        try:
            if isinstance(step, _List):
                for event in machine.page(await list_(step.params)):
                    yield event
                continue
            async for ev in watch(step.params):
                for event in machine.event(ev.type, ev.object):
                    yield event
            machine.watch_ended()
        except _RECOVERABLE as exc:
            pause = machine.failed(exc)
            if pause:
                await asyncio.sleep(pause)
