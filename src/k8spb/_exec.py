"""Processes started by ``pods/exec`` and ``pods/attach``: :class:`Process` and :class:`AsyncProcess`.

One WebSocket carries the process' stdin, stdout, stderr, its exit status and terminal resizes
(:mod:`k8spb._channels`). A background reader (a thread, or a task) demultiplexes what arrives into
per-stream buffers held by :class:`_Session`, which both flavours share; output is kept in memory
until it is read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from k8spb import _channels as ch
from k8spb._errors import Error, TransportError, api_error
from k8spb._websocket import AsyncWebSocket, Pieces, SyncWebSocket

if TYPE_CHECKING:
    import asyncio

__all__ = ["AsyncProcess", "AsyncStreamReader", "AsyncStreamWriter", "Process", "StreamReader", "StreamWriter"]

CHUNK = 256 * 1024
"""The most data one message carries (servers hold whole messages in memory)."""


class _Buffer:
    """What arrived on one stream and is not read yet, its end, and the error that ended it."""

    __slots__ = ("data", "eof", "error")

    def __init__(self) -> None:
        self.data = bytearray()
        self.eof = False
        self.error: Error | None = None

    def take(self, n: int) -> bytes | None:
        """``n`` bytes (all for ``n < 0``) once they are there, fewer at the end of the stream; else None."""
        data = self.data
        if not self.eof and (n < 0 or len(data) < n):
            return None
        if not data and self.error is not None:
            raise self.error
        size = len(data) if n < 0 else min(n, len(data))
        out = bytes(data[:size])
        del data[:size]
        return out

    def take_some(self, n: int) -> bytes | None:
        """What is there, at most ``n`` bytes (at least one unless the stream ended); None to wait."""
        if self.data:
            return self.take(min(n, len(self.data)) if n > 0 else len(self.data))
        return self.take(0) if self.eof else None

    def take_line(self) -> bytes | None:
        end = self.data.find(b"\n")
        if end >= 0:
            return self.take(end + 1)
        return self.take(-1)


class _Session:
    """The state of one exec or attach: buffers, exit status; no IO."""

    def __init__(self, describe: str, protocol: str) -> None:
        self.describe = describe
        self.protocol = protocol
        self.buffers = {ch.STDOUT: _Buffer(), ch.STDERR: _Buffer()}
        self.demux = ch.Demux()
        self.status_data = bytearray()
        self.done = False
        self.error: Error | None = None
        self.code: int | None = None
        self.status: dict[str, Any] | None = None

    def feed(self, pieces: Pieces) -> None:
        for data, end in pieces:
            routed = self.demux.feed(data, end)
            if routed is None:
                continue
            channel, payload = routed
            buffer = self.buffers.get(channel)
            if buffer is not None:
                if not buffer.eof:
                    buffer.data += payload
            elif channel == ch.ERROR:
                self.status_data += payload
                if len(self.status_data) > ch.MAX_STATUS:
                    self.status_data.clear()
                    raise TransportError(f"{self.describe}: the status channel carried more than "
                                         f"{ch.MAX_STATUS} bytes")
            elif channel == ch.CLOSE and payload:
                closed = self.buffers.get(payload[0])
                if closed is not None:
                    closed.eof = True
            # other channels: nothing a client reads (kubectl drops them too)

    def finish(self, close_code: int | None, close_reason: str) -> None:
        """The connection closed: settle the exit status."""
        try:
            if self.status_data:
                self._settle()
            else:
                detail = f" (close code {close_code}{': ' + close_reason if close_reason else ''})"
                self.error = TransportError(f"{self.describe}: the connection closed before the exit status "
                                            f"arrived{detail if close_code not in (None, 1000) else ''}")
        finally:
            self._end()

    def _settle(self) -> None:
        try:
            self.code, self.status = ch.exit_code(bytes(self.status_data))
        except ch.ChannelError as exc:
            self.error = TransportError(f"{self.describe}: {exc}")
            return
        if self.code is None:
            st = self.status
            code: int = st["code"] if isinstance(st.get("code"), int) else 500
            self.error = api_error(code, str(st.get("reason") or ""), str(st.get("message") or ""),
                                   request=self.describe, status=_status_model(st))

    def fail(self, exc: Error) -> None:
        if self.status_data:
            self._settle()
            if self.status is not None:  # a whole status arrived before the connection broke: it stands
                self._end()
                return
        self.error = exc
        for buffer in self.buffers.values():
            buffer.error = exc
        self._end()

    def _end(self) -> None:
        for buffer in self.buffers.values():
            buffer.eof = True
        self.done = True

    def result(self) -> int:
        if self.error is not None and self.code is None:
            raise self.error
        assert self.code is not None
        return self.code


def _status_model(status: dict[str, Any]) -> Any:
    from k8spb.apimachinery.pkg.apis.meta.v1 import Status

    try:
        return Status.from_dict(status)
    except Error:
        return None


def _stdin_messages(data: bytes | bytearray | memoryview) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield ch.message(ch.STDIN, view[start:start + CHUNK])


class _State(Protocol):
    """What a pump drives: a session's state (:class:`_Session`, or port-forward's)."""

    describe: str
    done: bool

    def feed(self, pieces: Pieces) -> None: ...

    def finish(self, close_code: int | None, close_reason: str) -> None: ...

    def fail(self, exc: Error) -> None: ...


def _pump(ws: SyncWebSocket, state: _State, cond: threading.Condition) -> None:
    """Read a connection into ``state`` until it ends (the reader thread of a sync session)."""
    try:
        while not state.done:
            pieces = ws.receive()
            with cond:
                if pieces:
                    state.feed(pieces)
                else:
                    state.finish(ws.frames.close_code, ws.frames.close_reason)
                cond.notify_all()
    except (Error, ch.ChannelError) as exc:
        with cond:
            state.fail(exc if isinstance(exc, Error) else TransportError(f"{state.describe}: {exc}"))
            cond.notify_all()
    finally:
        ws.close()


async def _apump(ws: AsyncWebSocket, state: _State, changed: asyncio.Event) -> None:
    """:func:`_pump` for asyncio: the reader task of an async session."""
    try:
        while not state.done:
            pieces = await ws.receive()
            if pieces:
                state.feed(pieces)
            else:
                state.finish(ws.frames.close_code, ws.frames.close_reason)
            changed.set()
    except (Error, ch.ChannelError) as exc:
        state.fail(exc if isinstance(exc, Error) else TransportError(f"{state.describe}: {exc}"))
    finally:
        changed.set()
        await ws.close()


class _ProcessBase:
    """What Process and AsyncProcess share: everything but IO."""

    _session: _Session

    def _start(self, ws: SyncWebSocket | AsyncWebSocket, tty: bool) -> None:
        self.protocol = ws.protocol
        self.tty = tty
        self._session = _Session(ws.describe, ws.protocol)

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has ended (None before, or when it has none)."""
        return self._session.code

    @property
    def status(self) -> dict[str, Any] | None:
        """The Status the server sent on the status channel, as a dict."""
        return self._session.status

    def _resize(self, width: int, height: int) -> bytes:
        if not self.tty:
            raise ValueError("resize needs a terminal: exec or attach with tty=True")
        return ch.resize_message(width, height)

    def _timed_out(self, timeout: float | None) -> TimeoutError:
        return TimeoutError(f"{self._session.describe}: still running after {timeout}s")

    def __repr__(self) -> str:
        state = f"returncode={self.returncode}" if self._session.done else "running"
        return f"{type(self).__name__}({self._session.describe}, {self.protocol}, {state})"


