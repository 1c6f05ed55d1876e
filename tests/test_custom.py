"""Typed custom resources (k8spb.crd): schemas derived from Python types, class facts, the derived CRD,
and the classes at work against k8spb.testing.ApiServer (Api, SSA, watch, status) and kubectl."""

from __future__ import annotations

import datetime
import enum
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import k8spb
from k8spb import Api, Apply, Client, Config, HasConditions, HasMetadata, HasSpec, HasStatus, Merge, PatchParams
from k8spb.api.core.v1 import PodTemplateSpec
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition
from k8spb.apimachinery.pkg.apis.meta.v1 import Condition, LabelSelector, ObjectMeta, Status
from k8spb.crd import (
    CustomResource,
    Description,
    EmbeddedResource,
    ExclusiveMinimum,
    Format,
    IntOrString,
    Key,
    ListType,
    MapType,
    Maximum,
    MaxItems,
    MaxLength,
    Minimum,
    Nullable,
    Object,
    Pattern,
    PrinterColumn,
    Quantity,
    Rule,
    Scale,
    merge_crds,
    schema_of,
)
from k8spb.testing import ApiServer
from tests.conftest import ROOT

GROUP = "crd-test.example.com"


class Size(enum.StrEnum):
    SMALL = "small"
    LARGE = "large"


class Port(Object):
    name: str
    port: Annotated[int, Minimum(1), Maximum(65535)]
    protocol: Literal["TCP", "UDP"] = "TCP"


class GadgetSpec(Object, rules=[Rule("self.replicas <= self.maxReplicas", message="replicas above the maximum",
                                     reason="FieldValueInvalid", field_path=".replicas")]):
    """What the gadget should be."""

    image: Annotated[str, MaxLength(200)]
    """The container image to run."""
    replicas: Annotated[int, Minimum(0)] = 1
    max_replicas: int = 5
    size: Size = Size.SMALL
    ports: Annotated[list[Port], ListType("map", ("name",)), MaxItems(8)] = field(default_factory=list)
    labels: Annotated[dict[str, str], MapType("atomic")] = field(default_factory=dict)
    target: IntOrString | None = None
    memory: Quantity | None = None
    ratio: Annotated[float, ExclusiveMinimum(0)] = 1.0
    email: Annotated[str | None, Format("email"), Pattern("^.+@.+$"), Nullable()] = None
    started: datetime.datetime | None = None
    every: datetime.timedelta | None = None
    blob: bytes | None = None
    extra: Any = None
    settings: dict[str, Any] = field(default_factory=dict)
    matrix: list[list[int]] = field(default_factory=list)
    selector: LabelSelector | None = None
    template: Annotated[dict[str, Any] | None, EmbeddedResource()] = None
    dns_name: Annotated[str | None, Key("dnsName"), Description("The DNS name.")] = None


class GadgetStatus(Object):
    """What the gadget is."""

    phase: str | None = None
    replicas: int | None = None
    selector: str | None = None
    conditions: list[Condition] = field(default_factory=list)


class Gadget(CustomResource, group=GROUP, version="v1", short_names=("gd",), categories=("all", "toys"),
             printer_columns=[PrinterColumn("Image", ".spec.image", description="the image"),
                              PrinterColumn("Replicas", ".spec.replicas", "integer", priority=1)],
             scale=Scale(label_selector_path=".status.selector"), selectable_fields=[".spec.image"]):
    """A gadget: the test's custom resource."""

    spec: GadgetSpec
    status: GadgetStatus | None = None


class Note(CustomResource, group=GROUP, version="v1", namespaced=False, kind="StickyNote", plural="stickynotes"):
    """A cluster-scoped resource without status."""

    text: str
    tags: list[str] | None = None


def _gadget(name: str, image: str = "nginx:1", **spec: Any) -> Gadget:
    return Gadget(metadata=ObjectMeta(name=name), spec=GadgetSpec(image=image, **spec))


