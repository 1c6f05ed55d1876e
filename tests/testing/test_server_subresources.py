"""*/scale, pods/log and pods/eviction of ApiServer, over raw HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import k8spb
from k8spb.testing import ApiServer

PB = "application/vnd.kubernetes.protobuf"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSONPATCH = {"Content-Type": "application/json-patch+json"}


@pytest.fixture(scope="module")
def srv() -> Iterator[ApiServer]:
    with ApiServer() as s:
        s.log_follow_timeout = 10
        yield s


@pytest.fixture
def http(srv: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=5) as c:
        yield c


def _workload(kind: str, name: str, replicas: int | None = 2) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": template}
    if kind == "ReplicationController":
        spec["selector"] = {"app": name}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"kind": kind, "metadata": {"name": name}, "spec": spec}


WORKLOADS = [("Deployment", "/apis/apps/v1/namespaces/default/deployments"),
             ("ReplicaSet", "/apis/apps/v1/namespaces/default/replicasets"),
             ("StatefulSet", "/apis/apps/v1/namespaces/default/statefulsets"),
             ("ReplicationController", "/api/v1/namespaces/default/replicationcontrollers")]


@pytest.mark.parametrize(("kind", "base"), WORKLOADS, ids=[k for k, _ in WORKLOADS])
def test_scale_get_put_patch(http: httpx.Client, kind: str, base: str) -> None:
    name = f"scale-{kind.lower()}"
    assert http.post(base, json=_workload(kind, name)).status_code == 201
    url = f"{base}/{name}/scale"
    scale = http.get(url).json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2} and scale["status"] == {"replicas": 0, "selector": f"app={name}"}
    assert scale["metadata"]["name"] == name and scale["metadata"]["namespace"] == "default"
    parent = http.get(f"{base}/{name}").json()
    assert scale["metadata"]["resourceVersion"] == parent["metadata"]["resourceVersion"]
    assert scale["metadata"]["uid"] == parent["metadata"]["uid"]

    scale["spec"]["replicas"] = 4
    put = http.put(url, json=scale)
    assert put.status_code == 200, put.text
    assert put.json()["spec"]["replicas"] == 4
    parent2 = http.get(f"{base}/{name}").json()
    assert parent2["spec"]["replicas"] == 4
    assert parent2["metadata"]["resourceVersion"] == put.json()["metadata"]["resourceVersion"]
    assert int(parent2["metadata"]["resourceVersion"]) > int(parent["metadata"]["resourceVersion"])

    stale = http.put(url, json=scale)  # the old resourceVersion
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    assert "the object has been modified" in stale.json()["message"]

    merged = http.patch(url, content=b'{"spec":{"replicas":1}}', headers=MERGE)
    assert merged.status_code == 200 and merged.json()["spec"]["replicas"] == 1
    ops = b'[{"op":"replace","path":"/spec/replicas","value":3}]'
    assert http.patch(url, content=ops, headers=JSONPATCH).json()["spec"]["replicas"] == 3
    assert http.get(f"{base}/{name}").json()["spec"]["replicas"] == 3
    http.delete(f"{base}/{name}")


def test_scale_edge_cases(http: httpx.Client, srv: ApiServer) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    http.post(base, json=_workload("Deployment", "edge", replicas=None))
    url = f"{base}/edge/scale"
    assert http.get(url).json()["spec"] == {"replicas": 1}  # kube defaults replicas to 1
    assert http.patch(url, content=b'{"spec":{"replicas":0}}', headers=MERGE).json()["spec"] == {}
    assert http.get(f"{base}/edge").json()["spec"]["replicas"] == 0
    rv = http.get(url).json()["metadata"]["resourceVersion"]
    conflict = http.patch(url, content=b'{"metadata":{"resourceVersion":"1"},"spec":{"replicas":2}}', headers=MERGE)
    assert conflict.status_code == 409
    ok = http.patch(url, content=f'{{"metadata":{{"resourceVersion":"{rv}"}},"spec":{{"replicas":2}}}}'.encode(),
                    headers=MERGE)
    assert ok.status_code == 200
    test_op = b'[{"op":"test","path":"/spec/replicas","value":7},{"op":"replace","path":"/spec/replicas","value":1}]'
    assert http.patch(url, content=test_op, headers=JSONPATCH).status_code in (409, 422)
    negative = http.patch(url, content=b'{"spec":{"replicas":-1}}', headers=MERGE)
    assert negative.status_code == 422 and negative.json()["reason"] == "Invalid"
    assert http.patch(url, content=b"{}", headers={"Content-Type": "application/apply-patch+yaml"}).status_code == 415
    assert http.get(f"{base}/missing/scale").status_code == 404
    assert http.delete(url).status_code == 405
    wrong = http.put(url, json={"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "other"},
                                "spec": {"replicas": 1}})
    assert wrong.status_code == 400
    # not a scalable resource
    http.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "noscale"}})
    assert http.get("/api/v1/namespaces/default/configmaps/noscale/scale").status_code == 404


def test_scale_protobuf_and_watch_event(http: httpx.Client, srv: ApiServer) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    http.post(base, json=_workload("Deployment", "pbscale"))
    raw = http.get(f"{base}/pbscale/scale", headers={"Accept": PB})
    assert raw.headers["content-type"] == PB
    scale = k8spb.decode(raw.content)
    assert type(scale).__name__ == "Scale" and scale.spec.replicas == 2
    rv = http.get(f"{base}/pbscale").json()["metadata"]["resourceVersion"]
    scale.spec.replicas = 6
    put = http.put(f"{base}/pbscale/scale", content=k8spb.encode(scale, k8spb.PROTOBUF),
                   headers={"Content-Type": PB, "Accept": PB})
    assert put.status_code == 200, put.text
    assert k8spb.decode(put.content).spec.replicas == 6
    with http.stream("GET", base, params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"}) as r:
        events = [line for line in r.iter_lines() if line]
    assert len(events) == 1 and '"MODIFIED"' in events[0] and '"replicas":6' in events[0]


def _pod(http: httpx.Client, name: str, *containers: str, **extra: Any) -> None:
    body: dict[str, Any] = {"metadata": {"name": name, **extra.pop("meta", {})},
                            "spec": {"containers": [{"name": c, "image": "i"} for c in containers or ("main",)],
                                     **extra}}
    r = http.post("/api/v1/namespaces/default/pods", json=body)
    assert r.status_code == 201, r.text


def test_logs(http: httpx.Client, srv: ApiServer) -> None:
    _pod(http, "logs")
    url = "/api/v1/namespaces/default/pods/logs/log"
    assert http.get(url).text == ""
    srv.set_log("default", "logs", "one\ntwo\nthree")
    r = http.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "text/plain"
    assert r.text == "one\ntwo\nthree\n"
    assert http.get(url, params={"tailLines": "2"}).text == "two\nthree\n"
    assert http.get(url, params={"tailLines": "0"}).text == ""
    assert http.get(url, params={"limitBytes": "5"}).text == "one\nt"
    stamped = http.get(url, params={"timestamps": "true"}).text.splitlines()
    assert len(stamped) == 3 and stamped[0].endswith("Z one") and stamped[0][:2] == "20"
    srv.append_log("default", "logs", "four\n")
    assert http.get(url, params={"tailLines": "1"}).text == "four\n"
    assert http.get(url, params={"container": "main"}).text.endswith("four\n")
    assert http.get(url, params={"container": "nope"}).status_code == 400
    assert http.get(url, params={"tailLines": "x"}).status_code == 400
    assert http.get(url, params={"previous": "true"}).status_code == 400
    missing = http.get("/api/v1/namespaces/default/pods/missing/log")
    assert missing.status_code == 404 and missing.json()["reason"] == "NotFound"
    assert http.post(url, json={}).status_code == 405


def test_logs_several_containers(http: httpx.Client, srv: ApiServer) -> None:
    _pod(http, "multi", "app", "sidecar")
    url = "/api/v1/namespaces/default/pods/multi/log"
    r = http.get(url)
    assert r.status_code == 400 and r.json()["message"] == ("a container name must be specified for pod multi, "
                                                            "choose one of: [app sidecar]")
    srv.set_log("default", "multi", "from app\n", container="app")
    srv.set_log("default", "multi", "from sidecar\n", container="sidecar")
    assert http.get(url, params={"container": "app"}).text == "from app\n"
    assert http.get(url, params={"container": "sidecar"}).text == "from sidecar\n"


def test_logs_follow(http: httpx.Client, srv: ApiServer) -> None:
    _pod(http, "follow")
    srv.set_log("default", "follow", "old1\nold2\n")

    def writer() -> None:
        for i in range(3):
            time.sleep(0.05)
            srv.append_log("default", "follow", f"new{i}\n")
        time.sleep(0.1)
        http.delete("/api/v1/namespaces/default/pods/follow")

    thread = threading.Thread(target=writer, daemon=True)
    started = time.monotonic()
    with http.stream("GET", "/api/v1/namespaces/default/pods/follow/log",
                     params={"follow": "true", "tailLines": "1"}) as r:
        assert r.status_code == 200
        thread.start()
        lines = list(r.iter_lines())
    thread.join(5)
    assert lines == ["old2", "new0", "new1", "new2"]
    assert time.monotonic() - started < 5


def test_logs_follow_ends_on_timeout_and_stop(srv: ApiServer) -> None:
    with ApiServer() as other:
        other.log_follow_timeout = 0.3
        with httpx.Client(base_url=other.url, timeout=5) as c:
            _pod(c, "p")
            other.set_log("default", "p", "x\n")
            with c.stream("GET", "/api/v1/namespaces/default/pods/p/log", params={"follow": "true"}) as r:
                assert list(r.iter_lines()) == ["x"]
            other.log_follow_timeout = 30
            started = time.monotonic()
            with c.stream("GET", "/api/v1/namespaces/default/pods/p/log", params={"follow": "true"}) as r:
                timer = threading.Timer(0.2, other.stop)
                timer.start()
                assert list(r.iter_lines()) == ["x"]  # the stream ends cleanly when the server stops
                timer.join(5)
            assert time.monotonic() - started < 5


def test_logs_follow_limit_bytes(http: httpx.Client, srv: ApiServer) -> None:
    _pod(http, "limited")
    srv.set_log("default", "limited", "abc\n")
    threading.Timer(0.1, srv.append_log, ("default", "limited", "defgh\n")).start()
    with http.stream("GET", "/api/v1/namespaces/default/pods/limited/log",
                     params={"follow": "true", "limitBytes": "6"}) as r:
        assert r.read() == b"abc\nde"


def test_eviction(http: httpx.Client) -> None:
    _pod(http, "evictme")
    r = http.post("/api/v1/namespaces/default/pods/evictme/eviction",
                  json={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evictme"}})
    assert r.status_code == 201
    assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    assert http.get("/api/v1/namespaces/default/pods/evictme").status_code == 404
    again = http.post("/api/v1/namespaces/default/pods/evictme/eviction",
                      json={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evictme"}})
    assert again.status_code == 404
    _pod(http, "mismatch")
    bad = http.post("/api/v1/namespaces/default/pods/mismatch/eviction",
                    json={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}})
    assert bad.status_code == 400
    assert http.get("/api/v1/namespaces/default/pods/mismatch/eviction").status_code == 405
    dry = http.post("/api/v1/namespaces/default/pods/mismatch/eviction", params={"dryRun": "All"},
                    json={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "mismatch"}})
    assert dry.status_code == 201
    assert http.get("/api/v1/namespaces/default/pods/mismatch").status_code == 200


def test_eviction_protobuf(http: httpx.Client) -> None:
    from k8spb.api.policy.v1 import Eviction
    from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta

    _pod(http, "pbevict")
    body = k8spb.encode(Eviction(metadata=ObjectMeta(name="pbevict", namespace="default")), k8spb.PROTOBUF)
    r = http.post("/api/v1/namespaces/default/pods/pbevict/eviction", content=body,
                  headers={"Content-Type": PB, "Accept": PB})
    assert r.status_code == 201 and r.headers["content-type"] == PB
    status = k8spb.decode(r.content)
    assert status.status == "Success"


def test_eviction_honours_trivial_budget(http: httpx.Client) -> None:
    for name in ("guarded-a", "guarded-b"):
        _pod(http, name, meta={"labels": {"app": "guarded"}})
        http.patch(f"/api/v1/namespaces/default/pods/{name}/status", content=b'{"status":{"phase":"Running"}}',
                   headers=MERGE)
    pdb = {"metadata": {"name": "guard"},
           "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}}}
    assert http.post("/apis/policy/v1/namespaces/default/poddisruptionbudgets", json=pdb).status_code == 201
    ev = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "guarded-a"}}
    r = http.post("/api/v1/namespaces/default/pods/guarded-a/eviction", json=ev)
    assert r.status_code == 429 and r.json()["reason"] == "TooManyRequests"
    assert r.json()["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert http.get("/api/v1/namespaces/default/pods/guarded-a").status_code == 200
    http.patch("/apis/policy/v1/namespaces/default/poddisruptionbudgets/guard",
               content=b'{"spec":{"minAvailable":1}}', headers=MERGE)
    assert http.post("/api/v1/namespaces/default/pods/guarded-a/eviction", json=ev).status_code == 201
    # a pod that is not Running ignores budgets, as in kube
    _pod(http, "guarded-pending", meta={"labels": {"app": "guarded"}})
    http.patch("/apis/policy/v1/namespaces/default/poddisruptionbudgets/guard",
               content=b'{"spec":{"minAvailable":5}}', headers=MERGE)
    ev["metadata"]["name"] = "guarded-pending"  # type: ignore[index]
    assert http.post("/api/v1/namespaces/default/pods/guarded-pending/eviction", json=ev).status_code == 201
    http.delete("/apis/policy/v1/namespaces/default/poddisruptionbudgets/guard")
    http.delete("/api/v1/namespaces/default/pods/guarded-b")


def test_discovery_lists_subresources(http: httpx.Client) -> None:
    names = {r["name"]: r for r in http.get("/apis/apps/v1").json()["resources"]}
    assert names["deployments/scale"]["kind"] == "Scale" and names["deployments/scale"]["group"] == "autoscaling"
    core = {r["name"] for r in http.get("/api/v1").json()["resources"]}
    assert {"pods/log", "pods/eviction", "replicationcontrollers/scale"} <= core
