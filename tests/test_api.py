"""Api / AsyncApi: one surface for both, typed results, against ApiServer over HTTP."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest

from k8spb import Api, AsyncApi, AsyncClient, Client, Config, ListParams, ListResource, Merge, ResourceRef
from k8spb.api.apps.v1 import Deployment, DeploymentSpec
from k8spb.api.autoscaling.v1 import Scale, ScaleSpec
from k8spb.api.core.v1 import ConfigMap, Container, PodSpec, PodTemplateSpec
from k8spb.apimachinery.pkg.apis.meta.v1 import (
    LabelSelector,
    ObjectMeta,
    PartialObjectMetadata,
    PartialObjectMetadataList,
    Status,
)
from k8spb.testing import ApiServer


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as srv:
        yield srv


@pytest.fixture
def client(server: ApiServer) -> Iterator[Client]:
    with Client(Config.from_kubeconfig(server.kubeconfig_path), backoff=0.01) as c:
        yield c


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {n: inspect.signature(f) for n, f in vars(cls).items() if not n.startswith("_") and callable(f)}


def test_async_api_has_every_verb_of_api_with_the_same_parameters() -> None:
    sync, asyn = _public(Api), _public(AsyncApi)
    assert sorted(sync) == sorted(asyn)
    for name, sig in sync.items():
        assert list(sig.parameters) == list(asyn[name].parameters), name
        kind = "gen" if name in ("watch", "watch_metadata", "log_stream", "list_all") else "fn"
        if kind == "fn" and name not in ("all", "default_namespaced"):
            assert inspect.iscoroutinefunction(getattr(AsyncApi, name)), name


def test_resource_accessor(client: Client) -> None:
    api = Api(client, ConfigMap, namespace="default")
    assert api.resource == ResourceRef("", "v1", "ConfigMap", "configmaps", True, True)
    assert api.resource.path("default", "x") == "/api/v1/namespaces/default/configmaps/x"
    assert Api.all(client, Deployment).resource.api_version == "apps/v1"


def test_typed_results(client: Client) -> None:
    cms = Api(client, ConfigMap, namespace="default")
    for i in range(3):
        cms.create(ConfigMap(metadata=ObjectMeta(name=f"typed-{i}", labels={"t": "typed"}), data={"i": str(i)}))
    page = cms.list(label_selector="t=typed", limit=2)
    assert isinstance(page, ListResource) and [c.metadata.name for c in page if c.metadata] == ["typed-0", "typed-1"]
    assert page.resource_version and page.continue_token
    last = cms.list(ListParams(label_selector="t=typed", limit=2, continue_token=page.continue_token))
    assert len(last) == 1 and last.continue_token is None and last.resource_version == page.resource_version

    meta = cms.get_metadata("typed-0")
    assert type(meta) is PartialObjectMetadata and meta.metadata and meta.metadata.name == "typed-0"
    metas = cms.list_metadata(label_selector="t=typed")
    assert type(metas) is PartialObjectMetadataList and len(metas.items or []) == 3

    gone = cms.delete("typed-0")
    assert isinstance(gone, (ConfigMap, Status))
    listed = cms.delete_collection(ListParams(label_selector="t=typed"))
    assert isinstance(listed, ListResource) and sorted(c.metadata.name for c in listed if c.metadata) == [
        "typed-1", "typed-2"]


def _deployment(name: str) -> Deployment:
    template = PodTemplateSpec(metadata=ObjectMeta(labels={"app": name}),
                               spec=PodSpec(containers=[Container(name="c", image="nginx")]))
    return Deployment(metadata=ObjectMeta(name=name),
                      spec=DeploymentSpec(replicas=1, selector=LabelSelector(match_labels={"app": name}),
                                          template=template))


def test_async_api_metadata_watch_table_and_scale(server: ApiServer) -> None:
    async def run() -> None:
        async with AsyncClient(Config.from_kubeconfig(server.kubeconfig_path)) as client:
            deployments = AsyncApi(client, Deployment, namespace="default")
            created = await deployments.create(_deployment("typed-async"))
            assert created.metadata is not None
            scale = await deployments.get_scale("typed-async")
            assert type(scale) is Scale and scale.spec and scale.spec.replicas == 1
            scale.spec = ScaleSpec(replicas=3)
            replaced = await deployments.replace_scale("typed-async", scale)
            assert type(replaced) is Scale and replaced.spec and replaced.spec.replicas == 3
            patched = await deployments.patch_scale("typed-async", Merge({"spec": {"replicas": 2}}))
            assert patched.spec and patched.spec.replicas == 2

            table = await deployments.list_table()
            assert table["kind"] == "Table" and any(r["cells"][0] == "typed-async" for r in table["rows"])

            events = []
            async for event in deployments.watch_metadata(resource_version="0", timeout_seconds=1):
                events.append(event)
            names = [e.object.metadata.name for e in events if e.type == "ADDED" and e.object.metadata]
            assert type(events[0].object) is PartialObjectMetadata and "typed-async" in names

    asyncio.run(run())
