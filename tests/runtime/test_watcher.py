"""watcher(): against ApiServer and its faults, it loses no event and lists again exactly when it must."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from k8spb import Api, AsyncApi, Client, Gone
from k8spb.api.core.v1 import ConfigMap
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta, PartialObjectMetadata
from k8spb.runtime import (
    Apply,
    Backoff,
    Delete,
    Init,
    InitApply,
    InitDone,
    WatcherConfig,
    metadata_watcher,
    watcher,
)
from k8spb.runtime._watcher import _Machine
from k8spb.testing import ApiServer
from tests.runtime.conftest import FAST, Background, async_client, cm, eventually


def _names(store: Any) -> list[str]:
    refs = store.keys()
    return sorted(r.name for r in refs)


def _server_names(api: Api[ConfigMap]) -> list[str]:
    return sorted(c.metadata.name or "" for c in api.list() if c.metadata)


def test_initial_list_is_paged_then_changes_arrive_in_order(client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    for i in range(5):
        api.create(cm(f"c{i}", i=str(i)))
    bg = Background(api, WatcherConfig(page_size=2, backoff=FAST))
    try:
        bg.writer.store.wait_until_ready(10)
        kinds = [type(e) for e in bg.events]
        assert kinds == [Init, *[InitApply] * 5, InitDone]
        assert bg.events[-1].resource_version == api.list().resource_version  # type: ignore[union-attr]
        api.create(cm("new"))
        api.patch("c1", __import__("k8spb").Merge({"data": {"i": "one"}}))
        api.delete("c0")
        eventually(lambda: len(bg.events) >= 10, what="three changes")
        changes = bg.events[7:]
        assert [(type(e).__name__, e.object.metadata.name) for e in changes] == [  # type: ignore[union-attr]
            ("Apply", "new"), ("Apply", "c1"), ("Delete", "c0")]
        assert bg.writer.store.get("c1", "default").data == {"i": "one"}  # type: ignore[union-attr]
        assert _names(bg.writer.store) == ["c1", "c2", "c3", "c4", "new"]
    finally:
        bg.close()


def test_dropped_and_cut_watches_resume_without_relisting(server: ApiServer, client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    api.create(cm("first"))
    bg = Background(api)
    try:
        bg.writer.store.wait_until_ready(10)
        for round_ in range(3):
            server.drop_watches()
            api.create(cm(f"dropped-{round_}"))  # while no watch may be open
        server.cut_next(after_events=1, verb="watch")  # the next watch breaks mid-frame
        api.create(cm("before-cut"))
        api.create(cm("cut-frame"))
        api.create(cm("after-cut"))
        expected = _server_names(api)
        eventually(lambda: _names(bg.writer.store) == expected, what="every object in the store")
        assert len(bg.of(Init)) == 1  # never listed again
        applied = [e.object.metadata.name for e in bg.of(Apply)]
        assert sorted(applied) == sorted(set(applied)) == sorted(n for n in expected if n != "first")
    finally:
        bg.close()


def test_gone_relists_exactly_once_and_the_store_follows_the_server(server: ApiServer, client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    for name in ("keep", "doomed"):
        api.create(cm(name))
    bg = Background(api)
    try:
        bg.writer.store.wait_until_ready(10)
        # The next watch gets 410 (its resourceVersion is compacted away); the relist is slow, and
        # meanwhile an object goes: the store learns it from the new list alone, with no Delete event.
        server.latency(0.5, verb="list")
        server.fail_next(1, status=410, verb="watch")
        server.drop_watches()
        api.delete("doomed")
        api.create(cm("added"))
        eventually(lambda: len(bg.of(InitDone)) >= 2, what=f"one relist ({bg.events})")
        assert len(bg.of(Init)) == 2
        server.latency(0, verb="list")
        assert _names(bg.writer.store) == ["added", "keep"] and not bg.of(Delete)
        api.create(cm("later"))
        eventually(lambda: "later" in _names(bg.writer.store), what="watching again after the relist")
        assert len(bg.of(Init)) == 2
    finally:
        bg.close()


def test_compaction_while_watching_relists(server: ApiServer, client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    api.create(cm("a"))
    bg = Background(api)
    try:
        bg.writer.store.wait_until_ready(10)
        server.latency(0.5, verb="watch")  # the watcher comes back slowly ...
        server.drop_watches()
        api.create(cm("b"))
        server.compact()  # ... to find its resourceVersion compacted away: 410, list again
        eventually(lambda: len(bg.of(InitDone)) >= 2, what="a relist after 410")
        server.latency(0, verb="watch")
        assert len(bg.of(Init)) == 2
        eventually(lambda: _names(bg.writer.store) == ["a", "b"], what="the store")
    finally:
        bg.close()


def test_failures_back_off_and_recover(server: ApiServer, client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    api.create(cm("x"))
    server.fail_next(2, status=500, verb="list")
    server.fail_next(2, status=429, retry_after=0, verb="watch")
    bg = Background(api)
    try:
        assert bg.writer.store.wait_until_ready(10)
        api.create(cm("y"))
        eventually(lambda: _names(bg.writer.store) == ["x", "y"], what="watching after the failures")
        assert len(bg.of(Init)) == 1 and server.pending_faults() == 0
    finally:
        bg.close()


def test_bookmarks_move_on_without_events(server: ApiServer, client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    other = Api(client, ConfigMap, namespace="kube-system")
    bg = Background(api)
    try:
        bg.writer.store.wait_until_ready(10)
        first_rv = bg.events[-1].resource_version  # type: ignore[union-attr]
        other.create(cm("elsewhere"))  # moves the resourceVersion; not an event of this watch
        eventually(lambda: server.store.rv > int(first_rv or 0), what="a newer resourceVersion")
        import time

        time.sleep(0.8)  # bookmarks every 0.3 s
        assert [type(e) for e in bg.events] == [Init, InitDone]
        server.compact()  # the bookmarked resourceVersion is still valid: no relist
        server.drop_watches()
        api.create(cm("here"))
        eventually(lambda: _names(bg.writer.store) == ["here"], what="the new object")
        assert len(bg.of(Init)) == 1
    finally:
        bg.close()


def test_selectors_and_metadata_only(client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    api.create(ConfigMap(metadata=ObjectMeta(name="blue", labels={"color": "blue"}), data={"big": "x" * 1000}))
    api.create(ConfigMap(metadata=ObjectMeta(name="red", labels={"color": "red"})))
    stream = metadata_watcher(api, WatcherConfig(label_selector="color=blue", backoff=FAST))
    events = [next(stream) for _ in range(3)]
    assert [type(e) for e in events] == [Init, InitApply, InitDone]
    obj = events[1].object  # type: ignore[union-attr]
    assert type(obj) is PartialObjectMetadata and obj.metadata and obj.metadata.name == "blue"
    api.patch("red", __import__("k8spb").Merge({"metadata": {"labels": {"color": "blue"}}}))
    nxt = next(stream)
    assert isinstance(nxt, Apply) and nxt.object.metadata and nxt.object.metadata.name == "red"
    stream.close()


@pytest.mark.parametrize("refused", [False, True], ids=["streaming", "refused-then-listed"])
def test_streaming_initial_list(server: ApiServer, client: Client, refused: bool) -> None:
    api = Api(client, ConfigMap, namespace="default")
    for i in range(3):
        api.create(cm(f"s{i}"))
    if refused:  # a server without WatchList answers 422 to sendInitialEvents
        server.fail_next(1, status=422, verb="watch")
    bg = Background(api, WatcherConfig(initial_list="streaming", backoff=FAST))
    try:
        assert bg.writer.store.wait_until_ready(10)
        assert [type(e) for e in bg.events] == [Init, InitApply, InitApply, InitApply, InitDone]
        api.delete("s0")
        eventually(lambda: bg.of(Delete), what="the delete")
        assert _names(bg.writer.store) == ["s1", "s2"]
    finally:
        bg.close()


def test_machine_restarts_a_stream_cut_before_the_initial_state_ends() -> None:
    m = _Machine(WatcherConfig(initial_list="streaming", backoff=Backoff(jitter=False)))
    assert m.step().params.send_initial_events  # type: ignore[union-attr]
    first = m.event("ADDED", cm("a"))
    assert [type(e) for e in first] == [Init, InitApply]
    m.watch_ended()  # the server ended the stream before the initial-events-end bookmark
    assert m.step().params.send_initial_events  # type: ignore[union-attr]
    assert [type(e) for e in m.event("ADDED", cm("a"))] == [Init, InitApply]
    assert m.failed(Gone(410, "Expired", "too old")) == 0.0
    assert m.failed(RuntimeError("x")) == 0.8  # type: ignore[arg-type]


def test_async_watcher(server: ApiServer) -> None:
    async def run() -> list[str]:
        async with async_client(server) as client:
            api = AsyncApi(client, ConfigMap, namespace="default")
            await api.create(cm("one"))
            seen: list[str] = []
            server.drop_watches()
            stream = watcher(api, WatcherConfig(backoff=FAST))
            async for event in stream:
                seen.append(type(event).__name__)
                if isinstance(event, InitDone):
                    await api.create(cm("two"))
                    server.cut_next(after_events=0, verb="watch")
                    await api.create(cm("three"))
                if isinstance(event, Apply) and event.object.metadata.name == "three":  # type: ignore[union-attr]
                    break
            await stream.aclose()  # type: ignore[attr-defined]
            return seen

    assert asyncio.run(asyncio.wait_for(run(), 20)) == ["Init", "InitApply", "InitDone", "Apply", "Apply"]
