"""Dynamic objects for custom resources, and parsing of discovery documents."""

from __future__ import annotations

import pytest

import k8spb
from k8spb._discovery import Discovery, parse_aggregated, parse_resource_list

CRON = {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "c1", "namespace": "ns", "labels": {"a": "b"}},
        "spec": {"cronSpec": "* * * * */5", "replicas": 2}, "status": {"ok": True}}


def test_dynamic_object_round_trip_and_access() -> None:
    obj = k8spb.DynamicObject.from_dict(CRON)
    assert obj.metadata.name == "c1" and obj.metadata.labels == {"a": "b"}
    assert obj["spec"]["replicas"] == 2 and obj.get("missing") is None
    assert obj.to_dict() == CRON
    CRON["spec"]["replicas"] = 3  # the object holds a copy
    assert obj["spec"]["replicas"] == 2
    CRON["spec"]["replicas"] = 2
    with pytest.raises(k8spb.DecodeError):
        k8spb.DynamicObject.from_dict({"kind": "X"})
    with pytest.raises(k8spb.DecodeError):
        k8spb.DynamicObject.from_json(b"[1]")


def test_dynamic_list_fills_item_kinds() -> None:
    lst = k8spb.DynamicList.from_dict({"apiVersion": "stable.example.com/v1", "kind": "CronTabList",
                                       "metadata": {"resourceVersion": "5", "continue": "t"},
                                       "items": [{"metadata": {"name": "a"}, "spec": {}}]})
    (item,) = list(lst)
    assert item.kind == "CronTab" and item.api_version == "stable.example.com/v1" and len(lst) == 1
    assert lst.metadata.continue_ == "t"


def test_parse_aggregated_and_v1_discovery() -> None:
    agg = {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "items": [
        {"metadata": {"name": "apps"}, "versions": [{"version": "v1", "resources": [
            {"resource": "deployments", "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
             "scope": "Namespaced", "verbs": ["get"]}]}]},
        {"metadata": {"name": "stable.example.com"}, "versions": [{"version": "v1", "resources": [
            {"resource": "crontabs", "responseKind": {"kind": "CronTab"}, "scope": "Namespaced"}]}]}]}
    disc = Discovery(tuple(parse_aggregated([agg])))
    dep = disc.resolve("Deployment")
    assert (dep.group, dep.plural, dep.namespaced, dep.protobuf) == ("apps", "deployments", True, True)
    cron = disc.resolve("crontabs.stable.example.com")
    assert cron.kind == "CronTab" and not cron.protobuf  # custom resources speak JSON only
    with pytest.raises(LookupError):
        disc.resolve("nothing")
    v1 = parse_resource_list({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "pods", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
        {"name": "pods/status", "namespaced": True, "kind": "Pod"},
        {"name": "nodes", "namespaced": False, "kind": "Node"}]})
    assert [(r.plural, r.namespaced, r.api_version) for r in v1] == [("pods", True, "v1"), ("nodes", False, "v1")]


