"""Fuzzing the codec with hypothesis.

Real fixture bytes (testdata/HEAD/*.pb|json|yaml) are mutated: byte flips, truncations, insertions,
random slices and splices. ``decode`` must either raise DecodeError or return a model; a returned model
must then, for every field read, ``to_dict()`` and re-encoding in each format, either work or raise
DecodeError/EncodeError. What we encode we must be able to decode again. Nothing else may be raised,
and nothing may hang. Random JSON documents, shaped like objects and like the models' own schemas,
go through ``decode`` and ``from_dict`` with the same contract, and the lazy and the eager paths must
agree on what is valid.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import k8spb
from k8spb.api.apps.v1 import Deployment
from k8spb.api.core.v1 import ConfigMap, Pod, Secret, Service
from k8spb.api.networking.v1 import Ingress
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition
from k8spb.apimachinery.pkg.apis.meta.v1 import WatchEvent
from tests.conftest import TESTDATA, needs_fixtures

PB, JSON, YAML = k8spb.PROTOBUF, k8spb.JSON, k8spb.YAML
CONTENT_TYPES = {".pb": PB, ".json": JSON, ".yaml": YAML}
HEAD = TESTDATA / "HEAD"
_FILES = sorted(p for p in HEAD.glob("*") if p.suffix in CONTENT_TYPES) if HEAD.is_dir() else []

pytestmark = pytest.mark.timeout(300)  # nothing may hang
_BASE = settings(deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def fuzz(examples: int) -> settings:
    """Deterministic runs (reproducible in CI), no deadline (first calls import modules), a fixed budget."""
    return settings(_BASE, max_examples=examples)


_scalars = (st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=12) | st.sampled_from(["", "0", "1Gi", "100m", "2024-01-02T03:04:05Z", "QUJD", "v1"]))
json_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def event(name: str) -> None:
    """Count outcomes (``--hypothesis-show-statistics``); a no-op outside hypothesis."""
    if hypothesis.currently_in_test_context():
        hypothesis.event(name)


@functools.cache
def _read(path: Path) -> bytes:
    return path.read_bytes()


def _files(suffix: str) -> list[Path]:
    return [p for p in _FILES if p.suffix == suffix]


@st.composite
def mutated(draw: st.DrawFn, suffix: str) -> tuple[bytes, str | None]:
    """A fixture payload with a few random mutations, and the content type to decode it with."""
    data = bytearray(_read(draw(st.sampled_from(_files(suffix)))))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "slice", "splice"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and at < len(data):
            data[at] = draw(st.sampled_from([0x00, 0x0A, 0x12, 0x22, 0x7F, 0x80, 0xFF, ord("{"), ord('"'),
                                             ord(":"), ord("-"), ord("&"), ord("*")]))
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "slice":
            end = draw(st.integers(at, len(data)))
            data = bytearray(data[:4] + data[at:end]) if suffix == ".pb" and draw(st.booleans()) else data[at:end]
        elif op == "splice":  # part of another fixture of the same format
            other = _read(draw(st.sampled_from(_files(suffix))))
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start:start + draw(st.integers(1, 64))]
    content_type = draw(st.sampled_from([CONTENT_TYPES[suffix], None]))
    return bytes(data), content_type


@st.composite
def inner_mutated(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """A protobuf fixture whose object message is mutated inside a valid envelope (most such bytes parse)."""
    from k8spb.apimachinery.pkg.runtime import Unknown

    env = Unknown._pb_class().FromString(_read(draw(st.sampled_from(_files(".pb"))))[4:])
    raw = bytearray(env.raw)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if raw and draw(st.booleans()):
            raw[at] = draw(st.integers(0, 255))  # inside a string this keeps the structure: a bad value
        elif raw:
            raw[at] ^= 1 << draw(st.integers(0, 7))
    env.raw = bytes(raw)
    return b"k8s\x00" + env.SerializeToString(), PB


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def value_mutated(draw: st.DrawFn, suffix: str) -> tuple[bytes, str | None]:
    """A JSON fixture with values replaced or removed (well-formed text, wrong types and values), as JSON or YAML."""
    doc = json.loads(_read(draw(st.sampled_from(_files(".json")))))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)[1:] or [()]))
        if not path:
            break
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    if suffix == ".yaml":
        return yaml.safe_dump(doc).encode(), YAML
    return json.dumps(doc).encode(), JSON


def _read_everything(value: Any) -> None:
    """Read every field of a model tree (each read may convert lazily and may fail only with DecodeError)."""
    if isinstance(value, k8spb.Model):
        for field in value._schema.fields:
            try:
                child = getattr(value, field.attr)
            except k8spb.DecodeError:
                continue
            _read_everything(child)
    elif isinstance(value, list):
        for item in value:
            _read_everything(item)
    elif isinstance(value, dict):
        for item in value.values():
            _read_everything(item)


def _exercise(data: bytes, content_type: str | None) -> None:
    """The contract for any payload: see the module docstring."""
    try:
        obj = k8spb.decode(data, content_type)
    except k8spb.DecodeError:
        event("decode: DecodeError")
        return
    event("decode: a model")
    assert isinstance(obj, k8spb.Model)
    source = "pb" if obj.__dict__.get("_pb") is not None else "text"
    try:
        as_dict: dict[str, Any] | None = obj.to_dict()
    except (k8spb.DecodeError, k8spb.EncodeError) as exc:
        event(f"to_dict: {type(exc).__name__}")
        as_dict = None
    if as_dict is not None and source == "pb":
        json.dumps(as_dict)  # what protobuf turns into is plain JSON
    written: dict[str, bytes] = {}
    for fmt in (PB, JSON, YAML):
        try:
            out = written[fmt] = k8spb.encode(obj, fmt)
        except (k8spb.DecodeError, k8spb.EncodeError):
            continue
        again = k8spb.decode(out, fmt)  # what we write, we read
        if as_dict is None or fmt == YAML or (source == "text" and content_type != JSON):
            continue  # YAML values need not be JSON (dates, binary, int keys)
        if source == "text" and fmt == PB:
            assert _strip(again.to_dict()) == _strip(as_dict)
        else:
            assert again.to_dict() == as_dict
    _read_everything(obj)
    for fmt, out in written.items():  # reading fields changes nothing that is written
        assert k8spb.encode(obj, fmt) == out


@needs_fixtures
@fuzz(1000)
@given(mutated(".pb") | inner_mutated())
def test_mutated_protobuf(case: tuple[bytes, str | None]) -> None:
    _exercise(*case)


@needs_fixtures
@fuzz(600)
@given(mutated(".json") | value_mutated(".json"))
def test_mutated_json(case: tuple[bytes, str | None]) -> None:
    _exercise(*case)


@needs_fixtures
@fuzz(200)
@given(mutated(".yaml") | value_mutated(".yaml"))
def test_mutated_yaml(case: tuple[bytes, str | None]) -> None:
    _exercise(*case)


@needs_fixtures
def test_unmodified_fixtures_satisfy_the_contract() -> None:
    for path in _files(".pb")[:40] + _files(".json")[:20]:
        _exercise(_read(path), CONTENT_TYPES[path.suffix])


# ---------------------------------------------------------------------------------------------------------
# Random documents

_PLAUSIBLE = {  # values of the right type (and near misses) for each kind of field
    "s": st.text(max_size=10), "i": st.integers(-(2**33), 2**33), "b": st.booleans(),
    "f": st.floats(allow_nan=False, allow_infinity=False), "y": st.sampled_from(["", "QUJD", "AA==", "!!", "QQ"]),
    "time": st.sampled_from(["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123456+02:00", "2024-13-02T00:00:00Z",
                             "yesterday", ""]),
    "mtime": st.sampled_from(["2024-01-02T03:04:05.000001Z", "2024-01-02T03:04:05Z", "nope"]),
    "qty": st.sampled_from(["1", "100m", "1Gi", "", 5, 1.5]), "ios": st.sampled_from([80, "http", "", -1, 2**40]),
    "strs": st.lists(st.text(max_size=5), max_size=3),
}


@functools.cache
def shaped(cls: type[k8spb.Model], depth: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the keys of ``cls``: mostly plausible values, sometimes anything, sometimes unknown keys."""
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for field in cls._schema.fields:
        one: st.SearchStrategy[Any]
        if field.cls is not None and field.kind_code == "m":
            one = shaped(field.cls, depth - 1) if depth > 0 else st.just({})
        elif field.cls is not None:  # JSONSchemaPropsOr*: a bool, a list or a schema
            one = st.booleans() | st.lists(st.text(max_size=3), max_size=2) | st.just({"type": "string"})
        else:
            one = _PLAUSIBLE.get(field.kind_code, json_values)
        if field.container == "l":
            one = st.lists(one, max_size=2)
        elif field.container == "m":
            one = st.dictionaries(st.text(max_size=4), one, max_size=2)
        optional[field.key] = one | json_values if depth > 1 else one
    extra = st.dictionaries(st.text(max_size=6), json_values, max_size=1)
    return st.tuples(st.fixed_dictionaries({}, optional=optional), extra).map(
        lambda pair: {**pair[0], **pair[1]} if len(pair[1]) and pair[0] else pair[0])


