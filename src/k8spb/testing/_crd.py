"""CustomResourceDefinitions: the resource types a CRD serves, its status, and custom objects' storage form.

Custom objects are stored as Kubernetes JSON, unpruned; their ``metadata`` goes through the typed
``ObjectMeta`` (as kube-apiserver decodes it).  CRDs are served JSON/YAML only (wire doc §1.4).
"""

from __future__ import annotations

from typing import Any

from k8spb._errors import DecodeError, EncodeError
from k8spb._schema import _json_copy
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta
from k8spb.testing._modelschema import schema_for
from k8spb.testing._patch import PatchSchema
from k8spb.testing._resources import ApiError, ResourceType

__all__ = ["CRD_KEY", "CustomSchema", "crd_status", "crd_types", "normalize_custom", "validate_crd"]

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def _names(crd: dict[str, Any]) -> dict[str, Any]:
    names = (crd.get("spec") or {}).get("names") or {}
    return names if isinstance(names, dict) else {}


def validate_crd(crd: dict[str, Any], rt: ResourceType) -> None:
    """The checks of apiextensions validation that matter for serving: 422 Invalid otherwise."""
    spec = crd.get("spec") or {}
    names = _names(crd)
    name = (crd.get("metadata") or {}).get("name", "")
    causes: list[tuple[str, str, str]] = []
    group, plural = spec.get("group") or "", names.get("plural") or ""
    if not group or "." not in group:
        causes.append(("FieldValueInvalid", "spec.group", f'Invalid value: "{group}": should be a domain with at '
                       "least one dot"))
    if not plural:
        causes.append(("FieldValueRequired", "spec.names.plural", "Required value"))
    if not names.get("kind"):
        causes.append(("FieldValueRequired", "spec.names.kind", "Required value"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(("FieldValueNotSupported", "spec.scope", f'Unsupported value: "{spec.get("scope", "")}": '
                       'supported values: "Cluster", "Namespaced"'))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(("FieldValueRequired", "spec.versions", "Required value: must have exactly one version "
                       "marked as storage version"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(("FieldValueInvalid", "spec.versions", "Invalid value: must have exactly one version "
                       "marked as storage version"))
    if plural and group and name != f"{plural}.{group}":
        causes.append(("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": must be spec.names.plural+'
                       '"."+spec.group'))
    if causes:
        raise ApiError.invalid(rt, name, causes)


def crd_status(crd: dict[str, Any]) -> dict[str, Any]:
    """The status the apiextensions controllers settle on: names accepted, Established."""
    from k8spb.testing._store import now_rfc3339

    now = now_rfc3339()
    versions = (crd.get("spec") or {}).get("versions") or []
    storage = [v.get("name", "") for v in versions if v.get("storage")]
    conditions = [{"type": t, "status": "True", "lastTransitionTime": now, "reason": r, "message": m}
                  for t, r, m in (("NamesAccepted", "NoConflicts", "no conflicts found"),
                                  ("Established", "InitialNamesAccepted", "the initial names have been accepted"))]
    return {"conditions": conditions, "acceptedNames": _json_copy(_names(crd)), "storedVersions": storage}


def crd_types(crd: dict[str, Any]) -> list[ResourceType]:
    """One resource type per served version of a CRD."""
    spec = crd.get("spec") or {}
    names = _names(crd)
    out = []
    for ver in spec.get("versions") or []:
        if not ver.get("served"):
            continue
        subs = tuple(s for s in ("status",) if s in (ver.get("subresources") or {}))
        out.append(ResourceType(
            spec["group"], ver["name"], names["plural"], names["kind"], "", "", spec.get("scope") == "Namespaced",
            _VERBS, subs, tuple(names.get("shortNames") or ()), custom=True,
            singular=names.get("singular") or names["kind"].lower(), categories=tuple(names.get("categories") or ())))
    return out


def normalize_custom(rt: ResourceType, doc: dict[str, Any]) -> dict[str, Any]:
    """A custom object as stored: a JSON copy with typed metadata, apiVersion and kind set."""
    if not isinstance(doc, dict):
        raise ApiError.bad_request("the object must be a JSON object")
    out: dict[str, Any] = _json_copy(doc)
    meta = out.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise ApiError.bad_request(f"error decoding {rt.kind}: metadata must be an object")
    try:
        out["metadata"] = ObjectMeta.from_dict(meta or {}).to_dict()
    except (DecodeError, EncodeError, TypeError, ValueError) as exc:
        raise ApiError.bad_request(f"error decoding {rt.kind}: {exc}") from None
    out["apiVersion"] = rt.api_version
    out["kind"] = rt.kind
    return out


class CustomSchema:
    """The patch/field-set schema of a custom object: typed metadata, everything else deduced."""

    patch_strategy = None
    patch_merge_key = None
    list_type = None
    list_map_keys: tuple[str, ...] = ()
    map_type = None
    default = None

    def child(self, field_name: str) -> PatchSchema | None:
        if field_name == "metadata":
            return schema_for(ObjectMeta)
        return None

    def items(self) -> PatchSchema | None:
        return None
