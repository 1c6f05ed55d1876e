"""HTTP/1.1 keep-alive connections for whole exchanges (a request, then its whole answer), sync and async.

Most Kubernetes requests are small, and over httpcore each one costs ~250 us of Python in h11 and the
pool; here a request is one prepared write and its answer a head parsed with a few splits and a body
read by its Content-Length (or de-chunked by :class:`Dechunker`): the client's whole CPU cost of a small
GET, decoding included, is ~120 us (docs/benchmarks.md, issue 13). Only direct connections
(plain or TLS) are made here; proxies, HTTP/2 and streamed answers (watches, followed logs) stay
httpcore's. Errors are httpcore's exception types, so the client's retry policy reads both the same;
every connect, read and write is bounded by the request's deadline (:func:`k8spb._transport.clamp`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpcore
from httpcore._utils import is_socket_readable

from k8spb._chunked import Dechunker
from k8spb._transport import CONNECTIONS, clamp

__all__ = ["Answer", "AsyncPool", "Pool", "Sink"]

T = TypeVar("T")

_KEEPALIVE = 5.0  # seconds an idle connection is kept (httpx's default)
_SMALL, _LARGE = 64 * 1024, 256 * 1024
_MAX_HEAD = 1 << 20  # a response head longer than this is garbage
_NO_BODY = (204, 304)

Answer = tuple[int, list[tuple[bytes, bytes]]]
"""A response's status and raw headers."""

Sink = Callable[[int, list[tuple[bytes, bytes]]], Callable[[bytes], None]]
"""Told the status and headers, returns where the body's bytes go (decoding, limits: the client's)."""


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]], bool]:
    """Status, headers and whether the connection may be kept, from a response head (without its CRLFCRLF)."""
    lines = head.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code = rest[:3]
    if not (version.startswith(b"HTTP/1.") and len(code) == 3 and code.isdigit()):
        raise httpcore.RemoteProtocolError(f"malformed response status line {lines[0][:60]!r}")
    headers = []
    keep = version == b"HTTP/1.1"
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise httpcore.RemoteProtocolError(f"malformed response header line {line[:60]!r}")
        value = value.strip()
        headers.append((name, value))
        if name.lower() == b"connection":
            token = value.lower()
            keep = (keep and b"close" not in token) or (not keep and b"keep-alive" in token)
    return int(code), headers, keep


def _framing(method: bytes, status: int, headers: list[tuple[bytes, bytes]]) -> int | None:
    """The body's length: a Content-Length, 0 for no body, -1 for chunked, None for "until the peer closes"."""
    if method == b"HEAD" or status in _NO_BODY or status < 200:
        return 0
    length: int | None = None
    for name, value in headers:
        lname = name.lower()
        if lname == b"transfer-encoding":
            if value.lower().rsplit(b",", 1)[-1].strip() != b"chunked":
                raise httpcore.RemoteProtocolError(f"unsupported Transfer-Encoding {value[:40]!r}")
            return -1
        if lname == b"content-length":
            if not value.isdigit() or (length is not None and int(value) != length):
                raise httpcore.RemoteProtocolError(f"malformed Content-Length {value[:40]!r}")
            length = int(value)
    return length