MODELS = [Pod, ConfigMap, Secret, Service, Deployment, Ingress, WatchEvent, CustomResourceDefinition]


_ZEROS: tuple[Any, ...] = (None, "", 0, [], {})


def _strip(value: Any) -> Any:
    """JSON up to what protobuf cannot tell apart: null, zero values and empty lists/maps are all alike
    (Go reads a null in a list or map as the zero value; empty repeated fields are absent)."""
    if isinstance(value, dict):
        out = {k: _strip(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in _ZEROS}
    if isinstance(value, list):
        return [None if item in _ZEROS else item for item in map(_strip, value)]
    return value


@fuzz(600)
@given(st.sampled_from(MODELS).flatmap(lambda cls: st.tuples(st.just(cls), shaped(cls))))
def test_schema_shaped_documents(case: tuple[type[k8spb.Model], dict[str, Any]]) -> None:
    cls, doc = case
    doc = {"apiVersion": cls.api_version, "kind": cls.kind, **doc}  # type: ignore[attr-defined]
    payload = json.dumps(doc).encode()
    lazy = k8spb.decode(payload)
    assert type(lazy) is cls
    try:
        eager = cls.from_dict(doc)
    except k8spb.DecodeError as exc:
        event("from_dict: DecodeError")
        # the lazy path finds the same problem when the object is read in full
        with pytest.raises(k8spb.DecodeError) as info:
            lazy.to_dict()
        assert str(info.value) == str(exc)
        _exercise(payload, JSON)
        return
    event("from_dict: valid")
    # valid: both paths agree, and every format round-trips
    as_dict = eager.to_dict()
    assert lazy.to_dict() == as_dict and lazy == eager
    assert cls.from_dict(as_dict) == eager
    assert json.loads(k8spb.encode(eager, JSON)) == as_dict
    assert k8spb.decode(k8spb.encode(eager, YAML)).to_dict() == as_dict
    try:
        pb = k8spb.encode(eager, PB)
    except k8spb.EncodeError as exc:  # unknown keys, ints beyond their protobuf type, null items of objects
        assert "not part of" in str(exc) or "out of range" in str(exc) or "null list items" in str(exc) \
            or "does not fit" in str(exc), str(exc)
        return
    back = k8spb.decode(pb)
    assert _strip(back.to_dict()) == _strip(as_dict)
    assert k8spb.encode(back, PB) == pb


@fuzz(300)
@given(st.dictionaries(st.sampled_from(["apiVersion", "kind", "metadata", "spec", "status", "data", "items", "type",
                                        "object"]) | st.text(max_size=6), json_values, max_size=6),
       st.sampled_from([("v1", "Pod"), ("v1", "ConfigMap"), ("apps/v1", "Deployment"), ("v1", "PodList"),
                        ("v1", "Widget"), ("v1", "WatchEvent"), None]))
def test_random_object_documents(doc: dict[str, Any], type_meta: tuple[str, str] | None) -> None:
    if type_meta is not None:
        doc = {**doc, "apiVersion": type_meta[0], "kind": type_meta[1]}
    payload = json.dumps(doc).encode()
    _exercise(payload, JSON)
    _exercise(payload, YAML)  # JSON is YAML
    if type_meta is not None and type_meta[1] != "Widget":
        cls = type(k8spb.decode(json.dumps({"apiVersion": type_meta[0], "kind": type_meta[1]})))
        try:
            obj = cls.from_dict(doc)
        except k8spb.DecodeError:
            return
        assert cls.from_dict(obj.to_dict()) == obj


@fuzz(200)
@given(json_values)
def test_documents_of_any_shape(doc: Any) -> None:
    payload = json.dumps(doc).encode()
    _exercise(payload, None)
    _exercise(payload, YAML)
    try:
        obj = Pod.from_dict(doc)
    except k8spb.DecodeError:
        return
    assert Pod.from_dict(obj.to_dict()) == obj
