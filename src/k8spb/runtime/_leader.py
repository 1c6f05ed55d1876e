"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics.

One sans-io core, :class:`_Election`, decides what to do from the Lease it last observed and the local
monotonic clock; its :meth:`_Election.lifecycle` generator yields what to do next (call the API, sleep,
tell the callbacks) and is carried out by a thread (:class:`LeaderElector`, on ``Api``) or an asyncio task
(:class:`AsyncLeaderElector`, on ``AsyncApi``).

As client-go's ``leaderelection`` with a ``LeaseLock``:

- A lease has expired when its record (holder, duration, acquire/renew times, transitions) has not changed
  for ``leaseDurationSeconds`` by *our* clock, counted from when we first saw it as it is: the holder's
  ``renewTime`` is never compared with our clock, so clock skew between candidates does not matter.
- Writes are a ``replace`` of the Lease last read or written, so its resourceVersion is the precondition: a
  409 means another candidate wrote first. The leader renews without reading first (client-go's fast path)
  and reads again only when that fails.
- Taking a lease over increments ``leaseTransitions``; renewing keeps ``acquireTime`` and the transitions.
- Releasing writes an empty holder and a duration of one second, so the next candidate takes over at once.

Where it differs, on the safe side: the renew deadline counts from when the last successful write was sent
(client-go counts it from the start of each renewal round, a retry period later); a leader that reads a
Lease held by someone else steps down at once instead of retrying until the deadline; and the
``leaseDurationSeconds`` written is the lease duration rounded up to whole seconds (client-go truncates).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
import random
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from k8spb import AlreadyExists, Api, AsyncApi, Conflict, Error, NotFound
from k8spb.api.coordination.v1 import Lease, LeaseSpec
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta

__all__ = ["AsyncLeaderElector", "LeaderElector", "LeaderRecord", "LeadershipLost"]

_log = logging.getLogger("k8spb.runtime.leader")

JITTER_FACTOR = 1.2
"""client-go's: candidates retry every retry period plus up to 1.2 times as much again, at random."""

T = TypeVar("T")
A = TypeVar("A")
ApiT = TypeVar("ApiT", Api[Lease], AsyncApi[Lease])


class LeadershipLost(Error):
    """Leadership ended while the guarded code ran: the lease was not renewed in time, or another
    candidate took it."""


@dataclass(frozen=True, slots=True)
class LeaderRecord:
    """What a Lease says about its holder (client-go's ``LeaderElectionRecord``)."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    lease_transitions: int = 0

    @classmethod
    def of(cls, lease: Lease) -> LeaderRecord:
        """The record a Lease holds. Never raises: a missing spec or field, or one that cannot be read,
        reads as unset (so a Lease with no holder, or no valid duration, counts as free or expired)."""
        spec = _read(lambda: lease.spec, "spec", LeaseSpec)
        if spec is None:
            return cls()
        holder = _read(lambda: spec.holder_identity, "spec.holderIdentity", str)
        duration = _read(lambda: spec.lease_duration_seconds, "spec.leaseDurationSeconds", int)
        transitions = _read(lambda: spec.lease_transitions, "spec.leaseTransitions", int)
        return cls(holder or "", duration or 0, _read(lambda: spec.acquire_time, "spec.acquireTime", datetime),
                   _read(lambda: spec.renew_time, "spec.renewTime", datetime), transitions or 0)


def _read(get: Callable[[], Any], where: str, kind: type[A]) -> A | None:
    try:
        value = get()
    except (Error, ValueError, OverflowError) as exc:  # DecodeError: corrupt bytes, a value out of range
        _log.warning("lease %s is unreadable, treated as unset: %s", where, exc)
        return None
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        _log.warning("lease %s is a %s, not a %s: treated as unset", where, type(value).__name__, kind.__name__)
        return None
    return value


# ---------------------------------------------------------------------------------------------------------
# The sans-io core


@dataclass(frozen=True, slots=True)
class _Call:
    """Call ``api.<verb>(*args)``; give up on the answer after ``timeout`` seconds."""

    verb: Literal["get", "create", "replace"]
    args: tuple[Any, ...]
    timeout: float


@dataclass(frozen=True, slots=True)
class _Sleep:
    """Wait ``seconds`` (``math.inf``: until stopped), waking early when a stop is asked for."""

    seconds: float


@dataclass(frozen=True, slots=True)
class _Notify:
    """Tell the callbacks (and the code waiting on leadership)."""

    event: Literal["started", "stopped", "new_leader"]
    identity: str = ""


_Op = _Call | _Sleep | _Notify


class _Stop(Exception):
    """Thrown into the lifecycle by its driver when asked to stop."""


class _Election:
    """The state and decisions of one candidate; IO is yielded to a driver."""

    def __init__(self, namespace: str, name: str, identity: str, lease_duration: float, renew_deadline: float,
                 retry_period: float, release_on_cancel: bool) -> None:
        for what, value in (("lease_duration", lease_duration), ("renew_deadline", renew_deadline),
                            ("retry_period", retry_period)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
        if lease_duration <= renew_deadline:
            raise ValueError(f"lease_duration ({lease_duration}s) must be greater than renew_deadline "
                             f"({renew_deadline}s)")
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ValueError(f"renew_deadline ({renew_deadline}s) must be greater than retry_period*{JITTER_FACTOR} "
                             f"({JITTER_FACTOR * retry_period:g}s)")
        if not isinstance(identity, str) or not identity:
            raise ValueError("identity must be a non-empty string")
        if not isinstance(name, str) or not name:
            raise ValueError("the Lease name must be a non-empty string")
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_duration, self.renew_deadline, self.retry_period = lease_duration, renew_deadline, retry_period
        self.duration_seconds = math.ceil(lease_duration)
        self.release_on_cancel = release_on_cancel
        self.clock: Callable[[], float] = time.monotonic
        self.wall: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.observed = LeaderRecord()
        self.observed_time = -math.inf
        """When (by ``clock``) the observed record last changed."""
        self.lease: Lease | None = None
        """The Lease last read or written: its resourceVersion is the precondition of the next write."""
        self.leading = False
        self.leading_until = -math.inf
        """When the leader must have renewed by: the last successful write's send time + renew_deadline."""
        self.reported = ""

    @property
    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def holds(self) -> bool:
        """The observed record names us (client-go's ``IsLeader``)."""
        return self.observed.holder_identity == self.identity

    def valid(self, now: float) -> bool:
        """The observed lease has not expired by our clock."""
        return self.observed_time + self.observed.lease_duration_seconds > now

    def observe(self, lease: Lease, *, written: bool = False) -> None:
        self.lease = lease
        record = LeaderRecord.of(lease)
        if written or record != self.observed:
            self.observed, self.observed_time = record, self.clock()

    # the whole election ------------------------------------------------------------------------------------

    def lifecycle(self) -> Generator[_Op, Any, None]:
        """Acquire, renew until stopped or lost, release when stopped. Drivers throw :class:`_Stop` into it."""
        try:
            while not (yield from self._try(self.clock() + self.renew_deadline)):
                yield from self._report()
                yield _Sleep(self.retry_period * (1.0 + random.random() * JITTER_FACTOR))
            yield from self._report()
            _log.info("leader election: %s acquired lease %s", self.identity, self.describe)
            self.leading = True
            yield _Notify("started")
            while (yield from self._renew()):
                pass
            self.leading = False
            yield _Notify("stopped")
            yield _Sleep(math.inf)  # lost: the guarded code stops; release once the driver is stopped
        except _Stop:
            pass
        if self.release_on_cancel and self.holds:
            yield from self._release()
        if self.leading:
            self.leading = False
            yield _Notify("stopped")

    def _renew(self) -> Generator[_Op, Any, bool]:
        """One round: wait a retry period, then renew, retrying until the deadline. False: leadership lost."""
        yield _Sleep(self.retry_period)
        while True:
            renewed = yield from self._try(self.leading_until)
            yield from self._report()
            if renewed:
                return True
            if self.observed.holder_identity and not self.holds:
                _log.warning("leader election: lease %s was taken by %s: %s stops leading", self.describe,
                             self.observed.holder_identity, self.identity)
                return False
            left = self.leading_until - self.clock()
            if left <= 0:
                _log.warning("leader election: %s could not renew lease %s within %gs: stops leading",
                             self.identity, self.describe, self.renew_deadline)
                return False
            yield _Sleep(min(self.retry_period, left))

    def _try(self, deadline: float) -> Generator[_Op, Any, bool]:
        """client-go's tryAcquireOrRenew: True when we hold the lease afresh."""
        now, wall = self.clock(), self.wall()
        if self.holds and self.valid(now) and self.lease is not None:  # fast path: overwrite our own last write
            record = LeaderRecord(self.identity, self.duration_seconds, self.observed.acquire_time, wall,
                                  self.observed.lease_transitions)
            if (yield from self._write(record, deadline)):
                return True
        got = yield from self._call("get", (self.name,), deadline)
        if isinstance(got, NotFound):
            record = LeaderRecord(self.identity, self.duration_seconds, wall, wall, 0)
            return (yield from self._write(record, deadline, create=True))
        if isinstance(got, BaseException):
            _log.warning("leader election: cannot read lease %s: %s", self.describe, got)
            return False
        self.observe(got)
        if self.observed.holder_identity and self.valid(now) and not self.holds:
            return False  # held by someone else and not expired
        if self.holds:  # ours already (a fast path that failed, or a restart with the same identity)
            record = LeaderRecord(self.identity, self.duration_seconds, self.observed.acquire_time, wall,
                                  self.observed.lease_transitions)
        else:  # a new term
            record = LeaderRecord(self.identity, self.duration_seconds, wall, wall,
                                  max(0, self.observed.lease_transitions) + 1)
        return (yield from self._write(record, deadline))

    def _release(self) -> Generator[_Op, Any, None]:
        wall = self.wall()
        record = LeaderRecord("", 1, wall, wall, self.observed.lease_transitions)
        if (yield from self._write(record, self.clock() + self.renew_deadline)):
            _log.info("leader election: %s released lease %s", self.identity, self.describe)

    def _write(self, record: LeaderRecord, deadline: float, *, create: bool = False) -> Generator[_Op, Any, bool]:
        """Create the Lease, or replace the one last read or written; True when the server took it."""
        sent = self.clock()
        if create:
            lease = Lease(metadata=ObjectMeta(name=self.name, namespace=self.namespace), spec=_spec(None, record))
            got = yield from self._call("create", (lease,), deadline)
        elif self.lease is not None:
            got = yield from self._call("replace", (self.name, _with_record(self.lease, record)), deadline)
        else:
            return False
        if isinstance(got, BaseException):
            level = logging.DEBUG if isinstance(got, (Conflict, AlreadyExists)) else logging.WARNING  # another won
            _log.log(level, "leader election: cannot %s lease %s: %s", "create" if create else "replace",
                     self.describe, got)
            return False
        self.observe(got, written=True)
        self.leading_until = sent + self.renew_deadline
        return True

    def _call(self, verb: Literal["get", "create", "replace"], args: tuple[Any, ...],
              deadline: float) -> Generator[_Op, Any, Any]:
        """The API's answer (a Lease) or the exception it raised, given up on at the deadline."""
        left = deadline - self.clock()
        if left <= 0:
            return TimeoutError(f"{verb} lease {self.describe}: deadline passed")
        return (yield _Call(verb, args, left))

    def _report(self) -> Generator[_Op, Any, None]:
        holder = self.observed.holder_identity
        if holder != self.reported:
            self.reported = holder
            if holder:
                yield _Notify("new_leader", holder)


def _spec(old: LeaseSpec | None, record: LeaderRecord) -> LeaseSpec:
    """The spec for a record; other fields of the old spec (strategy, preferredHolder) are kept."""
    spec = copy.copy(old) if old is not None else LeaseSpec()
    spec.holder_identity = record.holder_identity
    spec.lease_duration_seconds = record.lease_duration_seconds
    spec.acquire_time = record.acquire_time
    spec.renew_time = record.renew_time
    spec.lease_transitions = record.lease_transitions
    return spec


def _with_record(lease: Lease, record: LeaderRecord) -> Lease:
    out = copy.copy(lease)  # keeps metadata.resourceVersion: the write's precondition
    out.spec = _spec(_read(lambda: lease.spec, "spec", LeaseSpec), record)
    return out


def default_identity() -> str:
    """``<hostname>_<random uuid>``: unique per process, readable in ``kubectl get lease``."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


# ---------------------------------------------------------------------------------------------------------
# Drivers


class _Stepper:
    """Feeds answers, and at most one stop request, into a lifecycle. A stop interrupts a sleep only: the
    answer of a call is always delivered (a write that succeeded must be known, to be released)."""

    def __init__(self, gen: Generator[_Op, Any, None]) -> None:
        self.gen = gen
        self.stopping = False
        self.sleeping = True  # before the first step: nothing to deliver yet

    def next(self, reply: Any, stop: bool) -> _Op | None:
        try:
            if stop and self.sleeping and not self.stopping:
                self.stopping = True
                op = self.gen.throw(_Stop())
            else:
                op = self.gen.send(reply)
        except (StopIteration, _Stop):
            return None
        self.sleeping = isinstance(op, _Sleep)
        return op


class _ElectorBase(Generic[ApiT]):
    """Configuration and callbacks of a candidate; ``ApiT`` is ``Api[Lease]`` or ``AsyncApi[Lease]``."""

    def __init__(self, api: ApiT, *, name: str, identity: str | None = None,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0,
                 release_on_cancel: bool = True, on_started_leading: Callable[[], object] | None = None,
                 on_stopped_leading: Callable[[], object] | None = None,
                 on_new_leader: Callable[[str], object] | None = None) -> None:
        if api.resource.kind != "Lease" or api.resource.group != "coordination.k8s.io":
            raise TypeError(f"leader election needs an Api of coordination.k8s.io Lease, not {api!r}")
        if api.namespace is None:
            raise ValueError("leader election needs an Api with a namespace: Api(client, Lease, namespace=...)")
        self._api: ApiT = api
        self._core = _Election(api.namespace, name, default_identity() if identity is None else identity,
                               lease_duration, renew_deadline, retry_period, release_on_cancel)
        self._callbacks: dict[str, Callable[..., object] | None] = {
            "started": on_started_leading, "stopped": on_stopped_leading, "new_leader": on_new_leader}
        self._busy = threading.Lock()

    @property
    def identity(self) -> str:
        """This candidate's identity (the Lease's ``holderIdentity`` while it leads)."""
        return self._core.identity

    @property
    def is_leading(self) -> bool:
        """True from acquiring the lease until leadership is lost or released."""
        return self._core.leading

    @property
    def leader(self) -> str | None:
        """The holder last observed (None when none has been seen or the lease was released)."""
        return self._core.observed.holder_identity or None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(lease={self._core.describe!r}, identity={self.identity!r}, "
                f"leading={self.is_leading})")

    def _callback(self, op: _Notify) -> None:
        fn = self._callbacks[op.event]
        if fn is None:
            return
        try:
            fn(op.identity) if op.event == "new_leader" else fn()
        except Exception:
            _log.exception("leader election: the %s callback of %s raised", op.event, self.identity)

    def _claim(self) -> None:
        if not self._busy.acquire(blocking=False):
            raise RuntimeError(f"{self!r} is already running: one election at a time per elector")


class _Session:
    """One run of the lifecycle: what both drivers do on a notification and when they end."""

    wake: threading.Event | asyncio.Event
    """Set when the session started leading or finished (what its starter waits for)."""

    def __init__(self, elector: _ElectorBase[Any]) -> None:
        self.elector = elector
        self.step = _Stepper(elector._core.lifecycle())
        self.started = False
        self.finished = False

    def notify(self, op: _Notify) -> None:
        if op.event == "started":
            self.started = True
            self.changed()
        elif op.event == "stopped" and not self.step.stopping:
            self.lost()
        self.elector._callback(op)

    def finish(self) -> None:
        core = self.elector._core
        if core.leading:  # the driver failed while leading: stop guarding
            core.leading = False
            self.notify(_Notify("stopped"))
        self.finished = True
        self.changed()

    def changed(self) -> None:
        self.wake.set()

    def lost(self) -> None:
        raise NotImplementedError


class _ThreadSession(_Session):
    """The lifecycle run by a thread; the guarded code runs meanwhile in the caller's thread."""

    wake: threading.Event

    def __init__(self, elector: LeaderElector) -> None:
        super().__init__(elector)
        self.api = elector._api
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.lost_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"k8spb leader election {elector._core.describe}")

    def _run(self) -> None:
        reply: Any = None
        try:
            while (op := self.step.next(reply, self.stop.is_set())) is not None:
                reply = None
                if isinstance(op, _Call):
                    reply = _call_in_thread(getattr(self.api, op.verb), op.args, op.timeout)
                elif isinstance(op, _Sleep):
                    self.stop.wait(None if math.isinf(op.seconds) else op.seconds)
                else:
                    self.notify(op)
        except Exception:
            _log.exception("leader election of %s failed", self.elector.identity)
        finally:
            self.finish()

    def lost(self) -> None:
        self.lost_event.set()

    def start(self) -> None:
        self.thread.start()
        while not (self.started or self.finished):
            self.wake.wait()
            self.wake.clear()

    def shutdown(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


def _call_in_thread(fn: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
    """``fn(*args)`` in a thread of its own: its result, the exception it raised, or a TimeoutError after
    ``timeout`` seconds (a request given up on finishes in the background and its answer is dropped)."""
    fut: Future[Any] = Future()

    def work() -> None:
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:
            fut.set_exception(exc)

    threading.Thread(target=work, name="k8spb leader election request", daemon=True).start()
    try:
        return fut.result(timeout)
    except Exception as exc:
        return exc if fut.done() else TimeoutError(f"no answer within {timeout:.3g}s")


class _TaskSession(_Session):
    """The lifecycle run by an asyncio task; the guarded code is cancelled when leadership is lost."""

    wake: asyncio.Event

    def __init__(self, elector: AsyncLeaderElector) -> None:
        super().__init__(elector)
        self.api = elector._api
        self.stop = asyncio.Event()
        self.wake = asyncio.Event()
        self.lost_flag = False
        self.host: asyncio.Task[Any] | None = None
        """The task running the guarded code, while it runs it."""
        self.cancelled_host = False
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        reply: Any = None
        try:
            while (op := self.step.next(reply, self.stop.is_set())) is not None:
                reply = None
                if isinstance(op, _Call):
                    try:
                        reply = await asyncio.wait_for(getattr(self.api, op.verb)(*op.args), op.timeout)
                    except TimeoutError:
                        reply = TimeoutError(f"no answer within {op.timeout:.3g}s")
                    except Exception as exc:
                        reply = exc
                elif isinstance(op, _Sleep):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), None if math.isinf(op.seconds) else op.seconds)
                else:
                    self.notify(op)
        except Exception:
            _log.exception("leader election of %s failed", self.elector.identity)
        finally:
            self.finish()

    def lost(self) -> None:
        self.lost_flag = True
        if self.host is not None:
            self.cancelled_host = True
            self.host.cancel()

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"k8spb leader election {self.elector._core.describe}")
        try:
            while not (self.started or self.finished):
                await self.wake.wait()
                self.wake.clear()
        except BaseException:
            await self.shutdown()
            raise

    async def shutdown(self) -> None:
        self.host = None
        self.stop.set()
        if self.task is not None:
            await asyncio.shield(self.task)


