"""Leader election: the sans-io core step by step, then candidates contending over HTTP against ApiServer."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from k8spb import Api, AsyncApi, AsyncClient, Client, Config, Conflict, NotFound, ServerError
from k8spb.api.coordination.v1 import Lease, LeaseSpec
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta
from k8spb.runtime import AsyncLeaderElector, LeaderElector, LeaderRecord, LeadershipLost
from k8spb.runtime._leader import _Call, _Election, _Notify, _Op, _Sleep, _Stepper, _Stop
from k8spb.testing import ApiServer

LEASE, RENEW, RETRY = 2.0, 1.0, 0.2
FAST = {"lease_duration": LEASE, "renew_deadline": RENEW, "retry_period": RETRY}
SLACK = 1.0  # for upper bounds in real time: the machine running the tests may be shared and loaded
WALL = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------------
# The core, fed by hand: exact decisions with a fake clock


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _core(identity: str = "me") -> tuple[_Election, _Clock]:
    core = _Election("default", "lock", identity, LEASE, RENEW, RETRY, True)
    clock = _Clock()
    core.clock = clock
    core.wall = lambda: WALL
    return core, clock


def _lease(holder: str | None, *, duration: int | None = 2, transitions: int | None = 3, rv: str = "7",
           renew: datetime | None = None, spec: bool = True) -> Lease:
    meta = ObjectMeta(name="lock", namespace="default", resource_version=rv)
    if not spec:
        return Lease(metadata=meta)
    return Lease(metadata=meta, spec=LeaseSpec(holder_identity=holder, lease_duration_seconds=duration,
                                                lease_transitions=transitions, renew_time=renew, acquire_time=renew))


def _written(op: _Op, verb: str = "replace") -> Lease:
    assert isinstance(op, _Call) and op.verb == verb, op
    lease = op.args[-1]
    assert isinstance(lease, Lease)
    return lease


def _sleep(gen: Generator[_Op, Any, None], op: _Op, clock: _Clock) -> _Op:
    assert isinstance(op, _Sleep), op
    clock.t += op.seconds
    return gen.send(None)


def test_timing_is_validated_as_client_go_does() -> None:
    def make(lease: float, renew: float, retry: float) -> _Election:
        return _Election("default", "lock", "me", lease, renew, retry, True)

    with pytest.raises(ValueError, match=r"lease_duration .* must be greater than renew_deadline"):
        make(10, 10, 2)
    with pytest.raises(ValueError, match=r"renew_deadline .* must be greater than retry_period\*1.2"):
        make(15, 2.4, 2)
    with pytest.raises(ValueError, match="retry_period must be a positive"):
        make(15, 10, 0)
    with pytest.raises(ValueError, match="lease_duration must be a positive"):
        make(float("nan"), 10, 2)
    with pytest.raises(ValueError, match="identity"):
        _Election("default", "lock", "", 15, 10, 2, True)
    assert make(1.5, 1, 0.2).duration_seconds == 2  # whole seconds, rounded up


def test_expiry_is_judged_by_our_clock_never_by_the_holders_renew_time() -> None:
    for renew in (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)):  # skewed either way
        core, clock = _core()
        gen = core.lifecycle()
        assert next(gen) == _Call("get", ("lock",), RENEW)
        ghost = _lease("ghost", renew=renew)
        assert gen.send(ghost) == _Notify("new_leader", "ghost")  # held, and not expired by our clock
        op = gen.send(None)
        first_seen = clock.t
        while isinstance(op, _Sleep):  # keeps reading the same record: it expires 2 s after we first saw it
            assert clock.t < first_seen + LEASE
            op = _sleep(gen, op, clock)
            assert isinstance(op, _Call) and op.verb == "get"
            op = gen.send(ghost)
        assert clock.t >= first_seen + LEASE
        took = _written(op)
        assert took.metadata.resource_version == "7"  # the read resourceVersion is the precondition
        assert LeaderRecord.of(took) == LeaderRecord("me", 2, WALL, WALL, 4)  # a new term: transitions + 1


def test_a_renewal_seen_restarts_the_wait() -> None:
    core, clock = _core()
    gen = core.lifecycle()
    next(gen)
    gen.send(_lease("ghost"))
    op = gen.send(None)
    for i in range(1, 4):  # the holder renews every 1.5 s: 4.5 s pass, but never 2 s without a change
        assert isinstance(op, _Sleep)
        clock.t += 1.5
        assert gen.send(None) == _Call("get", ("lock",), RENEW)
        last = _lease("ghost", rv=str(7 + i), renew=WALL + timedelta(seconds=i))
        op = gen.send(last)
    assert isinstance(op, _Sleep) and core.observed_time == clock.t
    clock.t += LEASE  # then it stops renewing
    gen.send(None)
    assert _written(gen.send(last)).spec.holder_identity == "me"


def test_conflicts_and_errors_are_failed_attempts_not_crashes() -> None:
    core, clock = _core()
    gen = core.lifecycle()
    next(gen)
    free = _lease("", transitions=0)
    assert _written(gen.send(free)).spec.holder_identity == "me"
    op = gen.send(Conflict(409, "Conflict", "the object has been modified"))  # another candidate won the race
    op = _sleep(gen, op, clock)
    assert gen.send(_lease("winner", rv="8", transitions=1)) == _Notify("new_leader", "winner")
    op = _sleep(gen, gen.send(None), clock)
    op = gen.send(ServerError(500, "InternalError", "boom"))
    assert isinstance(op, _Sleep) and not core.leading
    op = _sleep(gen, op, clock)
    with pytest.raises(StopIteration):  # stopped while not leading: nothing to release or report
        gen.throw(_Stop())


def test_missing_lease_is_created_and_renewal_stops_at_the_deadline() -> None:
    core, clock = _core()
    gen = core.lifecycle()
    next(gen)
    created = _written(gen.send(NotFound(404, "NotFound", "not found")), "create")
    assert LeaderRecord.of(created) == LeaderRecord("me", 2, WALL, WALL, 0)
    created.metadata.resource_version = "1"
    assert gen.send(created) == _Notify("new_leader", "me")
    assert gen.send(None) == _Notify("started")
    sent = clock.t
    op = _sleep(gen, gen.send(None), clock)
    renewal = _written(op)  # the fast path: overwrite our own write without reading it first
    assert renewal.metadata.resource_version == "1" and renewal.spec.acquire_time == WALL
    failures = 0
    while isinstance(op, _Call):  # the server fails every request from now on
        assert clock.t + op.timeout == pytest.approx(sent + RENEW)  # no request outlives the deadline
        op = gen.send(TimeoutError("no answer"))
        failures += 1
        if isinstance(op, _Sleep):
            op = _sleep(gen, op, clock)
    assert op == _Notify("stopped") and clock.t == pytest.approx(sent + RENEW) and failures > 4
    assert isinstance(gen.send(None), _Sleep)  # parked until the driver stops it ...
    release = _written(gen.throw(_Stop()))  # ... then releases, as client-go's ReleaseOnCancel does
    assert LeaderRecord.of(release) == LeaderRecord("", 1, WALL, WALL, 0)


def test_a_stop_never_drops_the_answer_of_a_write_in_flight() -> None:
    core, _ = _core()
    step = _Stepper(core.lifecycle())
    assert step.next(None, stop=False) == _Call("get", ("lock",), RENEW)
    created = _written(step.next(NotFound(404, "NotFound", "not found"), stop=False), "create")
    created.metadata.resource_version = "1"
    # asked to stop while the create is in flight: its answer is delivered, we lead until the next sleep ...
    assert step.next(created, stop=True) == _Notify("new_leader", "me")
    assert step.next(None, stop=True) == _Notify("started")
    assert isinstance(step.next(None, stop=True), _Sleep)
    release = _written(step.next(None, stop=True))  # ... which the stop interrupts: release what we wrote
    assert release.metadata.resource_version == "1" and release.spec.holder_identity == ""
    release.metadata.resource_version = "2"
    assert step.next(release, stop=True) == _Notify("stopped")
    assert step.next(None, stop=True) is None and not core.leading


@pytest.mark.parametrize("lease", [
    _lease(None, spec=False),
    _lease("ghost", duration=-5, transitions=-3),
    _lease("ghost", duration=0, transitions=None),
    _lease("ghost", duration=None),
], ids=["no-spec", "negative-duration", "zero-duration", "no-duration"])
def test_nonsense_leases_count_as_free(lease: Lease) -> None:
    core, _ = _core()
    gen = core.lifecycle()
    next(gen)
    op = gen.send(lease)
    if isinstance(op, _Notify):
        op = gen.send(None)
    took = _written(op)
    assert took.spec.holder_identity == "me" and took.spec.lease_transitions >= 1


# ---------------------------------------------------------------------------------------------------------
# Against the API server


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as srv:
        yield srv


class Timeline:
    """Who led when (by the callbacks), to check that terms never overlap."""

    def __init__(self) -> None:
        self.terms: list[list[Any]] = []
        self.leaders: list[str] = []
        self.lock = threading.Lock()

    def callbacks(self, who: str) -> dict[str, Callable[..., object]]:
        def started() -> None:
            with self.lock:
                self.terms.append([who, time.monotonic(), None])

        def stopped() -> None:
            with self.lock:
                open_terms = [t for t in self.terms if t[0] == who and t[2] is None]
                assert len(open_terms) == 1
                open_terms[0][2] = time.monotonic()

        return {"on_started_leading": started, "on_stopped_leading": stopped,
                "on_new_leader": self.leaders.append}

    def check_one_at_a_time(self) -> None:
        terms = sorted(self.terms, key=lambda t: t[1])
        for a, b in itertools.pairwise(terms):
            assert a[2] is not None and a[2] <= b[1], f"{a[0]} and {b[0]} led at the same time: {terms}"


async def _until(pred: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def _run(server: ApiServer, body: Callable[[AsyncApi[Lease]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with AsyncClient(Config.from_kubeconfig(server.kubeconfig_path), backoff=0.01) as client:
            await asyncio.wait_for(body(AsyncApi(client, Lease, namespace="default")), 30)

    asyncio.run(main())


def test_candidates_contend_and_hand_over_on_release_and_on_a_silent_stop(server: ApiServer) -> None:
    tl = Timeline()

    async def body(api: AsyncApi[Lease]) -> None:
        done = {n: asyncio.Event() for n in "abc"}
        electors = {n: AsyncLeaderElector(api, name="contended", identity=n, **FAST, release_on_cancel=n == "a",
                                          **tl.callbacks(n)) for n in "abc"}

        async def work(n: str) -> str:
            await done[n].wait()
            return f"{n} done"

        def leaders() -> list[str]:
            return [n for n, e in electors.items() if e.is_leading]

        runs = {"a": asyncio.create_task(electors["a"].run(lambda: work("a")))}
        await _until(lambda: leaders() == ["a"], 5, "a to lead")
        runs |= {n: asyncio.create_task(electors[n].run(lambda n=n: work(n))) for n in "bc"}
        for _ in range(10):  # b and c keep trying, and wait
            await asyncio.sleep(RETRY / 2)
            assert leaders() == ["a"]
        lease = await api.get("contended")
        assert LeaderRecord.of(lease).holder_identity == "a" and lease.spec.lease_duration_seconds == 2
        assert lease.spec.lease_transitions == 0 and lease.spec.renew_time > lease.spec.acquire_time

        done["a"].set()  # a finishes its work and releases: the next candidate takes over at its next retry
        assert await runs["a"] == "a done"
        took = await _until(lambda: len(leaders()) == 1, 5, "a successor")
        assert took < RETRY * 2.2 + SLACK, f"handover after a release took {took:.2f}s"
        second = leaders()[0]
        third = "c" if second == "b" else "b"
        assert (await api.get("contended")).spec.lease_transitions == 1

        runs[second].cancel()  # stops without releasing (as a killed process would)
        stopped = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await runs[second]
        held = await api.get("contended")
        assert held.spec.holder_identity == second
        took = await _until(lambda: leaders() == [third], LEASE + 3, "the lease to expire")
        assert LEASE - RETRY - 0.1 < took < LEASE + RETRY * 2.2 + SLACK, f"handover took {took:.2f}s"
        assert time.monotonic() - stopped >= LEASE - RETRY - 0.05, f"{time.monotonic() - stopped:.2f}s"
        lease = await api.get("contended")
        assert lease.spec.holder_identity == third and lease.spec.lease_transitions == 2
        done[third].set()
        assert await runs[third] == f"{third} done"
        kept = LeaderRecord.of(await api.get("contended"))  # release_on_cancel=False: left to expire
        assert kept.holder_identity == third and kept.lease_duration_seconds == 2

    _run(server, body)
    tl.check_one_at_a_time()
    assert min(tl.terms, key=lambda t: t[1])[0] == "a" and len(tl.terms) == 3
    assert "a" in tl.leaders and len(set(tl.leaders)) == 3


def test_sync_twin_runs_a_function_while_leading(server: ApiServer) -> None:
    tl = Timeline()
    with Client(Config.from_kubeconfig(server.kubeconfig_path)) as client:
        api = Api(client, Lease, namespace="default")
        a = LeaderElector(api, name="sync", identity="a", **FAST, **tl.callbacks("a"))
        b = LeaderElector(api, name="sync", identity="b", **FAST, **tl.callbacks("b"))
        release_a = threading.Event()
        results: dict[str, object] = {}

        def hold(lost: threading.Event) -> str:
            assert a.is_leading and not lost.is_set()
            release_a.wait(10)
            return "a done"

        ta = threading.Thread(target=lambda: results.setdefault("a", a.run(hold)))
        ta.start()
        deadline = time.monotonic() + 5
        while not a.is_leading and time.monotonic() < deadline:
            time.sleep(0.01)
        tb = threading.Thread(target=lambda: results.setdefault("b", b.run(lambda lost: b.leader)))
        tb.start()
        time.sleep(RETRY * 3)
        assert not b.is_leading and b.leader == "a" and "b" not in results
        with pytest.raises(RuntimeError, match="already running"), a.leading():
            pass
        release_a.set()
        ta.join(5)
        tb.join(5)
        assert results == {"a": "a done", "b": "b"}
        lease = api.get("sync")
        assert (lease.spec.holder_identity, lease.spec.lease_transitions) == ("", 1)
    tl.check_one_at_a_time()


def test_a_leader_whose_lease_is_taken_steps_down_at_once(server: ApiServer, caplog: pytest.LogCaptureFixture) -> None:
    async def body(api: AsyncApi[Lease]) -> None:
        seen: list[str] = []
        elector = AsyncLeaderElector(api, name="taken", identity="me", **FAST, on_new_leader=seen.append)
        started = asyncio.Event()

        async def work() -> None:
            started.set()
            await asyncio.sleep(30)

        run = asyncio.create_task(elector.run(work))
        await asyncio.wait_for(started.wait(), 5)
        lease = await api.get("taken")
        lease.spec.holder_identity = "intruder"
        lease.spec.lease_transitions = 1
        await api.replace("taken", lease)  # our next renewal is a stale write: 409, then a read shows the intruder
        with pytest.raises(LeadershipLost):
            await run
        assert seen == ["me", "intruder"] and elector.leader == "intruder" and not elector.is_leading
        assert (await api.get("taken")).spec.holder_identity == "intruder"  # not released: it is not ours

    _run(server, body)
    assert "lease default/taken was taken by intruder: me stops leading" in caplog.text  # not at the deadline


def test_leases_with_nonsense_contents_are_taken_over(server: ApiServer) -> None:
    async def body(api: AsyncApi[Lease]) -> None:
        await api.create(Lease(metadata=ObjectMeta(name="no-spec")))
        nonsense = LeaseSpec(holder_identity="ghost", lease_duration_seconds=-5, lease_transitions=-3)
        await api.create(Lease(metadata=ObjectMeta(name="negative"), spec=nonsense))
        for name in ("no-spec", "negative"):
            elector = AsyncLeaderElector(api, name=name, identity="me", **FAST)
            held = await asyncio.wait_for(elector.run(lambda n=name: api.get(n)), RETRY * 3)  # type: ignore[misc]
            assert held.spec.holder_identity == "me"
            lease = await api.get(name)
            assert lease.spec.lease_transitions == 1 and lease.spec.holder_identity == ""

    _run(server, body)


LEASES = "leases.coordination.k8s.io"


def test_a_leader_that_cannot_reach_the_server_steps_down_within_the_renew_deadline(server: ApiServer) -> None:
    async def body(api: AsyncApi[Lease]) -> None:
        elector = AsyncLeaderElector(api, name="slow", identity="me", **FAST)
        started = asyncio.Event()
        cancelled: list[float] = []

        async def work() -> None:
            started.set()
            try:
                await asyncio.sleep(30)
            finally:
                cancelled.append(time.monotonic())

        run = asyncio.create_task(elector.run(work))
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.sleep(RETRY * 2)
        server.latency(LEASE * 2, resource=LEASES, name="slow")  # requests hang: the leader must not wait
        t0 = time.monotonic()
        try:
            with pytest.raises(LeadershipLost):
                await run  # (after a release attempt, itself given up on after renew_deadline)
        finally:
            server.latency(0, resource=LEASES, name="slow")
        assert cancelled[0] - t0 <= RENEW + SLACK / 2  # the last renewal was sent before t0

    _run(server, body)


def test_a_conflict_on_renewal_is_survived(server: ApiServer, caplog: pytest.LogCaptureFixture) -> None:
    async def body(api: AsyncApi[Lease]) -> None:
        elector = AsyncLeaderElector(api, name="conflicted", identity="me", **FAST)

        async def work() -> int:
            await asyncio.sleep(RETRY * 2)
            before = await api.get("conflicted")
            server.fail_next(1, status=409, verb="update", resource=LEASES, name="conflicted")
            await _until(lambda: server.pending_faults() == 0, 5, "the 409 to be served")
            await asyncio.sleep(RETRY * 3)  # the fast path failed; the slow path read the lease and renewed it
            after = await api.get("conflicted")
            assert after.spec.renew_time > before.spec.renew_time and elector.is_leading
            return after.spec.lease_transitions

        with caplog.at_level(logging.DEBUG, "k8spb.runtime.leader"):
            assert await elector.run(work) == 0
        assert "cannot replace lease default/conflicted: PUT" in caplog.text and "stops leading" not in caplog.text

    _run(server, body)


def test_sync_leader_steps_down_when_its_writes_fail(server: ApiServer) -> None:
    with Client(Config.from_kubeconfig(server.kubeconfig_path)) as client:
        api = Api(client, Lease, namespace="default")
        elector = LeaderElector(api, name="failing", identity="me", **FAST)
        stepped_down: list[float] = []

        def work(lost: threading.Event) -> None:
            time.sleep(RETRY * 2)
            server.fail_next(100, status=500, verb="update", resource=LEASES, name="failing")
            t0 = time.monotonic()
            assert lost.wait(5)  # reads still say "me", but no renewal gets through
            stepped_down.append(time.monotonic() - t0)

        try:
            with pytest.raises(LeadershipLost):
                elector.run(work)
        finally:
            server.clear_faults()
        assert stepped_down[0] <= RENEW + SLACK / 2
        assert api.get("failing").spec.holder_identity == "me"  # the release failed too: the lease expires
