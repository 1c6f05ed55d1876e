"""OpenAPI v2 and v3 from the models' field tables and CRD schemas (k8spb.testing._openapi), over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from k8spb.testing import ApiServer

pytestmark = pytest.mark.timeout(60)

CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                    "type": "object", "description": "A widget.",
                    "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with ApiServer() as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        yield c


def document(http: httpx.Client, prefix: str) -> dict[str, Any]:
    root = http.get("/openapi/v3").json()["paths"]
    r = http.get(root[prefix]["serverRelativeURL"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc: dict[str, Any] = r.json()
    return doc


def test_v3_core_schemas(http: httpx.Client) -> None:
    schemas = document(http, "api/v1")["components"]["schemas"]
    pod = schemas["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert set(pod["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert pod["properties"]["spec"]["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["type"] == "array" and containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"] and containers["x-kubernetes-patch-merge-key"] == "name"
    port = schemas["io.k8s.api.core.v1.ContainerPort"]["properties"]["containerPort"]
    assert (port["type"], port["format"]) == ("integer", "int32")
    assert schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["activeDeadlineSeconds"]["format"] == "int64"
    labels = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["labels"]
    assert labels == {**({"description": labels["description"]} if "description" in labels else {}),
                      "type": "object", "additionalProperties": {"type": "string"}}
    assert "io.k8s.api.core.v1.PodList" in schemas
    assert schemas["io.k8s.api.core.v1.Secret"]["properties"]["data"]["additionalProperties"]["format"] == "byte"
    paths = document(http, "api/v1")["paths"]
    patch = paths["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]  # kubectl looks for it


def test_v3_group_documents_and_crd_schemas(http: httpx.Client) -> None:
    apps = document(http, "apis/apps/v1")["components"]["schemas"]
    assert apps["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0]["kind"] == "Deployment"
    before = http.get("/openapi/v3").json()["paths"]
    assert "apis/example.com/v1" not in before
    assert http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=CRD).status_code == 201
    custom = document(http, "apis/example.com/v1")["components"]["schemas"]
    widget = custom["com.example.v1.Widget"]
    assert widget["description"] == "A widget." and widget["properties"]["spec"]["properties"]["size"] == {
        "type": "integer"}
    assert widget["x-kubernetes-group-version-kind"] == [{"group": "example.com", "kind": "Widget", "version": "v1"}]
    assert widget["properties"]["metadata"] == {
        "allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]}
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in custom
    crd_hash = http.get("/openapi/v3").json()["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    http.patch("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
               content=b'{"metadata":{"labels":{"x":"y"}}}', headers={"Content-Type": "application/merge-patch+json"})
    assert http.get("/openapi/v3").json()["paths"]["apis/example.com/v1"]["serverRelativeURL"] != crd_hash
    assert http.get("/openapi/v3/apis/nothing/v1").status_code == 404


def test_v2_is_one_json_document(http: httpx.Client) -> None:
    r = http.get("/openapi/v2", headers={"Accept": "application/json"})
    doc = r.json()
    assert doc["swagger"] == "2.0"
    pod = doc["definitions"]["io.k8s.api.core.v1.Pod"]
    assert pod["properties"]["spec"]["$ref"] == "#/definitions/io.k8s.api.core.v1.PodSpec"
    assert "io.k8s.api.apps.v1.Deployment" in doc["definitions"]
    only_protobuf = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    assert http.get("/openapi/v2", headers={"Accept": only_protobuf}).status_code == 406
