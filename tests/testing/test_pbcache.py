"""The server's protobuf cache: hand-assembled envelopes, lists and watch frames equal upb's bytes."""

from __future__ import annotations

import pytest

import k8spb
from k8spb.api.core.v1 import ConfigMap, ConfigMapList
from k8spb.apimachinery.pkg.apis.meta.v1 import ListMeta, ObjectMeta, WatchEvent
from k8spb.testing._pbcache import ProtobufCache, watch_frame

PB = k8spb.PROTOBUF


def _cm(name: str, size: int) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, namespace="ns", uid=f"uid-{name}", resource_version="7"),
                     data={"payload": "x" * size})


@pytest.mark.parametrize("size", [0, 100, 16_300, 20_000])  # one- to three-byte length prefixes, and across
def test_single_object_and_frame_match_upb(size: int) -> None:
    cm = _cm("a", size)
    doc = {"apiVersion": "v1", "kind": "ConfigMap", **cm.to_dict()}
    cache = ProtobufCache()
    expected = k8spb.encode(cm, PB)
    assert cache.encode(doc) == expected
    body = WatchEvent(type="MODIFIED", object=cm)._synced_pb().SerializeToString(deterministic=True)
    frame = watch_frame("MODIFIED", expected)
    assert frame == len(body).to_bytes(4, "big") + body
    assert b"".join(cache.watch_frame_parts("MODIFIED", doc)) == frame
    assert b"".join(cache.watch_frame_parts("MODIFIED", doc)) == frame  # from the cache
    (event,) = k8spb.WatchDecoder(PB, ConfigMap).feed(frame)
    assert event.type == "MODIFIED" and event.object == cm


def test_list_matches_upb_with_hits_and_misses() -> None:
    items = [_cm(f"c{i}", i * 50) for i in range(5)]
    lst = ConfigMapList(metadata=ListMeta(resource_version="9", continue_="tok"), items=items)
    doc = {"apiVersion": "v1", "kind": "ConfigMapList", **lst.to_dict()}
    cache = ProtobufCache(size=3)
    cache.watch_frame_parts("ADDED", {"apiVersion": "v1", "kind": "ConfigMap", **items[1].to_dict()})  # caches item 1
    expected = k8spb.encode(lst, PB)
    assert cache.encode(doc) == expected  # one hit, four misses
    assert cache.encode(doc) == expected  # three hits (the cache holds three), two misses
    assert k8spb.decode(expected) == lst
