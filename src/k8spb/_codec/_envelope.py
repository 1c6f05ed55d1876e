"""The protobuf envelope: ``k8s\\x00`` + runtime.Unknown{typeMeta, raw, contentEncoding, contentType}."""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import message_factory
from google.protobuf.message import DecodeError as _PbDecodeError
from google.protobuf.message import EncodeError as _PbEncodeError

from k8spb._codec._content import MAGIC, PROTOBUF
from k8spb._errors import DecodeError, EncodeError
from k8spb._registry import check_api_version, class_for
from k8spb._schema import Model
from k8spb.apimachinery.pkg.runtime import Unknown

__all__ = ["ENVELOPE_TAIL", "decode_envelope", "encode_envelope", "envelope_head", "parse_bare", "read_varint",
           "write_varint"]

_Unknown: Any = Unknown._pb_class()
_SPLIT_ABOVE = 64 * 1024
_TypeMeta: Any = message_factory.GetMessageClass(_Unknown.DESCRIPTOR.fields_by_name["typeMeta"].message_type)


ENVELOPE_TAIL = b"\x1a\x00\x22\x00"
"""How Go's envelope ends: contentEncoding and contentType, both empty."""


@cache
def envelope_head(api_version: str, kind: str) -> bytes:
    """What Go writes before raw's length when enveloping an object: magic, typeMeta, raw's tag.

    A payload that starts with these bytes and ends with :data:`ENVELOPE_TAIL` after exactly raw's
    length is an ``api_version``/``kind`` object in protobuf: its object bytes can be parsed without
    reading the envelope.
    """
    type_meta: bytes = _Unknown(typeMeta=_TypeMeta(apiVersion=api_version, kind=kind)).SerializeToString(
        deterministic=True)
    return MAGIC + type_meta + b"\x12"


def decode_envelope(data: bytes | memoryview, into: type[Model] | None = None) -> Model:
    """Decode an enveloped protobuf payload into the model its typeMeta names (or ``into``)."""
    view = memoryview(data)
    if len(view) < 4 or view[:4] != MAGIC:
        shown = bytes(view[:4])
        raise DecodeError(f"not a Kubernetes protobuf payload: expected the 'k8s\\x00' magic, got {shown!r}")
    if len(view) == 4:
        raise DecodeError("empty Kubernetes protobuf payload (only the magic)")
    # Splitting by hand saves copying raw but costs ~10 us in Python: worth it only for big payloads
    env: Any = _split(view) if len(view) > _SPLIT_ABOVE else None
    if env is None:  # small, or not the plain four-field layout Go writes: let upb parse it (copies raw)
        try:
            env = _Unknown.FromString(view[4:])
        except (_PbDecodeError, RuntimeError, ValueError) as exc:
            raise DecodeError(f"truncated or corrupt protobuf envelope: {exc}") from None
    meta = env.typeMeta
    api_version, kind = meta.apiVersion, meta.kind
    for name, value in (("apiVersion", api_version), ("kind", kind), ("contentType", env.contentType),
                        ("contentEncoding", env.contentEncoding)):
        if not isinstance(value, str):  # upb hands back bytes for a string that is not UTF-8
            raise DecodeError(f"protobuf envelope {name} is not valid UTF-8: {value[:40]!r}")
    if env.contentEncoding:
        raise DecodeError(f"unsupported envelope contentEncoding {env.contentEncoding!r}", kind=kind or None)
    if env.contentType and env.contentType.split(";")[0].strip() != PROTOBUF:
        from k8spb._codec import decode  # raw is in another format, e.g. JSON

        return decode(env.raw, env.contentType, into=into)
    if into is not None and (not kind or getattr(into, "kind", None) == kind):
        cls = into
        if api_version:
            check_api_version(cls, api_version)
    else:
        cls = class_for(api_version, kind)
        if into is not None and cls is not into:
            raise DecodeError(f"payload is {api_version}/{kind}, expected {into.__name__}", kind=kind)
    obj = parse_bare(cls, env.raw)
    if api_version and getattr(cls, "api_version", api_version) != api_version:
        obj.__dict__["_api_version"] = api_version
    return obj


class _Envelope:
    """The envelope's fields, with ``raw`` as a view into the payload (no copy)."""

    __slots__ = ("contentEncoding", "contentType", "raw", "typeMeta")

    def __init__(self, type_meta: Any, raw: memoryview, encoding: str | bytes, content_type: str | bytes) -> None:
        self.typeMeta = type_meta
        self.raw = raw
        self.contentEncoding = encoding
        self.contentType = content_type


_BYTE = [bytes((i,)) for i in range(0x80)]


def write_varint(n: int) -> bytes:
    """The varint of ``n`` (not negative)."""
    if n < 0x80:
        return _BYTE[n]
    if n < 0x4000:  # most lengths: no loop
        return bytes((n & 0x7F | 0x80, n >> 7))
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(view: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it; IndexError when cut short or over ten bytes."""
    value = shift = 0
    while True:
        if pos >= len(view) or shift > 63:
            raise IndexError
        b = view[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _split(view: memoryview) -> _Envelope | None:
    """Split Unknown's four length-delimited fields by hand; None when the bytes are laid out otherwise."""
    fields: dict[int, memoryview] = {}
    pos, end = 4, len(view)
    try:
        while pos < end:
            tag, pos = read_varint(view, pos)
            number, wire = tag >> 3, tag & 7
            if wire != 2 or number not in (1, 2, 3, 4) or number in fields:
                return None
            size, pos = read_varint(view, pos)
            if pos + size > end:
                return None
            fields[number] = view[pos : pos + size]
            pos += size
    except IndexError:
        return None
    if 2 not in fields:
        return None
    try:
        meta = _TypeMeta.FromString(fields[1]) if 1 in fields else _TypeMeta()
    except (_PbDecodeError, RuntimeError, ValueError):
        return None

    def text(n: int) -> str | bytes:
        raw = bytes(fields.get(n, b""))
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return raw

    return _Envelope(meta, fields[2], text(3), text(4))


def parse_bare(cls: type[Model], raw: bytes | memoryview) -> Model:
    """Parse a bare (un-enveloped) protobuf message of the given model class."""
    try:
        return cls._wrap(cls._pb_class().FromString(raw))
    except (_PbDecodeError, RuntimeError, ValueError) as exc:
        name = getattr(cls, "kind", cls.__name__)
        raise DecodeError(f"truncated or corrupt protobuf message: {exc}", kind=name) from None


def encode_envelope(obj: Model) -> bytes:
    """The enveloped protobuf bytes of a top-level object."""
    kind = getattr(type(obj), "kind", None)
    if kind is None:
        raise EncodeError(f"{type(obj).__name__} has no kind; only top-level objects can be encoded")
    api_version = obj.__dict__.get("_api_version") or type(obj).api_version  # type: ignore[attr-defined]
    try:
        raw = obj._synced_pb().SerializeToString(deterministic=True)
    except _PbEncodeError as exc:
        raise EncodeError(str(exc), kind=kind) from None
    env = _Unknown(raw=raw, contentEncoding="", contentType="")
    env.typeMeta.apiVersion = api_version
    env.typeMeta.kind = kind
    body: bytes = env.SerializeToString(deterministic=True)
    return MAGIC + body
