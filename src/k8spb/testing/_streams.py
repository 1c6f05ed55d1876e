"""``pods/exec``, ``pods/attach`` and ``pods/portforward`` over WebSocket, driven by the test.

Exec and attach speak ``v5.channel.k8s.io`` or ``v4.channel.k8s.io``; the test's handler plays the
process (:class:`ExecSession`). Port-forward speaks ``v4.channel.k8s.io`` (one connection, fixed
ports: the client libraries' protocol) and ``SPDY/3.1+portforward.k8s.io`` (SPDY/3.1 tunnelled in the
WebSocket: kubectl's), and connects each forwarded port to a TCP port on this machine.

What happens before the upgrade follows kube-apiserver: a missing pod is 404, a pod without
``spec.nodeName`` (not scheduled) or a bad container name is 400, a request that is not an upgrade is
400 ``Upgrade request required``. A handler that is missing, a container that is not running or a
handler that raises become a Failure Status on the status channel after the upgrade, as kube-apiserver
reports errors from the kubelet.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wsproto import ConnectionType
from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import generate_accept_token

from k8spb import _channels as ch
from k8spb.testing import _spdy as spdy
from k8spb.testing._resources import ApiError, ResourceType

if TYPE_CHECKING:
    from k8spb.testing._server import ApiServer, _Request

__all__ = ["ExecHandler", "ExecSession", "Streams", "handle"]

SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
TUNNEL = "SPDY/3.1+portforward.k8s.io"
_CHUNK = 256 * 1024
_IDLE = 300.0  # seconds a stream may stay silent before the server drops it


class ExecSession:
    """What an exec or attach handler gets: the command, its streams and the terminal.

    ``stdin`` (None unless the client asked for it) reads what the client sends; ``read()`` returns
    ``b""`` once the client closed stdin (v5) or went away. ``stdout`` and ``stderr`` (None unless
    asked for; stderr is None with a terminal, whose output is all stdout) take bytes. ``resizes`` holds
    ``(width, height)`` tuples as the client's terminal changes size. The handler returns the exit code.
    """

    def __init__(self, namespace: str, pod: str, container: str, command: list[str], *, tty: bool,
                 stdin: _Pipe | None, stdout: _Out | None, stderr: _Out | None, protocol: str) -> None:
        self.namespace, self.pod, self.container = namespace, pod, container
        self.command = command
        self.tty = tty
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.protocol = protocol
        self.resizes: queue.Queue[tuple[int, int]] = queue.Queue()

    def __repr__(self) -> str:
        return f"ExecSession({self.namespace}/{self.pod} [{self.container}] {self.command!r})"


ExecHandler = Callable[[ExecSession], int]


class _Pipe:
    """Bytes the client sent on a channel, for the handler to read (a blocking, file-like reader)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._data = bytearray()
        self._eof = False

    def feed(self, data: bytes) -> None:
        with self._cond:
            if not self._eof:
                self._data += data
                self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes as soon as some are there (everything until the end for ``n < 0``)."""
        with self._cond:
            while not self._eof and (not self._data or n < 0):
                self._cond.wait()
            size = len(self._data) if n < 0 else min(n, len(self._data))
            out = bytes(self._data[:size])
            del self._data[:size]
            return out

    def readline(self) -> bytes:
        with self._cond:
            while not self._eof and b"\n" not in self._data:
                self._cond.wait()
            end = self._data.find(b"\n")
            size = end + 1 if end >= 0 else len(self._data)
            out = bytes(self._data[:size])
            del self._data[:size]
            return out


class _Out:
    """A channel the handler writes to."""

    def __init__(self, ws: _ServerSocket, channel: int) -> None:
        self._ws, self._channel = ws, channel

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data)
        for start in range(0, len(view), _CHUNK):
            self._ws.send(ch.message(self._channel, view[start:start + _CHUNK]))
        return len(view)

    def flush(self) -> None:
        pass


class _ServerSocket:
    """The server's end of one WebSocket, on the request's socket after the ``101``."""

    def __init__(self, h: Any) -> None:
        self.h = h
        self.conn = Connection(ConnectionType.SERVER)
        self.lock = threading.Lock()
        self.gone = False

    def _write(self, data: bytes) -> None:
        if data:
            self.h.wfile.write(data)

    def send(self, data: bytes | bytearray) -> None:
        with self.lock:
            if self.gone or self.conn.state is not ConnectionState.OPEN:
                raise BrokenPipeError("the client closed the WebSocket")
            try:
                self._write(self.conn.send(BytesMessage(data=bytes(data))))
            except OSError:
                self.gone = True
                raise BrokenPipeError("the client went away") from None

    def receive(self) -> list[tuple[bytes, bool]] | None:
        """The next pieces of binary messages; None once the connection is closed."""
        while True:
            if self.gone:
                return None
            try:
                data = self.h.rfile.read1(65536)
            except OSError:
                data = b""
            self.conn.receive_data(data or None)
            pieces: list[tuple[bytes, bool]] = []
            for event in self.conn.events():
                if isinstance(event, BytesMessage):
                    pieces.append((bytes(event.data), event.message_finished))
                elif isinstance(event, Ping):
                    self._reply(event.response())
                elif isinstance(event, CloseConnection):
                    if self.conn.state is ConnectionState.REMOTE_CLOSING:
                        self._reply(event.response())
                    self.gone = True
                    break
                elif isinstance(event, TextMessage):
                    self.close(1003)
                    self.gone = True
            if pieces or self.gone:
                return pieces or None

    def _reply(self, event: Any) -> None:
        with self.lock:
            try:
                if self.conn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                    self._write(self.conn.send(event))
            except OSError:
                self.gone = True

    def close(self, code: int = 1000) -> None:
        """Send a close frame (from any thread); the reading thread sees the client's reply."""
        with self.lock:
            try:
                if self.conn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                    self._write(self.conn.send(CloseConnection(code=code)))
            except OSError:
                self.gone = True

    def finish(self, code: int = 1000) -> None:
        """Close, and read (for a short while) until the client's close frame: the reading thread only."""
        self.close(code)
        try:
            self.h.connection.settimeout(2.0)
        except OSError:
            return
        while self.receive() is not None:
            pass


