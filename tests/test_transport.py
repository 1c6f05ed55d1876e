"""Bulk reads: the read-size policy, the TLS drain on scripted streams, and both clients over real sockets."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpcore
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8spb import Api, AsyncApi, AsyncClient, Client, Config, TransportError
from k8spb._transport import (
    _LARGE,
    _RECORD,
    _SMALL,
    _AsyncBackend,
    _Backend,
    _ReadSize,
    _Stream,
    async_chunked_body,
    async_pool,
    chunked_body,
    pool,
)
from k8spb.api.core.v1 import ConfigMap
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta
from k8spb.testing import ApiServer


def test_read_size_grows_while_reads_fill_and_falls_back_when_they_do_not() -> None:
    size = _ReadSize()
    assert size.size == _SMALL
    size.update(_SMALL, _SMALL)
    assert size.size == 4 * _SMALL
    size.update(4 * _SMALL, 4 * _SMALL)
    size.update(_LARGE, _LARGE)
    assert size.size == _LARGE  # capped
    size.update(_LARGE, _LARGE // 2)  # a large partial read keeps the size
    assert size.size == _LARGE
    size.update(_LARGE, 100)  # a small one: back to the start
    assert size.size == _SMALL


class _Scripted(httpcore.NetworkStream):
    """A stream handing out queued records; a read that may not wait fails when none is queued."""

    def __init__(self, records: list[bytes], *, tls: bool, alpn: str = "http/1.1") -> None:
        self.records = list(records)
        self.tls, self.alpn = tls, alpn
        self.asked: list[tuple[int, float | None]] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.asked.append((max_bytes, timeout))
        if not self.records:
            if timeout == 0:
                raise httpcore.ReadError("[Errno 11] Resource temporarily unavailable")
            return b""  # end of stream
        record = self.records.pop(0)
        if len(record) > max_bytes:
            self.records.insert(0, record[max_bytes:])
            record = record[:max_bytes]
        return record

    def get_extra_info(self, info: str) -> Any:
        return _Tls(self.alpn) if info == "ssl_object" and self.tls else None

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        pass


class _Tls:
    def __init__(self, alpn: str) -> None:
        self.alpn = alpn

    def selected_alpn_protocol(self) -> str:
        return self.alpn


def _read_all(stream: _Stream) -> list[bytes]:
    out = []
    while data := stream.read(65536, 5.0):
        out.append(data)
    return out


def test_tls_read_takes_the_waiting_records_without_waiting_for_more() -> None:
    records = [bytes([i]) * _RECORD for i in range(6)] + [b"tail"]
    inner = _Scripted(records, tls=True)
    reads = _read_all(_Stream(inner))
    assert b"".join(reads) == b"".join(records)
    # the first read fills its 64 KiB with four records, so the next may take 256 KiB: the rest
    assert reads == [b"".join(records[:4]), b"".join(records[4:])]
    assert all(t in (5.0, 0.0) for _, t in inner.asked)
    assert any(t == 0.0 for _, t in inner.asked)


def test_tls_read_of_a_short_record_does_not_look_for_more() -> None:
    inner = _Scripted([b"x" * 100, b"y" * _RECORD], tls=True)
    stream = _Stream(inner)
    assert stream.read(65536, 5.0) == b"x" * 100
    assert inner.asked == [(_SMALL, 5.0)]


def test_plain_read_asks_for_the_grown_size() -> None:
    inner = _Scripted([b"a" * (8 * _LARGE)], tls=False)
    stream = _Stream(inner)
    sizes = [len(stream.read(65536, 5.0)) for _ in range(5)]
    assert sizes == [_SMALL, 4 * _SMALL, _LARGE, _LARGE, _LARGE]


_SIZES = st.one_of(st.integers(1, 200), st.just(_RECORD), st.integers(_RECORD - 10, 3 * _RECORD))


@settings(max_examples=200, deadline=None)
@given(st.lists(_SIZES, max_size=80), st.booleans())
def test_no_byte_is_lost_or_reordered(sizes: list[int], tls: bool) -> None:
    records = [i.to_bytes(2, "big") * (n // 2) + b"!" * (n % 2) for i, n in enumerate(sizes)]
    assert b"".join(_read_all(_Stream(_Scripted(records, tls=tls)))) == b"".join(records)


HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
RESPONSE = HEAD + b"5\r\nhello\r\n0\r\n\r\n"


def test_a_read_after_a_request_ends_at_the_end_of_the_response_head() -> None:
    for i in range(1, len(RESPONSE)):  # the head's end may straddle reads anywhere
        stream = _Stream(_Scripted([RESPONSE[:i], RESPONSE[i:]], tls=False))
        stream.write(b"GET / HTTP/1.1\r\n\r\n")
        reads = _read_all(stream)
        assert b"".join(reads) == RESPONSE, i
        assert len(HEAD) in {sum(map(len, reads[:k])) for k in range(len(reads) + 1)}, i


def test_at_body_only_between_the_head_and_the_next_read() -> None:
    stream = _Stream(_Scripted([RESPONSE], tls=False))
    assert stream.head is not None
    stream.write(b"GET / HTTP/1.1\r\n\r\n")
    assert stream.read(65536, 5.0) == HEAD and stream.head.at_body
    assert stream.read(65536, 5.0) == RESPONSE[len(HEAD):] and not stream.head.at_body


def test_no_cut_without_a_request_nor_over_http2() -> None:
    stream = _Stream(_Scripted([RESPONSE], tls=False))
    assert stream.read(65536, 5.0) == RESPONSE  # no request went out: not a response head
    h2 = _Stream(_Scripted([RESPONSE], tls=True, alpn="h2"))
    h2.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert h2.head is None and h2.read(65536, 5.0) == RESPONSE


# -- real sockets --------------------------------------------------------------------------------------


class _Recording(httpcore.NetworkBackend):
    """The default backend, noting every read's size and timeout (and what came back)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads: list[tuple[int, float | None, int]] = []

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _RecordingStream(self, self.inner.connect_tcp(*args, **kwargs))


