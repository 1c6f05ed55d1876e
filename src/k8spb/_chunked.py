"""HTTP/1.1 chunked transfer coding, decoded incrementally (sans-io).

Go's HTTP/1.1 server writes a large watch event as two chunks, so a watch of 10,000 pods is 20,000
chunks; decoding them here costs a find and a slice each, where h11 spends several Python events.
"""

from __future__ import annotations

import re
from typing import NoReturn

from k8spb._errors import TransportError

__all__ = ["Dechunker"]

_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?")  # size, optional extensions
_HEX = b"0123456789abcdefABCDEF"
_MAX_LINE = 4096  # a size line or trailer field longer than this is garbage, not a slow sender

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class Dechunker:
    """Feed the bytes of a chunked body as they arrive; get back its payload.

    :attr:`done` turns true at the last chunk and its trailer; bytes after that are ignored. On
    malformed framing, the payload before it is still returned and :attr:`error` is set: a
    TransportError naming what was wrong and at which byte of the body, raised by every later feed.
    """

    __slots__ = ("_left", "_offset", "_pending", "_state", "error")

    def __init__(self) -> None:
        self._state = _SIZE
        self._left = 0  # payload bytes of the current chunk still to come
        self._pending = b""  # an incomplete size line, CRLF or trailer field
        self._offset = 0  # body bytes consumed before ``_pending``: for error messages
        self.error: TransportError | None = None

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes) -> bytes:
        """The payload carried by ``data`` (possibly empty)."""
        if self.error is not None:
            raise self.error
        if self._state == _DONE:
            return b""
        if self._pending:
            data = self._pending + data
        view = memoryview(data)
        out: list[memoryview] = []
        pos, end = 0, len(data)
        state, left = self._state, self._left
        find, startswith = data.find, data.startswith
        try:
            while pos < end:
                if state == _SIZE:
                    eol = find(b"\r\n", pos, pos + _MAX_LINE + 2)
                    if eol < 0:
                        if end - pos > _MAX_LINE:
                            self._fail(pos, f"line longer than {_MAX_LINE} bytes")
                        break
                    line = data[pos:eol]
                    if 0 < len(line) < 16 and not line.strip(_HEX):  # the usual: nothing but the size
                        left = int(line, 16)
                    else:
                        match = _SIZE_LINE.fullmatch(line)
                        if match is None:
                            self._fail(pos, f"bad chunk size line {line[:40]!r}")
                        left = int(match[1], 16)
                    pos = eol + 2
                    if not left:
                        state = _TRAILER
                        continue
                    stop = pos + left
                    if stop + 2 <= end:  # the whole chunk is here
                        if not startswith(b"\r\n", stop):
                            self._fail(stop, "chunk data is not followed by CRLF")
                        out.append(view[pos:stop])
                        pos, left = stop + 2, 0
                        continue
                    state = _DATA
                elif state == _DATA:
                    take = min(left, end - pos)
                    out.append(view[pos:pos + take])
                    pos += take
                    left -= take
                    if not left:
                        state = _DATA_END
                elif state == _DATA_END:
                    if end - pos < 2:
                        break
                    if not startswith(b"\r\n", pos):
                        self._fail(pos, "chunk data is not followed by CRLF")
                    pos += 2
                    state = _SIZE
                else:  # _TRAILER: fields (ignored) up to an empty line, which ends the body
                    eol = find(b"\r\n", pos, pos + _MAX_LINE + 2)
                    if eol < 0:
                        if end - pos > _MAX_LINE:
                            self._fail(pos, f"line longer than {_MAX_LINE} bytes")
                        break
                    if eol == pos:
                        pos += 2
                        state = _DONE
                        break
                    pos = eol + 2
        except TransportError as exc:
            self.error = exc  # raised by the next feed: first the payload that came whole
        result = b"".join(out)
        self._pending = bytes(view[pos:]) if state != _DONE else b""
        self._offset += pos
        out.clear()
        view.release()
        self._state, self._left = state, left
        return result

    def _fail(self, pos: int, what: str) -> NoReturn:
        raise TransportError(f"malformed chunked response body at byte {self._offset + pos}: {what}")
