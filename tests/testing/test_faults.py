"""Fault injection scoped by verb, path, resource, namespace and name (k8spb.testing._faults)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from k8spb.testing import ApiServer
from k8spb.testing._faults import RequestFilter, RequestInfo, request_info

pytestmark = pytest.mark.timeout(30)

CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture(scope="module")
def srv() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


@pytest.fixture
def http(srv: ApiServer) -> Iterator[httpx.Client]:
    srv.clear_faults()
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c
    srv.clear_faults()


@pytest.mark.parametrize(("method", "path", "watch", "info"), [
    ("GET", "/api/v1/namespaces/ns/pods", False, RequestInfo("list", "", "pods", "", "", "ns")),
    ("GET", "/api/v1/namespaces/ns/pods", True, RequestInfo("watch", "", "pods", "", "", "ns")),
    ("GET", "/api/v1/pods", False, RequestInfo("list", "", "pods")),
    ("GET", "/api/v1/namespaces/ns/pods/p/log", False, RequestInfo("get", "", "pods", "", "log", "ns", "p")),
    ("POST", "/apis/apps/v1/namespaces/ns/deployments", False,
     RequestInfo("create", "", "deployments", "apps", "", "ns")),
    ("PUT", "/apis/apps/v1/namespaces/ns/deployments/d/scale", False,
     RequestInfo("update", "", "deployments", "apps", "scale", "ns", "d")),
    ("PATCH", "/api/v1/nodes/n1/status", False, RequestInfo("patch", "", "nodes", "", "status", "", "n1")),
    ("DELETE", "/api/v1/namespaces/ns/configmaps", False,
     RequestInfo("deletecollection", "", "configmaps", "", "", "ns")),
    ("DELETE", "/api/v1/namespaces/ns", False, RequestInfo("delete", "", "namespaces", "", "", "ns", "ns")),
    ("PUT", "/api/v1/namespaces/ns/finalize", False,
     RequestInfo("update", "", "namespaces", "", "finalize", "ns", "ns")),
    ("GET", "/api/v1/namespaces", False, RequestInfo("list", "", "namespaces")),
    ("GET", "/version", False, RequestInfo("get", "")),
    ("GET", "/apis/apps/v1", False, RequestInfo("get", "")),
])
def test_request_info_resolves_like_kube(method: str, path: str, watch: bool, info: RequestInfo) -> None:
    assert request_info(method, path, watch) == RequestInfo(info.verb, path, info.resource, info.group,
                                                            info.subresource, info.namespace, info.name)


def test_filters_match_resource_group_subresource_and_path_globs() -> None:
    scale = request_info("GET", "/apis/apps/v1/namespaces/ns/deployments/d/scale", False)
    deploy = request_info("GET", "/apis/apps/v1/namespaces/ns/deployments/d", False)
    assert RequestFilter.of(None, None, "deployments", None, None).matches(deploy)
    assert RequestFilter.of(None, None, "deployments.apps", None, None).matches(deploy)
    assert not RequestFilter.of(None, None, "deployments.extensions", None, None).matches(deploy)
    assert not RequestFilter.of(None, None, "deployments", None, None).matches(scale)  # RBAC's rule
    assert RequestFilter.of(None, None, "deployments.apps/scale", None, None).matches(scale)
    assert RequestFilter.of(["get", "list"], "/apis/apps/v1/namespaces/*/deployments/*", None, "ns",
                            "d").matches(deploy)
    assert not RequestFilter.of("list", None, None, None, None).matches(deploy)
    assert not RequestFilter.of(None, "/apis/apps/v1/namespaces/other/*", None, None, None).matches(deploy)
    with pytest.raises(ValueError, match="unknown verb"):
        RequestFilter.of("lsit", None, None, None, None)


def test_scoped_failure_spares_other_requests(srv: ApiServer, http: httpx.Client) -> None:
    assert http.post(CMS, json={"metadata": {"name": "a"}}).status_code == 201
    srv.fail_next(2, status=503, verb="list", resource="configmaps", namespace="default")
    assert srv.pending_faults() == 2
    assert http.get(CMS + "/a").status_code == 200  # a get is not a list
    assert http.get("/api/v1/namespaces/default/pods").status_code == 200  # another resource
    assert http.get("/api/v1/configmaps").status_code == 200  # all namespaces is no namespace
    assert http.get(CMS).json()["reason"] == "ServiceUnavailable"
    assert http.get(CMS, params={"limit": 1}).status_code == 503
    assert srv.pending_faults() == 0
    assert http.get(CMS).status_code == 200


def test_unscoped_failure_still_takes_the_next_request(srv: ApiServer, http: httpx.Client) -> None:
    srv.fail_next(status=429, retry_after=2)
    r = http.get("/apis")
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert http.get("/apis").status_code == 200


def test_faults_are_taken_in_order_by_the_first_request_they_match(srv: ApiServer, http: httpx.Client) -> None:
    srv.fail_next(status=500, verb="create")
    srv.fail_next(status=409, name="b")
    srv.fail_next(status=404)
    assert http.get(CMS + "/b").status_code == 409  # the create failure waits for a create
    assert http.get(CMS + "/b").status_code == 404
    r = http.post(CMS, json={"metadata": {"name": "b"}})
    assert r.status_code == 500 and r.json()["reason"] == "InternalError"
    assert http.post(CMS, json={"metadata": {"name": "b"}}).status_code == 201


def test_scoped_failure_of_a_watch(srv: ApiServer, http: httpx.Client) -> None:
    srv.fail_next(status=410, verb="watch", resource="configmaps")
    r = http.get(CMS, params={"watch": "1", "timeoutSeconds": 1})
    assert r.status_code == 410 and r.json()["reason"] == "Expired"
    assert http.get(CMS).status_code == 200


def test_scoped_cut_and_latency(srv: ApiServer, http: httpx.Client) -> None:
    http.post(CMS, json={"metadata": {"name": "c"}})
    srv.cut_next(verb="get", name="c")
    assert http.get(CMS).status_code == 200
    with httpx.Client(base_url=srv.url, timeout=5) as fresh, pytest.raises(httpx.RemoteProtocolError):
        fresh.get(CMS + "/c")
    assert http.get(CMS + "/c").status_code == 200
    srv.latency(0.3, verb="list")
    assert http.get(CMS + "/c").elapsed.total_seconds() < 0.3
    assert http.get(CMS).elapsed.total_seconds() >= 0.3
    srv.latency(0, verb="list")
    assert http.get(CMS).elapsed.total_seconds() < 0.3


def test_bad_fault_arguments(srv: ApiServer) -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        srv.fail_next(status=418)
    with pytest.raises(ValueError, match="unknown verb"):
        srv.fail_next(verb="read")
    with pytest.raises(ValueError, match="must not be negative"):
        srv.cut_next(-1)


def test_scoped_drop_watches(srv: ApiServer, http: httpx.Client) -> None:
    def watch(path: str) -> None:
        with http.stream("GET", path, params={"watch": "1", "timeoutSeconds": 20}) as r:
            for _ in r.iter_lines():
                pass

    paths = [CMS, "/api/v1/namespaces/default/secrets"]
    threads = [threading.Thread(target=watch, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for _ in range(100):  # both streams registered
        if len(srv.store.watchers) == 2:
            break
        threading.Event().wait(0.02)
    srv.drop_watches(resource="configmaps", namespace="default")
    threads[0].join(timeout=5)
    assert not threads[0].is_alive() and threads[1].is_alive()
    assert [w.storage_key for w in srv.store.watchers] == [("", "secrets")]
    srv.drop_watches(resource="secrets")
    threads[1].join(timeout=5)
    assert not threads[1].is_alive()