# --------------------------------------------------------------------------------------------- sync


class StreamReader:
    """stdout or stderr of a :class:`Process`: ``read``, ``read1``, ``readline``, iteration by lines."""

    def __init__(self, process: Process, buffer: _Buffer) -> None:
        self._process, self._buffer = process, buffer

    def _wait(self, take: Any) -> bytes:
        cond = self._process._cond
        with cond:
            while True:
                out: bytes | None = take()
                if out is not None:
                    return out
                cond.wait()

    def read(self, n: int = -1) -> bytes:
        """``n`` bytes (fewer at the end), or everything up to the end of the stream for ``n < 0``."""
        return self._wait(lambda: self._buffer.take(n))

    def read1(self, n: int = CHUNK) -> bytes:
        """Whatever is there (at least one byte, at most ``n``), waiting for some; ``b""`` at the end."""
        return self._wait(lambda: self._buffer.take_some(n))

    def readline(self) -> bytes:
        return self._wait(self._buffer.take_line)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class StreamWriter:
    """stdin of a :class:`Process`."""

    def __init__(self, process: Process) -> None:
        self._process = process
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("write to a closed stdin")
        for piece in _stdin_messages(data):
            self._process._ws.send(piece)
        return len(data)

    def flush(self) -> None:
        """Writes are sent at once."""

    def close(self) -> None:
        """End of file for the process (v5.channel.k8s.io; over v4 the process sees it only when the
        connection closes)."""
        if self.closed:
            return
        self.closed = True
        if self._process.protocol == ch.V5 and not self._process._session.done:
            self._process._ws.send(ch.close_signal(ch.STDIN))


