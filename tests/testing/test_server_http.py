"""k8spb.testing.ApiServer over real sockets, driven by raw HTTP (httpx)."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import k8spb
from k8spb.apimachinery.pkg.apis.meta.v1 import WatchEvent
from k8spb.testing import ApiServer

pytestmark = pytest.mark.timeout(30)

PB = "application/vnd.kubernetes.protobuf"
PODS = "/api/v1/namespaces/default/pods"
CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def srv() -> Iterator[ApiServer]:
    with ApiServer(bookmark_interval=0.3) as server:
        yield server


@pytest.fixture
def http(srv: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {srv.token}"}, timeout=10) as c:
        yield c


def pod(name: str, labels: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}, **meta},
            "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}


def create(http: httpx.Client, obj: dict[str, Any], path: str = PODS) -> dict[str, Any]:
    r = http.post(path, json=obj)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


# --------------------------------------------------------------------------- server basics


def test_context_manager_kubeconfig_and_auth(srv: ApiServer) -> None:
    import yaml

    with open(srv.kubeconfig_path) as fh:
        cfg = yaml.safe_load(fh)
    assert cfg["clusters"][0]["cluster"]["server"] == srv.url
    assert cfg["users"][0]["user"]["token"] == srv.token
    assert httpx.get(srv.url + "/api", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(srv.url + "/healthz").text == "ok"


def test_async_context_manager() -> None:
    import asyncio

    async def main() -> str:
        async with ApiServer() as server, httpx.AsyncClient(base_url=server.url) as c:
            return str((await c.get("/version")).json()["major"])

    assert asyncio.run(main()) == "1"


def test_run_as_module() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "k8spb.testing"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        import yaml

        with open(path) as fh:
            url = yaml.safe_load(fh)["clusters"][0]["cluster"]["server"]
        assert httpx.get(url + "/api/v1/namespaces/default", timeout=5).json()["metadata"]["name"] == "default"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------- discovery


def test_discovery_json(http: httpx.Client) -> None:
    assert http.get("/api").json()["versions"] == ["v1"]
    groups = {g["name"]: g for g in http.get("/apis").json()["groups"]}
    assert groups["apps"]["preferredVersion"]["version"] == "v1"
    assert groups["autoscaling"]["preferredVersion"]["version"] == "v2"
    core = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["namespaced"] and core["pods"]["kind"] == "Pod"
    assert core["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert not core["namespaces"]["namespaced"]
    apps = {r["name"]: r for r in http.get("/apis/apps/v1").json()["resources"]}
    assert apps["deployments"]["shortNames"] == ["deploy"]
    assert apps["deployments/scale"]["group"] == "autoscaling"
    assert http.get("/apis/nope/v1").status_code == 404


def test_discovery_protobuf(http: httpx.Client) -> None:
    r = http.get("/api/v1", headers={"Accept": PB})
    assert r.headers["content-type"] == PB
    lst = k8spb.decode(r.content)
    assert type(lst).__name__ == "APIResourceList"
    assert "pods" in [x.name for x in lst.resources]  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- negotiation


def test_negotiation(http: httpx.Client) -> None:
    create(http, pod("a"))
    assert http.get(PODS, headers={"Accept": "*/*"}).headers["content-type"] == "application/json"
    r = http.get(PODS, headers={"Accept": "application/json;q=0.5, application/vnd.kubernetes.protobuf"})
    assert r.headers["content-type"] == PB
    assert type(k8spb.decode(r.content)).__name__ == "PodList"
    r = http.get(PODS + "/a", headers={"Accept": "application/yaml"})
    assert r.headers["content-type"] == "application/yaml" and "kind: Pod" in r.text
    r = http.get(PODS, headers={"Accept": "text/html"})
    assert r.status_code == 406 and r.json()["reason"] == "NotAcceptable"
    # Table is JSON only: a protobuf Table clause is skipped
    r = http.get(PODS, headers={"Accept": f"{PB};as=Table;g=meta.k8s.io;v=v1"})
    assert r.status_code == 406 and r.headers["content-type"] == "application/json"
    # errors come back in the negotiated type
    r = http.get(PODS + "/missing", headers={"Accept": PB})
    assert r.status_code == 404 and r.headers["content-type"] == PB
    status = k8spb.decode(r.content).to_dict()
    assert status["reason"] == "NotFound" and status["details"] == {"name": "missing", "kind": "pods"}


def test_table_and_partial_metadata(http: httpx.Client) -> None:
    create(http, pod("a"))
    table = http.get(PODS, headers={"Accept": "application/json;as=Table;g=meta.k8s.io;v=v1,application/json"},
                     params={"includeObject": "Object"}).json()
    assert table["kind"] == "Table" and [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    assert table["rows"][0]["cells"][0] == "a" and table["rows"][0]["object"]["kind"] == "Pod"
    meta_list = http.get(PODS, headers={"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"})
    assert meta_list.json()["items"][0]["metadata"]["name"] == "a"
    r = http.get(PODS, headers={"Accept": f"{PB};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"})
    decoded = k8spb.decode(r.content)
    assert type(decoded).__name__ == "PartialObjectMetadataList" and decoded.items[0].metadata.name == "a"  # type: ignore[attr-defined]
    r = http.get(PODS + "/a", headers={"Accept": f"{PB};as=PartialObjectMetadata;g=meta.k8s.io;v=v1"})
    assert k8spb.decode(r.content).metadata.name == "a"  # type: ignore[attr-defined]


def test_request_bodies(http: httpx.Client) -> None:
    from k8spb.api.core.v1 import ConfigMap

    cm = ConfigMap.from_dict({"metadata": {"name": "pb"}, "data": {"k": "v"}})
    r = http.post("/api/v1/namespaces/default/configmaps", content=k8spb.encode(cm, PB),
                  headers={"Content-Type": PB, "Accept": PB})
    assert r.status_code == 201 and k8spb.decode(r.content).data == {"k": "v"}  # type: ignore[attr-defined]
    r = http.post("/api/v1/namespaces/default/configmaps", content=b"metadata:\n  name: y\ndata: {a: b}\n",
                  headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201 and r.json()["data"] == {"a": "b"}
    r = http.post("/api/v1/namespaces/default/configmaps", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
    r = http.patch("/api/v1/namespaces/default/configmaps/y", content=b"{}", headers={"Content-Type": PB})
    assert r.status_code == 415


# --------------------------------------------------------------------------- storage


def test_create_get_update_conflicts(http: httpx.Client) -> None:
    p = create(http, pod("a"))
    meta = p["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z") and meta["generation"] == 1
    assert http.post(PODS, json=pod("a")).json()["reason"] == "AlreadyExists"
    r = http.post("/api/v1/namespaces/nope/pods", json=pod("a"))
    assert r.status_code == 404 and r.json()["details"] == {"name": "nope", "kind": "namespaces"}
    gen = create(http, {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "web-"},
                        "spec": {"containers": [{"name": "c", "image": "x"}]}})
    assert gen["metadata"]["name"].startswith("web-")
    p["spec"]["containers"][0]["image"] = "nginx:2"
    p["status"] = {"phase": "Running"}
    r = http.put(PODS + "/a", json=p)
    updated = r.json()
    assert r.status_code == 200 and updated["metadata"]["generation"] == 2
    assert updated["status"]["phase"] == "Pending"  # the main resource ignores status
    assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    stale = http.put(PODS + "/a", json=p)
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    # status subresource only touches status
    updated["status"] = {"phase": "Running"}
    updated["spec"]["containers"][0]["image"] = "ignored"
    r = http.put(PODS + "/a/status", json=updated)
    assert r.json()["status"]["phase"] == "Running" and r.json()["spec"]["containers"][0]["image"] == "nginx:2"
    r = http.patch(PODS + "/a/status", json={"status": {"phase": "Succeeded"}},
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.json()["status"]["phase"] == "Succeeded" and r.json()["metadata"]["generation"] == 2


def test_list_selectors_and_pages(http: httpx.Client) -> None:
    for i in range(5):
        create(http, pod(f"p{i}", {"app": "web" if i % 2 else "db"}))
    listed = http.get(PODS, params={"labelSelector": "app=web"}).json()
    names = [i["metadata"]["name"] for i in listed["items"]]
    assert not any("apiVersion" in i or "kind" in i for i in listed["items"])  # typed list items carry no TypeMeta
    assert http.get(PODS, params={"labelSelector": "app=web", "pretty": "true"}).json() == listed  # uncached path
    assert names == ["p1", "p3"]
    assert [i["metadata"]["name"] for i in http.get("/api/v1/pods", params={"fieldSelector": "metadata.name=p4"})
            .json()["items"]] == ["p4"]
    assert http.get(PODS, params={"fieldSelector": "spec.bogus=1"}).status_code == 400
    assert http.get(PODS, params={"labelSelector": "a in (b"}).status_code == 400
    seen, token = [], ""
    while True:
        page = http.get(PODS, params={"limit": 2, **({"continue": token} if token else {})}).json()
        seen += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert seen == [f"p{i}" for i in range(5)]


def test_patches_and_apply(http: httpx.Client) -> None:
    create(http, pod("a", {"x": "1"}))
    smp = {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}
    r = http.patch(PODS + "/a", json=smp, headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert [c["name"] for c in r.json()["spec"]["containers"]] == ["side", "app"]
    r = http.patch(PODS + "/a", json=[{"op": "replace", "path": "/metadata/labels/x", "value": "2"}],
                   headers={"Content-Type": "application/json-patch+json"})
    assert r.json()["metadata"]["labels"] == {"x": "2"}
    r = http.patch(PODS + "/a", json={"metadata": {"labels": {"x": None, "y": "3"}}},
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.json()["metadata"]["labels"] == {"y": "3"}
    r = http.patch(PODS + "/a", json=[{"op": "test", "path": "/metadata/name", "value": "b"}],
                   headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 422
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: '1'\n"
    url = "/api/v1/namespaces/default/configmaps/cfg"
    yaml_ct = {"Content-Type": "application/apply-patch+yaml"}
    r = http.patch(url, content=cm, params={"fieldManager": "one"}, headers=yaml_ct)
    assert r.status_code == 201 and r.json()["metadata"]["managedFields"][0]["manager"] == "one"
    r = http.patch(url, content=cm.replace("'1'", "'2'"), params={"fieldManager": "two"}, headers=yaml_ct)
    assert r.status_code == 409 and r.json()["details"]["causes"][0]["field"] == ".data.a"
    r = http.patch(url, content=cm.replace("'1'", "'2'"), params={"fieldManager": "two", "force": "true"},
                   headers=yaml_ct)
    assert r.status_code == 200 and r.json()["data"] == {"a": "2"}
    assert http.patch(url, content=cm, headers=yaml_ct).status_code == 400  # fieldManager required


def test_finalizers_and_propagation(http: httpx.Client) -> None:
    owner = create(http, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}},
                   "/api/v1/namespaces/default/configmaps")
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    create(http, pod("child", ownerReferences=[ref]))
    create(http, pod("kept", ownerReferences=[ref], finalizers=["example.com/hold"]))
    r = http.delete("/api/v1/namespaces/default/configmaps/owner")
    assert r.json()["status"] == "Success"
    assert http.get(PODS + "/child").status_code == 404
    kept = http.get(PODS + "/kept").json()
    assert kept["metadata"]["deletionTimestamp"]
    kept["metadata"]["finalizers"] = []
    http.put(PODS + "/kept", json=kept)
    assert http.get(PODS + "/kept").status_code == 404
    owner2 = create(http, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "o2"}},
                    "/api/v1/namespaces/default/configmaps")
    create(http, pod("orphan", ownerReferences=[{**ref, "name": "o2", "uid": owner2["metadata"]["uid"]}]))
    http.delete("/api/v1/namespaces/default/configmaps/o2", params={"propagationPolicy": "Orphan"})
    assert "ownerReferences" not in http.get(PODS + "/orphan").json()["metadata"]
    r = http.delete(PODS, params={"labelSelector": ""})
    assert r.status_code == 200 and http.get(PODS).json()["items"] == []


def test_grace_period_for_scheduled_pods(http: httpx.Client) -> None:
    p = pod("g")
    p["spec"]["nodeName"] = "node-1"
    create(http, p)
    r = http.delete(PODS + "/g", params={"gracePeriodSeconds": 1})
    assert r.json()["metadata"]["deletionGracePeriodSeconds"] == 1
    assert http.get(PODS + "/g").status_code == 200
    import time

    deadline = time.monotonic() + 5
    while http.get(PODS + "/g").status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.1)


# --------------------------------------------------------------------------- watch


def json_events(http: httpx.Client, n: int, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with http.stream("GET", PODS, params={"watch": "true", "timeoutSeconds": 5, **params}) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        for line in r.iter_lines():
            if line:
                out.append(json.loads(line))
            if len(out) == n:
                break
    return out


def test_json_watch(srv: ApiServer, http: httpx.Client) -> None:
    first = create(http, pod("a", {"app": "web"}))
    rv = first["metadata"]["resourceVersion"]
    http.patch(PODS + "/a", json={"metadata": {"labels": {"app": "db"}}},
               headers={"Content-Type": "application/merge-patch+json"})
    http.delete(PODS + "/a")
    events = json_events(http, 2, resourceVersion=rv)
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert events[0]["object"]["kind"] == "Pod"
    # selector transitions: leaving the selector is a DELETED; bookmarks follow when idle
    events = json_events(http, 2, resourceVersion=rv, labelSelector="app=web", allowWatchBookmarks="true")
    assert [e["type"] for e in events] == ["DELETED", "BOOKMARK"]


def test_watch_initial_events_and_bookmark(http: httpx.Client) -> None:
    create(http, pod("a"))
    create(http, pod("b"))
    events = json_events(http, 3, sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                         allowWatchBookmarks="true")
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    r = http.get(PODS, params={"watch": "1", "sendInitialEvents": "true"})
    assert r.status_code == 422


def test_watch_timeout_ends_stream(http: httpx.Client) -> None:
    r = http.get(PODS, params={"watch": "true", "timeoutSeconds": 1, "resourceVersion": "1"})
    assert r.status_code == 200 and r.text == ""


def test_protobuf_watch_frames(srv: ApiServer, http: httpx.Client) -> None:
    create(http, pod("a"))
    with http.stream("GET", PODS, params={"watch": "true", "timeoutSeconds": 5},
                     headers={"Accept": f"{PB}, application/json"}) as r:
        assert r.headers["content-type"] == f"{PB};stream=watch"
        stream = r.iter_bytes()
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            buf += next(stream)
    size = struct.unpack(">I", buf[:4])[0]
    event = WatchEvent._pb_class().FromString(buf[4 : 4 + size])
    assert event.type == "ADDED"
    obj = k8spb.decode(event.object.raw)
    assert obj.metadata.name == "a"  # type: ignore[attr-defined]


def _raw_chunks(srv: ApiServer, path: str, accept: str) -> list[bytes]:
    """The chunks of a response exactly as they are framed on the socket."""
    with socket.create_connection((srv.host, srv.port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {srv.token}\r\n"
                     f"Accept: {accept}\r\n\r\n".encode())
        raw = b""
        while not raw.endswith(b"\r\n0\r\n\r\n"):
            more = sock.recv(65536)
            assert more, raw[-200:]
            raw += more
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    chunks, pos = [], 0
    while True:
        eol = body.index(b"\r\n", pos)
        size = int(body[pos:eol], 16)
        if not size:
            return chunks
        chunks.append(body[eol + 2:eol + 2 + size])
        assert body[eol + 2 + size:eol + 4 + size] == b"\r\n"
        pos = eol + 4 + size


def test_watch_chunks_like_go(srv: ApiServer, http: httpx.Client) -> None:
    """Go's 2 KiB buffer before chunking: a large event is two chunks, small events share one."""
    big = {"note": "x" * 5000}
    for i in range(3):
        create(http, pod(f"big-{i}", annotations=big))
    query = "?watch=true&timeoutSeconds=1&resourceVersion=0&labelSelector="
    chunks = _raw_chunks(srv, PODS + query, PB)
    frames = b"".join(chunks)
    sizes, pos = [], 0
    while pos < len(frames):
        (n,) = struct.unpack_from(">I", frames, pos)
        sizes.append(n)
        pos += 4 + n
    assert pos == len(frames) and len(sizes) == 3 and min(sizes) > 5000
    # each event: its length and the start of its body topped up to 2 KiB, then the rest directly
    assert [len(c) for c in chunks] == [x for n in sizes for x in (2048, n + 4 - 2048)]
    for i in range(3):
        create(http, {"metadata": {"name": f"small-{i}"}}, CMS)
    small = _raw_chunks(srv, CMS + "?watch=true&timeoutSeconds=1&labelSelector=!nothing&resourceVersion="
                        + http.get(PODS + "/big-2").json()["metadata"]["resourceVersion"], "application/json")
    assert len(small) == 1 and small[0].count(b"\n") == 3  # three JSON lines in one buffered chunk


