"""The client against servers that misbehave (issue 13): each test fails without its fix.

Most servers here are a few lines over a real socket (``Hostile``), since the in-memory API server
never sends such bytes; cut responses come from ``ApiServer.cut_next``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

import k8spb
from k8spb import Api, AsyncApi, AsyncClient, Client, Config, DeleteParams
from k8spb.api.core.v1 import ConfigMap, Pod
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta
from k8spb.testing import ApiServer

PATH = "/api/v1/namespaces/default/configmaps"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _event(name: str) -> bytes:
    return json.dumps({"type": "ADDED", "object": {"apiVersion": "v1", "kind": "ConfigMap",
                                                   "metadata": {"name": name}}}).encode() + b"\n"


WATCH_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"


def _client(url: str, **config: Any) -> Client:
    return Client(Config(url, **config), max_retries=0, backoff=0.01)


def _watch(client: Client) -> Iterator[k8spb.WatchEvent[ConfigMap]]:
    return Api(client, ConfigMap, namespace="default").watch(timeout_seconds=60)


async def _awatch(url: str, **config: Any) -> list[str | None]:
    seen: list[str | None] = []
    async with AsyncClient(Config(url, **config), max_retries=0) as client:
        async for event in AsyncApi(client, ConfigMap, namespace="default").watch(timeout_seconds=60):
            seen.append(event.object.metadata.name)
    return seen


# -- 1, 2: watch decoding errors ---------------------------------------------------------------------------


def test_deeply_nested_watch_event_is_a_decode_error_naming_the_request(hostile: Any) -> None:
    bomb = b"[" * 100_000 + b"]" * 100_000 + b"\n"
    srv = hostile(lambda c, _: c.sendall(WATCH_HEAD + b"\r\n" + _chunk(_event("one")) + _chunk(bomb)))
    seen = []
    with _client(srv.url) as client, pytest.raises(k8spb.DecodeError, match=f"GET {PATH}: .*nested too deeply"):
        for event in _watch(client):
            seen.append(event.object.metadata.name)
    assert seen == ["one"]
    with pytest.raises(k8spb.DecodeError, match=f"GET {PATH}: .*nested too deeply"):
        asyncio.run(_awatch(srv.url))


def test_a_bad_event_after_a_good_one_is_raised_at_once_on_an_idle_stream(hostile: Any) -> None:
    def handler(conn: socket.socket, _: bytes) -> None:
        conn.sendall(WATCH_HEAD + b"\r\n" + _chunk(_event("one") + b"{not json}\n"))
        srv.idle()  # the stream stays open and quiet: the error must not wait for more bytes

    srv = hostile(handler)
    seen: list[str | None] = []
    for run in ("sync", "async"):
        started = time.monotonic()
        with pytest.raises(k8spb.DecodeError, match=f"GET {PATH}: invalid JSON watch event"):
            if run == "sync":
                with _client(srv.url) as client:
                    for event in _watch(client):
                        seen.append(event.object.metadata.name)
            else:
                asyncio.run(_awatch(srv.url))
        assert time.monotonic() - started < 5, run  # the read timeout would be 90 s
    assert seen == ["one"]


# -- 3, 4, 5: compression and sizes ------------------------------------------------------------------------


def _send_cm(conn: socket.socket, body: bytes, *, gzipped: bool = False) -> None:
    extra = b"Content-Encoding: gzip\r\n" if gzipped else b""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra +
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)


CM = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}}).encode()


def test_disable_compression_is_honoured(hostile: Any) -> None:
    srv = hostile(lambda c, _: _send_cm(c, CM))
    with _client(srv.url) as client:
        Api(client, ConfigMap, namespace="default").get("x")
    with _client(srv.url, disable_compression=True) as client:
        Api(client, ConfigMap, namespace="default").get("x")
    asks = [b"accept-encoding: gzip" in head.lower() for head in srv.heads]
    assert asks == [True, False]
    text = ("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: URL\n"
            "    disable-compression: true\ncontexts:\n- name: c\n  context: {cluster: c}\ncurrent-context: c\n")
    assert Config.from_kubeconfig_text(text.replace("URL", srv.url)).disable_compression


def test_gzip_bomb_stops_at_the_decompressed_limit(hostile: Any) -> None:
    bomb = gzip.compress(b'{"apiVersion":"v1","kind":"ConfigMap","data":{"k":"' + b"a" * (64 << 20) + b'"}}')
    assert len(bomb) < 100_000
    srv = hostile(lambda c, _: _send_cm(c, bomb, gzipped=True))
    with _client(srv.url, max_decompressed_bytes=8 << 20) as client, pytest.raises(
            k8spb.TransportError, match=r"GET .*/configmaps/x: .*Config\.max_decompressed_bytes \(8,388,608 bytes"):
        Api(client, ConfigMap, namespace="default").get("x")
    with _client(srv.url) as client:  # under the (generous) default it decodes
        assert len(Api(client, ConfigMap, namespace="default").get("x").data["k"]) == 64 << 20


def test_endless_chunked_list_stops_at_the_response_limit(hostile: Any) -> None:
    def handler(conn: socket.socket, _: bytes) -> None:
        conn.sendall(WATCH_HEAD + b"\r\n" + _chunk(b'{"items":['))
        piece = _chunk(b'{"kind":"ConfigMap"},' * 5000)
        while not srv.stop.is_set():
            conn.sendall(piece)

    srv = hostile(handler)
    for run in ("sync", "async"):
        with pytest.raises(k8spb.TransportError, match=rf"GET {PATH}: .*Config\.max_response_bytes \(4,194,304"):
            if run == "sync":
                with _client(srv.url, max_response_bytes=4 << 20) as client:
                    Api(client, ConfigMap, namespace="default").list()
            else:
                async def main() -> None:
                    async with AsyncClient(Config(srv.url, max_response_bytes=4 << 20), max_retries=0) as client:
                        await AsyncApi(client, ConfigMap, namespace="default").list()

                asyncio.run(main())


def test_gzip_encoded_watch_is_decoded(hostile: Any) -> None:
    def handler(conn: socket.socket, _: bytes) -> None:
        z = zlib.compressobj(wbits=31)
        out = WATCH_HEAD + b"Content-Encoding: gzip\r\n\r\n"
        for name in ("one", "two", "three"):
            out += _chunk(z.compress(_event(name)) + z.flush(zlib.Z_SYNC_FLUSH))
        conn.sendall(out + _chunk(z.flush()) + b"0\r\n\r\n")

    srv = hostile(handler)
    with _client(srv.url) as client:
        assert [e.object.metadata.name for e in _watch(client)] == ["one", "two", "three"]
    assert asyncio.run(_awatch(srv.url)) == ["one", "two", "three"]


# -- 6: deadline and read timeout --------------------------------------------------------------------------


def test_timeout_is_a_deadline_for_the_whole_request(hostile: Any) -> None:
    def drip(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(CM))
        for byte in CM:
            if srv.stop.wait(0.1):
                return
            conn.sendall(bytes([byte]))

    srv = hostile(drip)  # the whole answer would take ~8 s, no read waiting more than 0.1 s
    for run in ("sync", "async"):
        started = time.monotonic()
        with pytest.raises(k8spb.RequestTimeout, match=r"GET .*/configmaps/x: timed out: not done within "
                                                       r"Config\.timeout \(1 s"):
            if run == "sync":
                with _client(srv.url, timeout=1.0) as client:
                    Api(client, ConfigMap, namespace="default").get("x")
            else:
                async def main() -> None:
                    async with AsyncClient(Config(srv.url, timeout=1.0), max_retries=0) as client:
                        await AsyncApi(client, ConfigMap, namespace="default").get("x")

                asyncio.run(main())
        assert time.monotonic() - started < 2.5, run


def test_read_timeout_bounds_one_silence(hostile: Any) -> None:
    def stall(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        srv.idle()

    srv = hostile(stall)
    started = time.monotonic()
    with _client(srv.url, timeout=20.0, read_timeout=0.5) as client, pytest.raises(
            k8spb.RequestTimeout, match=r"no data within Config\.read_timeout \(0\.5 s"):
        Api(client, ConfigMap, namespace="default").get("x")
    assert time.monotonic() - started < 5


# -- 7: a 2xx carrying a failed Status ---------------------------------------------------------------------


def test_success_status_code_with_a_failure_status_is_an_api_error(hostile: Any) -> None:
    failure = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": "etcd said no", "reason": "Conflict", "code": 409}).encode()
    srv = hostile(lambda c, _: _send_cm(c, failure))
    with _client(srv.url) as client:
        api = Api(client, ConfigMap, namespace="default")
        with pytest.raises(k8spb.Conflict, match=r"DELETE .*/configmaps/x .*409 Conflict: etcd said no"):
            api.delete("x")
        with pytest.raises(k8spb.Conflict, match=r"GET .*/configmaps/x .*etcd said no"):
            api.get("x")


# -- 8: writes whose answer was lost -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as srv:
        yield srv


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_cut_writes_are_resent_only_when_safe_and_ambiguity_is_reported(server: ApiServer, asynchronous: bool) -> None:
    tag = "a" if asynchronous else "s"

    async def run() -> None:
        async with AsyncClient(Config.from_kubeconfig(server.kubeconfig_path), backoff=0.01) as client:
            api = AsyncApi(client, ConfigMap, namespace="default")
            made = await api.create(ConfigMap(metadata=ObjectMeta(name=f"cut-{tag}"), data={"v": "1"}))
            made.data = {"v": "2"}
            server.cut_next()  # applied, answer cut: the resend's 409 is the first attempt's doing
            with pytest.raises(k8spb.TransportError, match=r"PUT .*/cut-a: outcome unknown: .*may have been "
                                                           r"applied; the retry then got 409 Conflict"):
                await api.replace(f"cut-{tag}", made)
            assert (await api.get(f"cut-{tag}")).data == {"v": "2"}
            server.cut_next()  # a delete the resend finds gone
            with pytest.raises(k8spb.TransportError, match=r"DELETE .*/cut-a: outcome unknown: .*404 NotFound"):
                await api.delete(f"cut-{tag}", DeleteParams())
            assert await api.get_opt(f"cut-{tag}") is None
            server.cut_next()  # never resent
            with pytest.raises(k8spb.TransportError, match=r"POST .*/configmaps: .*may have been applied"):
                await api.create(ConfigMap(metadata=ObjectMeta(name=f"cut-{tag}-new")))
            assert await api.get_opt(f"cut-{tag}-new") is not None

    if asynchronous:
        asyncio.run(run())
        return
    with Client(Config.from_kubeconfig(server.kubeconfig_path), backoff=0.01) as client:
        api = Api(client, ConfigMap, namespace="default")
        made = api.create(ConfigMap(metadata=ObjectMeta(name=f"cut-{tag}"), data={"v": "1"}))
        made.data = {"v": "2"}
        server.cut_next()
        with pytest.raises(k8spb.TransportError, match=r"PUT .*/cut-s: outcome unknown: .*may have been applied; "
                                                       r"the retry then got 409 Conflict"):
            api.replace(f"cut-{tag}", made)
        assert api.get(f"cut-{tag}").data == {"v": "2"}
        server.cut_next()
        with pytest.raises(k8spb.TransportError, match=r"DELETE .*/cut-s: outcome unknown: .*404 NotFound"):
            api.delete(f"cut-{tag}")
        assert api.get_opt(f"cut-{tag}") is None
        server.cut_next()
        with pytest.raises(k8spb.TransportError, match=r"POST .*/configmaps: .*may have been applied"):
            api.create(ConfigMap(metadata=ObjectMeta(name=f"cut-{tag}-new")))
        assert api.get_opt(f"cut-{tag}-new") is not None


def test_a_write_that_never_reached_the_server_is_resent() -> None:
    """A refused connection sent nothing: even a create is safe to send again (and is not "maybe applied")."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    calls = []

    class Count:
        def on_request(self, request: k8spb.Request) -> k8spb.Request:
            calls.append(request.method)
            return request

        def on_response(self, request: k8spb.Request, status: int, elapsed: float) -> None:
            pass

    with Client(Config(f"http://127.0.0.1:{port}"), max_retries=2, backoff=0.01, middleware=[Count()]) as client, \
            pytest.raises(k8spb.TransportError, match=r"POST .*/configmaps: ConnectError") as caught:
        Api(client, ConfigMap, namespace="default").create(ConfigMap(metadata=ObjectMeta(name="x")))
    assert calls == ["POST"] * 3
    assert "may have been applied" not in str(caught.value)


