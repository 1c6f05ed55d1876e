"""Controller / SyncController against ApiServer: triggers, the work queue's rules, faults, shutdown."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from k8spb import Api, AsyncApi, AsyncClient, Client, Merge, NotFound, PatchParams
from k8spb.api.core.v1 import ConfigMap, Secret
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta, OwnerReference
from k8spb.runtime import Action, Backoff, Controller, ObjectRef, SyncController, WatcherConfig
from k8spb.runtime._scheduler import Scheduler
from k8spb.testing import ApiServer
from tests.runtime.conftest import FAST, async_client, cm, eventually

CFG = WatcherConfig(backoff=FAST)
QUICK = Backoff(initial=0.05, maximum=0.2, jitter=False)


def test_scheduler_rules() -> None:
    s = Scheduler()
    s.schedule("a", 5.0)
    s.schedule("a", 3.0)  # earlier wins
    s.schedule("a", 9.0)  # later is ignored
    s.schedule("b", 4.0)
    assert s.next_due() == 3.0 and len(s) == 2
    assert s.pop_due(3.5) == ["a"] and s.running == 1
    s.schedule("a", 0.0)  # while running: held
    assert s.pop_due(10.0) == ["b"]  # not "a" again
    s.done("a")
    assert s.pop_due(10.0) == ["a"]
    s.schedule("c", 1.0)
    s.schedule("d", 1.0)
    assert s.pop_due(10.0, limit=1) == ["c"] and s.pop_due(10.0) == ["d"]
    assert s.next_due() is None


async def _running(controller: Controller[Any], reconcile: Callable[[Any], Awaitable[Action]],
                   check: Callable[[], Awaitable[bool] | bool], timeout: float = 15.0,
                   error_policy: Any = None) -> None:
    """Run the controller until ``check`` holds, then shut it down."""
    task = asyncio.create_task(controller.run(reconcile, error_policy))
    deadline = time.monotonic() + timeout
    try:
        while True:
            value = check()
            if not isinstance(value, bool):
                value = await value
            if value:
                break
            if task.done():
                task.result()
                raise AssertionError("the controller stopped")
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached")
            await asyncio.sleep(0.02)
    finally:
        controller.shutdown()
        await asyncio.wait_for(task, 10)


def _child_of(parent: ConfigMap) -> Secret:
    meta = parent.metadata
    assert meta is not None
    return Secret(metadata=ObjectMeta(name=f"{meta.name}-child", owner_references=[OwnerReference(
        api_version="v1", kind="ConfigMap", name=meta.name, uid=meta.uid, controller=True)]),
        string_data={"from": meta.name or ""})


def test_reconciles_all_when_ready_then_changes_one_at_a_time_per_key(server: ApiServer) -> None:
    async def run() -> None:
        async with async_client(server) as client:
            cms = AsyncApi(client, ConfigMap, namespace="default")
            for i in range(4):
                await cms.create(cm(f"p{i}"))
            server.latency(0.3, verb="list")  # the initial list is slow: nothing may start before it is in
            controller = Controller(cms, CFG)
            calls: collections.Counter[str] = collections.Counter()
            active: collections.Counter[str] = collections.Counter()
            worst = 0

            async def reconcile(obj: ConfigMap) -> Action:
                nonlocal worst
                assert controller.store.is_ready
                name = obj.metadata.name  # type: ignore[union-attr]
                calls[name] += 1
                active[name] += 1
                worst = max(worst, active[name])
                await asyncio.sleep(0.15 if name == "p0" else 0)
                active[name] -= 1
                return Action.await_change()

            async def changes() -> bool:
                if sum(calls.values()) == 4 and calls["p0"] == 1:
                    server.latency(0, verb="list")
                    for n in range(5):  # five changes to p0 while it is being reconciled
                        await cms.patch("p0", Merge({"data": {"n": str(n)}}))
                    return True
                return False

            await _running(controller, reconcile, changes)
            await _running(controller, reconcile, lambda: calls["p0"] >= 2)
            assert worst == 1
            assert calls["p0"] <= 3  # five changes were collapsed, not queued one by one

    asyncio.run(run())


def test_requeue_and_errors_back_off_per_key(server: ApiServer) -> None:
    async def run() -> None:
        async with async_client(server) as client:
            cms = AsyncApi(client, ConfigMap, namespace="default")
            for name in ("ok", "flaky", "policy"):
                await cms.create(cm(name))
            times: dict[str, list[float]] = collections.defaultdict(list)

            async def reconcile(obj: ConfigMap) -> Action:
                name = obj.metadata.name or ""  # type: ignore[union-attr]
                times[name].append(time.monotonic())
                if name == "ok":
                    return Action.requeue(0.1)
                if name == "flaky" and len(times[name]) < 4:
                    raise RuntimeError("not yet")
                if name == "policy":
                    raise ValueError("always")
                return Action.await_change()

            def policy(obj: ConfigMap, error: Exception) -> Action | None:
                return Action.requeue(0.05) if isinstance(error, ValueError) else None

            controller = Controller(cms, CFG, backoff=QUICK)
            await _running(controller, reconcile, lambda: len(times["ok"]) >= 4 and len(times["flaky"]) >= 4
                           and len(times["policy"]) >= 3, error_policy=policy)
            gaps = [b - a for a, b in zip(times["flaky"], times["flaky"][1:], strict=False)]
            assert gaps[0] >= 0.04 and gaps[1] >= 0.09 and gaps[2] >= 0.18  # 0.05, 0.1, 0.2
            assert len(times["flaky"]) == 4  # then it succeeded: no more retries
            assert controller._failures == {}

    asyncio.run(run())


def test_owns_and_watches_trigger_the_right_keys(server: ApiServer) -> None:
    async def run() -> None:
        async with async_client(server) as client:
            cms = AsyncApi(client, ConfigMap, namespace="default")
            secrets = AsyncApi(client, Secret, namespace="default")
            seen: list[str] = []

            async def reconcile(obj: ConfigMap) -> Action:
                seen.append(obj.metadata.name or "")  # type: ignore[union-attr]
                try:
                    await secrets.get(f"{obj.metadata.name}-child")  # type: ignore[union-attr]
                except NotFound:
                    await secrets.create(_child_of(obj))
                return Action.await_change()

            def by_label(obj: Any) -> list[ObjectRef]:
                target = (obj.metadata.labels or {}).get("poke")
                return [ObjectRef(target, "default")] if target else []

            parent = await cms.create(cm("parent"))
            controller = Controller(cms, CFG).owns(secrets).watches(cms, by_label)
            await _running(controller, reconcile, lambda: seen.count("parent") >= 1)
            assert (await secrets.get("parent-child")).metadata is not None
            seen.clear()
            await secrets.delete("parent-child")  # the owned object goes: its owner is reconciled
            await cms.create(ConfigMap(metadata=ObjectMeta(name="poker", labels={"poke": "parent"})))

            async def recreated() -> bool:
                try:
                    await secrets.get("parent-child")
                except NotFound:
                    return False
                return "parent" in seen

            await _running(controller, reconcile, recreated)
            assert parent.metadata is not None

    asyncio.run(run())


def test_concurrency_limit_and_graceful_shutdown(server: ApiServer) -> None:
    async def run() -> None:
        async with async_client(server) as client:
            cms = AsyncApi(client, ConfigMap, namespace="default")
            for i in range(6):
                await cms.create(cm(f"c{i}"))
            inflight = 0
            worst = 0
            finished: list[str] = []
            started = asyncio.Event()

            async def reconcile(obj: ConfigMap) -> Action:
                nonlocal inflight, worst
                inflight += 1
                worst = max(worst, inflight)
                started.set()
                await asyncio.sleep(0.2)
                inflight -= 1
                finished.append(obj.metadata.name or "")  # type: ignore[union-attr]
                return Action.await_change()

            controller = Controller(cms, CFG, concurrency=2)
            task = asyncio.create_task(controller.run(reconcile))
            await asyncio.wait_for(started.wait(), 10)
            controller.shutdown()  # the two running reconciles finish; nothing new starts
            await asyncio.wait_for(task, 10)
            assert worst == 2 and len(finished) == 2

            slow = Controller(cms, CFG, shutdown_grace=0.05)

            async def forever(obj: ConfigMap) -> Action:
                started.set()
                await asyncio.sleep(30)
                return Action.await_change()

            started.clear()
            task = asyncio.create_task(slow.run(forever))
            await asyncio.wait_for(started.wait(), 10)
            slow.shutdown()
            await asyncio.wait_for(task, 5)  # reconciles past the grace period are cancelled

    asyncio.run(run())


def test_converges_under_faults(server: ApiServer) -> None:
    """Every parent gets its child although creates fail, watches break and resourceVersions expire."""

    async def run() -> None:
        async with AsyncClient(__import__("k8spb").Config.from_kubeconfig(server.kubeconfig_path),
                               backoff=0.01, max_retries=2) as client:
            cms = AsyncApi(client, ConfigMap, namespace="default")
            secrets = AsyncApi(client, Secret, namespace="default")

            async def reconcile(obj: ConfigMap) -> Action:
                child = _child_of(obj)
                await secrets.patch(child.metadata.name or "", __import__("k8spb").Apply(child),  # type: ignore[union-attr]
                                    PatchParams(field_manager="test", force=True))
                return Action.await_change()

            controller = Controller(cms, CFG, backoff=QUICK).owns(secrets)
            task = asyncio.create_task(controller.run(reconcile))
            for i in range(10):
                await cms.create(cm(f"f{i}"))
                if i == 3:
                    server.fail_next(3, status=500, verb="patch")
                if i == 5:
                    server.cut_next(after_events=0, verb="watch", resource="configmaps")
                if i == 7:
                    server.compact()
                    server.fail_next(1, status=410, verb="watch", resource="configmaps")
                    server.drop_watches()
                if i == 8:
                    server.fail_next(2, status=429, retry_after=0, verb="list")
            await cms.delete("f9")

            async def converged() -> bool:
                names = sorted(s.metadata.name or "" for s in await secrets.list() if s.metadata)
                return names == sorted(f"f{i}-child" for i in range(9))

            try:
                deadline = time.monotonic() + 20
                while not await converged():
                    assert time.monotonic() < deadline, "did not converge"
                    await asyncio.sleep(0.05)
            finally:
                controller.shutdown()
                await asyncio.wait_for(task, 10)

    asyncio.run(run())


def test_sync_controller(server: ApiServer, client: Client) -> None:
    cms = Api(client, ConfigMap, namespace="default")
    secrets = Api(client, Secret, namespace="default")
    for i in range(3):
        cms.create(cm(f"s{i}"))
    lock = threading.Lock()
    per_key: collections.Counter[str] = collections.Counter()
    worst = 0

    def reconcile(obj: ConfigMap) -> Action:
        nonlocal worst
        name = obj.metadata.name or ""  # type: ignore[union-attr]
        with lock:
            per_key[name] += 1
            worst = max(worst, per_key[name])
        try:
            secrets.create(_child_of(obj))
        except __import__("k8spb").AlreadyExists:
            pass
        with lock:
            per_key[name] -= 1
        return Action.requeue(0.05) if name == "s0" else Action.await_change()

    controller = SyncController(cms, CFG, concurrency=2).owns(secrets)
    thread = threading.Thread(target=controller.run, args=(reconcile,))
    thread.start()
    try:
        eventually(lambda: len(secrets.list()) == 3, what="three children")
        cms.create(cm("s3"))
        eventually(lambda: len(secrets.list()) == 4, what="a fourth child")
    finally:
        controller.shutdown()
        thread.join(10)
    assert not thread.is_alive() and worst == 1


def test_action_values() -> None:
    import datetime

    assert Action.requeue(datetime.timedelta(minutes=1)).requeue_after == 60.0
    assert Action.await_change().requeue_after is None
    with pytest.raises(ValueError, match="negative"):
        Action.requeue(-1)
    with pytest.raises(ValueError, match="concurrency"):
        Controller(AsyncApi.__new__(AsyncApi), concurrency=0)
