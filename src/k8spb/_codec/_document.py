"""Kubernetes JSON and YAML documents <-> models."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import msgspec

from k8spb._errors import DecodeError, EncodeError, Error
from k8spb._registry import builtin_group_version, check_api_version, class_for
from k8spb._schema import Model, Raw, parse_raw

__all__ = ["dump_json", "dump_yaml", "load_json", "load_yaml_documents", "model_from_document", "parse_json",
           "type_meta"]

_OBJECT = msgspec.json.Decoder(dict[str, Raw])
_Unset = msgspec.UnsetType


class _ListDocument(msgspec.Struct, forbid_unknown_fields=True):
    """A list's four keys, its items split into their keys in the same scan (see parse_json)."""

    apiVersion: str | _Unset | None = msgspec.UNSET
    kind: str | _Unset | None = msgspec.UNSET
    metadata: dict[str, Raw] | _Unset | None = msgspec.UNSET
    items: list[dict[str, Raw] | None] | _Unset | None = msgspec.UNSET


_LIST = msgspec.json.Decoder(_ListDocument)
_LIST_KEYS = tuple(_ListDocument.__struct_fields__)

@cache
def _yaml() -> tuple[Any, Any, Any]:
    """PyYAML, its loader (safe, timestamps left as strings, as Kubernetes' YAML-to-JSON step does) and
    dumper: imported on first use, so that importing k8spb does not pay for it."""
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader: Any = type("KubeLoader", (base,), {})
    loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    return yaml, loader, getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")  # Python's json accepts NaN and Infinity; JSON does not


def load_json(data: bytes) -> Any:
    try:
        return json.loads(data, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise DecodeError(f"JSON is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # NaN, integers beyond Python's digit limit
        raise DecodeError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise DecodeError("invalid JSON: nested too deeply") from None


def parse_json(data: bytes, *, listing: bool = False) -> Any:
    """A JSON document for a model: an object's values stay encoded (``Raw``) until a field is read.

    The whole payload is checked here (syntax by the scan, UTF-8 up front); what only parsing a value
    finds (a number out of range) surfaces where that value is read. Anything but an object, or what
    the scan refuses, goes through :func:`load_json` (its value, or its located message). ``listing``:
    the document is a list, whose items are split into their keys in the same scan when it has the
    four keys of a list and no other.
    """
    if not data.isascii():
        try:
            data.decode()
        except UnicodeDecodeError as exc:
            raise DecodeError(f"JSON is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    if listing:
        try:
            doc = _LIST.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            pass  # another shape: the general way below
        else:
            return {k: v for k in _LIST_KEYS if (v := getattr(doc, k)) is not msgspec.UNSET}
    try:
        return _OBJECT.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return load_json(data)


def load_yaml_documents(data: bytes) -> list[Any]:
    """Every non-empty document of a (possibly multi-document) YAML stream."""
    yaml, loader, _ = _yaml()
    try:
        docs = [d for d in yaml.load_all(data, Loader=loader) if d is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise DecodeError(f"invalid YAML: {exc.problem}{where}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DecodeError(f"invalid YAML: {exc}") from None
    except (ValueError, OverflowError, TypeError) as exc:  # e.g. integers beyond Python's digit limit
        raise DecodeError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise DecodeError("invalid YAML: nested too deeply") from None
    if b"&" in data and b"*" in data:  # anchors and aliases: the document is a graph, not a tree
        for doc in docs:
            _check_aliases(doc, 100_000 + 10 * len(data))
    return docs


def _check_aliases(doc: Any, budget: int) -> None:
    """Refuse alias cycles and alias bombs: every later step walks the document as a tree."""
    stack: list[tuple[Any, bool]] = [(doc, False)] if isinstance(doc, (dict, list)) else []
    open_: set[int] = set()  # containers on the path from the root to the current node
    size = 0
    while stack:
        node, leaving = stack.pop()
        if leaving:
            open_.discard(id(node))
            continue
        if id(node) in open_:
            raise DecodeError("invalid YAML: an alias refers to a node that contains it")
        size += len(node)
        if size > budget:
            raise DecodeError(f"invalid YAML: aliases expand the document beyond {budget} values")
        open_.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in (node.values() if isinstance(node, dict) else node)
                     if isinstance(c, (dict, list)))


def type_meta(doc: dict[str, Any], key: str) -> Any:
    """``apiVersion`` or ``kind`` of a document (parsed if still encoded)."""
    value = doc.get(key)
    return parse_raw(value, key) if value.__class__ is Raw else value


def model_from_document(doc: Any, what: str, into: type[Model] | None = None, origin: str = "", *,
                        dynamic: bool = False) -> Model:
    """The model for one decoded JSON/YAML document; ``origin`` (a request) is named in later errors.

    ``dynamic``: a kind of a group-version Kubernetes does not serve (a custom resource k8spb has no
    class for) becomes a DynamicObject instead of a DecodeError.
    """
    if not isinstance(doc, dict):
        raise DecodeError(f"{what} document is not an object but {type(doc).__name__}")
    for key in doc:
        if not isinstance(key, str):
            raise DecodeError(f"{what} object keys must be strings, got {key!r}")
    if into is not None and into._dynamic:
        dynamic_obj: Model = into._from_document(doc, what, origin)  # type: ignore[attr-defined]
        return dynamic_obj
    api_version, kind = type_meta(doc, "apiVersion"), type_meta(doc, "kind")
    if into is not None and (kind is None or kind == getattr(into, "kind", None)):
        cls = into
        if api_version not in (None, ""):
            check_api_version(cls, api_version)
    else:
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise DecodeError(f"{what} object needs string apiVersion and kind fields "
                              f"(got apiVersion={api_version!r}, kind={kind!r})")
        try:
            cls = class_for(api_version, kind)
        except DecodeError:
            if not dynamic or not api_version or not kind or builtin_group_version(api_version):
                raise
            from k8spb._codec._unstructured import DynamicObject

            return DynamicObject._from_document(doc, what, origin)
        if into is not None and cls is not into:
            raise DecodeError(f"payload is {api_version}/{kind}, expected {into.__name__}", kind=kind)
    name = getattr(cls, "kind", cls.__name__)
    obj = cls._from_json_dict(doc, f"{origin}: {name}" if origin else name)
    if isinstance(api_version, str) and api_version != getattr(cls, "api_version", api_version):
        obj.__dict__["_api_version"] = api_version
    return obj


def dump_json(obj: Model) -> bytes:
    doc = obj.to_dict()
    try:
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, Error):
            raise
        raise EncodeError(f"cannot write JSON: {exc}", kind=getattr(obj, "kind", None)) from None


def dump_yaml(obj: Model) -> bytes:
    doc = obj.to_dict()
    yaml, _, dumper = _yaml()
    try:
        text: str = yaml.dump(doc, Dumper=dumper, sort_keys=True, allow_unicode=True, default_flow_style=False)
        return text.encode()
    except (yaml.YAMLError, TypeError, ValueError, RecursionError) as exc:  # surrogates, mixed key types
        raise EncodeError(f"cannot write YAML: {exc}", kind=getattr(obj, "kind", None)) from None