class LeaderElector(_ElectorBase[Api[Lease]]):
    """Leader election for threaded code, on ``Api[Lease]``.

    ``with elector.leading() as lost:`` blocks until this candidate holds the lease, renews it from a
    background thread while the block runs, and releases it at the end. ``lost`` is a ``threading.Event``
    set when leadership is lost; code in the block should check it (a thread cannot be interrupted), and
    the block then raises :class:`LeadershipLost` at its end.
    """

    @contextmanager
    def leading(self) -> Iterator[threading.Event]:
        """Hold the lease for the duration of the block (see the class)."""
        self._claim()
        try:
            session = _ThreadSession(self)
            try:
                session.start()
            except BaseException:
                session.shutdown()
                raise
            if not session.started:
                session.shutdown()
                raise RuntimeError(f"leader election of {self.identity} ended before leading (see the log)")
            try:
                yield session.lost_event
            finally:
                session.shutdown()
            if session.lost_event.is_set():
                raise LeadershipLost(f"{self.identity} lost lease {self._core.describe}")
        finally:
            self._busy.release()

    def run(self, fn: Callable[[threading.Event], T]) -> T:
        """Wait for leadership, then return ``fn(lost)``; ``lost`` is set if leadership is lost meanwhile
        (then :class:`LeadershipLost` is raised when ``fn`` returns)."""
        with self.leading() as lost:
            return fn(lost)


