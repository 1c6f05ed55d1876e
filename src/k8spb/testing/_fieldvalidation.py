"""Unknown fields in a request body, and ``fieldValidation`` (Ignore, Warn, Strict) as kube-apiserver applies it.

kube decodes a JSON or YAML body strictly when asked to: an unknown field is an error under
``Strict`` (``strict decoding error: unknown field "spec.foo"``), a ``Warning`` header under ``Warn``
(the default) and silently dropped under ``Ignore``.  Paths are written as kube writes them
(``spec.template.spec.containers[0].foo``).  A server-side apply configuration is checked against
the schema whatever ``fieldValidation`` says (``.spec.foo: field not declared in schema``).
"""

from __future__ import annotations

from typing import Any

from k8spb._schema import Model
from k8spb.testing._resources import ApiError

__all__ = ["FIELD_VALIDATION", "check_field_validation", "strip_unknown", "unknown_field_error"]

FIELD_VALIDATION = ("Ignore", "Warn", "Strict")


def check_field_validation(value: str, options_kind: str) -> str:
    """The directive of a request's ``fieldValidation`` parameter (Warn when absent); 422 as kube validates
    its ``options_kind`` (CreateOptions, UpdateOptions, PatchOptions) otherwise."""
    if not value:
        return "Warn"
    if value not in FIELD_VALIDATION:
        raise ApiError(422, "Invalid", f'{options_kind}.meta.k8s.io "" is invalid: fieldValidation: Unsupported '
                       f'value: "{value}": supported values: "", "Ignore", "Strict", "Warn"')
    return value


def strip_unknown(cls: type[Model], doc: dict[str, Any], *, apply: bool = False) -> tuple[dict[str, Any], list[str]]:
    """``doc`` without the fields ``cls`` does not have (a copy, where anything was dropped), and their
    paths: kube's strict-decoding paths, or with ``apply`` the structured-merge-diff ones (``.spec.foo``)."""
    unknown: list[str] = []
    clean = _walk(cls, doc, "." if apply else "", unknown, apply)
    return clean, unknown


def _join(path: str, key: str, apply: bool) -> str:
    if apply:
        return f"{path}{key}" if path.endswith(".") else f"{path}.{key}"
    return f"{path}.{key}" if path else key


def _walk(cls: type[Model], doc: dict[str, Any], path: str, unknown: list[str], apply: bool) -> dict[str, Any]:
    by_key = cls._schema.by_key
    out: dict[str, Any] | None = None
    for key, value in doc.items():
        here = _join(path, key, apply)
        f = by_key.get(key)
        if f is None:
            if key in ("apiVersion", "kind") and not path.strip("."):
                continue
            unknown.append(here)
            if out is None:
                out = {k: v for k, v in doc.items()}
            del out[key]
            continue
        if f.kind_code != "m" or f.cls is None or value is None:  # scalars, and RawExtension & co: any JSON
            continue
        child = f.cls
        new: Any = value
        if not f.container and isinstance(value, dict):
            new = _walk(child, value, here, unknown, apply)
        elif f.container == "l" and isinstance(value, list):
            items = [_walk(child, item, _item_path(here, i, item, apply), unknown, apply)
                     if isinstance(item, dict) else item for i, item in enumerate(value)]
            new = value if all(a is b for a, b in zip(items, value, strict=True)) else items
        elif f.container == "m" and isinstance(value, dict):
            entries = {k: _walk(child, v, f"{here}[{k}]", unknown, apply) if isinstance(v, dict) else v
                       for k, v in value.items()}
            new = value if all(entries[k] is value[k] for k in value) else entries
        if new is not value:
            if out is None:
                out = {k: v for k, v in doc.items()}
            out[key] = new
    return doc if out is None else out


def _item_path(path: str, index: int, item: dict[str, Any], apply: bool) -> str:
    if apply and isinstance(item.get("name"), str):
        return f'{path}[name="{item["name"]}"]'
    return f"{path}[{index}]"


def unknown_field_error(unknown: list[str]) -> ApiError:
    """The 400 of ``fieldValidation=Strict``."""
    return ApiError.bad_request("strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown))
