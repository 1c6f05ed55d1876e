"""Watch framing: length-prefixed protobuf WatchEvents and newline-delimited JSON, fed in pieces."""

from __future__ import annotations

import json

import pytest

import k8spb
from k8spb import WatchDecoder
from k8spb.api.core.v1 import ConfigMap
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta, Status
from k8spb.apimachinery.pkg.apis.meta.v1 import WatchEvent as WireEvent


def _pb_frame(kind: str, obj: k8spb.Model) -> bytes:
    body = WireEvent(type=kind, object=obj)._synced_pb().SerializeToString()
    return len(body).to_bytes(4, "big") + body


def _cm(name: str, rv: str) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, resource_version=rv), data={"k": "v"})


def test_wire_doc_example_frame_decodes() -> None:
    # The ADDED frame of the wire reference (section 3.3), byte for byte.
    raw = (b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09ConfigMap"
           b"\x12\x14\x0a\x0a\x0a\x04demo\x32\x0242\x12\x06\x0a\x01k\x12\x01v\x1a\x00\x22\x00")
    body = b"\x0a\x05ADDED\x12" + bytes([len(raw) + 2]) + b"\x0a" + bytes([len(raw)]) + raw
    frame = len(body).to_bytes(4, "big") + body
    assert frame[:4] == b"\x00\x00\x00\x3a"
    (event,) = WatchDecoder(k8spb.PROTOBUF + ";stream=watch", ConfigMap).feed(frame)
    assert event.type == "ADDED" and event.object.metadata.name == "demo" and event.object.data == {"k": "v"}


@pytest.mark.parametrize("step", [1, 3, 7, 1000])
def test_protobuf_frames_split_anywhere(step: int) -> None:
    stream = b"".join(_pb_frame(t, _cm(f"c{i}", str(i))) for i, t in enumerate(["ADDED", "MODIFIED", "DELETED"]))
    dec = WatchDecoder(k8spb.PROTOBUF, ConfigMap)
    events = []
    for i in range(0, len(stream), step):
        events += dec.feed(stream[i : i + step])
    dec.close()
    assert [(e.type, e.object.metadata.name) for e in events] == [("ADDED", "c0"), ("MODIFIED", "c1"),
                                                                  ("DELETED", "c2")]


def test_json_lines_and_error_event() -> None:
    lines = [
        {"type": "ADDED", "object": _cm("a", "1").to_dict()},
        {"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}}},
        {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "code": 410, "reason": "Expired",
                                     "message": "too old resource version: 1 (5)"}},
    ]
    data = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    events = WatchDecoder("application/json", ConfigMap).feed(data)
    assert [e.type for e in events] == ["ADDED", "BOOKMARK", "ERROR"]
    assert events[1].object.metadata.resource_version == "9"
    assert isinstance(events[2].object, Status) and events[2].object.code == 410


def test_cut_mid_frame_and_oversized_frames_are_errors() -> None:
    frame = _pb_frame("ADDED", _cm("a", "1"))
    dec = WatchDecoder(k8spb.PROTOBUF, ConfigMap)
    assert dec.feed(frame[:-3]) == []
    with pytest.raises(k8spb.DecodeError, match="middle of an event"):
        dec.close()
    with pytest.raises(k8spb.DecodeError, match="exceeds"):
        WatchDecoder(k8spb.PROTOBUF, max_frame=100).feed(b"\x00\x10\x00\x00" + b"x" * 10)
    with pytest.raises(k8spb.DecodeError, match="unknown watch event type"):
        WatchDecoder("application/json").feed(b'{"type":"NOPE","object":{}}\n')
    with pytest.raises(k8spb.DecodeError):
        WatchDecoder("application/json").feed(b"{not json}\n")
    with pytest.raises(k8spb.DecodeError, match="unsupported watch content type"):
        WatchDecoder("application/yaml")


@pytest.mark.parametrize("protobuf", [True, False], ids=["protobuf", "json"])
def test_events_before_a_bad_one_are_delivered(protobuf: bool) -> None:
    if protobuf:
        good = _pb_frame("ADDED", _cm("a", "1")) + _pb_frame("ADDED", _cm("b", "2"))
        bad = b"\x00\x00\x00\x03\xff\xff\xff"
        dec = WatchDecoder(k8spb.PROTOBUF, ConfigMap)
    else:
        good = b"".join(json.dumps({"type": "ADDED", "object": _cm(n, "1").to_dict()}).encode() + b"\n"
                        for n in "ab")
        bad = b"{not json}\n"
        dec = WatchDecoder("application/json", ConfigMap)
    assert [e.object.metadata.name for e in dec.feed(good + bad)] == ["a", "b"]
    with pytest.raises(k8spb.DecodeError):
        dec.feed(b"")
    with pytest.raises(k8spb.DecodeError):
        dec.close()
