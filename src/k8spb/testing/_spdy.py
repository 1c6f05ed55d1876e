"""The server side of SPDY/3.1 framing, without IO: what ``kubectl port-forward`` tunnels in a WebSocket.

Frames (big endian): a control frame is ``1 | version(15) | type(16) | flags(8) | length(24) | data``,
a data frame ``0 | stream id(31) | flags(8) | length(24) | data``. Header blocks (SYN_STREAM,
SYN_REPLY, HEADERS) are ``count(32)`` then ``name length(32) name value length(32) value`` pairs,
zlib-compressed with SPDY/3's preset dictionary, one compression stream per direction for the whole
session. Flow control (WINDOW_UPDATE, SETTINGS) is not used by Kubernetes' SPDY library and ignored.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = ["DICTIONARY", "Data", "Frame", "GoAway", "Ping", "RstStream", "SpdyError", "SpdyServer", "SynStream"]

_TOKENS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
    "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
    "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
    "keep-alive", "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(t)) + t.encode() for t in _TOKENS) + _TAIL.encode()
"""SPDY/3's header compression dictionary (1423 bytes: length-prefixed tokens, then plain text)."""

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_LENGTH = (1 << 24) - 1
MAX_HEADERS = 64 * 1024  # decompressed header block: Kubernetes sends a few short headers
CANCEL = 5
PROTOCOL_ERROR = 1


class SpdyError(ValueError):
    """Bytes that are not SPDY/3.1 frames."""


@dataclass(frozen=True, slots=True)
class SynStream:
    stream_id: int
    headers: dict[str, str]
    fin: bool


@dataclass(frozen=True, slots=True)
class Data:
    stream_id: int
    data: bytes
    fin: bool


@dataclass(frozen=True, slots=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True, slots=True)
class Ping:
    id: int


@dataclass(frozen=True, slots=True)
class GoAway:
    last_stream_id: int
    status: int


Frame = SynStream | Data | RstStream | Ping | GoAway


class SpdyServer:
    """Bytes from a SPDY client in, frames out; frames to send as bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        """The complete frames in what has been received so far (partial ones wait for more bytes)."""
        buf = self._buffer
        buf += data
        frames: list[Frame] = []
        while len(buf) >= 8:
            length = int.from_bytes(buf[5:8], "big")
            if len(buf) < 8 + length:
                break
            head, flags, body = bytes(buf[:4]), buf[4], bytes(buf[8:8 + length])
            del buf[:8 + length]
            frame = self._frame(head, flags, body)
            if frame is not None:
                frames.append(frame)
        return frames

    def _frame(self, head: bytes, flags: int, body: bytes) -> Frame | None:
        word = int.from_bytes(head, "big")
        if not word & 0x80000000:
            stream_id = word & 0x7FFFFFFF
            if stream_id == 0:
                raise SpdyError("data frame for stream 0")
            return Data(stream_id, body, bool(flags & FLAG_FIN))
        version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"SPDY version {version}, not {VERSION}")
        if kind == SYN_STREAM:
            if len(body) < 10:
                raise SpdyError(f"SYN_STREAM of {len(body)} bytes")
            stream_id = int.from_bytes(body[:4], "big") & 0x7FFFFFFF
            if stream_id == 0:
                raise SpdyError("SYN_STREAM for stream 0")
            return SynStream(stream_id, self._headers(body[10:]), bool(flags & FLAG_FIN))
        if kind == RST_STREAM:
            if len(body) != 8:
                raise SpdyError(f"RST_STREAM of {len(body)} bytes")
            return RstStream(int.from_bytes(body[:4], "big") & 0x7FFFFFFF, int.from_bytes(body[4:], "big"))
        if kind == PING:
            if len(body) != 4:
                raise SpdyError(f"PING of {len(body)} bytes")
            return Ping(int.from_bytes(body, "big"))
        if kind == GOAWAY:
            if len(body) != 8:
                raise SpdyError(f"GOAWAY of {len(body)} bytes")
            return GoAway(int.from_bytes(body[:4], "big") & 0x7FFFFFFF, int.from_bytes(body[4:], "big"))
        if kind == HEADERS and len(body) >= 4:
            self._headers(body[4:])  # keep the compression stream in step; nothing to do with them
        return None  # SETTINGS, WINDOW_UPDATE, SYN_REPLY (a client gets those), unknown types: ignored

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block, MAX_HEADERS)
        except zlib.error as exc:
            raise SpdyError(f"header block does not decompress: {exc}") from None
        if self._inflate.unconsumed_tail:
            raise SpdyError(f"header block over {MAX_HEADERS} bytes")
        view, at = memoryview(raw), 4
        if len(raw) < 4:
            raise SpdyError("header block shorter than its count")
        count = int.from_bytes(raw[:4], "big")
        headers: dict[str, str] = {}
        for _ in range(count):
            pair = []
            for _what in ("name", "value"):
                if at + 4 > len(raw):
                    raise SpdyError("header block ends inside a pair")
                size = int.from_bytes(view[at:at + 4], "big")
                at += 4
                if at + size > len(raw):
                    raise SpdyError("header block ends inside a pair")
                pair.append(bytes(view[at:at + size]).decode("utf-8", "replace"))
                at += size
            headers[pair[0].lower()] = pair[1].split("\x00")[0]
        return headers

    # -- writing -----------------------------------------------------------------------------------------

    @staticmethod
    def _control(kind: int, flags: int, body: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body

    def syn_reply(self, stream_id: int, fin: bool = False) -> bytes:
        block = self._deflate.compress(struct.pack(">I", 0)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        return self._control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", stream_id) + block)

    @staticmethod
    def data(stream_id: int, payload: bytes, fin: bool = False) -> bytes:
        out = []
        for start in range(0, max(len(payload), 1), MAX_LENGTH):
            piece = payload[start:start + MAX_LENGTH]
            last = start + MAX_LENGTH >= len(payload)
            out.append(struct.pack(">II", stream_id, ((FLAG_FIN if fin and last else 0) << 24) | len(piece)) + piece)
        return b"".join(out)

    def rst_stream(self, stream_id: int, status: int = CANCEL) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ping_id: int) -> bytes:
        return self._control(PING, 0, struct.pack(">I", ping_id))

    def goaway(self, last_stream_id: int, status: int = 0) -> bytes:
        return self._control(GOAWAY, 0, struct.pack(">II", last_stream_id, status))
