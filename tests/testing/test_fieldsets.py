"""Field sets, managed fields and server-side apply on Kubernetes-shaped dicts."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from k8spb.testing._fieldsets import (
    ApplyConflict,
    FieldSet,
    ManagedFieldsError,
    apply,
    format_path,
    merge,
    to_field_set,
    update_managed_fields,
)
from k8spb.testing._patch import DictSchema

STR = {"type": "string"}
SCHEMA = DictSchema(
    {
        "properties": {
            "apiVersion": STR,
            "kind": STR,
            "metadata": {
                "properties": {
                    "name": STR,
                    "namespace": STR,
                    "labels": {"additionalProperties": STR},
                    "annotations": {"additionalProperties": STR},
                    "finalizers": {
                        "items": STR,
                        "x-kubernetes-patch-strategy": "merge",
                        "x-kubernetes-list-type": "set",
                    },
                }
            },
            "spec": {
                "properties": {
                    "replicas": {"type": "integer"},
                    "paused": {"type": "boolean"},
                    "selector": {
                        "x-kubernetes-map-type": "atomic",
                        "properties": {"matchLabels": {"additionalProperties": STR}},
                    },
                    "template": {
                        "properties": {
                            "metadata": {"properties": {"labels": {"additionalProperties": STR}}},
                            "spec": {
                                "properties": {
                                    "containers": {
                                        "x-kubernetes-list-type": "map",
                                        "x-kubernetes-list-map-keys": ["name"],
                                        "x-kubernetes-patch-strategy": "merge",
                                        "x-kubernetes-patch-merge-key": "name",
                                        "items": {
                                            "properties": {
                                                "name": STR,
                                                "image": STR,
                                                "args": {"items": STR},
                                                "ports": {
                                                    "x-kubernetes-list-type": "map",
                                                    "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                                                    "x-kubernetes-patch-strategy": "merge",
                                                    "x-kubernetes-patch-merge-key": "containerPort",
                                                    "items": {
                                                        "properties": {
                                                            "containerPort": {"type": "integer"},
                                                            "protocol": {"type": "string", "default": "TCP"},
                                                            "name": STR,
                                                        }
                                                    },
                                                },
                                                "env": {
                                                    "x-kubernetes-patch-strategy": "merge",
                                                    "x-kubernetes-patch-merge-key": "name",
                                                    "items": {"properties": {"name": STR, "value": STR}},
                                                },
                                            }
                                        },
                                    },
                                    "tolerations": {"items": {"properties": {"key": STR}}},
                                }
                            },
                        }
                    },
                }
            },
            "status": {"properties": {"replicas": {"type": "integer"}}},
        }
    }
)
T0, T1, T2, T3 = (f"2024-05-01T10:0{i}:00Z" for i in range(4))


def config(
    *,
    image: str = "nginx:1.25",
    replicas: int | None = 3,
    env: list[dict[str, str]] | None = None,
    labels: dict[str, str] | None = None,
    extra_containers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}
    if env is not None:
        container["env"] = env
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [container, *(extra_containers or [])]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": spec,
    }


def fields_of(managed: list[dict[str, Any]], manager: str, operation: str | None = None) -> FieldSet:
    for entry in managed:
        if entry["manager"] == manager and operation in (None, entry["operation"]):
            return FieldSet.from_fields_v1(entry["fieldsV1"])
    return FieldSet()


def paths(fields: FieldSet) -> list[str]:
    return [format_path(p) for p in fields]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


# --------------------------------------------------------------------------- field sets

APPLIED_FIELDS = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"nginx"}': {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                    }
                }
            },
        },
    },
}


def test_to_field_set_of_a_deployment() -> None:
    fields = to_field_set(config(), SCHEMA)
    encoded = fields.to_fields_v1()
    assert encoded["f:apiVersion"] == {} and encoded["f:kind"] == {}
    assert encoded["f:metadata"] == {"f:labels": {"f:app": {}}, "f:name": {}, "f:namespace": {}}
    assert encoded["f:spec"] == APPLIED_FIELDS["f:spec"]
    assert json.dumps(encoded["f:spec"]["f:template"]["f:spec"], separators=(",", ":")) == (
        '{"f:containers":{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{},'
        '"f:ports":{"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{}}}}}}'
    )


def test_to_field_set_sets_atomic_lists_nulls_and_empty_maps() -> None:
    obj = {
        "metadata": {"finalizers": ["b.io/x", "a.io/y"], "annotations": {}},
        "spec": {
            "paused": None,
            "template": {
                "spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "c", "args": ["x"], "env": []}]}
            },
        },
    }
    assert paths(to_field_set(obj, SCHEMA)) == [
        ".metadata.annotations",
        '.metadata.finalizers[="a.io/y"]',
        '.metadata.finalizers[="b.io/x"]',
        ".spec.paused",
        ".spec.template.spec.tolerations",
        '.spec.template.spec.containers[name="c"]',
        '.spec.template.spec.containers[name="c"].args',
        '.spec.template.spec.containers[name="c"].name',
    ]


def test_to_field_set_without_schema_treats_maps_as_objects_and_lists_as_atomic() -> None:
    fields = to_field_set({"spec": {"a": {"b": 1}, "l": [{"x": 1}], "e": {}}})
    assert fields.to_fields_v1() == {"f:spec": {"f:a": {"f:b": {}}, "f:e": {}, "f:l": {}}}


def test_missing_list_map_keys() -> None:
    fields = to_field_set(
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 53, "protocol": "UDP"}]}]}
                }
            }
        },
        SCHEMA,
    )
    assert ('f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"c"}', 'f:ports',
            'k:{"containerPort":53,"protocol":"UDP"}') in fields  # fmt: skip
    with pytest.raises(ManagedFieldsError, match='omits key field "name"') as err:
        to_field_set({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, SCHEMA)
    assert err.value.status_code == 500
    assert str(err.value).startswith(".spec.template.spec.containers: element 0:")


def test_fields_v1_round_trip_and_canonical_keys() -> None:
    fields = FieldSet.from_fields_v1(
        {"f:spec": {"f:ports": {'k:{"protocol": "TCP", "port": 80.0}': {".": {}, "f:port": {}}}, "v:1.0": {}}}
    )
    assert fields.to_fields_v1() == {
        "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}, "v:1": {}}
    }
    assert FieldSet.from_fields_v1(fields.to_fields_v1()) == fields
    with pytest.raises(ManagedFieldsError):
        FieldSet.from_fields_v1({"x:bad": {}})
    with pytest.raises(ManagedFieldsError):
        FieldSet.from_fields_v1({"k:[1]": {}})


def test_format_path() -> None:
    assert format_path(("f:spec", "f:replicas")) == ".spec.replicas"
    assert (
        format_path(("f:spec", "f:containers", 'k:{"name":"nginx"}', "f:image"))
        == '.spec.containers[name="nginx"].image'
    )
    assert (
        format_path(("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}')) == '.ports[containerPort=80,protocol="TCP"]'
    )
    assert format_path(("f:finalizers", 'v:"a/b"')) == '.finalizers[="a/b"]'
    assert format_path(("f:items", "i:3")) == ".items[3]"


def test_set_operations() -> None:
    a = FieldSet([("f:spec", "f:replicas"), ("f:spec", "f:paused"), ("f:metadata", "f:labels", "f:app")])
    b = FieldSet([("f:spec", "f:replicas"), ("f:spec",)])
    assert a | b == FieldSet([*a.paths, ("f:spec",)])
    assert a & b == FieldSet([("f:spec", "f:replicas")])
    assert a - b == FieldSet([("f:spec", "f:paused"), ("f:metadata", "f:labels", "f:app")])
    assert a.recursive_difference(FieldSet([("f:spec",)])) == FieldSet([("f:metadata", "f:labels", "f:app")])
    assert a.with_prefix("f:spec") == FieldSet([("f:replicas",), ("f:paused",)])
    assert (a | b).to_fields_v1() == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {".": {}, "f:paused": {}, "f:replicas": {}},
    }
    assert list(FieldSet([("f:b", "f:c"), ("f:a",), ("f:b",)])) == [("f:a",), ("f:b",), ("f:b", "f:c")]
    assert not FieldSet() and len(a) == 3 and hash(a) == hash(FieldSet(a.paths))


_pe = st.one_of(
    st.builds(lambda s: "f:" + s, st.text(alphabet="abc.", min_size=1, max_size=3)),
    st.builds(lambda s: 'k:{"name":"' + s + '"}', st.text(alphabet="xy", max_size=2)),
    st.builds(lambda n: f"v:{n}", st.integers(0, 3)),
)
_path_sets = st.builds(FieldSet, st.lists(st.lists(_pe, min_size=1, max_size=4).map(tuple), max_size=8))


@settings(max_examples=200, deadline=None)
@given(_path_sets, _path_sets)
def test_field_set_algebra_and_encoding(a: FieldSet, b: FieldSet) -> None:
    assert FieldSet.from_fields_v1(a.to_fields_v1()) == a
    assert FieldSet.from_fields_v1(json.loads(json.dumps(a.to_fields_v1()))) == a
    assert (a | b).paths == a.paths | b.paths
    assert (a & b).paths == a.paths & b.paths
    assert (a - b).paths == a.paths - b.paths
    assert (a - b) | (a & b) == a
    assert sorted(a) == sorted(a.paths)


# --------------------------------------------------------------------------- merge


def test_merge_keyed_lists_keep_live_order_with_applied_items_merged() -> None:
    live = {"l": [{"name": "a", "x": 1}, {"name": "b"}, {"name": "c"}]}
    schema = DictSchema(
        {"properties": {"l": {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}}}
    )
    merged = merge(live, {"l": [{"name": "c", "y": 2}, {"name": "a", "y": 3}, {"name": "d"}]}, schema)
    assert merged == {"l": [{"name": "b"}, {"name": "c", "y": 2}, {"name": "a", "x": 1, "y": 3}, {"name": "d"}]}


def test_merge_sets_atomic_lists_and_atomic_maps() -> None:
    live = {"metadata": {"finalizers": ["a", "b"]}, "spec": {"selector": {"matchLabels": {"app": "old", "x": "y"}}}}
    applied = {"metadata": {"finalizers": ["c", "a"]}, "spec": {"selector": {"matchLabels": {"app": "web"}}}}
    merged = merge(live, applied, SCHEMA)
    assert merged["metadata"]["finalizers"] == ["c", "a", "b"]
    assert merged["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert merge(
        {"spec": {"template": {"spec": {"tolerations": [{"key": "a"}]}}}},
        {"spec": {"template": {"spec": {"tolerations": []}}}},
        SCHEMA,
    ) == {"spec": {"template": {"spec": {"tolerations": []}}}}


# --------------------------------------------------------------------------- apply


def test_apply_creates_and_records_the_manager() -> None:
    obj, managed = apply(None, config(), "kubectl", [], schema=SCHEMA, now=T0)
    assert obj["spec"]["replicas"] == 3
    assert managed == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": APPLIED_FIELDS,
        }
    ]
    assert obj["metadata"]["managedFields"] == managed


def test_reapplying_the_same_config_changes_nothing() -> None:
    obj, managed = apply(None, config(), "kubectl", [], schema=SCHEMA, now=T0)
    again, managed_again = apply(obj, config(), "kubectl", managed, schema=SCHEMA, now=T1)
    assert again == obj
    assert managed_again == managed  # the time moves only when the object changes


def test_apply_changes_own_fields_without_conflict() -> None:
    obj, managed = apply(None, config(), "kubectl", [], schema=SCHEMA, now=T0)
    obj, managed = apply(obj, config(image="nginx:1.27", replicas=5), "kubectl", managed, schema=SCHEMA, now=T1)
    assert containers(obj)[0]["image"] == "nginx:1.27"
    assert obj["spec"]["replicas"] == 5
    assert managed[0]["time"] == T1


def test_conflict_with_an_update_manager() -> None:
    obj, _ = apply(None, config(), "kubectl", [], schema=SCHEMA, now=T0)
    scaled = copy.deepcopy(obj)
    scaled["spec"]["replicas"] = 10
    scaled["metadata"]["managedFields"] = update_managed_fields(obj, scaled, "hpa", schema=SCHEMA, now=T1)
    assert paths(fields_of(scaled["metadata"]["managedFields"], "hpa")) == [".spec.replicas"]
    assert ".spec.replicas" not in paths(fields_of(scaled["metadata"]["managedFields"], "kubectl"))

    with pytest.raises(ApplyConflict) as err:
        apply(scaled, config(), "kubectl", scaled["metadata"]["managedFields"], schema=SCHEMA, now=T2)
    conflict = err.value
    assert str(conflict) == 'Apply failed with 1 conflict: conflict with "hpa" using apps/v1: .spec.replicas'
    assert conflict.status_code == 409
    status = conflict.status()
    assert status["reason"] == "Conflict" and status["code"] == 409
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "hpa" using apps/v1', "field": ".spec.replicas"}
    ]

    # the same value is not a conflict: both managers own the field
    obj2, managed2 = apply(scaled, config(replicas=10), "kubectl", scaled["metadata"]["managedFields"], schema=SCHEMA)
    assert ".spec.replicas" in paths(fields_of(managed2, "kubectl"))
    assert ".spec.replicas" in paths(fields_of(managed2, "hpa"))
    assert obj2["spec"]["replicas"] == 10

    # force takes the field over
    obj3, managed3 = apply(scaled, config(), "kubectl", scaled["metadata"]["managedFields"], True, SCHEMA, now=T2)
    assert obj3["spec"]["replicas"] == 3
    assert [e["manager"] for e in managed3] == ["kubectl"]


def test_conflicts_between_appliers_list_every_field() -> None:
    obj, managed = apply(None, config(), "alice", [], schema=SCHEMA, now=T0)
    with pytest.raises(ApplyConflict) as err:
        apply(obj, config(image="nginx:2", replicas=1, labels={"app": "other"}), "bob", managed, schema=SCHEMA)
    assert [(c.manager, c.field) for c in err.value.conflicts] == [
        ('"alice"', ".metadata.labels.app"),
        ('"alice"', ".spec.replicas"),
        ('"alice"', '.spec.template.spec.containers[name="nginx"].image'),
    ]
    assert str(err.value) == (
        'Apply failed with 3 conflicts: conflicts with "alice":\n- .metadata.labels.app\n- .spec.replicas\n'
        '- .spec.template.spec.containers[name="nginx"].image'
    )


def test_fields_no_longer_applied_are_removed_unless_someone_else_owns_them() -> None:
    extra = [{"name": "sidecar", "image": "busybox"}]
    obj, managed = apply(
        None, config(env=[{"name": "A", "value": "1"}], extra_containers=extra), "kubectl", [], schema=SCHEMA, now=T0
    )
    assert [c["name"] for c in containers(obj)] == ["nginx", "sidecar"]

    # another manager shares the A variable (same value: no conflict)
    ops_config = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "nginx", "env": [{"name": "A", "value": "1"}]}]}}},
    }
    obj, managed = apply(obj, ops_config, "ops", managed, schema=SCHEMA, now=T1)

    obj, managed = apply(obj, config(replicas=None), "kubectl", managed, schema=SCHEMA, now=T2)
    assert "replicas" not in obj["spec"]
    assert [c["name"] for c in containers(obj)] == ["nginx"]
    assert containers(obj)[0]["env"] == [{"name": "A", "value": "1"}], "still owned by ops"
    assert ".spec.replicas" not in paths(fields_of(managed, "kubectl"))

    empty = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    obj, managed = apply(obj, empty, "ops", managed, schema=SCHEMA, now=T3)
    assert "env" not in containers(obj)[0]
    assert [e["manager"] for e in managed] == ["kubectl"]


def test_removal_keeps_unowned_fields_the_applier_never_set() -> None:
    obj, managed = apply(None, config(), "kubectl", [], schema=SCHEMA, now=T0)
    defaulted = copy.deepcopy(obj)
    defaulted["spec"]["paused"] = False  # e.g. written by the server, owned by nobody
    obj2, _ = apply(defaulted, config(replicas=None), "kubectl", managed, schema=SCHEMA, now=T1)
    assert obj2["spec"]["paused"] is False
    assert "replicas" not in obj2["spec"]


def test_list_item_removal_takes_its_subfields() -> None:
    sidecar = {"name": "sidecar", "image": "busybox", "args": ["sleep"]}
    obj, managed = apply(None, config(extra_containers=[sidecar]), "kubectl", [], schema=SCHEMA)
    obj, managed = apply(obj, config(), "kubectl", managed, schema=SCHEMA)
    assert [c["name"] for c in containers(obj)] == ["nginx"]
    assert 'k:{"name":"sidecar"}' not in json.dumps(managed)


def test_emptying_an_owned_list_removes_it() -> None:
    obj, managed = apply(None, config(env=[{"name": "A", "value": "1"}]), "kubectl", [], schema=SCHEMA)
    obj, managed = apply(obj, config(env=[]), "kubectl", managed, schema=SCHEMA)
    assert "env" not in containers(obj)[0]
    fresh, _ = apply(None, config(env=[]), "kubectl", [], schema=SCHEMA)
    assert containers(fresh)[0]["env"] == []


def test_before_first_apply_owns_existing_fields() -> None:
    live = config(replicas=7)
    team = {"app": "web", "team": "a"}
    obj, managed = apply(live, config(replicas=7, labels=team), "kubectl", [], schema=SCHEMA, now=T1)
    assert obj["metadata"]["labels"] == team
    before = fields_of(managed, "before-first-apply", "Update")
    assert ".spec.replicas" in paths(before), "same value: shared"
    assert ".metadata.labels.team" not in paths(before)
    assert ".metadata.labels.team" in paths(fields_of(managed, "kubectl"))
    assert [e["operation"] for e in managed] == ["Apply", "Update"]
    with pytest.raises(ApplyConflict, match="before-first-apply"):
        apply(live, config(replicas=1), "kubectl", [], schema=SCHEMA)


def test_ignored_fields_are_not_owned_or_conflicting() -> None:
    with_status = {**config(), "status": {"replicas": 3}}
    ignored = FieldSet([("f:status",)])
    obj, managed = apply(None, with_status, "kubectl", [], schema=SCHEMA, ignored=ignored)
    assert "f:status" not in managed[0]["fieldsV1"]
    assert obj["status"] == {"replicas": 3}


def test_update_managed_fields_records_changes() -> None:
    created = config()
    managed = update_managed_fields(None, created, "kubectl-create", schema=SCHEMA, now=T0)
    assert managed[0]["manager"] == "kubectl-create" and managed[0]["operation"] == "Update"
    create_fields = managed[0]["fieldsV1"]
    assert create_fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    containers_fields = create_fields["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert containers_fields['k:{"name":"nginx"}']["."] == {}
    assert "." not in create_fields["f:spec"]

    edited = copy.deepcopy(created)
    edited["metadata"]["managedFields"] = managed
    edited["metadata"]["labels"]["team"] = "a"
    del edited["spec"]["replicas"]
    before = copy.deepcopy(created)
    before["metadata"]["managedFields"] = managed
    managed2 = update_managed_fields(before, edited, "editor", schema=SCHEMA, now=T1)
    assert [e["manager"] for e in managed2] == ["kubectl-create", "editor"]
    assert paths(fields_of(managed2, "editor")) == [".metadata.labels.team"]
    assert ".spec.replicas" not in paths(fields_of(managed2, "kubectl-create"))

    # a write that changes nothing records nothing
    assert update_managed_fields(edited, edited, "noop", managed_fields=managed2, schema=SCHEMA) == managed2


def test_update_takes_fields_from_appliers() -> None:
    obj, _ = apply(None, config(), "kubectl", [], schema=SCHEMA, now=T0)
    edited = copy.deepcopy(obj)
    containers(edited)[0]["image"] = "nginx:hotfix"
    managed2 = update_managed_fields(obj, edited, "kubectl-edit", schema=SCHEMA, now=T1)
    image = '.spec.template.spec.containers[name="nginx"].image'
    assert paths(fields_of(managed2, "kubectl-edit")) == [image]
    assert image not in paths(fields_of(managed2, "kubectl"))
    edited["metadata"]["managedFields"] = managed2
    with pytest.raises(ApplyConflict, match=r'conflict with "kubectl-edit" using apps/v1: \.spec\.template'):
        apply(edited, config(), "kubectl", managed2, schema=SCHEMA, now=T2)


def test_managed_fields_order_and_subresources() -> None:
    obj, managed = apply(None, config(), "zeta", [], schema=SCHEMA, now=T1)
    edited = copy.deepcopy(obj)
    edited["status"] = {"replicas": 1}
    managed = update_managed_fields(obj, edited, "alpha", subresource="status", schema=SCHEMA, now=T0)
    assert [(e["manager"], e["operation"], e.get("subresource")) for e in managed] == [
        ("zeta", "Apply", None),
        ("alpha", "Update", "status"),
    ]
    assert list(managed[1]) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource"]


def test_invalid_managed_fields_are_rejected() -> None:
    with pytest.raises(ManagedFieldsError):
        apply(None, config(), "kubectl", [{"manager": "x", "operation": "Patch", "fieldsV1": {}}], schema=SCHEMA)
    with pytest.raises(ManagedFieldsError):
        apply(
            None, config(), "kubectl", [{"manager": "x", "operation": "Apply", "fieldsV1": {"f:a": 1}}], schema=SCHEMA
        )


_small_configs = st.fixed_dictionaries(
    {
        "image": st.sampled_from(["nginx:1", "nginx:2"]),
        "replicas": st.one_of(st.none(), st.integers(1, 3)),
        "env": st.one_of(
            st.none(),
            st.lists(
                st.builds(lambda n, v: {"name": n, "value": v}, st.sampled_from("ABC"), st.sampled_from("01")),
                unique_by=lambda e: e["name"],
                min_size=1,
                max_size=3,
            ),
        ),
        "labels": st.dictionaries(st.sampled_from(["app", "tier", "team"]), st.sampled_from(["x", "y"]), min_size=1),
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_small_configs, min_size=1, max_size=4))
def test_a_lone_applier_always_gets_exactly_its_config(configs: list[dict[str, Any]]) -> None:
    obj: dict[str, Any] | None = None
    managed: list[dict[str, Any]] = []
    for kwargs in configs:
        applied = config(**kwargs)
        obj, managed = apply(obj, applied, "kubectl", managed, schema=SCHEMA)
        expected = merge({}, applied, SCHEMA)
        expected["metadata"]["managedFields"] = managed
        assert obj == expected
        identity = FieldSet([("f:apiVersion",), ("f:kind",), ("f:metadata", "f:name"), ("f:metadata", "f:namespace")])
        assert fields_of(managed, "kubectl") == to_field_set(applied, SCHEMA) - identity


# --------------------------------------------------------------------------- structured-merge-diff scenarios

LIST_SCHEMA = DictSchema(
    {
        "properties": {
            "list": {
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"properties": {"name": STR, "value": {"x-kubernetes-list-type": "set", "items": STR}}},
            },
            "struct": {"properties": {"name": STR, "scalarField": STR, "complexField": {"properties": {"name": STR}}}},
        }
    }
)


def run(ops: list[tuple[str, str, str]]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Apply ("apply", manager, yaml) and update ("update", manager, yaml) operations in turn."""
    obj: dict[str, Any] = {}
    managed: list[dict[str, Any]] = []
    for kind, manager, text in ops:
        new = yaml.safe_load(text)
        if kind == "apply":
            obj, managed = apply(obj, new, manager, managed, schema=LIST_SCHEMA)
        else:
            managed = update_managed_fields(
                obj, new, manager, managed_fields=managed, api_version="v1", schema=LIST_SCHEMA
            )
            obj = new
        if obj.get("metadata") == {"managedFields": managed}:
            del obj["metadata"]
    owners = {e["manager"]: paths(FieldSet.from_fields_v1(e["fieldsV1"])) for e in managed}
    return obj, owners