class _RecordingStream(httpcore.NetworkStream):
    def __init__(self, backend: _Recording, inner: httpcore.NetworkStream) -> None:
        self.backend, self.inner = backend, inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self.inner.read(max_bytes, timeout)
        self.backend.reads.append((max_bytes, timeout, len(data)))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, timeout)

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _RecordingStream(self.backend, self.inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


BIG = "x" * 20_000
COUNT = 64


@pytest.fixture(scope="module", params=[False, True], ids=["http", "https"])
def srv(request: pytest.FixtureRequest) -> Iterator[ApiServer]:
    if request.param:
        pytest.importorskip("cryptography")
    with ApiServer(tls=request.param) as s, Client(Config.from_kubeconfig(s.kubeconfig_path)) as c:
        api = Api(c, ConfigMap, namespace="default")
        for i in range(COUNT):
            api.create(ConfigMap(metadata=ObjectMeta(name=f"big-{i:02d}"), data={"blob": BIG, "i": str(i)}))
        yield s


def _installed(client: Client | AsyncClient) -> Any:
    backend = client._pool._network_backend
    assert isinstance(backend, (_Backend, _AsyncBackend)), "httpcore no longer takes k8spb's bulk reads"
    return client._pool


def test_sync_client_reads_large_responses_in_bulk(srv: ApiServer) -> None:
    with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
        installed = _installed(client)
        recording = _Recording(installed._network_backend._inner)
        installed._network_backend = _Backend(recording)
        api = Api(client, ConfigMap, namespace="default")
        listed = api.list()
        assert [(cm.metadata.name, cm.data) for cm in listed.items] == [
            (f"big-{i:02d}", {"blob": BIG, "i": str(i)}) for i in range(COUNT)]
        events = api.watch(resource_version="0", timeout_seconds=30)
        added = [next(events)]
        time.sleep(0.2)  # let the stream's bytes pile up on the socket
        for event in events:
            added.append(event)
            if len(added) == COUNT:
                break
        assert sorted((e.type, e.object.metadata.name, e.object.data["i"]) for e in added) == [
            ("ADDED", f"big-{i:02d}", str(i)) for i in range(COUNT)]
        assert all(e.object.data["blob"] == BIG for e in added)
        if srv.tls:
            assert any(timeout == 0 for _, timeout, _ in recording.reads), "no TLS read took waiting records"
            assert max(asked for asked, _, _ in recording.reads) <= _SMALL  # one record at most per recv
        else:
            assert max(asked for asked, _, _ in recording.reads) > _SMALL


def test_async_client_reads_in_bulk_and_intact(srv: ApiServer) -> None:
    async def main() -> list[tuple[str, dict[str, str]]]:
        async with AsyncClient(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
            _installed(client)
            listed = await AsyncApi(client, ConfigMap, namespace="default").list()
            return [(cm.metadata.name, cm.data) for cm in listed.items]

    assert asyncio.run(main()) == [(f"big-{i:02d}", {"blob": BIG, "i": str(i)}) for i in range(COUNT)]


@pytest.mark.parametrize("proxy", [None, "http://127.0.0.1:3128", "socks5://127.0.0.1:1080",
                                   "http://user:pa%40ss@127.0.0.1:3128"])
def test_every_pool_kind_gets_bulk_reads(proxy: str | None) -> None:
    out = pool(verify=ssl.create_default_context(), proxy=proxy, http2=False)
    assert isinstance(out._network_backend, _Backend)
    if proxy and "@" in proxy:  # the user info becomes a header, never part of the URL httpcore shows
        assert out._proxy.url.host == b"127.0.0.1" and out._proxy.auth == (b"user", b"pa@ss")


# -- chunked bodies read straight from the socket ----------------------------------------------------


def _contexts(srv: ApiServer) -> dict[str, Any]:
    verify = ssl.create_default_context(cadata=srv.ca_pem.decode()) if srv.tls else ssl.create_default_context()
    return {"verify": verify, "proxy": None, "http2": False}


PATH = "/api/v1/namespaces/default/configmaps"
WATCH = PATH + "?watch=true&resourceVersion=0&timeoutSeconds=1"


def _headers(srv: ApiServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {srv.token}", "Accept": "application/vnd.kubernetes.protobuf"}


def test_chunked_body_reads_the_bytes_h11_reads(srv: ApiServer) -> None:
    with pool(**_contexts(srv)) as http:
        with http.stream("GET", srv.url + WATCH, headers=_headers(srv)) as r:
            body = chunked_body(r, 10.0)
            assert body is not None
            assert chunked_body(r, 10.0) is None  # claimed once
            ours = b"".join(body)
        with http.stream("GET", srv.url + WATCH, headers=_headers(srv)) as r:
            theirs = b"".join(r.iter_stream())  # through h11
        assert ours == theirs and len(ours) > COUNT * len(BIG)
        listed = http.request("GET", srv.url + PATH, headers=_headers(srv))  # the connection is not reused wrongly
        assert listed.status == 200 and (b"Transfer-Encoding", b"chunked") not in listed.headers
        with http.stream("GET", srv.url + PATH, headers=_headers(srv)) as r:
            assert chunked_body(r, 10.0) is None  # a Content-Length body is left to httpcore


def test_async_chunked_body_reads_the_bytes_h11_reads(srv: ApiServer) -> None:
    async def main() -> tuple[bytes, bytes]:
        async with async_pool(**_contexts(srv)) as http:
            async with http.stream("GET", srv.url + WATCH, headers=_headers(srv)) as r:
                body = async_chunked_body(r, 10.0)
                assert body is not None
                ours = b"".join([part async for part in body])
            async with http.stream("GET", srv.url + WATCH, headers=_headers(srv)) as r:
                theirs = b"".join([part async for part in r.aiter_stream()])
            return ours, theirs

    ours, theirs = asyncio.run(main())
    assert ours == theirs and len(ours) > COUNT * len(BIG)


def _serve_once(response: bytes) -> str:
    """A server that answers one request with ``response`` and hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener, listener.accept()[0] as conn:
            seen = b""
            while b"\r\n\r\n" not in seen:
                seen += conn.recv(4096)
            conn.sendall(response)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def _event(name: str) -> bytes:
    line = json.dumps({"type": "ADDED", "object": {"apiVersion": "v1", "kind": "ConfigMap",
                                                   "metadata": {"name": name}}}).encode() + b"\n"
    return b"%x\r\n" % len(line) + line + b"\r\n"


JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(("tail", "error"), [
    (b"zz\r\n", r"malformed chunked response body at byte \d+: bad chunk size line b'zz'"),
    (b"40\r\n{\"type\":", "peer closed connection without sending complete message body"),
    (b"", "peer closed connection without sending complete message body"),
])
def test_bad_chunked_watch_yields_what_came_whole_then_names_the_request(tail: bytes, error: str) -> None:
    url = _serve_once(JSON_HEAD + _event("one") + _event("two") + tail)
    with Client(Config(url), max_retries=0) as client:
        seen = []
        with pytest.raises(TransportError, match=error) as caught:
            for event in Api(client, ConfigMap, namespace="default").watch():
                seen.append(event.object.metadata.name)
    assert seen == ["one", "two"]
    assert "GET /api/v1/namespaces/default/configmaps" in str(caught.value)


def test_json_watch_events_larger_than_a_decoding_step(srv: ApiServer) -> None:
    """The client decodes JSON streams 16 KiB at a time; 20 KiB events span several steps."""
    with Client(Config.from_kubeconfig(srv.kubeconfig_path), prefer_protobuf=False) as client:
        events = Api(client, ConfigMap, namespace="default").watch(resource_version="0", timeout_seconds=30)
        added = []
        for event in events:
            added.append((event.object.metadata.name, event.object.data))
            if len(added) == COUNT:
                break
    assert sorted(added) == [(f"big-{i:02d}", {"blob": BIG, "i": str(i)}) for i in range(COUNT)]
