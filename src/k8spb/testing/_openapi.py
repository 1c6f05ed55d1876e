"""OpenAPI documents built from the models' field tables: v3 per group-version and v2, CRD schemas included.

Schemas are named as kube names them (``io.k8s.api.core.v1.Pod``), types come from the field tables
and the proto descriptors (int32/int64, byte strings, maps, lists), list semantics from the patch
schema (``x-kubernetes-list-type``, ``x-kubernetes-patch-merge-key``), and each served kind carries
``x-kubernetes-group-version-kind`` so that ``kubectl explain`` finds it.  Descriptions are read at run
time from the generated docstrings.  A custom resource's schema is its CRD's ``openAPIV3Schema``
with ``apiVersion``, ``kind`` and ``metadata`` added, named by the reversed group (``com.example.v1.Thing``).
Each group-version's PATCH operations list the query parameters kubectl looks for before it relies on
server-side field validation.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from k8spb._registry import KUBERNETES_VERSION
from k8spb._schema import CLASSES, Field, Model
from k8spb.testing._docs import class_doc, field_doc
from k8spb.testing._modelschema import schema_for
from k8spb.testing._resources import Resources, ResourceType

__all__ = ["openapi_v2", "openapi_v3_group_version", "openapi_v3_root", "schema_name"]

Obj = dict[str, Any]

_INTS = {5: "int32", 13: "int32", 17: "int32", 7: "int32", 15: "int32",
         3: "int64", 4: "int64", 18: "int64", 6: "int64", 16: "int64"}
_FLOATS = {1: "double", 2: "float"}
_KIND_SCHEMAS: dict[str, Obj] = {  # the wrapper types, by kind code
    "time": {"type": "string", "format": "date-time"},
    "mtime": {"type": "string", "format": "date-time"},
    "dur": {"type": "string"},
    "qty": {"type": "string"},
    "ios": {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True},
    "raw": {"type": "object"},
    "fv1": {"type": "object"},
    "json": {"x-kubernetes-preserve-unknown-fields": True},
    "strs": {"type": "array", "items": {"type": "string", "default": ""}},
    "orbool": {"x-kubernetes-preserve-unknown-fields": True},
    "orarray": {"x-kubernetes-preserve-unknown-fields": True},
    "orstrarray": {"x-kubernetes-preserve-unknown-fields": True},
}
_PATCH_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def schema_name(proto_name: str) -> str:
    """kube's OpenAPI name of a proto message (``k8s.io.api.core.v1.Pod`` -> ``io.k8s.api.core.v1.Pod``)."""
    name = proto_name.replace("_", "-")
    return "io.k8s." + name[len("k8s.io."):] if name.startswith("k8s.io.") else name


def _proto_type(cls: type[Model], field: Field) -> int:
    try:
        descriptor = cls._pb_class().DESCRIPTOR
        for part in field.prefix:
            descriptor = descriptor.fields_by_name[part].message_type
        return int(descriptor.fields_by_name[field.leaf].type)
    except (KeyError, AttributeError):
        return 0


def _scalar(cls: type[Model], field: Field) -> Obj:
    code = field.kind_code
    if code == "s":
        return {"type": "string"}
    if code == "b":
        return {"type": "boolean"}
    if code == "y":
        return {"type": "string", "format": "byte"}
    pb_type = _proto_type(cls, field)
    if code == "i":
        return {"type": "integer", "format": _INTS.get(pb_type, "int64")}
    if code == "f":
        return {"type": "number", "format": _FLOATS.get(pb_type, "double")}
    return {}


