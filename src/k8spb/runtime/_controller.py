"""Controller: reconcile every object of a kind when it, or something it owns or watches, changes.

::

    controller = Controller(AsyncApi(client, MyCR)).owns(AsyncApi(client, ConfigMap))
    await controller.run(reconcile, error_policy)

The main kind is watched into a :class:`Store` (``controller.store``); owned kinds (metadata only, by
default) trigger their owners through ``ownerReferences``; ``watches(api, mapper)`` triggers whatever
keys ``mapper`` returns for an object. Triggers go to a deduplicating queue: a key is never reconciled
twice at once, and reconciles start once the store has its initial state. ``reconcile(obj)`` returns
an :class:`Action`: ``Action.requeue(seconds)`` or ``Action.await_change()``. When it raises,
``error_policy(obj, error)`` chooses the Action; without one, the key is retried with exponential
backoff (per key, reset by a success). ``shutdown()`` (or a signal, with ``shutdown_on_signal()``)
stops the watchers, lets running reconciles finish (up to ``shutdown_grace`` seconds) and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

from k8spb._api import Api, AsyncApi
from k8spb._errors import DecodeError
from k8spb.runtime._scheduler import Scheduler
from k8spb.runtime._store import ObjectRef, Store, Writer
from k8spb.runtime._watcher import (
    Apply,
    Backoff,
    Delete,
    InitApply,
    WatcherConfig,
    metadata_watcher,
    peek_metadata,
    watcher,
)

__all__ = ["Action", "Controller", "SyncController"]

K = TypeVar("K")
log = logging.getLogger("k8spb.runtime")


@dataclass(frozen=True, slots=True)
class Action:
    """What to do with a key after its reconcile."""

    requeue_after: float | None
    """Seconds until the next reconcile; None: only when something changes."""

    @classmethod
    def requeue(cls, after: float | datetime.timedelta) -> Action:
        """Reconcile again after ``after`` (seconds or a timedelta), whatever happens meanwhile."""
        seconds = after.total_seconds() if isinstance(after, datetime.timedelta) else float(after)
        if seconds < 0:
            raise ValueError(f"requeue delay must not be negative, got {seconds}")
        return cls(seconds)

    @classmethod
    def await_change(cls) -> Action:
        """Reconcile again only when the object (or something it owns or watches) changes."""
        return cls(None)


Mapper = Callable[[Any], Iterable[ObjectRef]]

def _self_key(obj: Any) -> Iterable[ObjectRef]:
    """The main kind's mapper: an object is its own key (see _Base._keys)."""
    return (ObjectRef(obj.metadata.name or "", obj.metadata.namespace or None),)


RECONCILE_BACKOFF = Backoff(initial=0.5, maximum=300.0)
"""A failed reconcile is retried after 0.5 s, 1 s, 2 s ... up to 5 minutes (with jitter)."""


@dataclass(frozen=True, slots=True)
class _Source:
    api: Any
    config: WatcherConfig | None
    metadata: bool
    mapper: Mapper


def _owners_of(kind: str, group: str, namespaced: bool) -> Mapper:
    """ObjectRefs of an object's owners of the given kind (ownerReferences, any version of the group)."""

    def owners(obj: Any) -> Iterable[ObjectRef]:
        meta = obj.metadata
        refs = meta.owner_references if meta is not None else None
        if not refs:
            return ()
        namespace = (meta.namespace or None) if namespaced else None
        out = []
        for ref in refs:
            ref_group = (ref.api_version or "").rpartition("/")[0]
            if ref.kind == kind and ref_group == group and ref.name:
                out.append(ObjectRef(ref.name, namespace))
        return out

    return owners


