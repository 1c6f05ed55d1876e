"""A hostile HTTP server for client tests: a few lines over a real socket, answering as a test scripts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

Handler = Callable[[socket.socket, bytes], object]
"""Answers one request; a true result keeps the connection for the next."""


class Hostile:
    """An HTTP server on 127.0.0.1 answering every request with ``handler(connection, request_head)``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.heads: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.stop = threading.Event()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            seen = b""
            try:
                while True:  # one request after another while the handler keeps the connection
                    while b"\r\n\r\n" not in seen:
                        more = conn.recv(65536)
                        if not more:
                            return
                        seen += more
                    head, seen = seen.split(b"\r\n\r\n", 1)
                    self.heads.append(head)
                    if not self.handler(conn, head):
                        return
            except OSError:
                pass

    def idle(self) -> None:
        """Hold the connection open until the test ends (a stream that goes quiet)."""
        self.stop.wait(30)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def hostile() -> Iterator[Callable[[Handler], Hostile]]:
    made: list[Hostile] = []

    def make(handler: Handler) -> Hostile:
        made.append(Hostile(handler))
        return made[-1]

    yield make
    for h in made:
        h.close()
