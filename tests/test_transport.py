"""Bulk reads: the read-size policy, the TLS drain on scripted streams, and both clients over real sockets."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpcore
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8spb import Api, AsyncApi, AsyncClient, Client, Config
from k8spb._transport import _LARGE, _RECORD, _SMALL, _AsyncBackend, _Backend, _ReadSize, _Stream, transport
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

    def __init__(self, records: list[bytes], *, tls: bool) -> None:
        self.records = list(records)
        self.tls = tls
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
        return object() if info == "ssl_object" and self.tls else None


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
    pool = client._http._transport._pool  # type: ignore[attr-defined]
    backend = pool._network_backend
    assert isinstance(backend, (_Backend, _AsyncBackend)), "httpx no longer takes k8spb's bulk reads"
    return pool


def test_sync_client_reads_large_responses_in_bulk(srv: ApiServer) -> None:
    with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
        pool = _installed(client)
        recording = _Recording(pool._network_backend._inner)
        pool._network_backend = _Backend(recording)
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


@pytest.mark.parametrize("proxy", [None, "http://127.0.0.1:3128", "socks5://127.0.0.1:1080"])
def test_every_pool_kind_gets_bulk_reads(proxy: str | None) -> None:
    if proxy and proxy.startswith("socks"):
        pytest.importorskip("socksio")
    out = transport(verify=ssl.create_default_context(), proxy=proxy, http2=False)
    assert isinstance(out._pool._network_backend, _Backend)