def test_too_old_watch_is_an_error_event(srv: ApiServer, http: httpx.Client) -> None:
    create(http, pod("a"))
    srv.compact()
    events = json_events(http, 1, resourceVersion="2")
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


def test_drop_watches(srv: ApiServer, http: httpx.Client) -> None:
    import threading

    timer = threading.Timer(0.3, srv.drop_watches)
    timer.start()
    r = http.get(PODS, params={"watch": "true", "timeoutSeconds": 20, "resourceVersion": "1"})
    timer.join()
    assert r.status_code == 200 and r.elapsed.total_seconds() < 10


# --------------------------------------------------------------------------- faults


def test_fail_next_and_latency(srv: ApiServer, http: httpx.Client) -> None:
    srv.fail_next(2, status=429, retry_after=3)
    r = http.get(PODS)
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert r.json()["details"]["retryAfterSeconds"] == 3
    assert http.get(PODS).status_code == 429
    assert http.get(PODS).status_code == 200
    srv.fail_next(status=503)
    assert http.get(PODS).json()["reason"] == "ServiceUnavailable"
    srv.latency(0.2)
    r = http.get(PODS)
    assert r.elapsed.total_seconds() >= 0.2
    srv.latency(0)


def test_protobuf_dry_run_is_not_served_from_the_stored_bytes(http: httpx.Client) -> None:
    created = create(http, pod("a"))
    assert http.get(PODS, headers={"Accept": PB}).status_code == 200  # caches the stored object's bytes
    created["metadata"]["labels"] = {"dry": "run"}
    r = http.put(f"{PODS}/a", params={"dryRun": "All"}, json=created, headers={"Accept": PB})
    assert r.status_code == 200, r.text
    dry = k8spb.decode(r.content)
    assert dry.metadata.labels == {"dry": "run"}  # type: ignore[attr-defined]
    live = k8spb.decode(http.get(f"{PODS}/a", headers={"Accept": PB}).content)
    assert not live.metadata.labels  # type: ignore[attr-defined]


