"""bytes <-> models: protobuf envelope, Kubernetes JSON and YAML (no IO)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar, overload

from k8spb._codec._content import JSON, MAGIC, PROTOBUF, YAML, format_for, media_type, sniff
from k8spb._codec._document import (
    dump_json,
    dump_yaml,
    load_yaml_documents,
    model_from_document,
    parse_json,
)
from k8spb._codec._envelope import decode_envelope, encode_envelope
from k8spb._errors import DecodeError, EncodeError
from k8spb._schema import Model, set_raw_decoder
from k8spb._traits import ListResource

__all__ = ["JSON", "PROTOBUF", "YAML", "decode", "decode_all", "encode", "encode_all", "media_type"]

M = TypeVar("M", bound=Model)
Data = bytes | bytearray | memoryview | str


def _as_bytes(data: Data) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode()
        except UnicodeEncodeError as exc:  # lone surrogates
            raise DecodeError(f"text is not valid Unicode: {exc.reason} at index {exc.start}") from None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise DecodeError(f"expected bytes or str, got {type(data).__name__}")


@overload
def decode(data: Data, content_type: str | None = None, *, into: None = None, origin: str = "") -> Model: ...
@overload
def decode(data: Data, content_type: str | None = None, *, into: type[M], origin: str = "") -> M: ...


def decode(data: Data, content_type: str | None = None, *, into: type[Model] | None = None,
           origin: str = "") -> Model:
    """Decode one Kubernetes object from protobuf, JSON or YAML bytes.

    ``content_type`` None sniffs the format (the ``k8s\\x00`` magic means protobuf). ``into`` decodes
    as that class when the payload carries no kind, and checks the kind when it does. ``origin`` (e.g.
    the request the payload answered) is named in the errors of fields read later: JSON and YAML
    fields are converted when first read.
    """
    raw = _as_bytes(data)
    fmt = sniff(raw) if content_type is None else format_for(content_type)
    if fmt != "protobuf" and raw[:4] == MAGIC:
        raise DecodeError(f"payload is Kubernetes protobuf (starts with the k8s magic) but the content type "
                          f"is {content_type!r}")
    if fmt == "protobuf":
        if into is not None and into._dynamic:  # a built-in kind asked for as a DynamicObject
            return into.from_dict(decode_envelope(raw).to_dict())
        return decode_envelope(raw, into)
    if fmt == "json":
        listing = into is not None and issubclass(into, ListResource)
        return model_from_document(parse_json(raw, listing=listing), "JSON", into, origin)
    docs = load_yaml_documents(raw)
    if len(docs) != 1:
        raise DecodeError(f"YAML holds {len(docs)} documents; use decode_all for multi-document YAML"
                          if docs else "YAML holds no document")
    return model_from_document(docs[0], "YAML", into, origin)


def decode_all(data: Data, content_type: str | None = None) -> list[Model]:
    """Decode every object of a payload: each document of a multi-document YAML stream.

    An object of a group-version Kubernetes does not serve (a custom resource without a class) comes
    as a DynamicObject, so a manifest mixing CRDs, their objects and built-in kinds decodes whole.
    """
    raw = _as_bytes(data)
    fmt = sniff(raw) if content_type is None else format_for(content_type)
    if raw[:4] == MAGIC or fmt == "protobuf":
        return [decode(raw, content_type)]
    if fmt == "json":
        return [model_from_document(parse_json(raw), "JSON", dynamic=True)]
    return [model_from_document(d, f"YAML document {i + 1}", dynamic=True)
            for i, d in enumerate(load_yaml_documents(raw))]


def encode(obj: Model, content_type: str) -> bytes:
    """Encode a top-level object as protobuf (enveloped), Kubernetes JSON or YAML."""
    if not isinstance(obj, Model):
        raise EncodeError(f"expected a k8spb model, got {type(obj).__name__}")
    kind = getattr(obj, "kind", None) if obj._dynamic else getattr(type(obj), "kind", None)
    if kind is None:
        raise EncodeError(f"{type(obj).__name__} has no apiVersion/kind; only top-level objects can be encoded")
    fmt = format_for(content_type, encoding=True)
    try:
        if fmt == "protobuf":
            if obj._json_only:
                raise EncodeError(f"{type(obj).__name__} has no protobuf form: custom resources are JSON or YAML "
                                  "only", kind=kind)
            return encode_envelope(obj)
        if fmt == "json":
            return dump_json(obj)
        return dump_yaml(obj)
    except RecursionError:
        raise EncodeError("object nested too deeply", kind=kind) from None


def encode_all(objs: Iterable[Model], content_type: str = YAML) -> bytes:
    """Encode several objects: a multi-document YAML stream (``---`` separated)."""
    items = list(objs)
    if format_for(content_type, encoding=True) != "yaml":
        if len(items) != 1:
            raise EncodeError(f"{content_type} holds one object; use YAML for several")
        return encode(items[0], content_type)
    return b"---\n".join(encode(o, YAML) for o in items)


set_raw_decoder(lambda raw: decode_envelope(raw))
