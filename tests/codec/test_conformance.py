"""Conformance against Kubernetes' own serialization fixtures (testdata/HEAD and v1.35.0).

For every kind: each of .json/.yaml/.pb decodes; the three decodes are equal; pb -> pb bytes are
identical; json -> json and pb -> json equal the fixture JSON as JSON values; json -> pb bytes are
identical to Go's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import k8spb
from tests.conftest import fixture_kinds

PB = "application/vnd.kubernetes.protobuf"

# Exceptions, each with the reason it cannot hold. Keys: (fixture set, stem, check).
EXCEPTIONS: dict[tuple[str, str, str], str] = {}

CASES = [(v, stem) for v in ("HEAD", "v1.35.0") for stem in fixture_kinds(v)]


def _load(testdata: Path, version: str, stem: str) -> tuple[bytes, bytes, bytes]:
    base = testdata / version / stem
    return (base.with_name(stem + ".pb").read_bytes(), base.with_name(stem + ".json").read_bytes(),
            base.with_name(stem + ".yaml").read_bytes())


def _expect(version: str, stem: str, check: str) -> None:
    reason = EXCEPTIONS.get((version, stem, check))
    if reason:
        pytest.xfail(reason)


def _into(stem: str) -> type[k8spb.Model] | None:
    # The WatchEvent fixture is a WatchEvent put through the normal serializer with an empty typeMeta.
    if stem == "core.v1.WatchEvent":
        from k8spb.apimachinery.pkg.apis.meta.v1 import WatchEvent

        return WatchEvent
    return None


@pytest.mark.parametrize(("version", "stem"), CASES, ids=[f"{v}/{s}" for v, s in CASES])
def test_fixture(testdata: Path, version: str, stem: str) -> None:
    pb, js, ym = _load(testdata, version, stem)
    into = _into(stem)
    from_pb = k8spb.decode(pb, PB, into=into)
    from_json = k8spb.decode(js, "application/json", into=into)
    from_yaml = k8spb.decode(ym, "application/yaml", into=into)
    expected_json = json.loads(js)

    _expect(version, stem, "equal")
    assert from_json == from_pb, "json and protobuf decode to different objects"
    assert from_yaml == from_json, "yaml and json decode to different objects"

    # pb -> pb: an untouched decoded object re-encodes to the very same bytes.
    assert k8spb.encode(k8spb.decode(pb, PB, into=into), PB) == pb

    _expect(version, stem, "json")
    assert json.loads(k8spb.encode(from_json, "application/json")) == expected_json, "json -> json"
    assert json.loads(k8spb.encode(k8spb.decode(pb, PB, into=into), "application/json")) == expected_json, \
        "pb -> json"

    _expect(version, stem, "json->pb")
    assert k8spb.encode(k8spb.decode(js, "application/json", into=into), PB) == pb, "json -> pb bytes"


def test_every_fixture_set_is_covered(testdata: Path) -> None:
    for version in ("HEAD", "v1.35.0"):
        assert len(fixture_kinds(version)) > 150, f"fixture set {version} looks incomplete"