class _Base(Generic[K]):
    """What both controllers share: the sources and the decisions around a reconcile."""

    def __init__(self, api: Any, config: WatcherConfig | None, *, concurrency: int | None, debounce: float,
                 backoff: Backoff, shutdown_grace: float, writer: Writer[K] | None) -> None:
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 (or None for no limit), got {concurrency}")
        self.api = api
        self.config = config
        self.concurrency = concurrency
        self.debounce = debounce
        self.backoff = backoff
        self.shutdown_grace = shutdown_grace
        self.writer: Writer[K] = writer or Writer()
        self._sources: list[_Source] = []
        self._scheduler = Scheduler()
        self._failures: dict[Hashable, int] = {}
        self._signals = False

    @property
    def store(self) -> Store[K]:
        """The cache of the main kind (ready once its initial list is in)."""
        return self.writer.store

    def owns(self, api: Any, config: WatcherConfig | None = None, *, metadata: bool = True) -> Self:
        """Reconcile the owners (of the main kind) of every changed object of ``api``'s kind.

        ``metadata=True`` watches only the owned objects' metadata, all that ownerReferences need.
        """
        ref = self.api.resource
        self._sources.append(_Source(api, config, metadata, _owners_of(ref.kind, ref.group, ref.namespaced)))
        return self

    def watches(self, api: Any, mapper: Mapper, config: WatcherConfig | None = None, *,
                metadata: bool = False) -> Self:
        """Reconcile the keys ``mapper(obj)`` returns for every changed object of ``api``'s kind."""
        self._sources.append(_Source(api, config, metadata, mapper))
        return self

    def shutdown_on_signal(self) -> Self:
        """Shut down gracefully on SIGINT and SIGTERM while ``run`` runs (main thread only)."""
        self._signals = True
        return self

    # decisions ---------------------------------------------------------------------------------------

    def _keys(self, source: _Source, event: Any) -> Iterable[ObjectRef]:
        if not isinstance(event, (Apply, InitApply, Delete)):
            return ()
        if source.mapper is _self_key:  # the main kind: the object's own key, read without parsing it
            meta = event._encoded.meta if event._encoded is not None else peek_metadata(event.object)
            return (ObjectRef(meta.name or "", meta.namespace or None),)
        try:
            return list(source.mapper(event.object))
        except Exception:
            log.exception("controller: a mapper failed on an object of %s", source.api.resource.kind)
            return ()

    def _fetch(self, key: Hashable) -> tuple[K | None, float | None]:
        """The object to reconcile (None: gone, nothing to do) and, when it cannot be read, the backoff."""
        try:
            obj = self.store.get(key)  # type: ignore[arg-type]
        except DecodeError as exc:  # what the server sent for it does not decode
            return None, self._after(key, None, exc)
        if obj is None:
            self._failures.pop(key, None)
        return obj, None

    def _after(self, key: Hashable, action: Action | None, error: Exception | None) -> float | None:
        """Seconds until ``key`` is reconciled again (None: on change only); keeps the failure count."""
        if error is None:
            self._failures.pop(key, None)
        elif action is None:
            n = self._failures.get(key, 0) + 1
            self._failures[key] = n
            delay = self.backoff.delay(n)
            log.warning("controller: reconcile of %s failed (%s: %s); retrying in %.2f s", key,
                        type(error).__name__, error, delay)
            return delay
        if action is None:
            return None
        if not isinstance(action, Action):
            log.error("controller: reconcile and error_policy must return an Action, got %s for %s; "
                      "backing off", type(action).__name__, key)
            return self._after(key, None, TypeError("not an Action"))
        return action.requeue_after


