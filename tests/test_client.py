"""The client against k8spb.testing.ApiServer over real sockets: every verb, both encodings, sync and async."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

import k8spb
from k8spb import (
    Api,
    Apply,
    AsyncApi,
    AsyncClient,
    Client,
    Config,
    DeleteParams,
    JsonPatch,
    ListParams,
    Merge,
    PatchParams,
    Request,
    Strategic,
    WatchParams,
)
from k8spb.api.apps.v1 import Deployment, DeploymentSpec
from k8spb.api.core.v1 import ConfigMap, Container, Pod, PodSpec, PodTemplateSpec
from k8spb.apimachinery.pkg.apis.meta.v1 import LabelSelector, ObjectMeta
from k8spb.testing import ApiServer


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as srv:
        yield srv


@pytest.fixture(params=[True, False], ids=["protobuf", "json"])
def client(server: ApiServer, request: pytest.FixtureRequest) -> Iterator[Client]:
    with Client(Config.from_kubeconfig(server.kubeconfig_path), prefer_protobuf=request.param,
                backoff=0.01) as c:
        yield c


def _pod(name: str, **labels: str) -> Pod:
    return Pod(metadata=ObjectMeta(name=name, labels=labels or None),
               spec=PodSpec(containers=[Container(name="main", image="nginx:1")]))


class Recorder:
    """Middleware that records what was sent (and checks the hook point)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []

    def on_request(self, request: Request) -> Request:
        return request.with_header("X-Test", "1")

    def on_response(self, request: Request, status: int, elapsed: float) -> None:
        self.seen.append((request.method, request.header("Accept") or "", status))


def test_crud_round_trip(client: Client) -> None:
    pods = Api(client, Pod, namespace="default")
    name = f"crud-{client.prefer_protobuf}"
    created = pods.create(_pod(name, app="web"))
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp
    got = pods.get(name)
    assert got.spec.containers[0].image == "nginx:1" and got == pods.get(name)
    assert pods.get_opt("does-not-exist") is None
    with pytest.raises(k8spb.NotFound, match="GET /api/v1/namespaces/default/pods/does-not-exist"):
        pods.get("does-not-exist")
    with pytest.raises(k8spb.AlreadyExists):
        pods.create(_pod(name))
    got.metadata.labels["tier"] = "front"
    replaced = pods.replace(name, got)
    assert replaced.metadata.labels == {"app": "web", "tier": "front"}
    stale = got
    stale.metadata.labels["again"] = "x"
    with pytest.raises(k8spb.Conflict):
        pods.replace(name, stale)  # resourceVersion is now old
    assert pods.patch(name, Merge({"metadata": {"labels": {"m": "1"}}})).metadata.labels["m"] == "1"
    smp = pods.patch(name, Strategic({"spec": {"containers": [{"name": "main", "image": "nginx:2"}]}}))
    assert [c.image for c in smp.spec.containers] == ["nginx:2"]
    jp = pods.patch(name, JsonPatch([{"op": "remove", "path": "/metadata/labels/m"}]))
    assert "m" not in jp.metadata.labels
    deleted = pods.delete(name)
    assert isinstance(deleted, (Pod, k8spb.apimachinery.pkg.apis.meta.v1.Status))
    assert pods.get_opt(name) is None


def test_list_selectors_paging_and_collection_delete(client: Client) -> None:
    ns = "kube-public"
    cms = Api(client, ConfigMap, namespace=ns)
    tag = "p" if client.prefer_protobuf else "j"
    for i in range(7):
        cms.create(ConfigMap(metadata=ObjectMeta(name=f"cm-{tag}-{i}", labels={"set": tag, "odd": str(i % 2)}),
                             data={"i": str(i)}))
    page = cms.list(label_selector=f"set={tag}", limit=3)
    assert len(page) == 3 and page.metadata.continue_
    names = [c.metadata.name for c in cms.list_all(label_selector=f"set={tag}", limit=3)]
    assert names == sorted(f"cm-{tag}-{i}" for i in range(7))
    odd = [c.metadata.name for c in cms.list(ListParams(label_selector=f"set={tag},odd=1"))]
    assert len(odd) == 3
    by_name = cms.list(field_selector=f"metadata.name=cm-{tag}-4")
    assert [c.data for c in by_name] == [{"i": "4"}]
    cms.delete_collection(ListParams(label_selector=f"set={tag}"))
    assert len(cms.list(label_selector=f"set={tag}")) == 0


