"""Test a (tiny) controller against the in-memory API server, sync and async.

The controller labels every ConfigMap it has not seen yet with ``seen: "true"``.
"""

from __future__ import annotations

import asyncio

from k8spb import Api, AsyncApi, AsyncClient, Client, Config, Merge
from k8spb.api.core.v1 import ConfigMap
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta
from k8spb.testing import ApiServer


def reconcile(api: Api[ConfigMap], cm: ConfigMap) -> None:
    if (cm.metadata.labels or {}).get("seen") != "true":
        api.patch(cm.metadata.name or "", Merge({"metadata": {"labels": {"seen": "true"}}}))


def run_controller(api: Api[ConfigMap], since: str | None, changes: int) -> None:
    for event in api.watch(resource_version=since, timeout_seconds=5):
        if event.type == "ADDED":
            reconcile(api, event.object)
            changes -= 1
            if changes == 0:
                return


def test_sync(srv: ApiServer) -> None:
    with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
        cms = Api(client, ConfigMap, namespace="default")
        since = cms.list().metadata.resource_version
        cms.create(ConfigMap(metadata=ObjectMeta(name="sync-a")))
        cms.create(ConfigMap(metadata=ObjectMeta(name="sync-b")))
        run_controller(cms, since, changes=2)
        assert all(cms.get(n).metadata.labels == {"seen": "true"} for n in ("sync-a", "sync-b"))
        print("sync controller labelled", [c.metadata.name for c in cms.list(label_selector="seen=true")])


async def test_async(srv: ApiServer) -> None:
    async with AsyncClient(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
        cms = AsyncApi(client, ConfigMap, namespace="kube-public")
        since = (await cms.list()).metadata.resource_version

        async def controller() -> None:
            async for event in cms.watch(resource_version=since, timeout_seconds=5):
                if event.type == "ADDED" and not (event.object.metadata.labels or {}).get("seen"):
                    await cms.patch(event.object.metadata.name or "", Merge({"metadata": {"labels": {"seen": "true"}}}))
                    return

        task = asyncio.create_task(controller())
        await cms.create(ConfigMap(metadata=ObjectMeta(name="async-a")))
        await asyncio.wait_for(task, 10)
        labelled = await cms.get("async-a")
        assert labelled.metadata.labels == {"seen": "true"}
        print("async controller labelled", labelled.metadata.name)


if __name__ == "__main__":
    with ApiServer() as server:
        test_sync(server)
        asyncio.run(test_async(server))
