"""The garbage collector (k8spb.testing._gc) over HTTP: kube's background, foreground and orphan deletion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from k8spb.testing import ApiServer

pytestmark = pytest.mark.timeout(30)

NS = "/api/v1/namespaces/gc"
CMS = f"{NS}/configmaps"
PODS = f"{NS}/pods"
SECRETS = f"{NS}/secrets"


@pytest.fixture(scope="module")
def srv() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


@pytest.fixture
def http(srv: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        c.delete(CMS)  # each test starts from an empty namespace
        c.delete(PODS, params={"gracePeriodSeconds": 0})
        c.delete(SECRETS)
        if c.get(NS).status_code == 404:
            assert c.post("/api/v1/namespaces", json={"metadata": {"name": "gc"}}).status_code == 201
        yield c


def create(http: httpx.Client, path: str, name: str, *owners: dict[str, Any], block: bool = False,
           finalizers: tuple[str, ...] = ()) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owners:
        meta["ownerReferences"] = [{"apiVersion": o.get("apiVersion", "v1"), "kind": o.get("kind", "ConfigMap"),
                                    "name": o["metadata"]["name"], "uid": o["metadata"]["uid"],
                                    **({"blockOwnerDeletion": True} if block else {})} for o in owners]
    if finalizers:
        meta["finalizers"] = list(finalizers)
    body: dict[str, Any] = {"metadata": meta}
    if path == PODS:
        body["spec"] = {"containers": [{"name": "c", "image": "busybox"}]}
    r = http.post(path, json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def exists(http: httpx.Client, path: str, name: str) -> bool:
    return http.get(f"{path}/{name}").status_code == 200


def rv(http: httpx.Client) -> str:
    return str(http.get(CMS).json()["metadata"]["resourceVersion"])


def events(http: httpx.Client, path: str, since: str, n: int) -> list[tuple[str, str, int]]:
    """The first ``n`` events of ``path`` after ``since``: (type, name, resourceVersion)."""
    out: list[tuple[str, str, int]] = []
    with http.stream("GET", path, params={"watch": "1", "resourceVersion": since, "timeoutSeconds": 5}) as r:
        for line in r.iter_lines():
            if line:
                e = json.loads(line)
                meta = e["object"]["metadata"]
                out.append((e["type"], meta["name"], int(meta["resourceVersion"])))
            if len(out) == n:
                break
    return out


def unfinalize(http: httpx.Client, path: str, name: str) -> None:
    r = http.patch(f"{path}/{name}", content=b'{"metadata":{"finalizers":null}}',
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text


def test_background_deletes_dependents_after_the_owner(http: httpx.Client) -> None:
    owner, other = create(http, CMS, "owner"), create(http, CMS, "other")
    create(http, PODS, "only-child", owner)
    create(http, PODS, "shared", owner, other)
    since = rv(http)
    r = http.delete(f"{CMS}/owner")
    assert r.status_code == 200 and r.json()["status"] == "Success"
    assert not exists(http, PODS, "only-child")
    shared = http.get(f"{PODS}/shared").json()["metadata"]
    assert [ref["name"] for ref in shared["ownerReferences"]] == ["other"]  # the dangling reference is dropped
    [(kind, name, owner_rv)] = events(http, CMS, since, 1)
    child, shared_update = events(http, PODS, since, 2)
    assert (kind, name) == ("DELETED", "owner")
    assert child[:2] == ("DELETED", "only-child") and shared_update[:2] == ("MODIFIED", "shared")
    assert owner_rv < child[2]  # kube's order: the owner goes first


def test_foreground_waits_for_blocking_dependents(http: httpx.Client) -> None:
    owner = create(http, CMS, "owner")
    create(http, PODS, "blocker", owner, block=True, finalizers=("example.com/hold",))
    create(http, SECRETS, "plain", owner)
    r = http.delete(f"{CMS}/owner", params={"propagationPolicy": "Foreground"})
    assert r.status_code == 200
    meta = r.json()["metadata"]
    assert meta["finalizers"] == ["foregroundDeletion"] and meta["deletionTimestamp"]
    assert meta["deletionGracePeriodSeconds"] == 0
    assert not exists(http, SECRETS, "plain")
    blocker = http.get(f"{PODS}/blocker").json()["metadata"]
    assert blocker["deletionTimestamp"]  # deleted, held by its own finalizer, still blocking
    assert http.get(f"{CMS}/owner").json()["metadata"]["finalizers"] == ["foregroundDeletion"]
    since = rv(http)
    unfinalize(http, PODS, "blocker")
    assert not exists(http, PODS, "blocker") and not exists(http, CMS, "owner")
    assert [e[:2] for e in events(http, CMS, since, 1)] == [("DELETED", "owner")]  # no MODIFIED first


def test_foreground_without_blockers_and_with_other_finalizers(http: httpx.Client) -> None:
    owner = create(http, CMS, "lone")
    create(http, SECRETS, "nonblocking", owner)
    r = http.delete(f"{CMS}/lone", params={"propagationPolicy": "Foreground"})
    assert r.json()["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert not exists(http, CMS, "lone") and not exists(http, SECRETS, "nonblocking")
    held = create(http, CMS, "held", finalizers=("example.com/hold",))
    create(http, SECRETS, "dep", held, block=True)
    r = http.delete(f"{CMS}/held", params={"propagationPolicy": "Foreground"})
    assert r.json()["metadata"]["finalizers"] == ["example.com/hold", "foregroundDeletion"]
    assert not exists(http, SECRETS, "dep")
    assert http.get(f"{CMS}/held").json()["metadata"]["finalizers"] == ["example.com/hold"]
    unfinalize(http, CMS, "held")
    assert not exists(http, CMS, "held")


def test_foreground_cascades_through_a_chain(http: httpx.Client) -> None:
    top = create(http, CMS, "top")
    mid = create(http, SECRETS, "mid", top, block=True)
    mid["apiVersion"], mid["kind"] = "v1", "Secret"
    create(http, PODS, "leaf", mid, block=True)
    since = rv(http)
    http.delete(f"{CMS}/top", params={"propagationPolicy": "Foreground"})
    assert not any(exists(http, p, n) for p, n in ((CMS, "top"), (SECRETS, "mid"), (PODS, "leaf")))
    top_events, mid_events, leaf_events = (events(http, CMS, since, 2), events(http, SECRETS, since, 2),
                                           events(http, PODS, since, 1))
    assert [e[0] for e in top_events] == [e[0] for e in mid_events] == ["MODIFIED", "DELETED"]  # both foreground
    assert leaf_events[0][0] == "DELETED"
    assert leaf_events[0][2] < mid_events[1][2] < top_events[1][2]  # dependents first, the owner last


def test_owner_with_finalizers_keeps_its_dependents_until_it_is_gone(http: httpx.Client) -> None:
    owner = create(http, CMS, "slow", finalizers=("example.com/cleanup",))
    create(http, PODS, "kid", owner)
    r = http.delete(f"{CMS}/slow")
    assert r.status_code == 200 and r.json()["metadata"]["deletionTimestamp"]
    assert r.json()["metadata"]["finalizers"] == ["example.com/cleanup"]
    assert exists(http, PODS, "kid")  # a deleting owner is still an owner
    unfinalize(http, CMS, "slow")
    assert not exists(http, CMS, "slow") and not exists(http, PODS, "kid")


def test_orphan_removes_owner_references(http: httpx.Client) -> None:
    owner, other = create(http, CMS, "parent"), create(http, CMS, "stays")
    create(http, PODS, "orphan", owner)
    create(http, PODS, "half", owner, other)
    since = rv(http)
    assert http.delete(f"{CMS}/parent", params={"propagationPolicy": "Orphan"}).status_code == 200
    assert not exists(http, CMS, "parent")
    assert "ownerReferences" not in http.get(f"{PODS}/orphan").json()["metadata"]
    assert [r["name"] for r in http.get(f"{PODS}/half").json()["metadata"]["ownerReferences"]] == ["stays"]
    assert [e[0] for e in events(http, CMS, since, 2)] == ["MODIFIED", "DELETED"]  # the orphan finalizer, then gone
    held = create(http, CMS, "held", finalizers=("example.com/hold",))
    create(http, PODS, "kept", held)
    r = http.delete(f"{CMS}/held", params={"orphanDependents": "true"})  # the deprecated spelling
    assert r.json()["metadata"]["finalizers"] == ["example.com/hold", "orphan"]
    assert "ownerReferences" not in http.get(f"{PODS}/kept").json()["metadata"]
    assert http.get(f"{CMS}/held").json()["metadata"]["finalizers"] == ["example.com/hold"]
    unfinalize(http, CMS, "held")
    assert exists(http, PODS, "kept")


def test_dangling_references_are_collected(http: httpx.Client) -> None:
    ghost = {"metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}}
    create(http, PODS, "stray", ghost)
    assert not exists(http, PODS, "stray")  # no such owner: kube's collector deletes it
    live = create(http, CMS, "live")
    create(http, PODS, "mixed", live, ghost)
    assert [r["name"] for r in http.get(f"{PODS}/mixed").json()["metadata"]["ownerReferences"]] == ["live"]
    unknown = {"apiVersion": "example.com/v1", "kind": "Nothing", "metadata": {"name": "x", "uid": "1"}}
    create(http, PODS, "unmapped", unknown)
    assert exists(http, PODS, "unmapped")  # a kind kube cannot map: the collector leaves it alone


def test_delete_options_validation_and_status(http: httpx.Client) -> None:
    create(http, CMS, "opts", finalizers=("example.com/hold",))
    r = http.delete(f"{CMS}/opts", params={"propagationPolicy": "Orphan", "orphanDependents": "false"})
    assert r.status_code == 422
    assert r.json()["message"] == ('DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: '
                                   '"Orphan": orphanDependents and deletionPropagation cannot be both set')
    r = http.delete(f"{CMS}/opts", params={"propagationPolicy": "Later"})
    assert r.json()["message"].endswith('supported values: "Foreground", "Background", "Orphan", "nil"')
    r = http.delete(f"{CMS}/opts", params={"orphanDependents": "false"})
    assert r.status_code == 202  # not deleted yet and orphanDependents=false
    unfinalize(http, CMS, "opts")
    assert not exists(http, CMS, "opts")


def test_marking_for_deletion_bumps_generation_and_dry_run_changes_nothing(http: httpx.Client) -> None:
    deploy = {"metadata": {"name": "d", "finalizers": ["example.com/hold"]},
              "spec": {"selector": {"matchLabels": {"a": "b"}},
                       "template": {"metadata": {"labels": {"a": "b"}},
                                    "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    path = "/apis/apps/v1/namespaces/gc/deployments"
    assert http.post(path, json=deploy).status_code == 201
    dry = http.delete(f"{path}/d", params={"dryRun": "All", "propagationPolicy": "Foreground"})
    assert dry.status_code == 200 and "deletionTimestamp" not in http.get(f"{path}/d").json()["metadata"]
    meta = http.delete(f"{path}/d").json()["metadata"]
    assert meta["generation"] == 2 and meta["deletionTimestamp"]
    unfinalize(http, path, "d")
    assert http.get(f"{path}/d").status_code == 404
