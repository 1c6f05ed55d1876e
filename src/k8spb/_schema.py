"""Field descriptors and the model base class the generated code is built on.

A model instance has one of three sources:

* a upb protobuf message (``_pb``): decoded from the wire; fields are materialised on first read;
* a Kubernetes-JSON dict (``_json``): decoded from JSON/YAML; fields are converted on first read. A
  dict decoded from JSON bytes holds each value still encoded (a ``msgspec.Raw`` slice of the payload):
  a value is parsed when its field is first read, objects one level at a time, as upb does for protobuf;
* nothing: built by hand; every field lives in the instance ``__dict__``.

A field read goes to the instance ``__dict__`` first (plain attribute speed); only a miss reaches the
:class:`Field` descriptor, which converts the value from the source and caches it. Encoding writes the
cached (possibly modified) values back and leaves the rest of the source untouched, so an unmodified
object re-encodes from its upb message in C. A cached value that still equals what its field converts
to is not written back: reading alone never changes the bytes (a zero Time, Time nanos, spaced JSON in
a RawExtension stay as they came).

Corrupt protobuf surfaces where it is read, as a DecodeError naming the field: upb hands back bytes for
a string that is not UTF-8 (checked on read), and Time values may be out of Python's range.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import json
import math
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any, ClassVar, TypeVar, dataclass_transform

import msgspec
from google.protobuf import descriptor_pool, message_factory

from k8spb._errors import DecodeError, EncodeError

__all__ = ["Field", "Kind", "Model", "Raw", "json_field", "json_model", "load_descriptor", "model", "model_class",
           "parse_raw", "resolve_module"]

POOL = descriptor_pool.DescriptorPool()
"""k8spb's own descriptor pool, so protos a user compiled elsewhere never clash with ours."""

CLASSES: dict[str, type[Model]] = {}
"""Proto full name -> model class, filled as generated modules are imported."""

_UTC = datetime.UTC
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_MISSING: Any = object()
_STR = {str}
_first = itemgetter(0)
_ZERO: dict[str, Any] = {"s": "", "i": 0, "b": False, "f": 0.0, "y": b""}

M = TypeVar("M", bound="Model")

Raw = msgspec.Raw
"""A JSON value not parsed yet: a slice of the payload it came in (kept alive by it)."""
_RAW_OBJECT = msgspec.json.Decoder(dict[str, Raw] | None)
_RAW_OBJECTS = msgspec.json.Decoder(list[dict[str, Raw] | None] | None)
_RAW_OBJECT_MAP = msgspec.json.Decoder(dict[str, dict[str, Raw] | None] | None)
_RAW_PARSERS = {"": _RAW_OBJECT, "l": _RAW_OBJECTS, "m": _RAW_OBJECT_MAP}
_RAW_ANY = msgspec.json.Decoder()
_RAW_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
_RAW_NULL = Raw(b"null")
_new = object.__new__
_setattr = object.__setattr__


def load_descriptor(serialized: bytes) -> Any:
    """Add a serialized FileDescriptorProto to k8spb's pool and return the file descriptor."""
    return POOL.AddSerializedFile(serialized)


# ---------------------------------------------------------------------------------------------------------
# Scalar conversions shared by every field kind


def format_time(value: datetime.datetime) -> str:
    """RFC 3339 in UTC with whole seconds, as Kubernetes writes ``Time``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    v = value.astimezone(_UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"


def format_micro_time(value: datetime.datetime) -> str:
    """RFC 3339 in UTC with exactly six fraction digits, as Kubernetes writes ``MicroTime``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    v = value.astimezone(_UTC)
    return (f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
            f".{v.microsecond:06d}Z")


def parse_time(text: str) -> datetime.datetime:
    """Parse an RFC 3339 timestamp (any offset, optional fraction) into an aware datetime."""
    if not isinstance(text, str) or len(text) < 20 or text[10] not in "Tt":
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    s = text[:-1] + "+00:00" if text[-1] in "Zz" else text
    dot = s.find(".", 19)
    if dot != -1:  # fromisoformat wants at most 6 fraction digits
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        s = s[:dot] + (s[dot:end][:7] if end - dot > 1 else "") + s[end:]
    value = datetime.datetime.fromisoformat(s)
    if value.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return value


def _time_to_seconds(value: datetime.datetime) -> tuple[int, int]:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    delta = value - _EPOCH
    return delta.days * 86400 + delta.seconds, delta.microseconds


def format_duration(value: datetime.timedelta) -> str:
    """A Go duration string (``1h2m3.5s``) for a timedelta."""
    ns = (value.days * 86400 + value.seconds) * 1_000_000_000 + value.microseconds * 1000
    return _go_duration(ns)


def _go_duration(ns: int) -> str:
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _trim(rest / 1_000_000_000)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + seconds + "s"


def _trim(x: float) -> str:
    text = f"{x:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def parse_duration(text: str) -> datetime.timedelta:
    """Parse a Go duration string into a timedelta."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"not a duration: {text!r}")
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    s, sign, total, i = text, 1.0, 0.0, 0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        i = 1
    if s[i:] == "0":
        return datetime.timedelta(0)
    if i >= len(s):
        raise ValueError(f"not a duration: {text!r}")
    while i < len(s):
        j = i
        while j < len(s) and (s[j].isdigit() or s[j] == "."):
            j += 1
        if j == i:
            raise ValueError(f"not a duration: {text!r}")
        number = float(s[i:j])
        k = j
        while k < len(s) and not (s[k].isdigit() or s[k] == "."):
            k += 1
        unit = s[j:k]
        if unit not in units:
            raise ValueError(f"unknown unit {unit!r} in duration {text!r}")
        total += number * units[unit]
        i = k
    return datetime.timedelta(seconds=sign * total)


def _json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists and scalars); a value still encoded is parsed."""
    # Plain loops: no comprehension frame per level (deep documents) and no call per scalar.
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            out[k] = _json_copy(v) if isinstance(v, (dict, list, Raw)) else v
        return out
    if isinstance(value, list):
        items = []
        for v in value:
            items.append(_json_copy(v) if isinstance(v, (dict, list, Raw)) else v)
        return items
    if value.__class__ is Raw:
        return parse_raw(value, "")
    return value


def parse_raw(raw: Raw, path: str, decoder: Any = None) -> Any:
    """Parse a JSON value kept encoded (with ``decoder``, else into plain Python), as a DecodeError at ``path``."""
    try:
        return (decoder or _RAW_ANY).decode(raw)
    except msgspec.ValidationError as exc:
        if decoder is not None:  # not the shape the field wants: parse plainly, the field says what is wrong
            return parse_raw(raw, path)
        raise DecodeError(f"invalid JSON value: {exc}", path=path or None) from None  # a number out of range
    except msgspec.DecodeError as exc:  # what the payload's first scan does not check: UTF-8
        message = str(exc)
        if message.startswith("Invalid UTF-8"):
            message = "string is not valid UTF-8"
        raise DecodeError(f"invalid JSON value: {message}", path=path or None) from None
    except RecursionError:
        raise DecodeError("nested too deeply", path=path or None) from None


def _not_utf8(raw: bytes) -> DecodeError:
    return DecodeError(f"string is not valid UTF-8: {raw[:40]!r}")