def test_protobuf_watch_selector_exit_is_old_content_at_new_version(http: httpx.Client) -> None:
    create(http, pod("a", {"app": "web"}))
    with http.stream("GET", PODS, params={"watch": "true", "timeoutSeconds": 5, "labelSelector": "app=web"},
                     headers={"Accept": PB}) as r:
        decoder = k8spb.WatchDecoder(r.headers["content-type"])
        events: list[Any] = []
        for chunk in r.iter_raw():
            events += decoder.feed(chunk)
            if len(events) == 1:
                patched = http.patch(f"{PODS}/a", content=b'{"metadata":{"labels":{"app":"db"}}}',
                                     headers={"Content-Type": "application/merge-patch+json"})
                assert patched.status_code == 200, patched.text
            if len(events) == 2:
                break
    assert [e.type for e in events] == ["ADDED", "DELETED"]
    gone = events[1].object
    assert gone.metadata.labels == {"app": "web"}
    assert gone.metadata.resource_version == patched.json()["metadata"]["resourceVersion"]


def test_cut_next_response_mid_body(srv: ApiServer, http: httpx.Client) -> None:
    create(http, pod("a"))
    whole = http.get(PODS, headers={"Accept": PB}).content
    srv.cut_next()
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {srv.token}"}, timeout=5) as fresh:
        got = b""
        with pytest.raises(httpx.RemoteProtocolError), fresh.stream("GET", PODS, headers={"Accept": PB}) as r:
            for chunk in r.iter_raw():
                got += chunk
        assert http.get(PODS, headers={"Accept": PB}).content == whole  # only one response is cut
    assert len(got) < len(whole)