@dataclass
class Streams:
    """The handlers and port targets tests register."""

    exec_handlers: dict[tuple[str, str], ExecHandler] = field(default_factory=dict)
    attach_handlers: dict[tuple[str, str], ExecHandler] = field(default_factory=dict)
    ports: dict[tuple[str, str, int], tuple[str, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def target(self, namespace: str, pod: str, port: int) -> tuple[str, int]:
        with self.lock:
            return self.ports.get((namespace, pod, port), ("127.0.0.1", port))


# --------------------------------------------------------------------------------------------- routing


def handle(api: ApiServer, req: _Request, rt: ResourceType, namespace: str, name: str, sub: str) -> None:
    pod = api.store.get(rt, namespace, name)
    if req.method not in ("GET", "POST"):
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    container = _container(pod, name, req.q("container")) if sub != "portforward" else ""
    if not (pod.get("spec") or {}).get("nodeName"):
        raise ApiError.bad_request(f"pod {name} does not have a host assigned")
    if sub == "portforward":
        ports = _ports(req)
        offered = _offered(req)
        protocol = next((p for p in offered if p in (ch.PORTFORWARD_PROTOCOL, TUNNEL)), None)
        _require_upgrade(req, protocol, (ch.PORTFORWARD_PROTOCOL, TUNNEL))
        assert protocol is not None
        if protocol == ch.PORTFORWARD_PROTOCOL and not ports:
            raise ApiError.bad_request('query parameter "ports" is required')
        ws = _accept(req, protocol)
        if protocol == TUNNEL:
            _Tunnel(api, ws, namespace, name).run()
        else:
            _forward_channels(api, ws, namespace, name, ports)
        return
    command = req.query.get("command", []) if sub == "exec" else []
    if sub == "exec" and not command:
        raise ApiError.bad_request("you must specify at least 1 command")
    flags = {k: req.q(k) in ("1", "true", "True") for k in ("stdin", "stdout", "stderr", "tty")}
    if not (flags["stdin"] or flags["stdout"] or flags["stderr"]):
        raise ApiError.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    offered = _offered(req)
    protocol = next((p for p in offered if p in ch.EXEC_PROTOCOLS), None)
    _require_upgrade(req, protocol, ch.EXEC_PROTOCOLS)
    assert protocol is not None
    handlers = api.streams.exec_handlers if sub == "exec" else api.streams.attach_handlers
    with api.streams.lock:
        handler = handlers.get((namespace, name))
    ws = _accept(req, protocol)
    problem = _not_running(pod, container)
    if problem is None and handler is None:
        problem = (f"k8spb.testing: no {sub} handler for pod {namespace}/{name} "
                   f"(register one with ApiServer.on_{sub})")
    if problem is not None:
        _send_quietly(ws, ch.status_failure(500, "InternalError", f"Internal error occurred: {problem}"))
        ws.finish()
        return
    assert handler is not None
    _run(ws, handler, ExecSession(
        namespace, name, container, command, tty=flags["tty"],
        stdin=_Pipe() if flags["stdin"] else None, stdout=_Out(ws, ch.STDOUT) if flags["stdout"] else None,
        stderr=_Out(ws, ch.STDERR) if flags["stderr"] and not flags["tty"] else None, protocol=protocol))


def _container(pod: dict[str, Any], name: str, requested: str) -> str:
    spec = pod.get("spec") or {}
    containers = [str(c.get("name", "")) for c in spec.get("containers") or []]
    every = [str(c.get("name", "")) for key in ("initContainers", "containers", "ephemeralContainers")
             for c in spec.get(key) or []]
    if requested:
        if requested not in every:
            raise ApiError.bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return containers[0]
    if not containers:
        raise ApiError.bad_request(f"a container name must be specified for pod {name}")
    raise ApiError.bad_request(f"a container name must be specified for pod {name}, choose one of: "
                               f"[{' '.join(every)}]")


def _not_running(pod: dict[str, Any], container: str) -> str | None:
    """Why the container cannot run a command (None: it can). Without a status, it is taken as running."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return f'unable to upgrade connection: container not found ("{container}")'
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            if cs.get("name") == container and cs.get("state") and "running" not in cs["state"]:
                return f'unable to upgrade connection: container not found ("{container}")'
    return None


def _ports(req: _Request) -> list[int]:
    out: list[int] = []
    for raw in req.query.get("ports", []):
        if not raw:
            raise ApiError.bad_request('query parameter "ports" cannot be empty')
        for text in raw.split(","):
            if not text.isdigit() or not 0 < int(text) < 65536:
                raise ApiError.bad_request(f'unable to parse "{text}" as a port: must be a number from 1 to 65535')
            out.append(int(text))
    return out


def _offered(req: _Request) -> list[str]:
    value = ",".join(req.h.headers.get_all("Sec-WebSocket-Protocol") or [])
    return [p.strip() for p in value.split(",") if p.strip()]


def _require_upgrade(req: _Request, protocol: str | None, supported: tuple[str, ...]) -> None:
    headers = req.h.headers
    upgrade = (headers.get("Upgrade") or "").lower()
    connection = [t.strip().lower() for t in (headers.get("Connection") or "").split(",")]
    if upgrade != "websocket" or "upgrade" not in connection:
        if upgrade:
            raise ApiError.bad_request(f"k8spb.testing serves this over WebSocket only, not {upgrade}")
        raise ApiError.bad_request("Upgrade request required")
    if req.method != "GET" or headers.get("Sec-WebSocket-Version") != "13" or not headers.get("Sec-WebSocket-Key"):
        raise ApiError.bad_request("bad WebSocket upgrade: it needs GET, Sec-WebSocket-Version: 13 and a "
                                   "Sec-WebSocket-Key")
    if protocol is None:
        raise ApiError(403, "Forbidden", f"requested protocol(s) are not supported: {_offered(req)}; "
                       f"supports {list(supported)}")


def _accept(req: _Request, protocol: str) -> _ServerSocket:
    h = req.h
    key = h.headers.get("Sec-WebSocket-Key", "").encode()
    h.close_connection = True
    h.send_response(101)
    h.send_header("Upgrade", "websocket")
    h.send_header("Connection", "Upgrade")
    h.send_header("Sec-WebSocket-Accept", generate_accept_token(key).decode())
    h.send_header("Sec-WebSocket-Protocol", protocol)
    h.end_headers()
    h.wfile.flush()
    h.connection.settimeout(_IDLE)
    return _ServerSocket(h)


def _send_quietly(ws: _ServerSocket, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):
        ws.send(data)


# --------------------------------------------------------------------------------------------- exec


def _run(ws: _ServerSocket, handler: ExecHandler, session: ExecSession) -> None:
    outcome: list[bytes] = []

    def play() -> None:
        try:
            code = handler(session)
        except BrokenPipeError:
            return
        except Exception as exc:
            outcome.append(ch.status_failure(500, "InternalError", f"Internal error occurred: {exc!r}"))
        else:
            code = int(code or 0)
            outcome.append(ch.status_success() if code == 0 else ch.status_exit(code, session.command))
        if session.stdin is not None:
            session.stdin.end()
        _send_quietly(ws, outcome[-1])
        ws.close()

    worker = threading.Thread(target=play, name=f"k8spb exec {session.namespace}/{session.pod}", daemon=True)
    worker.start()
    demux = ch.Demux()
    try:
        while (pieces := ws.receive()) is not None:
            for data, end in pieces:
                routed = demux.feed(data, end)
                if routed is None:
                    continue
                channel, payload = routed
                if channel == ch.STDIN and session.stdin is not None:
                    session.stdin.feed(payload)
                elif channel == ch.RESIZE and session.tty:
                    with contextlib.suppress(ch.ChannelError):  # kubelet drops a resize it cannot read
                        session.resizes.put(ch.parse_resize(payload))
                elif channel == ch.CLOSE and payload[:1] == bytes((ch.STDIN,)) and session.stdin is not None:
                    session.stdin.end()
    finally:
        if session.stdin is not None:
            session.stdin.end()
        worker.join(timeout=_IDLE)


# --------------------------------------------------------------------------------------------- port-forward


def _refused(api: ApiServer, namespace: str, name: str, port: int, exc: OSError) -> bytes:
    host, target = api.streams.target(namespace, name, port)
    return (f"error forwarding port {port} to pod {namespace}/{name}: dial tcp {host}:{target}: "
            f"{exc.strerror or exc}").encode()


def _dial(api: ApiServer, namespace: str, name: str, port: int) -> socket.socket:
    return socket.create_connection(api.streams.target(namespace, name, port), timeout=10)


def _copy_out(conn: socket.socket, emit: Callable[[bytes], None], done: Callable[[], None]) -> None:
    """Read a target socket until it ends, handing each piece to ``emit``; then ``done``."""
    try:
        conn.settimeout(None)
        while data := conn.recv(_CHUNK):
            emit(data)
    except (OSError, BrokenPipeError):
        pass
    finally:
        done()


def _forward_channels(api: ApiServer, ws: _ServerSocket, namespace: str, name: str, ports: list[int]) -> None:
    """``v4.channel.k8s.io``: port i on channels 2i (data) and 2i+1 (error), all for this one connection."""
    conns: dict[int, socket.socket] = {}
    pending = threading.Semaphore(0)
    for i, port in enumerate(ports):
        data_ch, err_ch = 2 * i, 2 * i + 1
        _send_quietly(ws, ch.message(data_ch, ch.port_prefix(port)))
        _send_quietly(ws, ch.message(err_ch, ch.port_prefix(port)))
        try:
            conn = _dial(api, namespace, name, port)
        except OSError as exc:
            _send_quietly(ws, ch.message(err_ch, _refused(api, namespace, name, port, exc)))
            pending.release()
            continue
        conns[data_ch] = conn
        threading.Thread(target=_copy_out, daemon=True, name=f"k8spb port-forward {port}",
                         args=(conn, lambda d, c=data_ch: ws.send(ch.message(c, d)), pending.release)).start()

    def finish() -> None:
        for _ in ports:
            pending.acquire()
        ws.close()

    closer = threading.Thread(target=finish, daemon=True)
    closer.start()
    demux = ch.Demux()
    try:
        while (pieces := ws.receive()) is not None:
            for data, end in pieces:
                routed = demux.feed(data, end)
                if routed is not None and routed[0] in conns and routed[1]:
                    with contextlib.suppress(OSError):
                        conns[routed[0]].sendall(routed[1])
    finally:
        for conn in conns.values():
            _shut(conn)


def _shut(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


class _Tunnel:
    """``SPDY/3.1+portforward.k8s.io``: kubectl's SPDY session inside the WebSocket.

    kubectl opens two streams per local connection, ``streamtype: error`` then ``streamtype: data``,
    with the same ``requestid`` and ``port`` headers; the server replies to each, connects the port, and
    copies data both ways. It writes a failure as text on the error stream and ends both streams.
    """

    def __init__(self, api: ApiServer, ws: _ServerSocket, namespace: str, name: str) -> None:
        self.api, self.ws, self.namespace, self.name = api, ws, namespace, name
        self.spdy = spdy.SpdyServer()
        self.lock = threading.Lock()  # SPDY's header compression is one stream: frames go out in order
        self.error_streams: dict[str, int] = {}
        self.data_streams: dict[int, socket.socket | None] = {}
        self.ended: set[int] = set()

    def _send(self, make: Callable[[], bytes]) -> None:
        with self.lock:
            self.ws.send(make())

    def run(self) -> None:
        try:
            while (pieces := self.ws.receive()) is not None:
                for data, _end in pieces:
                    for frame in self.spdy.feed(data):
                        self._frame(frame)
        except spdy.SpdyError:
            _send_quietly(self.ws, self.spdy.goaway(0, spdy.PROTOCOL_ERROR))
            self.ws.finish(1002)
        except BrokenPipeError:
            pass
        finally:
            for conn in self.data_streams.values():
                if conn is not None:
                    _shut(conn)

    def _frame(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.Ping):
            self._send(lambda: self.spdy.ping(frame.id))
        elif isinstance(frame, spdy.SynStream):
            self._stream(frame)
        elif isinstance(frame, spdy.Data):
            conn = self.data_streams.get(frame.stream_id)
            if conn is None:
                return
            try:
                if frame.data:
                    conn.sendall(frame.data)
                if frame.fin:
                    conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        elif isinstance(frame, spdy.RstStream):
            conn = self.data_streams.pop(frame.stream_id, None)
            if conn is not None:
                _shut(conn)
        elif isinstance(frame, spdy.GoAway):
            self.ws.close()

    def _stream(self, syn: spdy.SynStream) -> None:
        kind, request = syn.headers.get("streamtype", ""), syn.headers.get("requestid", "")
        self._send(lambda: self.spdy.syn_reply(syn.stream_id))
        if kind == "error":
            self.error_streams[request] = syn.stream_id
            return
        if kind != "data":
            self._send(lambda: self.spdy.rst_stream(syn.stream_id, spdy.PROTOCOL_ERROR))
            return
        error_id = self.error_streams.pop(request, None)
        port_text = syn.headers.get("port", "")
        problem = None
        conn: socket.socket | None = None
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            problem = f'invalid port header "{port_text}"'.encode()
        else:
            try:
                conn = _dial(self.api, self.namespace, self.name, int(port_text))
            except OSError as exc:
                problem = _refused(self.api, self.namespace, self.name, int(port_text), exc)
        if conn is None:
            if error_id is not None:
                self._send(lambda: self.spdy.data(error_id, problem or b"", fin=True))
            self._send(lambda: self.spdy.data(syn.stream_id, b"", fin=True))
            return
        self.data_streams[syn.stream_id] = conn

        def done() -> None:
            try:
                self._send(lambda: self.spdy.data(syn.stream_id, b"", fin=True))
                if error_id is not None:
                    self._send(lambda: self.spdy.data(error_id, b"", fin=True))
            except BrokenPipeError:
                pass

        threading.Thread(target=_copy_out, daemon=True, name=f"k8spb port-forward {port_text}",
                         args=(conn, lambda d: self._send(lambda: self.spdy.data(syn.stream_id, d)), done)).start()
