"""Api.exec / Api.attach (sync and async) against the in-memory API server over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import queue
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from k8spb import (
    Api,
    ApiError,
    AsyncApi,
    AsyncClient,
    BadRequest,
    Client,
    Config,
    NotFound,
    ServerError,
    TransportError,
    Unauthorized,
)
from k8spb import _channels as ch
from k8spb._exec import Process
from k8spb._websocket import connect
from k8spb.api.core.v1 import Pod
from k8spb.testing import ApiServer
from tests._streams_support import POD, FakeContainer, make_pods

BIG = 5 * 1024 * 1024 + 123


class Container(FakeContainer):
    def __call__(self, s: Any) -> int:
        name = s.command[0] if s.command else ""
        if name == "big":  # BIG bytes on stdout and stderr, patterned so that a lost or moved byte shows
            block = bytes(range(256)) * 4096
            for out in (s.stdout, s.stderr):
                left = BIG
                while left:
                    out.write(block[: min(left, len(block))])
                    left -= min(left, len(block))
            return 0
        if name == "sha":  # digest of all of stdin, once the client closes it
            digest, size = hashlib.sha256(), 0
            while data := s.stdin.read(1 << 20):
                digest.update(data)
                size += len(data)
            s.stdout.write(f"{size} {digest.hexdigest()}".encode())
            return 0
        if name == "resize":  # print every terminal size until the client closes stdin
            sizes = []
            while True:
                try:
                    sizes.append(s.resizes.get(timeout=0.05))
                except queue.Empty:
                    if s.stdin.read(1) == b"":
                        break
            s.stdout.write(repr(sizes).encode())
            return 0
        if name == "boom":
            raise RuntimeError("handler failed")
        if name == "flags":
            s.stdout.write(f"tty={s.tty} stdin={s.stdin is not None} stderr={s.stderr is not None} "
                           f"container={s.container} protocol={s.protocol}".encode())
            return 0
        return super().__call__(s)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with ApiServer(require_auth=True) as server:
        make_pods(server)
        container = Container(tmp_path_factory.mktemp("container"))
        for pod in (POD, "multi", "stopped"):
            server.on_exec("default", pod, container)
        server.on_attach("default", POD, container)
        yield server


@pytest.fixture(scope="module")
def pods(srv: ApiServer) -> Iterator[Api[Pod]]:
    with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
        yield Api(client, Pod, "default")


def test_exit_codes_and_output(pods: Api[Pod]) -> None:
    proc = pods.exec(POD, ["echo", "hello", "world"])
    assert proc.wait(timeout=10) == 0
    assert proc.stdout is not None and proc.stdout.read() == b"hello world\n"
    assert proc.protocol == ch.V5 and proc.status == {"metadata": {}, "status": "Success"}
    proc = pods.exec(POD, ["sh", "-c", "exit 42"])
    assert proc.wait(timeout=10) == 42 and proc.returncode == 42
    assert proc.status is not None and proc.status["reason"] == "NonZeroExitCode"
    proc = pods.exec(POD, ["nope"])
    assert proc.communicate(timeout=10) == (b"", b"sh: nope: not found\n") and proc.returncode == 127


def test_stdin_close_and_large_data_both_ways(pods: Api[Pod]) -> None:
    payload = bytes(range(256)) * (BIG // 256) + b"tail"
    proc = pods.exec(POD, ["sha"], stdin=True)
    out, err = proc.communicate(payload, timeout=60)
    assert out.decode() == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}" and err == b""
    proc = pods.exec(POD, ["big"])
    assert proc.wait(timeout=60) == 0
    assert proc.stdout is not None and proc.stderr is not None
    expected = (bytes(range(256)) * 4096 * (BIG // (4096 * 256) + 1))[:BIG]
    assert proc.stdout.read() == expected and proc.stderr.read() == expected


def test_streaming_reads_line_by_line(pods: Api[Pod]) -> None:
    with pods.exec(POD, ["cat"], stdin=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"one\ntwo\n")
        assert proc.stdout.readline() == b"one\n"
        assert proc.stdout.read1() == b"two\n"
        proc.stdin.write(b"three")
        proc.stdin.close()
        assert list(proc.stdout) == [b"three"] and proc.wait(10) == 0
        with pytest.raises(ValueError, match="closed stdin"):
            proc.stdin.write(b"more")


def test_tty_resize(pods: Api[Pod]) -> None:
    proc = pods.exec(POD, ["resize"], stdin=True, tty=True)
    assert proc.stderr is None  # a terminal has one output stream
    proc.resize(80, 24)
    proc.resize(200, 50)
    out, _ = proc.communicate(timeout=10)
    assert out == b"[(80, 24), (200, 50)]"
    with pytest.raises(ValueError, match="tty=True"):
        pods.exec(POD, ["echo"]).resize(1, 1)
    with pytest.raises(ValueError, match="65535"):
        ch.resize_message(-1, 5)


def test_flags_container_and_attach(pods: Api[Pod]) -> None:
    out, _ = pods.exec("multi", ["flags"], container="b", stdin=True, tty=True).communicate(timeout=10)
    assert out == b"tty=True stdin=True stderr=False container=b protocol=v5.channel.k8s.io"
    proc = pods.attach(POD, stdin=True)
    proc.stdin.write(b"attached")  # type: ignore[union-attr]
    assert proc.communicate(timeout=10) == (b"attached", b"")


def test_v4_has_no_stdin_close_but_exit_status_works(pods: Api[Pod]) -> None:
    query = ch.exec_query(["flags"], None, stdin=False, stdout=True, stderr=True, tty=False)
    req = pods._requests.get(POD)
    from k8spb._api import _stream_request

    ws = connect(pods.client, _stream_request(pods._requests, POD, "exec", query), (ch.V4,))
    assert req.method == "GET" and ws.protocol == ch.V4
    proc = Process(ws, stdin=False, stdout=True, stderr=True, tty=False)
    assert proc.communicate(timeout=10)[0].endswith(b"protocol=v4.channel.k8s.io")


def test_errors_before_the_upgrade(pods: Api[Pod]) -> None:
    with pytest.raises(NotFound, match=r'GET /api/v1/namespaces/default/pods/ghost/exec: 404 NotFound: pods "ghost"'):
        pods.exec("ghost", ["echo"])
    with pytest.raises(BadRequest, match=r"a container name must be specified for pod multi, choose one of: "
                                         r"\[init a b\]"):
        pods.exec("multi", ["echo"])
    with pytest.raises(BadRequest, match="container zzz is not valid for pod web"):
        pods.exec(POD, ["echo"], container="zzz")
    with pytest.raises(BadRequest, match="pod pending does not have a host assigned"):
        pods.exec("pending", ["echo"])
    with pytest.raises(TypeError, match="list of arguments"):
        pods.exec(POD, "echo hi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one of stdin"):
        pods.exec(POD, ["echo"], stdout=False, stderr=False)


def test_errors_after_the_upgrade(pods: Api[Pod], srv: ApiServer) -> None:
    with pytest.raises(ServerError, match=r'exec: 500 InternalError: Internal error occurred: unable to upgrade '
                                          r'connection: container not found \("app"\)'):
        pods.exec("stopped", ["echo"]).wait(10)
    with pytest.raises(ServerError, match="RuntimeError"):
        pods.exec(POD, ["boom"]).wait(10)
    with pytest.raises(ServerError, match="no attach handler for pod default/multi"):
        pods.attach("multi", container="a").wait(10)


def test_token_is_required_and_never_shown(srv: ApiServer) -> None:
    config = Config.from_kubeconfig(srv.kubeconfig_path)
    from k8spb import TokenAuth

    config.auth = TokenAuth("wrong-secret-token")
    with Client(config) as client, pytest.raises(Unauthorized) as info:
        Api(client, Pod, "default").exec(POD, ["echo"])
    assert "wrong-secret-token" not in str(info.value) and "wrong-secret-token" not in repr(info.value)


def test_tls_server(tmp_path: Path) -> None:
    with ApiServer(tls=True) as server:
        make_pods(server)
        server.on_exec("default", POD, Container(tmp_path))
        with Client(Config.from_kubeconfig(server.kubeconfig_path)) as client:
            out, _ = Api(client, Pod, "default").exec(POD, ["echo", "over", "tls"]).communicate(timeout=10)
            assert out == b"over tls\n"
        config = Config.from_kubeconfig(server.kubeconfig_path)
        config.ca_data = None  # the system's CAs do not know the test CA: verification must fail
        with Client(config) as client, pytest.raises(TransportError, match="exec"):
            Api(client, Pod, "default").exec(POD, ["echo"])


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that records the tunnels it opens."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.tunnels: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        target = head.split(b" ")[1].decode()
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(a: socket.socket, b: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := a.recv(65536):
                    b.sendall(data)
            with contextlib.suppress(OSError):
                b.shutdown(socket.SHUT_WR)

        threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
        pipe(conn, upstream)


def test_through_a_proxy_with_tls_and_a_client_certificate(tmp_path: Path) -> None:
    proxy = ConnectProxy()
    with ApiServer(client_ca=True) as server:
        make_pods(server)
        server.on_exec("default", POD, Container(tmp_path))
        config = Config.from_kubeconfig(server.kubeconfig_path, context="k8spb-testing-cert")
        config.proxy = proxy.url
        with Client(config) as client:
            out, _ = Api(client, Pod, "default").exec(POD, ["echo", "proxied"]).communicate(timeout=10)
    proxy.sock.close()
    assert out == b"proxied\n" and proxy.tunnels == [f"127.0.0.1:{server.port}"]


def test_async(srv: ApiServer) -> None:
    async def main() -> list[Any]:
        async with AsyncClient(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
            pods = AsyncApi(client, Pod, "default")
            proc = await pods.exec(POD, ["echo", "async"])
            first = (await proc.wait(10), await proc.stdout.read())  # type: ignore[union-attr]
            payload = b"x" * (3 * 1024 * 1024)
            proc = await pods.exec(POD, ["sha"], stdin=True)
            out, _ = await proc.communicate(payload, timeout=60)
            resized = await pods.exec(POD, ["resize"], stdin=True, tty=True)
            await resized.resize(10, 20)
            sized, _ = await resized.communicate(timeout=10)
            lines = await pods.exec(POD, ["cat"], stdin=True)
            await lines.stdin.write(b"a\nb\n")  # type: ignore[union-attr]
            await lines.stdin.close()  # type: ignore[union-attr]
            got = [line async for line in lines.stdout]  # type: ignore[union-attr]
            code = await (await pods.exec(POD, ["sh", "-c", "exit 3"])).wait(10)
            errors = []
            for call in (pods.exec("ghost", ["x"]), pods.exec("stopped", ["x"])):
                try:
                    await (await call).wait(10)
                except ApiError as exc:
                    errors.append(exc.code)
            return [first, out, sized, got, code, errors]

    first, out, sized, got, code, errors = asyncio.run(main())
    assert first == (0, b"async\n")
    assert out.decode() == f"{3 * 1024 * 1024} {hashlib.sha256(b'x' * (3 * 1024 * 1024)).hexdigest()}"
    assert sized == b"[(10, 20)]" and got == [b"a\n", b"b\n"] and code == 3 and errors == [404, 500]