# ---------------------------------------------------------------------------------------------------------
# class facts and conversions


def test_class_facts_and_traits() -> None:
    assert (Gadget.group, Gadget.version, Gadget.kind, Gadget.api_version) == (GROUP, "v1", "Gadget", f"{GROUP}/v1")
    assert (Gadget.plural, Gadget.singular, Gadget.namespaced, Gadget.list_kind) == (
        "gadgets", "gadget", True, "GadgetList")
    assert Gadget.short_names == ("gd",) and Gadget.categories == ("all", "toys")
    assert [s.name for s in Gadget.subresources] == ["status", "scale"]
    assert Gadget.url_path(namespace="ns", name="g") == f"/apis/{GROUP}/v1/namespaces/ns/gadgets/g"
    assert (Note.plural, Note.kind, Note.namespaced, Note.subresources) == (
        "stickynotes", "StickyNote", False, ())
    for trait in (HasMetadata, HasSpec, HasStatus, HasConditions):
        assert issubclass(Gadget, trait)
    assert issubclass(Note, HasMetadata) and not issubclass(Note, (HasSpec, HasStatus, HasConditions))
    g = _gadget("g")
    g.status = GadgetStatus(conditions=[Condition(type="Ready", status="True")])
    assert g.condition_is_true("Ready") and g.find_condition("Missing") is None
    # the kind and its list are known to the codec
    assert k8spb._registry.class_for(f"{GROUP}/v1", "Gadget") is Gadget
    assert k8spb._registry.class_for(f"{GROUP}/v1", "GadgetList") is Gadget.List  # type: ignore[attr-defined]
    assert k8spb.ResourceRef.of(Gadget).protobuf is False