def test_server_side_apply_and_status(client: Client) -> None:
    deps = Api(client, Deployment, namespace="default")
    name = f"web-{client.prefer_protobuf}"
    intent = Deployment(metadata=ObjectMeta(name=name),
                        spec=DeploymentSpec(replicas=2, selector=LabelSelector(match_labels={"app": name}),
                                            template=PodTemplateSpec(metadata=ObjectMeta(labels={"app": name}),
                                                                     spec=PodSpec(containers=[Container(
                                                                         name="web", image="nginx")]))))
    applied = deps.patch(name, Apply(intent), PatchParams(field_manager="ctl", force=True))
    assert applied.spec.replicas == 2 and applied.metadata.generation == 1
    assert any(m.manager == "ctl" for m in applied.metadata.managed_fields or [])
    with pytest.raises(k8spb.Conflict):
        deps.patch(name, Apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                                "spec": {"replicas": 5}}), PatchParams(field_manager="other"))
    status = deps.patch_status(name, Merge({"status": {"replicas": 2, "readyReplicas": 1}}))
    assert status.status.ready_replicas == 1
    assert deps.get_status(name).status.replicas == 2
    deps.delete(name, DeleteParams(propagation_policy="Background"))


def test_watch_sees_changes_in_order(client: Client) -> None:
    cms = Api(client, ConfigMap, namespace="default")
    rv = cms.list().metadata.resource_version
    name = f"watched-{client.prefer_protobuf}"
    seen: list[tuple[str, str | None]] = []

    def consume() -> None:
        params = WatchParams(resource_version=rv, timeout_seconds=3, field_selector=f"metadata.name={name}")
        for ev in cms.watch(params):
            seen.append((ev.type, ev.object.metadata.name))
            if ev.type == "DELETED":
                return

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.3)
    cms.create(ConfigMap(metadata=ObjectMeta(name=name), data={"a": "1"}))
    cms.patch(name, Merge({"data": {"a": "2"}}))
    cms.delete(name)
    t.join(10)
    assert not t.is_alive()
    assert seen == [("ADDED", name), ("MODIFIED", name), ("DELETED", name)]


def test_watch_too_old_raises_gone(server: ApiServer, client: Client) -> None:
    cms = Api(client, ConfigMap, namespace="default")
    cms.create(ConfigMap(metadata=ObjectMeta(name=f"old-{client.prefer_protobuf}")))
    server.compact()
    with pytest.raises(k8spb.Gone):
        for _ in cms.watch(resource_version="1", timeout_seconds=2):
            pass


def test_retries_on_429_and_503_then_succeeds(server: ApiServer, client: Client) -> None:
    rec = Recorder()
    client.middleware = (rec,)
    server.fail_next(2, status=429, retry_after=0)
    assert Api(client, Pod, namespace="default").list() is not None
    assert [s for _, _, s in rec.seen] == [429, 429, 200]
    server.fail_next(1, status=503)
    Api(client, Pod, namespace="default").list()
    server.fail_next(1, status=500)  # 500 without Retry-After is not retried
    with pytest.raises(k8spb.ServerError):
        Api(client, Pod, namespace="default").list()
    client.middleware = ()


def test_negotiated_encoding_is_what_was_asked(server: ApiServer, client: Client) -> None:
    rec = Recorder()
    client.middleware = (rec,)
    Api(client, Pod, namespace="default").list()
    assert (k8spb.PROTOBUF in rec.seen[-1][1]) == client.prefer_protobuf
    client.middleware = ()