def _utf8(value: Any) -> Any:
    """upb hands back bytes for a proto2 string that is not valid UTF-8: refuse it."""
    if value.__class__ is bytes:
        raise _not_utf8(value)
    return value


def _utf8_all(values: Iterable[Any]) -> None:
    for x in values:
        if x.__class__ is bytes:
            raise _not_utf8(x)


def _by_key(mapping: Any, path: str) -> list[tuple[Any, Any]]:
    """A map's items sorted by key, as Go writes maps (upb iterates protobuf maps in a random order)."""
    try:
        return sorted(mapping.items(), key=_first)
    except TypeError:  # keys of mixed types
        bad = next((k for k in mapping if not isinstance(k, str)), None)
        raise EncodeError(f"map keys must be strings, got {bad!r}", path=path) from None


def _located(exc: Exception, path: str, kind: str | None = None) -> Exception:
    """An error found while converting one field, as a DecodeError naming the field."""
    if isinstance(exc, (DecodeError, EncodeError)) and exc.path:
        return exc
    if isinstance(exc, UnicodeDecodeError):
        message = f"string is not valid UTF-8 ({exc.reason} at byte {exc.start})"
    elif isinstance(exc, DecodeError):
        message = str(exc)
    elif isinstance(exc, RecursionError):
        message = "nested too deeply"
    else:
        message = f"invalid value: {exc}"
    return DecodeError(message, kind=kind, path=path)


def _dumps_compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _sniff_json(raw: bytes) -> bool:
    for b in raw[:64]:
        if b in b" \t\r\n":
            continue
        return b in b'{["ntf-0123456789'
    return False


RawHook = Callable[[bytes], Any]
_raw_decoder: list[RawHook] = []
"""Set by the codec: decodes an enveloped protobuf ``RawExtension`` into a model."""


def set_raw_decoder(hook: RawHook) -> None:
    """Let the codec decode protobuf envelopes found inside RawExtension fields."""
    _raw_decoder[:] = [hook]


# ---------------------------------------------------------------------------------------------------------
# Per-kind conversions. Each kind has four functions:
#   pb(msg_value) -> value          protobuf field value (already known present) -> model value
#   js(raw, path) -> value          JSON value -> model value (validating)
#   tojs(value, path) -> JSON       model value -> JSON value
#   topb(parent, name, value, path) write a model value into a protobuf field


def _bad(path: str, what: str, got: Any) -> DecodeError:
    shown = repr(got)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return DecodeError(f"expected {what}, got {type(got).__name__} {shown}", path=path)


def _js_str(raw: Any, path: str) -> Any:
    if isinstance(raw, str):
        return raw
    raise _bad(path, "a string", raw)


def _js_int(raw: Any, path: str) -> Any:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    raise _bad(path, "an integer", raw)


def _js_bool(raw: Any, path: str) -> Any:
    if isinstance(raw, bool):
        return raw
    raise _bad(path, "a boolean", raw)


def _js_float(raw: Any, path: str) -> Any:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if isinstance(raw, float) and not math.isfinite(raw):
            raise _bad(path, "a finite number", raw)
        return raw
    raise _bad(path, "a number", raw)


def _js_bytes(raw: Any, path: str) -> Any:
    if not isinstance(raw, str):
        raise _bad(path, "a base64 string", raw)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(f"invalid base64: {raw[:40]!r}", path=path) from None


def _js_time(raw: Any, path: str) -> Any:
    # Time is whole seconds, as protobuf carries it and Go writes it; in UTC, as read from protobuf.
    return _js_micro_time(raw, path).replace(microsecond=0)


def _js_micro_time(raw: Any, path: str) -> Any:
    if not isinstance(raw, str):
        raise _bad(path, "an RFC 3339 timestamp string", raw)
    try:
        return parse_time(raw).astimezone(_UTC)
    except (ValueError, OverflowError) as exc:
        raise DecodeError(str(exc), path=path) from None


def _js_duration(raw: Any, path: str) -> Any:
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise DecodeError(str(exc), path=path) from None


def _js_quantity(raw: Any, path: str) -> Any:
    if isinstance(raw, str):
        if not raw:
            raise DecodeError("quantities must match the regular expression "
                              "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'", path=path)
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, float) and math.isfinite(raw):
        return repr(raw) if not raw.is_integer() else str(int(raw))
    raise _bad(path, "a quantity (string or number)", raw)


def _js_int_or_string(raw: Any, path: str) -> Any:
    if isinstance(raw, str) or (isinstance(raw, int) and not isinstance(raw, bool)):
        return raw
    raise _bad(path, "an integer or a string", raw)


def _js_any(raw: Any, path: str) -> Any:
    try:
        return _json_copy(raw)
    except RecursionError:
        raise DecodeError("nested too deeply", path=path) from None


def _js_fields(raw: Any, path: str) -> Any:
    if isinstance(raw, dict):
        return _js_any(raw, path)
    raise _bad(path, "an object", raw)


def _js_strings(raw: Any, path: str) -> Any:
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return list(raw)
    raise _bad(path, "a list of strings", raw)


def _ident(value: Any, path: str) -> Any:
    return value


def _tojs_float(value: Any, path: str) -> Any:
    # Go writes a float64 without a fraction as an integer (0, 2, 1e+21): so does k8spb, as an int
    if value.__class__ is float and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def _tojs_bytes(value: Any, path: str) -> Any:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise EncodeError(f"expected bytes, got {type(value).__name__}", path=path)
    return base64.b64encode(bytes(value)).decode("ascii")


def _tojs_time(value: Any, path: str) -> Any:
    if not isinstance(value, datetime.datetime):
        raise EncodeError(f"expected a datetime, got {type(value).__name__}", path=path)
    try:
        return format_time(value)
    except OverflowError as exc:  # year 1 or 9999 in another time zone
        raise EncodeError(f"{value!r} is out of range in UTC: {exc}", path=path) from None


def _tojs_micro_time(value: Any, path: str) -> Any:
    if not isinstance(value, datetime.datetime):
        raise EncodeError(f"expected a datetime, got {type(value).__name__}", path=path)
    try:
        return format_micro_time(value)
    except OverflowError as exc:
        raise EncodeError(f"{value!r} is out of range in UTC: {exc}", path=path) from None


def _tojs_duration(value: Any, path: str) -> Any:
    if not isinstance(value, datetime.timedelta):
        raise EncodeError(f"expected a timedelta, got {type(value).__name__}", path=path)
    return format_duration(value)


def _tojs_raw(value: Any, path: str) -> Any:
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise EncodeError("a RawExtension holding non-JSON bytes cannot be written as JSON", path=path)
    try:
        return _json_copy(value)
    except RecursionError:
        raise EncodeError("nested too deeply", path=path) from None


def _tojs_strings(value: Any, path: str) -> Any:
    if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
        return list(value)
    raise EncodeError(f"expected a list of strings, got {value!r:.60}", path=path)


def _check(types: type | tuple[type, ...], what: str) -> Callable[[Any, str], Any]:
    def check(value: Any, path: str) -> Any:
        if isinstance(value, types) and not (isinstance(value, bool) and bool not in _astuple(types)):
            return value
        raise EncodeError(f"expected {what}, got {type(value).__name__} {value!r:.60}", path=path)
    return check


def _astuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


# protobuf side ------------------------------------------------------------------------------------------