class Controller(_Base[K]):
    """An asyncio controller for the kind of ``api`` (an :class:`~k8spb.AsyncApi`)."""

    def __init__(self, api: AsyncApi[K], config: WatcherConfig | None = None, *, concurrency: int | None = None,
                 debounce: float = 0.0, backoff: Backoff = RECONCILE_BACKOFF,
                 shutdown_grace: float = 30.0, writer: Writer[K] | None = None) -> None:
        super().__init__(api, config, concurrency=concurrency, debounce=debounce, backoff=backoff,
                         shutdown_grace=shutdown_grace, writer=writer)
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None

    def trigger(self, ref: ObjectRef, delay: float = 0.0) -> None:
        """Reconcile ``ref`` (after ``delay`` seconds), from the controller's own event loop."""
        self._scheduler.schedule(ref, asyncio.get_running_loop().time() + delay)
        if self._wake is not None:
            self._wake.set()

    def shutdown(self) -> None:
        """Ask ``run`` to stop (from the controller's event loop)."""
        if self._stop is not None:
            self._stop.set()

    async def run(self, reconcile: Callable[[K], Awaitable[Action]],
                  error_policy: Callable[[K, Exception], Action | None] | None = None) -> None:
        """Reconcile until :meth:`shutdown`; an exception of a watcher (a bug, not the API) ends it."""
        loop = asyncio.get_running_loop()
        self._stop, self._wake = stop, wake = asyncio.Event(), asyncio.Event()
        main = _Source(self.api, self.config, False, _self_key)
        feeds = [asyncio.create_task(self._feed(main, self.writer))]
        feeds += [asyncio.create_task(self._feed(s, None)) for s in self._sources]
        running: set[asyncio.Task[None]] = set()
        installed = self._install_signals(loop) if self._signals else []
        try:
            ready = [asyncio.create_task(self.store.until_ready()), asyncio.create_task(stop.wait())]
            await asyncio.wait([*ready, *feeds], return_when=asyncio.FIRST_COMPLETED)
            for waiter in ready:
                waiter.cancel()

            def finished(task: asyncio.Task[None]) -> None:
                running.discard(task)
                wake.set()

            while not stop.is_set():
                self._check(feeds)
                now = loop.time()
                slots = None if self.concurrency is None else self.concurrency - len(running)
                for key in self._scheduler.pop_due(now, slots) if slots != 0 else ():
                    task = asyncio.create_task(self._one(key, reconcile, error_policy))
                    running.add(task)
                    task.add_done_callback(finished)
                due = self._scheduler.next_due()
                timeout = None if due is None or slots == 0 else max(0.0, due - loop.time())
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(wake, stop), timeout)
        finally:
            for task in feeds:
                task.cancel()
            if running:
                _, late = await asyncio.wait(running, timeout=self.shutdown_grace)
                for task in late:
                    task.cancel()
                if late:
                    await asyncio.wait(late)
            await asyncio.gather(*feeds, return_exceptions=True)
            for sig in installed:
                loop.remove_signal_handler(sig)
            self._stop = self._wake = None
        self._check(feeds)

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[signal.Signals]:
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.shutdown)
                installed.append(sig)
        return installed

    @staticmethod
    def _check(feeds: list[asyncio.Task[None]]) -> None:
        for task in feeds:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _feed(self, source: _Source, writer: Writer[K] | None) -> None:
        stream = (metadata_watcher if source.metadata else watcher)(source.api, source.config)
        loop = asyncio.get_running_loop()
        async for event in stream:
            if writer is not None:
                writer.apply(event)
            keys = self._keys(source, event)
            if keys:
                at = loop.time() + self.debounce
                for key in keys:
                    self._scheduler.schedule(key, at)
                assert self._wake is not None
                self._wake.set()

    async def _one(self, key: Any, reconcile: Callable[[K], Awaitable[Action]],
                   error_policy: Callable[[K, Exception], Action | None] | None) -> None:
        scheduler = self._scheduler
        after: float | None = None
        try:
            obj, after = self._fetch(key)
            if obj is not None:
                try:
                    after = self._after(key, await reconcile(obj), None)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    after = self._after(key, _policy(error_policy, obj, exc), exc)
        finally:
            scheduler.done(key)
        if after is not None:
            scheduler.schedule(key, asyncio.get_running_loop().time() + after)


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _policy(error_policy: Callable[[K, Exception], Action | None] | None, obj: K, exc: Exception) -> Action | None:
    if error_policy is None:
        return None
    try:
        return error_policy(obj, exc)
    except Exception:
        log.exception("controller: error_policy failed; backing off")
        return None


