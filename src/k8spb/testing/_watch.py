"""Watch streams: events chunked the way Go's HTTP/1.1 server chunks them, and one selector thread that
writes every live watch.

A watch request's own thread writes the initial events and the replay (blocking writes), then hands
the connection to the :class:`WatchHub`.  The hub waits on a selector for new events (the store wakes
it), writability, hang-ups, deadlines and bookmark times, and writes to non-blocking sockets, so that
thousands of idle watches cost no thread and no CPU.  When a watch ends cleanly the connection goes
back to a request thread for its next request (HTTP keep-alive), as Go's server keeps it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any

from k8spb.testing._faults import Cut
from k8spb.testing._negotiation import Negotiated
from k8spb.testing._pbcache import watch_frame
from k8spb.testing._resources import ResourceType
from k8spb.testing._selectors import FieldSelector, LabelSelector
from k8spb.testing._store import Obj, Watcher, matches

if TYPE_CHECKING:
    from k8spb.testing._server import ApiServer, _Request

__all__ = ["CutHere", "WatchHub", "WatchStream", "closed_by_peer", "send_all"]

_IOV_MAX = 1024  # the most buffers one sendmsg may take on Linux
_GO_CHUNKING_BUFFER = 2048  # net/http's bufferBeforeChunkingSize
_TLS_WRITE = 1 << 20  # bytes joined per TLS write from the hub
HIGH_WATER = 1 << 20
"""Unsent bytes at which the hub stops encoding a stream's events: the rest wait in its queue (as shared
stored objects, not bytes) until the client has read, so a slow client costs no copies."""
_LAST_CHUNK = b"0\r\n\r\n"


class CutHere(Exception):
    """Raised inside a watch stream once its cut fault has written the half frame."""


def send_all(conn: socket.socket, parts: Sequence[bytes | memoryview]) -> None:
    """Write ``parts`` in order on a blocking socket: gathered by sendmsg on a plain socket (no copy),
    joined for TLS."""
    if isinstance(conn, ssl.SSLSocket):
        conn.sendall(b"".join(parts))
        return
    views = [memoryview(p) for p in parts if p]
    while views:
        sent = conn.sendmsg(views[:_IOV_MAX])
        _consume(views, sent)


def _consume(views: list[memoryview] | deque[memoryview], sent: int) -> None:
    """Drop ``sent`` bytes from the front of ``views``."""
    while views and sent >= len(views[0]):
        sent -= len(views[0])
        if isinstance(views, deque):
            views.popleft()
        else:
            del views[0]
    if sent:
        views[0] = views[0][sent:]


def _split_parts(parts: Sequence[bytes | memoryview], n: int) -> tuple[list[bytes | memoryview],
                                                                      list[bytes | memoryview]]:
    """The first ``n`` bytes of ``parts`` and the rest, as views (nothing copied)."""
    for i, part in enumerate(parts):
        if n <= len(part):
            view = memoryview(part)
            return [*parts[:i], view[:n]], [view[n:], *parts[i + 1:]]
        n -= len(part)
    return list(parts), []


def closed_by_peer(conn: socket.socket) -> bool:
    """Whether the client hung up (peeks at the raw socket; TLS sockets cannot peek).  poll, not select:
    select cannot take a descriptor of 1024 or more."""
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        if not poller.poll(0):
            return False
        if isinstance(conn, ssl.SSLSocket):
            with socket.socket(conn.family, conn.type, fileno=os.dup(conn.fileno())) as raw:
                return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True


class WatchStream:
    """One watch: writes its events in the negotiated encoding as HTTP chunks."""

    def __init__(self, server: ApiServer, req: _Request, neg: Negotiated, rt: ResourceType, labels: LabelSelector,
                 fields: FieldSelector, *, deadline: float, bookmarks: bool) -> None:
        self.server = server
        self.req = req
        self.neg = neg
        self.rt = rt
        self.labels = labels
        self.fields = fields
        self.deadline = deadline
        self.bookmarks = bookmarks
        self.conn: socket.socket = req.h.connection
        self.cut: Cut | None = req.h.cut
        self.watcher: Watcher | None = None
        self.first_table = True
        self.last_sent = time.monotonic()
        self.sent = 0
        self._pending: list[bytes | memoryview] = []  # whole chunks, not yet written to the socket
        self._size = 0
        self._buffer: list[bytes | memoryview] = []  # Go's response buffer: not yet a chunk
        self._buffered = 0
        self.hub: WatchHub | None = None
        """Set once the hub writes this stream: chunks then queue in ``out`` instead of being sent."""
        self.out: deque[memoryview] = deque()
        self.unsent = 0
        self.tls_inflight: bytes | None = None
        self.ending: str | None = None
        """None while the stream runs; then "keep-alive" (ended cleanly) or "close"."""
        self.interest = 0
        self.marked = False
        """Queued in the hub's ready list (cleared by the hub before it drains the events)."""

    def _chunk(self, *parts: bytes) -> None:
        """Write one event's bytes (in parts) the way Go's HTTP/1.1 server chunks them.

        Go puts a 2 KiB buffer in front of the chunk writer and its watch framer writes a protobuf
        frame's 4-byte length and its body separately, so a large event goes out as two chunks (the
        buffer topped up to 2 KiB, then the rest directly) while small events share 2 KiB chunks.
        """
        cut = self.cut
        if cut is not None and self.sent >= cut.after_events:
            data = b"".join(parts)
            self._write([data[: len(data) // 2]])
            self.flush()
            raise CutHere
        if self.neg.format == "protobuf":
            first = memoryview(parts[0])
            self._write([first[:4]])
            self._write([first[4:], *parts[1:]])
        else:
            self._write(parts)
        self.sent += 1
        if self._size >= 65536:  # many chunks, one system call
            self._send()

    def _write(self, parts: Sequence[bytes | memoryview]) -> None:
        """One Write of ``parts`` (as if joined, without joining them) to Go's buffered response writer."""
        size = sum(map(len, parts))
        room = _GO_CHUNKING_BUFFER - self._buffered
        if size <= room:
            self._buffer += parts
            self._buffered += size
            return
        if self._buffered:
            head, parts = _split_parts(parts, room)
            self._buffer += head
            self._emit(self._buffer, _GO_CHUNKING_BUFFER)
            self._buffer, self._buffered = [], 0
            size -= room
        if size > _GO_CHUNKING_BUFFER:
            self._emit(list(parts), size)
        else:
            self._buffer, self._buffered = list(parts), size

    def _emit(self, pieces: list[bytes | memoryview], size: int) -> None:
        self._pending += [b"%x\r\n" % size, *pieces, b"\r\n"]
        self._size += size

    def _send(self) -> None:
        if self._pending:
            if self.hub is None:
                send_all(self.conn, self._pending)
            else:
                views = [memoryview(p) for p in self._pending if p]
                self.out += views
                self.unsent += sum(map(len, views))
            self._pending = []
            self._size = 0
            self.last_sent = time.monotonic()

    def flush(self) -> None:
        """Go's Flush: the buffered bytes become a chunk, and everything goes out."""
        if self._buffered:
            self._emit(self._buffer, self._buffered)
            self._buffer, self._buffered = [], 0
        self._send()

    def send(self, type_: str, obj: Obj, raw: bool = False, stored: bool = True) -> None:
        """Write one event; ``stored`` says ``obj`` is a stored object exactly (its protobuf is cached)."""
        server = self.server
        if not raw and self.neg.transform is not None and type_ != "BOOKMARK":
            obj = server._transform(self.req, self.neg, self.rt, [obj], "", single=True, columns=self.first_table)
            if self.neg.transform == "Table":
                self.first_table = False
        if self.neg.format == "protobuf":
            if stored and not raw and self.neg.transform is None:
                self._chunk(*server._protobuf_frame(type_, obj))
            else:
                self._chunk(watch_frame(type_, server._protobuf(obj)))
        elif stored and not raw and self.neg.transform is None:
            self._chunk(*server._json_cache.watch_line(type_, obj))
        else:
            self._chunk(json.dumps({"type": type_, "object": obj}, separators=(",", ":"),
                                   ensure_ascii=False).encode() + b"\n")

    def bookmark(self, rv: str, initial_end: bool = False) -> None:
        meta: dict[str, Any] = {"resourceVersion": rv}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        kind, api_version = self.rt.kind, self.rt.api_version
        if self.neg.transform == "PartialObjectMetadata":
            kind, api_version = "PartialObjectMetadata", f"meta.k8s.io/{self.neg.transform_version}"
        self.send("BOOKMARK", {"kind": kind, "apiVersion": api_version, "metadata": meta}, stored=False)
        self.flush()

    def event(self, event: Any) -> None:
        rt, labels, fields = self.rt, self.labels, self.fields
        shared = self.server.store.shared
        obj = shared(rt, event.obj)
        now = matches(rt, obj, labels, fields)
        if event.type == "MODIFIED":
            before = matches(rt, event.old, labels, fields)
            if now and not before:
                self.send("ADDED", obj)
            elif before and not now:
                old = {**shared(rt, event.old)}  # a top-level copy: its metadata is replaced
                old["metadata"] = {**old["metadata"], "resourceVersion": obj["metadata"]["resourceVersion"]}
                self.send("DELETED", old, stored=False)  # old content under the new resourceVersion
            elif now:
                self.send("MODIFIED", obj)
        elif now:
            self.send(event.type, obj)


class WatchHub:
    """One thread that writes every watch stream handed to it (see the module docstring)."""

    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self.sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._new: deque[WatchStream] = deque()
        self._ready: deque[WatchStream] = deque()
        self._signalled = False
        self.streams: set[WatchStream] = set()
        self.stopping = False
        self._next_scan = 0.0
        self.thread = threading.Thread(target=self._run, name=f"k8spb-apiserver-watches-{server.port}", daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ other threads

    def adopt(self, stream: WatchStream) -> bool:
        """Take over a stream whose initial events are written (called by its request thread); False if
        the hub is stopping."""
        if self.stopping:
            return False
        assert stream.watcher is not None
        stream.hub = self
        stream.conn.setblocking(False)
        stream.watcher.wake = partial(self._mark, stream)
        self._new.append(stream)
        self._wake()
        return True

    def _mark(self, stream: WatchStream) -> None:
        """A stream has events (called by the store, under its lock)."""
        if not stream.marked:
            stream.marked = True
            self._ready.append(stream)
            self._wake()

    def _wake(self) -> None:
        if not self._signalled:
            self._signalled = True
            with contextlib.suppress(BlockingIOError, OSError):
                self._wake_w.send(b"x")

    def stop(self) -> None:
        """End every stream, closing its connection, and the thread."""
        self.stopping = True
        self._signalled = False
        self._wake()
        self.thread.join(timeout=5)
        self._wake_r.close()
        self._wake_w.close()
        self.sel.close()

    # ------------------------------------------------------------------ the hub's thread

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # pragma: no cover - a bug in the hub: say so, and let go of every stream
            import traceback

            traceback.print_exc()
            for stream in list(self.streams):
                self._finish(stream, "close")

    def _loop(self) -> None:
        while True:
            timeout = max(0.0, min(self._next_scan - time.monotonic(), 1.0))
            for key, mask in self.sel.select(timeout):
                stream = key.data
                if stream is None:
                    with contextlib.suppress(BlockingIOError):
                        self._wake_r.recv(4096)
                    continue
                if mask & selectors.EVENT_READ and stream.ending is None:
                    self._check_peer(stream)
                if mask & selectors.EVENT_WRITE and stream in self.streams:
                    self._write_out(stream)
            self._signalled = False
            while self._new:
                stream = self._new.popleft()
                self.streams.add(stream)
                self._interest(stream, selectors.EVENT_READ)
                self._next_scan = min(self._next_scan, stream.deadline, stream.last_sent
                                      + (self.server.bookmark_interval if stream.bookmarks else 3600))
                self._pump(stream)  # the events queued while its initial ones were written
            while self._ready:
                stream = self._ready.popleft()
                stream.marked = False
                if stream.ending is None and stream in self.streams:
                    self._pump(stream)
            if self.stopping:
                for stream in list(self.streams):
                    self._finish(stream, "close")
                return
            if time.monotonic() >= self._next_scan:
                self._scan()

    def _interest(self, stream: WatchStream, events: int) -> None:
        if events == stream.interest:
            return
        try:
            if not events:
                self.sel.unregister(stream.conn)
            elif not stream.interest:
                self.sel.register(stream.conn, events, stream)
            else:
                self.sel.modify(stream.conn, events, stream)
        except (OSError, ValueError, KeyError):
            self._finish(stream, "close")
            return
        stream.interest = events

    def _scan(self) -> None:
        """Deadlines and bookmarks: end or bookmark the streams that are due; time the next scan."""
        now = time.monotonic()
        interval = self.server.bookmark_interval
        due = now + 1.0
        for stream in list(self.streams):
            if stream.ending is not None:
                continue
            if now >= stream.deadline:
                self._end(stream, "keep-alive")
                self._write_out(stream)
                continue
            due = min(due, stream.deadline)
            if stream.bookmarks:
                if now - stream.last_sent >= interval:
                    watcher = stream.watcher
                    assert watcher is not None
                    store = self.server.store
                    with store.lock:
                        rv = str(store.rv) if watcher.events.empty() else ""
                    if rv:
                        self._guard(stream, partial(stream.bookmark, rv))
                due = min(due, stream.last_sent + interval)
        self._next_scan = due

    def _guard(self, stream: WatchStream, action: Callable[[], None]) -> None:
        """Run ``action`` on a stream, ending it as its faults and errors say; then write what it made."""
        try:
            action()
        except CutHere:
            stream.flush()
            if stream.cut is not None and stream.cut.end_stream:
                self._end(stream, "keep-alive")
            else:
                stream.ending = "close"
                self._unwatch(stream)
        except Exception:  # a bug or an encoding failure: the stream cannot go on
            self._finish(stream, "close")
            return
        self._write_out(stream)

    def _pump(self, stream: WatchStream) -> None:
        """Write every event waiting for a stream, then flush (a burst goes out in few writes)."""
        def drain() -> None:
            watcher = stream.watcher
            assert watcher is not None
            events = watcher.events
            while stream.unsent + stream._size < HIGH_WATER:
                try:
                    item = events.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._end(stream, "keep-alive")
                    return
                stream.event(item)
            stream.flush()
            if time.monotonic() >= stream.deadline:
                self._end(stream, "keep-alive")
        self._guard(stream, drain)

    def _end(self, stream: WatchStream, how: str) -> None:
        """End a stream: the last chunk after what is buffered (clean), then ``how`` once written."""
        if stream.ending is not None:
            return
        stream.flush()
        stream.out.append(memoryview(_LAST_CHUNK))
        stream.unsent += len(_LAST_CHUNK)
        stream.ending = how
        self._unwatch(stream)

    def _unwatch(self, stream: WatchStream) -> None:
        if stream.watcher is not None:
            stream.watcher.wake = None
            self.server.store.unwatch(stream.watcher)

    def _check_peer(self, stream: WatchStream) -> None:
        conn = stream.conn
        try:
            data = conn.recv(1) if isinstance(conn, ssl.SSLSocket) else conn.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            data = b""
        if data:  # the client sent something on a watch: ignore it, and stop watching for input
            self._interest(stream, stream.interest & ~selectors.EVENT_READ)
            return
        self._finish(stream, "close")

    def _write_out(self, stream: WatchStream) -> None:
        """Write what a stream has queued without blocking; wait for writability if the socket is full."""
        conn, out = stream.conn, stream.out
        try:
            if isinstance(conn, ssl.SSLSocket):
                while out or stream.tls_inflight:
                    if stream.tls_inflight is None:
                        parts, size = [], 0
                        while out and size < _TLS_WRITE:
                            parts.append(out.popleft())
                            size += len(parts[-1])
                        stream.tls_inflight = b"".join(parts)
                    stream.unsent -= conn.send(stream.tls_inflight)  # all of it, or SSLWantWrite
                    stream.tls_inflight = None
            else:
                while out:
                    sent = conn.sendmsg(islice(out, _IOV_MAX))
                    stream.unsent -= sent
                    _consume(out, sent)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            self._interest(stream, stream.interest | selectors.EVENT_WRITE)
            return
        except OSError:
            self._finish(stream, "close")
            return
        if stream.ending is not None:
            self._finish(stream, stream.ending)
            return
        if stream.interest & selectors.EVENT_WRITE:
            self._interest(stream, stream.interest & ~selectors.EVENT_WRITE)
        watcher = stream.watcher
        if watcher is not None and not watcher.events.empty():  # events held back while the client read
            self._mark(stream)

    def _finish(self, stream: WatchStream, how: str) -> None:
        """Let go of a stream: hand its connection back for the next request, or close it."""
        if stream.ending == "done":
            return
        self._unwatch(stream)
        self.streams.discard(stream)
        if stream.interest:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.sel.unregister(stream.conn)
            stream.interest = 0
        stream.ending = "done"
        conn = stream.conn
        if how == "keep-alive" and not self.stopping and self.server.keep_alive(conn, stream.req.h.client_address):
            return
        with contextlib.suppress(OSError):
            if not isinstance(conn, ssl.SSLSocket):
                conn.shutdown(socket.SHUT_WR)
            conn.close()