class _Reader:
    """The sans-io side of one answer: a head then a body, from the bytes read off the connection."""

    __slots__ = ("buf", "dechunker", "done", "feed_body", "headers", "keep", "left", "method", "sink", "status")

    def __init__(self, method: bytes, sink: Sink) -> None:
        self.method, self.sink = method, sink
        self.buf = b""
        self.status, self.keep = 0, False
        self.headers: list[tuple[bytes, bytes]] = []
        self.left: int | None = None  # body bytes still to come; None: until the peer closes
        self.dechunker: Dechunker | None = None
        self.feed_body: Callable[[bytes], None] | None = None
        self.done = False

    def feed(self, data: bytes) -> None:
        """Take bytes read; :attr:`done` once the answer is whole. ``b""`` is the peer closing."""
        if self.feed_body is None:
            if not data:
                raise httpcore.RemoteProtocolError("Server disconnected without sending a response.")
            self.buf += data
            while self.feed_body is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > _MAX_HEAD:
                        raise httpcore.RemoteProtocolError(f"response head longer than {_MAX_HEAD} bytes")
                    return
                status, headers, keep = _parse_head(self.buf[:end])
                data, self.buf = self.buf[end + 4 :], b""
                if 100 <= status < 200 and status != 101:  # an interim answer: the real one follows
                    self.buf = data
                    continue
                self.status, self.headers, self.keep = status, headers, keep
                self.left = _framing(self.method, status, headers)
                self.feed_body = self.sink(status, headers)
                if self.left == -1:
                    self.dechunker = Dechunker()
                elif self.left is None:
                    self.keep = False
            if not data:
                self.done = self.left == 0
                return
        self._body(data)

    def _body(self, data: bytes) -> None:
        assert self.feed_body is not None
        if self.dechunker is not None:
            if not data:
                raise httpcore.RemoteProtocolError("peer closed connection without sending complete message body "
                                                   "(incomplete chunked read)")
            payload = self.dechunker.feed(data)
            if payload:
                self.feed_body(payload)
            if self.dechunker.error is not None:
                raise httpcore.RemoteProtocolError(str(self.dechunker.error))
            self.done = self.dechunker.done
        elif self.left is None:  # until the peer closes
            if data:
                self.feed_body(data)
            else:
                self.done = True
        else:
            if not data:
                raise httpcore.RemoteProtocolError(f"peer closed connection without sending complete message body "
                                                   f"({self.left} bytes missing)")
            if len(data) > self.left:
                data, self.keep = data[: self.left], False  # bytes past the body: the connection is not trusted
            self.feed_body(data)
            self.left -= len(data)
            self.done = not self.left


class _Unanswered(Exception):
    """A reused connection failed before any byte of an answer to a GET or HEAD came back."""


def _unanswered(reader: _Reader, exc: BaseException) -> bool:
    """Whether a reused connection may be replaced and the request sent again: the server closed it
    before answering anything, and the request is one Go's client also resends then (GET, HEAD)."""
    return (reader.method in (b"GET", b"HEAD") and not reader.buf and reader.feed_body is None
            and isinstance(exc, (httpcore.ReadError, httpcore.WriteError, httpcore.RemoteProtocolError)))


def _deadline_error(exc: BaseException, kind: type[Exception]) -> Exception:
    return kind(str(exc) or type(exc).__name__)


