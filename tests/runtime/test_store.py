"""Writer / Store / reflector: what is kept, how it is read, indexes and readiness."""

from __future__ import annotations

import asyncio
import datetime
import threading

import k8spb
from k8spb import Api, Client, Config
from k8spb.api.core.v1 import ConfigMap, Pod
from k8spb.apimachinery.pkg.apis.meta.v1 import ManagedFieldsEntry, ObjectMeta
from k8spb.runtime import (
    Apply,
    Delete,
    Init,
    InitApply,
    InitDone,
    ObjectRef,
    Writer,
    label_index,
    reflector,
    strip_managed_fields,
)
from k8spb.testing import ApiServer
from tests.runtime.conftest import Background, cm, eventually


def _pod(name: str, ns: str = "default", **labels: str) -> Pod:
    managed = [ManagedFieldsEntry(manager="kubectl", operation="Apply", fields_v1={"f:metadata": {}},
                                  time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))]
    pod = Pod(metadata=ObjectMeta(name=name, namespace=ns, labels=labels or None, managed_fields=managed,
                                  resource_version="7"))
    return k8spb.decode(k8spb.encode(pod, k8spb.PROTOBUF), into=Pod)  # as it comes off the wire


def test_protobuf_objects_are_kept_as_bytes_without_managed_fields() -> None:
    w: Writer[Pod] = Writer()
    pod = _pod("a")
    w.apply(Apply(pod))
    entry = w.store._data[("a", "default")]
    assert type(entry) is bytes and b"kubectl" not in entry
    got = w.store.get("a", "default")
    assert got is not None and got is not pod and got.metadata is not None
    assert got.metadata.managed_fields is None and got.metadata.resource_version == "7"
    got.metadata.labels = {"changed": "here"}  # a reader's copy: the store is not affected
    again = w.store.get(ObjectRef("a", "default"))
    assert again is not None and again.metadata is not None and again.metadata.labels is None


def test_transform_and_objects_that_are_not_protobuf() -> None:
    w: Writer[Pod] = Writer(transform=None)
    w.apply(Apply(_pod("whole")))
    got = w.store.get("whole", "default")
    assert got is not None and got.metadata is not None and got.metadata.managed_fields
    built = Pod(metadata=ObjectMeta(name="built", namespace="default", managed_fields=[
        ManagedFieldsEntry(manager="m")]))  # built by hand: no protobuf source
    s: Writer[Pod] = Writer()
    s.apply(Apply(built))
    kept = s.store.get("built", "default")
    assert kept is built and kept.metadata is not None and kept.metadata.managed_fields is None
    assert strip_managed_fields(Pod()) == Pod()


def test_init_replaces_the_state_only_when_done() -> None:
    w: Writer[Pod] = Writer()
    w.apply(Init())
    w.apply(InitApply(_pod("old")))
    assert not w.store.is_ready and len(w.store) == 0
    w.apply(InitDone("1"))
    assert w.store.is_ready and w.store.keys() == [ObjectRef("old", "default")]
    w.apply(Init())  # a relist: readers keep seeing the old state until it is done
    w.apply(InitApply(_pod("new")))
    assert w.store.keys() == [ObjectRef("old", "default")]
    w.apply(InitDone("2"))
    assert w.store.keys() == [ObjectRef("new", "default")] and "old" not in str(w.store.list())
    w.apply(Delete(_pod("new")))
    assert len(w.store) == 0 and w.store.get("new", "default") is None


def test_indexes_follow_changes() -> None:
    w: Writer[Pod] = Writer(indexes={"app": label_index("app")})
    w.apply(Init())
    w.apply(InitApply(_pod("a1", app="web")))
    w.apply(InitApply(_pod("a2", "other", app="web")))
    w.apply(InitDone())
    assert [p.metadata.name for p in w.store.indexed("app", "web") if p.metadata] == ["a1", "a2"]
    w.apply(Apply(_pod("a1", app="db")))
    w.apply(Apply(_pod("c", "cluster-x")))
    assert [p.metadata.name for p in w.store.indexed("app", "web") if p.metadata] == ["a2"]
    assert [p.metadata.name for p in w.store.indexed("app", "db") if p.metadata] == ["a1"]
    assert [p.metadata.name for p in w.store.in_namespace("default") if p.metadata] == ["a1"]
    w.apply(Delete(_pod("a2", "other")))
    assert w.store.indexed("app", "web") == [] and w.store.in_namespace("other") == []
    try:
        w.store.indexed("nope", "x")
    except KeyError as exc:
        assert "no index named 'nope'" in str(exc)
    else:
        raise AssertionError("unknown index accepted")


