"""await_condition(): wait until one object satisfies a predicate (watching it, not polling)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, overload

from k8spb._api import Api, AsyncApi
from k8spb.runtime._watcher import Apply, Delete, Init, InitApply, InitDone, WatcherConfig, watcher

__all__ = ["await_condition"]

K = TypeVar("K")


class _Tracker:
    """The object's latest state from watcher events, and whether the predicate holds for it."""

    def __init__(self, predicate: Callable[[Any], bool]) -> None:
        self.predicate = predicate
        self.seen: Any = None

    def check(self, event: Any) -> bool:
        if isinstance(event, (Apply, InitApply)):
            self.seen = event.object
        elif isinstance(event, Delete):
            self.seen = None
        elif isinstance(event, Init):  # the state is listed again
            self.seen = None
            return False
        elif not isinstance(event, InitDone):
            return False
        return bool(self.predicate(self.seen))


def _config(name: str, timeout: float | None) -> WatcherConfig:
    seconds = 290 if timeout is None else max(1, min(290, math.ceil(timeout) + 1))
    return WatcherConfig(field_selector=f"metadata.name={name}", timeout_seconds=seconds)


@overload
def await_condition(api: Api[K], name: str, condition: Callable[[K | None], bool],
                    timeout: float | None = None) -> K | None: ...
@overload
def await_condition(api: AsyncApi[K], name: str, condition: Callable[[K | None], bool],
                    timeout: float | None = None) -> Coroutine[Any, Any, K | None]: ...


def await_condition(api: Api[K] | AsyncApi[K], name: str, condition: Callable[[K | None], bool],
                    timeout: float | None = None) -> K | Coroutine[Any, Any, K | None] | None:
    """The object ``name`` once ``condition`` holds for it (None: it holds for the absent object).

    ``condition`` gets the object, or None while it does not exist; it is checked on the initial state
    and on every change. TimeoutError after ``timeout`` seconds. With an AsyncApi, await the result.
    """
    if isinstance(api, AsyncApi):
        return _await(api, name, condition, timeout)
    tracker = _Tracker(condition)
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set) if timeout is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for event in watcher(api, _config(name, timeout), stop=stop):
            if tracker.check(event):
                return tracker.seen  # type: ignore[no-any-return]
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        if timer is not None:
            timer.cancel()
    raise TimeoutError(f"{api.resource.kind} {name!r}: condition not met within {timeout} s")


async def _await(api: AsyncApi[K], name: str, condition: Callable[[K | None], bool],
                 timeout: float | None) -> K | None:
    tracker = _Tracker(condition)
    try:
        async with asyncio.timeout(timeout):
            async for event in watcher(api, _config(name, timeout)):
                if tracker.check(event):
                    return tracker.seen  # type: ignore[no-any-return]
    except TimeoutError:
        raise TimeoutError(f"{api.resource.kind} {name!r}: condition not met within {timeout} s") from None
    raise AssertionError("a watcher never ends")  # pragma: no cover