class Process(_ProcessBase):
    """A command running in a container (``Api.exec``) or a container's attached process (``Api.attach``).

    ``stdin`` / ``stdout`` / ``stderr`` are None unless asked for. ``wait()`` gives the exit code, or
    raises the ApiError of a Failure status that is not an exit code (the command could not run).
    """

    def __init__(self, ws: SyncWebSocket, *, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> None:
        self._ws = ws
        self._start(ws, tty)
        self._cond = threading.Condition()
        self.stdin = StreamWriter(self) if stdin else None
        self.stdout = StreamReader(self, self._session.buffers[ch.STDOUT]) if stdout else None
        self.stderr = StreamReader(self, self._session.buffers[ch.STDERR]) if stderr and not tty else None
        self._thread = threading.Thread(target=_pump, args=(ws, self._session, self._cond), daemon=True,
                                        name=f"k8spb {ws.describe}")
        self._thread.start()

    def resize(self, width: int, height: int) -> None:
        """Tell the terminal's new size (``tty=True`` only)."""
        self._ws.send(self._resize(width, height))

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code; TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._session.done:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise self._timed_out(timeout)
                self._cond.wait(left)
        return self._session.result()

    def communicate(self, input: bytes | None = None, timeout: float | None = None) -> tuple[bytes, bytes]:
        """Send ``input`` and close stdin, wait for the end; (stdout, stderr) (``b""`` for those not asked)."""
        if input is not None and self.stdin is None:
            raise ValueError("communicate(input=...) needs exec or attach with stdin=True")
        try:
            if input is not None and self.stdin is not None:
                self.stdin.write(input)
            if self.stdin is not None:
                self.stdin.close()
        except TransportError:
            pass  # the process ended without reading it all (its status tells), or wait raises why not
        self.wait(timeout)
        out = self.stdout.read() if self.stdout is not None else b""
        err = self.stderr.read() if self.stderr is not None else b""
        return out, err

    def close(self) -> None:
        """Drop the connection (the server ends the process' streams)."""
        self._ws.close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------- async


class AsyncStreamReader:
    """stdout or stderr of an :class:`AsyncProcess`."""

    def __init__(self, process: AsyncProcess, buffer: _Buffer) -> None:
        self._process, self._buffer = process, buffer

    async def _wait(self, take: Any) -> bytes:
        changed = self._process._changed
        while True:
            out: bytes | None = take()
            if out is not None:
                return out
            changed.clear()
            await changed.wait()

    async def read(self, n: int = -1) -> bytes:
        return await self._wait(lambda: self._buffer.take(n))

    async def read1(self, n: int = CHUNK) -> bytes:
        return await self._wait(lambda: self._buffer.take_some(n))

    async def readline(self) -> bytes:
        return await self._wait(self._buffer.take_line)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while line := await self.readline():
            yield line


class AsyncStreamWriter:
    """stdin of an :class:`AsyncProcess`."""

    def __init__(self, process: AsyncProcess) -> None:
        self._process = process
        self.closed = False

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("write to a closed stdin")
        for piece in _stdin_messages(data):
            await self._process._ws.send(piece)
        return len(data)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._process.protocol == ch.V5 and not self._process._session.done:
            await self._process._ws.send(ch.close_signal(ch.STDIN))


class AsyncProcess(_ProcessBase):
    """:class:`Process` for asyncio (``AsyncApi.exec`` / ``attach``)."""

    def __init__(self, ws: AsyncWebSocket, *, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> None:
        import asyncio  # on use: ``import k8spb`` leaves asyncio out

        self._ws = ws
        self._start(ws, tty)
        self._changed = asyncio.Event()
        self.stdin = AsyncStreamWriter(self) if stdin else None
        self.stdout = AsyncStreamReader(self, self._session.buffers[ch.STDOUT]) if stdout else None
        self.stderr = AsyncStreamReader(self, self._session.buffers[ch.STDERR]) if stderr and not tty else None
        self._task = asyncio.get_running_loop().create_task(_apump(ws, self._session, self._changed))

    async def resize(self, width: int, height: int) -> None:
        await self._ws.send(self._resize(width, height))

    async def wait(self, timeout: float | None = None) -> int:
        import asyncio  # on use: ``import k8spb`` leaves asyncio out

        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            raise self._timed_out(timeout) from None
        return self._session.result()

    async def communicate(self, input: bytes | None = None, timeout: float | None = None) -> tuple[bytes, bytes]:
        if input is not None and self.stdin is None:
            raise ValueError("communicate(input=...) needs exec or attach with stdin=True")
        try:
            if input is not None and self.stdin is not None:
                await self.stdin.write(input)
            if self.stdin is not None:
                await self.stdin.close()
        except TransportError:
            pass  # the process ended without reading it all (its status tells), or wait raises why not
        await self.wait(timeout)
        out = await self.stdout.read() if self.stdout is not None else b""
        err = await self.stderr.read() if self.stderr is not None else b""
        return out, err

    async def close(self) -> None:
        import asyncio  # on use: ``import k8spb`` leaves asyncio out

        await self._ws.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 10)
        except (TimeoutError, Error):
            self._task.cancel()

    async def __aenter__(self) -> AsyncProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
