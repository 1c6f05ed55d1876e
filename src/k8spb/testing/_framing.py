"""HTTP/1.1 request framing as Go's net/http checks it, and kube-apiserver's limit on request bodies.

Go's server answers a request it cannot frame (a garbage request line, a bad ``Content-Length``, an
unknown ``Transfer-Encoding``, a chunk size that is not hexadecimal) with a bare plain-text response
and closes the connection; bodies over kube-apiserver's 3 MiB get a 413 Status.  Nothing here
allocates what a header claims before the bytes arrive, so a lying header cannot hang the server or
exhaust its memory.
"""

from __future__ import annotations

from email.message import Message
from typing import Protocol

from k8spb.testing._resources import ApiError

__all__ = ["MAX_BODY_BYTES", "FramingError", "check_headers", "go_error", "read_body"]

MAX_BODY_BYTES = 3 << 20
"""kube-apiserver's MaxRequestBodyBytes."""
_MAX_CHUNK_LINE = 4096  # Go's limit on a chunk-size line
_ERROR_HEADERS = b"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


class FramingError(Exception):
    """A request Go's HTTP server would refuse before any handler runs: ``go_error(code, status, text)``."""

    def __init__(self, code: int, status: str, text: str = "") -> None:
        super().__init__(f"{code} {status}" + (f": {text}" if text else ""))
        self.code = code
        self.status = status
        self.text = text

    def response(self) -> bytes:
        if self.code == 501:  # Go names no reason here, so as not to echo the encoding back
            return b"HTTP/1.1 501 Not Implemented" + _ERROR_HEADERS + b"Unsupported transfer encoding"
        return go_error(self.code, self.status, self.text)


def go_error(code: int, status: str, text: str = "") -> bytes:
    """The bare response Go's server writes for a request it cannot serve (then it closes)."""
    line = (f"{code} {status}" + (f": {text}" if text else "")).encode()
    return b"HTTP/1.1 " + line + _ERROR_HEADERS + line


def _content_length(headers: Message) -> int | None:
    values = headers.get_all("Content-Length") or []
    if not values:
        return None
    first = values[0].strip()
    if any(v.strip() != first for v in values[1:]):
        raise FramingError(400, "Bad Request")  # "http: message cannot contain multiple Content-Length headers"
    if not first.isascii() or not first.isdigit():
        raise FramingError(400, "Bad Request")  # "bad Content-Length"
    return int(first)


def check_headers(headers: Message, version: str) -> None:
    """Refuse what Go's server refuses once the headers are read."""
    if version == "HTTP/1.1" and not headers.get("Host"):
        raise FramingError(400, "Bad Request", "missing required Host header")
    encodings = [e.strip().lower() for v in headers.get_all("Transfer-Encoding") or [] for e in v.split(",")]
    if encodings and encodings != ["chunked"]:
        raise FramingError(501, "Not Implemented")
    if not encodings:
        _content_length(headers)


def read_body(rfile: _Reader, headers: Message) -> bytes:
    """The request body, de-chunked; 413 past :data:`MAX_BODY_BYTES` (nothing more is read then)."""
    if headers.get("Transfer-Encoding"):
        return _read_chunked(rfile)
    length = _content_length(headers) or 0
    if length > MAX_BODY_BYTES:
        raise _too_large()
    body = rfile.read(length)
    if len(body) < length:
        raise FramingError(400, "Bad Request", "unexpected EOF")
    return body


def _too_large() -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY_BYTES}")


def _read_chunked(rfile: _Reader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(_MAX_CHUNK_LINE + 1)
        if len(line) > _MAX_CHUNK_LINE or not line.endswith(b"\n"):
            raise FramingError(400, "Bad Request")
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            raise FramingError(400, "Bad Request")  # "invalid byte in chunk length"
        size = int(size_text, 16)
        if size == 0:
            while rfile.readline(_MAX_CHUNK_LINE + 1).strip():  # trailers, up to the blank line
                pass
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise _too_large()
        data = rfile.read(size)
        if len(data) < size or rfile.readline(3).strip():
            raise FramingError(400, "Bad Request")  # a short chunk or no CRLF after it
        chunks.append(data)
