"""k8spb.testing's Store: stored objects are shared with readers, so writes must never edit them."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from k8spb.testing import ApiServer
from k8spb.testing._selectors import parse_field_selector, parse_label_selector


@pytest.fixture
def srv() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


def _list(srv: ApiServer) -> list[dict]:  # type: ignore[type-arg]
    rt = srv.resources.get("", "v1", "pods")
    items, _, _, _ = srv.store.list_objects(rt, "default", parse_label_selector(""), parse_field_selector(""))
    return items


def test_writes_leave_earlier_reads_untouched(srv: ApiServer) -> None:
    rt = srv.resources.get("", "v1", "pods")
    srv.store.create(rt, "default", {"apiVersion": "v1", "kind": "Pod",
                                     "metadata": {"name": "a", "labels": {"x": "1"}, "finalizers": ["f/x"]},
                                     "spec": {"containers": [{"name": "c", "image": "i:1"}]}})
    before = _list(srv)
    frozen = copy.deepcopy(before)
    events_before = copy.deepcopy([e.obj for e in srv.store.log])
    srv.store.patch(rt, "default", "a", "merge",
                    b'{"metadata":{"labels":{"x":"2"}},"spec":{"activeDeadlineSeconds":5}}', manager="m")
    srv.store.patch(rt, "default", "a", "apply",
                    b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","annotations":{"k":"v"}}}',
                    manager="applier")
    srv.store.delete(rt, "default", "a", {})  # a finalizer: sets deletionTimestamp
    srv.store.patch(rt, "default", "a", "merge", b'{"metadata":{"finalizers":null}}', manager="m")
    assert before == frozen
    assert [e.obj for e in srv.store.log[: len(events_before)]] == events_before
    assert _list(srv) == []


def test_apply_create_keeps_its_managed_fields_everywhere(srv: ApiServer) -> None:
    rt = srv.resources.get("", "v1", "configmaps")
    created = srv.store.patch(rt, "default", "cm", "apply",
                              b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"a":"1"}}',
                              manager="applier")
    managers = [m["manager"] for m in created["metadata"]["managedFields"]]
    assert managers == ["applier"] and created["metadata"]["managedFields"][0]["operation"] == "Apply"
    assert srv.store.log[-1].obj["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    stored = srv.store.get(rt, "default", "cm")
    assert stored["metadata"]["managedFields"] == created["metadata"]["managedFields"]


def test_event_log_is_capped_by_bytes_and_compact_frees_it() -> None:
    import tracemalloc

    from k8spb.testing._resources import ApiError, Resources
    from k8spb.testing._store import Store

    tracemalloc.start()  # before the objects exist: it only counts the blocks it saw allocated
    resources = Resources()
    store = Store(resources, max_log_bytes=2_000_000)
    rt = resources.get("", "v1", "configmaps")
    payload = "x" * 100_000
    first = store.rv
    for i in range(60):  # 6 MB of objects through a 2 MB log
        store.create(rt, "default", {"metadata": {"name": f"c{i}"}, "data": {"p": payload}})
    assert store.log_bytes <= 2_000_000 and len(store.log) < 20
    assert store.compacted > first
    with pytest.raises(ApiError) as gone:
        store.watch(rt, "default", first)
    assert gone.value.code == 410
    watcher, replay, _ = store.watch(rt, "default", store.log[0].rv)  # what is still logged can be replayed
    assert len(replay) == len(store.log) - 1
    store.unwatch(watcher)
    del watcher, replay
    for i in range(60):  # the MODIFIED events hold the versions they replace: only the log keeps those
        rv = store.get(rt, "default", f"c{i}")["metadata"]["resourceVersion"]
        store.update(rt, "default", f"c{i}", {"metadata": {"name": f"c{i}", "resourceVersion": rv},
                                               "data": {"p": payload + "y"}})
    try:
        before = tracemalloc.get_traced_memory()[0]
        store.compact()
        freed = before - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert store.log == [] and store.log_bytes == 0
    assert freed > 1_000_000  # the ~18 replaced versions of 100 kB the log held


def test_compact_empties_the_encoding_caches(srv: ApiServer) -> None:
    import httpx

    with httpx.Client(base_url=srv.url) as http:
        http.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "c"}, "data": {"k": "v"}})
        http.get("/api/v1/namespaces/default/configmaps", headers={"Accept": "application/vnd.kubernetes.protobuf"})
        http.get("/api/v1/namespaces/default/configmaps")
    assert srv._pb_cache._lru.nbytes and srv._json_cache._lru.nbytes
    srv.compact()
    assert srv._pb_cache._lru.nbytes == 0 and srv._json_cache._lru.nbytes == 0