class AsyncLeaderElector(_ElectorBase[AsyncApi[Lease]]):
    """Leader election for asyncio code, on ``AsyncApi[Lease]``.

    ``async with elector.leading():`` waits until this candidate holds the lease, renews it from a
    background task while the block runs, and releases it at the end. When leadership is lost the block is
    cancelled and :class:`LeadershipLost` raised in its place (as ``asyncio.timeout`` does with
    ``TimeoutError``).
    """

    @asynccontextmanager
    async def leading(self) -> AsyncIterator[None]:
        """Hold the lease for the duration of the block (see the class)."""
        self._claim()
        try:
            session = _TaskSession(self)
            await session.start()
            if not session.started:
                await session.shutdown()
                raise RuntimeError(f"leader election of {self.identity} ended before leading (see the log)")
            if session.lost_flag:  # lost before the block could be registered for cancellation
                await session.shutdown()
                raise LeadershipLost(f"{self.identity} lost lease {self._core.describe}")
            host = asyncio.current_task()
            assert host is not None
            base = host.cancelling()
            session.host = host
            try:
                yield
            except asyncio.CancelledError:
                if session.cancelled_host:
                    session.cancelled_host = False
                    if host.uncancel() <= base:
                        raise LeadershipLost(f"{self.identity} lost lease {self._core.describe}") from None
                raise
            finally:
                if session.cancelled_host:  # the block swallowed our cancellation, or raised something else
                    host.uncancel()
                await session.shutdown()
            if session.lost_flag:
                raise LeadershipLost(f"{self.identity} lost lease {self._core.describe}")
        finally:
            self._busy.release()

    async def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Wait for leadership, then return ``await fn()``; ``fn`` is cancelled and :class:`LeadershipLost`
        raised if leadership is lost meanwhile."""
        async with self.leading():
            return await fn()
