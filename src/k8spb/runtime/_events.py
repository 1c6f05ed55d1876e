"""Recording events.k8s.io/v1 Events, with client-go's series rules (``tools/events``).

One core, :class:`_RecorderCore`, turns an :class:`EventData` about an object into the write to make
(create an Event, or patch the series of an earlier one); :class:`Recorder` (on ``Client``) and
:class:`AsyncRecorder` (on ``AsyncClient``) only send it.

As client-go's recorder:

- Two events are the same (isomorphic) when their type, action, reason, reporting controller and
  instance, regarding and related references (every field, resourceVersion included) are equal.
- The first is created as ``<regarding name>.<nanosecond timestamp in hex>`` (a UUID when that is not a
  valid name) in the regarding object's namespace, or ``default`` for a cluster-scoped object.
- A repeat within 6 minutes of the last one turns the Event into a series: ``series.count`` 2, 3, ... and
  ``series.lastObservedTime`` are patched onto it; an Event that is gone is created again, whole.
  Six minutes after its last occurrence an event is forgotten, and a repeat starts a new Event.
- The note is cut to 1024 bytes (kube-apiserver's limit), ending in `` ...``.

Where it differs: every repeat is written at once (client-go writes count 2 at once, then later counts
every 30 minutes and when the series ends, from background goroutines), and a failed write is not
retried in the background: it is logged at WARNING (or raised, with ``raise_errors=True``), never
raised into the caller's reconcile loop by default.
"""

from __future__ import annotations

import copy
import logging
import re
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from k8spb import AlreadyExists, Api, AsyncApi, AsyncClient, Client, Merge, NotFound
from k8spb.api.core.v1 import ObjectReference
from k8spb.api.events.v1 import Event, EventSeries
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta

__all__ = ["AsyncRecorder", "EventData", "EventType", "Recorder", "Reporter", "object_reference"]

_log = logging.getLogger("k8spb.runtime.events")

ClientT = TypeVar("ClientT", Client, AsyncClient)
ApiT = TypeVar("ApiT", Api[Event], AsyncApi[Event])

EventType = Literal["Normal", "Warning"]

NOTE_LIMIT = 1024
"""Bytes of UTF-8 a note may hold (kube-apiserver's NoteLengthLimit)."""
FIELD_LIMIT = 128
"""Characters of reason, action and reportingInstance (kube-apiserver's limits)."""
SERIES_TTL = timedelta(minutes=6)
"""How long after its last occurrence an event can still be repeated into a series (client-go's finishTime)."""
MAX_CACHED = 4096
"""Events remembered for series at most; the least recently seen are forgotten first."""

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def _is_subdomain(name: str) -> bool:
    return len(name) <= 253 and _DNS_SUBDOMAIN.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class Reporter:
    """Who reports the events: the controller's name (``reportingController``) and the instance of it
    (``reportingInstance``; by default ``<controller>-<hostname>``, as client-go names it)."""

    controller: str
    instance: str | None = None

    def __post_init__(self) -> None:
        prefix, slash, name = self.controller.rpartition("/")
        if (not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name)
                or (slash and not _is_subdomain(prefix))):
            raise ValueError(f"reporting controller {self.controller!r} is not a qualified name "
                             "(such as 'my-controller' or 'example.com/my-controller')")
        if self.instance is not None and not 0 < len(self.instance) <= FIELD_LIMIT:
            raise ValueError(f"reporting instance must have 1 to {FIELD_LIMIT} characters, not {len(self.instance)}")

    @property
    def reporting_instance(self) -> str:
        return self.instance or f"{self.controller}-{socket.gethostname()}"[:FIELD_LIMIT]