@pytest.mark.parametrize("end_stream", [False, True], ids=["dropped", "ended"])
def test_cut_next_watch_mid_frame(srv: ApiServer, http: httpx.Client, end_stream: bool) -> None:
    for name in "abc":
        create(http, pod(name))
    srv.cut_next(after_events=2, end_stream=end_stream)
    raw = b""
    with http.stream("GET", PODS, params={"watch": "1", "resourceVersion": "0", "timeoutSeconds": 5},
                     headers={"Accept": PB}) as r:
        try:
            for chunk in r.iter_raw():
                raw += chunk
        except httpx.RemoteProtocolError:
            assert not end_stream
        else:
            assert end_stream
    decoder = k8spb.WatchDecoder(f"{PB};stream=watch")
    assert [e.object.metadata.name for e in decoder.feed(raw)] == ["a", "b"]
    with pytest.raises(k8spb.DecodeError, match="middle of an event"):
        decoder.close()
    # the fault is spent: the next watch gets all three
    with http.stream("GET", PODS, params={"watch": "1", "resourceVersion": "0", "timeoutSeconds": 1},
                     headers={"Accept": PB}) as r:
        decoder = k8spb.WatchDecoder(r.headers["content-type"])
        names = [e.object.metadata.name for chunk in r.iter_raw() for e in decoder.feed(chunk)]
    assert names == ["a", "b", "c"]


