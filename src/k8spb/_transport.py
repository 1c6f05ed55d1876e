"""httpcore connection pools whose sockets read in bulk, and the clock of a request's deadline.

httpcore reads 64 KiB per call (16 KiB, one TLS record, over TLS), and each read goes through h11 in
Python. A large list or a busy watch is megabytes, so k8spb's transports grow the read size while
reads come back full (64 KiB -> 256 KiB) and fall back to 64 KiB once they do not, so small
responses keep small buffers. Over TLS the sync transport's reads also take the records already
waiting on the socket, without blocking, up to the same size.

Over HTTP/1.1 a read that reaches the end of a response head stops there (the rest is kept for the
next read), so when httpcore hands over a response none of its body has gone to h11 yet, and
:func:`chunked_body` can read a chunked body straight from the socket: h11 spends several Python
events on each chunk, and Go's server writes two chunks for every large watch event.

These pools carry streams (watches, followed logs, WebSocket upgrades) and every request that goes
through a proxy or HTTP/2; whole answers over direct connections take :mod:`k8spb._http1`. Pooling,
proxies, HTTP/2 and errors stay httpcore's own; k8spb builds its requests for httpcore directly
(httpx's URL parsing and models cost more than the rest of a small request). A request's deadline
(:data:`DEADLINE`, set by the client) bounds every connect, read and write made for it, so a server
sending a byte at a time cannot stretch it.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import httpcore
from httpcore._utils import is_socket_readable

from k8spb._body import header
from k8spb._chunked import Dechunker

__all__ = ["CONNECTIONS", "DEADLINE", "HTTP_ERRORS", "async_chunked_body", "async_pool", "chunked_body", "clamp",
           "pool"]

_SMALL = 64 * 1024
_LARGE = 256 * 1024  # 1 MiB measured slower (alternating A/B in one process, commit 8b1303c)
_RECORD = 16 * 1024  # the most plaintext one TLS record carries
_WOULD_BLOCK = (httpcore.ReadError, httpcore.ReadTimeout)  # how a non-blocking read says "nothing yet"

HTTP_ERRORS = (httpcore.NetworkError, httpcore.TimeoutException, httpcore.ProtocolError, httpcore.ProxyError,
               httpcore.UnsupportedProtocol)
"""Everything httpcore raises for a request that got no (whole) answer."""

DEADLINE: ContextVar[float | None] = ContextVar("k8spb_deadline", default=None)
"""The ``time.monotonic()`` by which the current request must be done (None: no deadline)."""


def clamp(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of the current deadline; ``error`` once it has passed."""
    deadline = DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the request's deadline passed (Config.timeout)")
    return left if timeout is None or left < timeout else timeout


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


class _HeadCut:
    """Where a response head ends in what a stream reads after a request went out."""

    __slots__ = ("at_body", "awaiting", "stash", "tail")

    def __init__(self) -> None:
        self.awaiting = False  # a request went out; its response head has not ended yet
        self.tail = b""  # the last bytes of the head so far: its end may straddle two reads
        self.stash = b""  # read past the end of a head: the next read returns it
        self.at_body = False  # the last read ended exactly at the end of a head

    def request_sent(self) -> None:
        self.awaiting, self.tail = True, b""

    def take(self) -> bytes:
        """The stashed bytes (emptied); ends ``at_body`` either way."""
        data, self.stash, self.at_body = self.stash, b"", False
        return data

    def cut(self, data: bytes) -> bytes:
        """``data`` up to the end of the awaited head, keeping the rest; all of ``data`` if no head ends in it."""
        tail = self.tail
        seen = tail + data if tail else data
        end = seen.find(b"\r\n\r\n")
        if end < 0:
            self.tail = seen[-3:]
            return data
        end += 4 - len(tail)
        self.awaiting, self.tail, self.at_body = False, b"", True
        self.stash = data[end:]
        return data[:end]


class _Wrapped:
    """What the sync and async streams share: the read size, the head cut, the extra info passed on.

    The socket and TLS object are looked up once: httpcore's pool asks whether every idle connection
    is readable each time a request comes or goes, and anyio rebuilds its attribute table per question.
    """

    def __init__(self, inner: httpcore.NetworkStream | httpcore.AsyncNetworkStream) -> None:
        self._size = _ReadSize()
        self._ssl = inner.get_extra_info("ssl_object")
        self._sock = inner.get_extra_info("socket")
        self.head = _HeadCut() if self._ssl is None or self._ssl.selected_alpn_protocol() != "h2" else None
        self._extra = inner.get_extra_info

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            if self.head is not None and self.head.stash:
                return True
            if self._sock is not None:
                return is_socket_readable(self._sock)
        elif info == "ssl_object":
            return self._ssl
        return self._extra(info)


class _Stream(_Wrapped, httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        super().__init__(inner)
        self._inner = inner
        self._tls = self._ssl is not None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout = clamp(timeout, httpcore.ReadTimeout)
        head = self.head
        if head is None:
            return self._read(max_bytes, timeout)
        data = head.take() or self._read(max_bytes, timeout)
        return head.cut(data) if head.awaiting and data else data

    def _read(self, max_bytes: int, timeout: float | None) -> bytes:
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
        timeout = clamp(timeout, httpcore.WriteTimeout)
        if self.head is not None:
            self.head.request_sent()
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        timeout = clamp(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))


