"""finalizer / afinalizer against ApiServer: add, apply, cleanup, remove, and races on the list."""

from __future__ import annotations

import asyncio

import pytest

import k8spb
from k8spb import Api, AsyncApi, Client, Merge
from k8spb.api.core.v1 import ConfigMap
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta
from k8spb.runtime import Action, afinalizer, finalizer
from k8spb.testing import ApiServer
from tests.runtime.conftest import async_client, cm

NAME = "example.com/cleanup"


def test_the_whole_life_of_a_finalizer(client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    calls: list[str] = []

    def apply(obj: ConfigMap) -> Action:
        calls.append("apply")
        return Action.requeue(60)

    def cleanup(obj: ConfigMap) -> Action:
        calls.append("cleanup")
        return Action.await_change()

    obj = api.create(cm("f"))
    assert finalizer(api, NAME, obj, apply, cleanup) == Action.await_change() and calls == []  # added
    obj = api.get("f")
    assert obj.metadata is not None and obj.metadata.finalizers == [NAME]
    assert finalizer(api, NAME, obj, apply, cleanup) == Action.requeue(60) and calls == ["apply"]

    api.delete("f")  # held by the finalizer
    obj = api.get("f")
    assert obj.metadata is not None and obj.metadata.deletion_timestamp is not None
    assert finalizer(api, NAME, obj, apply, cleanup) == Action.await_change() and calls == ["apply", "cleanup"]
    assert api.get_opt("f") is None  # our finalizer was the last: gone


def test_other_finalizers_are_kept_and_waited_for(client: Client) -> None:
    all_ns = Api.all(client, ConfigMap)  # an all-namespaces Api works too
    api = Api(client, ConfigMap, namespace="default")
    api.create(ConfigMap(metadata=ObjectMeta(name="g", finalizers=["other.io/x"])))
    obj = api.get("g")
    finalizer(all_ns, NAME, obj, lambda o: Action.await_change(), lambda o: Action.await_change())
    obj = api.get("g")
    assert obj.metadata is not None and obj.metadata.finalizers == ["other.io/x", NAME]
    api.delete("g")
    obj = api.get("g")
    cleaned: list[str] = []
    def cleanup(o: ConfigMap) -> Action:
        cleaned.append("x")
        return Action.await_change()

    finalizer(api, NAME, obj, lambda o: Action.await_change(), cleanup)
    obj = api.get("g")
    assert obj.metadata is not None and obj.metadata.finalizers == ["other.io/x"] and cleaned == ["x"]
    # deleting, and ours is gone: nothing to do
    assert finalizer(api, NAME, obj, lambda o: 1 / 0, lambda o: 1 / 0) == Action.await_change()  # type: ignore[arg-type,return-value]
    api.patch("g", Merge({"metadata": {"finalizers": None}}))


def test_a_stale_object_never_clobbers_the_list(client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    stale = api.create(cm("h"))
    api.patch("h", Merge({"metadata": {"finalizers": ["someone.else/x"]}}))  # changed meanwhile
    with pytest.raises(k8spb.ApiError) as info:  # the patch's test fails: reconcile again on fresh state
        finalizer(api, NAME, stale, lambda o: Action.await_change(), lambda o: Action.await_change())
    assert info.value.code in (409, 422)
    current = api.get("h")
    assert current.metadata is not None and current.metadata.finalizers == ["someone.else/x"]
    api.patch("h", Merge({"metadata": {"finalizers": None}}))


def test_cleanup_failure_keeps_the_finalizer(client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    api.create(ConfigMap(metadata=ObjectMeta(name="i", finalizers=[NAME])))
    api.delete("i")

    def broken(obj: ConfigMap) -> Action:
        raise RuntimeError("cloud API down")

    with pytest.raises(RuntimeError):
        finalizer(api, NAME, api.get("i"), lambda o: Action.await_change(), broken)
    obj = api.get("i")
    assert obj.metadata is not None and obj.metadata.finalizers == [NAME]  # retried later, not lost
    finalizer(api, NAME, obj, lambda o: Action.await_change(), lambda o: Action.await_change())
    assert api.get_opt("i") is None


def test_async_finalizer(server: ApiServer) -> None:
    async def run() -> list[str]:
        async with async_client(server) as client:
            api = AsyncApi(client, ConfigMap, namespace="default")
            calls: list[str] = []

            async def apply(obj: ConfigMap) -> Action:
                calls.append("apply")
                return Action.await_change()

            async def cleanup(obj: ConfigMap) -> Action:
                calls.append("cleanup")
                return Action.await_change()

            await afinalizer(api, NAME, await api.create(cm("a")), apply, cleanup)
            await afinalizer(api, NAME, await api.get("a"), apply, cleanup)
            await api.delete("a")
            await afinalizer(api, NAME, await api.get("a"), apply, cleanup)
            assert await api.get_opt("a") is None
            with pytest.raises(ValueError, match=r"no metadata\.name"):
                await afinalizer(api, NAME, ConfigMap(metadata=ObjectMeta()), apply, cleanup)
            return calls

    assert asyncio.run(run()) == ["apply", "cleanup"]
