"""The client's WebSocket against hostile and broken servers, and fuzzed frames: clear errors, no hangs."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8spb import Api, Client, Config, RequestTimeout, ServerError, TransportError
from k8spb import _channels as ch
from k8spb._websocket import Frames
from k8spb.api.core.v1 import Pod

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(payload: bytes, opcode: int = 2, fin: bool = True) -> bytes:
    """An unmasked server frame."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack(">H", n)
    else:
        head += bytes([127]) + struct.pack(">Q", n)
    return head + payload


Script = Callable[[socket.socket, str], None]


class Hostile:
    """A server answering each connection with ``script(conn, accept_key)`` after reading the request head."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.script: Script = lambda conn, key: None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                more = conn.recv(4096)
                if not more:
                    return
                head += more
            key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key"))
            accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest()).decode()
            with contextlib.suppress(OSError):
                self.script(conn, accept)


def switching(accept: str, protocol: str = "v5.channel.k8s.io") -> bytes:
    return (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n").encode()


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    yield server
    server.sock.close()


@pytest.fixture
def pods(hostile: Hostile) -> Iterator[Api[Pod]]:
    config = Config(f"http://127.0.0.1:{hostile.sock.getsockname()[1]}", timeout=0.5)
    with Client(config, max_retries=0) as client:
        yield Api(client, Pod, "default")


WHERE = "GET /api/v1/namespaces/default/pods/web/exec"


def run(hostile: Hostile, pods: Api[Pod], script: Script) -> tuple[bytes, Exception | None, float]:
    hostile.script = script
    started = time.monotonic()
    proc = pods.exec("web", ["x"])
    error: Exception | None = None
    try:
        proc.wait(timeout=10)
    except (TransportError, ServerError) as exc:
        error = exc
    out = b""
    with contextlib.suppress(TransportError):
        out = proc.stdout.read() if proc.stdout is not None else b""
    proc.close()
    return out, error, time.monotonic() - started


def test_refused_upgrade_is_an_api_error(hostile: Hostile, pods: Api[Pod]) -> None:
    hostile.script = lambda c, k: c.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 9\r\n"
                                            b"Content-Type: text/plain\r\n\r\nkubelet!!")
    with pytest.raises(ServerError, match=f"{WHERE}: 500: kubelet!!"):
        pods.exec("web", ["x"])


@pytest.mark.parametrize(("reply", "message"), [
    (lambda k: switching(k, "v3.channel.k8s.io"), "chose the WebSocket subprotocol 'v3.channel.k8s.io'"),
    (lambda k: switching("bogus"), "Sec-WebSocket-Accept does not match"),
    (lambda k: switching(k).replace(b"Upgrade: websocket", b"Upgrade: SPDY/3.1"), "switched to 'SPDY/3.1'"),
], ids=["protocol", "accept", "upgrade"])
def test_bad_handshakes(hostile: Hostile, pods: Api[Pod], reply: Callable[[str], bytes], message: str) -> None:
    hostile.script = lambda c, k: c.sendall(reply(k))
    with pytest.raises(TransportError, match=f"{WHERE}: .*{message}"):
        pods.exec("web", ["x"])


@pytest.mark.parametrize(("after", "message"), [
    (bytes([0x83, 0]), "bad WebSocket frame"),  # reserved opcode
    (bytes([0xC2, 1, 1]), "bad WebSocket frame"),  # RSV1 without an extension
    (bytes([0x82, 0xFE, 0, 4]) + b"\x01mask", "bad WebSocket frame"),  # a masked server frame
    (frame(b"text", opcode=1), "text message"),
    (frame(b"\x03" + b"not json"), "status message is not JSON"),
    (frame(b"\x03" + b'{"status":"Failure","reason":"NonZeroExitCode"}'), "no ExitCode cause"),
    (frame(b"\x03" + b"x" * (ch.MAX_STATUS + 10)), "status channel carried more than"),
    (frame(b"\x01partial output"), "connection closed before the exit status arrived"),
    (bytes([0x82, 127]) + struct.pack(">Q", 1 << 40) + b"\x01" + b"z" * 1000, "closed before the exit status"),
], ids=["opcode", "rsv1", "masked", "text", "status-not-json", "no-exit-code", "status-too-big", "cut",
        "huge-frame"])
def test_bad_streams(hostile: Hostile, pods: Api[Pod], after: bytes, message: str) -> None:
    _, error, took = run(hostile, pods, lambda c, k: c.sendall(switching(k) + after))
    assert error is not None and error.args[0].startswith(WHERE) and message in str(error), error
    assert took < 5


def test_output_before_a_cut_is_kept(hostile: Hostile, pods: Api[Pod]) -> None:
    out, error, _ = run(hostile, pods, lambda c, k: c.sendall(switching(k) + frame(b"\x01kept") + frame(b"\x02x")))
    assert out == b"kept" and isinstance(error, TransportError)


def test_status_then_abrupt_end_still_gives_the_code(hostile: Hostile, pods: Api[Pod]) -> None:
    status = ch.status_exit(9, ["x"])
    _, error, _ = run(hostile, pods, lambda c, k: c.sendall(switching(k) + frame(b"\x01out") + frame(status)))
    assert error is None


def test_a_silent_server_times_out(hostile: Hostile, pods: Api[Pod]) -> None:
    def silent(c: socket.socket, k: str) -> None:
        c.sendall(switching(k))
        time.sleep(3)

    _, error, took = run(hostile, pods, silent)
    assert isinstance(error, RequestTimeout) and "no data and no answer to a ping for 1s" in str(error)
    assert took < 3


def test_a_server_answering_pings_is_alive(hostile: Hostile, pods: Api[Pod]) -> None:
    def slow(c: socket.socket, k: str) -> None:
        c.sendall(switching(k))
        for _ in range(4):  # quiet for 4 timeouts, but answering each ping (masked client frames: just pong)
            data = c.recv(1024)
            if data and data[0] & 0x0F == 0x9:
                c.sendall(frame(b"", opcode=0xA))
        c.sendall(frame(ch.status_success()) + frame(struct.pack(">H", 1000), opcode=8))

    _, error, took = run(hostile, pods, slow)
    assert error is None and took > 1.5


# --------------------------------------------------------------------------------------------- fuzz


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 64))
def test_frames_fuzz(junk: bytes, cut: int) -> None:
    frames = Frames("GET /fuzz")
    try:
        for i in range(0, len(junk), cut):
            pieces, _ = frames.feed(junk[i:i + cut])
            assert all(isinstance(p, bytes) for p, _ in pieces)
        frames.feed(b"")
    except TransportError as exc:
        assert str(exc).startswith("GET /fuzz: ")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=40), st.booleans()), max_size=20),
       st.lists(st.integers(1, 65535), max_size=3, unique=True))
def test_demux_fuzz(pieces: list[tuple[bytes, bool]], ports: list[int]) -> None:
    demux = ch.Demux(ports)
    try:
        for data, end in pieces:
            routed = demux.feed(data, end)
            assert routed is None or 0 <= routed[0] <= 255
    except ch.ChannelError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["status", "reason", "details", "causes", "message", "code"]), inner, max_size=4),
    max_leaves=12).map(lambda v: __import__("json").dumps(v).encode())))
def test_exit_status_fuzz(data: bytes) -> None:
    try:
        code, _status = ch.exit_code(data)
        assert code is None or code >= 0
    except ch.ChannelError:
        pass


def test_port_prefixes_are_checked() -> None:
    demux = ch.Demux([8080])
    assert demux.feed(b"\x00\x90", True) == (0, b"")
    assert demux.feed(b"\x00\x1fdata", True) == (0, b"data")  # 0x1f90 little endian = 8080
    with pytest.raises(ch.ChannelError, match="channel 1 starts with port 1, not 8080"):
        demux.feed(b"\x01\x01\x00", True)
    with pytest.raises(ch.ChannelError, match="only channels 0 to 1 exist"):
        demux.feed(b"\x05x", True)