class _AsyncStream(_Wrapped, httpcore.AsyncNetworkStream):
    # No draining over TLS here: anyio's TLS stream already holds whatever the socket had, and asking it
    # for more without waiting means a cancelled read, which measured slower than not asking.
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        super().__init__(inner)
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout = clamp(timeout, httpcore.ReadTimeout)
        head = self.head
        if head is None:
            return await self._read(max_bytes, timeout)
        data = head.take() or await self._read(max_bytes, timeout)
        return head.cut(data) if head.awaiting and data else data

    async def _read(self, max_bytes: int, timeout: float | None) -> bytes:
        size = max(max_bytes, self._size.size)
        data = await self._inner.read(size, timeout)
        self._size.update(size, len(data))
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        timeout = clamp(timeout, httpcore.WriteTimeout)
        if self.head is not None:
            self.head.request_sent()
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        timeout = clamp(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))


W = TypeVar("W", _Stream, _AsyncStream)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        timeout = clamp(timeout, httpcore.ConnectTimeout)
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
        timeout = clamp(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


CONNECTIONS = 100
"""The most connections a pool opens to the server (httpx's default)."""

_LIMITS: dict[str, Any] = {"max_connections": CONNECTIONS, "max_keepalive_connections": 20, "keepalive_expiry": 5.0,
                           "socket_options": [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]}
"""httpx's limits, which k8spb had before it built requests for httpcore itself, and no Nagle delay (as
Go dials, and asyncio's transports do): with it a small request's answer waits for a delayed ACK."""


def _proxy(url: str | None) -> httpcore.Proxy | None:
    """httpcore's Proxy for a proxy URL; a password in it becomes a Proxy-Authorization header."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return httpcore.Proxy(url)
    plain = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return httpcore.Proxy(plain, auth=(unquote(parts.username or ""), unquote(parts.password or "")))


def pool(*, verify: ssl.SSLContext, proxy: str | None, http2: bool) -> httpcore.ConnectionPool:
    """A connection pool for these settings, reading in bulk."""
    return httpcore.ConnectionPool(ssl_context=verify, proxy=_proxy(proxy), http2=http2,
                                   network_backend=_Backend(httpcore.SyncBackend()), **_LIMITS)


def async_pool(*, verify: ssl.SSLContext, proxy: str | None, http2: bool) -> httpcore.AsyncConnectionPool:
    """An asyncio connection pool for these settings, reading in bulk."""
    return httpcore.AsyncConnectionPool(ssl_context=verify, proxy=_proxy(proxy), http2=http2,
                                        network_backend=_AsyncBackend(httpcore.AnyIOBackend()), **_LIMITS)


def _claim(response: httpcore.Response, kind: type[W]) -> W | None:
    """The stream under a chunked HTTP/1.1 response none of whose body has been read (once), else None."""
    stream = response.extensions.get("network_stream")
    if not isinstance(stream, kind) or stream.head is None or not stream.head.at_body:
        return None
    if (response.extensions.get("http_version") != b"HTTP/1.1" or header(response.headers, b"content-encoding")
            or (header(response.headers, b"transfer-encoding") or "").strip().lower() != "chunked"):
        return None
    stream.head.at_body = False  # claimed: a second call gets None
    return stream


def _dechunked(dechunker: Dechunker, data: bytes) -> bytes:
    if not data:
        raise httpcore.RemoteProtocolError("peer closed connection without sending complete message body "
                                           "(incomplete chunked read)")
    return dechunker.feed(data)


def chunked_body(response: httpcore.Response, timeout: float | None) -> Iterator[bytes] | None:
    """The payload of a streamed chunked response, read from its socket without h11; None if it cannot be.

    Errors are httpcore's (ReadTimeout, ReadError, RemoteProtocolError), or k8spb's TransportError for
    malformed framing. Closing the response afterwards closes the connection (h11 never saw its end).
    """
    stream = _claim(response, _Stream)
    if stream is None:
        return None

    def payload() -> Iterator[bytes]:
        dechunker = Dechunker()
        while not dechunker.done:
            chunk = _dechunked(dechunker, stream.read(_SMALL, timeout))
            if chunk:
                yield chunk
            if dechunker.error is not None:
                raise dechunker.error

    return payload()


def async_chunked_body(response: httpcore.Response, timeout: float | None) -> AsyncIterator[bytes] | None:
    """:func:`chunked_body` for AsyncClient's responses."""
    stream = _claim(response, _AsyncStream)
    if stream is None:
        return None

    async def payload() -> AsyncIterator[bytes]:
        dechunker = Dechunker()
        while not dechunker.done:
            chunk = _dechunked(dechunker, await stream.read(_SMALL, timeout))
            if chunk:
                yield chunk
            if dechunker.error is not None:
                raise dechunker.error

    return payload()