class SyncController(_Base[K]):
    """A controller for the kind of ``api`` (an :class:`~k8spb.Api`), reconciling in a thread pool.

    Watchers run in threads; ``reconcile(obj)`` runs in up to ``concurrency`` worker threads.
    """

    def __init__(self, api: Api[K], config: WatcherConfig | None = None, *, concurrency: int = 4,
                 debounce: float = 0.0, backoff: Backoff = RECONCILE_BACKOFF,
                 shutdown_grace: float = 30.0, writer: Writer[K] | None = None) -> None:
        super().__init__(api, config, concurrency=concurrency, debounce=debounce, backoff=backoff,
                         shutdown_grace=shutdown_grace, writer=writer)
        self._cond = threading.Condition()
        self._stopping = False
        self._stop_watching = threading.Event()
        self._crash: BaseException | None = None

    def trigger(self, ref: ObjectRef, delay: float = 0.0) -> None:
        """Reconcile ``ref`` (after ``delay`` seconds)."""
        with self._cond:
            self._scheduler.schedule(ref, time.monotonic() + delay)
            self._cond.notify_all()

    def shutdown(self) -> None:
        """Ask ``run`` to stop (from any thread)."""
        with self._cond:
            self._stopping = True
            self._stop_watching.set()
            self._cond.notify_all()

    def run(self, reconcile: Callable[[K], Action],
            error_policy: Callable[[K, Exception], Action | None] | None = None) -> None:
        """Reconcile until :meth:`shutdown`; an exception of a watcher (a bug, not the API) ends it.

        Watcher threads are daemons; at shutdown each ends at its next event, failure or the server's
        next bookmark.
        """
        with self._cond:
            self._stopping = False
            self._stop_watching = threading.Event()
        main = _Source(self.api, self.config, False, _self_key)
        for source, writer in [(main, self.writer), *((s, None) for s in self._sources)]:
            threading.Thread(target=self._feed, args=(source, writer), daemon=True,
                             name=f"k8spb-watch-{source.api.resource.plural}").start()
        previous = self._install_signals() if self._signals else {}
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="k8spb-reconcile")
        running: set[Future[None]] = set()
        try:
            while not self.store.wait_until_ready(0.1):
                with self._cond:
                    if self._stopping or self._crash:
                        break
            with self._cond:
                while not self._stopping and self._crash is None:
                    slots = (self.concurrency or 1) - len(running)
                    for key in self._scheduler.pop_due(time.monotonic(), slots) if slots > 0 else ():
                        fut = pool.submit(self._one, key, reconcile, error_policy)
                        running.add(fut)
                        fut.add_done_callback(self._finished(running))
                    due = self._scheduler.next_due()
                    wait = None if due is None or slots <= 0 else max(0.0, due - time.monotonic())
                    self._cond.wait(wait if wait is not None else 1.0)
        finally:
            self._stop_watching.set()
            pool.shutdown(wait=False, cancel_futures=True)
            deadline = time.monotonic() + self.shutdown_grace
            for fut in list(running):
                with contextlib.suppress(Exception):
                    fut.result(max(0.0, deadline - time.monotonic()))
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._crash is not None:
            raise self._crash

    def _finished(self, running: set[Future[None]]) -> Callable[[Future[None]], None]:
        def done(fut: Future[None]) -> None:
            with self._cond:
                running.discard(fut)
                self._cond.notify_all()
        return done

    def _install_signals(self) -> dict[signal.Signals, Any]:
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: self.shutdown())
        return previous

    def _feed(self, source: _Source, writer: Writer[K] | None) -> None:
        try:
            stop = self._stop_watching
            for event in (metadata_watcher if source.metadata else watcher)(source.api, source.config, stop=stop):
                if writer is not None:
                    writer.apply(event)
                keys = self._keys(source, event)
                with self._cond:
                    if self._stopping:
                        return
                    if keys:
                        at = time.monotonic() + self.debounce
                        for key in keys:
                            self._scheduler.schedule(key, at)
                        self._cond.notify_all()
        except BaseException as exc:  # a bug in the stream: end run() with it
            with self._cond:
                self._crash = exc
                self._cond.notify_all()

    def _one(self, key: Any, reconcile: Callable[[K], Action],
             error_policy: Callable[[K, Exception], Action | None] | None) -> None:
        after: float | None = None
        try:
            obj, after = self._fetch(key)
            if obj is not None:
                try:
                    after = self._after(key, reconcile(obj), None)
                except Exception as exc:
                    after = self._after(key, _policy(error_policy, obj, exc), exc)
        finally:
            with self._cond:
                self._scheduler.done(key)
                if after is not None:
                    self._scheduler.schedule(key, time.monotonic() + after)
                self._cond.notify_all()
