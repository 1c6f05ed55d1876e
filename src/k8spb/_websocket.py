"""WebSocket connections to the API server (exec, attach, port-forward).

The upgrade request goes through the client's own request flow (auth headers and their refresh on 401,
impersonation, middleware, rate limit), over a connection of its own made with the configuration's
TLS settings and proxy, always HTTP/1.1 (a WebSocket upgrade does not exist in HTTP/2). After the
``101 Switching Protocols``, wsproto does the framing (:class:`Frames`, no IO); :class:`SyncWebSocket`
and :class:`AsyncWebSocket` move its bytes.

A connection that goes quiet for the configured timeout is pinged; quiet for a second timeout, it is
dead and reading it raises :class:`~k8spb.RequestTimeout`.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import ssl
import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from k8spb._body import header
from k8spb._errors import RequestTimeout, TransportError
from k8spb._request import Request, error_from_response

if TYPE_CHECKING:

    import httpcore

    from k8spb._client import AsyncClient, Client

__all__ = ["AsyncWebSocket", "Frames", "SyncWebSocket", "aconnect", "connect", "upgrade_request"]

_READ = 256 * 1024
Pieces = list[tuple[bytes, bool]]
"""Pieces of binary messages: (data, the message's last piece)."""


class Frames:
    """The WebSocket framing of one client connection, without IO (wsproto underneath)."""

    def __init__(self, describe: str) -> None:
        from wsproto import ConnectionType  # wsproto (and h11) on use: ``import k8spb`` leaves them out
        from wsproto.connection import Connection

        self.describe = describe
        self._conn = Connection(ConnectionType.CLIENT)
        self.close_code: int | None = None
        """Set once the connection is closed: the close code (1006 when it just ended)."""
        self.close_reason = ""

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def feed(self, data: bytes) -> tuple[Pieces, bytes]:
        """Bytes read (``b""``: the connection ended) -> message pieces, and bytes to send back (pongs,
        the close reply). Raises TransportError for frames that break the protocol."""
        from wsproto.connection import ConnectionState
        from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

        if self.closed:
            return [], b""
        self._conn.receive_data(data if data else None)
        pieces: Pieces = []
        out = b""
        for event in self._conn.events():
            if isinstance(event, BytesMessage):
                pieces.append((bytes(event.data), event.message_finished))
            elif isinstance(event, Ping):
                out += self._conn.send(event.response())
            elif isinstance(event, CloseConnection):
                if self._conn.state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
                    # wsproto reports a frame it cannot parse as a close it did not receive
                    self.close_code, self.close_reason = event.code, event.reason or ""
                    raise TransportError(f"{self.describe}: bad WebSocket frame from the server: {event.reason}")
                if self._conn.state is ConnectionState.REMOTE_CLOSING:
                    out += self._conn.send(event.response())
                self.close_code, self.close_reason = event.code, event.reason or ""
                break
            elif isinstance(event, TextMessage):
                self.close_code = 1003
                raise TransportError(f"{self.describe}: the server sent a text message; Kubernetes' channel "
                                     "protocols use binary messages only")
            elif isinstance(event, Pong):
                pass
        return pieces, out

    def message(self, data: bytes) -> bytes:
        """The bytes of one binary message (raises TransportError once the connection is closing)."""
        from wsproto.events import BytesMessage
        from wsproto.utilities import LocalProtocolError

        try:
            return self._conn.send(BytesMessage(data=data))
        except LocalProtocolError:
            raise TransportError(f"{self.describe}: the WebSocket connection is closed") from None

    def ping(self) -> bytes:
        from wsproto.connection import ConnectionState
        from wsproto.events import Ping

        return self._conn.send(Ping(b"k8spb")) if self._conn.state is ConnectionState.OPEN else b""

    def close(self) -> bytes:
        """The close frame to send (``b""`` if one was sent already or the connection is gone)."""
        from wsproto.connection import ConnectionState
        from wsproto.events import CloseConnection

        if self._conn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            return self._conn.send(CloseConnection(code=1000))
        return b""


def upgrade_request(request: Request, protocols: Sequence[str]) -> tuple[Request, str]:
    """``request`` as a WebSocket upgrade offering ``protocols`` (preferred first), and its key."""
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    for name, value in (("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
                        ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Protocol", ", ".join(protocols))):
        request = request.with_header(name, value)
    return request, key


def _check(sent: Request, headers: list[tuple[bytes, bytes]], key: str, protocols: Sequence[str]) -> str:
    """The subprotocol of a successful upgrade; raises for anything else (the body is read by the caller)."""
    from wsproto.utilities import generate_accept_token

    where = sent.describe()
    upgrade = header(headers, b"upgrade")
    if (upgrade or "").lower() != "websocket":
        raise TransportError(f"{where}: the server switched to {upgrade!r}, not WebSocket")
    if header(headers, b"sec-websocket-accept") != generate_accept_token(key.encode()).decode():
        raise TransportError(f"{where}: the server's Sec-WebSocket-Accept does not match the key sent")
    protocol = header(headers, b"sec-websocket-protocol") or ""
    if protocol not in protocols:
        raise TransportError(f"{where}: the server chose the WebSocket subprotocol {protocol!r}; "
                             f"asked for one of {', '.join(protocols)}")
    return protocol


def _transport_error(where: str, exc: Exception) -> TransportError:
    import httpcore  # on use, as everywhere here: ``import k8spb`` leaves httpcore and asyncio out

    if isinstance(exc, httpcore.TimeoutException | TimeoutError):
        return RequestTimeout(f"{where}: timed out")
    return TransportError(f"{where}: connection lost ({type(exc).__name__}: {exc})")


class _Liveness:
    """Ping after one quiet timeout; dead after a second."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.pinged = False

    def quiet(self, frames: Frames, timeout: float | None) -> bytes:
        if self.pinged:
            raise RequestTimeout(f"{self.where}: no data and no answer to a ping for {2 * (timeout or 0):g}s")
        self.pinged = True
        return frames.ping()


class _Socket:
    """What both flavours keep: the framing, the upgraded response and its stream, the liveness check."""

    def __init__(self, response: httpcore.Response, sent: Request, protocol: str, timeout: float | None) -> None:
        self.protocol = protocol
        self.describe = sent.describe()
        self.frames = Frames(self.describe)
        self._response = response
        self._timeout = timeout  # reads and writes use the same timeout: the socket's timeout is shared
        self._live = _Liveness(self.describe)
        self._shut = False


class SyncWebSocket(_Socket):
    """One WebSocket connection: one thread may read while others write."""

    def __init__(self, http: httpcore.ConnectionPool, response: httpcore.Response, sent: Request, protocol: str,
                 timeout: float | None) -> None:
        super().__init__(response, sent, protocol, timeout)
        self._http = http
        self._stream: httpcore.NetworkStream = response.extensions["network_stream"]
        self._write_lock = threading.Lock()

    def _write(self, data: bytes) -> None:
        """Write bytes; the caller holds the write lock."""
        import httpcore

        if not data:
            return
        try:
            self._stream.write(data, self._timeout)
        except (httpcore.NetworkError, httpcore.TimeoutException, OSError) as exc:
            raise _transport_error(self.describe, exc) from None

    def send(self, data: bytes) -> None:
        """Send one binary message."""
        with self._write_lock:
            self._write(self.frames.message(data))

    def receive(self) -> Pieces:
        """The next pieces of messages; ``[]`` once the connection has closed (``frames.close_code``)."""
        import httpcore

        while not self.frames.closed:
            try:
                data = self._stream.read(_READ, self._timeout)
            except httpcore.TimeoutException:
                with self._write_lock:
                    self._write(self._live.quiet(self.frames, self._timeout))
                continue
            except (httpcore.NetworkError, OSError) as exc:
                if self._shut:
                    data = b""
                else:
                    raise _transport_error(self.describe, exc) from None
            self._live.pinged = False
            with self._write_lock:
                pieces, reply = self.frames.feed(data)
                self._write_quietly(reply)
            if pieces:
                return pieces
        return []

    def _write_quietly(self, data: bytes) -> None:
        """Write (lock held), ignoring failure."""
        with contextlib.suppress(TransportError):  # a pong or close reply that cannot go: the next read tells why
            self._write(data)

    def close(self) -> None:
        """Send a close frame (if not done yet) and drop the connection."""
        if self._shut:
            return
        with self._write_lock:
            self._shut = True
            self._write_quietly(self.frames.close())
        sock = self._stream.get_extra_info("socket")
        if sock is not None:  # wakes a thread blocked reading it (closing alone does not)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._response.close()
        self._http.close()


class AsyncWebSocket(_Socket):
    """:class:`SyncWebSocket` for asyncio: one task may read while others write."""

    def __init__(self, http: httpcore.AsyncConnectionPool, response: httpcore.Response, sent: Request,
                 protocol: str, timeout: float | None) -> None:
        super().__init__(response, sent, protocol, timeout)
        self._http = http
        self._stream: httpcore.AsyncNetworkStream = response.extensions["network_stream"]
        import asyncio

        self._write_lock = asyncio.Lock()

    async def _write(self, data: bytes) -> None:
        import httpcore

        if not data:
            return
        async with self._write_lock:
            try:
                await self._stream.write(data, self._timeout)
            except (httpcore.NetworkError, httpcore.TimeoutException, OSError) as exc:
                raise _transport_error(self.describe, exc) from None

    async def send(self, data: bytes) -> None:
        """Send one binary message."""
        await self._write(self.frames.message(data))

    async def receive(self) -> Pieces:
        import httpcore

        while not self.frames.closed:
            try:
                data = await self._stream.read(_READ, self._timeout)
            except httpcore.TimeoutException:
                await self._write(self._live.quiet(self.frames, self._timeout))
                continue
            except (httpcore.NetworkError, OSError) as exc:
                if self._shut:
                    data = b""
                else:
                    raise _transport_error(self.describe, exc) from None
            self._live.pinged = False
            pieces, reply = self.frames.feed(data)
            with contextlib.suppress(TransportError):
                await self._write(reply)
            if pieces:
                return pieces
        return []

    async def close(self) -> None:
        if self._shut:
            return
        self._shut = True
        with contextlib.suppress(TransportError):
            await self._write(self.frames.close())
        await self._response.aclose()
        await self._http.aclose()


_TLS: weakref.WeakKeyDictionary[Client | AsyncClient, ssl.SSLContext] = weakref.WeakKeyDictionary()
_TLS_LOCK = threading.Lock()


def _http_args(client: Client | AsyncClient) -> dict[str, Any]:
    """The transport settings of a client's WebSocket connections; its TLS context is made once (loading
    the system's CAs alone takes tens of milliseconds)."""
    config = client.config
    with _TLS_LOCK:
        context = _TLS.get(client)
        if context is None:
            context = _TLS[client] = config.ssl_context()
    return {"verify": context, "proxy": config.proxy, "http2": False}


def connect(client: Client, request: Request, protocols: Sequence[str]) -> SyncWebSocket:
    """Open a WebSocket for ``request`` offering ``protocols``; ApiError if the server refuses."""
    from k8spb._transport import HTTP_ERRORS, pool

    upgrade, key = upgrade_request(request, protocols)
    http = pool(**_http_args(client))
    try:
        sent, reply, _ = client._exchange(upgrade, stream=True, http=http)
        response = reply.response
        assert response is not None  # a streamed answer
        if reply.status != 101:
            try:
                body = response.read()
            except HTTP_ERRORS as exc:
                raise _transport_error(sent.describe(), exc) from None
            finally:
                response.close()
            raise error_from_response(sent, reply.status, reply.header(b"content-type"), body)
        try:
            protocol = _check(sent, reply.headers, key, protocols)
        except TransportError:
            response.close()
            raise
    except BaseException:
        http.close()
        raise
    return SyncWebSocket(http, response, sent, protocol, client.config.timeout)


async def aconnect(client: AsyncClient, request: Request, protocols: Sequence[str]) -> AsyncWebSocket:
    """:func:`connect` for AsyncClient."""
    from k8spb._transport import HTTP_ERRORS, async_pool

    upgrade, key = upgrade_request(request, protocols)
    http = async_pool(**_http_args(client))
    try:
        sent, reply, _ = await client._exchange(upgrade, stream=True, http=http)
        response = reply.response
        assert response is not None  # a streamed answer
        if reply.status != 101:
            try:
                body = await response.aread()
            except HTTP_ERRORS as exc:
                raise _transport_error(sent.describe(), exc) from None
            finally:
                await response.aclose()
            raise error_from_response(sent, reply.status, reply.header(b"content-type"), body)
        try:
            protocol = _check(sent, reply.headers, key, protocols)
        except TransportError:
            await response.aclose()
            raise
    except BaseException:
        await http.aclose()
        raise
    return AsyncWebSocket(http, response, sent, protocol, client.config.timeout)