class Pool:
    """Keep-alive HTTP/1.1 connections to one server (plain or TLS), for whole exchanges; thread-safe."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None, server_hostname: str) -> None:
        self._host, self._port, self._tls, self._name = host, port, tls, server_hostname
        self._idle: list[tuple[socket.socket, float]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(CONNECTIONS)

    def exchange(self, method: bytes, request: bytes, timeout: float | None, read_timeout: float | None,
                 sink: Sink) -> Answer:
        """Send ``request`` (head and body, ready to write) and read the whole answer into ``sink``."""
        with self._slots:
            sock = self._take()
            if sock is not None:
                try:
                    return self._attempt(sock, method, request, timeout, read_timeout, sink)
                except _Unanswered:  # closed by the server as it was reused: a new connection, once
                    pass
            return self._attempt(self._connect(timeout), method, request, timeout, read_timeout, sink, fresh=True)

    def _attempt(self, sock: socket.socket, method: bytes, request: bytes, timeout: float | None,
                 read_timeout: float | None, sink: Sink, *, fresh: bool = False) -> Answer:
        reader = _Reader(method, sink)
        try:
            self._send(sock, request, timeout)
            size = _SMALL
            while not reader.done:
                sock.settimeout(clamp(read_timeout, httpcore.ReadTimeout))
                try:
                    data = sock.recv(size)
                except TimeoutError as exc:
                    raise _deadline_error(exc, httpcore.ReadTimeout) from None
                except OSError as exc:
                    raise httpcore.ReadError(str(exc)) from None
                if len(data) == size:
                    size = min(size * 4, _LARGE)
                reader.feed(data)
        except BaseException as exc:
            sock.close()
            if not fresh and _unanswered(reader, exc):
                raise _Unanswered from None
            raise
        if reader.keep:
            with self._lock:
                self._idle.append((sock, time.monotonic() + _KEEPALIVE))
        else:
            sock.close()
        return reader.status, reader.headers

    def _take(self) -> socket.socket | None:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    return None
                sock, expiry = self._idle.pop()
            if expiry > now and not is_socket_readable(sock):  # readable while idle: closed by the server
                return sock
            sock.close()

    def _connect(self, timeout: float | None) -> socket.socket:
        try:
            sock = socket.create_connection((self._host, self._port), clamp(timeout, httpcore.ConnectTimeout))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock.settimeout(clamp(timeout, httpcore.ConnectTimeout))
                sock = self._tls.wrap_socket(sock, server_hostname=self._name)
        except TimeoutError as exc:
            raise _deadline_error(exc, httpcore.ConnectTimeout) from None
        except OSError as exc:  # ssl.SSLError included
            raise httpcore.ConnectError(str(exc)) from None
        return sock

    @staticmethod
    def _send(sock: socket.socket, request: bytes, timeout: float | None) -> None:
        sock.settimeout(clamp(timeout, httpcore.WriteTimeout))
        try:
            sock.sendall(request)
        except TimeoutError as exc:
            raise _deadline_error(exc, httpcore.WriteTimeout) from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from None

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for sock, _ in idle:
            sock.close()


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class AsyncPool:
    """:class:`Pool` for asyncio. Connections belong to the event loop that made them: a client used under
    another loop (a second ``asyncio.run``) starts afresh there."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None, server_hostname: str) -> None:
        self._host, self._port, self._tls, self._name = host, port, tls, server_hostname
        self._idle: list[tuple[_Conn, float]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(CONNECTIONS)

    async def exchange(self, method: bytes, request: bytes, timeout: float | None, read_timeout: float | None,
                       sink: Sink) -> Answer:
        """Send ``request`` (head and body, ready to write) and read the whole answer into ``sink``."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._drop()
            self._loop, self._slots = loop, asyncio.Semaphore(CONNECTIONS)
        async with self._slots:
            conn = self._take()
            if conn is not None:
                try:
                    return await self._attempt(conn, method, request, timeout, read_timeout, sink)
                except _Unanswered:  # closed by the server as it was reused: a new connection, once
                    pass
            conn = await self._connect(timeout)
            return await self._attempt(conn, method, request, timeout, read_timeout, sink, fresh=True)

    async def _attempt(self, conn: _Conn, method: bytes, request: bytes, timeout: float | None,
                       read_timeout: float | None, sink: Sink, *, fresh: bool = False) -> Answer:
        reader, writer = conn
        answer = _Reader(method, sink)
        try:
            writer.write(request)
            if writer.transport.get_write_buffer_size() > _LARGE:
                await self._wait(writer.drain(), timeout, httpcore.WriteTimeout, httpcore.WriteError)
            while not answer.done:
                answer.feed(await self._wait(reader.read(_LARGE), read_timeout, httpcore.ReadTimeout,
                                             httpcore.ReadError))
        except BaseException as exc:
            writer.close()
            if not fresh and _unanswered(answer, exc):
                raise _Unanswered from None
            raise
        if answer.keep:
            self._idle.append((conn, time.monotonic() + _KEEPALIVE))
        else:
            writer.close()
        return answer.status, answer.headers

    @staticmethod
    async def _wait(step: Awaitable[T], timeout: float | None, late: type[Exception], broken: type[Exception]) -> T:
        try:
            limit = clamp(timeout, late)
            if limit is None:
                return await step
            async with asyncio.timeout(limit):
                return await step
        except TimeoutError as exc:
            raise _deadline_error(exc, late) from None
        except OSError as exc:
            raise broken(str(exc)) from None

    def _take(self) -> _Conn | None:
        now = time.monotonic()
        while self._idle:
            conn, expiry = self._idle.pop()
            reader, writer = conn
            # the event loop may not have seen the server's close yet: ask the socket, as the sync pool does
            if expiry > now and not reader.at_eof() and not writer.is_closing() \
                    and not is_socket_readable(writer.get_extra_info("socket")):
                return conn
            writer.close()
        return None

    async def _connect(self, timeout: float | None) -> _Conn:
        try:
            async with asyncio.timeout(clamp(timeout, httpcore.ConnectTimeout)):
                return await asyncio.open_connection(self._host, self._port, ssl=self._tls,
                                                     server_hostname=self._name if self._tls else None,
                                                     limit=_MAX_HEAD)
        except TimeoutError as exc:
            raise _deadline_error(exc, httpcore.ConnectTimeout) from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from None

    def _drop(self) -> None:
        idle, self._idle = self._idle, []
        for (_, writer), _ in idle:
            with contextlib.suppress(RuntimeError):  # its event loop is closed: the socket goes with it
                writer.close()

    async def aclose(self) -> None:
        self._drop()
