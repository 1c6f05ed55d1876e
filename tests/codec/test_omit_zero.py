"""CustomResourceDefinitions over protobuf as Go writes them: every non-pointer field present, zeros included.

Go's JSON omits those zeros (``omitempty``); the .proto files do not say which fields they are, so
k8spb carries the facts (``_schema.OMIT_ZERO``). A CRD decoded from Go's protobuf and from its JSON must
be equal and re-encode to the same bytes in both formats, for apiextensions v1 and v1beta1.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

import k8spb
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions import v1, v1beta1

PB = k8spb.PROTOBUF

_SCHEMA: dict[str, Any] = {
    "type": "object", "description": "A widget.", "required": ["spec"],
    "x-kubernetes-validations": [{"rule": "has(self.spec)"}],
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "minimum": 0, "maximum": 10.5, "default": 1},
            "size": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]},
                     "x-kubernetes-list-type": "set"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "any": {"x-kubernetes-preserve-unknown-fields": True},
            "oneOf": {"oneOf": [{"required": ["a"]}, {"required": ["b"]}], "type": "object",
                      "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
            "docs": {"type": "string", "externalDocs": {"url": "https://example.com"}},
        }},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}

CRD_V1: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": _SCHEMA},
                           "subresources": {"status": {}},
                           "additionalPrinterColumns": [{"name": "Size", "type": "string",
                                                         "jsonPath": ".spec.size"}]}]},
}

CRD_V1BETA1: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1beta1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
             "validation": {"openAPIV3Schema": _SCHEMA},
             "versions": [{"name": "v1", "served": True, "storage": True}],
             "additionalPrinterColumns": [{"name": "Size", "type": "string", "JSONPath": ".spec.size"}]},
}

# The non-pointer fields of these Go structs: what Go's protobuf marshaller writes even when zero
_GO_ALWAYS = {
    "JSONSchemaProps": ("id", "schema", "description", "type", "format", "title", "exclusiveMaximum",
                        "exclusiveMinimum", "pattern", "uniqueItems", "nullable", "xKubernetesEmbeddedResource",
                        "xKubernetesIntOrString"),
    "ExternalDocumentation": ("description", "url"),
    "ValidationRule": ("rule", "message", "messageExpression", "fieldPath"),
    "CustomResourceColumnDefinition": ("name", "type", "format", "description", "priority", "jsonPath", "JSONPath"),
    "CustomResourceDefinitionNames": ("plural", "singular", "kind", "listKind"),
    "CustomResourceDefinitionVersion": ("name", "served", "storage", "deprecated"),
    "CustomResourceDefinitionSpec": ("group", "scope", "version"),
}


def _go_fill(msg: Any) -> None:
    """Set every field Go writes regardless of its value (the zero where unset), recursively."""
    always = _GO_ALWAYS.get(msg.DESCRIPTOR.name, ())
    for fd in msg.DESCRIPTOR.fields:
        if fd.name in always and not msg.HasField(fd.name):
            setattr(msg, fd.name, getattr(msg, fd.name))  # the default: "", 0, False
        if fd.message_type is None:
            continue
        if fd.message_type.GetOptions().map_entry:
            if fd.message_type.fields_by_name["value"].message_type is not None:
                for value in getattr(msg, fd.name).values():
                    _go_fill(value)
        elif fd.is_repeated:
            for item in getattr(msg, fd.name):
                _go_fill(item)
        elif msg.HasField(fd.name):
            _go_fill(getattr(msg, fd.name))


def _go_protobuf(obj: k8spb.Model) -> bytes:
    """The object as Go's protobuf marshaller writes it."""
    from k8spb.apimachinery.pkg.runtime import Unknown

    msg = copy.deepcopy(obj)._synced_pb()
    _go_fill(msg)
    env = Unknown._pb_class()(raw=msg.SerializeToString(deterministic=True), contentEncoding="", contentType="")
    env.typeMeta.apiVersion, env.typeMeta.kind = obj.to_dict()["apiVersion"], "CustomResourceDefinition"
    return b"k8s\x00" + env.SerializeToString(deterministic=True)


@pytest.mark.parametrize(("cls", "doc"), [(v1.CustomResourceDefinition, CRD_V1),
                                          (v1beta1.CustomResourceDefinition, CRD_V1BETA1)], ids=["v1", "v1beta1"])
def test_a_crd_from_go_protobuf_and_from_json_agree(cls: type[k8spb.Model], doc: dict[str, Any]) -> None:
    go_pb = _go_protobuf(cls.from_dict(doc))
    go_json = json.dumps(doc, separators=(",", ":")).encode()
    from_pb, from_json = k8spb.decode(go_pb), k8spb.decode(go_json)
    # the zeros Go wrote are on the wire ...
    schema = from_pb._pb.spec
    assert b"\x22\x00" in go_pb  # JSONSchemaProps.description (field 4), empty, on nested properties
    # ... but they read as unset, as from JSON
    assert from_pb == from_json
    nested = (from_pb.spec.versions[0].schema.open_api_v3_schema if cls is v1.CustomResourceDefinition
              else from_pb.spec.validation.open_api_v3_schema).properties["spec"].properties["replicas"]
    assert (nested.description, nested.nullable, nested.type, nested.unique_items) == (None, None, "integer", None)
    assert schema is not None
    # JSON: Go's zeros are not written; both decodes write the same bytes, which read back as the CRD
    pb_json, json_json = k8spb.encode(from_pb, k8spb.JSON), k8spb.encode(from_json, k8spb.JSON)
    assert json.loads(pb_json) == json.loads(go_json)
    for needle in (b'"description":""', b'"nullable":false', b'"type":""', b'"uniqueItems":false', b'"$schema":""',
                   b'"x-kubernetes-int-or-string":false', b'"id":""', b'"priority":0', b'"singular":""'):
        assert needle not in pb_json
    assert k8spb.encode(k8spb.decode(pb_json), k8spb.JSON) == pb_json
    assert k8spb.encode(k8spb.decode(json_json), k8spb.JSON) == json_json
    # protobuf: the JSON decode writes Go's bytes (its zeros included), the protobuf decode its own bytes
    assert k8spb.encode(from_json, PB) == go_pb
    assert k8spb.encode(from_pb, PB) == go_pb
    assert k8spb.encode(k8spb.decode(pb_json), PB) == go_pb
    # floats without a fraction are written as Go writes them (maximum 10.5 stays, minimum 0 is 0)
    assert b'"minimum":0' in pb_json and b'"minimum":0.0' not in pb_json and b'"maximum":10.5' in pb_json


def test_setting_an_omitted_field_to_none_writes_the_zero() -> None:
    crd = k8spb.decode(_go_protobuf(v1.CustomResourceDefinition.from_dict(CRD_V1)))
    root = crd.spec.versions[0].schema.open_api_v3_schema
    assert root.description == "A widget."
    root.description = None
    again = k8spb.decode(k8spb.encode(crd, PB))
    assert again.spec.versions[0].schema.open_api_v3_schema.description is None
    assert "description" not in again.to_dict()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert k8spb.encode(again, PB) == _go_protobuf(v1.CustomResourceDefinition.from_dict(
        {**CRD_V1, "spec": {**CRD_V1["spec"], "versions": [{**CRD_V1["spec"]["versions"][0], "schema": {
            "openAPIV3Schema": {k: v for k, v in _SCHEMA.items() if k != "description"}}}]}}))
