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
