"""The protobuf envelope: ``k8s\\x00`` + runtime.Unknown{typeMeta, raw, contentEncoding, contentType}."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError as _PbDecodeError
from google.protobuf.message import EncodeError as _PbEncodeError

from k8spb._codec._content import MAGIC, PROTOBUF
from k8spb._errors import DecodeError, EncodeError
from k8spb._registry import check_api_version, class_for
from k8spb._schema import Model
from k8spb.apimachinery.pkg.runtime import Unknown

__all__ = ["decode_envelope", "encode_envelope", "parse_bare"]

_Unknown: Any = Unknown._pb_class()


def decode_envelope(data: bytes | memoryview, into: type[Model] | None = None) -> Model:
    """Decode an enveloped protobuf payload into the model its typeMeta names (or ``into``)."""
    view = memoryview(data)
    if len(view) < 4 or view[:4] != MAGIC:
        shown = bytes(view[:4])
        raise DecodeError(f"not a Kubernetes protobuf payload: expected the 'k8s\\x00' magic, got {shown!r}")
    if len(view) == 4:
        raise DecodeError("empty Kubernetes protobuf payload (only the magic)")
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
