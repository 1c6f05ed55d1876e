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