@dataclass(frozen=True, slots=True)
class EventData:
    """What happened: ``type`` Normal or Warning, ``reason`` (why, in CamelCase), ``action`` (what was
    done or tried), an optional human-readable ``note``, and an optional ``secondary`` object (the Event's
    ``related``: an object or an ObjectReference)."""

    type: EventType
    reason: str
    action: str
    note: str | None = None
    secondary: Any = None

    def __post_init__(self) -> None:
        if self.type not in ("Normal", "Warning"):
            raise ValueError(f"event type must be 'Normal' or 'Warning', not {self.type!r}")
        for what, value in (("reason", self.reason), ("action", self.action)):
            if not isinstance(value, str) or not 0 < len(value) <= FIELD_LIMIT:
                raise ValueError(f"event {what} must be a string of 1 to {FIELD_LIMIT} characters, not {value!r}")


def object_reference(obj: Any) -> ObjectReference:
    """The ObjectReference of an object (a model or DynamicObject): apiVersion, kind, name, namespace, uid,
    resourceVersion. An ObjectReference is returned as it is."""
    if isinstance(obj, ObjectReference):
        return obj
    api_version, kind = getattr(obj, "api_version", None), getattr(obj, "kind", None)
    meta: Any = getattr(obj, "metadata", None)
    name = getattr(meta, "name", None)
    if not isinstance(api_version, str) or not isinstance(kind, str) or not name:
        raise TypeError(f"cannot refer to {type(obj).__name__}: it needs apiVersion, kind and metadata.name")
    if kind == "PartialObjectMetadata":
        raise TypeError("a PartialObjectMetadata does not say its kind: pass an ObjectReference")
    return ObjectReference(api_version=api_version, kind=kind, name=name, namespace=meta.namespace or None,
                           uid=meta.uid or None, resource_version=meta.resource_version or None)


def truncate_note(note: str) -> str:
    """The note cut to :data:`NOTE_LIMIT` bytes of UTF-8, ending in `` ...`` when cut (never inside a
    character)."""
    raw = note.encode()
    if len(raw) <= NOTE_LIMIT:
        return note
    return raw[:NOTE_LIMIT - 4].decode(errors="ignore") + " ..."


def _ref_key(ref: ObjectReference | None) -> tuple[str | None, ...] | None:
    if ref is None:
        return None
    return (ref.api_version, ref.kind, ref.namespace, ref.name, ref.uid, ref.resource_version, ref.field_path)


@dataclass(frozen=True, slots=True)
class _Write:
    """``Api(client, Event, namespace).<verb>(*args)``."""

    verb: Literal["create", "patch"]
    namespace: str
    args: tuple[Any, ...]


@dataclass(slots=True)
class _Seen:
    event: Event
    """As first written: name, namespace, eventTime and the rest."""
    namespace: str
    name: str
    count: int
    last: datetime


