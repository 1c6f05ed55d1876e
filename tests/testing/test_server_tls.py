"""ApiServer(tls=True): HTTPS with a generated CA, bearer tokens and client certificates (raw httpx)."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from k8spb.testing import ApiServer

pytest.importorskip("cryptography")


@pytest.fixture(scope="module")
def srv() -> Iterator[ApiServer]:
    with ApiServer(tls=True, client_ca=True) as s:
        yield s


def _ctx(srv: ApiServer, cert: tuple[bytes, bytes] | None = None, tmp: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=srv.ca_pem.decode())
    if cert is not None:
        assert tmp is not None
        (tmp / "c.pem").write_bytes(cert[0])
        (tmp / "k.pem").write_bytes(cert[1])
        ctx.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    return ctx


def test_https_with_token(srv: ApiServer) -> None:
    assert srv.url.startswith("https://127.0.0.1:")
    with httpx.Client(verify=_ctx(srv), timeout=5) as c:
        r = c.get(f"{srv.url}/api/v1/namespaces", headers={"Authorization": f"Bearer {srv.token}"})
        assert r.status_code == 200 and r.json()["kind"] == "NamespaceList"
        # public endpoints need no credentials
        assert c.get(f"{srv.url}/healthz").text == "ok"
        assert c.get(f"{srv.url}/version").status_code == 200


def test_token_required(srv: ApiServer) -> None:
    with httpx.Client(verify=_ctx(srv), timeout=5) as c:
        r = c.get(f"{srv.url}/api/v1/namespaces")
        assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"
        r = c.get(f"{srv.url}/api/v1/namespaces", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401


def test_client_certificate(srv: ApiServer, tmp_path: Path) -> None:
    with httpx.Client(verify=_ctx(srv, srv.client_certificate("alice", ("dev",)), tmp_path), timeout=5) as c:
        assert c.get(f"{srv.url}/api/v1/pods").status_code == 200


def test_foreign_client_certificate_is_refused(srv: ApiServer, tmp_path: Path) -> None:
    with ApiServer(client_ca=True) as other:
        foreign = other.client_certificate()
    with httpx.Client(verify=_ctx(srv, foreign, tmp_path), timeout=5) as c, pytest.raises(httpx.TransportError):
        c.get(f"{srv.url}/api/v1/pods")


def test_wrong_ca_fails_verification(srv: ApiServer) -> None:
    with ApiServer(tls=True) as other:
        wrong = ssl.create_default_context(cadata=other.ca_pem.decode())
    with httpx.Client(verify=wrong, timeout=5) as c, pytest.raises(httpx.ConnectError):
        c.get(f"{srv.url}/healthz")


def test_plain_http_on_tls_port_does_not_hang(srv: ApiServer) -> None:
    with httpx.Client(timeout=5) as c, pytest.raises(httpx.TransportError):
        c.get(srv.url.replace("https://", "http://") + "/healthz")
    with httpx.Client(verify=_ctx(srv), timeout=5) as c:  # the server is still serving
        assert c.get(f"{srv.url}/healthz").status_code == 200


def test_localhost_name_verifies(srv: ApiServer) -> None:
    with httpx.Client(verify=_ctx(srv), timeout=5) as c:
        assert c.get(f"https://localhost:{srv.port}/healthz").status_code == 200


def test_kubeconfig(srv: ApiServer) -> None:
    config = yaml.safe_load(Path(srv.kubeconfig_path).read_text())
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == srv.url
    assert base64.b64decode(cluster["certificate-authority-data"]) == srv.ca_pem
    users = {u["name"]: u["user"] for u in config["users"]}
    assert users["k8spb-testing"] == {"token": srv.token}
    assert set(users["k8spb-testing-cert"]) == {"client-certificate-data", "client-key-data"}
    assert {c["name"] for c in config["contexts"]} == {"k8spb-testing", "k8spb-testing-cert"}
    assert config["current-context"] == "k8spb-testing"


def test_client_certificate_needs_client_ca() -> None:
    with ApiServer(tls=True) as s:
        with pytest.raises(RuntimeError):
            s.client_certificate()
        users = yaml.safe_load(Path(s.kubeconfig_path).read_text())["users"]
        assert [u["name"] for u in users] == ["k8spb-testing"]


def test_plain_server_unchanged() -> None:
    with ApiServer() as s:
        assert s.url.startswith("http://") and s.ca_pem == b""
        with httpx.Client(timeout=5) as c:
            assert c.get(f"{s.url}/api/v1/namespaces").status_code == 200
        assert "certificate-authority-data" not in s.kubeconfig()["clusters"][0]["cluster"]


def test_watch_over_tls(srv: ApiServer) -> None:
    headers = {"Authorization": f"Bearer {srv.token}"}
    with httpx.Client(verify=_ctx(srv), timeout=5, headers=headers) as c:
        c.post(f"{srv.url}/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "tlswatch"}})
        with c.stream("GET", f"{srv.url}/api/v1/namespaces/default/configmaps",
                      params={"watch": "true", "timeoutSeconds": "1"}) as r:
            lines = [line for line in r.iter_lines() if line]
        assert any('"tlswatch"' in line for line in lines)
