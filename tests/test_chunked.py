"""The chunked-body decoder: h11 as the oracle, every split of the input, and malformed framing."""

from __future__ import annotations

import re

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8spb._chunked import Dechunker
from k8spb._errors import TransportError

BODY = b"5\r\nhello\r\n7;ext=1\r\n, world\r\nA \r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"


def _h11_payload(body: bytes) -> bytes:
    """What h11 (written elsewhere) reads from the same body."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    out = b""
    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
        assert event is not h11.NEED_DATA
        if isinstance(event, h11.Data):
            out += event.data
    return out


def _decode(parts: list[bytes]) -> tuple[bytes, bool]:
    d = Dechunker()
    return b"".join(d.feed(p) for p in parts), d.done


def test_extensions_trailers_and_hex_case() -> None:
    assert _decode([BODY]) == (b"hello, world0123456789", True)
    assert _h11_payload(BODY) == b"hello, world0123456789"


def test_every_split_point_gives_the_same_payload() -> None:
    for i in range(len(BODY) + 1):
        for j in range(i, len(BODY) + 1):
            assert _decode([BODY[:i], BODY[i:j], BODY[j:]]) == (b"hello, world0123456789", True), (i, j)


def test_not_done_until_the_last_chunk_and_bytes_after_it_ignored() -> None:
    d = Dechunker()
    assert d.feed(b"3\r\nabc\r\n0\r\n") == b"abc"
    assert not d.done
    assert d.feed(b"\r\nHTTP/1.1 200 OK\r\n") == b""
    assert d.done
    assert d.feed(b"more") == b""


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=20), st.data())
def test_any_chunking_any_split_matches_h11(chunks: list[bytes], data: st.DataObject) -> None:
    upper = data.draw(st.booleans())
    body = b"".join((b"%X" if upper else b"%x") % len(c) + b"\r\n" + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=8)))
    parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert _decode(parts) == (_h11_payload(body), True)
    assert _h11_payload(body) == b"".join(chunks)


@pytest.mark.parametrize(("body", "where"), [
    (b"zz\r\n", "byte 0: bad chunk size line b'zz'"),
    (b"0x10\r\n", "byte 0: bad chunk size line"),
    (b"+5\r\n", "byte 0: bad chunk size line"),
    (b"-1\r\n", "byte 0: bad chunk size line"),
    (b"1_0\r\n", "byte 0: bad chunk size line"),
    (b"\r\n", "byte 0: bad chunk size line"),
    (b"3\r\nabcX\r\n", "byte 6: chunk data is not followed by CRLF"),
    (b"3\r\nabc\r\n" + b"1" * 5000, "byte 8: line longer than 4096 bytes"),
    (b"1234567890abcdef0\r\n", "byte 0: bad chunk size line"),
])
def test_malformed_framing_says_what_and_where(body: bytes, where: str) -> None:
    d = Dechunker()
    for i in range(0, len(body), 3):  # in pieces, so positions are counted across feeds
        d.feed(body[i:i + 3])
        if d.error is not None:
            break
    assert d.error is not None
    assert re.match("malformed chunked response body at " + re.escape(where), str(d.error))
    with pytest.raises(TransportError) as again:
        d.feed(b"0\r\n\r\n")
    assert again.value is d.error


def test_payload_before_bad_framing_is_returned_first() -> None:
    d = Dechunker()
    assert d.feed(b"3\r\nabc\r\n2\r\nde\r\nzz\r\n") == b"abcde"
    assert d.error is not None and "byte 15: bad chunk size line b'zz'" in str(d.error)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=50), max_size=10))
def test_garbage_only_ever_sets_transport_error(parts: list[bytes]) -> None:
    d = Dechunker()
    for p in parts:
        if d.error is not None:
            with pytest.raises(TransportError):
                d.feed(p)
            break
        assert isinstance(d.feed(p), bytes)
