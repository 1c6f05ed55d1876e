"""An operator: a ConfigMirror copies a ConfigMap into other namespaces and keeps the copies in sync.

Run it against KUBECONFIG's cluster (Ctrl-C stops it); CI drives it against k8spb.testing.ApiServer. It
installs its CRD; copies are server-side applied and owned by their mirror, the mirror's status has a
Ready condition, Events say what happened, and a finalizer deletes the copies before the mirror goes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import field

from k8spb import Apply, AsyncApi, AsyncClient, PatchParams
from k8spb import runtime as rt
from k8spb.api.core.v1 import ConfigMap
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition
from k8spb.apimachinery.pkg.apis.meta.v1 import Condition, ObjectMeta, OwnerReference
from k8spb.crd import CustomResource, Object, PrinterColumn

MANAGER = "configmirror-operator"
FINALIZER = "mirror.examples.k8spb.dev/copies"
SSA = PatchParams(field_manager=MANAGER, force=True)


class ConfigMirrorSpec(Object):
    source_namespace: str
    source_name: str
    targets: list[str] = field(default_factory=list)
    """The namespaces to copy the ConfigMap into."""


class ConfigMirrorStatus(Object):
    copies: int = 0
    conditions: list[Condition] = field(default_factory=list)


class ConfigMirror(CustomResource, group="mirror.examples.k8spb.dev", version="v1", namespaced=False,
                   short_names=("cmir",), printer_columns=[PrinterColumn("Source", ".spec.sourceName"),
                                                           PrinterColumn("Copies", ".status.copies", "integer")]):
    """Copies of one ConfigMap in other namespaces."""

    spec: ConfigMirrorSpec
    status: ConfigMirrorStatus | None = None


async def main() -> None:
    async with AsyncClient.try_default() as client:
        crds = AsyncApi(client, CustomResourceDefinition)
        crd = ConfigMirror.crd()
        await crds.patch(crd.metadata.name, Apply(crd), SSA)
        await rt.await_condition(crds, crd.metadata.name, rt.is_crd_established(), timeout=60)

        mirrors, configmaps = AsyncApi(client, ConfigMirror), AsyncApi.all(client, ConfigMap)
        recorder = rt.AsyncRecorder(client, rt.Reporter(MANAGER))
        writer: rt.Writer[ConfigMirror] = rt.Writer(indexes={
            "source": lambda m: [f"{m.spec.source_namespace}/{m.spec.source_name}"]})

        def copying(cm: ConfigMap) -> list[rt.ObjectRef]:  # a changed source: the mirrors that copy it
            key = f"{cm.metadata.namespace}/{cm.metadata.name}"
            return [rt.ObjectRef(m.metadata.name or "") for m in writer.store.indexed("source", key) if m.metadata]

        async def copies(mirror: ConfigMirror) -> list[ConfigMap]:
            return list(await configmaps.list(label_selector=f"{MANAGER}={mirror.metadata.name}"))

        async def sync(mirror: ConfigMirror) -> rt.Action:
            meta, spec = mirror.metadata, mirror.spec
            assert meta is not None and meta.name and meta.uid
            source = await AsyncApi(client, ConfigMap, spec.source_namespace).get_opt(spec.source_name)
            owner = OwnerReference(api_version=ConfigMirror.api_version, kind=ConfigMirror.kind, name=meta.name,
                                   uid=meta.uid, controller=True, block_owner_deletion=True)
            n = len(spec.targets) if source is not None else 0
            for ns in spec.targets[:n]:
                copy = ConfigMap(metadata=ObjectMeta(name=spec.source_name, namespace=ns, labels={MANAGER: meta.name},
                                                     owner_references=[owner]), data=source.data or {})
                await AsyncApi(client, ConfigMap, ns).patch(spec.source_name, Apply(copy), SSA)
            for stale in await copies(mirror):
                if stale.metadata.namespace not in spec.targets[:n]:
                    await AsyncApi(client, ConfigMap, stale.metadata.namespace).delete(stale.metadata.name or "")
            status = mirror.status or ConfigMirrorStatus()
            ready = Condition(type="Ready", status="True" if n else "False", observed_generation=meta.generation,
                              reason="Synced" if source else "SourceMissing",
                              message=f"{n} copies of {spec.source_namespace}/{spec.source_name}")
            if rt.set_condition(status.conditions, ready) or status.copies != n:
                status.copies = n
                patch = {"apiVersion": ConfigMirror.api_version, "kind": ConfigMirror.kind,
                         "metadata": {"name": meta.name}, "status": status.to_dict()}
                await mirrors.patch_status(meta.name, Apply(patch), SSA)
                await recorder.publish(rt.EventData(type="Normal" if source else "Warning", action="Sync",
                                                    reason=ready.reason or "", note=ready.message), mirror)
            return rt.Action.requeue(300)

        async def cleanup(mirror: ConfigMirror) -> rt.Action:
            for copy in await copies(mirror):
                await AsyncApi(client, ConfigMap, copy.metadata.namespace).delete(copy.metadata.name or "")
            await recorder.publish(rt.EventData(type="Normal", reason="Deleted", action="Cleanup"), mirror)
            return rt.Action.await_change()

        async def reconcile(mirror: ConfigMirror) -> rt.Action:
            return await rt.afinalizer(mirrors, FINALIZER, mirror, sync, cleanup)

        controller = (rt.Controller(mirrors, writer=writer).owns(configmaps).watches(configmaps, copying, metadata=True)
                      .shutdown_on_signal())
        print("operator: running", flush=True)
        await controller.run(reconcile)
        print("operator: stopped", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