def test_smd_remove_one_keep_one() -> None:
    obj, owners = run(
        [
            ("apply", "apply-one", "list: [{name: a}, {name: b}, {name: c}]"),
            ("apply", "apply-two", "list: [{name: c}, {name: d}]"),
            ("apply", "apply-one", "list: [{name: a}]"),
        ]
    )
    assert obj == {"list": [{"name": "a"}, {"name": "c"}, {"name": "d"}]}
    assert owners == {
        "apply-one": ['.list[name="a"]', '.list[name="a"].name'],
        "apply-two": ['.list[name="c"]', '.list[name="d"]', '.list[name="c"].name', '.list[name="d"].name'],
    }


def test_smd_same_value_is_shared_and_changed_value_conflicts() -> None:
    _, owners = run(
        [
            ("apply", "apply-one", "list: [{name: a, value: [x]}]"),
            ("apply", "apply-two", "list: [{name: a, value: [x]}]"),
        ]
    )
    assert owners["apply-one"] == owners["apply-two"]
    with pytest.raises(ApplyConflict) as err:
        run([("apply", "apply-one", "struct: {name: a}"), ("apply", "apply-two", "struct: {name: b}")])
    assert [(c.manager, c.field) for c in err.value.conflicts] == [('"apply-one"', ".struct.name")]


