"""Kubernetes JSON and YAML documents <-> models."""

from __future__ import annotations

import json
from typing import Any

import yaml

from k8spb._errors import DecodeError, EncodeError
from k8spb._registry import class_for
from k8spb._schema import Model

__all__ = ["dump_json", "dump_yaml", "load_json", "load_yaml_documents", "model_from_document"]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _KubeLoader(_Loader):  # type: ignore[misc]
    """Safe YAML that leaves timestamps as strings, as Kubernetes' YAML-to-JSON step does."""


_KubeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}


def load_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise DecodeError(f"JSON is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise DecodeError("invalid JSON: nested too deeply") from None


def load_yaml_documents(data: bytes) -> list[Any]:
    """Every non-empty document of a (possibly multi-document) YAML stream."""
    try:
        return [d for d in yaml.load_all(data, Loader=_KubeLoader) if d is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise DecodeError(f"invalid YAML: {exc.problem}{where}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DecodeError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise DecodeError("invalid YAML: nested too deeply") from None


def model_from_document(doc: Any, what: str, into: type[Model] | None = None) -> Model:
    """The model for one decoded JSON/YAML document."""
    if not isinstance(doc, dict):
        raise DecodeError(f"{what} document is not an object but {type(doc).__name__}")
    for key in doc:
        if not isinstance(key, str):
            raise DecodeError(f"{what} object keys must be strings, got {key!r}")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if into is not None and (kind is None or kind == getattr(into, "kind", None)):
        cls = into
    else:
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise DecodeError(f"{what} object needs string apiVersion and kind fields "
                              f"(got apiVersion={api_version!r}, kind={kind!r})")
        cls = class_for(api_version, kind)
        if into is not None and cls is not into:
            raise DecodeError(f"payload is {api_version}/{kind}, expected {into.__name__}", kind=kind)
    obj = cls._from_json_dict(doc, getattr(cls, "kind", cls.__name__))
    if isinstance(api_version, str) and api_version != getattr(cls, "api_version", api_version):
        obj.__dict__["_api_version"] = api_version
    return obj


def dump_json(obj: Model) -> bytes:
    try:
        return json.dumps(obj.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        if isinstance(exc, EncodeError):
            raise
        raise EncodeError(f"cannot write JSON: {exc}", kind=getattr(obj, "kind", None)) from None


def dump_yaml(obj: Model) -> bytes:
    text: str = yaml.dump(obj.to_dict(), Dumper=_Dumper, sort_keys=True, allow_unicode=True,
                          default_flow_style=False)
    return text.encode()
