"""Model behaviour: construction, equality, repr, copies, pickling, mutation of decoded objects, the
Go-embedded and irregularly named fields, the special types, and multi-document YAML.

Most objects are built here; tests that need Kubernetes' own fixtures skip without them.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import pickle
from typing import Any

import pytest
from google.protobuf.unknown_fields import UnknownFieldSet

import k8spb
from k8spb.api.admissionregistration.v1 import (
    MatchResources,
    MutatingWebhook,
    MutatingWebhookConfiguration,
    NamedRuleWithOperations,
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicySpec,
    Variable,
)
from k8spb.api.apps.v1 import Deployment, DeploymentSpec
from k8spb.api.authentication.v1 import BoundObjectReference, TokenRequest, TokenRequestSpec
from k8spb.api.core.v1 import (
    ConfigMap,
    ConfigMapVolumeSource,
    Container,
    ContainerPort,
    EnvVar,
    EphemeralContainer,
    Event,
    HTTPGetAction,
    Pod,
    PodSpec,
    PodTemplateSpec,
    Probe,
    ResourceRequirements,
    Secret,
    Service,
    ServicePort,
    ServiceSpec,
    Volume,
)
from k8spb.api.networking.v1 import (
    HTTPIngressPath,
    HTTPIngressRuleValue,
    Ingress,
    IngressBackend,
    IngressClass,
    IngressClassParametersReference,
    IngressClassSpec,
    IngressRule,
    IngressServiceBackend,
    IngressSpec,
    ServiceBackendPort,
)
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import (
    CustomResourceDefinition,
    CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion,
    CustomResourceValidation,
    JSONSchemaProps,
)
from k8spb.apimachinery.pkg.apis.meta.v1 import LabelSelector, ManagedFieldsEntry, ObjectMeta, WatchEvent
from k8spb.apimachinery.pkg.runtime import Unknown
from tests.conftest import FIXTURES_MISSING, TESTDATA

PB, JSON, YAML = k8spb.PROTOBUF, k8spb.JSON, k8spb.YAML
UTC = datetime.UTC


def _fixture(name: str) -> bytes:
    path = TESTDATA / "HEAD" / name
    if not path.is_file():
        pytest.skip(FIXTURES_MISSING)
    return path.read_bytes()


def _message(obj: k8spb.Model) -> Any:
    """The protobuf message an object encodes to (the raw bytes of its envelope, parsed)."""
    raw = Unknown.from_pb_bytes(k8spb.encode(obj, PB)[4:]).raw
    return type(obj)._pb_class().FromString(raw)


def _with_raw(envelope: bytes, raw: bytes) -> bytes:
    env = Unknown._pb_class().FromString(envelope[4:])
    env.raw = raw
    return b"k8s\x00" + env.SerializeToString(deterministic=True)


def _pod() -> Pod:
    return Pod(
        metadata=ObjectMeta(name="web", namespace="default", labels={"app": "web", "tier": "front"},
                            creation_timestamp=datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        spec=PodSpec(containers=[
            Container(name="app", image="nginx:1.27", args=["-g", "daemon off;"],
                      env=[EnvVar(name="MODE", value="prod")], ports=[ContainerPort(container_port=80)],
                      resources=ResourceRequirements(limits={"cpu": "500m", "memory": "128Mi"})),
            Container(name="sidecar", image="busybox"),
        ]),
    )


def _roundtrip(obj: k8spb.Model) -> k8spb.Model:
    return k8spb.decode(k8spb.encode(obj, PB))


def _sources(obj: k8spb.Model) -> list[k8spb.Model]:
    """The same object from every source: built, protobuf, JSON, YAML, from_dict."""
    return [obj, k8spb.decode(k8spb.encode(obj, PB)), k8spb.decode(k8spb.encode(obj, JSON)),
            k8spb.decode(k8spb.encode(obj, YAML)), type(obj).from_dict(obj.to_dict())]


# ---------------------------------------------------------------------------------------------------------
# Construction, equality, repr


def test_keyword_construction_and_defaults() -> None:
    pod = Pod(metadata=ObjectMeta(name="a"))
    assert pod.metadata is not None and pod.metadata.name == "a"
    assert pod.spec is None and pod.status is None
    assert Container().name is None
    with pytest.raises(TypeError):
        Pod(ObjectMeta(name="a"))  # type: ignore[misc]  # keyword-only
    with pytest.raises(TypeError):
        Pod(colour="red")  # type: ignore[call-arg]


def test_equality_across_sources() -> None:
    sources = _sources(_pod())
    for obj in sources:
        assert obj == sources[0]
        assert type(obj) is Pod
    other = _pod()
    other.spec.containers[1].image = "alpine"  # type: ignore[union-attr]
    for obj in sources:
        assert obj != other
    assert _pod() != ConfigMap()
    assert _pod() != _pod().to_dict()
    assert Pod() == Pod() and Pod() != Pod(spec=PodSpec())


def test_repr_shows_only_set_fields() -> None:
    assert repr(Pod()) == "Pod()"
    assert repr(Pod(metadata=ObjectMeta(name="a"))) == "Pod(metadata=ObjectMeta(name='a'))"
    assert repr(ObjectMeta(name="", generation=0, labels={})) == "ObjectMeta(name='', generation=0, labels={})"
    text = repr(_roundtrip(_pod()))
    assert text.startswith("Pod(metadata=ObjectMeta(name='web', namespace='default'")
    assert "status=" not in text and "node_name" not in text and "None" not in text
    simple = Pod(metadata=ObjectMeta(name="a", labels={"k": "v"}), spec=PodSpec(containers=[Container(name="c")]))
    assert repr(_roundtrip(simple)) == repr(simple) == (
        "Pod(metadata=ObjectMeta(name='a', labels={'k': 'v'}), spec=PodSpec(containers=[Container(name='c')]))")


def test_dataclasses_replace() -> None:
    decoded = _roundtrip(_pod())
    payload = k8spb.encode(decoded, PB)
    changed = dataclasses.replace(decoded, spec=None)
    assert changed.spec is None and changed.metadata == decoded.metadata
    assert decoded.spec is not None and k8spb.encode(decoded, PB) == payload  # the original is untouched
    assert _roundtrip(changed) == Pod(metadata=_pod().metadata)
    renamed = dataclasses.replace(_pod().metadata, name="api")  # type: ignore[type-var]
    assert renamed.name == "api" and renamed.labels == {"app": "web", "tier": "front"}


@pytest.mark.parametrize("source", ["built", "protobuf", "json"])
def test_copies_are_independent(source: str) -> None:
    obj = {"built": _pod(), "protobuf": _roundtrip(_pod()), "json": k8spb.decode(k8spb.encode(_pod(), JSON))}[source]
    before = {fmt: k8spb.encode(obj, fmt) for fmt in (PB, JSON)}

    deep = copy.deepcopy(obj)
    assert deep == obj and deep is not obj
    deep.metadata.name = "other"  # type: ignore[union-attr]
    deep.metadata.labels["new"] = "x"  # type: ignore[union-attr,index]
    deep.spec.containers[0].args.append("--debug")  # type: ignore[union-attr,index]
    deep.spec.containers.append(Container(name="more"))  # type: ignore[union-attr]
    assert deep != obj

    shallow = copy.copy(obj)
    assert shallow == obj and shallow is not obj
    shallow.metadata = ObjectMeta(name="replaced")
    shallow.spec = None

    assert {fmt: k8spb.encode(obj, fmt) for fmt in (PB, JSON)} == before
    assert _roundtrip(deep).metadata.labels["new"] == "x"  # type: ignore[union-attr,index]
    assert _roundtrip(shallow) == Pod(metadata=ObjectMeta(name="replaced"))


def test_copy_of_an_unread_decoded_object_does_not_share_its_message() -> None:
    decoded = _roundtrip(_pod())
    payload = k8spb.encode(decoded, PB)
    shallow = copy.copy(decoded)
    shallow.spec.containers[0].image = "changed"  # type: ignore[union-attr]
    assert k8spb.encode(decoded, PB) == payload
    assert _roundtrip(shallow).spec.containers[0].image == "changed"  # type: ignore[union-attr]


@pytest.mark.parametrize("source", ["built", "protobuf", "json", "yaml", "from_dict"])
def test_pickle_round_trip(source: str) -> None:
    obj = dict(zip(["built", "protobuf", "json", "yaml", "from_dict"], _sources(_pod()), strict=True))[source]
    assert obj.metadata.labels  # type: ignore[union-attr]  # some fields read, some not
    back = pickle.loads(pickle.dumps(obj))
    assert type(back) is Pod and back == obj
    for fmt in (PB, JSON, YAML):
        assert k8spb.encode(back, fmt) == k8spb.encode(obj, fmt)
    part = pickle.loads(pickle.dumps(obj.spec.containers[0]))  # type: ignore[union-attr]
    assert part == _pod().spec.containers[0]  # type: ignore[union-attr]


def test_pickle_keeps_modifications_unknown_fields_and_raw_values() -> None:
    decoded = _roundtrip(_pod())
    decoded.metadata.name = "changed"  # type: ignore[union-attr]
    decoded.spec.containers.pop()  # type: ignore[union-attr]
    back = pickle.loads(pickle.dumps(decoded))
    assert back == decoded and k8spb.encode(back, PB) == k8spb.encode(decoded, PB)

    lazy = k8spb.decode(b'{"apiVersion": "v1", "kind": "Pod", "extra": {"x": 1}, "metadata": {"name": "a"}}')
    assert pickle.loads(pickle.dumps(lazy)).to_dict() == lazy.to_dict()

    event = WatchEvent(type="ADDED", object=ConfigMap(metadata=ObjectMeta(name="cm"), data={"k": "v"}))
    for obj in (event, _roundtrip(event), WatchEvent(type="ADDED", object=b"\x00\x01"), _roundtrip(
            WatchEvent(type="ADDED", object=b"\x00\x01"))):
        back = pickle.loads(pickle.dumps(obj))
        assert back == obj and type(back.object) is type(obj.object)
        assert k8spb.encode(back, PB) == k8spb.encode(obj, PB)


# ---------------------------------------------------------------------------------------------------------
# Mutating a protobuf-decoded object


def test_unmodified_decoded_object_reencodes_byte_identically() -> None:
    payload = k8spb.encode(_pod(), PB)
    assert k8spb.encode(k8spb.decode(payload), PB) == payload
    read = k8spb.decode(payload)
    repr(read)  # reads every field
    read.to_dict()
    assert k8spb.encode(read, PB) == payload


def test_unmodified_fixture_reencodes_byte_identically() -> None:
    for name in ("core.v1.Pod.pb", "apps.v1.Deployment.pb", "core.v1.Secret.pb",
                 "admission.k8s.io.v1.AdmissionReview.pb"):
        payload = _fixture(name)
        obj = k8spb.decode(payload)
        assert k8spb.encode(obj, PB) == payload
        repr(obj)  # reads every field
        assert k8spb.encode(obj, PB) == payload
    # the WatchEvent fixture has an empty typeMeta: only its object message can match
    payload = _fixture("core.v1.WatchEvent.pb")
    event = k8spb.decode(payload, into=WatchEvent)
    repr(event)
    assert Unknown.from_pb_bytes(k8spb.encode(event, PB)[4:]).raw == Unknown.from_pb_bytes(payload[4:]).raw


def test_reading_never_changes_the_bytes() -> None:
    # Go's zero Time is an empty message (read as None), RawExtension JSON may be spaced, Time may
    # carry nanos, IntOrString may set only one of its fields: reading converts, writing must not.
    msg = Pod._pb_class()()
    msg.metadata.name = "x"
    msg.metadata.creationTimestamp.SetInParent()
    msg.metadata.deletionTimestamp.seconds = 5
    msg.metadata.deletionTimestamp.nanos = 7
    msg.spec.containers.add(name="c").ports.add(containerPort=80)
    probe = msg.spec.containers[0].livenessProbe.handler.httpGet
    probe.port.type = 1
    probe.port.strVal = "http"
    payload = k8spb.encode(Pod._wrap(msg), PB)
    obj = k8spb.decode(payload)
    before = obj.to_dict()
    assert before["metadata"]["creationTimestamp"] is None
    repr(obj)
    assert obj.metadata.creation_timestamp is None  # type: ignore[union-attr]
    assert obj.spec.containers[0].liveness_probe.http_get.port == "http"  # type: ignore[union-attr,index]
    assert k8spb.encode(obj, PB) == payload
    assert obj.to_dict() == before

    event = WatchEvent._pb_class()(type="ADDED")
    event.object.raw = b'{"a":  [1, 2],  "b": null}'
    payload = k8spb.encode(WatchEvent._wrap(event), PB)
    obj = k8spb.decode(payload)
    assert obj.object == {"a": [1, 2], "b": None}
    assert k8spb.encode(obj, PB) == payload
    obj.object["c"] = 3
    assert k8spb.decode(k8spb.encode(obj, PB)).object == {"a": [1, 2], "b": None, "c": 3}


def _mutations() -> list[tuple[str, Any, Any]]:
    """(what, mutate(pod), check(decoded result, to_dict)) for a decoded _pod()."""

    def scalar(p: Pod) -> None:
        p.metadata.name = "renamed"  # type: ignore[union-attr]

    def sub_object(p: Pod) -> None:
        p.metadata = ObjectMeta(name="new", annotations={"a": "b"})

    def append(p: Pod) -> None:
        p.spec.containers.append(Container(name="third", image="redis"))  # type: ignore[union-attr]

    def nested(p: Pod) -> None:
        p.spec.containers[0].env[0].value = "dev"  # type: ignore[union-attr,index]
        p.spec.containers[1].args = ["sleep", "1"]  # type: ignore[union-attr]

    def delete(p: Pod) -> None:
        p.spec.containers[0].resources = None  # type: ignore[union-attr]
        p.metadata.creation_timestamp = None  # type: ignore[union-attr]

    def mapping(p: Pod) -> None:
        labels = p.metadata.labels  # type: ignore[union-attr]
        del labels["tier"]  # type: ignore[index]
        labels["env"] = "prod"  # type: ignore[index]
        p.spec.containers[0].resources.limits["cpu"] = "1"  # type: ignore[union-attr,index]

    def replace_list_item(p: Pod) -> None:
        p.spec.containers[1] = Container(name="swapped")  # type: ignore[union-attr]

    def whole_spec(p: Pod) -> None:
        p.spec = PodSpec(containers=[Container(name="only")], node_name="n1")

    return [
        ("scalar", scalar, lambda d: d["metadata"]["name"] == "renamed"),
        ("sub-object", sub_object, lambda d: d["metadata"] == {"name": "new", "annotations": {"a": "b"}}),
        ("append", append, lambda d: [c["name"] for c in d["spec"]["containers"]] == ["app", "sidecar", "third"]),
        ("nested", nested, lambda d: d["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "dev"}]
         and d["spec"]["containers"][1]["args"] == ["sleep", "1"]),
        ("delete", delete, lambda d: "resources" not in d["spec"]["containers"][0]
         and "creationTimestamp" not in d["metadata"]),
        ("map", mapping, lambda d: d["metadata"]["labels"] == {"app": "web", "env": "prod"}
         and d["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "128Mi"}),
        ("list item", replace_list_item, lambda d: d["spec"]["containers"][1] == {"name": "swapped"}),
        ("whole spec", whole_spec, lambda d: d["spec"] == {"containers": [{"name": "only"}], "nodeName": "n1"}),
    ]


@pytest.mark.parametrize(("what", "mutate", "check"), _mutations(), ids=[m[0] for m in _mutations()])
def test_mutations_of_a_decoded_object(what: str, mutate: Any, check: Any) -> None:
    for source in (PB, JSON):
        obj = k8spb.decode(k8spb.encode(_pod(), source))
        mutate(obj)
        assert check(obj.to_dict()), obj.to_dict()
        for fmt in (PB, JSON, YAML):
            again = k8spb.decode(k8spb.encode(obj, fmt))
            assert again == obj
            assert check(again.to_dict())
        expected = _pod()
        mutate(expected)
        assert k8spb.encode(obj, PB) == k8spb.encode(expected, PB)


def test_unknown_protobuf_fields_survive_decode_modify_encode() -> None:
    payload = k8spb.encode(_pod(), PB)
    msg = Pod._pb_class()()
    msg.ParseFromString(Unknown.from_pb_bytes(payload[4:]).raw)
    top = b"\xb8\x3e\x2a"  # field 999, varint 42: not in Pod
    nested = b"\xfa\x3e\x05hello"  # field 1007, bytes "hello": not in ObjectMeta
    msg.metadata.MergeFromString(nested)
    raw = msg.SerializeToString() + top
    obj = k8spb.decode(_with_raw(payload, raw))
    assert obj == _pod()  # unknown fields are invisible

    obj.metadata.name = "renamed"  # type: ignore[union-attr]
    obj.metadata.labels["more"] = "x"  # type: ignore[union-attr,index]
    obj.spec.containers.append(Container(name="third"))  # type: ignore[union-attr]
    out = Pod._pb_class().FromString(Unknown.from_pb_bytes(k8spb.encode(obj, PB)[4:]).raw)
    assert [(f.field_number, f.data) for f in UnknownFieldSet(out)] == [(999, 42)]
    assert [(f.field_number, f.data) for f in UnknownFieldSet(out.metadata)] == [(1007, b"hello")]
    assert out.metadata.name == "renamed" and len(out.spec.containers) == 3

    copied = copy.deepcopy(obj)
    pickled = pickle.loads(pickle.dumps(obj))
    for other in (copied, pickled):
        again = Pod._pb_class().FromString(Unknown.from_pb_bytes(k8spb.encode(other, PB)[4:]).raw)
        assert [f.field_number for f in UnknownFieldSet(again)] == [999]
        assert [f.field_number for f in UnknownFieldSet(again.metadata)] == [1007]


# ---------------------------------------------------------------------------------------------------------
# Go-embedded structs: flattened in Python and JSON, nested in protobuf


def test_embedded_structs_are_flattened() -> None:
    pod = Pod(spec=PodSpec(
        containers=[Container(name="c", liveness_probe=Probe(http_get=HTTPGetAction(path="/healthz", port=8080),
                                                              period_seconds=5))],
        volumes=[Volume(name="cfg", config_map=ConfigMapVolumeSource(name="settings", default_mode=0o644))],
        ephemeral_containers=[EphemeralContainer(name="debug", image="busybox", target_container_name="c")],
    ))
    spec = pod.to_dict()["spec"]
    assert spec["containers"][0]["livenessProbe"] == {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5}
    assert spec["volumes"][0] == {"name": "cfg", "configMap": {"name": "settings", "defaultMode": 0o644}}
    assert spec["ephemeralContainers"][0] == {"name": "debug", "image": "busybox", "targetContainerName": "c"}

    msg = _message(pod).spec
    assert msg.containers[0].livenessProbe.handler.httpGet.path == "/healthz"
    assert msg.containers[0].livenessProbe.handler.httpGet.port.intVal == 8080
    assert msg.volumes[0].volumeSource.configMap.localObjectReference.name == "settings"
    assert msg.ephemeralContainers[0].ephemeralContainerCommon.image == "busybox"
    assert msg.ephemeralContainers[0].targetContainerName == "c"
    for obj in _sources(pod):
        spec_obj = obj.spec  # type: ignore[attr-defined]
        assert spec_obj.containers[0].liveness_probe.http_get.path == "/healthz"
        assert spec_obj.volumes[0].config_map.name == "settings"
        assert spec_obj.ephemeral_containers[0].image == "busybox"


def test_ingress_rule_and_two_level_embedding() -> None:
    ingress = Ingress(spec=IngressSpec(rules=[IngressRule(host="example.com", http=HTTPIngressRuleValue(paths=[
        HTTPIngressPath(path="/", path_type="Prefix", backend=IngressBackend(
            service=IngressServiceBackend(name="web", port=ServiceBackendPort(number=80))))]))]))
    assert ingress.to_dict()["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/"
    assert _message(ingress).spec.rules[0].ingressRuleValue.http.paths[0].path == "/"
    assert _roundtrip(ingress) == ingress

    rule = NamedRuleWithOperations(resource_names=["x"], operations=["CREATE"], api_groups=["apps"],
                                   api_versions=["v1"], resources=["deployments"], scope="Namespaced")
    policy = ValidatingAdmissionPolicy(spec=ValidatingAdmissionPolicySpec(
        match_constraints=MatchResources(resource_rules=[rule])))
    assert policy.to_dict()["spec"]["matchConstraints"]["resourceRules"][0] == {
        "resourceNames": ["x"], "operations": ["CREATE"], "apiGroups": ["apps"], "apiVersions": ["v1"],
        "resources": ["deployments"], "scope": "Namespaced"}
    nested = _message(policy).spec.matchConstraints.resourceRules[0]
    assert nested.resourceNames == ["x"] and nested.ruleWithOperations.operations == ["CREATE"]
    assert nested.ruleWithOperations.rule.resources == ["deployments"]
    assert nested.ruleWithOperations.rule.scope == "Namespaced"
    assert _roundtrip(policy) == policy


def test_embedded_structs_in_fixtures() -> None:
    for stem in ("core.v1.Pod", "networking.k8s.io.v1.Ingress"):
        from_pb = k8spb.decode(_fixture(f"{stem}.pb"))
        from_json = k8spb.decode(_fixture(f"{stem}.json"))
        assert from_pb == from_json
    pod = k8spb.decode(_fixture("core.v1.Pod.pb"))
    doc = json.loads(_fixture("core.v1.Pod.json"))
    probe = pod.spec.containers[0].liveness_probe  # type: ignore[attr-defined]
    assert probe.http_get.path == doc["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"]
    assert pod.spec.volumes[0].name == doc["spec"]["volumes"][0]["name"]  # type: ignore[attr-defined]
    assert pod.spec.ephemeral_containers[0].image == doc["spec"]["ephemeralContainers"][0]["image"]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------------
# JSON keys that differ from the proto field names


def test_irregular_names() -> None:
    token = TokenRequest(spec=TokenRequestSpec(bound_object_ref=BoundObjectReference(kind="Pod", name="p", uid="u-1")))
    assert token.to_dict()["spec"]["boundObjectRef"] == {"kind": "Pod", "name": "p", "uid": "u-1"}
    assert _message(token).spec.boundObjectRef.uID == "u-1"

    ingress_class = IngressClass(spec=IngressClassSpec(parameters=IngressClassParametersReference(
        api_group="k8s.example.com", kind="Params", name="p")))
    assert ingress_class.to_dict()["spec"]["parameters"]["apiGroup"] == "k8s.example.com"
    assert _message(ingress_class).spec.parameters.aPIGroup == "k8s.example.com"

    hooks = MutatingWebhookConfiguration(webhooks=[MutatingWebhook(name="hook.example.com")])
    assert hooks.to_dict()["webhooks"] == [{"name": "hook.example.com"}]
    assert _message(hooks).Webhooks[0].name == "hook.example.com"

    variable = Variable(name="v", expression="1 + 1")
    assert variable.to_dict() == {"name": "v", "expression": "1 + 1"}

    for obj in (token, ingress_class, hooks):
        for other in _sources(obj):
            assert other == obj


def test_json_schema_props_names() -> None:
    doc = {"$ref": "#/definitions/x", "$schema": "http://json-schema.org/draft-04/schema#",
           "x-kubernetes-preserve-unknown-fields": True, "x-kubernetes-embedded-resource": False,
           "x-kubernetes-int-or-string": True, "x-kubernetes-list-map-keys": ["name"],
           "x-kubernetes-list-type": "map", "x-kubernetes-map-type": "atomic",
           "x-kubernetes-validations": [{"rule": "self.x > 0", "message": "positive"}],
           "not": {"type": "null"}}
    props = JSONSchemaProps.from_dict(doc)
    assert props.ref == "#/definitions/x" and props.schema == "http://json-schema.org/draft-04/schema#"
    assert props.x_kubernetes_preserve_unknown_fields is True and props.x_kubernetes_list_map_keys == ["name"]
    assert props.x_kubernetes_validations[0].rule == "self.x > 0"  # type: ignore[index]
    assert props.not_ == JSONSchemaProps(type="null")
    assert props.to_dict() == doc
    crd = _crd(props)
    msg = _message(crd).spec.versions[0].schema.openAPIV3Schema
    assert msg.ref == "#/definitions/x" and msg.xKubernetesListType == "map"
    assert getattr(msg, "not").type == "null"
    # through protobuf an explicit false of a field Go omits when zero is gone, as Go's own round trip drops it
    go_doc = {k: v for k, v in doc.items() if k != "x-kubernetes-embedded-resource"}
    assert _roundtrip(crd).spec.versions[0].schema.open_api_v3_schema.to_dict() == go_doc  # type: ignore[attr-defined,union-attr,index]


def _crd(props: JSONSchemaProps) -> CustomResourceDefinition:
    return CustomResourceDefinition(metadata=ObjectMeta(name="widgets.example.com"), spec=CustomResourceDefinitionSpec(
        group="example.com", scope="Namespaced", versions=[CustomResourceDefinitionVersion(
            name="v1", served=True, storage=True, schema=CustomResourceValidation(open_api_v3_schema=props))]))


# ---------------------------------------------------------------------------------------------------------
# Special types


def test_time_is_whole_seconds_in_utc() -> None:
    offset = datetime.timezone(datetime.timedelta(hours=2))
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=offset)
    pod = Pod(metadata=ObjectMeta(creation_timestamp=when))
    assert pod.to_dict()["metadata"]["creationTimestamp"] == "2024-01-02T01:04:05Z"
    expected = datetime.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
    for obj in _sources(pod)[1:]:
        got = obj.metadata.creation_timestamp  # type: ignore[attr-defined]
        assert got == expected and got.utcoffset() == datetime.timedelta(0)
    lazy = k8spb.decode(b'{"apiVersion": "v1", "kind": "Pod", '
                        b'"metadata": {"creationTimestamp": "2024-01-02T03:04:05.678901+02:00"}}')
    assert lazy.metadata.creation_timestamp == expected  # type: ignore[attr-defined]
    assert lazy == Pod.from_dict(lazy.to_dict())
    assert _message(pod).metadata.creationTimestamp.seconds == int(expected.timestamp())


def test_zero_time_is_null() -> None:
    msg = Pod._pb_class()()
    msg.metadata.creationTimestamp.SetInParent()  # Go's zero time: an empty message
    pod = k8spb.decode(k8spb.encode(Pod._wrap(msg), PB))
    assert pod.to_dict()["metadata"] == {"creationTimestamp": None}
    assert pod.metadata.creation_timestamp is None  # type: ignore[attr-defined]
    assert json.loads(k8spb.encode(pod, JSON))["metadata"] == {"creationTimestamp": None}
    epoch = Pod(metadata=ObjectMeta(creation_timestamp=datetime.datetime(1970, 1, 1, tzinfo=UTC)))
    assert epoch.to_dict()["metadata"]["creationTimestamp"] == "1970-01-01T00:00:00Z"
    assert _roundtrip(epoch) == epoch  # seconds present (0): the epoch, not null
    before = Pod(metadata=ObjectMeta(creation_timestamp=datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)))
    assert _message(before).metadata.creationTimestamp.seconds == -1 and _roundtrip(before) == before
    assert Pod.from_dict({"metadata": {"creationTimestamp": None}}).to_dict()["metadata"] == {"creationTimestamp": None}


def test_micro_time_has_six_digits() -> None:
    when = datetime.datetime(2003, 1, 1, 1, 1, 1, 3, tzinfo=UTC)
    event = Event(metadata=ObjectMeta(name="e"), event_time=when)
    assert event.to_dict()["eventTime"] == "2003-01-01T01:01:01.000003Z"
    assert _message(event).eventTime.nanos == 3000
    for obj in _sources(event):
        assert obj.event_time == when  # type: ignore[attr-defined]
    whole = Event(event_time=datetime.datetime(2003, 1, 1, 1, 1, 1, tzinfo=UTC))
    assert whole.to_dict()["eventTime"] == "2003-01-01T01:01:01.000000Z"
    lazy = Event.from_dict({"eventTime": "2003-01-01T02:01:01.1234567+01:00"})
    assert lazy.event_time == datetime.datetime(2003, 1, 1, 1, 1, 1, 123456, tzinfo=UTC)


def test_quantity() -> None:
    c = Container.from_dict({"name": "c", "resources": {"limits": {"cpu": 2, "memory": "1Gi"},
                                                        "requests": {"cpu": 0.5, "memory": "1e3"}}})
    assert c.resources.limits == {"cpu": "2", "memory": "1Gi"}  # type: ignore[union-attr]
    assert c.resources.requests == {"cpu": "0.5", "memory": "1e3"}  # type: ignore[union-attr]
    pod = Pod(spec=PodSpec(containers=[c]))
    assert _message(pod).spec.containers[0].resources.limits["memory"].string == "1Gi"
    for obj in _sources(pod):
        assert obj == pod


def test_int_or_string() -> None:
    svc = Service(spec=ServiceSpec(ports=[ServicePort(port=80, target_port=8080),
                                          ServicePort(port=81, target_port="http")]))
    assert [p["targetPort"] for p in svc.to_dict()["spec"]["ports"]] == [8080, "http"]
    ports = _message(svc).spec.ports
    assert (ports[0].targetPort.type, ports[0].targetPort.intVal) == (0, 8080)
    assert (ports[1].targetPort.type, ports[1].targetPort.strVal) == (1, "http")
    for obj in _sources(svc):
        got = [p.target_port for p in obj.spec.ports]  # type: ignore[attr-defined]
        assert got == [8080, "http"] and [type(v) for v in got] == [int, str]


def test_raw_extension() -> None:
    cm = ConfigMap(metadata=ObjectMeta(name="cm"), data={"k": "v"})
    event = WatchEvent(type="ADDED", object=cm)
    assert event.to_dict()["object"] == cm.to_dict()
    raw = _message(event).object.raw
    assert raw.startswith(b"k8s\x00") and k8spb.decode(raw) == cm  # a nested protobuf envelope
    assert _roundtrip(event).object == cm

    as_json = WatchEvent(type="ADDED", object={"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}})
    assert json.loads(_message(as_json).object.raw) == as_json.object
    for obj in _sources(as_json):
        assert obj.object == as_json.object  # type: ignore[attr-defined]

    opaque = WatchEvent(type="ADDED", object=b"\xd9\xd9\xf7\xa0")  # e.g. CBOR
    assert _roundtrip(opaque).object == b"\xd9\xd9\xf7\xa0"
    with pytest.raises(k8spb.EncodeError, match="non-JSON bytes"):
        k8spb.encode(opaque, JSON)

    fixture = k8spb.decode(_fixture("admission.k8s.io.v1.AdmissionReview.pb"))
    doc = json.loads(_fixture("admission.k8s.io.v1.AdmissionReview.json"))
    assert fixture.request.object == doc["request"]["object"]  # type: ignore[attr-defined]


def test_fields_v1_and_bytes() -> None:
    entry = ManagedFieldsEntry(manager="kubectl", operation="Apply", fields_type="FieldsV1",
                               fields_v1={"f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
    cm = ConfigMap(metadata=ObjectMeta(name="cm", managed_fields=[entry]), binary_data={"bin": b"\x00\x01\xff"})
    doc = cm.to_dict()
    assert doc["metadata"]["managedFields"][0]["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
    assert doc["binaryData"] == {"bin": "AAH/"}
    msg = _message(cm)
    assert json.loads(msg.metadata.managedFields[0].fieldsV1.Raw) == entry.fields_v1
    assert msg.binaryData["bin"] == b"\x00\x01\xff"
    for obj in _sources(cm):
        assert obj == cm
    secret = Secret.from_dict({"data": {"password": "aHVudGVyMg=="}, "stringData": {"user": "admin"}})
    assert secret.data == {"password": b"hunter2"} and secret.string_data == {"user": "admin"}
    assert _roundtrip(secret).to_dict()["data"] == {"password": "aHVudGVyMg=="}


def test_json_schema_props_or_bool_array_string_array() -> None:
    doc = {"type": "object",
           "additionalProperties": False,
           "additionalItems": {"type": "string"},
           "items": [{"type": "integer"}, {"type": "string"}],
           "dependencies": {"a": ["b", "c"], "d": {"required": ["e"]}},
           "properties": {"list": {"type": "array", "items": {"type": "string"}},
                          "free": {"type": "object", "additionalProperties": True}},
           "default": {"list": []}, "enum": [{"x": 1}, "y", 2, None], "example": None}
    props = JSONSchemaProps.from_dict(doc)
    assert props.additional_properties is False
    assert props.additional_items == JSONSchemaProps(type="string")
    assert props.items == [JSONSchemaProps(type="integer"), JSONSchemaProps(type="string")]
    assert props.dependencies == {"a": ["b", "c"], "d": JSONSchemaProps(required=["e"])}
    assert props.properties["list"].items == JSONSchemaProps(type="string")  # type: ignore[index]
    assert props.properties["free"].additional_properties is True  # type: ignore[index]
    assert props.enum == [{"x": 1}, "y", 2, None]
    expected = {k: v for k, v in doc.items() if v is not None}
    crd = _crd(props)
    for obj in _sources(crd)[1:]:
        schema = obj.spec.versions[0].schema.open_api_v3_schema  # type: ignore[attr-defined]
        got = schema.to_dict()
        got.pop("example", None)
        assert got == expected
    msg = _message(crd).spec.versions[0].schema.openAPIV3Schema
    assert msg.additionalProperties.HasField("allows") and not msg.additionalProperties.allows
    assert msg.additionalItems.allows and msg.additionalItems.schema.type == "string"  # Go sets both
    assert [s.type for s in msg.items.jSONSchemas] == ["integer", "string"]
    assert list(msg.dependencies["a"].property) == ["b", "c"]
    assert len(msg.enum) == 4 and not msg.enum[3].raw  # null: the empty message


# ---------------------------------------------------------------------------------------------------------
# Documents


def test_maps_are_written_sorted_by_key() -> None:
    # As Go writes them; upb iterates protobuf maps in an order that changes from run to run.
    keys = [f"key-{i:02d}" for i in range(40, 0, -1)]
    cm = ConfigMap(metadata=ObjectMeta(name="cm", labels=dict.fromkeys(keys, "x")), data=dict.fromkeys(keys, "v"))
    for obj in _sources(cm):
        doc = obj.to_dict()
        assert list(doc["metadata"]["labels"]) == sorted(keys) and list(doc["data"]) == sorted(keys)
        written = json.loads(k8spb.encode(obj, JSON))
        assert list(written["data"]) == sorted(keys) and written == cm.to_dict()
    assert k8spb.encode(_roundtrip(cm), JSON) == k8spb.encode(cm, JSON)  # the same bytes, every run
    with pytest.raises(k8spb.EncodeError, match=r"ConfigMap.data: map keys must be strings, got 1"):
        ConfigMap(data={"a": "x", 1: "y"}).to_dict()  # type: ignore[dict-item]


def test_decode_all_and_encode_all() -> None:
    objs: list[k8spb.Model] = [_pod(), ConfigMap(metadata=ObjectMeta(name="cm"), data={"k": "v"}),
                               Deployment(metadata=ObjectMeta(name="d"), spec=DeploymentSpec(replicas=3))]
    stream = k8spb.encode_all(objs)
    assert stream.count(b"---\n") == 2
    assert k8spb.decode_all(stream) == objs
    assert [type(o) for o in k8spb.decode_all(stream)] == [Pod, ConfigMap, Deployment]
    handwritten = b"""---
