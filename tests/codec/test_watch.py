"""Watch framing: length-prefixed protobuf WatchEvents and newline-delimited JSON, fed in pieces."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import k8spb
from k8spb import WatchDecoder
from k8spb.api.core.v1 import ConfigMap
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta, Status
from k8spb.apimachinery.pkg.apis.meta.v1 import WatchEvent as WireEvent
from k8spb.apimachinery.pkg.runtime import Unknown
from tests.conftest import TESTDATA, needs_fixtures


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


# Frames laid out as Go writes them are read by a fast path (only the object goes through upb); every
# other frame goes the general way. The two must agree on every input: same events, same errors.

_GO_POD = TESTDATA / "HEAD" / "core.v1.Pod.pb"


def _frame_of(event_type: bytes, raw: bytes) -> bytes:
    """A frame around any ``raw`` bytes, written by upb."""
    body = WireEvent._pb_class()(type=event_type.decode(), object={"raw": raw}).SerializeToString(deterministic=True)
    return len(body).to_bytes(4, "big") + body


def _outcome(frame: bytes, into: type[k8spb.Model], fast: bool, after: bytes = b"") -> tuple[Any, ...]:
    """What decoding ``frame`` gives (after the frame ``after``, whose header the fast path remembers)."""
    dec = WatchDecoder(k8spb.PROTOBUF, into)
    if not fast:
        dec._head = b""  # the general path only
    try:
        dec.feed(after)
        events = dec.feed(frame)
        dec.close()
    except k8spb.DecodeError as exc:
        return ("error", str(exc))
    try:
        return ("ok", *((e.type, type(e.object), e.object.to_dict()) for e in events))
    except k8spb.DecodeError as exc:  # a field that only fails when read
        return ("error on read", str(exc))


@needs_fixtures
def test_go_frames_take_the_fast_path_and_decode_as_the_general_one() -> None:
    from k8spb.api.core.v1 import Pod

    raw = _GO_POD.read_bytes()
    frame = _frame_of(b"MODIFIED", raw)
    dec = WatchDecoder(k8spb.PROTOBUF, Pod)
    assert dec._go_event(bytearray(frame), memoryview(frame), 4, len(frame)) is not None
    (event,) = dec.feed(frame)
    assert event.object == k8spb.decode(raw, into=Pod)
    assert _outcome(frame, Pod, True) == _outcome(frame, Pod, False)


def test_other_layouts_take_the_general_path() -> None:
    cm = _cm("a", "1")
    enveloped = k8spb.encode(cm, k8spb.PROTOBUF)
    bare = cm._synced_pb().SerializeToString()
    unknown = Unknown._pb_class()
    cases = {
        "no content fields": enveloped[: -len(b"\x1a\x00\x22\x00")],
        "content fields first": b"k8s\x00\x1a\x00\x22\x00" + enveloped[4:-4],
        "other apiVersion": enveloped.replace(b"\x0a\x02v1", b"\x0a\x02v2", 1),
        "JSON inside": b"k8s\x00" + unknown(typeMeta={"apiVersion": "v1", "kind": "ConfigMap"},
                                            raw=k8spb.encode(cm, k8spb.JSON), contentEncoding="",
                                            contentType="application/json").SerializeToString(deterministic=True),
        "raw twice": enveloped[:-4] + unknown(raw=bare).SerializeToString() + b"\x1a\x00\x22\x00",
    }
    for name, raw in cases.items():
        frame = _frame_of(b"ADDED", raw)
        assert WatchDecoder(k8spb.PROTOBUF, ConfigMap)._go_event(bytearray(frame), memoryview(frame), 4,
                                                                  len(frame)) is None, name
        assert _outcome(frame, ConfigMap, True) == _outcome(frame, ConfigMap, False), name
    with pytest.raises(k8spb.DecodeError, match="apiVersion"):
        WatchDecoder(k8spb.PROTOBUF, ConfigMap).feed(_frame_of(b"ADDED", cases["other apiVersion"]))
    (event,) = WatchDecoder(k8spb.PROTOBUF, ConfigMap).feed(_frame_of(b"ADDED", cases["JSON inside"]))
    assert event.object == cm


@needs_fixtures
@settings(deadline=None, derandomize=True, database=None, max_examples=400)
@given(st.data())
def test_fast_and_general_paths_agree_on_mutated_frames(data: st.DataObject) -> None:
    from k8spb.api.core.v1 import Pod

    cls = data.draw(st.sampled_from([Pod, ConfigMap]), "kind")
    raw = _GO_POD.read_bytes() if cls is Pod else k8spb.encode(_cm("a", "7"), k8spb.PROTOBUF)
    event_type = data.draw(st.sampled_from([b"ADDED", b"MODIFIED", b"DELETED", b"BOOKMARK", b"ERROR", b"MODIFIEX"]))
    frame = bytearray(_frame_of(event_type, raw))
    for _ in range(data.draw(st.integers(1, 3), "mutations")):
        i = data.draw(st.integers(4, len(frame) - 1), "at")
        how = data.draw(st.sampled_from(["set", "insert", "delete"]), "how")
        if how == "set":
            frame[i] = data.draw(st.integers(0, 255), "byte")
        elif how == "insert":
            frame.insert(i, data.draw(st.integers(0, 255), "byte"))
        else:
            del frame[i]
    if data.draw(st.booleans(), "fix the length prefix"):
        frame[:4] = (len(frame) - 4).to_bytes(4, "big")
    assert _outcome(bytes(frame), cls, True) == _outcome(bytes(frame), cls, False)
    # after a good frame of the same size and type, whose header the fast path then remembers
    good = _frame_of(event_type, raw)
    if len(good) == len(frame):
        assert _outcome(bytes(frame), cls, True, good) == _outcome(bytes(frame), cls, False, good)


@needs_fixtures
@settings(deadline=None, derandomize=True, database=None, max_examples=300)
@given(st.data())
def test_a_remembered_header_is_only_reused_for_the_same_bytes(data: st.DataObject) -> None:
    from k8spb.api.core.v1 import Pod

    raw = _GO_POD.read_bytes()
    good = _frame_of(b"MODIFIED", raw)
    frame = bytearray(good)  # same size: one byte changed, anywhere (the header and tail most often)
    i = data.draw(st.integers(4, 80) | st.integers(len(frame) - 8, len(frame) - 1) | st.integers(4, len(frame) - 1),
                  "at")
    frame[i] = data.draw(st.integers(0, 255).filter(lambda b: b != good[i]), "byte")
    assert _outcome(bytes(frame), Pod, True, good) == _outcome(bytes(frame), Pod, False, good)


def test_pieces_json_in_16k_steps_protobuf_whole() -> None:
    lines = b"".join(json.dumps({"type": "ADDED", "object": {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": f"cm-{i}"}, "data": {"k": "v" * 3000}}}).encode() + b"\n"
                     for i in range(20))
    dec = WatchDecoder("application/json", ConfigMap)
    pieces = dec.pieces(lines)
    assert len(pieces) > 1 and all(len(p) <= 16 * 1024 for p in pieces) and b"".join(pieces) == lines
    names = [e.object.metadata.name for p in pieces for e in dec.feed(p)]
    assert names == [f"cm-{i}" for i in range(20)]
    frames = b"".join(_pb_frame("ADDED", _cm(f"cm-{i}", str(i))) for i in range(20)) * 20
    assert WatchDecoder(k8spb.PROTOBUF, ConfigMap).pieces(frames) == (frames,)


def test_raw_decoder_leaves_go_frames_unparsed() -> None:
    from k8spb._codec._watch import RawObject

    cm = _cm("a", "1")
    enveloped = k8spb.encode(cm, k8spb.PROTOBUF)
    go = _frame_of(b"ADDED", enveloped)
    other = _frame_of(b"ADDED", enveloped[: -len(b"\x1a\x00\x22\x00")])  # not Go's layout: decoded as usual
    first, second = WatchDecoder(k8spb.PROTOBUF, ConfigMap, raw=True).feed(go + other)
    assert type(first.object) is RawObject and first.object.cls is ConfigMap
    assert first.object.decode() == cm == second.object and type(second.object) is ConfigMap
    assert "RawObject(ConfigMap" in repr(first.object)
    corrupt = b"k8s\x00" + Unknown._pb_class()(
        typeMeta={"apiVersion": "v1", "kind": "ConfigMap"}, raw=cm._synced_pb().SerializeToString() + b"\x12\x05\xff",
        contentEncoding="", contentType="").SerializeToString(deterministic=True)
    (event,) = WatchDecoder(k8spb.PROTOBUF, ConfigMap, raw=True).feed(_frame_of(b"ADDED", corrupt))
    assert type(event.object) is RawObject  # the corruption only shows when the object is read
    with pytest.raises(k8spb.DecodeError, match="ConfigMap: truncated or corrupt protobuf message"):
        event.object.decode()
