"""Request framing as Go's net/http refuses it, and kube's 3 MiB body limit (k8spb.testing._framing)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from k8spb.testing import ApiServer
from k8spb.testing._framing import MAX_BODY_BYTES

pytestmark = pytest.mark.timeout(30)

CMS = "/api/v1/namespaces/default/configmaps"
GO_400 = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
          b"400 Bad Request")


@pytest.fixture(scope="module")
def srv() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


def exchange(srv: ApiServer, data: bytes) -> bytes:
    """Send raw bytes; everything the server answers until it closes the connection."""
    with socket.create_connection((srv.host, srv.port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def post(headers: str, body: bytes = b"") -> bytes:
    return f"POST {CMS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\r\n".encode() + body


@pytest.mark.parametrize("header", ["Content-Length: abc\r\n", "Content-Length: -1\r\n", "Content-Length: 1e3\r\n",
                                    "Content-Length: 2\r\nContent-Length: 3\r\n"])
def test_bad_content_length_is_go_bare_400(srv: ApiServer, header: str) -> None:
    assert exchange(srv, post(header, b"{}")) == GO_400


def test_bad_chunk_sizes_are_400(srv: ApiServer) -> None:
    assert exchange(srv, post("Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n")) == GO_400
    assert exchange(srv, post("Transfer-Encoding: chunked\r\n", b"\r\n{}\r\n0\r\n\r\n")) == GO_400
    assert exchange(srv, post("Transfer-Encoding: chunked\r\n", b"5\r\n{}\r\n0\r\n\r\n")) == GO_400  # short


def test_unknown_transfer_encoding_is_501(srv: ApiServer) -> None:
    out = exchange(srv, post("Transfer-Encoding: gzip\r\n", b"{}"))
    assert out.startswith(b"HTTP/1.1 501 Not Implemented\r\n")
    assert out.endswith(b"\r\n\r\nUnsupported transfer encoding")


def test_garbage_request_lines_get_a_real_status_line(srv: ApiServer) -> None:
    assert exchange(srv, b"GARBAGE\r\n\r\n") == GO_400
    assert exchange(srv, b"GET /version\r\n\r\n") == GO_400  # HTTP/0.9 is not spoken
    assert exchange(srv, b"GET /version HTTP/1.1 extra\r\n\r\n") == GO_400
    missing_host = exchange(srv, b"GET /version HTTP/1.1\r\n\r\n")
    assert missing_host.startswith(b"HTTP/1.1 400 Bad Request: missing required Host header\r\n")


def test_bodies_over_3_mib_are_413_without_reading_them(srv: ApiServer) -> None:
    out = exchange(srv, post(f"Content-Length: {10 ** 12}\r\n"))  # nothing follows: no hang, no allocation
    head, body = out.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 413 Request Entity Too Large")
    status = json.loads(body)
    assert status["reason"] == "RequestEntityTooLarge"
    assert status["message"] == f"Request entity too large: limit is {MAX_BODY_BYTES}"
    chunked = b"".join(b"%x\r\n%s\r\n" % (1 << 20, b"x" * (1 << 20)) for _ in range(4)) + b"0\r\n\r\n"
    assert exchange(srv, post("Transfer-Encoding: chunked\r\n", chunked)).startswith(b"HTTP/1.1 413")
    with httpx.Client(base_url=srv.url, timeout=10) as http:  # just under the limit is fine
        data = {"metadata": {"name": "fits"}, "data": {"k": "x" * (MAX_BODY_BYTES - 1000)}}
        assert http.post(CMS, json=data).status_code == 201
        assert http.get("/version").status_code == 200  # and the server serves on


def test_chunked_bodies_with_extensions_and_trailers(srv: ApiServer) -> None:
    body = json.dumps({"metadata": {"name": "chunky"}}).encode()
    data = b"%x;ext=1\r\n%s\r\n0\r\nTrailer: x\r\n\r\n" % (len(body), body)
    out = exchange(srv, post("Transfer-Encoding: chunked\r\nConnection: close\r\n", data))
    assert out.startswith(b"HTTP/1.1 201 Created")