# a comment
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  replicas: 3
...
"""
    first, second = k8spb.decode_all(handwritten)
    assert first == ConfigMap(metadata=ObjectMeta(name="a")) and second == objs[2]
    assert k8spb.decode_all(b"") == []
    assert k8spb.decode_all(k8spb.encode(_pod(), PB)) == [_pod()]
    assert k8spb.decode_all(k8spb.encode(_pod(), JSON)) == [_pod()]
    assert k8spb.encode_all([_pod()], JSON) == k8spb.encode(_pod(), JSON)
    assert k8spb.encode_all(iter(objs)) == stream
    with pytest.raises(k8spb.EncodeError, match="holds one object"):
        k8spb.encode_all(objs, JSON)


MANIFEST: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"},
                 "annotations": {"deployment.kubernetes.io/revision": "3"}},
    "spec": {
        "replicas": 0,  # an explicit zero is kept
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [{
                    "name": "web", "image": "nginx:1.27", "args": ["-g", "daemon off;"],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10},
                    "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": False},
                }],
                "volumes": [{"name": "cfg", "configMap": {"name": "web-config"}}],
                "nodeSelector": {"kubernetes.io/os": "linux"},
            },
        },
    },
}


def test_from_dict_to_dict_of_a_manifest() -> None:
    deployment = Deployment.from_dict(MANIFEST)
    assert deployment.to_dict() == MANIFEST
    assert deployment.spec.replicas == 0  # type: ignore[union-attr]
    assert deployment.spec.strategy.rolling_update.max_unavailable == 1  # type: ignore[union-attr]
    assert deployment.spec.template.spec.volumes[0].config_map.name == "web-config"  # type: ignore[union-attr,index]
    manifest = copy.deepcopy(MANIFEST)
    built = Deployment.from_dict(manifest)
    manifest["spec"]["replicas"] = 5  # the model holds its own copy
    assert built.spec.replicas == 0  # type: ignore[union-attr]
    for fmt in (PB, JSON, YAML):
        assert k8spb.decode(k8spb.encode(deployment, fmt)).to_dict() == MANIFEST
    assert k8spb.decode(json.dumps(MANIFEST)) == deployment


def test_hand_built_object_round_trips_through_protobuf() -> None:
    deployment = Deployment(
        metadata=ObjectMeta(name="web", namespace="prod", labels={"app": "web"}),
        spec=DeploymentSpec(
            replicas=2, selector=LabelSelector(match_labels={"app": "web"}),
            template=PodTemplateSpec(metadata=ObjectMeta(labels={"app": "web"}),
                                     spec=PodSpec(containers=[Container(name="web", image="nginx")])),
        ),
    )
    payload = k8spb.encode(deployment, PB)
    assert payload.startswith(b"k8s\x00\x0a\x15\x0a\x07apps/v1\x12\x0aDeployment")
    back = k8spb.decode(payload)
    assert type(back) is Deployment and back == deployment
    assert k8spb.encode(back, PB) == payload
    assert back.to_dict() == deployment.to_dict()