class _RecorderCore:
    """The series cache and the decision of what to write; no IO."""

    def __init__(self, reporter: Reporter, raise_errors: bool) -> None:
        self.reporter = reporter
        self.instance = reporter.reporting_instance
        self.raise_errors = raise_errors
        self.seen: OrderedDict[tuple[Any, ...], _Seen] = OrderedDict()  # least recently seen first
        self.lock = threading.Lock()
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.last_stamp = 0

    def flow(self, data: EventData, regarding: Any) -> Generator[_Write, Any, Event | None]:
        """Yields the writes to make (each gets the API's answer or exception); returns the Event written."""
        try:
            ref = object_reference(regarding)
            related = object_reference(data.secondary) if data.secondary is not None else None
        except TypeError as exc:
            self._failed(exc, data, None)
            return None
        now = self.now()
        key = (data.type, data.action, data.reason, self.reporter.controller, self.instance, _ref_key(ref),
               _ref_key(related))
        with self.lock:
            self._forget(now)
            seen = self.seen.get(key)
            if seen is None:
                seen = self._first(data, ref, related, now)
                self.seen[key] = seen
                series = None
            else:
                seen.count += 1
                seen.last = now
                self.seen.move_to_end(key)
                series = EventSeries(count=seen.count, last_observed_time=now)
        ns, name = seen.namespace, seen.name
        if series is None:
            got = yield _Write("create", ns, (seen.event,))
        else:
            patch = Merge({"series": series.to_dict()})
            got = yield _Write("patch", ns, (name, patch))
            if isinstance(got, NotFound):  # gone (or its creation failed): write it whole, series and all
                whole = copy.copy(seen.event)
                whole.series = series
                got = yield _Write("create", ns, (whole,))
                if isinstance(got, AlreadyExists):  # created meanwhile by a concurrent publish
                    got = yield _Write("patch", ns, (name, patch))
        if isinstance(got, BaseException):
            self._failed(got, data, ref)
            return None
        written: Event = got
        return written

    def _first(self, data: EventData, ref: ObjectReference, related: ObjectReference | None, now: datetime) -> _Seen:
        stamp = max(time.time_ns(), self.last_stamp + 1)  # unique even when the clock is coarse
        self.last_stamp = stamp
        name = f"{ref.name}.{stamp:x}"
        name = name if _is_subdomain(name) else str(uuid.uuid4())
        namespace = ref.namespace or "default"
        event = Event(metadata=ObjectMeta(name=name, namespace=namespace), event_time=now,
                      reporting_controller=self.reporter.controller, reporting_instance=self.instance,
                      action=data.action, reason=data.reason, regarding=ref, related=related,
                      note=truncate_note(data.note) if data.note is not None else None, type=data.type)
        return _Seen(event, namespace, name, 1, now)

    def _forget(self, now: datetime) -> None:
        cutoff = now - SERIES_TTL
        while self.seen:
            key = next(iter(self.seen))
            if self.seen[key].last >= cutoff and len(self.seen) < MAX_CACHED:  # room for one more
                break
            del self.seen[key]

    def _failed(self, exc: BaseException, data: EventData, ref: ObjectReference | None) -> None:
        if self.raise_errors:
            raise exc
        about = f"{ref.kind} {ref.namespace + '/' if ref.namespace else ''}{ref.name}" if ref is not None else "?"
        _log.warning("could not record %s event %s about %s: %s", data.type, data.reason, about, exc)
        return None


class _RecorderBase(Generic[ClientT, ApiT]):
    def __init__(self, client: ClientT, reporter: Reporter, *, raise_errors: bool = False) -> None:
        self.client: ClientT = client
        self._core = _RecorderCore(reporter, raise_errors)
        self._apis: dict[str, ApiT] = {}

    @property
    def reporter(self) -> Reporter:
        return self._core.reporter


class Recorder(_RecorderBase[Client, Api[Event]]):
    """Publishes Events for a controller (``Reporter``), on a ``Client``.

    ``recorder.publish(EventData(...), obj)`` returns the Event written, or None when it could not be
    (logged at WARNING; raised instead with ``raise_errors=True``).
    """

    def publish(self, event: EventData, regarding: Any) -> Event | None:
        """Record ``event`` about ``regarding`` (an object or an ObjectReference)."""
        flow = self._core.flow(event, regarding)
        got: Any = None
        try:
            while True:
                write = flow.send(got)
                api = self._apis.get(write.namespace) or self._apis.setdefault(
                    write.namespace, Api(self.client, Event, namespace=write.namespace))
                try:
                    got = getattr(api, write.verb)(*write.args)
                except Exception as exc:
                    got = exc
        except StopIteration as done:
            result: Event | None = done.value
            return result


class AsyncRecorder(_RecorderBase[AsyncClient, AsyncApi[Event]]):
    """Publishes Events for a controller (``Reporter``), on an ``AsyncClient``; see :class:`Recorder`."""

    async def publish(self, event: EventData, regarding: Any) -> Event | None:
        """Record ``event`` about ``regarding`` (an object or an ObjectReference)."""
        flow = self._core.flow(event, regarding)
        got: Any = None
        try:
            while True:
                write = flow.send(got)
                api = self._apis.get(write.namespace) or self._apis.setdefault(
                    write.namespace, AsyncApi(self.client, Event, namespace=write.namespace))
                try:
                    got = await getattr(api, write.verb)(*write.args)
                except Exception as exc:
                    got = exc
        except StopIteration as done:
            result: Event | None = done.value
            return result