def test_dynamic_object_from_json_is_lazy_and_behaves_like_from_dict() -> None:
    import copy
    import json
    import pickle

    payload = json.dumps({**CRON, "spec": {**CRON["spec"], "nested": {"deep": [1, 2]}}}).encode()
    obj = k8spb.decode(payload, into=k8spb.DynamicObject)
    assert isinstance(obj, k8spb.DynamicObject) and obj.kind == "CronTab"
    assert "_body" not in obj.__dict__  # nothing parsed yet but the type meta
    assert obj["spec"]["replicas"] == 2 and "status" in obj and "metadata" not in obj
    assert obj.get("nope", 7) == 7
    obj["spec"]["nested"]["deep"].append(3)  # what was read is what is written back
    assert obj.body["spec"]["nested"]["deep"] == [1, 2, 3]
    assert obj.to_dict()["spec"]["nested"]["deep"] == [1, 2, 3]
    eager = k8spb.DynamicObject.from_dict(obj.to_dict())
    assert eager == obj and eager.metadata.labels == {"a": "b"}
    for clone in (pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj)):
        assert clone == obj
    fresh = k8spb.decode(payload, into=k8spb.DynamicObject)
    assert pickle.loads(pickle.dumps(fresh)) == fresh  # still encoded values pickle too
    assert json.loads(k8spb.encode(obj, k8spb.JSON)) == obj.to_dict()
    assert k8spb.decode(k8spb.encode(obj, k8spb.YAML), into=k8spb.DynamicObject) == obj
    with pytest.raises(k8spb.EncodeError, match="JSON or YAML only"):
        k8spb.encode(obj, k8spb.PROTOBUF)
    with pytest.raises(k8spb.DecodeError, match="needs string apiVersion and kind"):
        k8spb.decode(b'{"kind": "CronTab"}', into=k8spb.DynamicObject)
    bad = k8spb.decode(b'{"apiVersion": "a.b/v1", "kind": "X", "metadata": {"labels": [1]}}',
                       into=k8spb.DynamicObject)
    with pytest.raises(k8spb.DecodeError, match=r"X\.metadata\.labels: expected an object \(map\)"):
        bad.metadata.labels  # noqa: B018


def test_a_built_in_object_as_a_dynamic_object() -> None:
    from k8spb.api.core.v1 import Pod
    from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta

    pod = Pod(metadata=ObjectMeta(name="p"))
    for fmt in (k8spb.PROTOBUF, k8spb.JSON):
        obj = k8spb.decode(k8spb.encode(pod, fmt), into=k8spb.DynamicObject)
        assert isinstance(obj, k8spb.DynamicObject) and obj.to_dict() == {**pod.to_dict(), "metadata": {"name": "p"}}


def test_dynamic_list_items_take_the_list_type() -> None:
    payload = (b'{"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "9"}, '
               b'"items": [{"metadata": {"name": "a"}}, '
               b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}}]}')
    page = k8spb.decode(payload, into=k8spb.DynamicList)
    assert isinstance(page, k8spb.DynamicList) and page.resource_version == "9"
    assert [(o.api_version, o.kind, o.metadata.name) for o in page] == [("v1", "Pod", "a"), ("v1", "Pod", "b")]
    assert page.to_dict()["items"][0] == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}
    assert page == k8spb.DynamicList.from_dict(page.to_dict())


def test_decode_all_of_a_manifest_with_custom_resources() -> None:
    """Regression: one custom object made decode_all fail for the whole manifest."""
    from k8spb.api.apps.v1 import Deployment
    from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition

    manifest = (b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                b"metadata: {name: crontabs.stable.example.com}\n---\n"
                b"apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: c1}\nspec: {replicas: 2}\n---\n"
                b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d1}\n")
    crd, cron, deployment = k8spb.decode_all(manifest)
    assert isinstance(crd, CustomResourceDefinition) and isinstance(deployment, Deployment)
    assert isinstance(cron, k8spb.DynamicObject) and cron["spec"] == {"replicas": 2}
    assert cron.metadata.name == "c1"
    (only,) = k8spb.decode_all(b'{"apiVersion": "stable.example.com/v1", "kind": "CronTab"}')
    assert isinstance(only, k8spb.DynamicObject)
    # a kind Kubernetes does not have in one of its own group-versions is a typo, not a custom resource
    with pytest.raises(k8spb.DecodeError, match="unknown kind 'Widget' in v1"):
        k8spb.decode_all(manifest + b"---\napiVersion: v1\nkind: Widget\n")
    # decode (one object) stays strict: it names what it cannot type
    with pytest.raises(k8spb.DecodeError, match=r"unknown apiVersion 'stable\.example\.com/v1'"):
        k8spb.decode(b'{"apiVersion": "stable.example.com/v1", "kind": "CronTab"}')
