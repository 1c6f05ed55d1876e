"""The protobuf envelope: payloads above the split threshold are split by hand, the rest by upb.

Both paths must give the same model for any bytes, or both refuse them with DecodeError.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import k8spb
from k8spb._codec import _envelope
from k8spb.api.core.v1 import ConfigMap, ConfigMapList
from k8spb.apimachinery.pkg.apis.meta.v1 import ListMeta, ObjectMeta

PB = k8spb.PROTOBUF


def _big_list() -> bytes:
    items = [ConfigMap(metadata=ObjectMeta(name=f"cm-{i}", namespace="ns", resource_version=str(i)),
                       data={"payload": "x" * 300, "i": str(i)}) for i in range(400)]
    data = k8spb.encode(ConfigMapList(metadata=ListMeta(resource_version="400"), items=items), PB)
    assert len(data) > _envelope._SPLIT_ABOVE
    return data


BIG = _big_list()


def _decode_both(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    outcomes = []
    for threshold in (0, 1 << 62):  # split by hand / always upb
        monkeypatch.setattr(_envelope, "_SPLIT_ABOVE", threshold)
        try:
            outcomes.append(("ok", k8spb.decode(data, PB).to_dict()))
        except k8spb.DecodeError:
            outcomes.append(("error", None))
    return outcomes[0], outcomes[1]


def test_big_payload_is_split_without_copy_and_round_trips() -> None:
    obj = k8spb.decode(BIG, PB)
    assert isinstance(obj, ConfigMapList) and len(obj.items) == 400
    assert obj.items[399].data == {"payload": "x" * 300, "i": "399"}
    assert k8spb.encode(obj, PB) == BIG


def test_paths_agree_on_the_real_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    by_hand, by_upb = _decode_both(BIG, monkeypatch)
    assert by_hand == by_upb and by_hand[0] == "ok"


def test_unusual_layout_falls_back_to_upb(monkeypatch: pytest.MonkeyPatch) -> None:
    # the same envelope with an unknown varint field appended: not the four-field layout
    by_hand, by_upb = _decode_both(BIG + b"\x28\x01", monkeypatch)
    assert by_hand == by_upb and by_hand[0] == "ok"


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(cut=st.integers(4, len(BIG)), flips=st.lists(st.tuples(st.integers(4, len(BIG) - 1), st.integers(0, 255)),
                                                    max_size=3))
def test_paths_agree_on_mutated_bytes(monkeypatch: pytest.MonkeyPatch, cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(BIG)
    for pos, value in flips:
        data[pos] = value
    by_hand, by_upb = _decode_both(bytes(data[:cut]), monkeypatch)
    assert by_hand == by_upb


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_varints_round_trip(n: int) -> None:
    from k8spb._codec._envelope import read_varint, write_varint

    data = write_varint(n)
    assert read_varint(data, 0) == (n, len(data))
    assert len(data) == max(1, -(-n.bit_length() // 7))
