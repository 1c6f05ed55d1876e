"""Objects the watcher takes encoded: read by their metadata alone, kept without being parsed."""

from __future__ import annotations

import datetime

import pytest

import k8spb
from k8spb import Api, Client
from k8spb._codec._envelope import read_varint
from k8spb._codec._watch import RawObject
from k8spb.api.core.v1 import ConfigMap, Pod, PodSpec
from k8spb.apimachinery.pkg.apis.meta.v1 import ManagedFieldsEntry, ObjectMeta
from k8spb.runtime import Apply, Delete, InitApply, Writer, watcher
from k8spb.runtime._watcher import Encoded, WatcherConfig, _Machine
from tests.runtime.conftest import FAST, cm


def _pod(name: str = "p", **labels: str) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, namespace="ns", labels=labels or None, resource_version="42",
                                   managed_fields=[ManagedFieldsEntry(
                                       manager="kubectl", operation="Apply", fields_v1={"f:metadata": {}},
                                       time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))]),
               spec=PodSpec(node_name="n1"))


def _raw(obj: Pod) -> RawObject:
    return RawObject(Pod, obj._synced_pb().SerializeToString())


def test_encoded_reads_metadata_and_drops_managed_fields() -> None:
    enc = Encoded(_raw(_pod(app="web")))
    assert (enc.meta.name, enc.meta.namespace, enc.meta.resourceVersion) == ("p", "ns", "42")
    stripped = Pod.from_pb_bytes(enc.without_managed_fields())
    expected = _pod(app="web")
    expected.metadata.managed_fields = None  # type: ignore[union-attr]
    assert stripped == expected
    plain = _pod()
    plain.metadata.managed_fields = None  # type: ignore[union-attr]
    raw = _raw(plain)
    assert Encoded(raw).without_managed_fields() is raw.data  # nothing to drop: the bytes as they came


def test_unknown_fields_of_a_newer_server_are_kept() -> None:
    data = _raw(_pod()).data
    meta_len, p = read_varint(data, 1)
    # metadata gets a field 99 (a string) a newer Kubernetes might send, after managedFields
    extra = b"\x9a\x06\x03new"
    meta = data[p : p + meta_len] + extra
    grown = b"\x0a" + bytes((len(meta),)) + meta + data[p + meta_len :]
    assert len(meta) < 0x80
    kept = Encoded(RawObject(Pod, grown)).without_managed_fields()
    assert extra in kept and Pod.from_pb_bytes(kept).spec == PodSpec(node_name="n1")


def test_other_layouts_and_corruption() -> None:
    m = _Machine(WatcherConfig())
    m.listing = False
    spec_first = RawObject(Pod, b"\x12\x04\x52\x02n1" + _raw(_pod()).data)  # spec before metadata
    (event,) = m.event("MODIFIED", spec_first)
    assert event._encoded is None and event.object.metadata.name == "p"  # type: ignore[union-attr]
    with pytest.raises(k8spb.DecodeError, match="Pod: truncated or corrupt protobuf metadata"):
        Encoded(RawObject(Pod, b"\x0a\x05\xff\xff\xff\xff\xff"))
    bad_spec = RawObject(Pod, _raw(_pod()).data + b"\x12\x05\xff\xff")
    (event,) = m.event("MODIFIED", bad_spec)
    w: Writer[Pod] = Writer()
    w.apply(event)  # kept as it came: only reading it shows the corruption
    with pytest.raises(k8spb.DecodeError, match="Pod"):
        w.store.get("p", "ns")
    with pytest.raises(k8spb.DecodeError, match="Pod"):
        _ = event.object


def test_events_parse_their_object_only_when_read(client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    api.create(cm("one", k="v"))
    stream = watcher(api, WatcherConfig(backoff=FAST))
    for _ in range(3):  # Init, InitApply (from the list: decoded), InitDone
        next(stream)
    api.create(cm("two", k="w"))
    api.delete("one")
    added, deleted = next(stream), next(stream)
    assert type(added) is Apply and type(deleted) is Delete
    assert added._encoded is not None and added._object is None  # not parsed yet
    w: Writer[ConfigMap] = Writer()
    w.apply(InitApply(api.get("two")))
    w.apply(added)
    assert added._object is None  # kept without parsing it
    assert added.object == api.get("two") and added == Apply(api.get("two"))
    assert "Apply(" in repr(added) and repr(deleted).startswith("Delete(")
    w.apply(deleted)
    assert w.store.get("two", "default") is not None and w.store.get("one", "default") is None
    match added:
        case Apply(obj):
            assert obj.data == {"k": "w"}
    stream.close()
