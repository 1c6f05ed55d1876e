"""Watch stream framing: newline-delimited JSON events and length-prefixed protobuf WatchEvents."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
from google.protobuf.message import DecodeError as _PbDecodeError

from k8spb._codec._content import media_type
from k8spb._codec._document import model_from_document
from k8spb._codec._envelope import ENVELOPE_TAIL, decode_envelope, envelope_head, read_varint
from k8spb._errors import DecodeError
from k8spb._schema import Model, Raw

__all__ = ["EVENT_TYPES", "MAX_FRAME", "RawObject", "WatchDecoder", "WatchEvent"]

MAX_FRAME = 16 * 1024 * 1024
"""Largest accepted protobuf frame (client-go's limit)."""

EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"})

# event type -> the bytes a Go frame starts with: WatchEvent.type's tag, length and text, then object's tag
_OBJECT_EVENTS = {ord(t[0]): (t, b"\x0a" + bytes((len(t),)) + t.encode() + b"\x12")  # first letters differ
                  for t in EVENT_TYPES - {"ERROR"}}
_U32 = struct.Struct(">I").unpack_from
_SEEN_SIZES = 4096
_JSON_STEP = 16 * 1024

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class WatchEvent(Generic[K]):
    """One event of a watch stream. For ``ERROR`` the object is a meta/v1 Status."""

    type: str
    object: K


class RawObject:
    """An object's protobuf bytes, not parsed yet (what a raw WatchDecoder gives for Go's frames)."""

    __slots__ = ("cls", "data")

    def __init__(self, cls: type[Model], data: bytes) -> None:
        self.cls = cls
        self.data = data

    def decode(self) -> Model:
        """The object (parsed now: DecodeError if the bytes are corrupt)."""
        try:
            return self.cls._wrap(self.cls._pb_class().FromString(self.data))
        except (_PbDecodeError, RuntimeError, ValueError) as exc:
            kind = getattr(self.cls, "kind", self.cls.__name__)
            raise DecodeError(f"truncated or corrupt protobuf message: {exc}", kind=kind) from None

    def __repr__(self) -> str:
        return f"RawObject({self.cls.__name__}, {len(self.data)} bytes)"


class _JsonEvent(msgspec.Struct):
    type: str
    object: dict[str, Raw]


_JSON_EVENT = msgspec.json.Decoder(_JsonEvent)
_MsgspecError = (msgspec.ValidationError, msgspec.DecodeError)


class WatchDecoder:
    """Incremental decoder: feed it the bytes of a watch response as they arrive.

    ``content_type`` is the response's Content-Type; ``into`` the model class of the watched kind
    (or None to decode each object by its own apiVersion/kind); ``origin`` (the watch request) is
    named in the errors of JSON fields read later. With ``raw``, an object in a frame laid out as Go
    writes one is not parsed: the event carries a :class:`RawObject` (for a reader that needs only some
    of it, or its bytes); other frames are decoded as usual.
    """

    def __init__(self, content_type: str, into: type[Any] | None = None, *, max_frame: int = MAX_FRAME,
                 origin: str = "", raw: bool = False) -> None:
        self._origin = origin
        self._raw = raw
        base = media_type(content_type)
        if base == "application/vnd.kubernetes.protobuf":
            self._protobuf = True
        elif base == "application/json":
            self._protobuf = False
        else:
            raise DecodeError(f"unsupported watch content type {content_type!r}")
        self._into = into
        self._head = b""  # envelope_head of ``into``, when frames may take the fast path
        self._seen: dict[int, tuple[str, bytes]] = {}  # frame size and type -> header of a Go frame of them
        api_version, kind = getattr(into, "api_version", None), getattr(into, "kind", None)
        if self._protobuf and isinstance(into, type) and issubclass(into, Model) and isinstance(kind, str):
            self._head, self._object_pb = envelope_head(str(api_version), kind), into._pb_class()
        self._max = max_frame
        self._buf = bytearray()
        self._event_pb: Any = None
        self.error: DecodeError | None = None
        """Set when a bad event followed the good ones :meth:`feed` returned: raise it once they are handled."""

    def feed(self, data: bytes | memoryview) -> list[WatchEvent[Any]]:
        """Decode every complete event in the data received so far.

        The events before a bad one are returned and :attr:`error` is set (raised by every later call),
        so nothing that arrived intact is lost; a caller handles the events, then raises :attr:`error`
        at once rather than waiting for more bytes that may never come.
        """
        if self.error is not None:
            raise self.error
        self._buf += data
        events: list[WatchEvent[Any]] = []
        try:
            if self._protobuf:
                self._frames(events)
            else:
                self._lines(events)
        except DecodeError as exc:
            if not events:
                raise
            self.error = exc
        return events

    def pieces(self, data: bytes) -> Sequence[bytes | memoryview]:
        """``data`` cut into what to :meth:`feed` at a time, for a caller that handles each event in turn.

        Protobuf comes whole. JSON comes in 16 KiB pieces: a JSON event is a tree of dicts the cyclic
        GC tracks, and decoding a 256 KiB read at once keeps ~20 pod trees alive together, which makes
        the GC's full passes frequent (see docs/benchmarks.md). upb messages are not tracked.
        """
        if self._protobuf or len(data) <= _JSON_STEP:
            return (data,)
        view = memoryview(data)
        return [view[i : i + _JSON_STEP] for i in range(0, len(data), _JSON_STEP)]

    def close(self) -> None:
        """Check the stream ended on an event boundary; DecodeError if it was cut mid-event."""
        if self.error is not None:
            raise self.error
        if self._buf.strip() if not self._protobuf else self._buf:
            raise DecodeError(f"watch stream ended in the middle of an event ({len(self._buf)} bytes left over)")

    def _lines(self, events: list[WatchEvent[Any]]) -> None:
        buf, pos = self._buf, 0
        try:
            while True:
                end = buf.find(b"\n", pos)
                if end < 0:
                    if len(buf) - pos > self._max:
                        raise DecodeError(f"watch event longer than {self._max} bytes")
                    return
                line = bytes(buf[pos:end])
                pos = end + 1
                if line.strip():
                    events.append(self._json_event(line))
        finally:
            del buf[:pos]  # once per feed: deleting per event would be quadratic in the chunk size

    def _json_event(self, line: bytes) -> WatchEvent[Any]:
        try:  # the object's values stay encoded until read (see parse_json)
            if not line.isascii():
                line.decode()
            event = _JSON_EVENT.decode(line)
            kind, obj = event.type, event.object
        except (*_MsgspecError, UnicodeDecodeError, RecursionError):  # the plain parser names what is wrong
            try:
                doc = json.loads(line)
            except ValueError as exc:
                raise DecodeError(f"invalid JSON watch event: {exc}") from None
            except RecursionError:  # a hostile server's [[[[...]]]]: json's C scanner recurses per level
                raise DecodeError(f"invalid JSON watch event: nested too deeply ({len(line)} bytes)") from None
            if (not isinstance(doc, dict) or not isinstance(doc.get("type"), str)
                    or not isinstance(doc.get("object"), dict)):
                raise DecodeError("watch event must be an object with a string 'type' and an object 'object'") from None
            kind, obj = doc["type"], doc["object"]
        if kind not in EVENT_TYPES:
            raise DecodeError(f"unknown watch event type {kind!r}")
        into = None if kind == "ERROR" else self._into
        return WatchEvent(kind, model_from_document(obj, "watch event", into, self._origin))

    def _frames(self, events: list[WatchEvent[Any]]) -> None:
        buf, pos = self._buf, 0
        view = memoryview(buf)
        head = self._head
        try:
            while len(buf) - pos >= 4:
                (size,) = _U32(buf, pos)
                if size > self._max:
                    raise DecodeError(f"watch frame of {size} bytes exceeds the {self._max}-byte limit")
                if len(buf) - pos < 4 + size:
                    return
                start = pos + 4
                pos = start + size
                event = self._go_event(buf, view, start, pos) if head else None
                events.append(event or self._pb_event(bytes(view[start:pos])))
        finally:
            view.release()
            del buf[:pos]

    def _go_event(self, buf: bytearray, view: memoryview, start: int, stop: int) -> WatchEvent[Any] | None:
        """The event of a frame laid out byte for byte as Go writes one of the watched kind, else None.

        Such a frame is read without upb parsing its WatchEvent and envelope (only the object itself);
        any other frame, or one whose object upb rejects, goes the general way (and gets its errors).
        """
        try:
            key = (stop - start) << 8 | buf[start + 2]  # the frame's size and its type's first letter
            seen = self._seen.get(key)
            if seen is not None and buf.startswith(seen[1], start):
                # same size and the same header bytes up to the object: the same lengths, all checked
                event_type, p = seen[0], start + len(seen[1])
            else:
                known = _OBJECT_EVENTS.get(buf[start + 2])
                if known is None or not buf.startswith(known[1], start):
                    return None
                n, p = read_varint(buf, start + len(known[1]))  # WatchEvent.object
                if p + n != stop or buf[p] != 0x0A:  # RawExtension.raw
                    return None
                n, p = read_varint(buf, p + 1)
                head = self._head
                if p + n != stop or not buf.startswith(head, p):
                    return None
                n, p = read_varint(buf, p + len(head))
                if p + n != stop - len(ENVELOPE_TAIL):
                    return None
                event_type = known[0]
                if len(self._seen) >= _SEEN_SIZES:
                    self._seen.clear()
                self._seen[key] = (event_type, bytes(buf[start:p]))
            end = stop - len(ENVELOPE_TAIL)
            if not buf.startswith(ENVELOPE_TAIL, end):
                return None
            if self._raw:
                obj: Any = RawObject(self._into, bytes(view[p:end]))  # type: ignore[arg-type]
            else:
                obj = _new(self._into)  # type: ignore[arg-type]  # Model._wrap, inline
                obj._pb = self._object_pb.FromString(view[p:end])
        except (IndexError, _PbDecodeError, RuntimeError, ValueError):
            return None
        event = _new(WatchEvent)  # the frozen dataclass's __init__, without its setattr round trips
        _set_type(event, event_type)
        _set_object(event, obj)
        return event

    def _pb_event(self, body: bytes) -> WatchEvent[Any]:
        if self._event_pb is None:
            from k8spb.apimachinery.pkg.apis.meta.v1 import WatchEvent as WatchEventModel

            self._event_pb = WatchEventModel._pb_class()
        try:
            msg = self._event_pb.FromString(body)
        except (_PbDecodeError, RuntimeError, ValueError) as exc:
            raise DecodeError(f"corrupt protobuf watch frame: {exc}") from None
        kind = msg.type
        if kind not in EVENT_TYPES:
            raise DecodeError(f"unknown watch event type {kind!r}")
        into = None if kind == "ERROR" else self._into
        return WatchEvent(kind, decode_envelope(msg.object.raw, into))


_new = object.__new__
_set_type: Any = vars(WatchEvent)["type"].__set__  # the slots' own descriptors
_set_object: Any = vars(WatchEvent)["object"].__set__
