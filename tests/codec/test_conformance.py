"""Conformance against Kubernetes' own serialization fixtures (testdata/HEAD and v1.35.0).

For every fixture object: each of .json/.yaml/.pb decodes; the decodes are equal; pb -> pb bytes are
identical; json -> json and pb -> json equal the fixture JSON as JSON values; json -> pb bytes are
identical to Go's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import k8spb
from k8spb.apimachinery.pkg.apis.meta.v1 import WatchEvent
from tests.conftest import TESTDATA

PB = "application/vnd.kubernetes.protobuf"

_GONE_GV = "this group-version has no .proto in Kubernetes 1.36 (removed upstream), so k8spb has no model for it"
_REMOVED_FIELD = ("the 1.35 object sets spec.workloadRef (PodSpec field 52), removed from the 1.36 "
                  "protos: protobuf keeps it as an unknown field (pb -> pb stays identical) but it has "
                  "no JSON name in 1.36, so it cannot be rendered from protobuf nor written to protobuf "
                  "from JSON")

# Known exceptions: (fixture set, stem) -> {check: reason}.
EXCEPTIONS: dict[tuple[str, str], dict[str, str]] = {}
for _stem in ("autoscaling.v2beta1.HorizontalPodAutoscaler", "autoscaling.v2beta2.HorizontalPodAutoscaler",
              "scheduling.k8s.io.v1alpha1.PriorityClass", "scheduling.k8s.io.v1alpha1.Workload"):
    EXCEPTIONS[("v1.35.0", _stem)] = {"decode": _GONE_GV}
for _stem in ("apps.v1.DaemonSet", "apps.v1.Deployment", "apps.v1.ReplicaSet", "apps.v1.StatefulSet",
              "apps.v1beta1.Deployment", "apps.v1beta1.StatefulSet", "apps.v1beta2.DaemonSet",
              "apps.v1beta2.Deployment", "apps.v1beta2.ReplicaSet", "apps.v1beta2.StatefulSet",
              "batch.v1.CronJob", "batch.v1.Job", "batch.v1beta1.CronJob", "core.v1.Pod", "core.v1.PodTemplate",
              "core.v1.ReplicationController", "extensions.v1beta1.DaemonSet", "extensions.v1beta1.Deployment",
              "extensions.v1beta1.ReplicaSet"):
    EXCEPTIONS[("v1.35.0", _stem)] = {"pb->json": _REMOVED_FIELD, "json->pb": _REMOVED_FIELD}


def _stems(version: str) -> list[str]:
    base = TESTDATA / version
    if not base.is_dir():
        return []
    return sorted({p.name.rsplit(".", 1)[0] for p in base.iterdir() if p.suffix in (".pb", ".json", ".yaml")})


CASES = [(v, s) for v in ("HEAD", "v1.35.0") for s in _stems(v)] or [("HEAD", "(none)")]  # the fixture skips


class Fixture:
    def __init__(self, version: str, stem: str) -> None:
        self.version, self.stem = version, stem
        base = TESTDATA / version
        self.files = {ext: (base / f"{stem}.{ext}").read_bytes()
                      for ext in ("pb", "json", "yaml") if (base / f"{stem}.{ext}").exists()}
        # The WatchEvent fixture is a WatchEvent put through the normal serializer with an empty typeMeta.
        self.into = WatchEvent if stem.startswith("core.v1.WatchEvent") else None

    def need(self, *exts: str) -> None:
        missing = [e for e in exts if e not in self.files]
        if missing:
            pytest.skip(f"{self.version}/{self.stem} has no .{missing[0]} file")

    def expect(self, check: str) -> None:
        reason = EXCEPTIONS.get((self.version, self.stem), {}).get(check)
        if reason:
            pytest.xfail(reason)

    def decode(self, ext: str) -> k8spb.Model:
        ct = {"pb": PB, "json": "application/json", "yaml": "application/yaml"}[ext]
        return k8spb.decode(self.files[ext], ct, into=self.into)


@pytest.fixture(params=CASES, ids=[f"{v}/{s}" for v, s in CASES])
def fx(request: pytest.FixtureRequest, testdata: Path) -> Fixture:
    f = Fixture(*request.param)
    f.expect("decode")
    return f


def test_decodes_equal(fx: Fixture) -> None:
    decoded = {ext: fx.decode(ext) for ext in fx.files}
    first = next(iter(decoded.values()))
    for ext, obj in decoded.items():
        assert type(obj) is type(first)
        assert obj == first, f".{ext} decodes to a different object"


def _untyped(doc: dict[str, object], fx: Fixture) -> dict[str, object]:
    # k8spb writes apiVersion v1 / kind WatchEvent where Go's fixture (a WatchEvent put through the
    # normal serializer, which has no kind for it) writes none; the rest must match.
    if fx.into is not None:
        return {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
    return doc


def _raw(envelope: bytes) -> bytes:
    from k8spb.apimachinery.pkg.runtime import Unknown

    raw: bytes = Unknown.from_pb_bytes(envelope[4:]).raw
    return raw


def test_pb_to_pb_identical(fx: Fixture) -> None:
    fx.need("pb")
    ours = k8spb.encode(fx.decode("pb"), PB)
    if fx.into is not None:  # see _untyped: only the envelope's typeMeta differs
        assert _raw(ours) == _raw(fx.files["pb"])
        return
    assert ours == fx.files["pb"]


def test_json_to_json(fx: Fixture) -> None:
    fx.need("json")
    ours = json.loads(k8spb.encode(fx.decode("json"), "application/json"))
    assert _untyped(ours, fx) == json.loads(fx.files["json"])


def test_yaml_to_json(fx: Fixture) -> None:
    fx.need("json", "yaml")
    ours = json.loads(k8spb.encode(fx.decode("yaml"), "application/json"))
    assert _untyped(ours, fx) == json.loads(fx.files["json"])


def test_pb_to_json(fx: Fixture) -> None:
    fx.need("pb", "json")
    fx.expect("pb->json")
    ours = json.loads(k8spb.encode(fx.decode("pb"), "application/json"))
    assert _untyped(ours, fx) == json.loads(fx.files["json"])


def test_json_to_pb_identical(fx: Fixture) -> None:
    fx.need("pb", "json")
    fx.expect("json->pb")
    ours = k8spb.encode(fx.decode("json"), PB)
    if fx.into is not None:  # see _untyped: only the envelope's typeMeta differs
        assert k8spb.decode(ours) == fx.decode("pb")
        assert _raw(ours) == _raw(fx.files["pb"])
        return
    assert ours == fx.files["pb"]


def test_fixture_sets_are_covered(testdata: Path) -> None:
    for version in ("HEAD", "v1.35.0"):
        assert len(_stems(version)) > 180, f"fixture set {version} looks incomplete"
