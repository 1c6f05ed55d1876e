"""httpx transports whose sockets read in bulk while a response streams in.

httpcore reads 64 KiB per call (16 KiB, one TLS record, over TLS), and each read goes through h11 in
Python. A large list or a busy watch is megabytes, so k8spb's transports grow the read size while
reads come back full (64 KiB -> 256 KiB -> 1 MiB) and fall back to 64 KiB once they do not, so small
responses keep small buffers. Over TLS the sync transport's reads also take the records already
waiting on the socket, without blocking, up to the same size.

The read size is the only change: connection pooling, proxies, HTTP/2 and errors are httpx's own.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpcore
import httpx

__all__ = ["async_transport", "transport"]

_SMALL = 64 * 1024
_LARGE = 1024 * 1024
_RECORD = 16 * 1024  # the most plaintext one TLS record carries
_WOULD_BLOCK = (httpcore.ReadError, httpcore.ReadTimeout)  # how a non-blocking read says "nothing yet"


class _ReadSize:
    """The size of the next read: grows while reads fill it, back to 64 KiB when one does not."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size = _SMALL

    def update(self, asked: int, got: int) -> None:
        if got >= asked:
            self.size = min(asked * 4, _LARGE)
        elif got < _SMALL:
            self.size = _SMALL


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._size = _ReadSize()
        self._tls = inner.get_extra_info("ssl_object") is not None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        size = max(max_bytes, self._size.size)
        if not self._tls:
            data = self._inner.read(size, timeout)
        else:
            data = self._inner.read(min(size, _SMALL), timeout)
            if len(data) >= _RECORD:  # a full record: more are likely waiting
                data = self._drain(data, size)
        self._size.update(size, len(data))
        return data

    def _drain(self, first: bytes, size: int) -> bytes:
        parts, total = [first], len(first)
        while total < size:
            try:
                more = self._inner.read(min(size - total, _SMALL), 0.0)  # 0: never wait
            except _WOULD_BLOCK:  # nothing waiting (or a real error, which the next read raises again)
                break
            if not more:
                break
            parts.append(more)
            total += len(more)
        return first if len(parts) == 1 else b"".join(parts)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncStream(httpcore.AsyncNetworkStream):
    # No draining over TLS here: anyio's TLS stream already holds whatever the socket had, and asking it
    # for more without waiting means a cancelled read, which measured slower than not asking.
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._size = _ReadSize()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        size = max(max_bytes, self._size.size)
        data = await self._inner.read(size, timeout)
        self._size.update(size, len(data))
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _bulk(pool: Any, wrap: type[_Backend] | type[_AsyncBackend]) -> None:
    # httpx builds the httpcore pool (plain, HTTP proxy or SOCKS) without a network_backend argument;
    # the pool keeps its backend in one attribute, read when it opens a connection.
    inner = getattr(pool, "_network_backend", None)
    if inner is not None and not isinstance(inner, wrap):
        pool._network_backend = wrap(inner)


def transport(*, verify: ssl.SSLContext, proxy: str | None, http2: bool) -> httpx.HTTPTransport:
    """httpx's transport for these settings, reading in bulk."""
    out = httpx.HTTPTransport(verify=verify, proxy=proxy, http2=http2, trust_env=False)
    _bulk(out._pool, _Backend)
    return out


def async_transport(*, verify: ssl.SSLContext, proxy: str | None, http2: bool) -> httpx.AsyncHTTPTransport:
    """httpx's async transport for these settings, reading in bulk."""
    out = httpx.AsyncHTTPTransport(verify=verify, proxy=proxy, http2=http2, trust_env=False)
    _bulk(out._pool, _AsyncBackend)
    return out