def test_watch_burst_is_batched_but_complete(srv: ApiServer, http: httpx.Client) -> None:
    rv = http.get(CMS).json()["metadata"]["resourceVersion"]
    for i in range(300):
        create(http, {"metadata": {"name": f"p{i}"}, "data": {"k": "v"}}, CMS)
    with http.stream("GET", CMS, params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": 1},
                     headers={"Accept": PB}) as r:
        decoder = k8spb.WatchDecoder(r.headers["content-type"])
        chunks = list(r.iter_raw())
        events = [e for c in chunks for e in decoder.feed(c)]
    decoder.close()
    assert [e.object.metadata.name for e in events] == [f"p{i}" for i in range(300)]
    assert len(chunks) < 100  # a burst is written in few socket writes, not one per event


def test_send_all_writes_everything_through_partial_sends() -> None:
    from k8spb.testing._watch import send_all

    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    a.settimeout(10)  # a socket with a timeout is non-blocking underneath: sendmsg sends what fits
    parts = [bytes([i % 251]) * (i * 37 % 5000) for i in range(3000)]  # more parts than one sendmsg takes
    got = bytearray()

    def read() -> None:
        while data := b.recv(1500):
            got.extend(data)

    reader = threading.Thread(target=read)
    reader.start()
    with a, b:
        send_all(a, parts)
        a.shutdown(socket.SHUT_WR)
        reader.join(30)
    assert got == b"".join(parts)


