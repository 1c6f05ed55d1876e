"""Port-forward to a pod: :class:`PortForward` (one WebSocket, one stream per port) and
:class:`PortListener` (local ports, a WebSocket per accepted connection, like ``kubectl port-forward``).

The protocol is ``v4.channel.k8s.io`` (:mod:`k8spb._channels`): each forwarded port is one TCP
connection inside the pod for the life of the WebSocket, so a listener opens a WebSocket per local
connection. The protocol has no half-close: when a local client stops sending, the WebSocket, and so
the pod-side connection, is closed.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from k8spb import _channels as ch
from k8spb._errors import Error, TransportError
from k8spb._exec import CHUNK, _apump, _Buffer, _pump
from k8spb._websocket import AsyncWebSocket, Pieces, SyncWebSocket

if TYPE_CHECKING:
    import asyncio

__all__ = ["AsyncPortForward", "AsyncPortListener", "AsyncPortStream", "PortForward", "PortListener", "PortStream"]


class _Forwarding:
    """The state of one port-forward connection: a buffer per port, errors; no IO."""

    def __init__(self, describe: str, ports: Sequence[int]) -> None:
        self.describe = describe
        self.ports = tuple(ports)
        self.buffers = {port: _Buffer() for port in ports}
        self.errors: dict[int, bytearray] = {port: bytearray() for port in ports}
        self.demux = ch.Demux(ports)
        self.done = False

    def feed(self, pieces: Pieces) -> None:
        for data, end in pieces:
            routed = self.demux.feed(data, end)
            if routed is None:
                continue
            channel, payload = routed
            port = self.ports[channel // 2]
            if channel % 2 == 0:
                buffer = self.buffers[port]
                if not buffer.eof:
                    buffer.data += payload
            else:
                text = self.errors[port]
                text += payload[: max(0, ch.MAX_STATUS - len(text))]
                if payload:
                    buffer = self.buffers[port]
                    buffer.error = TransportError(f"{self.describe}: port {port}: {text.decode('utf-8', 'replace')}")
                    buffer.eof = True

    def finish(self, close_code: int | None, close_reason: str) -> None:
        """The connection closed: every port's stream ends."""
        self.fail(None)

    def fail(self, error: Error | None) -> None:
        for buffer in self.buffers.values():
            if error is not None and buffer.error is None:
                buffer.error = error
            buffer.eof = True
        self.done = True

    def index(self, port: int) -> int:
        try:
            return self.ports.index(port)
        except ValueError:
            raise ValueError(f"port {port} is not forwarded here (ports: {list(self.ports)})") from None

    def error_text(self, port: int) -> str | None:
        text = self.errors[port]
        return text.decode("utf-8", "replace") if text else None


def _data_messages(channel: int, data: bytes | bytearray | memoryview) -> list[bytes]:
    view = memoryview(data)
    return [ch.message(channel, view[i:i + CHUNK]) for i in range(0, len(view), CHUNK)]


# --------------------------------------------------------------------------------------------- sync


class PortStream:
    """The connection to one port in the pod: ``read`` / ``write``, ``b""`` from ``read`` at its end."""

    def __init__(self, forward: PortForward, port: int) -> None:
        self._forward, self.port = forward, port
        self._channel = 2 * forward._state.index(port)
        self._buffer = forward._state.buffers[port]

    def read(self, n: int = CHUNK) -> bytes:
        """What has arrived (at most ``n`` bytes, waiting for at least one); ``b""`` at the end."""
        cond = self._forward._cond
        with cond:
            while (out := self._buffer.take_some(n)) is None:
                cond.wait()
            return out

    def write(self, data: bytes | bytearray | memoryview) -> int:
        for piece in _data_messages(self._channel, data):
            self._forward._ws.send(piece)
        return len(data)

    @property
    def error(self) -> str | None:
        """What the server reported on this port's error channel (connection refused, ...), if anything."""
        return self._forward._state.error_text(self.port)


class PortForward:
    """Forwarded ports of one pod over one WebSocket (``Api.portforward``); ``stream(port)`` for each."""

    def __init__(self, ws: SyncWebSocket, ports: Sequence[int]) -> None:
        self._ws = ws
        self._state = _Forwarding(ws.describe, ports)
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=_pump, args=(ws, self._state, self._cond), daemon=True,
                                        name=f"k8spb {ws.describe}")
        self._thread.start()

    def stream(self, port: int) -> PortStream:
        return PortStream(self, port)

    def close(self) -> None:
        self._ws.close()
        self._thread.join(timeout=10)

    def __enter__(self) -> PortForward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PortForward({self._state.describe}, ports={list(self._state.ports)})"


def _parse_ports(ports: Mapping[int, int] | Sequence[int]) -> list[tuple[int, int]]:
    """(local, remote) pairs from ``{local: remote}`` or ``[remote, ...]`` (local = remote)."""
    pairs = list(ports.items()) if isinstance(ports, Mapping) else [(p, p) for p in ports]
    for local, remote in pairs:
        ch.portforward_query([remote])
        if not isinstance(local, int) or not 0 <= local < 65536:
            raise ValueError(f"local port must be an integer from 0 to 65535, not {local!r}")
    return pairs


