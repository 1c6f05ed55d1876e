"""Response bodies within limits: Content-Encoding decoded in bounded steps, sizes capped (sans-io).

A gzip body expands up to ~1000 times, so it is never inflated in one call: each step makes at most
:data:`STEP` bytes, and a whole body stops at the configured limits with an error naming the request.
"""

from __future__ import annotations

import zlib

from k8spb._errors import TransportError

__all__ = ["STEP", "BodyDecoder", "header"]

STEP = 1 << 20
"""The most one decoding step makes (bounds the memory a compressed read can claim at once)."""


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The value of a header in a raw header list (``name`` in lower case), or None."""
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class BodyDecoder:
    """Feed the raw bytes of one response body; get back its decoded bytes.

    ``encoding`` is the Content-Encoding header (gzip, deflate or identity). ``max_raw`` caps the bytes
    received, ``max_decoded`` the bytes after decoding (None: no cap, for endless streams); going over
    either raises TransportError naming ``what`` (the request) and the Config setting.
    """

    __slots__ = ("_encoding", "_max_decoded", "_max_raw", "_start", "_what", "_z", "decoded", "raw")

    def __init__(self, encoding: str, *, max_raw: int | None, max_decoded: int | None, what: str) -> None:
        self._encoding = encoding.strip().lower()
        self._what = what
        self._max_raw, self._max_decoded = max_raw, max_decoded
        self.raw = self.decoded = 0
        self._start = b""  # a deflate body's bytes until it yields output: replayed as raw deflate on failure
        if self._encoding in ("", "identity"):
            self._z: zlib._Decompress | None = None
        elif self._encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self._encoding == "deflate":
            self._z = zlib.decompressobj()  # zlib-wrapped, as RFC 9110 says; raw deflate is tried on failure
        else:
            raise TransportError(f"{what}: the response has Content-Encoding {encoding!r}, which k8spb did not ask for")

    @property
    def identity(self) -> bool:
        return self._z is None

    def feed(self, data: bytes) -> list[bytes]:
        """The decoded bytes ``data`` carries, in pieces of at most :data:`STEP` bytes."""
        self.raw += len(data)
        if self._max_raw is not None and self.raw > self._max_raw:
            raise self._too_large("max_response_bytes", self._max_raw, "received")
        if self._z is None:
            self._count(len(data))
            return [data] if data else []
        if self._encoding == "deflate" and not self.decoded:
            self._start += data
        out: list[bytes] = []
        while data:
            piece = self._inflate(data)
            data = self._z.unconsumed_tail
            if piece:
                self._count(len(piece))
                out.append(piece)
            elif self._z.eof:
                break  # bytes after the end of the compressed stream are ignored, as zlib does
        return out

    def finish(self) -> list[bytes]:
        """The last decoded bytes; TransportError if the compressed body ended early."""
        if self._z is None:
            return []
        tail = self._z.flush()
        if not self._z.eof and self.raw:
            raise TransportError(f"{self._what}: the {self._encoding} response body ended early (truncated)")
        self._count(len(tail))
        return [tail] if tail else []

    def _inflate(self, data: bytes) -> bytes:
        assert self._z is not None
        step = STEP if self._max_decoded is None else max(1, min(STEP, self._max_decoded - self.decoded + 1))
        try:
            return self._z.decompress(data, step)
        except zlib.error as exc:
            if self._encoding == "deflate" and not self.decoded:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send it
                self._encoding = "raw deflate"
                data, self._start = self._start, b""
                return self._inflate(data)
            raise TransportError(f"{self._what}: corrupt {self._encoding} response body ({exc})") from None

    def _count(self, n: int) -> None:
        self.decoded += n
        if self._max_decoded is not None and self.decoded > self._max_decoded:
            raise self._too_large("max_decompressed_bytes", self._max_decoded, "decompressed")

    def _too_large(self, setting: str, limit: int, how: str) -> TransportError:
        return TransportError(f"{self._what}: response body is larger than Config.{setting} ({limit:,} bytes {how}); "
                              f"raise the limit, or list in pages (ListParams.limit)")