def test_metadata_only_list(client: Client) -> None:
    cms = Api(client, ConfigMap, namespace="default")
    name = f"meta-{client.prefer_protobuf}"
    cms.create(ConfigMap(metadata=ObjectMeta(name=name, labels={"k": "v"}), data={"big": "x" * 1000}))
    metas = cms.list_metadata(field_selector=f"metadata.name={name}")
    (only,) = list(metas)
    assert type(only).__name__ == "PartialObjectMetadata" and only.metadata.labels == {"k": "v"}
    assert cms.get_metadata(name).metadata.name == name
    cms.delete(name)


def test_async_client_twin(server: ApiServer) -> None:
    async def main() -> list[str]:
        async with AsyncClient(Config.from_kubeconfig(server.kubeconfig_path)) as c:
            cms = AsyncApi(c, ConfigMap, namespace="default")
            await cms.create(ConfigMap(metadata=ObjectMeta(name="async-1"), data={"a": "b"}))
            got = await cms.get("async-1")
            assert got.data == {"a": "b"}
            assert await cms.get_opt("nope") is None
            await cms.patch("async-1", Merge({"data": {"a": "c"}}))
            names = [c.metadata.name async for c in cms.list_all(limit=1)]
            await cms.delete("async-1")
            return names

    assert "async-1" in asyncio.run(main())


def test_transport_errors_are_clear() -> None:
    cfg = Config(server="http://127.0.0.1:9")  # nothing listens on the discard port
    with Client(cfg, max_retries=1, backoff=0.01) as c, pytest.raises(k8spb.TransportError, match="GET /api/v1"):
        Api(c, Pod, namespace="default").list()


def test_cut_responses(server: ApiServer, client: Client) -> None:
    cms = Api(client, ConfigMap, namespace="default")
    tag = f"cut-{client.prefer_protobuf}"
    for i in range(3):
        cms.create(ConfigMap(metadata=ObjectMeta(name=f"{tag}-{i}", labels={"cut": tag})))
    server.cut_next()  # a read cut mid-body is retried
    assert len(cms.list(label_selector=f"cut={tag}").items) == 3
    server.cut_next()  # a write is not: it may have been applied
    with pytest.raises(k8spb.TransportError, match="POST /api/v1/namespaces/default/configmaps"):
        cms.create(ConfigMap(metadata=ObjectMeta(name=f"{tag}-new")))
    for end_stream, error in ((False, k8spb.TransportError), (True, k8spb.DecodeError)):
        server.cut_next(after_events=2, end_stream=end_stream)
        seen: list[str | None] = []
        with pytest.raises(error, match="GET /api/v1/namespaces/default/configmaps"):
            for ev in cms.watch(label_selector=f"cut={tag}", timeout_seconds=5):
                seen.append(ev.object.metadata.name)
        assert seen == [f"{tag}-0", f"{tag}-1"]


def test_async_watch_cut(server: ApiServer) -> None:
    async def main() -> list[str | None]:
        async with AsyncClient(Config.from_kubeconfig(server.kubeconfig_path)) as c:
            cms = AsyncApi(c, ConfigMap, namespace="default")
            for i in range(2):
                await cms.create(ConfigMap(metadata=ObjectMeta(name=f"acut-{i}", labels={"cut": "async"})))
            server.cut_next(after_events=1)
            seen = []
            with pytest.raises(k8spb.TransportError):
                async for ev in cms.watch(label_selector="cut=async", timeout_seconds=5):
                    seen.append(ev.object.metadata.name)
            return seen

    assert asyncio.run(main()) == ["acut-0"]


def test_import_leaves_the_client_stack_for_later(server: ApiServer) -> None:
    """``import k8spb`` + a model loads no HTTP or asyncio stack (httpcore, and h2 with it, come with a client)."""
    import subprocess
    import sys

    code = ("import sys, k8spb; from k8spb.api.core.v1 import Pod; "
            "print(sorted(m for m in ('asyncio', 'httpcore', 'httpx', 'anyio', 'h2', 'wsproto') if m in sys.modules)); "
            f"c = k8spb.Client(k8spb.Config.from_kubeconfig({server.kubeconfig_path!r})); "
            "print(len(list(k8spb.Api(c, Pod, namespace='default').list())) >= 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.stdout.split("\n")[:2] == ["[]", "True"], out.stderr[-2000:]
