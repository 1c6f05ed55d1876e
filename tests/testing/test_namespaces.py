"""Namespace lifecycle (k8spb.testing._namespaces): Terminating, content deleted, then the namespace."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from k8spb.testing import ApiServer

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with ApiServer() as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c


def events(http: httpx.Client, since: str, n: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    with http.stream("GET", "/api/v1/namespaces", params={"watch": "1", "resourceVersion": since,
                                                          "timeoutSeconds": 5}) as r:
        for line in r.iter_lines():
            if line:
                event = json.loads(line)
                out.append((event["type"], event["object"]["status"].get("phase", "")))
            if len(out) == n:
                break
    return out


def test_empty_namespace_goes_through_terminating(http: httpx.Client) -> None:
    http.post("/api/v1/namespaces", json={"metadata": {"name": "quick"}})
    since = http.get("/api/v1/namespaces").json()["metadata"]["resourceVersion"]
    r = http.delete("/api/v1/namespaces/quick")
    assert r.status_code == 200
    ns = r.json()
    assert ns["kind"] == "Namespace" and ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    assert http.get("/api/v1/namespaces/quick").status_code == 404  # its content (SA, root CA) went at once
    assert events(http, since, 3) == [("MODIFIED", "Terminating"), ("MODIFIED", "Terminating"),
                                      ("DELETED", "Terminating")]  # Terminating, finalized, gone


def test_content_with_finalizers_holds_the_namespace(http: httpx.Client) -> None:
    http.post("/api/v1/namespaces", json={"metadata": {"name": "slow"}})
    http.post("/api/v1/namespaces/slow/secrets", json={"metadata": {"name": "keep", "finalizers": ["x.io/hold"]}})
    http.post("/api/v1/namespaces/slow/configmaps", json={"metadata": {"name": "plain"}})
    http.delete("/api/v1/namespaces/slow")
    ns = http.get("/api/v1/namespaces/slow").json()
    conditions = {c["type"]: (c["status"], c["reason"], c["message"]) for c in ns["status"]["conditions"]}
    assert conditions["NamespaceContentRemaining"] == (
        "True", "SomeResourcesRemain", "Some resources are remaining: secrets. has 1 resource instances")
    assert conditions["NamespaceFinalizersRemaining"] == (
        "True", "SomeFinalizersRemain",
        "Some content in the namespace has finalizers remaining: x.io/hold in 1 resource instances")
    assert http.get("/api/v1/namespaces/slow/configmaps").json()["items"] == []
    again = http.delete("/api/v1/namespaces/slow")
    assert again.status_code == 409 and "The system is ensuring all content is removed" in again.json()["message"]
    refused = http.post("/api/v1/namespaces/slow/configmaps", json={"metadata": {"name": "late"}})
    assert refused.status_code == 403
    assert refused.json()["details"]["causes"] == [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                                    "message": "namespace slow is being terminated"}]
    http.patch("/api/v1/namespaces/slow/secrets/keep", content=b'{"metadata":{"finalizers":null}}',
               headers={"Content-Type": "application/merge-patch+json"})
    assert http.get("/api/v1/namespaces/slow").status_code == 404


def test_system_namespaces_cannot_be_deleted(http: httpx.Client) -> None:
    for name in ("default", "kube-system", "kube-public"):
        r = http.delete(f"/api/v1/namespaces/{name}")
        assert r.status_code == 403
        assert r.json()["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
