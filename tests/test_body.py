"""BodyDecoder: any split of a gzip/deflate/identity body decodes to the original; limits and bad input."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8spb import TransportError
from k8spb._body import STEP, BodyDecoder

ENCODINGS = {"identity": lambda b: b, "gzip": gzip.compress, "deflate": zlib.compress,
             "raw deflate": lambda b: zlib.compress(b, wbits=-15)}


def _decode(encoding: str, data: bytes, cuts: list[int], **limits: int | None) -> bytes:
    decoder = BodyDecoder("deflate" if encoding == "raw deflate" else encoding, what="GET /x",
                          max_raw=limits.get("max_raw"), max_decoded=limits.get("max_decoded"))
    out, start = [], 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        pieces = decoder.feed(data[start:cut])
        assert all(len(p) <= STEP for p in pieces)
        out += pieces
        start = max(start, cut)
    return b"".join(out + decoder.finish())


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(ENCODINGS)), st.binary(max_size=5000), st.lists(st.integers(0, 10**6), max_size=8))
def test_any_split_decodes_to_the_original(encoding: str, body: bytes, cuts: list[int]) -> None:
    assert _decode(encoding, ENCODINGS[encoding](body), cuts) == body


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_garbage_is_a_transport_error_naming_the_request(junk: bytes) -> None:
    for encoding in ("gzip", "deflate"):
        try:
            _decode(encoding, junk, [])
        except TransportError as exc:
            assert str(exc).startswith("GET /x: ")


def test_limits_and_steps() -> None:
    bomb = gzip.compress(b"a" * (8 * STEP))
    assert len(_decode("gzip", bomb, [])) == 8 * STEP  # inflated a step at a time
    with pytest.raises(TransportError, match=r"GET /x: .*Config\.max_decompressed_bytes \(1,000,000 bytes"):
        _decode("gzip", bomb, [], max_decoded=1_000_000)
    with pytest.raises(TransportError, match=r"Config\.max_response_bytes \(100 bytes"):
        _decode("identity", b"x" * 101, [50], max_raw=100)
    with pytest.raises(TransportError, match="ended early"):
        _decode("gzip", gzip.compress(b"hello" * 100)[:-10], [])
    with pytest.raises(TransportError, match="Content-Encoding 'br'"):
        BodyDecoder("br", max_raw=None, max_decoded=None, what="GET /x")