class PortListener:
    """Local ports forwarded to a pod, like ``kubectl port-forward``; ``ports`` maps remote to bound local."""

    def __init__(self, opener: Callable[[int], PortForward], ports: Mapping[int, int] | Sequence[int],
                 address: str = "127.0.0.1") -> None:
        self._opener = opener
        self._listeners: list[socket.socket] = []
        self._active: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.ports: dict[int, int] = {}
        """remote port -> the local port listening for it."""
        self.errors: collections.deque[Exception] = collections.deque(maxlen=100)
        """The last failures of accepted connections (their local sockets were closed)."""
        try:
            for local, remote in _parse_ports(ports):
                listener = socket.create_server((address, local))
                self._listeners.append(listener)
                self.ports[remote] = listener.getsockname()[1]
                threading.Thread(target=self._accept, args=(listener, remote), daemon=True,
                                 name=f"k8spb port-forward :{self.ports[remote]}").start()
        except BaseException:
            self.close()
            raise

    def _accept(self, listener: socket.socket, remote: int) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, remote), daemon=True).start()

    def _serve(self, conn: socket.socket, remote: int) -> None:
        with self._lock:
            self._active.add(conn)
        try:
            with self._opener(remote) as forward:
                stream = forward.stream(remote)
                back = threading.Thread(target=_to_local, args=(stream, conn), daemon=True)
                back.start()
                while data := conn.recv(CHUNK):
                    stream.write(data)
        except (Error, OSError) as exc:
            if not isinstance(exc, OSError):
                self.errors.append(exc)
        finally:
            with self._lock:
                self._active.discard(conn)
            _close(conn)

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()
        with self._lock:
            for conn in list(self._active):
                _close(conn)

    def __enter__(self) -> PortListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PortListener({self.ports})"


def _to_local(stream: PortStream, conn: socket.socket) -> None:
    try:
        while data := stream.read():
            conn.sendall(data)
    except (Error, OSError):
        pass
    finally:
        _close(conn)


def _close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


# --------------------------------------------------------------------------------------------- async


class AsyncPortStream:
    """:class:`PortStream` for asyncio."""

    def __init__(self, forward: AsyncPortForward, port: int) -> None:
        self._forward, self.port = forward, port
        self._channel = 2 * forward._state.index(port)
        self._buffer = forward._state.buffers[port]

    async def read(self, n: int = CHUNK) -> bytes:
        changed = self._forward._changed
        while (out := self._buffer.take_some(n)) is None:
            changed.clear()
            await changed.wait()
        return out

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        for piece in _data_messages(self._channel, data):
            await self._forward._ws.send(piece)
        return len(data)

    @property
    def error(self) -> str | None:
        return self._forward._state.error_text(self.port)


class AsyncPortForward:
    """:class:`PortForward` for asyncio (``AsyncApi.portforward``)."""

    def __init__(self, ws: AsyncWebSocket, ports: Sequence[int]) -> None:
        import asyncio  # on use: ``import k8spb`` leaves asyncio out

        self._ws = ws
        self._state = _Forwarding(ws.describe, ports)
        self._changed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(_apump(ws, self._state, self._changed))

    def stream(self, port: int) -> AsyncPortStream:
        return AsyncPortStream(self, port)

    async def close(self) -> None:
        import asyncio  # on use: ``import k8spb`` leaves asyncio out

        await self._ws.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 10)
        except TimeoutError:
            self._task.cancel()

    async def __aenter__(self) -> AsyncPortForward:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncPortForward({self._state.describe}, ports={list(self._state.ports)})"


class AsyncPortListener:
    """:class:`PortListener` for asyncio: ``await AsyncPortListener.start(...)``, then ``await close()``."""

    def __init__(self, opener: Callable[[int], Any]) -> None:
        self._opener = opener
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.ports: dict[int, int] = {}
        self.errors: collections.deque[Exception] = collections.deque(maxlen=100)

    @classmethod
    async def start(cls, opener: Callable[[int], Any], ports: Mapping[int, int] | Sequence[int],
                    address: str = "127.0.0.1") -> AsyncPortListener:
        import asyncio  # on use: ``import k8spb`` leaves asyncio out

        self = cls(opener)
        try:
            for local, remote in _parse_ports(ports):
                server = await asyncio.start_server(self._handler(remote), address, local)
                self._servers.append(server)
                self.ports[remote] = server.sockets[0].getsockname()[1]
        except BaseException:
            await self.close()
            raise
        return self

    def _handler(self, remote: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        return lambda reader, writer: self._serve(reader, writer, remote)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, remote: int) -> None:
        import asyncio  # on use: ``import k8spb`` leaves asyncio out

        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        back: asyncio.Task[None] | None = None
        try:
            forward: AsyncPortForward = await self._opener(remote)
            async with forward:
                stream = forward.stream(remote)
                back = asyncio.get_running_loop().create_task(_to_local_async(stream, writer))
                while data := await reader.read(CHUNK):
                    await stream.write(data)
        except (Error, OSError) as exc:
            if not isinstance(exc, OSError):
                self.errors.append(exc)
        finally:
            if back is not None:
                back.cancel()
            writer.close()
            self._tasks.discard(task)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def __aenter__(self) -> AsyncPortListener:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncPortListener({self.ports})"


async def _to_local_async(stream: AsyncPortStream, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await stream.read():
            writer.write(data)
            await writer.drain()
    except (Error, OSError):
        pass
    finally:
        writer.close()
