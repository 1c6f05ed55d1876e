"""JSON patch, JSON merge patch and strategic merge patch on Kubernetes-shaped dicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from k8spb.testing._patch import (
    MAX_JSON_PATCH_COPY_BYTES,
    MAX_JSON_PATCH_OPERATIONS,
    DictSchema,
    PatchError,
    PatchSchema,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    create_merge_patch,
    json_equal,
    list_semantics,
)

STR = {"type": "string"}
CONTAINER = {
    "properties": {
        "name": STR,
        "image": STR,
        "args": {"type": "array", "items": STR},
        "ports": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
            "x-kubernetes-patch-strategy": "merge",
            "x-kubernetes-patch-merge-key": "containerPort",
            "items": {"properties": {"containerPort": {"type": "integer"}, "protocol": {"default": "TCP"}}},
        },
        "env": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "x-kubernetes-patch-strategy": "merge",
            "x-kubernetes-patch-merge-key": "name",
            "items": {"properties": {"name": STR, "value": STR}},
        },
        "resources": {"properties": {"limits": {"additionalProperties": STR}}},
    }
}
DEFINITIONS = {
    "io.k8s.api.core.v1.Container": CONTAINER,
    "io.k8s.api.core.v1.PodSpec": {
        "properties": {
            "containers": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "name",
                "items": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}]},
            },
            "tolerations": {"type": "array", "items": {"properties": {"key": STR, "operator": STR}}},
            "volumes": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-patch-strategy": "merge,retainKeys",
                "x-kubernetes-patch-merge-key": "name",
                "items": {
                    "properties": {
                        "name": STR,
                        "emptyDir": {"properties": {"medium": STR}},
                        "configMap": {"properties": {"name": STR}},
                    }
                },
            },
            "nodeSelector": {"additionalProperties": STR, "x-kubernetes-map-type": "atomic"},
        }
    },
}
DEPLOYMENT = DictSchema(
    {
        "properties": {
            "apiVersion": STR,
            "kind": STR,
            "metadata": {
                "properties": {
                    "name": STR,
                    "labels": {"additionalProperties": STR},
                    "annotations": {"additionalProperties": STR},
                    "finalizers": {"type": "array", "items": STR, "x-kubernetes-patch-strategy": "merge"},
                }
            },
            "spec": {
                "properties": {
                    "replicas": {"type": "integer"},
                    "strategy": {
                        "x-kubernetes-patch-strategy": "retainKeys",
                        "properties": {
                            "type": STR,
                            "rollingUpdate": {"properties": {"maxSurge": {}, "maxUnavailable": {}}},
                        },
                    },
                    "template": {
                        "properties": {
                            "metadata": {"properties": {"labels": {"additionalProperties": STR}}},
                            "spec": {"$ref": "#/definitions/io.k8s.api.core.v1.PodSpec"},
                        }
                    },
                }
            },
        }
    },
    DEFINITIONS,
)


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {"app": "web", "tier": "frontend"},
            "finalizers": ["example.com/a", "example.com/b"],
        },
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:1.25",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "MODE", "value": "prod"}, {"name": "DEBUG", "value": "0"}],
                        },
                        {"name": "sidecar", "image": "busybox", "args": ["sleep", "3600"]},
                    ],
                    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                    "volumes": [{"name": "cache", "emptyDir": {}}],
                },
            },
        },
    }


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


def smp(patch: Any, original: dict[str, Any] | None = None) -> dict[str, Any]:
    return apply_strategic_merge_patch(original or deployment(), patch, DEPLOYMENT)


def pod_spec_patch(spec: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": spec}}}


# --------------------------------------------------------------------------- schema


def test_dict_schema_resolves_refs_and_all_of() -> None:
    spec = DEPLOYMENT.child("spec")
    assert spec is not None
    pod = spec.child("template").child("spec")  # type: ignore[union-attr]
    assert pod is not None
    cont = pod.child("containers")
    assert cont is not None
    assert cont.patch_strategy == "merge"
    assert cont.patch_merge_key == "name"
    assert list_semantics(cont) == ("map", ("name",))
    ports = cont.items().child("ports")  # type: ignore[union-attr]
    assert list_semantics(ports) == ("map", ("containerPort", "protocol"))
    assert ports.items().child("protocol").default == "TCP"  # type: ignore[union-attr]
    assert list_semantics(pod.child("tolerations")) == ("atomic", ())
    labels = DEPLOYMENT.child("metadata").child("labels")  # type: ignore[union-attr]
    assert labels is not None and labels.items() is not None and labels.child("app") is None
    assert isinstance(DEPLOYMENT, PatchSchema)


def test_list_semantics_from_patch_strategy() -> None:
    assert list_semantics(None) == ("atomic", ())
    assert list_semantics(DictSchema({"x-kubernetes-patch-strategy": "merge"})) == ("set", ())
    merge_key = {"x-kubernetes-patch-strategy": "merge,retainKeys", "x-kubernetes-patch-merge-key": "name"}
    assert list_semantics(DictSchema(merge_key)) == ("map", ("name",))
    assert list_semantics(DictSchema({"x-kubernetes-list-type": "set"})) == ("set", ())
    assert list_semantics(DictSchema({"x-kubernetes-list-type": "atomic", **merge_key})) == ("atomic", ())


# --------------------------------------------------------------------------- JSON patch


def test_json_patch_operations() -> None:
    doc = deployment()
    patched = apply_json_patch(
        doc,
        [
            {"op": "test", "path": "/spec/replicas", "value": 2},
            {"op": "replace", "path": "/spec/replicas", "value": 5},
            {"op": "add", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "web"},
            {"op": "add", "path": "/metadata/annotations", "value": {"a~b": "1"}},
            {"op": "test", "path": "/metadata/annotations/a~0b", "value": "1"},
            {"op": "remove", "path": "/metadata/labels/tier"},
            {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "X", "value": "1"}},
            {"op": "add", "path": "/spec/template/spec/containers/0/env/0", "value": {"name": "FIRST"}},
            {"op": "copy", "from": "/metadata/labels", "path": "/spec/template/metadata/labels"},
            {"op": "move", "from": "/spec/template/spec/tolerations", "path": "/spec/template/spec/oldTolerations"},
        ],
    )
    assert patched["spec"]["replicas"] == 5
    assert patched["metadata"]["labels"] == {"app": "web", "app.kubernetes.io/name": "web"}
    assert patched["metadata"]["annotations"] == {"a~b": "1"}
    assert [e["name"] for e in containers(patched)[0]["env"]] == ["FIRST", "MODE", "DEBUG", "X"]
    assert patched["spec"]["template"]["metadata"]["labels"] == patched["metadata"]["labels"]
    assert patched["spec"]["template"]["metadata"]["labels"] is not patched["metadata"]["labels"]
    assert "tolerations" not in patched["spec"]["template"]["spec"]
    assert patched["spec"]["template"]["spec"]["oldTolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert doc == deployment(), "the input is not modified"


def test_json_patch_negative_indexes_and_root_replace() -> None:
    doc = {"items": ["a", "b", "c"]}
    assert apply_json_patch(doc, [{"op": "remove", "path": "/items/-1"}]) == {"items": ["a", "b"]}
    assert apply_json_patch(doc, [{"op": "replace", "path": "/items/-3", "value": "z"}]) == {"items": ["z", "b", "c"]}
    assert apply_json_patch(doc, [{"op": "add", "path": "/items/3", "value": "d"}]) == {"items": ["a", "b", "c", "d"]}
    assert apply_json_patch(doc, [{"op": "replace", "path": "", "value": {"x": 1}}]) == {"x": 1}
    assert apply_json_patch(doc, None) == doc


def test_json_patch_test_of_null_passes_on_missing_members() -> None:
    doc = {"a": None, "b": 1}
    assert apply_json_patch(doc, [{"op": "test", "path": "/a", "value": None}]) == doc
    assert apply_json_patch(doc, [{"op": "test", "path": "/missing", "value": None}]) == doc
    with pytest.raises(PatchError, match="testing value /b failed: test failed"):
        apply_json_patch(doc, [{"op": "test", "path": "/b", "value": None}])
    with pytest.raises(PatchError):
        apply_json_patch(doc, [{"op": "test", "path": "/b", "value": True}])
    assert apply_json_patch(doc, [{"op": "test", "path": "/b", "value": 1.0}]) == doc


@pytest.mark.parametrize(
    ("patch", "status", "message"),
    [
        ({"op": "add"}, 400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        (["add"], 400, "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
        (
            [{"op": "replace", "path": "/spec/paused", "value": True}],
            422,
            "replace operation does not apply: doc is missing key: /spec/paused: missing value",
        ),
        (
            [{"op": "remove", "path": "/spec/paused"}],
            422,
            "error in remove for path: '/spec/paused': Unable to remove nonexistent key: paused: missing value",
        ),
        (
            [{"op": "add", "path": "/spec/missing/x", "value": 1}],
            422,
            'add operation does not apply: doc is missing path: "/spec/missing/x": missing value',
        ),
        (
            [{"op": "add", "path": "/spec/template/spec/containers/5", "value": {}}],
            422,
            "error in add for path: '/spec/template/spec/containers/5': "
            "Unable to access invalid index: 5: invalid index referenced",
        ),
        (
            [{"op": "add", "path": "/spec/template/spec/containers/x", "value": {}}],
            422,
            "error in add for path: '/spec/template/spec/containers/x': value was not a proper array index: "
            "'x': strconv.Atoi: parsing \"x\": invalid syntax",
        ),
        (
            [{"op": "test", "path": "/spec/replicas", "value": 3}],
            422,
            "testing value /spec/replicas failed: test failed",
        ),
        (
            [{"op": "copy", "from": "/spec/nope", "path": "/spec/x"}],
            422,
            "error in copy for from: '/spec/nope': unable to get nonexistent key: nope: missing value",
        ),
        (
            [{"op": "move", "from": "/spec", "path": "/spec/inner"}],
            422,
            "move operation does not apply: doc is missing destination path: /spec/inner: missing value",
        ),
        ([{"op": "frobnicate", "path": "/spec"}], 422, "Unexpected kind: frobnicate"),
        ([{"path": "/spec"}], 422, "Unexpected kind: unknown"),
        (
            [{"op": "add", "value": 1}],
            422,
            "add operation failed to decode path: operation missing path field: missing value",
        ),
        (
            [{"op": "remove", "path": ""}],
            422,
            'remove operation does not apply: doc is missing path: "": missing value',
        ),
        ([{"op": "replace", "path": "", "value": 3}], 422, "replace operation value must be object or array"),
    ],
)
def test_json_patch_errors(patch: Any, status: int, message: str) -> None:
    with pytest.raises(PatchError) as err:
        apply_json_patch(deployment(), patch)
    assert err.value.status_code == status
    assert str(err.value) == message
    assert err.value.reason == {400: "BadRequest", 422: "Invalid"}[status]


def test_json_patch_operation_limit() -> None:
    ops = [{"op": "test", "path": "/kind", "value": "Deployment"}] * (MAX_JSON_PATCH_OPERATIONS + 1)
    with pytest.raises(PatchError) as err:
        apply_json_patch(deployment(), ops)
    assert err.value.status_code == 413
    assert "The allowed maximum operations in a JSON patch is 10000, got 10001" in str(err.value)
    assert apply_json_patch(deployment(), ops[:MAX_JSON_PATCH_OPERATIONS]) == deployment()


def test_json_patch_copy_bomb_stops_at_the_copy_limit() -> None:
    """CVE-2019-1002100: 23 copies of a doubling list would build gigabytes; kube stops at 3 MiB copied."""
    bomb = [{"op": "add", "path": "/l", "value": ["x" * 50]}]
    bomb += [{"op": "copy", "from": "/l", "path": "/l/-"} for _ in range(23)]  # each copy doubles the list
    with pytest.raises(PatchError) as err:
        apply_json_patch({}, bomb)
    assert err.value.status_code == 422
    assert str(err.value).startswith("Unable to complete the copy, the accumulated size increase of copy is ")
    assert str(err.value).endswith(f", exceeding the limit {MAX_JSON_PATCH_COPY_BYTES}")
    small = [{"op": "add", "path": "/a", "value": "x" * 1000}] + [
        {"op": "copy", "from": "/a", "path": f"/b{i}"} for i in range(100)]  # 100 kB copied: fine
    assert len(apply_json_patch({}, small)) == 101


def test_json_pointer_is_read_like_evanphx() -> None:
    # the first segment of a pointer is ignored, whatever it is
    assert apply_json_patch({"a": 1}, [{"op": "add", "path": "x/b", "value": 2}]) == {"a": 1, "b": 2}


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.text(max_size=6))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(alphabet="ab/~0c", max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)
json_docs = st.dictionaries(st.text(alphabet="ab/~0c", max_size=4), json_values, max_size=5)


def _pointer(tokens: list[str | int]) -> str:
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


def _paths(value: Any, prefix: list[str | int]) -> list[list[str | int]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, [*prefix, k])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, [*prefix, i])
    return found


def _resolve(doc: Any, tokens: list[str | int]) -> Any:
    for t in tokens:
        doc = doc[t]
    return doc


@settings(max_examples=150, deadline=None)
@given(json_docs, st.data())
def test_json_patch_remove_then_add_round_trips(doc: dict[str, Any], data: st.DataObject) -> None:
    paths = _paths(doc, [])
    assume(paths)
    tokens = data.draw(st.sampled_from(paths))
    pointer = _pointer(tokens)
    value = _resolve(doc, tokens)
    patched = apply_json_patch(
        doc, [{"op": "test", "path": pointer, "value": value}, {"op": "remove", "path": pointer}]
    )
    assert apply_json_patch(patched, [{"op": "add", "path": pointer, "value": value}]) == doc


@settings(max_examples=150, deadline=None)
@given(json_docs, json_values, st.data())
def test_json_patch_replace_round_trips(doc: dict[str, Any], new: Any, data: st.DataObject) -> None:
    paths = _paths(doc, [])
    assume(paths)
    tokens = data.draw(st.sampled_from(paths))
    pointer = _pointer(tokens)
    old = _resolve(doc, tokens)
    replaced = apply_json_patch(doc, [{"op": "replace", "path": pointer, "value": new}])
    assert json_equal(_resolve(replaced, tokens), new)
    assert apply_json_patch(replaced, [{"op": "replace", "path": pointer, "value": old}]) == doc


@settings(max_examples=100, deadline=None)
@given(json_docs, st.text(alphabet="xyz~/", min_size=1, max_size=4), st.data())
def test_json_patch_copy_and_move_round_trip(doc: dict[str, Any], key: str, data: st.DataObject) -> None:
    paths = _paths(doc, [])
    assume(paths and key not in doc)
    tokens = data.draw(st.sampled_from(paths))
    src, dst = _pointer(tokens), _pointer([key])
    copied = apply_json_patch(doc, [{"op": "copy", "from": src, "path": dst}])
    assert json_equal(copied[key], _resolve(doc, tokens))
    assert apply_json_patch(copied, [{"op": "remove", "path": dst}]) == doc
    if len(tokens) == 1:
        moved = apply_json_patch(doc, [{"op": "move", "from": src, "path": dst}])
        assert apply_json_patch(moved, [{"op": "move", "from": dst, "path": src}]) == doc


# --------------------------------------------------------------------------- JSON merge patch

RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7386_EXAMPLES)
def test_merge_patch_rfc7386_examples(target: Any, patch: Any, result: Any) -> None:
    assert apply_merge_patch(target, patch) == result


def test_merge_patch_on_a_deployment() -> None:
    patched = apply_merge_patch(
        deployment(),
        {
            "metadata": {"labels": {"tier": None, "track": "canary"}, "finalizers": None},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:2"}]}}},
        },
    )
    assert patched["metadata"] == {"name": "web", "labels": {"app": "web", "track": "canary"}}
    assert patched["spec"]["replicas"] == 3
    assert containers(patched) == [{"name": "nginx", "image": "nginx:2"}]  # lists replace


def test_merge_patch_drops_nulls_inside_replacing_values() -> None:
    assert apply_merge_patch({"a": 1}, {"a": {"b": None, "c": [{"d": None, "e": 1}, None]}}) == {
        "a": {"c": [{"e": 1}, None]}
    }


@pytest.mark.parametrize("patch", [None, 3, "x", True])
def test_merge_patch_must_be_an_object(patch: Any) -> None:
    with pytest.raises(PatchError) as err:
        apply_merge_patch({}, patch)
    assert err.value.status_code == 400
    assert str(err.value) == "Invalid JSON Patch"


# documents without nulls in objects: a merge patch cannot express "set to null"
no_null_values = st.recursive(
    st.one_of(st.booleans(), st.integers(-5, 5), st.text(max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abcd"), inner, max_size=4)),
    max_leaves=15,
)
no_null_docs = st.dictionaries(st.sampled_from("abcde"), no_null_values, max_size=5)


@settings(max_examples=300, deadline=None)
@given(no_null_docs, no_null_docs)
def test_create_merge_patch_round_trips(a: dict[str, Any], b: dict[str, Any]) -> None:
    patch = create_merge_patch(a, b)
    assert apply_merge_patch(a, patch) == b
    assert create_merge_patch(b, b) == {}
    assert create_merge_patch({}, a) == a


@settings(max_examples=200, deadline=None)
@given(no_null_docs, no_null_docs)
def test_strategic_merge_patch_without_schema_is_a_merge_patch(a: dict[str, Any], b: dict[str, Any]) -> None:
    patch = create_merge_patch(a, b)
    assert apply_strategic_merge_patch(a, patch, None) == apply_merge_patch(a, patch) == b


# --------------------------------------------------------------------------- strategic merge patch


_ML = {
    "x-kubernetes-patch-strategy": "merge",
    "x-kubernetes-patch-merge-key": "name",
    "items": {"properties": {"name": {}, "value": {}, "other": {}}},
}
UPSTREAM_SCHEMA = DictSchema(
    {
        "properties": {
            "mergingList": _ML,
            "mergeItemPtr": _ML,
            "mergingIntList": {"x-kubernetes-patch-strategy": "merge"},
            "replacingItem": {"x-kubernetes-patch-strategy": "replace"},
            "retainKeysMap": {
                "x-kubernetes-patch-strategy": "retainKeys",
                "properties": {"name": {}, "value": {}, "mergingList": _ML},
            },
        }
    }
)

# (current, patch, result) vectors from k8s.io/apimachinery's strategicpatch tests (apply side)
UPSTREAM_VECTORS = [
    (
        "mergingList: [{name: a, value: a}, {name: b, value: b}]\n"
        "mergeItemPtr: [{name: c, value: c}, {name: d, value: d}]",
        "{$setElementOrder/mergingList: [{name: b}], $setElementOrder/mergeItemPtr: [{name: d}, {name: c}],"
        " mergingList: [{$patch: delete, name: a}]}",
        "{mergingList: [{name: b, value: b}], mergeItemPtr: [{name: d, value: d}, {name: c, value: c}]}",
    ),
    (
        "{name: hi, mergingList: [{name: hello2}]}",
        "{$setElementOrder/mergingList: [{name: hello}, {name: doesntexist}], mergingList: [{name: hello}]}",
        "{name: hi, mergingList: [{name: hello}, {name: hello2}]}",
    ),
    (
        "mergingIntList: [1, 2, 3]",
        "{$setElementOrder/mergingIntList: [2, 1], $deleteFromPrimitiveList/mergingIntList: [3]}",
        "mergingIntList: [2, 1]",
    ),
    (
        "mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]",
        "{$setElementOrder/mergingList: [{name: 3}, {name: 1}, {name: 2}], mergingList: [{name: 3, value: 3}]}",
        "mergingList: [{name: 3, value: 3}, {name: 1, other: a}, {name: 2, value: 2, other: b}]",
    ),
    (
        "{name: my-object, mergingList: [{name: 1}, {name: 3}], replacingItem: {Some: Generic, Field: Period}}",
        "{$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 2}],"
        " replacingItem: {Newly: Modified}}",
        "{name: my-object, mergingList: [{name: 1}, {name: 2}, {name: 3}], replacingItem: {Newly: Modified}}",
    ),
    (
        "retainKeysMap: {name: foo, mergingList: [{name: a}, {name: b}, {name: c}]}",
        "retainKeysMap: {$retainKeys: [mergingList, name, value],"
        " $setElementOrder/mergingList: [{name: a}, {name: b}], value: bar}",
        "retainKeysMap: {name: foo, value: bar, mergingList: [{name: a}, {name: b}, {name: c}]}",
    ),
    ("mergingIntList: [1, 2, 3]", "mergingIntList: [3, 1]", "mergingIntList: [2, 3, 1]"),
]


@pytest.mark.parametrize(("current", "patch", "result"), UPSTREAM_VECTORS)
def test_smp_upstream_vectors(current: str, patch: str, result: str) -> None:
    assert apply_strategic_merge_patch(yaml.safe_load(current), yaml.safe_load(patch), UPSTREAM_SCHEMA) == (
        yaml.safe_load(result)
    )


def test_smp_merges_containers_by_name_and_prepends_new_ones() -> None:
    patched = smp(
        pod_spec_patch(
            {"containers": [{"name": "redis", "image": "redis:7"}, {"name": "nginx", "image": "nginx:1.27"}]}
        )
    )
    assert [c["name"] for c in containers(patched)] == ["redis", "nginx", "sidecar"]
    nginx = containers(patched)[1]
    assert nginx["image"] == "nginx:1.27"
    assert nginx["ports"] == [{"containerPort": 80, "protocol": "TCP"}], "untouched fields stay"
    assert containers(patched)[2] == deployment()["spec"]["template"]["spec"]["containers"][1]


def test_smp_new_item_goes_first_unless_live_order_says_otherwise() -> None:
    patched = smp(
        pod_spec_patch({"containers": [{"name": "sidecar", "image": "busybox:2"}, {"name": "init", "image": "x"}]})
    )
    assert [c["name"] for c in containers(patched)] == ["nginx", "sidecar", "init"]


def test_smp_merges_nested_keyed_lists() -> None:
    patched = smp(
        pod_spec_patch(
            {
                "containers": [
                    {
                        "name": "nginx",
                        "ports": [{"containerPort": 443, "protocol": "TCP"}],
                        "env": [{"name": "DEBUG", "value": "1"}, {"name": "MODE", "$patch": "delete"}],
                        "resources": {"limits": {"cpu": "1"}},
                    }
                ]
            }
        )
    )
    nginx = containers(patched)[0]
    assert nginx["ports"] == [{"containerPort": 443, "protocol": "TCP"}, {"containerPort": 80, "protocol": "TCP"}]
    assert nginx["env"] == [{"name": "DEBUG", "value": "1"}]
    assert nginx["resources"] == {"limits": {"cpu": "1"}}


def test_smp_deletes_with_null_and_patch_delete() -> None:
    patched = smp(
        {
            "metadata": {"labels": {"tier": None}},
            "spec": {
                "replicas": None,
                "template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}], "volumes": None}},
            },
        }
    )
    assert patched["metadata"]["labels"] == {"app": "web"}
    assert "replicas" not in patched["spec"]
    assert [c["name"] for c in containers(patched)] == ["nginx"]
    assert "volumes" not in patched["spec"]["template"]["spec"]
    gone = smp({"metadata": {"labels": {"$patch": "delete"}}})
    assert "labels" not in gone["metadata"]


def test_smp_replace_directive_on_lists_and_maps() -> None:
    patched = smp(pod_spec_patch({"containers": [{"$patch": "replace"}, {"name": "only", "image": "x", "args": None}]}))
    assert containers(patched) == [{"name": "only", "image": "x"}]
    patched = smp({"metadata": {"labels": {"$patch": "replace", "new": "1"}}})
    assert patched["metadata"]["labels"] == {"new": "1"}


def test_smp_lists_without_merge_strategy_replace() -> None:
    patched = smp(pod_spec_patch({"tolerations": [{"key": "gpu", "operator": "Exists"}]}))
    assert patched["spec"]["template"]["spec"]["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    patched = smp(pod_spec_patch({"containers": [{"name": "sidecar", "args": ["sleep", "1"]}]}))
    assert containers(patched)[1]["args"] == ["sleep", "1"]


def test_smp_primitive_merge_list_is_an_ordered_union() -> None:
    patched = smp({"metadata": {"finalizers": ["example.com/c", "example.com/a"]}})
    assert patched["metadata"]["finalizers"] == ["example.com/c", "example.com/a", "example.com/b"]
    fresh = smp({"metadata": {"finalizers": ["example.com/x"]}}, {"metadata": {}})
    assert fresh["metadata"]["finalizers"] == ["example.com/x"]


def test_smp_delete_from_primitive_list() -> None:
    patched = smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a", "example.com/zzz"]}})
    assert patched["metadata"]["finalizers"] == ["example.com/b"]
    untouched = smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}, {"metadata": {}})
    assert untouched == {"metadata": {}}


def test_smp_set_element_order() -> None:
    patched = smp(
        pod_spec_patch(
            {
                "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "nginx"}],
                "containers": [{"name": "nginx", "image": "nginx:2"}],
            }
        )
    )
    assert [c["name"] for c in containers(patched)] == ["sidecar", "nginx"]
    assert containers(patched)[1]["image"] == "nginx:2"
    patched = smp(
        {
            "metadata": {
                "$setElementOrder/finalizers": ["example.com/b", "example.com/c"],
                "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
                "finalizers": ["example.com/c"],
            }
        }
    )
    assert patched["metadata"]["finalizers"] == ["example.com/b", "example.com/c"]


def test_smp_set_element_order_must_agree_with_the_patch_list() -> None:
    with pytest.raises(PatchError) as err:
        smp(
            pod_spec_patch(
                {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [{"name": "sidecar", "image": "x"}],
                }
            )
        )
    assert err.value.status_code == 500
    assert "doesn't match $setElementOrder list" in str(err.value)


def test_smp_retain_keys_switches_deployment_strategy() -> None:
    patched = smp({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert patched["spec"]["strategy"] == {"type": "Recreate"}
    without = smp({"spec": {"strategy": {"type": "Recreate"}}})
    assert without["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": 1}
    volumes = smp(
        pod_spec_patch(
            {"volumes": [{"name": "cache", "$retainKeys": ["name", "configMap"], "configMap": {"name": "c"}}]}
        )
    )
    assert volumes["spec"]["template"]["spec"]["volumes"] == [{"name": "cache", "configMap": {"name": "c"}}]


def test_smp_maps_merge_and_scalars_replace() -> None:
    patched = smp({"metadata": {"labels": {"track": "canary"}, "annotations": {"a": "1"}}, "spec": {"replicas": 7}})
    assert patched["metadata"]["labels"] == {"app": "web", "tier": "frontend", "track": "canary"}
    assert patched["metadata"]["annotations"] == {"a": "1"}
    assert patched["spec"]["replicas"] == 7


def test_smp_atomic_map_still_merges_like_kubernetes_smp() -> None:
    # x-kubernetes-map-type only matters to server-side apply; SMP follows patch strategies
    original = deployment()
    original["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "a"}
    patched = smp(pod_spec_patch({"nodeSelector": {"disk": "ssd"}}), original)
    assert patched["spec"]["template"]["spec"]["nodeSelector"] == {"zone": "a", "disk": "ssd"}


def test_smp_adds_values_after_processing_their_directives() -> None:
    original = deployment()
    del original["spec"]["template"]["spec"]["containers"][0]["env"]
    patched = smp(
        pod_spec_patch(
            {
                "containers": [
                    {"name": "nginx", "env": [{"name": "A", "value": None}, {"name": "B", "$patch": "delete"}]}
                ]
            }
        ),
        original,
    )
    assert containers(patched)[0]["env"] == [{"name": "A"}]


def test_smp_unknown_schema_merges_maps_and_replaces_lists() -> None:
    original = {"spec": {"items": [{"name": "a"}], "config": {"x": 1, "y": 2}}}
    patched = apply_strategic_merge_patch(
        original, {"spec": {"items": [{"name": "b"}], "config": {"y": None, "z": 3}}}, None
    )
    assert patched == {"spec": {"items": [{"name": "b"}], "config": {"x": 1, "z": 3}}}


def test_smp_does_not_modify_its_inputs() -> None:
    original = deployment()
    patch = pod_spec_patch({"containers": [{"name": "nginx", "image": "x"}]})
    before = copy.deepcopy(patch)
    patched = smp(patch, original)
    assert original == deployment()
    assert patch == before
    containers(patched)[0]["image"] = "changed"
    assert patch == before


@pytest.mark.parametrize(
    ("patch", "status", "message"),
    [
        ([1], 400, "json: cannot unmarshal array into Go value of type map[string]interface {}"),
        ({"spec": {"strategy": {"$retainKeys": "type"}}}, 400, "invalid patch format of retainKeys"),
        (
            {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}},
            400,
            "invalid patch format of retainKeys",
        ),
        ({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}, 400, "invalid patch format of primitive list"),
        ({"metadata": {"$setElementOrder": ["a"]}}, 400, "invalid patch format of setElementOrder list"),
        ({"metadata": {"labels": {"$patch": "merge"}}}, 500, "unknown patch type: merge in map: map[$patch:merge]"),
        (
            pod_spec_patch({"containers": [{"$patch": "merge"}]}),
            500,
            "merging lists cannot yet be specified in the patch",
        ),
        (
            pod_spec_patch({"containers": [{"image": "x"}]}),
            500,
            "map: map[image:x] does not contain declared merge key: name",
        ),
        (
            pod_spec_patch({"containers": [{"name": "sidecar", "ports": [["x"]]}]}),
            422,
            "lists of lists are not supported",
        ),
        ({"metadata": {"finalizers": [{"a": 1}]}}, 500, "list element types are not identical"),
    ],
)
def test_smp_errors(patch: Any, status: int, message: str) -> None:
    with pytest.raises(PatchError) as err:
        smp(patch)
    assert err.value.status_code == status
    assert str(err.value).startswith(message)
