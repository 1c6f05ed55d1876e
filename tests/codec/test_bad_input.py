"""Bad input: every malformed payload, document or value is a k8spb.DecodeError/EncodeError naming what
was wrong and where, never another exception and never a silently half-filled object.

JSON/YAML decoding is lazy (fields convert on first read), so a wrongly typed field surfaces on access,
on ``to_dict()`` and on ``encode`` with its path; ``Model.from_dict`` validates eagerly. Payloads are
built here (no fixture files needed).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import pytest

import k8spb
from k8spb.api.apps.v1 import Deployment
from k8spb.api.core.v1 import ConfigMap, Container, Pod, PodSpec, Secret, Service
from k8spb.apimachinery.pkg.apis.meta.v1 import DeleteOptions, ObjectMeta, Status, WatchEvent
from k8spb.apimachinery.pkg.runtime import Unknown

PB = k8spb.PROTOBUF
JSON = k8spb.JSON
YAML = k8spb.YAML
FORMATS = (PB, JSON, YAML)


def _pod() -> Pod:
    return Pod(metadata=ObjectMeta(name="web", namespace="default", labels={"app": "web"}),
               spec=PodSpec(containers=[Container(name="c", image="nginx", args=["-g", "daemon off;"])]))


def _envelope(api_version: str, kind: str, raw: bytes, **extra: str) -> bytes:
    env = Unknown._pb_class()(raw=raw, contentEncoding=extra.get("contentEncoding", ""),
                              contentType=extra.get("contentType", ""))
    env.typeMeta.apiVersion = api_version
    env.typeMeta.kind = kind
    return b"k8s\x00" + env.SerializeToString()


def _patch_utf8(payload: bytes, text: str, junk: bytes) -> bytes:
    """Replace an ASCII string inside protobuf bytes by as many bytes that are not UTF-8."""
    assert len(junk) == len(text) and payload.count(text.encode()) == 1
    return payload.replace(text.encode(), junk)


def decode_error(fn: Callable[[], object], *fragments: str) -> k8spb.DecodeError:
    with pytest.raises(k8spb.DecodeError) as info:
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert isinstance(info.value, k8spb.Error) and isinstance(info.value, ValueError)
    return info.value


def encode_error(fn: Callable[[], object], *fragments: str) -> k8spb.EncodeError:
    with pytest.raises(k8spb.EncodeError) as info:
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert isinstance(info.value, k8spb.Error) and isinstance(info.value, ValueError)
    return info.value


# ---------------------------------------------------------------------------------------------------------
# Protobuf: envelope and message


def test_every_truncation_of_an_envelope_is_an_error_unless_it_ends_on_a_field() -> None:
    payload = k8spb.encode(_pod(), PB)
    assert payload[4:6] == b"\x0a\x09" and payload.endswith(b"\x1a\x00\x22\x00")
    type_meta_end = 6 + 9  # Unknown.typeMeta {apiVersion "v1", kind "Pod"}
    raw_end = len(payload) - 4  # then raw, then contentEncoding "" and contentType "" (1a 00 22 00)
    for cut in range(len(payload)):
        data = payload[:cut]
        if cut == type_meta_end:  # a valid envelope without raw: an empty Pod, as Go reads it
            assert k8spb.decode(data, PB) == Pod()
        elif cut in (raw_end, raw_end + 2):  # only trailing empty strings missing: the whole object
            assert k8spb.decode(data, PB) == _pod()
        else:  # no magic, or a field cut short
            decode_error(lambda data=data: k8spb.decode(data, PB))


@pytest.mark.parametrize(("payload", "fragment"), [
    (b"", "expected the 'k8s\\x00' magic"),
    (b"k8s", "expected the 'k8s\\x00' magic"),
    (b"k8s\x00", "only the magic"),
    (b"k8s\x01\x0a\x00", "expected the 'k8s\\x00' magic, got b'k8s\\x01'"),
    (b"K8S\x00\x0a\x00", "magic"),
    (b"\x0a\x09\x0a\x02v1\x12\x03Pod", "magic"),  # an envelope without the magic
])
def test_missing_or_wrong_magic(payload: bytes, fragment: str) -> None:
    decode_error(lambda: k8spb.decode(payload, PB), fragment)


@pytest.mark.parametrize("garbage", [
    b"\xff" * 12,  # a varint that never ends
    b"\x0a\xff\xff\xff\xff\x0f",  # a length far beyond the payload
    b"\x0b",  # group start (wire type 3) never closed
    b"\x00\x00",  # field number 0
    b"\x12\x05abc",  # raw shorter than its length
])
def test_garbled_envelope(garbage: bytes) -> None:
    decode_error(lambda: k8spb.decode(b"k8s\x00" + garbage, PB), "protobuf")


@pytest.mark.parametrize("garbage", [b"\xff" * 12, b"\x0a\x20abc", b"\x0b\x0a", b"\x00"])
def test_garbled_object_inside_a_valid_envelope(garbage: bytes) -> None:
    payload = _envelope("v1", "Pod", garbage)
    err = decode_error(lambda: k8spb.decode(payload, PB), "Pod", "truncated or corrupt protobuf message")
    assert err.kind == "Pod"


def test_empty_object_message_is_an_empty_object() -> None:
    # Not an error: the empty message is a valid (empty) Pod, as Go reads it.
    assert k8spb.decode(_envelope("v1", "Pod", b""), PB) == Pod()


@pytest.mark.parametrize(("api_version", "kind", "fragments"), [
    ("", "", ("missing apiVersion",)),
    ("", "Pod", ("Pod", "missing apiVersion")),
    ("v1", "", ("missing kind", "'v1'")),
    ("example.com/v1", "Widget", ("Widget", "unknown apiVersion 'example.com/v1'")),
    ("v1", "Widget", ("unknown kind 'Widget' in v1",)),
    ("apps/v1", "Pod", ("unknown kind 'Pod' in apps/v1",)),
])
def test_envelope_type_meta(api_version: str, kind: str, fragments: tuple[str, ...]) -> None:
    payload = _envelope(api_version, kind, b"")
    decode_error(lambda: k8spb.decode(payload, PB), *fragments)


def test_envelope_content_encoding_and_type() -> None:
    decode_error(lambda: k8spb.decode(_envelope("v1", "Pod", b"", contentEncoding="gzip"), PB),
                 "Pod", "unsupported envelope contentEncoding 'gzip'")
    decode_error(lambda: k8spb.decode(_envelope("v1", "Pod", b"x", contentType="text/plain"), PB),
                 "unsupported content type 'text/plain'")
    # raw in another declared format is decoded as that format, with its own errors
    decode_error(lambda: k8spb.decode(_envelope("v1", "Pod", b"{", contentType=JSON), PB),
                 "invalid JSON", "line 1 column 2")
    inner = json.dumps(_pod().to_dict()).encode()
    assert k8spb.decode(_envelope("v1", "Pod", inner, contentType=JSON), PB) == _pod()


def test_envelope_strings_that_are_not_utf8() -> None:
    payload = _patch_utf8(_envelope("v1", "Pod", b""), "Pod", b"P\xffd")
    decode_error(lambda: k8spb.decode(payload, PB), "envelope kind is not valid UTF-8")


def test_strings_that_are_not_utf8_fail_where_they_are_read() -> None:
    payload = _patch_utf8(k8spb.encode(_pod(), PB), "nginx", b"ngin\xff")
    pod = k8spb.decode(payload)  # lazy: the object decodes
    assert pod.metadata.name == "web"  # other fields read fine
    decode_error(lambda: pod.spec.containers[0].image, "Container.image", "not valid UTF-8", "\\xff")
    decode_error(pod.to_dict, "Pod", "Container.image", "not valid UTF-8")
    decode_error(lambda: k8spb.encode(pod, JSON), "Container.image")
    decode_error(lambda: k8spb.encode(pod, YAML), "Container.image")
    assert k8spb.encode(pod, PB) == payload  # protobuf passes the bytes through untouched


@pytest.mark.parametrize(("text", "junk", "where"), [
    ("app", b"a\xffp", "ObjectMeta.labels"),  # a map key
    ("web\x12", b"\xfe\xff\xfe\x12", "ObjectMeta"),  # the name, then the labels' value 'web'
    ("daemon off;", b"daemon off\xff", "Container.args"),  # a list item
])
def test_invalid_utf8_in_maps_and_lists(text: str, junk: bytes, where: str) -> None:
    payload = _patch_utf8(k8spb.encode(_pod(), PB), text, junk)
    pod = k8spb.decode(payload)
    decode_error(pod.to_dict, where, "not valid UTF-8")
    decode_error(lambda: k8spb.encode(pod, JSON), where)


def test_time_out_of_range() -> None:
    msg = Pod._pb_class()()
    msg.metadata.name = "x"
    msg.metadata.creationTimestamp.seconds = 2**62
    payload = _envelope("v1", "Pod", msg.SerializeToString())
    pod = k8spb.decode(payload)
    decode_error(lambda: pod.metadata.creation_timestamp, "ObjectMeta.creationTimestamp", "invalid value")
    decode_error(pod.to_dict, "ObjectMeta.creationTimestamp")
    assert k8spb.encode(k8spb.decode(payload), PB) == payload


def test_nested_envelope_in_a_raw_extension() -> None:
    # A watch event's object is an envelope of its own; a broken one fails where it is read.
    event = WatchEvent._pb_class()(type="ADDED")
    event.object.raw = b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Widget"
    payload = _envelope("v1", "WatchEvent", event.SerializeToString())
    decoded = k8spb.decode(payload)
    assert decoded.type == "ADDED"
    decode_error(lambda: decoded.object, "WatchEvent.object", "unknown kind 'Widget'")
    decode_error(decoded.to_dict, "unknown kind 'Widget'")


# ---------------------------------------------------------------------------------------------------------
# JSON and YAML documents


@pytest.mark.parametrize(("payload", "content_type", "fragment"), [
    (b"[]", JSON, "JSON document is not an object but list"),
    (b'[{"apiVersion": "v1", "kind": "Pod"}]', None, "not an object but list"),
    (b"5", JSON, "not an object but int"),
    (b'"Pod"', JSON, "not an object but str"),
    (b"null", JSON, "not an object but NoneType"),
    (b"true", JSON, "not an object but bool"),
    (b"- a\n- b\n", YAML, "YAML document is not an object but list"),
    (b"just a string\n", None, "YAML document is not an object but str"),
    (b"42\n", YAML, "not an object but int"),
    (b"~\n", YAML, "YAML holds no document"),
    (b"", YAML, "YAML holds no document"),
    (b"   \n", None, "YAML holds no document"),
    (b"# only a comment\n", YAML, "YAML holds no document"),
])
def test_documents_that_are_not_objects(payload: bytes, content_type: str | None, fragment: str) -> None:
    decode_error(lambda: k8spb.decode(payload, content_type), fragment)


def test_text_that_is_not_utf8() -> None:
    decode_error(lambda: k8spb.decode(b'{"apiVersion": "v1", "kind": "Pod", "x": "\xff"}'),
                 "JSON is not valid UTF-8", "at byte")
    decode_error(lambda: k8spb.decode(b"apiVersion: v1\nkind: Pod\nx: \xff\n", YAML), "invalid YAML")
    decode_error(lambda: k8spb.decode('{"apiVersion": "v1", "kind": "Pod", "x": "\ud800"}'),
                 "not valid Unicode")  # a str with a lone surrogate


@pytest.mark.parametrize(("payload", "content_type", "fragments"), [
    (b'{\n  "apiVersion": "v1",\n  "kind": "Pod",\n  "spec": {,}\n}', JSON, ("invalid JSON", "line 4 column 12")),
    (b'{"apiVersion": "v1", "kind": "Pod"', JSON, ("invalid JSON", "line 1 column 35")),
    (b'{"apiVersion": "v1"}\n{"kind": "Pod"}', JSON, ("invalid JSON: Extra data", "line 2 column 1")),
    (b'{"apiVersion": "v1", "kind": "Pod", "x": NaN}', JSON, ("NaN is not a JSON value",)),
    (b'{"apiVersion": "v1", "kind": "Pod", "x": -Infinity}', JSON, ("Infinity is not a JSON value",)),
    (b"apiVersion: v1\nkind: Pod\nspec: [a\n", YAML, ("invalid YAML", "line 4 column 1")),
    (b"apiVersion: v1\nkind: Pod\n  metadata: {}\n", YAML, ("invalid YAML", "line 3 column 11")),
    (b"apiVersion: v1\nkind: Pod\nkind: Pod\n\tx: 1\n", YAML, ("invalid YAML", "line 4 column 1")),
    (b"apiVersion: v1\nkind: Pod\nx: !!python/object:os.system echo\n", YAML, ("invalid YAML", "line 3")),
    (b"apiVersion: v1\nkind: Pod\nx: *nowhere\n", YAML, ("invalid YAML", "line 3 column 4")),
])
def test_invalid_syntax_names_line_and_column(payload: bytes, content_type: str, fragments: tuple[str, ...]) -> None:
    decode_error(lambda: k8spb.decode(payload, content_type), *fragments)


def test_numbers_python_cannot_hold() -> None:
    huge = b"1" + b"0" * 5000
    # JSON values are parsed when read: the syntax is checked at decode, the number's range where it is read
    lazy = k8spb.decode(b'{"apiVersion": "v1", "kind": "Pod", "x": ' + huge + b"}")
    decode_error(lazy.to_dict, "Pod.x: invalid JSON value: Integer value out of range")
    lazy = k8spb.decode(b'{"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": ' + huge + b"}}")
    decode_error(lambda: lazy.spec.replicas, "Deployment.spec.replicas: invalid JSON value")  # type: ignore[attr-defined]
    decode_error(lambda: k8spb.decode(b'[' + huge + b"]"), "invalid JSON")
    decode_error(lambda: k8spb.decode(b"apiVersion: v1\nkind: Pod\nx: " + huge + b"\n", YAML), "invalid YAML")


def test_yaml_alias_cycles_and_bombs() -> None:
    decode_error(lambda: k8spb.decode(b"apiVersion: v1\nkind: ConfigMap\nx: &a [*a]\n"),
                 "alias refers to a node that contains it")
    decode_error(lambda: k8spb.decode(b"apiVersion: v1\nkind: ConfigMap\nx: &a {y: *a}\n"), "alias")
    bomb = b"apiVersion: v1\nkind: ConfigMap\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
        b"a%d: &a%d [%s]\n" % (i, i, b", ".join([b"*a%d" % (i - 1)] * 10)) for i in range(1, 9))
    decode_error(lambda: k8spb.decode(bomb), "aliases expand the document")
    # ordinary anchors are fine
    ok = k8spb.decode(b"apiVersion: v1\nkind: ConfigMap\ndata: &d {a: b}\nbinaryData: {}\nx: *d\n")
    assert ok.to_dict()["x"] == {"a": "b"}


def test_nesting_too_deep_is_an_error_not_a_crash() -> None:
    deep = b'{"apiVersion": "v1", "kind": "ConfigMap", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    decode_error(lambda: k8spb.decode(deep), "nested too deeply")
    yaml_deep = b"apiVersion: v1\nkind: WatchEvent\ntype: ADDED\nobject: " + b"[" * 5000 + b"]" * 5000 + b"\n"
    try:
        obj = k8spb.decode(yaml_deep)
    except k8spb.DecodeError:
        return
    for fmt in FORMATS:
        with pytest.raises(k8spb.Error, match=r"nested too deeply"):
            k8spb.encode(obj, fmt)


# wrong field types: (document, path in the message, reader)
WRONG_TYPES: list[tuple[dict[str, Any], str, Callable[[Any], object]]] = [
    ({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": 5}},
     "Pod.spec.containers: expected a list, got int 5", lambda o: o.spec.containers),
    ({"apiVersion": "v1", "kind": "Pod", "spec": "big"},
     "Pod.spec: expected an object (PodSpec), got str", lambda o: o.spec),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"app": 1}}},
     "Pod.metadata.labels['app']: expected a string, got int 1", lambda o: o.metadata.labels),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": ["app"]}},
     "Pod.metadata.labels: expected an object (map), got list", lambda o: o.metadata.labels),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"creationTimestamp": "yesterday"}},
     "Pod.metadata.creationTimestamp: not an RFC 3339 timestamp: 'yesterday'",
     lambda o: o.metadata.creation_timestamp),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"creationTimestamp": "2024-13-01T00:00:00Z"}},
     "Pod.metadata.creationTimestamp: month must be in 1..12", lambda o: o.metadata.creation_timestamp),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"creationTimestamp": 1700000000}},
     "Pod.metadata.creationTimestamp: expected an RFC 3339 timestamp string, got int",
     lambda o: o.metadata.creation_timestamp),
    ({"apiVersion": "v1", "kind": "Secret", "data": {"key": "not base64!"}},
     "Secret.data['key']: invalid base64", lambda o: o.data),
    ({"apiVersion": "v1", "kind": "Secret", "data": {"key": "QQ"}},
     "Secret.data['key']: invalid base64", lambda o: o.data),
    ({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "3"}},
     "Deployment.spec.replicas: expected an integer, got str '3'", lambda o: o.spec.replicas),
    ({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1.5}},
     "Deployment.spec.replicas: expected an integer, got float 1.5", lambda o: o.spec.replicas),
    ({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"paused": "yes"}},
     "Deployment.spec.paused: expected a boolean, got str", lambda o: o.spec.paused),
    ({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "ports": [{"containerPort": True}]}]}},
     "Pod.spec.containers[0].ports[0].containerPort: expected an integer, got bool True",
     lambda o: o.spec.containers[0].ports[0].container_port),
    ({"apiVersion": "v1", "kind": "Pod",
      "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": [1]}}}]}},
     "Pod.spec.containers[0].resources.limits['cpu']: expected a quantity",
     lambda o: o.spec.containers[0].resources.limits),
    ({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 1.5}]}},
     "Service.spec.ports[0].targetPort: expected an integer or a string, got float",
     lambda o: o.spec.ports[0].target_port),
    ({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": ["nginx"]}},
     "Pod.spec.containers[0]: expected an object (Container), got str", lambda o: o.spec.containers),
]


@pytest.mark.parametrize(("doc", "message", "read"), WRONG_TYPES, ids=[m.split(":")[0] for _, m, _ in WRONG_TYPES])
def test_wrong_field_types(doc: dict[str, Any], message: str, read: Callable[[Any], object]) -> None:
    payload = json.dumps(doc).encode()
    for content_type in (JSON, YAML):  # JSON is YAML
        obj = k8spb.decode(payload, content_type)  # lazy: no error yet
        decode_error(lambda obj=obj: read(obj), message)
        decode_error(obj.to_dict, message)
        for fmt in FORMATS:
            err = decode_error(lambda obj=obj, fmt=fmt: k8spb.encode(obj, fmt), message)
            assert err.path is not None and message.startswith(err.path)
    cls = type(k8spb.decode(payload))
    decode_error(lambda: cls.from_dict(doc), message)  # eager


def test_yaml_map_keys_must_be_strings() -> None:
    obj = k8spb.decode(b"apiVersion: v1\nkind: ConfigMap\ndata:\n  1: one\n")
    decode_error(lambda: obj.data, "ConfigMap.data: map keys must be strings, got int 1")
    decode_error(lambda: ConfigMap.from_dict({"data": {1: "one"}}), "map keys must be strings")
    decode_error(lambda: ConfigMap.from_dict({1: "one"}), "object keys must be strings")
    decode_error(lambda: k8spb.decode(b"apiVersion: v1\nkind: ConfigMap\n1: one\n"), "keys must be strings")


@pytest.mark.parametrize(("payload", "fragments"), [
    (b'{"apiVersion": "example.com/v1", "kind": "Widget"}', ("Widget", "unknown apiVersion 'example.com/v1'")),
    (b'{"apiVersion": "v1", "kind": "Widget"}', ("unknown kind 'Widget' in v1",)),
    (b'{"apiVersion": "apps/v1", "kind": "Pod"}', ("unknown kind 'Pod' in apps/v1",)),
    (b'{"kind": "Pod"}', ("needs string apiVersion and kind", "apiVersion=None")),
    (b'{"apiVersion": "v1"}', ("needs string apiVersion and kind", "kind=None")),
    (b'{"metadata": {"name": "x"}}', ("needs string apiVersion and kind",)),
    (b'{"apiVersion": 1, "kind": "Pod"}', ("apiVersion=1",)),
    (b'{"apiVersion": "v1", "kind": ["Pod"]}', ("kind=['Pod']",)),
    (b'{"apiVersion": "", "kind": "Pod"}', ("missing apiVersion",)),
    (b"apiVersion: v1\nkind: Widget\n", ("unknown kind 'Widget' in v1",)),
])
def test_unknown_or_missing_type(payload: bytes, fragments: tuple[str, ...]) -> None:
    decode_error(lambda: k8spb.decode(payload), *fragments)


def test_into_checks_the_type() -> None:
    pod_json = json.dumps(_pod().to_dict()).encode()
    decode_error(lambda: k8spb.decode(pod_json, into=Service), "payload is v1/Pod, expected Service")
    decode_error(lambda: k8spb.decode(k8spb.encode(_pod(), PB), into=Service), "expected Service")
    deployment = json.dumps({"apiVersion": "extensions/v1beta1", "kind": "Deployment"}).encode()
    decode_error(lambda: k8spb.decode(deployment, into=Deployment),
                 "apiVersion 'extensions/v1beta1' does not match Deployment (apps/v1)")
    decode_error(lambda: k8spb.decode(_envelope("apps/v1beta2", "Deployment", b""), into=Deployment),
                 "does not match Deployment")
    # without a kind the class is taken from ``into``; a Status is v1 on every group
    assert k8spb.decode(b'{"metadata": {"name": "x"}}', into=Pod) == Pod(metadata=ObjectMeta(name="x"))
    assert k8spb.decode(b'{"apiVersion": "v1", "kind": "Status", "code": 404}', into=Status).code == 404
    # meta kinds are served in every group-version and keep the apiVersion they came with
    options = k8spb.decode(b'{"apiVersion": "apps/v1", "kind": "DeleteOptions", "dryRun": ["All"]}',
                           into=DeleteOptions)
    assert options.to_dict()["apiVersion"] == "apps/v1"
    assert k8spb.decode(k8spb.encode(options, PB)).to_dict() == options.to_dict()


def test_from_dict_checks_the_type() -> None:
    decode_error(lambda: Pod.from_dict([]), "Pod: expected an object, got list")  # type: ignore[arg-type]
    decode_error(lambda: Pod.from_dict(None), "expected an object, got NoneType")  # type: ignore[arg-type]
    decode_error(lambda: Pod.from_dict({"kind": "Service"}), "kind 'Service' does not match the model class Pod")
    decode_error(lambda: Pod.from_dict({"apiVersion": "apps/v1", "kind": "Pod"}),
                 "apiVersion 'apps/v1' does not match Pod (v1)")
    decode_error(lambda: Pod.from_dict({"apiVersion": 1}), "apiVersion must be a string")
    assert Pod.from_dict({"apiVersion": "v1", "kind": "Pod"}) == Pod()


@pytest.mark.parametrize("content_type", [JSON, YAML, "application/json; charset=utf-8"])
def test_protobuf_bytes_declared_as_text(content_type: str) -> None:
    payload = k8spb.encode(_pod(), PB)
    decode_error(lambda: k8spb.decode(payload, content_type), "Kubernetes protobuf", "content type")


@pytest.mark.parametrize("fmt", [JSON, YAML])
def test_text_declared_as_protobuf(fmt: str) -> None:
    payload = k8spb.encode(_pod(), fmt)
    decode_error(lambda: k8spb.decode(payload, PB), "not a Kubernetes protobuf payload", "magic")


def test_yaml_declared_as_json() -> None:
    payload = k8spb.encode(_pod(), YAML)
    decode_error(lambda: k8spb.decode(payload, JSON), "invalid JSON", "line 1 column 1")


@pytest.mark.parametrize("content_type", ["text/plain", "application/cbor", "application/xml", "", "json"])
def test_unsupported_content_types(content_type: str) -> None:
    decode_error(lambda: k8spb.decode(b"{}", content_type), "unsupported content type", repr(content_type))
    encode_error(lambda: k8spb.encode(_pod(), content_type), "unsupported content type")
    encode_error(lambda: k8spb.encode_all([_pod()], content_type), "unsupported content type")


def test_content_type_and_data_of_the_wrong_type() -> None:
    decode_error(lambda: k8spb.decode(b"{}", 5), "unsupported content type")  # type: ignore[arg-type]
    encode_error(lambda: k8spb.encode(_pod(), None), "unsupported content type")  # type: ignore[arg-type]
    decode_error(lambda: k8spb.decode(12345), "expected bytes or str, got int")  # type: ignore[arg-type]
    decode_error(lambda: k8spb.decode(None), "expected bytes or str")  # type: ignore[arg-type]


def test_multi_document_yaml_given_to_decode() -> None:
    payload = k8spb.encode_all([_pod(), _pod()])
    decode_error(lambda: k8spb.decode(payload), "YAML holds 2 documents; use decode_all")
    assert len(k8spb.decode_all(payload)) == 2
    bad_second = payload + b"---\napiVersion: v1\nkind: Widget\n"
    decode_error(lambda: k8spb.decode_all(bad_second), "unknown kind 'Widget'")
    decode_error(lambda: k8spb.decode_all(payload + b"---\n- a list\n"), "YAML document 3 document is not an object")


# ---------------------------------------------------------------------------------------------------------
# Encoding


@pytest.mark.parametrize("fmt", FORMATS)
def test_encoding_a_non_top_level_model(fmt: str) -> None:
    encode_error(lambda: k8spb.encode(PodSpec(), fmt), "PodSpec has no apiVersion/kind")
    encode_error(lambda: k8spb.encode(ObjectMeta(name="x"), fmt), "only top-level objects")
    encode_error(lambda: k8spb.encode({"apiVersion": "v1"}, fmt), "expected a k8spb model, got dict")  # type: ignore[arg-type]
    encode_error(lambda: k8spb.encode_all([PodSpec()], fmt), "PodSpec has no apiVersion/kind")


def test_unknown_json_fields_cannot_be_written_as_protobuf() -> None:
    top = k8spb.decode(b'{"apiVersion": "v1", "kind": "Pod", "extra": 1}')
    encode_error(lambda: k8spb.encode(top, PB), "Pod: field 'extra' is not part of Pod")
    nested = k8spb.decode(b'{"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "colour": 1}]}}')
    encode_error(lambda: k8spb.encode(nested, PB),
                 "Pod.spec.containers[0]: field 'colour' is not part of Container")
    eager = Pod.from_dict({"metadata": {"name": "x", "color": "red"}})
    encode_error(lambda: k8spb.encode(eager, PB), "Pod.metadata: field 'color' is not part of ObjectMeta")
    # JSON and YAML carry unknown fields through
    assert json.loads(k8spb.encode(top, JSON))["extra"] == 1
    assert b"colour: 1" in k8spb.encode(nested, YAML)
    # once the unknown field's parent is replaced, protobuf works
    nested.spec.containers[0] = Container(name="c")
    assert k8spb.decode(k8spb.encode(nested, PB)).spec.containers == [Container(name="c")]


@pytest.mark.parametrize(("obj", "message"), [
    (Pod(metadata=ObjectMeta(name=5)), "Pod.metadata.name: expected a string, got int"),  # type: ignore[arg-type]
    (Pod(metadata=ObjectMeta(labels=["a"])), "Pod.metadata.labels: expected a dict, got list"),  # type: ignore[arg-type]
    (Pod(metadata=ObjectMeta(labels={"a": "x", "b": 2})), "Pod.metadata.labels['b']: expected a string"),  # type: ignore[dict-item]
    (Pod(spec=PodSpec(containers=Container(name="c"))), "Pod.spec.containers: expected a list"),  # type: ignore[arg-type]
    (Pod(spec=ObjectMeta()), "Pod.spec: expected PodSpec, got ObjectMeta"),  # type: ignore[arg-type]
    (Pod(metadata=ObjectMeta(creation_timestamp="2024-01-01")), "Pod.metadata.creationTimestamp: expected a datetime"),  # type: ignore[arg-type]
    (Secret(data={"k": "text"}), "Secret.data['k']: expected bytes, got str"),  # type: ignore[dict-item]
    (Deployment.from_dict({"spec": {"replicas": 2**40}}), "Deployment.spec.replicas"),
])
def test_invalid_values_built_by_hand(obj: k8spb.Model, message: str) -> None:
    for fmt in FORMATS:
        if message.startswith("Deployment") and fmt != PB:
            assert k8spb.encode(obj, fmt)  # an int beyond int32 is fine in JSON and YAML
            continue
        encode_error(lambda fmt=fmt: k8spb.encode(obj, fmt), message)


def test_null_list_items_of_objects_cannot_be_written_as_protobuf() -> None:
    pod = Pod(spec=PodSpec(containers=[None]))  # type: ignore[list-item]
    encode_error(lambda: k8spb.encode(pod, PB), "Pod.spec.containers[0]: null list items")


def test_raw_bytes_cannot_be_written_as_json() -> None:
    event = WatchEvent(type="ADDED", object=b"\x00binary")
    assert k8spb.decode(k8spb.encode(event, PB)).object == b"\x00binary"
    encode_error(lambda: k8spb.encode(event, JSON), "WatchEvent.object", "non-JSON bytes")
    encode_error(event.to_dict, "non-JSON bytes")


def test_surrogates_cannot_be_written() -> None:
    cm = k8spb.decode(b'{"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "\\ud800"}}')
    for fmt in FORMATS:
        encode_error(lambda fmt=fmt: k8spb.encode(cm, fmt), "surrogates not allowed")


def test_errors_never_leave_half_built_state() -> None:
    # a failed from_dict builds nothing; a failed encode leaves the object encodable once fixed
    pod = _pod()
    pod.metadata.name = 5  # type: ignore[assignment]
    encode_error(lambda: k8spb.encode(pod, PB))
    pod.metadata.name = "web"
    assert k8spb.encode(pod, PB) == k8spb.encode(_pod(), PB)
    decoded = k8spb.decode(k8spb.encode(_pod(), PB))
    decoded.spec.containers[0].image = ["not", "a", "string"]  # type: ignore[assignment]
    encode_error(lambda: k8spb.encode(decoded, PB), "Pod.spec.containers[0].image")
    decoded.spec.containers[0].image = "nginx"
    assert k8spb.encode(decoded, PB) == k8spb.encode(_pod(), PB)


def test_time_values_out_of_range_for_protobuf() -> None:
    far = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
    pod = Pod(metadata=ObjectMeta(creation_timestamp=far))
    assert k8spb.decode(k8spb.encode(pod, PB)).metadata.creation_timestamp == far
    encode_error(lambda: k8spb.encode(Pod(metadata=ObjectMeta(creation_timestamp=datetime.date(2024, 1, 1))), PB),  # type: ignore[arg-type]
                 "Pod.metadata.creationTimestamp: expected a datetime")