def test_construct_convert_and_defaults() -> None:
    g = _gadget("g", ports=[Port(name="http", port=80)], size=Size.LARGE, memory=Quantity("1Gi"), target=8080,
                started=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), blob=b"\x00\x01")
    doc = g.to_dict()
    assert doc["apiVersion"] == f"{GROUP}/v1" and doc["kind"] == "Gadget"
    assert doc["spec"] == {"image": "nginx:1", "replicas": 1, "maxReplicas": 5, "size": "large",
                           "ports": [{"name": "http", "port": 80, "protocol": "TCP"}], "labels": {},
                           "target": 8080, "memory": "1Gi", "ratio": 1.0, "started": "2026-01-02T03:04:05Z",
                           "blob": "AAE=", "settings": {}, "matrix": []}
    for payload in (json.dumps(doc).encode(), k8spb.encode(g, k8spb.YAML)):
        back = k8spb.decode(payload)
        assert type(back) is Gadget and back == g
        assert back.spec.size is Size.LARGE and back.spec.ports[0].port == 80
    assert Gadget.from_dict(doc) == g
    # keys left out read as the class's defaults, as constructing the object gives them
    lazy = k8spb.decode(json.dumps({"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "spec": {"image": "x"}}))
    assert isinstance(lazy, Gadget)
    assert (lazy.spec.replicas, lazy.spec.size, lazy.spec.ports, lazy.spec.target) == (1, Size.SMALL, [], None)
    # unknown keys are carried through
    odd = Gadget.from_dict({**doc, "spec": {**doc["spec"], "future": {"a": 1}}})
    assert odd.to_dict()["spec"]["future"] == {"a": 1}
    with pytest.raises(k8spb.EncodeError, match="JSON or YAML only"):
        k8spb.encode(g, k8spb.PROTOBUF)


@pytest.mark.parametrize(("spec", "message"), [
    ({"image": 5}, "Gadget.spec.image: expected a string, got int 5"),
    ({"image": "x", "size": "huge"}, "Gadget.spec.size: expected one of ['small', 'large'], got 'huge'"),
    ({"image": "x", "ports": [{"name": "a", "port": "80"}]}, "Gadget.spec.ports[0].port: expected an integer"),
    ({"image": "x", "ports": [{"name": "a", "port": 1, "protocol": "SCTP"}]},
     "Gadget.spec.ports[0].protocol: expected one of ['TCP', 'UDP']"),
    ({"image": "x", "target": 1.5}, "Gadget.spec.target: expected an integer or a string"),
    ({"image": "x", "labels": {"a": 1}}, "Gadget.spec.labels['a']: expected a string"),
    ({"image": "x", "started": "yesterday"}, "Gadget.spec.started: not an RFC 3339 timestamp"),
])
def test_wrong_values_name_the_field(spec: dict[str, Any], message: str) -> None:
    doc = {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "spec": spec}
    with pytest.raises(k8spb.DecodeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Gadget.from_dict(doc)  # eager
    lazy = k8spb.decode(json.dumps(doc))
    with pytest.raises(k8spb.DecodeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        lazy.to_dict()


# ---------------------------------------------------------------------------------------------------------
# the derived schema


def _spec_schema() -> dict[str, Any]:
    root = Gadget.crd_dict()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec: dict[str, Any] = root["properties"]["spec"]
    return spec


def test_crd_names_versions_subresources_and_columns() -> None:
    crd = Gadget.crd_dict()
    assert crd["metadata"] == {"name": f"gadgets.{GROUP}"}
    assert crd["spec"]["names"] == {"plural": "gadgets", "singular": "gadget", "kind": "Gadget",
                                    "listKind": "GadgetList", "shortNames": ["gd"], "categories": ["all", "toys"]}
    assert crd["spec"]["scope"] == "Namespaced" and crd["spec"]["group"] == GROUP
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"] == {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                               "statusReplicasPath": ".status.replicas",
                                                               "labelSelectorPath": ".status.selector"}}
    assert version["additionalPrinterColumns"] == [
        {"name": "Image", "type": "string", "jsonPath": ".spec.image", "description": "the image"},
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1}]
    assert version["selectableFields"] == [{"jsonPath": ".spec.image"}]
    root = version["schema"]["openAPIV3Schema"]
    assert root["description"] == "A gadget: the test's custom resource." and root["type"] == "object"
    assert root["required"] == ["spec"]
    assert root["properties"]["apiVersion"] == {"type": "string"} and root["properties"]["metadata"] == {
        "type": "object"}
    assert isinstance(Gadget.crd(), CustomResourceDefinition)
    note = Note.crd_dict()["spec"]
    assert note["scope"] == "Cluster" and "subresources" not in note["versions"][0]
    assert note["versions"][0]["schema"]["openAPIV3Schema"]["required"] == ["text"]


def test_schema_of_every_python_type() -> None:
    spec = _spec_schema()
    props = spec["properties"]
    assert spec["description"] == "What the gadget should be." and spec["required"] == ["image"]
    assert spec["x-kubernetes-validations"] == [{"rule": "self.replicas <= self.maxReplicas",
                                                 "message": "replicas above the maximum",
                                                 "reason": "FieldValueInvalid", "fieldPath": ".replicas"}]
    assert props["image"] == {"description": "The container image to run.", "type": "string", "maxLength": 200}
    assert props["replicas"] == {"type": "integer", "minimum": 0, "default": 1}
    assert props["maxReplicas"] == {"type": "integer", "default": 5}
    assert props["size"] == {"type": "string", "enum": ["small", "large"], "default": "small"}
    assert props["ports"] == {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], "maxItems": 8,
        "default": [],
        "items": {"type": "object", "required": ["name", "port"], "properties": {
            "name": {"type": "string"}, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "protocol": {"type": "string", "enum": ["TCP", "UDP"], "default": "TCP"}}}}
    assert props["labels"] == {"type": "object", "additionalProperties": {"type": "string"},
                               "x-kubernetes-map-type": "atomic", "default": {}}
    int_or_string = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["target"] == int_or_string and props["memory"] == int_or_string
    assert props["ratio"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True, "default": 1.0}
    assert props["email"] == {"type": "string", "format": "email", "pattern": "^.+@.+$", "nullable": True}
    assert props["started"] == {"type": "string", "format": "date-time"}
    assert props["every"] == {"type": "string", "format": "duration"}
    assert props["blob"] == {"type": "string", "format": "byte"}
    assert props["extra"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props["settings"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "default": {}}
    assert props["matrix"] == {"type": "array", "items": {"type": "array", "items": {"type": "integer"}},
                               "default": []}
    assert props["template"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                 "x-kubernetes-embedded-resource": True}
    assert props["dnsName"] == {"type": "string", "description": "The DNS name."}
    # a generated model: its fields' types (and its docstring)
    selector = props["selector"]
    assert selector["type"] == "object"
    if (LabelSelector.__doc__ or "") != "LabelSelector.":  # built with the upstream comments (see build.py)
        assert selector["description"].startswith("A label selector")
    else:
        assert "description" not in selector
    assert selector["properties"]["matchLabels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert selector["properties"]["matchExpressions"]["items"]["properties"]["values"] == {
        "type": "array", "items": {"type": "string"}}
    conditions = Gadget.crd_dict()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"][
        "properties"]["conditions"]
    assert conditions["items"]["properties"]["lastTransitionTime"] == {"type": "string", "format": "date-time"}


def test_generated_models_embed_structurally() -> None:
    schema = schema_of(PodTemplateSpec)
    pod_spec = schema["properties"]["spec"]
    assert schema["properties"]["metadata"] == {"type": "object"}
    container = pod_spec["properties"]["containers"]["items"]
    assert container["properties"]["image"] == {"type": "string"}
    assert container["properties"]["resources"]["properties"]["limits"]["additionalProperties"] == {
        "x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    # a model that contains itself (JSONSchemaProps) is cut where it recurs: structural schemas cannot recurse
    from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import JSONSchemaProps

    props = schema_of(JSONSchemaProps)["properties"]
    assert props["not"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


@pytest.mark.parametrize(("annotation", "message"), [
    ("int | float", "unions other than X | None and int | str"),
    ("dict[int, str]", "map keys must be str"),
    ("set[str]", "has no Kubernetes schema"),
    ("Literal['a', 1]", "Literal values must all be strings or all integers"),
    ("tuple[int, str]", "use list[X]"),
    ("Later", "cannot resolve"),
])
def test_types_without_a_schema_are_refused(annotation: str, message: str) -> None:
    namespace: dict[str, Any] = {"Object": Object, "Literal": Literal}
    with pytest.raises(TypeError, match=message.replace("[", r"\[").replace("|", r"\|")):
        exec(f"class Bad(Object):\n    x: {annotation}\n", namespace)


def test_bad_facts_and_defaults_are_refused() -> None:
    with pytest.raises(TypeError, match="group must be a domain"):
        class NoDot(CustomResource, group="nodot", version="v1"):
            spec: dict[str, Any] | None = None
    with pytest.raises(ValueError, match=r"networking\.k8s\.io/v1 is a built-in group-version"):
        class Ingress(CustomResource, group="networking.k8s.io", version="v1"):
            spec: dict[str, Any] | None = None
    with pytest.raises(TypeError, match="does not fit the type"):
        class BadDefault(CustomResource, group=GROUP, version="v9"):
            count: int = "many"  # type: ignore[assignment]

        BadDefault.crd_dict()


def test_merge_crds_serves_several_versions() -> None:
    class GadgetV2(CustomResource, group=GROUP, version="v2", kind="Gadget", short_names=("gd",),
                   categories=("all", "toys"), storage=False):
        spec: dict[str, Any] | None = None

    merged = merge_crds([Gadget.crd(), GadgetV2.crd_dict()], storage="v2").to_dict()
    assert [(v["name"], v["storage"]) for v in merged["spec"]["versions"]] == [("v1", False), ("v2", True)]
    with pytest.raises(ValueError, match="storage version 'v3'"):
        merge_crds([Gadget.crd()], storage="v3")
    with pytest.raises(ValueError, match=r"disagree on spec\.names"):
        merge_crds([Gadget.crd(), Note.crd()], storage="v1")
    with pytest.raises(ValueError, match="given twice"):
        merge_crds([Gadget.crd(), Gadget.crd()], storage="v1")


def test_mypy_strict_accepts_user_code_and_rejects_misuse(tmp_path: Path) -> None:
    env = {**os.environ, "MYPYPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "tests/typing_crd.py"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    bad = tmp_path / "bad.py"
    bad.write_text("from k8spb.crd import CustomResource, Object\n\n"
                   "class Spec(Object):\n    image: str\n\n"
                   "class W(CustomResource, group='example.com', version='v1'):\n    spec: Spec\n\n"
                   "w = W(spec=Spec(imag='x'))\n"
                   "n: str = len(w.spec.image)\n"
                   "class V(CustomResource, group='example.com', versoin='v1'):\n    spec: Spec\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(bad)], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 1
    assert 'Unexpected keyword argument "imag" for "Spec"' in proc.stdout
    assert "bad.py:10: error: Incompatible types in assignment" in proc.stdout
    assert 'Unexpected keyword argument "versoin"' in proc.stdout


# ---------------------------------------------------------------------------------------------------------
# against the server


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as srv:
        with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as c:
            crds = Api(c, CustomResourceDefinition)
            crds.create(Gadget.crd())
            crds.create(Note.crd())
        yield srv


@pytest.fixture
def client(server: ApiServer) -> Iterator[Client]:
    with Client(Config.from_kubeconfig(server.kubeconfig_path), backoff=0.01) as c:
        yield c


def test_typed_api_round_trip(client: Client) -> None:
    gadgets = Api(client, Gadget, namespace="default")
    created = gadgets.create(_gadget("round", ports=[Port(name="http", port=80)], target="http"))
    assert isinstance(created, Gadget) and created.metadata is not None and created.metadata.uid
    assert created.spec.ports == [Port(name="http", port=80)] and created.spec.target == "http"
    got = gadgets.get("round")
    assert got == created and got.spec.size is Size.SMALL
    page = gadgets.list()
    assert isinstance(page, Gadget.List) and [g.metadata.name for g in page if g.metadata] == ["round"]  # type: ignore[attr-defined]
    assert page.resource_version
    patched = gadgets.patch("round", Merge({"spec": {"replicas": 3}}))
    assert patched.spec.replicas == 3
    status = gadgets.patch_status("round", Merge({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "Up",
         "message": "up"}]}}))
    assert status.status is not None and status.status.phase == "Running" and status.condition_is_true("Ready")
    assert gadgets.get_status("round").status == status.status
    replaced = gadgets.replace("round", gadgets.get("round"))
    assert replaced.spec.replicas == 3
    notes = Api(client, Note)
    note = notes.create(Note(metadata=ObjectMeta(name="n1"), text="hello"))
    assert note.text == "hello" and notes.get("n1").metadata.namespace is None  # type: ignore[union-attr]
    assert isinstance(notes.delete("n1"), (Note, Status))
    assert isinstance(gadgets.delete("round"), (Gadget, Status))
    assert gadgets.get_opt("round") is None


def test_server_side_apply_of_a_typed_object(client: Client) -> None:
    gadgets = Api(client, Gadget, namespace="default")
    applied = gadgets.patch("applied", Apply(_gadget("applied", image="app:1")), PatchParams(field_manager="ctl"))
    assert applied.spec.image == "app:1" and applied.metadata is not None
    assert [m.manager for m in applied.metadata.managed_fields or []] == ["ctl"]
    with pytest.raises(k8spb.Conflict):
        gadgets.patch("applied", Apply(_gadget("applied", image="app:2")), PatchParams(field_manager="other"))
    gadgets.delete("applied")


def test_delete_of_an_object_with_finalizers_returns_it(client: Client) -> None:
    """Regression: the server answers with the object (still being finalized), which used to be a DecodeError."""
    gadgets = Api(client, Gadget, namespace="default")
    g = _gadget("final")
    assert g.metadata is not None
    g.metadata.finalizers = ["example.com/cleanup"]
    gadgets.create(g)
    deleting = gadgets.delete("final")
    assert isinstance(deleting, Gadget) and deleting.metadata is not None
    assert deleting.metadata.deletion_timestamp is not None and deleting.spec.image == "nginx:1"
    gadgets.patch("final", Merge({"metadata": {"finalizers": None}}))
    assert gadgets.get_opt("final") is None
    dynamic = Api(client, k8spb.DynamicObject, namespace="default",
                  resource=k8spb.ApiResource(GROUP, "v1", "Gadget", "gadgets", True))
    gadgets.create(g)
    answer = dynamic.delete("final")
    assert isinstance(answer, k8spb.DynamicObject) and answer.metadata.deletion_timestamp is not None
    dynamic.patch("final", Merge({"metadata": {"finalizers": None}}))


def test_delete_collection_of_custom_resources(client: Client) -> None:
    """Regression: delete_collection on custom resources always raised (the answer is a list k8spb could not read)."""
    gadgets = Api(client, Gadget, namespace="default")
    for name in ("c1", "c2"):
        g = _gadget(name)
        assert g.metadata is not None
        g.metadata.labels = {"batch": "x"}
        gadgets.create(g)
    gone = gadgets.delete_collection(k8spb.ListParams(label_selector="batch=x"))
    assert not isinstance(gone, Status)
    assert sorted(o.metadata.name for o in gone if o.metadata) == ["c1", "c2"]
    assert list(gadgets.list(label_selector="batch=x")) == []
    dynamic = Api(client, k8spb.DynamicObject, namespace="default",
                  resource=k8spb.ApiResource(GROUP, "v1", "Gadget", "gadgets", True))
    gadgets.create(_gadget("c3"))
    gone_dynamic = dynamic.delete_collection()
    assert isinstance(gone_dynamic, k8spb.DynamicList) and [o.metadata.name for o in gone_dynamic] == ["c3"]


def test_apply_of_a_dynamic_object(client: Client) -> None:
    """Regression: Apply(DynamicObject) failed with "not JSON serializable"."""
    dynamic = Api(client, k8spb.DynamicObject, namespace="default",
                  resource=k8spb.ApiResource(GROUP, "v1", "Gadget", "gadgets", True))
    obj = k8spb.DynamicObject(api_version=f"{GROUP}/v1", kind="Gadget", metadata=ObjectMeta(name="dyn-apply"),
                              body={"spec": {"image": "dyn:1"}})
    applied = dynamic.patch("dyn-apply", Apply(obj), PatchParams(field_manager="dyn"))
    assert applied["spec"] == {"image": "dyn:1"}
    assert Api(client, Gadget, namespace="default").get("dyn-apply").spec.image == "dyn:1"
    dynamic.delete("dyn-apply")


def test_watch_typed_objects(client: Client) -> None:
    gadgets = Api(client, Gadget, namespace="default")
    rv = gadgets.list().resource_version
    seen: list[tuple[str, str, int]] = []

    def watch() -> None:
        for ev in gadgets.watch(resource_version=rv, timeout_seconds=5):
            assert isinstance(ev.object, Gadget)
            seen.append((ev.type, ev.object.metadata.name or "", ev.object.spec.replicas))  # type: ignore[union-attr]
            if ev.type == "DELETED":
                return

    t = threading.Thread(target=watch)
    t.start()
    gadgets.create(_gadget("watched"))
    gadgets.patch("watched", Merge({"spec": {"replicas": 2}}))
    gadgets.delete("watched")
    t.join(10)
    assert seen == [("ADDED", "watched", 1), ("MODIFIED", "watched", 2), ("DELETED", "watched", 2)]


def test_runtime_watcher_and_store_of_typed_objects(client: Client) -> None:
    from k8spb.runtime import Apply as Changed
    from k8spb.runtime import InitApply, InitDone, Writer, reflector, watcher

    gadgets = Api(client, Gadget, namespace="default")
    gadgets.create(_gadget("cached", replicas=2))
    writer: Writer[Gadget] = Writer()
    stop = threading.Event()
    seen = []
    for event in reflector(writer, watcher(gadgets, stop=stop)):
        seen.append(type(event).__name__)
        if isinstance(event, InitApply):
            assert isinstance(event.object, Gadget)
        if isinstance(event, InitDone):
            gadgets.patch("cached", Merge({"spec": {"replicas": 3}}))
        if isinstance(event, Changed) and event.object.spec.replicas == 3:
            stop.set()
            break
    cached = writer.store.get("cached", "default")
    assert isinstance(cached, Gadget) and cached.spec.replicas == 3 and "InitDone" in seen
    assert cached.metadata is not None and cached.metadata.managed_fields is None  # the default transform
    gadgets.delete("cached")


def test_copy_and_pickle(client: Client) -> None:
    import copy
    import pickle

    made = _gadget("copy", ports=[Port(name="a", port=1)])
    decoded = k8spb.decode(k8spb.encode(made, k8spb.JSON))
    for obj in (made, decoded):
        for clone in (copy.deepcopy(obj), copy.copy(obj), pickle.loads(pickle.dumps(obj))):
            assert type(clone) is Gadget and clone == made


def test_lazy_field_errors_name_the_request(client: Client, server: ApiServer) -> None:
    """Issue 13: a bad JSON field read after the response was decoded names the request it came in."""
    rt = server.resources.get(GROUP, "v1", "gadgets")
    server.store.create(rt, "default", {"apiVersion": f"{GROUP}/v1", "kind": "Gadget",
                                        "metadata": {"name": "bad"}, "spec": {"image": "x", "replicas": "many"}})
    gadgets = Api(client, Gadget, namespace="default")
    got = gadgets.get("bad")  # decoding is lazy: no error yet
    with pytest.raises(k8spb.DecodeError, match=r"GET /apis/crd-test\.example\.com/v1/namespaces/default/gadgets/bad: "
                                                r"Gadget\.spec\.replicas: expected an integer, got str 'many'"):
        got.spec.replicas  # noqa: B018
    page = gadgets.list()
    with pytest.raises(k8spb.DecodeError, match=r"GET /apis/crd-test\.example\.com/v1/namespaces/default/gadgets: "
                                                r"GadgetList\.items\[\d+\]\.spec\.replicas"):
        [g.spec.replicas for g in page]
    rv = page.resource_version
    server.store.patch(rt, "default", "bad", "merge", b'{"spec": {"replicas": "more"}}')
    for ev in gadgets.watch(resource_version=rv, timeout_seconds=5):
        with pytest.raises(k8spb.DecodeError, match=r"GET /apis/crd-test\.example\.com/v1/namespaces/default/gadgets: "
                                                    r"Gadget\.spec\.replicas: expected an integer, got str 'more'"):
            ev.object.spec.replicas  # noqa: B018
        break
    gadgets.delete("bad")


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
def test_kubectl_applies_the_derived_crd_and_an_object(tmp_path: Path) -> None:
    assert KUBECTL is not None

    class Lamp(CustomResource, group="lamps.example.com", version="v1", short_names=("lp",), categories=("all",),
               printer_columns=[PrinterColumn("Watts", ".spec.watts", "integer")]):
        spec: LampSpec

    with ApiServer() as srv:
        env = {**os.environ, "KUBECONFIG": srv.kubeconfig_path, "HOME": str(tmp_path)}

        def kubectl(*args: str) -> str:
            out = subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60, check=False)
            assert out.returncode == 0, out.stderr
            return out.stdout

        (tmp_path / "crd.yaml").write_bytes(k8spb.encode(Lamp.crd(), k8spb.YAML))
        assert "customresourcedefinition.apiextensions.k8s.io/lamps.lamps.example.com created" in kubectl(
            "apply", "-f", str(tmp_path / "crd.yaml"))
        lamp = Lamp(metadata=ObjectMeta(name="desk"), spec=LampSpec(watts=40))
        (tmp_path / "lamp.yaml").write_bytes(k8spb.encode(lamp, k8spb.YAML))
        assert "lamp.lamps.example.com/desk created" in kubectl("apply", "-f", str(tmp_path / "lamp.yaml"))
        assert "desk" in kubectl("get", "lp")
        assert "lamp.lamps.example.com/desk" in kubectl("get", "lamps", "-o", "name")
        with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as c:
            got = Api(c, Lamp, namespace="default").get("desk")
            assert got.spec.watts == 40 and got.spec.color == "white"


class LampSpec(Object):
    watts: Annotated[int, Minimum(1)]
    color: str = "white"


_json_scalars = (st.none() | st.booleans() | st.integers(-5, 70000) | st.floats(allow_nan=False, allow_infinity=False)
                 | st.text(max_size=6) | st.sampled_from(["small", "large", "TCP", "1Gi", "2026-01-02T03:04:05Z"]))
_json_values = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.sampled_from(["name", "port", "protocol", "x"]), inner, max_size=3),
                            max_leaves=8)