def _pb_time(msg: Any) -> Any:
    # Go writes the zero time as an empty message: JSON null.
    if not msg.HasField("seconds"):
        return None
    return _EPOCH + datetime.timedelta(seconds=msg.seconds)


def _pb_micro_time(msg: Any) -> Any:
    if not msg.HasField("seconds"):
        return None
    return _EPOCH + datetime.timedelta(seconds=msg.seconds, microseconds=msg.nanos // 1000)


def _pb_duration(msg: Any) -> Any:
    return datetime.timedelta(microseconds=msg.duration // 1000)


def _pb_quantity(msg: Any) -> Any:
    return _utf8(msg.string)


def _pb_int_or_string(msg: Any) -> Any:
    return _utf8(msg.strVal) if msg.type == 1 else msg.intVal


def _pb_raw(msg: Any) -> Any:
    raw = msg.raw
    if not raw:
        return None
    if raw[:4] == b"k8s\x00" and _raw_decoder:
        return _raw_decoder[0](raw)
    if _sniff_json(raw):
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            return raw
    return raw


def _pb_fields(msg: Any) -> Any:
    raw = msg.Raw
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw  # CBOR-encoded fieldsV1 on CBOR-serving servers: kept as bytes


def _pb_json(msg: Any) -> Any:
    raw = msg.raw
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise DecodeError(f"apiextensions JSON field holds invalid JSON: {raw[:40]!r}") from None


def _pb_strings(msg: Any) -> Any:
    items = list(msg.items)
    _utf8_all(items)
    return items


def _set_time(msg: Any, value: Any, path: str) -> None:
    if not isinstance(value, datetime.datetime):
        raise EncodeError(f"expected a datetime, got {type(value).__name__}", path=path)
    seconds, _ = _time_to_seconds(value)
    msg.seconds = seconds
    msg.nanos = 0


def _set_micro_time(msg: Any, value: Any, path: str) -> None:
    if not isinstance(value, datetime.datetime):
        raise EncodeError(f"expected a datetime, got {type(value).__name__}", path=path)
    seconds, micros = _time_to_seconds(value)
    msg.seconds = seconds
    msg.nanos = micros * 1000


def _set_duration(msg: Any, value: Any, path: str) -> None:
    if not isinstance(value, datetime.timedelta):
        raise EncodeError(f"expected a timedelta, got {type(value).__name__}", path=path)
    msg.duration = ((value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds) * 1000


def _set_quantity(msg: Any, value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise EncodeError(f"expected a quantity string, got {type(value).__name__}", path=path)
    msg.string = value


def _set_int_or_string(msg: Any, value: Any, path: str) -> None:
    # Go writes all three fields; so do we, for byte-identical output.
    if isinstance(value, str):
        msg.type, msg.intVal, msg.strVal = 1, 0, value
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -(2**31) <= value < 2**31:
            raise EncodeError(f"int-or-string value {value} does not fit in int32", path=path)
        msg.type, msg.intVal, msg.strVal = 0, value, ""
    else:
        raise EncodeError(f"expected an int or a string, got {type(value).__name__}", path=path)


def _raw_bytes(value: Any, path: str) -> bytes:
    if isinstance(value, Model):
        from k8spb._codec import encode  # codec sits above models; imported on use only

        return encode(value, "application/vnd.kubernetes.protobuf")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    try:
        return _dumps_compact(value)
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"value is not JSON: {exc}", path=path) from None


def _set_raw(msg: Any, value: Any, path: str) -> None:
    msg.raw = _raw_bytes(value, path)


def _set_fields(msg: Any, value: Any, path: str) -> None:
    msg.Raw = _raw_bytes(value, path)


def _set_strings(msg: Any, value: Any, path: str) -> None:
    _tojs_strings(value, path)
    del msg.items[:]
    msg.items.extend(value)


class Kind:
    """How one kind of value converts between protobuf, JSON and Python."""

    __slots__ = ("js", "msg", "pb", "set", "tojs", "topy_check")

    def __init__(self, *, msg: bool, pb: Callable[[Any], Any], js: Callable[[Any, str], Any],
                 tojs: Callable[[Any, str], Any], set: Callable[[Any, Any, str], None] | None = None,
                 check: Callable[[Any, str], Any] | None = None) -> None:
        self.msg = msg  # the protobuf field is a message (set() fills it) rather than a scalar
        self.pb = pb
        self.js = js
        self.tojs = tojs
        self.set = set
        self.topy_check = check


def _scalar(js: Callable[[Any, str], Any], check: Callable[[Any, str], Any],
            tojs: Callable[[Any, str], Any] = _ident) -> Kind:
    return Kind(msg=False, pb=lambda v: v, js=js, tojs=tojs, check=check)


KINDS: dict[str, Kind] = {
    "s": Kind(msg=False, pb=_utf8, js=_js_str, tojs=_ident, check=_check(str, "a string")),
    "i": _scalar(_js_int, _check(int, "an integer")),
    "b": _scalar(_js_bool, _check(bool, "a boolean")),
    "f": _scalar(_js_float, _check((int, float), "a number"), _tojs_float),
    "y": Kind(msg=False, pb=lambda v: v, js=_js_bytes, tojs=_tojs_bytes,
              check=_check((bytes, bytearray), "bytes")),
    "time": Kind(msg=True, pb=_pb_time, js=_js_time, tojs=_tojs_time, set=_set_time),
    "mtime": Kind(msg=True, pb=_pb_micro_time, js=_js_micro_time, tojs=_tojs_micro_time, set=_set_micro_time),
    "dur": Kind(msg=True, pb=_pb_duration, js=_js_duration, tojs=_tojs_duration, set=_set_duration),
    "qty": Kind(msg=True, pb=_pb_quantity, js=_js_quantity, tojs=_check(str, "a quantity string"),
                set=_set_quantity),
    "ios": Kind(msg=True, pb=_pb_int_or_string, js=_js_int_or_string,
                tojs=_check((int, str), "an int or a string"), set=_set_int_or_string),
    "raw": Kind(msg=True, pb=_pb_raw, js=_js_any, tojs=_tojs_raw, set=_set_raw),
    "fv1": Kind(msg=True, pb=_pb_fields, js=_js_fields, tojs=_tojs_raw, set=_set_fields),
    "json": Kind(msg=True, pb=_pb_json, js=_js_any, tojs=_tojs_raw, set=_set_raw),
    "strs": Kind(msg=True, pb=_pb_strings, js=_js_strings, tojs=_tojs_strings, set=_set_strings),
}


def _omit_zero_facts() -> dict[str, frozenset[str]]:
    """Fields Go always writes to protobuf but omits from JSON when zero (non-pointer, ``omitempty``).

    The .proto files do not say which fields these are (only the Go struct tags do). For them a zero
    read from protobuf is "not set" (None, and no JSON key), and None is written to protobuf as the
    zero, as Go writes it: so a message decoded from protobuf and from JSON compare equal and encode
    to the same bytes. Facts of the Go types, by proto message and JSON key.
    """
    per_message = {
        "JSONSchemaProps": ("id", "$schema", "description", "type", "format", "title", "exclusiveMaximum",
                            "exclusiveMinimum", "pattern", "uniqueItems", "nullable", "x-kubernetes-embedded-resource",
                            "x-kubernetes-int-or-string"),
        "ExternalDocumentation": ("description", "url"),
        "ValidationRule": ("message", "messageExpression", "fieldPath"),
        "CustomResourceColumnDefinition": ("format", "description", "priority"),
        "CustomResourceDefinitionNames": ("singular", "listKind"),
        "CustomResourceDefinitionVersion": ("deprecated",),
        "CustomResourceDefinitionCondition": ("reason", "message"),
    }
    out = {f"k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.{v}.{m}": frozenset(keys)
           for v in ("v1", "v1beta1") for m, keys in per_message.items()}
    out["k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1beta1.CustomResourceDefinitionSpec"] = frozenset(
        {"version"})
    return out


OMIT_ZERO = _omit_zero_facts()


# ---------------------------------------------------------------------------------------------------------
# Fields


class Field:
    """One model attribute: where it lives in protobuf and JSON, and how to convert it.

    Installed on the model class as a non-data descriptor: it runs only when the instance has no
    cached value, converts one field from the source, and caches the result in the instance.
    """

    __slots__ = (
        "attr",
        "cls",
        "container",
        "key",
        "kind",
        "kind_code",
        "leaf",
        "number",
        "omit_zero",
        "owner",
        "parser",
        "path",
        "prefix",
        "ref",
        "simple",
        "utf8",
    )

    def __init__(self, attr: str, key: str, path: tuple[str, ...], kind: str, container: str,
                 ref: str | None = None) -> None:
        self.attr = attr  # Python attribute name
        self.key = key  # JSON key
        self.path = path  # proto field names from the message to the leaf (inline parents first)
        self.prefix = path[:-1]
        self.leaf = path[-1]
        self.kind_code = kind  # "m" for a model, else a key of KINDS; or "orbool"/"orarray"/"orstrarray"
        self.kind: Kind | None = KINDS.get(kind)
        self.utf8 = kind == "s"  # upb returns bytes for invalid UTF-8 in a string: checked on read
        self.container = container  # "" single, "l" list, "m" map
        self.ref = ref  # proto full name of the model type, for "m" and the JSONSchemaPropsOr* kinds
        self.cls: type[Model] | None = None
        self.owner: type[Model] | None = None
        self.number = 0
        self.omit_zero = False  # see OMIT_ZERO
        # how a value kept encoded is parsed: objects of a model type one level deep, the rest plainly
        self.parser: Any = _RAW_PARSERS.get(container) if kind == "m" else None
        # a single plain scalar: read from JSON by its check alone (json_of)
        self.simple = KINDS[kind].js if container == "" and kind in ("s", "i", "b", "f") else None

    def __repr__(self) -> str:
        return f"<Field {self.attr} json={self.key!r} proto={'.'.join(self.path)}>"

    # descriptor ------------------------------------------------------------------------------------

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return None  # the dataclass default
        pb = obj._pb
        value = self.from_pb(pb) if pb is not None else self.peek_source(obj)
        _setattr(obj, self.attr, value)  # kept in the instance: __dict__ would build a dict object
        return value

    def peek_source(self, obj: Model) -> Any:
        """The value of this field converted from the object's source, without caching it."""
        pb = obj._pb
        if pb is not None:
            return self.from_pb(pb)
        raw = obj._json
        if raw is not None:
            v = raw.get(self.key, None)
            return None if v is None else self.json_of(v, obj)
        return None

    def json_of(self, v: Any, obj: Model) -> Any:
        """The value of this field of ``obj`` from its JSON source's value ``v`` (not None).

        The commonest shapes (a scalar, one object) are read in this frame; the field's path is built
        only for an object (its children's paths start with it) or when the value is wrong.
        """
        simple = self.simple
        if simple is not None:
            try:
                if v.__class__ is Raw:
                    v = _RAW_ANY.decode(v)
                    if v is None:
                        return None
                return simple(v, "")
            except (DecodeError, *_RAW_ERRORS):
                pass  # from_json below raises the error with the field's path
        elif self.kind_code == "m" and not self.container:
            try:
                d = _RAW_OBJECT.decode(v) if v.__class__ is Raw else v
            except _RAW_ERRORS:
                d = v
            if d is None:
                return None
            if d.__class__ is dict:
                child: Model = _new(self.cls)  # type: ignore[arg-type]  # Model._from_json_dict, inline
                child._json = d
                child._path = f"{obj._path}.{self.key}"
                return child
        return self.from_json(v, f"{obj._path}.{self.key}")

    # protobuf -> Python ----------------------------------------------------------------------------

    def holds(self, pb: Any, value: Any) -> bool:
        """True when the message's field converts to ``value`` (which then need not be written back)."""
        try:
            current = self.from_pb(pb)
        except DecodeError:
            return False
        return current is None if value is None else bool(current == value)

    def _leaf_parent(self, pb: Any) -> Any:
        for name in self.prefix:
            if not pb.HasField(name):
                return None
            pb = getattr(pb, name)
        return pb

    def from_pb(self, pb: Any) -> Any:
        try:
            if self.prefix:
                pb = self._leaf_parent(pb)
                if pb is None:
                    return None
            name = self.leaf
            container = self.container
            kind = self.kind
            if container == "":
                if kind is None:
                    if not pb.HasField(name):
                        return None
                    return self._model_from_pb(getattr(pb, name))
                if kind.msg:
                    if not pb.HasField(name):
                        return None
                    return kind.pb(getattr(pb, name))
                v = getattr(pb, name)
                if v or (not self.omit_zero and pb.HasField(name)):
                    if v.__class__ is bytes and self.utf8:
                        raise _not_utf8(v)
                    return v
                return None
            seq = getattr(pb, name)
            if not seq:
                return None
            if container == "l":
                if kind is None:
                    return [self._model_from_pb(m) for m in seq]
                if kind.msg:
                    conv = kind.pb
                    return [conv(m) for m in seq]
                out = list(seq)
                if self.utf8:
                    for x in out:
                        if x.__class__ is bytes:
                            raise _not_utf8(x)
                return out
            if kind is None:
                return {k: self._model_from_pb(m) for k, m in seq.items()}
            if kind.msg:
                conv = kind.pb
                return {k: conv(m) for k, m in seq.items()}
            values = dict(seq)
            if self.utf8:
                for x in values.values():
                    if x.__class__ is bytes:
                        raise _not_utf8(x)
            return values
        except (ValueError, OverflowError, RecursionError) as exc:  # corrupt input: see _located
            owner = self.owner.__name__ if self.owner is not None else "?"
            raise _located(exc, f"{owner}.{self.key}") from None

    def _model_from_pb(self, msg: Any) -> Any:
        code = self.kind_code
        cls = self.cls
        assert cls is not None, f"unresolved model type for {self!r}"
        if code == "m":
            obj = object.__new__(cls)
            obj._pb = msg
            return obj
        if code == "orbool":
            return cls._wrap(msg.schema) if msg.HasField("schema") else msg.allows
        if code == "orarray":
            if len(msg.jSONSchemas):
                return [cls._wrap(m) for m in msg.jSONSchemas]
            return cls._wrap(msg.schema) if msg.HasField("schema") else None
        # orstrarray
        if len(msg.property):
            return list(msg.property)
        return cls._wrap(msg.schema) if msg.HasField("schema") else None

    # JSON -> Python --------------------------------------------------------------------------------

    def from_json(self, raw: Any, path: str) -> Any:
        if raw.__class__ is Raw:
            raw = parse_raw(raw, path, self.parser)
            if raw is None:
                return None
        container = self.container
        if container == "":
            return self._one_from_json(raw, path)
        if container == "l":
            if not isinstance(raw, list):
                raise _bad(path, "a list", raw)
            if self.kind_code == "m":  # objects: made here, no call each
                cls = self.cls
                items = []
                for i, v in enumerate(raw):
                    if v.__class__ is not dict:
                        break  # a null or a wrong item: the general way below
                    child: Model = _new(cls)  # type: ignore[arg-type]
                    child._json = v
                    child._path = f"{path}[{i}]"
                    items.append(child)
                else:
                    return items
            return [None if v is None else self._one_from_json(v, f"{path}[{i}]") for i, v in enumerate(raw)]
        if not isinstance(raw, dict):
            raise _bad(path, "an object (map)", raw)
        out = {k: None if v is None else self._one_from_json(v, f"{path}[{k!r}]") for k, v in raw.items()}
        if out and set(map(type, out)) != _STR:  # YAML allows `1: x`
            for k in out:
                if not isinstance(k, str):
                    raise DecodeError(f"map keys must be strings, got {type(k).__name__} {k!r}", path=path)
        return out

    def _one_from_json(self, raw: Any, path: str) -> Any:
        kind = self.kind
        if kind is not None:
            return kind.js(raw, path)
        cls = self.cls
        assert cls is not None
        code = self.kind_code
        if code == "m" or isinstance(raw, dict):
            if not isinstance(raw, dict):
                raise _bad(path, f"an object ({cls.__name__})", raw)
            return cls._from_json_dict(raw, path)
        if code == "orbool":
            if isinstance(raw, bool):
                return raw
            raise _bad(path, "a boolean or a schema object", raw)
        if code == "orarray":
            if isinstance(raw, list):
                return [cls._from_json_dict(_need_dict(v, f"{path}[{i}]"), f"{path}[{i}]")
                        for i, v in enumerate(raw)]
            raise _bad(path, "a schema object or a list of them", raw)
        if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
            return list(raw)
        raise _bad(path, "a schema object or a list of strings", raw)

    # Python -> JSON --------------------------------------------------------------------------------

    def to_json(self, value: Any, path: str) -> Any:
        container = self.container
        if container == "":
            return self._one_to_json(value, path)
        if container == "l":
            if not isinstance(value, (list, tuple)):
                raise EncodeError(f"expected a list, got {type(value).__name__}", path=path)
            return [None if v is None else self._one_to_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            raise EncodeError(f"expected a dict, got {type(value).__name__}", path=path)
        return {k: None if v is None else self._one_to_json(v, f"{path}[{k!r}]") for k, v in _by_key(value, path)}

    def _one_to_json(self, value: Any, path: str) -> Any:
        kind = self.kind
        if kind is not None:
            if kind.topy_check is not None:
                kind.topy_check(value, path)
            return kind.tojs(value, path)
        cls = self.cls
        assert cls is not None
        if isinstance(value, cls):
            return value._to_json(path)
        code = self.kind_code
        if code == "orbool" and isinstance(value, bool):
            return value
        if code == "orarray" and isinstance(value, list):
            return [self._model_to_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if code == "orstrarray" and isinstance(value, list):
            return _tojs_strings(value, path)
        raise EncodeError(f"expected {cls.__name__}, got {type(value).__name__}", path=path)

    def _model_to_json(self, value: Any, path: str) -> Any:
        assert self.cls is not None
        if not isinstance(value, self.cls):
            raise EncodeError(f"expected {self.cls.__name__}, got {type(value).__name__}", path=path)
        return value._to_json(path)

    # protobuf -> JSON, without building models -----------------------------------------------------

    def pb_value_to_json(self, v: Any, path: str) -> Any:
        """JSON for the raw protobuf value of this field's leaf (known to be present)."""
        container = self.container
        kind = self.kind
        if container == "":
            return self._one_pb_to_json(v, path)
        if container == "l":
            if kind is not None and not kind.msg and kind.tojs is _ident:
                out = list(v)
                if self.utf8:
                    _utf8_all(out)
                return out
            return [self._one_pb_to_json(x, path) for x in v]
        if kind is not None and not kind.msg and kind.tojs is _ident:
            values = dict(_by_key(v, path))
            if self.utf8:
                _utf8_all(values.values())
            return values
        return {k: self._one_pb_to_json(x, path) for k, x in _by_key(v, path)}

    def _one_pb_to_json(self, v: Any, path: str) -> Any:
        kind = self.kind
        if kind is not None:
            value = kind.pb(v)
            return None if value is None else kind.tojs(value, path)
        if self.kind_code == "m":
            cls = self.cls
            assert cls is not None
            return pb_to_json(v, cls._schema, path)
        value = self._model_from_pb(v)
        return None if value is None else self._one_to_json(value, path)

    # Python -> protobuf ----------------------------------------------------------------------------

    def write_pb(self, pb: Any, value: Any, path: str, *, in_place: bool = False) -> None:
        """Write ``value`` into this field of ``pb`` (``None`` clears it)."""
        for name in self.prefix:
            pb = getattr(pb, name)
        name = self.leaf
        if value is None:
            if self.omit_zero:
                setattr(pb, name, _ZERO[self.kind_code])  # written as Go writes it: present, zero
            else:
                pb.ClearField(name)
            return
        container = self.container
        kind = self.kind
        try:
            if container == "":
                if kind is not None and not kind.msg:
                    if kind.topy_check is not None:
                        kind.topy_check(value, path)
                    setattr(pb, name, value)
                    return
                self._write_one_msg(getattr(pb, name), value, path, in_place)
                return
            if container == "l":
                if not isinstance(value, (list, tuple)):
                    raise EncodeError(f"expected a list, got {type(value).__name__}", path=path)
                seq = getattr(pb, name)
                if kind is not None and not kind.msg:
                    if None in value:  # JSON null items: Go reads them as the zero value
                        value = [_ZERO[self.kind_code] if v is None else v for v in value]
                    check = kind.topy_check
                    if check is not None:
                        for i, v in enumerate(value):
                            check(v, f"{path}[{i}]")
                    del seq[:]
                    seq.extend(value)
                    return
                if (in_place and kind is None and len(seq) == len(value)
                        and all(isinstance(v, Model) and v._pb is m for v, m in zip(value, seq, strict=True))):
                    for i, v in enumerate(value):
                        v._sync(f"{path}[{i}]")
                    return
                make = _element_class(pb, name)
                fresh = []
                for i, v in enumerate(value):
                    m = make()
                    if v is not None:
                        self._write_one_msg(m, v, f"{path}[{i}]", False)
                    elif kind is None:
                        raise EncodeError("null list items cannot be written as protobuf", path=f"{path}[{i}]")
                    # else: null (e.g. in a JSONSchemaProps enum) is the empty message, as Go writes it
                    fresh.append(m)
                del seq[:]
                seq.extend(fresh)
                return
            if not isinstance(value, dict):
                raise EncodeError(f"expected a dict, got {type(value).__name__}", path=path)
            mapping = getattr(pb, name)
            if kind is not None and not kind.msg:
                if None in value.values():  # JSON null values: Go reads them as the zero value
                    value = {k: _ZERO[self.kind_code] if v is None else v for k, v in value.items()}
                check = kind.topy_check
                for k, v in value.items():
                    if not isinstance(k, str):
                        raise EncodeError(f"map keys must be strings, got {k!r}", path=path)
                    if check is not None:
                        check(v, f"{path}[{k!r}]")
                mapping.clear()
                mapping.update(value)
                return
            make = _element_class(pb, name, map_value=True)
            staged = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise EncodeError(f"map keys must be strings, got {k!r}", path=path)
                scratch = make()
                if v is not None:  # null (e.g. a zero Time) is the empty message
                    self._write_one_msg(scratch, v, f"{path}[{k!r}]", False)
                staged[k] = scratch
            mapping.clear()
            for k, m in staged.items():
                mapping[k].CopyFrom(m)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, (EncodeError, DecodeError)):  # DecodeError: a lazily converted JSON value
                raise
            raise EncodeError(str(exc), path=path) from None

    def _write_one_msg(self, msg: Any, value: Any, path: str, in_place: bool) -> None:
        kind = self.kind
        if kind is not None:
            msg.Clear()
            assert kind.set is not None
            kind.set(msg, value, path)
            msg.SetInParent()
            return
        cls = self.cls
        assert cls is not None
        code = self.kind_code
        if code == "m":
            if not isinstance(value, cls):
                raise EncodeError(f"expected {cls.__name__}, got {type(value).__name__}", path=path)
            if in_place and value._pb is msg:
                value._sync(path)
                return
            value._write_into(msg, path)
            return
        msg.Clear()
        if code == "orbool":
            if isinstance(value, bool):
                msg.allows = value
            elif isinstance(value, cls):
                msg.allows = True
                value._write_into(msg.schema, path)
            else:
                raise EncodeError(f"expected a bool or {cls.__name__}", path=path)
        elif code == "orarray":
            if isinstance(value, cls):
                value._write_into(msg.schema, path)
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    if not isinstance(v, cls):
                        raise EncodeError(f"expected {cls.__name__}", path=f"{path}[{i}]")
                    v._write_into(msg.jSONSchemas.add(), f"{path}[{i}]")
            else:
                raise EncodeError(f"expected {cls.__name__} or a list of them", path=path)
        else:
            if isinstance(value, cls):
                value._write_into(msg.schema, path)
            elif isinstance(value, list):
                msg.property.extend(_tojs_strings(value, path))
            else:
                raise EncodeError(f"expected {cls.__name__} or a list of strings", path=path)
        msg.SetInParent()


_ELEMENT_CLASSES: dict[tuple[str, str, bool], Any] = {}


def _element_class(pb: Any, name: str, map_value: bool = False) -> Any:
    """The message class of a repeated field's elements (or a map field's values)."""
    key = (pb.DESCRIPTOR.full_name, name, map_value)
    cls = _ELEMENT_CLASSES.get(key)
    if cls is None:
        desc = pb.DESCRIPTOR.fields_by_name[name].message_type
        if map_value:
            desc = desc.fields_by_name["value"].message_type
        cls = _ELEMENT_CLASSES[key] = message_factory.GetMessageClass(desc)
    return cls


def _detach(msg: Any) -> Any:
    copy = type(msg)()
    copy.CopyFrom(msg)
    return copy


def _need_dict(v: Any, path: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _bad(path, "an object", v)
    return v


class _OwnField(Field):
    """A single model or scalar field of the message itself (no inlined parent): the commonest shapes.

    Its ``__get__`` converts a protobuf value inline, as ``from_pb`` would, in one Python frame: these
    are the fields a watch or list consumer reads on every object.
    """

    __slots__ = ()

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return None
        pb = obj._pb
        if pb is None:
            src = obj._json
            v = src.get(self.key) if src is not None else None
            value = None if v is None else self.json_of(v, obj)
        elif self.kind_code == "m":
            if pb.HasField(self.leaf):
                value = object.__new__(self.cls)  # type: ignore[arg-type]  # _model_from_pb, inline
                value._pb = getattr(pb, self.leaf)
            else:
                value = None
        else:
            value = getattr(pb, self.leaf)
            if value.__class__ is bytes and self.utf8:
                value = self.from_pb(pb)  # raises the located error
            elif not value and (self.omit_zero or not pb.HasField(self.leaf)):
                value = None
        _setattr(obj, self.attr, value)  # kept in the instance: __dict__ would build a dict object
        return value


class DefaultField(Field):
    """A field of a JSON-only model (a custom resource) whose value, when its key is absent, is a default."""

    __slots__ = ("factory",)

    def __init__(self, attr: str, key: str, kind: str, container: str, factory: Callable[[], Any]) -> None:
        super().__init__(attr, key, (key,), kind, container)
        self.factory = factory

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return None
        src = obj._json  # JSON-only: no protobuf source
        v = src.get(self.key, _MISSING) if src is not None else None
        value = self.factory() if v is _MISSING else None if v is None else self.json_of(v, obj)
        _setattr(obj, self.attr, value)
        return value

    def peek_source(self, obj: Model) -> Any:
        raw = obj._json
        if raw is not None and self.key not in raw:
            return self.factory()
        return super().peek_source(obj)


def json_field(attr: str, key: str, kind: str | Kind, container: str = "", cls: type[Model] | None = None, *,
               factory: Callable[[], Any] | None = None) -> Field:
    """A field of a JSON-only model: ``kind`` a code of :data:`KINDS`, ``"m"`` with ``cls``, or a Kind."""
    code = kind if isinstance(kind, str) else "custom"
    f = (_field(attr, key, (key,), code, container, None) if factory is None
         else DefaultField(attr, key, code, container, factory))
    if isinstance(kind, Kind):
        f.kind = kind
        f.utf8 = False
    f.cls = cls
    return f


def json_model(cls: type[M], fields: Iterable[Field]) -> type[M]:
    """Install JSON-only fields on ``cls`` (no protobuf message behind it: custom resources)."""
    fields = tuple(fields)
    for f in fields:
        f.owner = cls
        setattr(cls, f.attr, f)
    cls._schema = MessageSchema(f"{cls.__module__}.{cls.__qualname__}", fields)
    cls._json_only = True
    return cls


def _field(attr: str, key: str, path: tuple[str, ...], kind: str, container: str, ref: str | None) -> Field:
    """The Field for one spec: a specialised one for the commonest shapes."""
    if len(path) == 1 and container == "" and (kind == "m" or (kind in KINDS and not KINDS[kind].msg)):
        return _OwnField(attr, key, path, kind, container, ref)
    return Field(attr, key, path, kind, container, ref)


class MessageSchema:
    """Everything the runtime knows about one model class."""

    __slots__ = ("by_attr", "by_key", "by_number", "fields", "full_name", "inline", "keys", "pb_class")

    def __init__(self, full_name: str, fields: tuple[Field, ...]) -> None:
        self.full_name = full_name
        self.fields = fields
        self.by_attr = {f.attr: f for f in fields}
        self.by_key = {f.key: f for f in fields}
        self.keys = frozenset(self.by_key)
        # top-level proto field name -> fields reached through it (an inline parent has many)
        self.inline = sorted({f.prefix for f in fields if f.prefix}, key=len)
        self.by_number: dict[int, Any] = {}
        self.pb_class: Any = None


def pb_to_json(pb: Any, schema: MessageSchema, path: str) -> dict[str, Any]:
    """Kubernetes JSON for a whole protobuf message, reading only the fields present on the wire."""
    by_number = schema.by_number
    out: dict[str, Any] = {}
    for fd, value in pb.ListFields():
        entry = by_number.get(fd.number)
        if entry is None:
            continue
        if isinstance(entry, Field):
            if not value and entry.omit_zero:
                continue  # Go's zero of a field it omits when empty
            try:
                out[entry.key] = entry.pb_value_to_json(value, path)
            except (ValueError, OverflowError) as exc:  # corrupt input: see _located
                owner = entry.owner.__name__ if entry.owner is not None else schema.full_name
                raise _located(exc, f"{owner}.{entry.key}", kind=path) from None
        else:  # an inlined message: its keys are flattened into this object
            out.update(pb_to_json(value, entry, path))
    return out


# ---------------------------------------------------------------------------------------------------------
# The model base class


@dataclass_transform(kw_only_default=True, eq_default=True)
def model_class(cls: type[M]) -> type[M]:
    """Make a generated class a dataclass (for ``dataclasses.fields``, ``replace``, type checkers).

    Its ``__init__`` and ``__eq__`` are :class:`Model`'s, written once: generating them per class (as
    ``@dataclass`` does) was half the time of importing a group-version module.
    """
    return dataclasses.dataclass(init=False, eq=False, repr=False, kw_only=True, match_args=False)(cls)


class Model:
    """Base class of every generated Kubernetes model (a dataclass)."""

    _schema: ClassVar[MessageSchema]
    _json_only: ClassVar[bool] = False
    """No protobuf message behind the class (custom resources): JSON and YAML only."""
    _dynamic: ClassVar[bool] = False
    """The kind is per object, not per class (DynamicObject): the codec builds it with ``_from_document``."""
    _pb: Any = None
    _json: dict[str, Any] | None = None
    _path: str = ""

    def __init__(self, **fields: Any) -> None:
        """Build an object by hand: every field a keyword argument (unset fields read as None)."""
        by_attr = self._schema.by_attr
        for name in fields:
            if name not in by_attr:
                raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument {name!r}")
        self.__dict__.update(fields)

    def __eq__(self, other: object) -> bool:
        """Equal when of the same class with equal fields (as a dataclass compares)."""
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f.attr) == getattr(other, f.attr) for f in self._schema.fields)

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq

    # construction from sources ----------------------------------------------------------------------

    @classmethod
    def _wrap(cls: type[M], pb: Any) -> M:
        obj = object.__new__(cls)
        obj._pb = pb
        return obj

    @classmethod
    def _from_json_dict(cls: type[M], raw: dict[str, Any], path: str) -> M:
        obj = object.__new__(cls)
        obj._json = raw
        obj._path = path
        return obj

    @classmethod
    def _pb_class(cls) -> Any:
        schema = cls._schema
        if cls._json_only:
            raise EncodeError(f"{cls.__name__} has no protobuf form: custom resources are JSON or YAML only",
                              kind=getattr(cls, "kind", None) or None)
        if schema.pb_class is None:
            schema.pb_class = message_factory.GetMessageClass(POOL.FindMessageTypeByName(schema.full_name))
        return schema.pb_class

    @classmethod
    def from_pb_bytes(cls: type[M], data: bytes) -> M:
        """Decode this message from bare protobuf bytes (no envelope)."""
        from google.protobuf.message import DecodeError as PbDecodeError

        try:
            return cls._wrap(cls._pb_class().FromString(data))
        except PbDecodeError as exc:
            raise DecodeError(f"invalid protobuf for {cls.__name__}: {exc}") from None

    @classmethod
    def from_dict(cls: type[M], data: dict[str, Any]) -> M:
        """Build a model from a Kubernetes-JSON-shaped dict (a manifest, another client's object).

        The dict is validated and copied; later changes to it do not affect the model.
        """
        name = getattr(cls, "kind", cls.__name__)
        if not isinstance(data, dict):
            raise DecodeError(f"expected an object, got {type(data).__name__}", kind=name)
        checked = cls._check_type_meta(data)
        try:
            normalized = _normalize(checked, cls._schema, name)
        except EncodeError as exc:  # a value from_json accepted but cannot be written (raw bytes ...)
            raise DecodeError(exc.args[0]) from None
        except RecursionError:
            raise DecodeError("nested too deeply", kind=name) from None
        obj = cls._from_json_dict(normalized, name)
        api_version = data.get("apiVersion")
        if api_version and getattr(cls, "api_version", api_version) != api_version:
            obj.__dict__["_api_version"] = api_version
        return obj

    @classmethod
    def _check_type_meta(cls, data: dict[str, Any]) -> dict[str, Any]:
        kind = getattr(cls, "kind", None)
        if kind is None:
            return data
        got = data.get("kind")
        if got is not None and got != kind:
            raise DecodeError(f"kind {got!r} does not match the model class {cls.__name__}", kind=kind)
        api_version = data.get("apiVersion")
        if api_version not in (None, "") and api_version != getattr(cls, "api_version", api_version):
            from k8spb._registry import check_api_version  # the registry sits above models

            check_api_version(cls, api_version)
        return data

    # conversion out ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The object as a Kubernetes-JSON-shaped dict (apiVersion and kind first for top-level kinds)."""
        kind = getattr(type(self), "kind", None)
        try:
            body = self._to_json(kind or type(self).__name__)
        except RecursionError:
            raise EncodeError("nested too deeply to convert", kind=kind or type(self).__name__) from None
        if kind is None:
            return body
        head = {"apiVersion": self.__dict__.get("_api_version") or type(self).api_version,  # type: ignore[attr-defined]
                "kind": kind}
        head.update(body)
        return head

    def _materialized(self) -> dict[str, Any]:
        d = self.__dict__
        by_attr = self._schema.by_attr
        return {k: v for k, v in d.items() if k in by_attr}

    def _to_json(self, path: str) -> dict[str, Any]:
        schema = self._schema
        pb = self._pb
        done = self._materialized()
        if pb is not None:
            if not done:
                return pb_to_json(pb, schema, path)
            out = pb_to_json(pb, schema, path)
            for attr, value in done.items():
                f = schema.by_attr[attr]
                if value is not None:
                    out[f.key] = f.to_json(value, f"{path}.{f.key}")
                elif f.from_pb(pb) is not None:  # set to None (a zero Time read as None stays null)
                    out.pop(f.key, None)
            return out
        raw = self._json
        if raw is not None:
            out = {}
            by_key = schema.by_key
            for key, v in raw.items():
                known = by_key.get(key)
                if known is None:  # unknown key: carried through untouched
                    out[key] = parse_raw(v, f"{path}.{key}") if v.__class__ is Raw else _json_copy(v)
                elif known.attr in done:
                    value = done[known.attr]
                    if value is not None:
                        out[key] = known.to_json(value, f"{path}.{key}")
                    elif v is None or v == _RAW_NULL:
                        out[key] = None  # read as None, not changed: the explicit null stays
                else:  # an explicit null stays explicit
                    value = None if v is None else known.from_json(v, f"{path}.{key}")
                    out[key] = None if value is None else known.to_json(value, f"{path}.{key}")
            for attr, value in done.items():
                f = schema.by_attr[attr]
                if value is not None and f.key not in raw:
                    out[f.key] = f.to_json(value, f"{path}.{f.key}")
            return out
        out = {}
        for f in schema.fields:
            value = getattr(self, f.attr)
            if value is not None:
                out[f.key] = f.to_json(value, f"{path}.{f.key}")
        return out

    def _synced_pb(self, path: str | None = None) -> Any:
        """A protobuf message equal to this object; for decoded objects, the source message itself."""
        if path is None:
            path = getattr(type(self), "kind", type(self).__name__)
        pb = self._pb
        if pb is not None:
            self._sync(path)
            return pb
        msg = self._pb_class()()
        self._write_into(msg, path)
        return msg

    def _sync(self, path: str) -> None:
        """Write materialised values back into the source message (in place)."""
        done = self._materialized()
        if not done:
            return
        by_attr = self._schema.by_attr
        pb = self._pb
        for attr, value in done.items():
            f = by_attr[attr]
            # Leave a field alone while it holds what was read from it, so reading never changes the
            # bytes: None (absent, or a zero Time / empty RawExtension on the wire) and the special
            # types, which convert lossily (Time nanos, RawExtension JSON spacing, IntOrString fields).
            if (value is None or (f.kind is not None and f.kind.msg)) and f.holds(pb, value):
                continue
            f.write_pb(pb, value, f"{path}.{f.key}", in_place=True)

    def _write_into(self, msg: Any, path: str) -> None:
        """Fill the (empty or stale) message ``msg`` from this object."""
        pb = self._pb
        if pb is not None:
            self._sync(path)
            if msg is not pb:
                msg.CopyFrom(pb)
            return
        msg.Clear()
        schema = self._schema
        raw = self._json
        if raw is not None:
            unknown = [k for k in raw if k not in schema.keys]
            if unknown and getattr(type(self), "kind", None):  # a kind's apiVersion/kind go in the envelope
                unknown = [k for k in unknown if k not in ("apiVersion", "kind")]
            if unknown:
                raise EncodeError(f"field {unknown[0]!r} is not part of {type(self).__name__} "
                                  "and cannot be written as protobuf", path=path)
        for prefix in schema.inline:  # Go always writes embedded structs
            target = msg
            for name in prefix:
                target = getattr(target, name)
            target.SetInParent()
        d = self.__dict__
        for f in schema.fields:
            value = d.get(f.attr, _MISSING)
            if value is _MISSING:
                value = f.peek_source(self)
            if value is not None or f.omit_zero:
                f.write_pb(msg, value, f"{path}.{f.key}")

    # dunder protocol ----------------------------------------------------------------------------------

    def __repr__(self) -> str:
        parts = []
        for f in self._schema.fields:
            value = getattr(self, f.attr)
            if value is not None:
                parts.append(f"{f.attr}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __copy__(self) -> Any:
        obj = object.__new__(type(self))
        d = obj.__dict__
        d.update(self.__dict__)
        if self._pb is not None:
            d["_pb"] = _detach(self._pb)
        return obj

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        import copy

        obj = object.__new__(type(self))
        memo[id(self)] = obj
        for k, v in self.__dict__.items():
            if k == "_pb":
                obj.__dict__[k] = _detach(v)
            elif k == "_json":
                obj.__dict__[k] = v  # never mutated in place
            else:
                obj.__dict__[k] = copy.deepcopy(v, memo)
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        # The instance state as it is (source, values read or set), with the protobuf source as bytes:
        # exact for every source, keeps unknown protobuf fields, and needs no conversion to JSON.
        state = dict(self.__dict__)
        pb = state.get("_pb")
        if pb is not None:
            state["_pb"] = pb.SerializeToString()
        return (_unpickle_state, (type(self).__module__, type(self).__qualname__, state))


def _unpickle(module: str, qualname: str, data: dict[str, Any]) -> Model:
    """Objects pickled as Kubernetes JSON (by earlier versions)."""
    import importlib

    cls = getattr(importlib.import_module(module), qualname)
    result: Model = cls.from_dict(data)
    return result


def _unpickle_state(module: str, qualname: str, state: dict[str, Any]) -> Model:
    import importlib

    cls = getattr(importlib.import_module(module), qualname)
    obj: Model = object.__new__(cls)
    pb = state.get("_pb")
    if pb is not None:
        state["_pb"] = cls._pb_class().FromString(pb)
    obj.__dict__.update(state)
    return obj


def _normalize(raw: dict[str, Any], schema: MessageSchema, path: str) -> dict[str, Any]:
    """Validate a JSON object against a schema and return a private copy of it."""
    out: dict[str, Any] = {}
    by_key = schema.by_key
    for key, v in raw.items():
        f = by_key.get(key)
        if f is None or v is None:
            if not isinstance(key, str):
                raise DecodeError(f"object keys must be strings, got {key!r}", path=path)
            out[key] = _json_copy(v)
            continue
        out[key] = f.to_json(f.from_json(v, f"{path}.{key}"), f"{path}.{key}")
    return out


# ---------------------------------------------------------------------------------------------------------
# Hooks for generated code

FieldSpec = tuple[Any, ...]


def model(full_name: str, specs: Iterable[FieldSpec]) -> Callable[[type[M]], type[M]]:
    """Class decorator the generated code applies on top of ``@dataclass``.

    ``specs`` holds one ``(attr, json_key, proto_path, kind, container, ref)`` tuple per field.
    """

    def decorate(cls: type[M]) -> type[M]:
        fields = tuple(_field(a, k, tuple(p.split(".")), kind, cont, ref) for a, k, p, kind, cont, ref in specs)
        omit = OMIT_ZERO.get(full_name, ())
        for f in fields:
            f.owner = cls
            f.omit_zero = f.key in omit
            setattr(cls, f.attr, f)
        cls._schema = MessageSchema(full_name, fields)
        CLASSES[full_name] = cls
        return cls

    return decorate


def resolve_module(names: Iterable[str]) -> None:
    """Link the fields of the given (just defined) classes to their model types and proto numbers."""
    for full_name in names:
        cls = CLASSES[full_name]
        schema = cls._schema
        desc = POOL.FindMessageTypeByName(full_name)
        for f in schema.fields:
            if f.ref is not None:
                f.cls = CLASSES[f.ref]
            if f.prefix:
                continue
            f.number = desc.fields_by_name[f.leaf].number
            schema.by_number[f.number] = f
        # inlined parents: one sub-schema per embedded message, keyed by its field number
        for prefix in schema.inline:
            if len(prefix) != 1:
                continue
            schema.by_number[desc.fields_by_name[prefix[0]].number] = _inline_schema(schema, prefix, desc)


def _inline_schema(schema: MessageSchema, prefix: tuple[str, ...], desc: Any) -> MessageSchema:
    sub_desc = desc.fields_by_name[prefix[-1]].message_type
    depth = len(prefix)
    members = [f for f in schema.fields if f.prefix[:depth] == prefix]
    sub = MessageSchema(sub_desc.full_name, ())
    for f in members:
        if len(f.prefix) == depth:
            sub.by_number[sub_desc.fields_by_name[f.leaf].number] = f
    for deeper in {f.prefix[: depth + 1] for f in members if len(f.prefix) > depth}:
        sub.by_number[sub_desc.fields_by_name[deeper[-1]].number] = _inline_schema(schema, deeper, sub_desc)
    return sub
