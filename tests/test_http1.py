"""k8spb._http1 over real sockets: keep-alive reuse, servers that close, interim answers, bad framing."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

import k8spb
from k8spb import Api, AsyncApi, AsyncClient, Client, Config
from k8spb.api.core.v1 import ConfigMap
from tests.test_client_hostile import CM


def _ok(extra: bytes = b"") -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra
    return head + b"Content-Length: %d\r\n\r\n" % len(CM) + CM


def _serve_keepalive(conn: socket.socket, _: bytes) -> bool:
    conn.sendall(_ok())
    return True


def _gets(url: str, n: int) -> list[str | None]:
    with Client(Config(url), max_retries=0) as client:
        api = Api(client, ConfigMap, namespace="default")
        return [api.get("x").metadata.name for _ in range(n)]


async def _agets(url: str, n: int) -> list[str | None]:
    async with AsyncClient(Config(url), max_retries=0) as client:
        api = AsyncApi(client, ConfigMap, namespace="default")
        return [(await api.get("x")).metadata.name for _ in range(n)]


@pytest.mark.parametrize("run", [_gets, lambda url, n: asyncio.run(_agets(url, n))], ids=["sync", "async"])
def test_connections_are_kept_alive_and_dropped_when_the_server_closes(hostile: Any, run: Any) -> None:
    srv = hostile(_serve_keepalive)
    assert run(srv.url, 3) == ["x"] * 3
    assert len(srv.heads) == 3 and srv.connections == 1  # one connection for all
    closing = hostile(lambda c, _: c.sendall(_ok()))  # answers, then hangs up without saying so
    assert run(closing.url, 3) == ["x"] * 3
    assert closing.connections == 3  # a connection the server closed while idle is not reused
    told = hostile(lambda c, _: c.sendall(_ok(b"Connection: close\r\n")))
    assert run(told.url, 2) == ["x"] * 2


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(),  # an interim answer first
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + CM,  # no framing: until the server closes
    b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(CM) + CM,
])
def test_answers_of_every_framing(hostile: Any, answer: bytes) -> None:
    srv = hostile(lambda c, _: c.sendall(answer))
    assert _gets(srv.url, 2) == ["x", "x"]


@pytest.mark.parametrize(("answer", "error"), [
    (b"HTP/1.1 200 OK\r\n\r\n", "malformed response status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "malformed Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "malformed Content-Length"),
    (b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", "malformed response header line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", r"complete message body \(99 bytes missing\)"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size line"),
    (b"", "Server disconnected without sending a response"),
])
def test_bad_framing_is_a_transport_error_naming_the_request(hostile: Any, answer: bytes, error: str) -> None:
    srv = hostile(lambda c, _: c.sendall(answer))
    with pytest.raises(k8spb.TransportError, match=rf"GET /api/v1/namespaces/default/configmaps/x: .*{error}"):
        _gets(srv.url, 1)


def test_a_header_cannot_smuggle_another(hostile: Any) -> None:
    srv = hostile(lambda c, _: c.sendall(_ok()))

    class Smuggle:
        def on_request(self, request: k8spb.Request) -> k8spb.Request:
            return request.with_header("X-Note", "a\r\nX-Evil: 1")

        def on_response(self, request: k8spb.Request, status: int, elapsed: float) -> None:
            pass

    with Client(Config(srv.url), max_retries=0, middleware=[Smuggle()]) as client, \
            pytest.raises(k8spb.TransportError, match="a request header contains a line break"):
        Api(client, ConfigMap, namespace="default").get("x")
    assert srv.heads == []


def test_an_async_client_serves_one_event_loop_after_another(hostile: Any) -> None:
    srv = hostile(_serve_keepalive)
    client = AsyncClient(Config(srv.url), max_retries=0)

    async def get() -> str | None:
        return (await AsyncApi(client, ConfigMap, namespace="default").get("x")).metadata.name

    assert [asyncio.run(get()) for _ in range(3)] == ["x"] * 3
    asyncio.run(client.aclose())