def test_followed_log_lines_from_a_gzip_stream(hostile: Any) -> None:
    """Lines split anywhere, CRLF or LF, blank lines kept, the last one without its newline."""
    text = "one\r\n\ntwo é\nthree"

    def handler(conn: socket.socket, _: bytes) -> None:
        data = gzip.compress(text.encode())
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        conn.sendall(head + b"".join(_chunk(data[i:i + 3]) for i in range(0, len(data), 3)) + b"0\r\n\r\n")

    srv = hostile(handler)
    with _client(srv.url) as client:
        assert list(Api(client, Pod, namespace="default").log_stream("p")) == ["one", "", "two é", "three"]


def test_an_unconditional_replace_is_resent_after_a_cut_answer(server: ApiServer) -> None:
    """Without a resourceVersion a replace cannot fail for having been applied once: it is resent and succeeds."""
    with Client(Config.from_kubeconfig(server.kubeconfig_path), backoff=0.01) as client:
        api = Api(client, ConfigMap, namespace="default")
        api.create(ConfigMap(metadata=ObjectMeta(name="unconditional"), data={"v": "1"}))
        server.cut_next(verb="update")
        got = api.replace("unconditional", ConfigMap(metadata=ObjectMeta(name="unconditional"), data={"v": "2"}))
        assert got.data == {"v": "2"} and server.pending_faults() == 0