def test_a_client_resetting_its_connection_is_not_reported_as_an_error(
        srv: ApiServer, capsys: pytest.CaptureFixture[str]) -> None:
    host, port = srv.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as s:
        s.sendall(f"GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {srv.token}\r\n\r\n".encode())
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    time.sleep(0.3)  # the server's connection thread reads the reset
    assert "Exception occurred" not in capsys.readouterr().err
    assert httpx.get(f"{srv.url}/version", headers={"Authorization": f"Bearer {srv.token}"}).status_code == 200


# --------------------------------------------------------------------------- hardening and fidelity


def test_version_with_a_trailing_slash(http: httpx.Client) -> None:
    assert http.get("/version/").json() == http.get("/version").json()


def test_absurd_continue_tokens_and_integers_are_400(http: httpx.Client) -> None:
    import base64

    for rv in ("1e999", "-1", "0", '"12"', "true", "18446744073709551616"):
        token = base64.urlsafe_b64encode(f'{{"v":"meta.k8s.io/v1","rv":{rv},"start":"a"}}'.encode()).decode()
        r = http.get(PODS, params={"limit": 1, "continue": token})
        assert r.status_code == 400 and r.json()["message"].startswith("continue key is not valid"), (rv, r.text)
    r = http.get(PODS, params={"watch": "1", "timeoutSeconds": "nan"})
    assert r.status_code == 400 and r.json()["message"] == 'strconv.ParseInt: parsing "nan": invalid syntax'
    r = http.get(PODS, params={"limit": "99999999999999999999"})
    assert r.json()["message"] == 'strconv.ParseInt: parsing "99999999999999999999": value out of range'
    r = http.delete(PODS + "/x", params={"gracePeriodSeconds": "1.5"})
    assert r.status_code == 400


