"""Api.portforward / portforward_listen (sync and async) to TCP servers on 127.0.0.1 through the test server."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from k8spb import Api, AsyncApi, AsyncClient, BadRequest, Client, Config, NotFound, TransportError
from k8spb.api.core.v1 import Pod
from k8spb.testing import ApiServer
from tests._streams_support import POD, make_pods


class Upper:
    """A TCP server on 127.0.0.1 answering each connection with what it reads, upper-cased."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data.upper())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def srv() -> Iterator[ApiServer]:
    with ApiServer() as server:
        make_pods(server)
        a, b = Upper(), Upper()
        server.forward_port("default", POD, 80, a.port)
        server.forward_port("default", POD, 81, b.port)
        server.forward_port("default", POD, 82, _free_port())  # nothing listens there
        yield server
        a.sock.close()
        b.sock.close()


@pytest.fixture(scope="module")
def pods(srv: ApiServer) -> Iterator[Api[Pod]]:
    with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
        yield Api(client, Pod, "default")


def _read_exactly(read: object, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        data = read()  # type: ignore[operator]
        assert data, f"stream ended after {len(out)} of {n} bytes"
        out += data
    return bytes(out)


def test_two_ports_one_connection(pods: Api[Pod]) -> None:
    with pods.portforward(POD, [80, 81]) as pf:
        a, b = pf.stream(80), pf.stream(81)
        a.write(b"hello")
        b.write(b"world")
        assert _read_exactly(a.read, 5) == b"HELLO" and _read_exactly(b.read, 5) == b"WORLD"
        big = b"abcdefgh" * (512 * 1024)  # 4 MiB both ways while the other port is busy too
        threading.Thread(target=a.write, args=(big,), daemon=True).start()
        b.write(b"still here")
        assert _read_exactly(b.read, 10) == b"STILL HERE"
        assert hashlib.sha256(_read_exactly(a.read, len(big))).digest() == hashlib.sha256(big.upper()).digest()
        assert a.error is None
        with pytest.raises(ValueError, match="port 99 is not forwarded"):
            pf.stream(99)


def test_connection_refused_is_reported_on_the_port(pods: Api[Pod]) -> None:
    with pods.portforward(POD, [82]) as pf:
        stream = pf.stream(82)
        with pytest.raises(TransportError, match=r"portforward: port 82: error forwarding port 82 to pod "
                                                 r"default/web: dial tcp 127.0.0.1:\d+: Connection refused"):
            stream.read()
        assert stream.error is not None and "refused" in stream.error


def test_bad_requests(pods: Api[Pod]) -> None:
    with pytest.raises(NotFound, match="portforward: 404"):
        pods.portforward("ghost", [80])
    with pytest.raises(BadRequest, match="pod pending does not have a host assigned"):
        pods.portforward("pending", [80])
    for ports, message in (([], "at least one port"), ([0], "1 to 65535"), ([80, 80], "once per connection")):
        with pytest.raises(ValueError, match=message):
            pods.portforward(POD, ports)


def test_listener_serves_concurrent_connections(pods: Api[Pod]) -> None:
    with pods.portforward_listen(POD, {0: 80, _free_port(): 81}) as listener:
        assert set(listener.ports) == {80, 81}

        def one(i: int) -> bytes:
            remote = 80 + i % 2
            with socket.create_connection(("127.0.0.1", listener.ports[remote]), timeout=20) as c:
                payload = f"conn {i} ".encode() * 20000
                threading.Thread(target=c.sendall, args=(payload,), daemon=True).start()
                return _read_exactly(lambda c=c: c.recv(1 << 16), len(payload))

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(8)))
        assert results == [f"CONN {i} ".encode() * 20000 for i in range(8)]
        assert not listener.errors


def test_async_streams_and_listener(srv: ApiServer) -> None:
    async def main() -> tuple[bytes, bytes, str | None, list[bytes]]:
        async with AsyncClient(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
            pods = AsyncApi(client, Pod, "default")
            async with await pods.portforward(POD, [80, 82]) as pf:
                a = pf.stream(80)
                await a.write(b"x" * 300_000)
                got = bytearray()
                while len(got) < 300_000:
                    got += await a.read()
                refused = pf.stream(82)
                with pytest.raises(TransportError, match="port 82"):
                    await refused.read()
            async with await pods.portforward_listen(POD, {0: 81}) as listener:

                async def one(i: int) -> bytes:
                    reader, writer = await asyncio.open_connection("127.0.0.1", listener.ports[81])
                    writer.write(b"async %d" % i)
                    await writer.drain()
                    data = await reader.readexactly(len(b"async %d" % i))
                    writer.close()
                    return data

                echoed = await asyncio.gather(*(one(i) for i in range(5)))
            return bytes(got), b"", refused.error, list(echoed)

    got, _, error, echoed = asyncio.run(main())
    assert got == b"X" * 300_000 and error is not None and "refused" in error
    assert echoed == [b"ASYNC %d" % i for i in range(5)]