def test_smd_unset_scalar_shared_with_updater() -> None:
    obj, owners = run(
        [
            ("update", "updater", "struct: {name: a, scalarField: a}"),
            ("apply", "applier", "struct: {name: a, scalarField: a}"),
            ("apply", "applier", "struct: {name: a}"),
        ]
    )
    assert obj == {"struct": {"name": "a", "scalarField": "a"}}
    assert owners == {"updater": [".struct.name", ".struct.scalarField"], "applier": [".struct.name"]}


def test_smd_updater_claims_field() -> None:
    _, owners = run(
        [
            ("apply", "applier", "struct: {name: a, scalarField: a}"),
            ("update", "updater", "struct: {name: a, scalarField: b}"),
        ]
    )
    assert owners == {"applier": [".struct.name"], "updater": [".struct.scalarField"]}


def test_smd_unset_complex_field() -> None:
    obj, _ = run(
        [
            ("apply", "apply-one", "struct: {name: a, complexField: {name: b}}"),
            ("apply", "apply-one", "struct: {name: a}"),
        ]
    )
    assert obj == {"struct": {"name": "a"}}
    obj, owners = run(
        [
            ("apply", "apply-one", "struct: {name: a, complexField: {name: b}}"),
            ("apply", "apply-two", "struct: {complexField: {name: b}}"),
            ("apply", "apply-one", "struct: {name: a}"),
        ]
    )
    assert obj == {"struct": {"name": "a", "complexField": {"name": "b"}}}
    assert owners == {"apply-one": [".struct.name"], "apply-two": [".struct.complexField.name"]}


def test_smd_remove_item_keeps_items_and_subitems_others_own() -> None:
    obj, owners = run(
        [
            ("apply", "apply-one", "list: [{name: a}, {name: b, value: [c]}]"),
            ("apply", "apply-two", "list: [{name: b, value: [d]}]"),
            ("update", "controller", "list: [{name: a}, {name: b, value: [c, d, e]}]"),
            ("apply", "apply-one", "list: [{name: a}]"),
        ]
    )
    assert obj == {"list": [{"name": "a"}, {"name": "b", "value": ["d", "e"]}]}
    assert owners["controller"] == ['.list[name="b"].value[="e"]']


def test_smd_removed_item_takes_dangling_subitems() -> None:
    obj, _ = run(
        [
            ("apply", "apply-one", "list: [{name: a}, {name: b, value: [c]}]"),
            ("apply", "apply-two", "list: [{name: a, value: [b]}]"),
            ("update", "controller", "list: [{name: a, value: [b]}, {name: b, value: [c, d]}]"),
            ("apply", "apply-one", "list: [{name: a}]"),
        ]
    )
    assert obj == {"list": [{"name": "a", "value": ["b"]}]}