def test_status_fields_are_in_go_order(http: httpx.Client) -> None:
    r = http.get(PODS + "/missing")
    assert list(r.json()) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]
    r = http.post(PODS, json={"metadata": {"name": "Bad"}})
    assert list(r.json()["details"]) == ["name", "kind", "causes"]
    r = http.post("/apis/apps/v1/namespaces/default/deployments", json={"metadata": {"name": "Bad"}})
    assert list(r.json()["details"]) == ["name", "group", "kind", "causes"]
    assert r.json()["message"].startswith('Deployment.apps "Bad" is invalid: metadata.name: Invalid value: "Bad"')


def test_delete_answers_with_the_object_where_kube_does(http: httpx.Client) -> None:
    create(http, {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}},
           "/api/v1/namespaces/default/services")
    gone = http.delete("/api/v1/namespaces/default/services/svc").json()
    assert gone["kind"] == "Service" and gone["metadata"]["name"] == "svc"
    create(http, {"metadata": {"name": "sa"}}, "/api/v1/namespaces/default/serviceaccounts")
    assert http.delete("/api/v1/namespaces/default/serviceaccounts/sa").json()["kind"] == "ServiceAccount"
    create(http, {"metadata": {"name": "cm"}}, CMS)
    assert http.delete(f"{CMS}/cm").json()["kind"] == "Status"  # configmaps answer with a Status


def test_only_ga_versions_are_served_unless_asked() -> None:
    with ApiServer() as default, httpx.Client(base_url=default.url) as c:
        groups = {g["name"]: [v["version"] for v in g["versions"]] for g in c.get("/apis").json()["groups"]}
        assert groups["admissionregistration.k8s.io"] == ["v1"] and "storagemigration.k8s.io" not in groups
        assert c.get("/apis/admissionregistration.k8s.io/v1alpha1").status_code == 404
    with ApiServer(api_versions="all") as everything, httpx.Client(base_url=everything.url) as c:
        groups = {g["name"]: [v["version"] for v in g["versions"]] for g in c.get("/apis").json()["groups"]}
        assert groups["admissionregistration.k8s.io"] == ["v1", "v1beta1", "v1alpha1"]
    with pytest.raises(ValueError, match="api_versions"):
        ApiServer(api_versions="stable")


def test_dry_run_values_are_validated(http: httpx.Client) -> None:
    r = http.post(CMS, params={"dryRun": "Yes"}, json={"metadata": {"name": "x"}})
    assert r.status_code == 422
    assert r.json()["message"] == ('CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
                                   '[]string{"Yes"}: supported values: "All"')
