#!/usr/bin/env python3
"""Load test of k8spb.testing.ApiServer: concurrent connects, many watches, and a soak with RSS.

    python3 tools/load_server.py [--connects 512] [--watches 2000] [--events 100] [--soak 30]

The server runs in its own process (``python -m k8spb.testing``); this process is the load, on raw
non-blocking sockets driven by one selector, so the client is never the bottleneck of the figures.

* connects: ``--connects`` sockets connect at once and each sends ``GET /version``: seconds until
  every response is in, and the slowest connection.
* watches: ``--watches`` JSON watches of ConfigMaps are opened; then the server's RSS, threads and
  CPU seconds spent in 2 s of idling; then ``--events`` ConfigMaps are created and the seconds until
  every watch has every event (events delivered per second = watches x events / seconds).
* soak: ``--soak`` seconds of create/replace/delete of 10 KiB ConfigMaps with 50 watches open;
  the server's RSS every second (start, peak, end) and the writes done.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CMS = "/api/v1/namespaces/default/configmaps"


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """``python -m k8spb.testing`` in a subprocess, with its /proc figures."""

    def __init__(self, src: Path = ROOT / "src", args: tuple[str, ...] = ()) -> None:
        env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen([sys.executable, "-m", "k8spb.testing", *args], stdout=subprocess.PIPE,
                                     text=True, env=env)
        assert self.proc.stdout is not None
        with open(self.proc.stdout.readline().strip()) as fh:
            url = yaml.safe_load(fh)["clusters"][0]["cluster"]["server"]
        host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
        self.address = (host, int(port))

    def status(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def rss_mib(self) -> float:
        return self.status("VmRSS") / 1024

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def request(address: tuple[str, int], method: str, path: str, body: Any = None) -> bytes:
    """One request on a fresh connection; the whole response."""
    data = json.dumps(body).encode() if body is not None else b""
    with socket.create_connection(address, timeout=30) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def read_response(s: socket.socket) -> bytes:
    """One Content-Length response off a keep-alive connection."""
    resp = b""
    while b"\r\n\r\n" not in resp:
        resp += s.recv(65536)
    head, body = resp.split(b"\r\n\r\n", 1)
    length = int(head.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
    while len(body) < length:
        body += s.recv(65536)
    return body


def connects(address: tuple[str, int], n: int) -> dict[str, float]:
    sel = selectors.DefaultSelector()
    start = time.perf_counter()
    pending: dict[socket.socket, list[Any]] = {}
    for _ in range(n):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(address)
        sel.register(c, selectors.EVENT_WRITE)
        pending[c] = [b"", time.perf_counter()]
    slowest = 0.0
    done = failed = 0
    while done < n:
        for key, mask in sel.select(timeout=60):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            try:
                if mask & selectors.EVENT_WRITE:
                    s.send(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                chunk = s.recv(65536)
            except OSError:
                failed += 1
                chunk = b""
                pending[s][0] = b"HTTP/1.1 200 (failed)"
            pending[s][0] += chunk
            if not chunk:
                assert pending[s][0].startswith(b"HTTP/1.1 200"), pending[s][0][:100]
                slowest = max(slowest, time.perf_counter() - pending[s][1])
                sel.unregister(s)
                s.close()
                done += 1
    return {"seconds": time.perf_counter() - start, "slowest": slowest, "failed": failed}


class Watches:
    """``n`` JSON watches on raw sockets, de-chunking their streams and counting the events each receives."""

    MARK = b'{"type":"'

    def __init__(self, address: tuple[str, int], n: int, rv: str) -> None:
        self.sel = selectors.DefaultSelector()
        self.counts: dict[socket.socket, int] = {}
        self.raw: dict[socket.socket, bytes] = {}  # bytes not yet de-chunked (headers first)
        self.body: dict[socket.socket, bytes] = {}  # de-chunked bytes after the last complete event
        req = (f"GET {CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=3600 HTTP/1.1\r\nHost: x\r\n\r\n").encode()
        for _ in range(n):
            s = socket.create_connection(address, timeout=60)
            s.sendall(req)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            self.counts[s] = 0
            self.raw[s] = b""
            self.body[s] = b""

    def _dechunk(self, s: socket.socket) -> None:
        raw = self.raw[s]
        if raw.startswith(b"HTTP/"):
            if b"\r\n\r\n" not in raw:
                return
            raw = raw.split(b"\r\n\r\n", 1)[1]
        body = self.body[s]
        while b"\r\n" in raw:
            size_line, rest = raw.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) < size + 2:
                break
            body += rest[:size]
            raw = rest[size + 2:]
        self.raw[s] = raw
        lines = body.split(b"\n")  # JSON watch events are newline-terminated
        self.counts[s] += sum(1 for line in lines[:-1] if line.startswith(self.MARK))
        self.body[s] = lines[-1]

    def pump(self, timeout: float) -> None:
        for key, _ in self.sel.select(timeout=timeout):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            try:
                chunk = s.recv(1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise SystemExit("a watch ended early")
            self.raw[s] += chunk
            self._dechunk(s)

    def wait_all(self, events: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while min(self.counts.values()) < events:
            if time.monotonic() > deadline:
                return False
            self.pump(0.5)
        return True

    def close(self) -> None:
        for s in self.counts:
            s.close()


def list_rv(address: tuple[str, int]) -> str:
    body = request(address, "GET", CMS).split(b"\r\n\r\n", 1)[1]
    return str(json.loads(body)["metadata"]["resourceVersion"])


def watch_fanout(srv: Server, n: int, events: int) -> dict[str, float]:
    rv = list_rv(srv.address)
    rss0 = srv.rss_mib()
    opened = time.perf_counter()
    watches = Watches(srv.address, n, rv)
    open_s = time.perf_counter() - opened
    time.sleep(1)
    idle0 = srv.cpu_seconds()
    time.sleep(2)
    idle_cpu = srv.cpu_seconds() - idle0
    out = {"open_s": open_s, "rss_before": rss0, "rss_open": srv.rss_mib(), "threads": srv.status("Threads"),
           "idle_cpu_2s": idle_cpu}
    with socket.create_connection(srv.address) as s:
        start = time.perf_counter()
        for i in range(events):
            body = json.dumps({"metadata": {"name": f"fan-{i}"}, "data": {"k": "v"}}).encode()
            s.sendall(f"POST {CMS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            read_response(s)
            watches.pump(0)
        complete = watches.wait_all(events, 300)
    seconds = time.perf_counter() - start
    out.update({"fanout_s": seconds, "events_per_s": n * events / seconds, "complete": float(complete),
                "rss_after": srv.rss_mib()})
    watches.close()
    return out


def soak(srv: Server, seconds: float) -> dict[str, float]:
    watches = Watches(srv.address, 50, list_rv(srv.address))
    payload = "x" * 10240
    samples = [srv.rss_mib()]
    writes = 0
    start = last = time.monotonic()
    with socket.create_connection(srv.address) as s:
        def call(method: str, path: str, body: Any = None, content_type: str = "application/json") -> None:
            data = json.dumps(body).encode() if body is not None else b""
            s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                      f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
            read_response(s)

        i = 0
        while time.monotonic() - start < seconds:
            name = f"soak-{i % 200}"
            call("DELETE", f"{CMS}/{name}")
            call("POST", CMS, {"metadata": {"name": name}, "data": {"payload": payload + str(i)}})
            call("PATCH", f"{CMS}/{name}", {"data": {"more": payload}}, "application/merge-patch+json")
            writes += 3
            i += 1
            watches.pump(0)
            if time.monotonic() - last >= 1:
                samples.append(srv.rss_mib())
                last = time.monotonic()
    watches.close()
    return {"writes": writes, "writes_per_s": writes / seconds, "rss_start": samples[0], "rss_peak": max(samples),
            "rss_end": samples[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connects", type=int, default=512)
    parser.add_argument("--watches", type=int, default=2000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--soak", type=float, default=30.0)
    parser.add_argument("--event-log-mib", type=int, default=0,
                        help="the server's event log cap (python -m k8spb.testing --event-log-mib); 0: its default")
    parser.add_argument("--server-src", type=Path, default=ROOT / "src",
                        help="the src directory the server is imported from (another checkout, to compare)")
    args = parser.parse_args()
    raise_fd_limit()
    srv = Server(args.server_src, ("--event-log-mib", str(args.event_log_mib)) if args.event_log_mib else ())
    try:
        print(f"server pid {srv.proc.pid}, RSS {srv.rss_mib():.0f} MiB at start")
        if args.connects:
            r = connects(srv.address, args.connects)
            print(f"connects: {args.connects} at once, all answered in {r['seconds']:.2f} s, "
                  f"slowest {r['slowest']:.2f} s, {r['failed']:.0f} failed (reset or refused)")
        if args.watches:
            r = watch_fanout(srv, args.watches, args.events)
            print(f"watches: {args.watches} opened in {r['open_s']:.1f} s; server RSS {r['rss_before']:.0f} -> "
                  f"{r['rss_open']:.0f} MiB, {r['threads']:.0f} threads, {r['idle_cpu_2s']:.2f} CPU s in 2 s idle")
            print(f"  {args.events} events to each: {'all delivered' if r['complete'] else 'INCOMPLETE'} in "
                  f"{r['fanout_s']:.2f} s ({r['events_per_s']:,.0f} events/s); RSS {r['rss_after']:.0f} MiB")
        if args.soak:
            r = soak(srv, args.soak)
            print(f"soak: {args.soak:.0f} s, {r['writes']:.0f} writes of 10 KiB objects ({r['writes_per_s']:.0f}/s), "
                  f"50 watches; server RSS start {r['rss_start']:.0f}, peak {r['rss_peak']:.0f}, "
                  f"end {r['rss_end']:.0f} MiB")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
