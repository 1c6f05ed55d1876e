"""The watch hub (k8spb.testing._watch): many watches on one thread, keep-alive, backpressure, big fds."""

from __future__ import annotations

import json
import os
import resource
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from k8spb.testing import ApiServer
from k8spb.testing._watch import HIGH_WATER, closed_by_peer

pytestmark = pytest.mark.timeout(60)

CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture(scope="module")
def srv() -> Iterator[ApiServer]:
    with ApiServer(bookmark_interval=0.2) as server:
        yield server


def address(srv: ApiServer) -> tuple[str, int]:
    return srv.host, srv.port


def raw_watch(srv: ApiServer, query: str = "") -> socket.socket:
    s = socket.create_connection(address(srv), timeout=10)
    s.sendall(f"GET {CMS}?watch=1&timeoutSeconds=30{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def read_until(s: socket.socket, marker: bytes, limit: float = 10) -> bytes:
    data = b""
    deadline = time.monotonic() + limit
    while marker not in data:
        assert time.monotonic() < deadline, data[-200:]
        chunk = s.recv(65536)
        assert chunk, data[-200:]
        data += chunk
    return data


def wait_for(condition: object, limit: float = 10) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_idle_watches_cost_no_thread(srv: ApiServer) -> None:
    before = threading.active_count()
    watches = [raw_watch(srv) for _ in range(60)]
    try:
        for s in watches:
            read_until(s, b"\r\n\r\n")  # headers: the watch is registered
        wait_for(lambda: len(srv.store.watchers) >= 60)
        wait_for(lambda: threading.active_count() < before + 5)  # request threads hand over and end
        with httpx.Client(base_url=srv.url) as http:
            assert http.post(CMS, json={"metadata": {"name": "fan"}}).status_code == 201
        for s in watches:
            assert b'"name":"fan"' in read_until(s, b'"fan"')
    finally:
        for s in watches:
            s.close()
    wait_for(lambda: len(srv.store.watchers) == 0)  # the hub sees the hang-ups and unregisters


def test_connection_is_kept_alive_after_a_watch_ends(srv: ApiServer) -> None:
    with httpx.Client(base_url=srv.url, timeout=10) as http:
        for _ in range(3):
            with http.stream("GET", CMS, params={"watch": "1", "timeoutSeconds": "1"}) as r:
                assert r.status_code == 200
                r.read()
            assert http.get("/version").status_code == 200
        pool = http._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1  # one connection served every request


def test_bookmarks_and_timeouts_from_the_hub(srv: ApiServer) -> None:
    with httpx.Client(base_url=srv.url, timeout=10) as http:
        start = time.monotonic()
        r = http.get(CMS, params={"watch": "1", "timeoutSeconds": "1", "allowWatchBookmarks": "true",
                                  "resourceVersion": srv.store.rv})
    assert 1 <= time.monotonic() - start < 5
    types = [json.loads(line)["type"] for line in r.text.splitlines()]
    assert types and set(types) == {"BOOKMARK"}


def test_a_slow_client_holds_objects_not_bytes(srv: ApiServer) -> None:
    s = raw_watch(srv)
    read_until(s, b"\r\n\r\n")
    wait_for(lambda: len(srv.store.watchers) == 1)
    payload = "x" * 100_000
    with httpx.Client(base_url=srv.url) as http:
        for i in range(100):  # 10 MB of events the client does not read (more than socket buffers hold)
            assert http.post(CMS, json={"metadata": {"name": f"big-{i}"}, "data": {"p": payload}}).status_code == 201
    hub = srv._hub
    assert hub is not None
    wait_for(lambda: any(st.unsent for st in hub.streams))
    [stream] = [st for st in hub.streams if st.unsent]
    assert stream.unsent <= HIGH_WATER + 2 * len(payload)  # the hub stopped encoding at the high-water mark
    watcher = stream.watcher
    assert watcher is not None and not watcher.events.empty()  # the rest waits as stored objects
    data = read_until(s, b'"big-99"', limit=30)
    assert all(f'"big-{i}"'.encode() in data for i in range(100))
    s.close()


def test_watches_and_hang_up_checks_work_with_descriptors_above_1024(srv: ApiServer) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1300:
        pytest.skip("the hard limit on open files is below 1300")
    if soft != resource.RLIM_INFINITY and soft < 1300:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1300 if hard == resource.RLIM_INFINITY else min(1300, hard),
                                                    hard))
    fillers: list[int] = []

    def fill() -> None:  # take every free descriptor below 1030 (other tests' sockets close meanwhile)
        while True:
            fd = os.open(os.devnull, os.O_RDONLY)
            if fd >= 1030:
                os.close(fd)
                return
            fillers.append(fd)

    try:
        with httpx.Client(base_url=srv.url, timeout=10) as http:
            fill()
            with http.stream("GET", CMS, params={"watch": "1", "timeoutSeconds": "10",
                                                 "resourceVersion": srv.store.rv}) as r:
                hub = srv._hub
                assert hub is not None
                wait_for(lambda: [st.conn.fileno() >= 1024 for st in hub.streams] == [True])
                assert http.post(CMS, json={"metadata": {"name": "high-fd"}}).status_code == 201
                for line in r.iter_lines():
                    if '"high-fd"' in line:
                        break
            fill()
            a, b = socket.socketpair()
            assert a.fileno() >= 1024
            assert not closed_by_peer(a)
            b.close()
            assert closed_by_peer(a)  # select() would have raised ValueError, read as a hang-up
            a.close()
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_listen_backlog_takes_a_burst_of_connects() -> None:
    from k8spb.testing._server import _Handler, _HTTPServer

    httpd = _HTTPServer(("127.0.0.1", 0), _Handler)  # listening, never accepting
    try:
        clients = []
        for _ in range(200):  # socketserver's backlog of 5 left these waiting on SYN retries
            c = socket.socket()
            c.settimeout(5)
            c.connect(httpd.server_address)
            clients.append(c)
        for c in clients:
            c.close()
    finally:
        httpd.server_close()