class _Builder:
    """Schemas of model classes and everything they refer to, for one document."""

    def __init__(self, v3: bool) -> None:
        self.v3 = v3
        self.schemas: dict[str, Obj] = {}
        self.gvks: dict[str, list[Obj]] = {}

    def ref(self, name: str) -> Obj:
        prefix = "#/components/schemas/" if self.v3 else "#/definitions/"
        return {"$ref": prefix + name}

    def _value(self, owner: type[Model], field: Field) -> Obj:
        """The schema of one value of a field (an item of a list or map)."""
        code = field.kind_code
        if code == "m" and field.cls is not None:
            name = self.add(field.cls)
            return {"allOf": [self.ref(name)], "default": {}} if self.v3 else self.ref(name)
        if code in _KIND_SCHEMAS:
            return copy.deepcopy(_KIND_SCHEMAS[code])
        return _scalar(owner, field)

    def _field(self, owner: type[Model], field: Field, patch: Any) -> Obj:
        value = self._value(owner, field)
        if field.container == "l":
            out: Obj = {"type": "array", "items": value}
            child = patch.child(field.key) if patch is not None else None
            if child is not None:
                list_type = child.list_type or "atomic"
                out["x-kubernetes-list-type"] = list_type
                if child.list_map_keys:
                    out["x-kubernetes-list-map-keys"] = list(child.list_map_keys)
                if child.patch_strategy:
                    out["x-kubernetes-patch-strategy"] = child.patch_strategy
                if child.patch_merge_key:
                    out["x-kubernetes-patch-merge-key"] = child.patch_merge_key
        elif field.container == "m":
            out = {"type": "object", "additionalProperties": value}
        else:
            out = value
        doc = field_doc(owner, field.key)
        if doc:
            out = {"description": doc, **out}
        return out

    def add(self, cls: type[Model]) -> str:
        """Add ``cls`` (and what it refers to); its schema name."""
        name = schema_name(cls._schema.full_name)
        if name in self.schemas:
            return name
        schema: Obj = {"type": "object"}
        self.schemas[name] = schema
        doc = class_doc(cls)
        if doc:
            schema["description"] = doc
        patch = schema_for(cls)
        props = {f.key: self._field(cls, f, patch) for f in cls._schema.fields}
        if isinstance(getattr(cls, "kind", None), str):  # TypeMeta: a kind of its own
            props["apiVersion"] = {"type": "string"}
            props["kind"] = {"type": "string"}
        props = dict(sorted(props.items()))
        if props:
            schema["properties"] = props
        return name

    def kind(self, rt: ResourceType) -> None:
        for cls, kind in ((rt.model, rt.kind), (rt.list_model, rt.kind + "List")):
            if cls is None:
                continue
            name = self.add(cls)
            gvk = {"group": rt.group, "kind": kind, "version": rt.version}
            entries = self.gvks.setdefault(name, [])
            if gvk not in entries:
                entries.append(gvk)

    def custom(self, rt: ResourceType, crd: Obj | None) -> None:
        meta = self.add(CLASSES["k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta"])
        list_meta = self.add(CLASSES["k8s.io.apimachinery.pkg.apis.meta.v1.ListMeta"])
        version: Obj = next((v for v in ((crd or {}).get("spec") or {}).get("versions") or ()
                             if v.get("name") == rt.version), {})
        schema = copy.deepcopy(((version.get("schema") or {}).get("openAPIV3Schema")) or {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True})
        props = schema.setdefault("properties", {})
        props["apiVersion"] = {"type": "string"}
        props["kind"] = {"type": "string"}
        props["metadata"] = {"allOf": [self.ref(meta)]} if self.v3 else self.ref(meta)
        name = ".".join(reversed(rt.group.split("."))) + f".{rt.version}.{rt.kind}"
        self.schemas[name] = schema
        self.gvks[name] = [{"group": rt.group, "kind": rt.kind, "version": rt.version}]
        list_name = name + "List"
        item = {"allOf": [self.ref(name)]} if self.v3 else self.ref(name)
        self.schemas[list_name] = {"type": "object", "required": ["items"], "properties": {
            "apiVersion": {"type": "string"}, "items": {"type": "array", "items": item},
            "kind": {"type": "string"}, "metadata": {"allOf": [self.ref(list_meta)]} if self.v3 else
            self.ref(list_meta)}}
        self.gvks[list_name] = [{"group": rt.group, "kind": rt.kind + "List", "version": rt.version}]

    def finish(self) -> dict[str, Obj]:
        for name, gvks in self.gvks.items():
            self.schemas[name]["x-kubernetes-group-version-kind"] = gvks
        return dict(sorted(self.schemas.items()))


def _base(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _paths(types: Iterable[ResourceType], v3: bool) -> Obj:
    """The item paths of resources that can be patched, with the PATCH parameters kubectl inspects."""
    paths: Obj = {}
    for rt in types:
        if "patch" not in rt.verbs:
            continue
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        patch_types = [t for t in _PATCH_TYPES if not (rt.custom and "strategic" in t)]
        params: list[Obj]
        if v3:
            params = [{"name": n, "in": "query", "schema": {"type": "string"}} for n in _PATCH_PARAMS]
            body: Obj = {"requestBody": {"content": {t: {"schema": {"type": "object"}} for t in patch_types}}}
        else:
            params = [{"name": n, "in": "query", "type": "string", "uniqueItems": True} for n in _PATCH_PARAMS]
            body = {"consumes": patch_types}
        paths[f"{_base(rt.group, rt.version)}{scope}/{rt.plural}/{{name}}"] = {"patch": {
            "operationId": f"patch{rt.kind}", "parameters": params, **body,
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk}}
    return paths


def _served(resources: Resources, group: str | None = None, version: str | None = None) -> list[ResourceType]:
    return [rt for (g, v, _), rt in sorted(resources.by_gvr.items())
            if (group is None or g == group) and (version is None or v == version)]


def openapi_v3_root(resources: Resources, crds: dict[str, Obj]) -> Obj:
    """``/openapi/v3``: one entry per group-version, its hash changing with the CRDs it serves."""
    paths: Obj = {}
    for group, versions in resources.group_versions.items():
        for version in versions:
            prefix = f"apis/{group}/{version}" if group else f"api/{version}"
            crd_rvs = sorted(str((c.get("metadata") or {}).get("resourceVersion", "")) for c in crds.values()
                             if (c.get("spec") or {}).get("group") == group)
            digest = hashlib.sha256(f"{KUBERNETES_VERSION}:{crd_rvs}".encode()).hexdigest()[:32].upper()
            paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={digest}"}
    return {"paths": paths}


def _schemas(types: list[ResourceType], crds: dict[str, Obj], v3: bool) -> dict[str, Obj]:
    builder = _Builder(v3)
    for rt in types:
        if rt.custom:
            builder.custom(rt, crds.get(f"{rt.plural}.{rt.group}"))
        else:
            builder.kind(rt)
    return builder.finish()


def openapi_v3_group_version(resources: Resources, group: str, version: str, crds: dict[str, Obj]) -> Obj:
    """The OpenAPI v3 document of one group-version."""
    types = _served(resources, group, version)
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": f"v{KUBERNETES_VERSION}"},
            "paths": _paths(types, v3=True), "components": {"schemas": _schemas(types, crds, v3=True)}}


def openapi_v2(resources: Resources, crds: dict[str, Obj]) -> Obj:
    """``/openapi/v2`` (JSON): every served kind's definitions."""
    types = _served(resources)
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": f"v{KUBERNETES_VERSION}"},
            "paths": _paths(types, v3=False), "definitions": _schemas(types, crds, v3=False)}


def document_bytes(doc: Obj) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
