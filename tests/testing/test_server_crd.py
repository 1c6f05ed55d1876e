"""CustomResourceDefinitions and aggregated discovery in k8spb.testing.ApiServer, over real sockets (raw httpx)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from k8spb._codec import PROTOBUF, decode, encode
from k8spb.api.apidiscovery.v2 import APIGroupDiscoveryList
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition
from k8spb.apimachinery.pkg.apis.meta.v1 import PartialObjectMetadata, PartialObjectMetadataList, Status
from k8spb.testing import ApiServer

GROUP = "stable.example.com"
BASE = f"/apis/{GROUP}/v1/namespaces/default/crontabs"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
AGGREGATED = "g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def crontab_crd(group: str = GROUP, *, status: bool = True, scope: str = "Namespaced") -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": "v1", "served": True, "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    if status:
        version["subresources"] = {"status": {}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"crontabs.{group}"},
            "spec": {"group": group, "scope": scope,
                     "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab",
                               "shortNames": ["ct"], "categories": ["all"]},
                     "versions": [version]}}


def crontab(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "CronTab", "metadata": {"name": name},
            "spec": spec or {"cronSpec": "* * * * */5", "image": "my-cron:1"}}


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as srv:
        with httpx.Client(base_url=srv.url) as c:
            assert c.post(CRDS, json=crontab_crd()).status_code == 201
        yield srv


@pytest.fixture
def http(server: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def test_crd_is_established_and_served(http: httpx.Client) -> None:
    crd = http.get(f"{CRDS}/crontabs.{GROUP}").json()
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True" and conditions["NamesAccepted"] == "True"
    assert crd["status"]["acceptedNames"]["kind"] == "CronTab" and crd["status"]["storedVersions"] == ["v1"]
    groups = http.get("/apis").json()["groups"]
    assert {"groupVersion": f"{GROUP}/v1", "version": "v1"} in next(g for g in groups if g["name"] == GROUP)["versions"]
    assert http.get(f"/apis/{GROUP}").json()["preferredVersion"]["version"] == "v1"
    resources = {r["name"]: r for r in http.get(f"/apis/{GROUP}/v1").json()["resources"]}
    assert resources["crontabs"]["kind"] == "CronTab" and resources["crontabs"]["namespaced"] is True
    assert resources["crontabs"]["shortNames"] == ["ct"] and "crontabs/status" in resources


def test_crd_invalid_is_rejected(http: httpx.Client) -> None:
    bad = crontab_crd("nodots")
    r = http.post(CRDS, json=bad)
    assert r.status_code == 422 and r.json()["reason"] == "Invalid"
    bad = crontab_crd("x.example.com")
    bad["metadata"]["name"] = "wrong"
    assert http.post(CRDS, json=bad).status_code == 422


def test_crd_created_with_protobuf_body(http: httpx.Client) -> None:
    crd = CustomResourceDefinition.from_dict(crontab_crd("pb.example.com", scope="Cluster"))
    r = http.post(CRDS, content=encode(crd, PROTOBUF),
                  headers={"Content-Type": PROTOBUF, "Accept": PROTOBUF})
    assert r.status_code == 201 and r.headers["content-type"] == PROTOBUF
    got = decode(r.content, PROTOBUF, into=CustomResourceDefinition)
    assert got.status.accepted_names.kind == "CronTab"
    r = http.post("/apis/pb.example.com/v1/crontabs", json={**crontab("c1"), "apiVersion": "pb.example.com/v1"})
    assert r.status_code == 201 and "namespace" not in r.json()["metadata"]
    assert http.delete(f"{CRDS}/crontabs.pb.example.com").status_code == 200
    assert http.get("/apis/pb.example.com/v1/crontabs/c1").status_code == 404


def test_custom_object_crud(http: httpx.Client) -> None:
    r = http.post(BASE, json={**crontab("crud"), "status": {"ignored": True}})
    assert r.status_code == 201, r.text
    obj = r.json()
    assert obj["kind"] == "CronTab" and obj["metadata"]["generation"] == 1 and "status" not in obj
    assert obj["spec"] == {"cronSpec": "* * * * */5", "image": "my-cron:1"}
    assert http.post(BASE, json=crontab("crud")).status_code == 409
    obj["spec"]["replicas"] = 2
    r = http.put(f"{BASE}/crud", json=obj)
    assert r.status_code == 200 and r.json()["metadata"]["generation"] == 2
    stale = http.put(f"{BASE}/crud", json=obj)
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    del obj["metadata"]["resourceVersion"]  # custom resources allow no unconditional update (built-ins do)
    unconditional = http.put(f"{BASE}/crud", json=obj)
    assert unconditional.status_code == 422 and "must be specified for an update" in unconditional.text
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unconditional"}, "data": {"a": "1"}}
    assert http.post("/api/v1/namespaces/default/configmaps", json=cm).status_code == 201
    cm["data"] = {"a": "2"}
    replaced = http.put("/api/v1/namespaces/default/configmaps/unconditional", json=cm)
    assert replaced.status_code == 200 and replaced.json()["data"] == {"a": "2"}
    items = http.get(BASE).json()
    assert items["kind"] == "CronTabList" and "crud" in [i["metadata"]["name"] for i in items["items"]]
    # unstructured list items keep their TypeMeta (typed lists drop it: see test_server_http)
    assert {(i["apiVersion"], i["kind"]) for i in items["items"]} == {(f"{GROUP}/v1", "CronTab")}
    r = http.get(f"/apis/{GROUP}/v1/crontabs", headers={"Accept": "application/yaml"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/yaml"
    assert http.delete(f"{BASE}/crud").json()["status"] == "Success"
    assert http.get(f"{BASE}/crud").status_code == 404


def test_custom_object_patches(http: httpx.Client) -> None:
    http.post(BASE, json=crontab("patched"))
    merge = {"Content-Type": "application/merge-patch+json"}
    r = http.patch(f"{BASE}/patched", content=b'{"spec":{"replicas":3,"image":null}}', headers=merge)
    assert r.status_code == 200 and r.json()["spec"] == {"cronSpec": "* * * * */5", "replicas": 3}
    r = http.patch(f"{BASE}/patched", content=b'[{"op":"replace","path":"/spec/replicas","value":4}]',
                   headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 4
    r = http.patch(f"{BASE}/patched", content=b'{"spec":{"replicas":5}}',
                   headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
    assert "strategic" not in r.json()["message"]
    apply_body = f"apiVersion: {GROUP}/v1\nkind: CronTab\nmetadata:\n  name: applied\nspec:\n  image: a:1\n"
    apply = {"Content-Type": "application/apply-patch+yaml"}
    r = http.patch(f"{BASE}/applied?fieldManager=alice", content=apply_body.encode(), headers=apply)
    assert r.status_code == 201 and r.json()["spec"] == {"image": "a:1"}
    r = http.patch(f"{BASE}/applied?fieldManager=bob", content=apply_body.replace("a:1", "b:2").encode(),
                   headers=apply)
    assert r.status_code == 409 and "alice" in r.json()["message"]
    r = http.patch(f"{BASE}/applied?fieldManager=bob&force=true",
                   content=apply_body.replace("a:1", "b:2").encode(), headers=apply)
    assert r.status_code == 200 and r.json()["spec"] == {"image": "b:2"}
    managers = {m["manager"]: m for m in r.json()["metadata"]["managedFields"]}
    assert managers["bob"]["operation"] == "Apply" and managers["bob"]["fieldsV1"] == {"f:spec": {"f:image": {}}}


def test_status_subresource(http: httpx.Client) -> None:
    http.post(BASE, json=crontab("st"))
    merge = {"Content-Type": "application/merge-patch+json"}
    r = http.patch(f"{BASE}/st/status", content=b'{"status":{"ready":true},"spec":{"image":"ignored"}}',
                   headers=merge)
    assert r.status_code == 200 and r.json()["status"] == {"ready": True}
    assert r.json()["spec"]["image"] == "my-cron:1" and r.json()["metadata"]["generation"] == 1
    r = http.patch(f"{BASE}/st", content=b'{"status":{"ready":false}}', headers=merge)
    assert r.json()["status"] == {"ready": True}
    assert http.get(f"{BASE}/st/status").json()["status"] == {"ready": True}


def test_no_status_subresource_means_status_is_plain_data(http: httpx.Client) -> None:
    assert http.post(CRDS, json=crontab_crd("nostatus.example.com", status=False)).status_code == 201
    base = "/apis/nostatus.example.com/v1/namespaces/default/crontabs"
    r = http.post(base, json={**crontab("n"), "apiVersion": "nostatus.example.com/v1", "status": {"x": 1}})
    assert r.status_code == 201 and r.json()["status"] == {"x": 1}
    assert http.get(f"{base}/n/status").status_code == 404


def test_negotiation_rules(http: httpx.Client) -> None:
    http.post(BASE, json=crontab("neg"))
    r = http.get(f"{BASE}/neg", headers={"Accept": PROTOBUF})
    assert r.status_code == 406 and r.headers["content-type"] == PROTOBUF
    status = decode(r.content, PROTOBUF, into=Status)
    assert status.reason == "NotAcceptable" and status.code == 406
    assert "application/vnd.kubernetes.protobuf" in (status.message or "")
    for accept in (f"{PROTOBUF}, application/json", f"{PROTOBUF}, */*"):
        r = http.get(f"{BASE}/neg", headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json()["metadata"]["name"] == "neg"
    r = http.get(BASE, headers={"Accept": PROTOBUF})
    assert r.status_code == 406
    r = http.post(BASE, content=b"k8s\x00junk", headers={"Content-Type": PROTOBUF, "Accept": "application/json"})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
    assert "protobuf" in r.json()["message"]
    r = http.get(BASE, headers={"Accept": f"{PROTOBUF};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"})
    assert r.status_code == 200 and r.headers["content-type"] == PROTOBUF
    metas = decode(r.content, PROTOBUF, into=PartialObjectMetadataList)
    assert "neg" in [i.metadata.name for i in metas.items]
    r = http.get(f"{BASE}/neg", headers={"Accept": f"{PROTOBUF};as=PartialObjectMetadata;g=meta.k8s.io;v=v1"})
    assert r.status_code == 200
    assert decode(r.content, PROTOBUF, into=PartialObjectMetadata).metadata.name == "neg"
    r = http.get(BASE, headers={"Accept": "application/json;as=Table;g=meta.k8s.io;v=v1"})
    assert r.status_code == 200 and r.json()["kind"] == "Table"
    # a protobuf DeleteOptions body is fine (decoded with the meta.k8s.io codecs)
    from k8spb.apimachinery.pkg.apis.meta.v1 import DeleteOptions

    r = http.request("DELETE", f"{BASE}/neg", content=encode(DeleteOptions(grace_period_seconds=0), PROTOBUF),
                     headers={"Content-Type": PROTOBUF, "Accept": "application/json"})
    assert r.status_code == 200, r.text


def _watch_lines(http: httpx.Client, accept: str) -> tuple[httpx.Response, list[dict[str, Any]]]:
    with http.stream("GET", BASE, params={"watch": "true", "timeoutSeconds": "1"},
                     headers={"Accept": accept}) as r:
        if r.status_code != 200:
            r.read()
            return r, []
        return r, [json.loads(line) for line in r.iter_lines() if line.strip()]


def test_watch_is_json(http: httpx.Client) -> None:
    http.post(BASE, json=crontab("watched"))
    r, events = _watch_lines(http, f"{PROTOBUF}, application/json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert any(e["type"] == "ADDED" and e["object"]["metadata"]["name"] == "watched" for e in events)
    r, _ = _watch_lines(http, PROTOBUF)
    assert r.status_code == 406


def test_deleting_the_crd_removes_its_resources(http: httpx.Client) -> None:
    assert http.post(CRDS, json=crontab_crd("gone.example.com")).status_code == 201
    base = "/apis/gone.example.com/v1/namespaces/default/crontabs"
    assert http.post(base, json={**crontab("x"), "apiVersion": "gone.example.com/v1"}).status_code == 201
    assert http.delete(f"{CRDS}/crontabs.gone.example.com").status_code == 200
    assert http.get(base).status_code == 404
    assert "gone.example.com" not in [g["name"] for g in http.get("/apis").json()["groups"]]
    # created again: empty
    assert http.post(CRDS, json=crontab_crd("gone.example.com")).status_code == 201
    assert http.get(base).json()["items"] == []


def _aggregated_resource(doc: dict[str, Any], group: str, plural: str) -> dict[str, Any]:
    for g in doc["items"]:
        if g["metadata"].get("name", "") == group:
            return next(r for r in g["versions"][0]["resources"] if r["resource"] == plural)
    raise AssertionError(f"{group} not in aggregated discovery")


def test_aggregated_discovery_json(http: httpx.Client) -> None:
    accept = f"application/json;{AGGREGATED},application/json;g=apidiscovery.k8s.io;v=v2beta1;" \
             "as=APIGroupDiscoveryList,application/json"
    r = http.get("/apis", headers={"Accept": accept})
    assert r.status_code == 200 and r.headers["content-type"] == f"application/json;{AGGREGATED}"
    doc = r.json()
    assert doc["kind"] == "APIGroupDiscoveryList" and doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    ct = _aggregated_resource(doc, GROUP, "crontabs")
    assert ct["responseKind"] == {"group": GROUP, "version": "v1", "kind": "CronTab"}
    assert ct["scope"] == "Namespaced" and ct["shortNames"] == ["ct"] and "watch" in ct["verbs"]
    assert ct["subresources"][0]["subresource"] == "status"
    deploy = _aggregated_resource(doc, "apps", "deployments")
    assert deploy["responseKind"]["kind"] == "Deployment" and deploy["shortNames"] == ["deploy"]
    assert {s["subresource"] for s in deploy["subresources"]} >= {"status", "scale"}
    scale = next(s for s in deploy["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    core = http.get("/api", headers={"Accept": accept}).json()
    assert [g["metadata"] for g in core["items"]] == [{}]
    pods = _aggregated_resource(core, "", "pods")
    assert pods["scope"] == "Namespaced" and pods["responseKind"]["kind"] == "Pod"
    assert _aggregated_resource(core, "", "namespaces")["scope"] == "Cluster"
    # without the aggregated clause: the legacy documents
    assert http.get("/apis", headers={"Accept": "application/json"}).json()["kind"] == "APIGroupList"
    assert http.get("/api").json()["kind"] == "APIVersions"
    v2beta1 = http.get("/apis", headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2beta1;"
                                                   "as=APIGroupDiscoveryList"})
    assert v2beta1.json()["apiVersion"] == "apidiscovery.k8s.io/v2beta1"


def test_aggregated_discovery_protobuf(http: httpx.Client) -> None:
    r = http.get("/apis", headers={"Accept": f"{PROTOBUF};{AGGREGATED},application/json"})
    assert r.status_code == 200 and r.headers["content-type"] == f"{PROTOBUF};{AGGREGATED}"
    doc = decode(r.content, PROTOBUF, into=APIGroupDiscoveryList)
    groups = {g.metadata.name: g for g in doc.items}
    res = {x.resource: x for x in groups[GROUP].versions[0].resources}
    assert res["crontabs"].response_kind.kind == "CronTab" and res["crontabs"].scope == "Namespaced"
    assert "apps" in groups