_spec_keys = st.sampled_from(["image", "replicas", "maxReplicas", "size", "ports", "labels", "target", "memory",
                              "ratio", "email", "started", "every", "blob", "extra", "settings", "matrix",
                              "selector", "template", "dnsName", "unknown"])


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.dictionaries(_spec_keys, _json_values, max_size=6))
def test_lazy_and_eager_decoding_agree(spec: dict[str, Any]) -> None:
    """Whatever a server sends, decoding lazily then writing and from_dict agree: the same dict or a DecodeError."""
    doc = {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": "f"}, "spec": spec}
    try:
        eager: dict[str, Any] | None = Gadget.from_dict(doc).to_dict()
    except k8spb.DecodeError:
        eager = None
    lazy = k8spb.decode(json.dumps(doc).encode())
    assert isinstance(lazy, Gadget)
    try:
        written: dict[str, Any] | None = lazy.to_dict()
    except k8spb.DecodeError:
        written = None
    assert written == eager


def test_runtime_metadata_watcher_of_custom_resources_speaks_protobuf(client: Client) -> None:
    from k8spb.apimachinery.pkg.apis.meta.v1 import PartialObjectMetadata
    from k8spb.runtime import Apply as Changed
    from k8spb.runtime import InitDone, metadata_watcher

    gadgets = Api(client, Gadget, namespace="default")
    gadgets.create(_gadget("meta-only"))
    seen_types: set[str] = set()

    class Types:
        def on_request(self, request: k8spb.Request) -> k8spb.Request:
            return request

        def on_response(self, request: k8spb.Request, status: int, elapsed: float) -> None:
            seen_types.add(request.header("Accept") or "")

    with Client(client.config, middleware=[Types()]) as watching:
        stream = metadata_watcher(Api(watching, Gadget, namespace="default"))
        for event in stream:
            if isinstance(event, InitDone):
                gadgets.patch("meta-only", Merge({"metadata": {"labels": {"seen": "yes"}}}))
            if isinstance(event, Changed):
                assert type(event.object) is PartialObjectMetadata
                assert event.object.metadata is not None and event.object.metadata.labels == {"seen": "yes"}
                break
        stream.close()
    assert all(a.startswith("application/vnd.kubernetes.protobuf;as=PartialObjectMetadata") for a in seen_types)
    gadgets.delete("meta-only")
