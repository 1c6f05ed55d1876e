"""Shared helpers of the runtime tests: a server per test, and watchers run in the background."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from k8spb import Api, AsyncClient, Client, Config
from k8spb.api.core.v1 import ConfigMap
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta
from k8spb.runtime import Backoff, Event, WatcherConfig, Writer, reflector, watcher
from k8spb.testing import ApiServer

FAST = Backoff(initial=0.02, maximum=0.2)
"""Backoff for tests: failures are retried at once, more or less."""


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer(bookmark_interval=0.3) as srv:
        yield srv


@pytest.fixture
def client(server: ApiServer) -> Iterator[Client]:
    with Client(Config.from_kubeconfig(server.kubeconfig_path), backoff=0.01, max_retries=0) as c:
        yield c


def async_client(server: ApiServer) -> AsyncClient:
    return AsyncClient(Config.from_kubeconfig(server.kubeconfig_path), backoff=0.01, max_retries=0)


def cm(name: str, **data: str) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name), data=dict(data) or None)


def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something true; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s (last: {value!r})")
        time.sleep(0.02)


class Background:
    """A sync watcher (through a reflector into ``writer``) in a thread, recording every event."""

    def __init__(self, api: Api[Any], config: WatcherConfig | None = None, writer: Writer[Any] | None = None) -> None:
        self.events: list[Event[Any]] = []
        self.writer = writer or Writer()
        self.stop = threading.Event()
        stream = watcher(api, config or WatcherConfig(backoff=FAST), stop=self.stop)
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream: Iterator[Event[Any]]) -> None:
        for event in reflector(self.writer, stream):
            self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if type(e) is kind]

    def close(self) -> None:
        self.stop.set()