def test_readiness_sync_and_async() -> None:
    w: Writer[Pod] = Writer()
    assert not w.store.wait_until_ready(0.01)

    async def waiter() -> bool:
        task = asyncio.ensure_future(w.store.until_ready())
        await asyncio.sleep(0.05)
        assert not task.done()
        threading.Thread(target=lambda: (w.apply(Init()), w.apply(InitDone()))).start()
        await asyncio.wait_for(task, 5)
        await w.store.until_ready()  # at once, now
        return w.store.is_ready

    assert asyncio.run(waiter())
    assert w.store.wait_until_ready(0) and "ready" in repr(w.store)


def test_reflector_over_http_with_a_json_client(server: ApiServer, client: Client) -> None:
    # Objects decoded from JSON are kept as objects (no protobuf source to keep as bytes).
    api = Api(client, ConfigMap, namespace="default")
    api.create(cm("j", k="v"))
    with Client(Config.from_kubeconfig(server.kubeconfig_path), prefer_protobuf=False) as jc:
        bg = Background(Api(jc, ConfigMap, namespace="default"))
        try:
            assert bg.writer.store.wait_until_ready(10)
            entry = bg.writer.store._data[("j", "default")]
            assert type(entry) is ConfigMap and entry._pb is None
            got = bg.writer.store.get("j", "default")
            assert got is not None and got.data == {"k": "v"}
            api.create(cm("k"))
            eventually(lambda: bg.writer.store.get("k", "default"), what="the new object")
        finally:
            bg.close()


def test_reflector_passes_events_on() -> None:
    w: Writer[Pod] = Writer()
    events = [Init(), InitApply(_pod("x")), InitDone()]
    assert list(reflector(w, iter(events))) == events and w.store.is_ready

    async def agen():  # type: ignore[no-untyped-def]
        for e in [Apply(_pod("y"))]:
            yield e

    async def run() -> list[object]:
        return [e async for e in reflector(w, agen())]

    assert len(asyncio.run(run())) == 1 and len(w.store) == 2


def _widgets(n: int, payload: int = 2000) -> bytes:
    import json

    items = [{"metadata": {"name": f"w{i}", "namespace": "default", "resourceVersion": str(i),
                           "managedFields": [{"manager": "m", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]},
              "spec": {"size": i, "blob": "x" * payload}} for i in range(n)]
    return json.dumps({"apiVersion": "example.com/v1", "kind": "WidgetList", "metadata": {"resourceVersion": "9"},
                       "items": items}).encode()


def test_json_objects_are_kept_encoded_without_their_list_body() -> None:
    import gc
    import tracemalloc

    from k8spb import DynamicList, DynamicObject

    w: Writer[DynamicObject] = Writer()
    tracemalloc.start()
    body = _widgets(500)
    page = DynamicList.from_json(body)
    w.apply(Init())
    for obj in page:
        w.apply(InitApply(obj))
    w.apply(InitDone("9"))
    for obj in list(page)[1:]:
        w.apply(Delete(obj))
    size = len(body)
    del body, page, obj
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert held < size / 10, (held, size)  # one widget's bytes, not the whole list's body
    kept = w.store.get("w0", "default")
    assert kept is not None and kept["spec"] == {"size": 0, "blob": "x" * 2000}
    assert kept.metadata.name == "w0" and kept.metadata.managed_fields is None  # stripped, still encoded
    kept.metadata.labels = {"mine": "only"}  # a reader's own copy
    again = w.store.get("w0", "default")
    assert again is not None and again.metadata.labels is None and again is not kept
