"""The sans-io request layer: requests are plain values, responses plain (status, type, bytes)."""

from __future__ import annotations

import json

import pytest

import k8spb
from k8spb._api import _Requests
from k8spb._request import (
    ACCEPT_JSON,
    ACCEPT_PROTOBUF,
    Apply,
    DeleteParams,
    JsonPatch,
    ListParams,
    Merge,
    PatchParams,
    PostParams,
    ResourceRef,
    Strategic,
    WatchParams,
    error_from_response,
    interpret,
)
from k8spb.api.apps.v1 import Deployment
from k8spb.api.core.v1 import Node, Pod, PodList
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta, Status, StatusDetails


def test_paths_for_namespaced_cluster_and_subresources() -> None:
    pods = _Requests(Pod, "ns1", True)
    assert pods.get("p").path == "/api/v1/namespaces/ns1/pods/p"
    assert pods.get("p", "status").path == "/api/v1/namespaces/ns1/pods/p/status"
    assert _Requests(Pod, None, True).list(ListParams()).path == "/api/v1/pods"
    assert _Requests(Deployment, "x", True).get("d", "scale").path == "/apis/apps/v1/namespaces/x/deployments/d/scale"
    nodes = _Requests(Node, "ignored", True)
    assert nodes.get("n1").path == "/api/v1/nodes/n1"
    with pytest.raises(ValueError, match="needs an Api with a namespace"):
        _Requests(Pod, None, True).get("p")
    with pytest.raises(ValueError, match="invalid name"):
        pods.get("../x")


def test_negotiation_headers_and_bodies() -> None:
    pods = _Requests(Pod, "ns", True)
    assert pods.get("p").header("Accept") == ACCEPT_PROTOBUF
    assert _Requests(Pod, "ns", False).get("p").header("Accept") == ACCEPT_JSON
    pod = Pod(metadata=ObjectMeta(name="p"))
    req = pods.create(pod, PostParams(field_manager="me", dry_run=True))
    assert req.method == "POST" and req.header("Content-Type") == k8spb.PROTOBUF
    assert k8spb.decode(req.body or b"") == pod
    assert dict(req.params) == {"fieldManager": "me", "dryRun": "All"}
    assert not req.idempotent
    jreq = _Requests(Pod, "ns", False).create(pod, PostParams())
    assert jreq.header("Content-Type") == "application/json"
    assert json.loads(jreq.body or b"") == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}


def test_patch_bodies_use_their_own_content_types() -> None:
    pods = _Requests(Pod, "ns", True)
    cases = [
        (Merge({"metadata": {"labels": {"a": "b"}}}), "application/merge-patch+json"),
        (Strategic({"spec": {"containers": [{"name": "c", "image": "i"}]}}), "application/strategic-merge-patch+json"),
        (JsonPatch([{"op": "remove", "path": "/metadata/labels/a"}]), "application/json-patch+json"),
        (Apply(Pod(metadata=ObjectMeta(name="p", labels={"a": "b"}))), "application/apply-patch+yaml"),
    ]
    for patch, ct in cases:
        req = pods.patch("p", patch, PatchParams(field_manager="m", force=isinstance(patch, Apply)))
        assert req.header("Content-Type") == ct
        assert req.header("Accept") == ACCEPT_PROTOBUF  # the response is negotiated normally
        json.loads(req.body or b"")
    apply = pods.patch("p", cases[3][0], PatchParams(field_manager="m", force=True))
    assert json.loads(apply.body or b"") == {"apiVersion": "v1", "kind": "Pod",
                                             "metadata": {"name": "p", "labels": {"a": "b"}}}
    assert ("force", "true") in apply.params
    with pytest.raises(ValueError, match="field_manager"):
        pods.patch("p", Apply({}), PatchParams())


def test_list_watch_delete_params() -> None:
    pods = _Requests(Pod, "ns", True)
    lst = pods.list(ListParams(label_selector="app=x", field_selector="status.phase=Running", limit=5,
                               continue_token="tok", resource_version="10", resource_version_match="NotOlderThan"))
    assert dict(lst.params) == {"labelSelector": "app=x", "fieldSelector": "status.phase=Running", "limit": "5",
                                "continue": "tok", "resourceVersion": "10", "resourceVersionMatch": "NotOlderThan"}
    w = dict(pods.watch(WatchParams(resource_version="7", send_initial_events=True)).params)
    assert w["watch"] == "1" and w["allowWatchBookmarks"] == "true" and w["sendInitialEvents"] == "true"
    assert w["resourceVersionMatch"] == "NotOlderThan"
    d = pods.delete("p", DeleteParams(propagation_policy="Foreground", grace_period_seconds=0,
                                      precondition_uid="u1", dry_run=True))
    assert json.loads(d.body or b"") == {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground",
                                         "gracePeriodSeconds": 0, "preconditions": {"uid": "u1"}, "dryRun": ["All"]}


def test_interpret_success_by_response_content_type() -> None:
    req = _Requests(Pod, "ns", True).list(ListParams())
    lst = PodList(items=[Pod(metadata=ObjectMeta(name="a"))])
    for ct in (k8spb.PROTOBUF, "application/json"):
        got = interpret(req, 200, ct, k8spb.encode(lst, ct), PodList)
        assert [p.metadata.name for p in got] == ["a"]


def _status(code: int, reason: str, message: str, **details: object) -> Status:
    return Status(status="Failure", code=code, reason=reason, message=message,
                  details=StatusDetails(**details) if details else None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("code", "reason", "cls"), [
    (404, "NotFound", k8spb.NotFound), (409, "AlreadyExists", k8spb.AlreadyExists),
    (409, "Conflict", k8spb.Conflict), (410, "Expired", k8spb.Gone), (422, "Invalid", k8spb.Invalid),
    (403, "Forbidden", k8spb.Forbidden), (401, "Unauthorized", k8spb.Unauthorized),
    (429, "TooManyRequests", k8spb.TooManyRequests), (500, "InternalError", k8spb.ServerError),
])
def test_errors_carry_the_status_in_either_encoding(code: int, reason: str, cls: type[k8spb.ApiError]) -> None:
    req = _Requests(Pod, "ns", True).get("p")
    st = _status(code, reason, "boom", name="p", retry_after_seconds=3)
    for ct in (k8spb.PROTOBUF, "application/json"):
        err = error_from_response(req, code, ct, k8spb.encode(st, ct))
        assert type(err) is cls and err.code == code and err.reason == reason
        assert "GET /api/v1/namespaces/ns/pods/p" in str(err) and "boom" in str(err)
        assert err.details.name == "p" and err.retry_after == 3.0
    with pytest.raises(cls):
        interpret(req, code, "application/json", k8spb.encode(st, "application/json"))


def test_non_status_error_bodies_fall_back_to_the_http_code() -> None:
    req = _Requests(Pod, "ns", True).get("p")
    err = error_from_response(req, 503, "text/html", b"<html>upstream down</html>")
    assert isinstance(err, k8spb.ServerError) and err.code == 503 and "upstream down" in err.message
    err = error_from_response(req, 404, k8spb.PROTOBUF, b"garbage")
    assert isinstance(err, k8spb.NotFound)


def test_resource_ref_of_non_resources() -> None:
    assert ResourceRef.of(Pod).api_version == "v1"
    with pytest.raises(TypeError):
        ResourceRef.of(ObjectMeta)
