"""await_condition against ApiServer, sync and async."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from k8spb import Api, AsyncApi, Client, Merge
from k8spb.api.core.v1 import ConfigMap, Pod, PodSpec
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta
from k8spb.runtime import await_condition, is_deleted, is_pod_running
from k8spb.testing import ApiServer
from tests.runtime.conftest import async_client, cm


def test_waits_for_a_change(client: Client) -> None:
    pods = Api(client, Pod, namespace="default")
    pods.create(Pod(metadata=ObjectMeta(name="p"), spec=PodSpec(containers=[])))
    threading.Timer(0.2, lambda: pods.patch_status("p", Merge({"status": {"phase": "Running"}}))).start()
    started = time.monotonic()
    got = await_condition(pods, "p", is_pod_running(), timeout=10)
    assert got is not None and got.status is not None and got.status.phase == "Running"
    assert time.monotonic() - started < 5
    # already true: at once
    assert await_condition(pods, "p", is_pod_running(), timeout=5) is not None


def test_deletion_and_absence(client: Client) -> None:
    cms = Api(client, ConfigMap, namespace="default")
    created = cms.create(cm("gone"))
    assert created.metadata is not None and created.metadata.uid
    threading.Timer(0.2, lambda: cms.delete("gone")).start()
    assert await_condition(cms, "gone", is_deleted(created.metadata.uid), timeout=10) is None
    assert await_condition(cms, "never-was", lambda obj: obj is None, timeout=5) is None


def test_timeout(client: Client) -> None:
    cms = Api(client, ConfigMap, namespace="default")
    cms.create(cm("static"))
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"ConfigMap 'static': condition not met within 0\.5 s"):
        await_condition(cms, "static", lambda obj: False, timeout=0.5)
    assert time.monotonic() - started < 3


def test_async(server: ApiServer) -> None:
    async def run() -> None:
        async with async_client(server) as client:
            cms = AsyncApi(client, ConfigMap, namespace="default")
            await cms.create(cm("a"))

            async def later() -> None:
                await asyncio.sleep(0.2)
                await cms.patch("a", Merge({"data": {"ready": "yes"}}))

            task = asyncio.create_task(later())
            got = await await_condition(cms, "a", lambda o: bool(o and o.data and o.data.get("ready")), timeout=10)
            assert got is not None and got.data == {"ready": "yes"}
            await task
            with pytest.raises(TimeoutError):
                await await_condition(cms, "a", lambda o: False, timeout=0.3)

    asyncio.run(run())
