"""Client and AsyncClient: where requests meet sockets (k8spb._http1 for whole answers over direct
connections; httpcore for streams, proxies and HTTP/2; both imported when a client is made).

Retries, 401 refresh, protobuf->JSON fallback and rate limiting are one generator (:meth:`_Core._flow`)
that yields what to do next ("send this", "sleep this long"); ``Client`` and ``AsyncClient`` are two
short loops that carry it out.

What is resent: a request that never reached the server (the connection could not be made), and 429
answers, always; after that, only what can be resent: reads, replace and delete (whose
resourceVersion and uid preconditions make a second attempt fail rather than apply twice) and
server-side apply. A write whose answer was lost (connection cut after sending, 5xx) and whose resend
then gets 404 or 409 raises TransportError saying the first attempt may have been applied, since
that answer may be the first attempt's doing. Create and the other patches are never resent once
sent.
"""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from k8spb._body import BodyDecoder, header
from k8spb._codec import JSON, PROTOBUF
from k8spb._codec._watch import WatchDecoder, WatchEvent
from k8spb._config import Config, redact_url
from k8spb._errors import ApiError, DecodeError, RequestTimeout, TransportError
from k8spb._registry import KUBERNETES_VERSION
from k8spb._request import ACCEPT_JSON, Request, error_from_response, interpret
from k8spb._schema import Model

if TYPE_CHECKING:
    import ssl

    import httpcore

__all__ = ["AsyncClient", "Client", "Middleware"]

M = TypeVar("M", bound=Model)
USER_AGENT = f"k8spb/0.1.0 (kubernetes {KUBERNETES_VERSION})"
_READS = frozenset({"GET", "HEAD"})
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_LONGEST_LINE = 1 << 20  # a followed log line longer than this is handed out in pieces


class Middleware(Protocol):
    """A hook around every HTTP exchange (logging, metrics, tracing, header injection)."""

    def on_request(self, request: Request) -> Request:
        """Return the request to send (possibly with extra headers)."""
        ...

    def on_response(self, request: Request, status: int, elapsed: float) -> None:
        """Called once per HTTP response, retries included."""
        ...


@dataclass(frozen=True, slots=True)
class _Send:
    request: Request


@dataclass(frozen=True, slots=True)
class _Sleep:
    seconds: float


@dataclass(slots=True)
class _Reply:
    """An answer: its status, headers and whole body, or for a stream the httpcore response to read."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes | None = None
    response: httpcore.Response | None = None

    def header(self, name: bytes) -> str | None:
        """The value of a response header (``name`` in lower case), or None."""
        return header(self.headers, name)

    def close(self) -> None:
        if self.response is not None:
            self.response.close()

    async def aclose(self) -> None:
        if self.response is not None:
            await self.response.aclose()


class _Body:
    """Collects a whole body: called with the status and headers, returns where its bytes go."""

    __slots__ = ("config", "decoder", "parts", "what")

    def __init__(self, config: Config, what: str) -> None:
        self.config, self.what = config, what
        self.parts: list[bytes] = []
        self.decoder: BodyDecoder | None = None

    def __call__(self, status: int, headers: list[tuple[bytes, bytes]]) -> Callable[[bytes], None]:
        self.decoder = BodyDecoder(header(headers, b"content-encoding") or "", what=self.what,
                                   max_raw=self.config.max_response_bytes,
                                   max_decoded=self.config.max_decompressed_bytes)
        feed, parts = self.decoder.feed, self.parts
        return lambda data: parts.extend(feed(data))

    def body(self) -> bytes:
        parts = self.parts
        if self.decoder is not None:
            parts += self.decoder.finish()
        return parts[0] if len(parts) == 1 else b"".join(parts)


class _RateLimiter:
    """Token bucket: ``qps`` requests per second with bursts of ``burst``."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps, self.burst = qps, max(1, burst)
        self.tokens = float(self.burst)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token; the delay to wait before using it."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.qps)
            self.stamp = now
            self.tokens -= 1.0
            return 0.0 if self.tokens >= 0 else -self.tokens / self.qps


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _in_time(deadline: float | None, delay: float) -> bool:
    return deadline is None or time.monotonic() + delay < deadline


def _stream_read_timeout(request: Request) -> float | None:
    """Read timeout of a stream: the server's own timeoutSeconds plus slack, else none (watch, follow)."""
    for k, v in request.params:
        if k == "timeoutSeconds":
            try:
                return float(v) + 30.0
            except ValueError:
                return None
    return None


class _Core:
    """Configuration, request building and the request flow shared by both clients."""

    def __init__(self, config: Config, *, prefer_protobuf: bool, max_retries: int, backoff: float,
                 qps: float | None, burst: int, middleware: Sequence[Middleware], http2: bool) -> None:
        from k8spb import _transport  # httpcore (and with it anyio) only once a client is made

        self._t = _transport
        self.config = config
        self.prefer_protobuf = prefer_protobuf
        self.max_retries = max_retries
        self.backoff = backoff
        self.limiter = _RateLimiter(qps, burst) if qps else None
        self.middleware = tuple(middleware)
        self.json_only: set[str] = set()
        """Group-versions that refused protobuf (406/415): asked for in JSON from then on."""
        url = urlsplit(config.server)
        self._scheme = url.scheme.encode("ascii")
        self._host = (url.hostname or "").encode("idna")
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._prefix = url.path.rstrip("/")
        fixed = [("Host", url.netloc.rpartition("@")[2]), ("User-Agent", USER_AGENT)]
        if not config.disable_compression:
            fixed.append(("Accept-Encoding", "gzip"))
        if url.username is not None or url.password is not None:  # user info in the server URL: basic auth
            import base64
            from urllib.parse import unquote

            pair = f"{unquote(url.username or '')}:{unquote(url.password or '')}".encode()
            self._userinfo: list[tuple[bytes, bytes]] = [(b"Authorization", b"Basic " + base64.b64encode(pair))]
        else:
            self._userinfo = []
        self._fixed = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (*fixed, *config.impersonate)]
        self._tls = config.ssl_context()
        self._direct: tuple[str, int, ssl.SSLContext | None, str] | None = None
        """Where :mod:`k8spb._http1` connects (host, port, TLS, server name); None: httpcore takes every request."""
        if config.proxy is None and not http2:
            host = self._host.decode("idna")
            self._direct = (host, self._port, self._tls if url.scheme == "https" else None, host)

    @property
    def namespace(self) -> str:
        return self.config.namespace

    def prepare(self, request: Request) -> Request:
        """Apply the remembered JSON fallback for the request's group-version."""
        if request.group_version in self.json_only and PROTOBUF in (request.header("Accept") or ""):
            request = request.with_header("Accept", ACCEPT_JSON)
        return request

    def _deadline(self) -> float | None:
        timeout = self.config.timeout
        return None if timeout is None else time.monotonic() + timeout

    def _fields(self, request: Request, auth: dict[str, str]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The request target (the path joined to the server's, the query encoded) and every header."""
        target = quote(self._prefix + request.path, safe=_PATH_SAFE)
        if request.params:
            target += "?" + urlencode(request.params)
        headers = [*self._fixed, *((k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers)]
        if auth:
            headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in auth.items()]
        elif self._userinfo:
            headers += self._userinfo
        if request.body is not None:
            headers.append((b"Content-Length", b"%d" % len(request.body)))
        return target.encode("ascii"), headers

    def _build(self, request: Request, auth: dict[str, str], stream: bool) -> httpcore.Request:
        """The request for httpcore (streams; proxies and HTTP/2)."""
        import httpcore

        target, headers = self._fields(request, auth)
        config = self.config
        timeout = config.timeout
        read = _stream_read_timeout(request) if stream else config.read_timeout or timeout
        extensions = {"timeout": {"connect": timeout, "read": read, "write": timeout, "pool": timeout}}
        url = httpcore.URL(scheme=self._scheme, host=self._host, port=self._port, target=target)
        return httpcore.Request(request.method.encode("ascii"), url, headers=headers, content=request.body or b"",
                                extensions=extensions)

    def _wire(self, request: Request, auth: dict[str, str]) -> bytes:
        """The request as HTTP/1.1 bytes, for :mod:`k8spb._http1`."""
        target, headers = self._fields(request, auth)
        lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), target)]
        lines += [b"%s: %s" % field for field in headers]
        head = b"\r\n".join(lines)
        if head.count(b"\n") != len(lines) - 1 or head.count(b"\r") != len(lines) - 1:  # no header smuggled in
            raise TransportError(f"{request.describe()}: a request header contains a line break")
        head += b"\r\n\r\n"
        return head + request.body if request.body else head

    def _lean_args(self) -> tuple[float | None, float | None]:
        config = self.config
        return config.timeout, config.read_timeout or config.timeout

    def _stream_decoder(self, reply: _Reply) -> BodyDecoder:
        """The decoder of a stream's body: bounded steps, no total limit."""
        return BodyDecoder(reply.header(b"content-encoding") or "", what="", max_raw=None, max_decoded=None)

    def _flow(self, request: Request, deadline: float | None
              ) -> Generator[_Send | _Sleep, _Reply, tuple[_Reply, str | None]]:
        """Send ``request`` until it has a final answer: that answer, and why an earlier attempt of a write
        has an unknown outcome (None if none has)."""
        attempt = 0
        refreshed = False
        fell_back = False
        lost: str | None = None
        request = self.prepare(request)
        write = request.method not in _READS
        import httpcore

        while True:
            if self.limiter is not None:
                delay = self.limiter.reserve()
                if delay > 0:
                    yield _Sleep(delay)
            for mw in self.middleware:
                request = mw.on_request(request)
            started = time.monotonic()
            try:
                reply = yield _Send(request)
            except self._t.HTTP_ERRORS as exc:
                reached = not isinstance(exc, (httpcore.ConnectError, httpcore.ConnectTimeout, httpcore.PoolTimeout,
                                               httpcore.ProxyError, httpcore.UnsupportedProtocol))
                if write and reached:
                    lost = lost or f"{type(exc).__name__}: {exc}"
                resend = request.idempotent or not reached
                if (resend and attempt < self.max_retries and not isinstance(exc, httpcore.TimeoutException)
                        and not isinstance(exc, httpcore.UnsupportedProtocol)):
                    delay = self._delay(attempt, None)
                    if _in_time(deadline, delay):
                        yield _Sleep(delay)
                        attempt += 1
                        continue
                raise self._transport_error(request, exc, lost, deadline) from None
            status = reply.status
            for mw in self.middleware:
                mw.on_response(request, status, time.monotonic() - started)
            if status == 401 and not refreshed:
                refreshed = True
                self.config.auth.invalidate()
                continue
            if status in (406, 415) and not fell_back and self._uses_protobuf(request):
                fell_back = True
                self.json_only.add(request.group_version)
                request = self._as_json(request)
                continue
            retry_after = _retry_after(reply.header(b"retry-after"))
            retryable = status == 429 or (status >= 500 and (retry_after is not None or status in (502, 503, 504)))
            if retryable and attempt < self.max_retries and (request.idempotent or status == 429):
                delay = self._delay(attempt, retry_after)
                if _in_time(deadline, delay):
                    if write and status != 429:  # a 5xx may come after the write was applied
                        lost = lost or f"HTTP {status}"
                    yield _Sleep(delay)
                    attempt += 1
                    continue
            return reply, lost

    def _transport_error(self, request: Request, exc: Exception, lost: str | None,
                         deadline: float | None) -> TransportError:
        """The TransportError for a request that got no answer, naming it (and never a credential)."""
        import httpcore

        what = request.describe()
        if isinstance(exc, httpcore.TimeoutException):
            if deadline is not None and time.monotonic() >= deadline - 0.01:
                return RequestTimeout(f"{what}: timed out: not done within Config.timeout "
                                      f"({self.config.timeout:g} s; {type(exc).__name__})")
            read = self.config.read_timeout
            limit = f"Config.read_timeout ({read:g} s)" if read is not None else "the timeout"
            return RequestTimeout(f"{what}: timed out: no data within {limit} ({type(exc).__name__})")
        text = f"{what}: {type(exc).__name__}: {redact_url(str(exc))}" if str(exc) else f"{what}: {type(exc).__name__}"
        if lost is not None:
            text += "; the request may have been applied (its answer was lost)"
        return TransportError(text)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, 60.0)
        import random

        return float(min(self.backoff * (2.0**attempt), 10.0) * (0.5 + random.random() / 2))

    @staticmethod
    def _uses_protobuf(request: Request) -> bool:
        return PROTOBUF in (request.header("Accept") or "") or request.header("Content-Type") == PROTOBUF

    @staticmethod
    def _as_json(request: Request) -> Request:
        out = request.with_header("Accept", ACCEPT_JSON)
        if request.header("Content-Type") == PROTOBUF and request.body is not None:
            from k8spb._codec import decode, encode

            out = out.with_header("Content-Type", JSON)
            out = _replace_body(out, encode(decode(request.body, PROTOBUF), JSON))
        return out

    @staticmethod
    def _result(sent: Request, reply: _Reply, lost: str | None, into: type[Any] | None) -> Any:
        """The decoded answer, or its ApiError; a 404/409 after a lost write attempt is reported as such."""
        assert reply.body is not None
        content_type = reply.header(b"content-type")
        if lost is not None and reply.status in (404, 409):
            err = error_from_response(sent, reply.status, content_type, reply.body)
            raise TransportError(
                f"{sent.describe()}: outcome unknown: an earlier attempt got no answer ({lost}) and may have been "
                f"applied; the retry then got {err.code} {err.reason or ''}: {err.message} (read the object "
                "again to see which)") from err
        return interpret(sent, reply.status, content_type, reply.body, into)

    @staticmethod
    def _text(sent: Request, reply: _Reply) -> str:
        assert reply.body is not None
        if not 200 <= reply.status < 300:
            raise error_from_response(sent, reply.status, reply.header(b"content-type"), reply.body)
        return reply.body.decode("utf-8", "replace")

    @staticmethod
    def _error(sent: Request, reply: _Reply, body: bytes) -> ApiError:
        return error_from_response(sent, reply.status, reply.header(b"content-type"), body,
                                   _retry_after(reply.header(b"retry-after")))

    @staticmethod
    def _stream_error(sent: Request, exc: Exception) -> Exception:
        """A stream's failure, naming the request."""
        if isinstance(exc, DecodeError):
            return DecodeError(f"{sent.describe()}: {exc}")
        if isinstance(exc, TransportError):  # malformed chunked framing, a bad Content-Encoding
            return exc if str(exc).startswith(sent.describe()) else TransportError(f"{sent.describe()}: {exc}")
        import httpcore

        if isinstance(exc, httpcore.TimeoutException):
            return RequestTimeout(f"{sent.describe()}: timed out: no data within the stream's read timeout "
                                  f"({type(exc).__name__})")
        return TransportError(f"{sent.describe()}: {type(exc).__name__}: {exc}")


def _replace_body(request: Request, body: bytes) -> Request:
    from dataclasses import replace

    return replace(request, body=body)


class _Lines:
    """Text lines out of decoded bytes (pods/log), a long line handed out in pieces."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""

    def feed(self, data: bytes, final: bool = False) -> list[str]:
        """The lines completed by ``data``; with ``final``, the last one even without its newline."""
        lines = (self._pending + self._decoder.decode(data, final)).split("\n")
        self._pending = lines.pop()
        if self._pending and (final or len(self._pending) > _LONGEST_LINE):
            lines.append(self._pending)
            self._pending = ""
        return [line[:-1] if line.endswith("\r") else line for line in lines]


def _watch_events(decoder: WatchDecoder, sent: Request, chunk: bytes) -> Iterable[WatchEvent[Any]]:
    """The events in ``chunk`` (an ERROR event raised as its ApiError); a bad event after them raised at once."""
    for piece in decoder.pieces(chunk):
        for event in decoder.feed(piece):
            if event.type == "ERROR":
                _raise_error_event(sent, event)
            yield event
        if decoder.error is not None:
            raise decoder.error


class Client(_Core):
    """A synchronous Kubernetes client (protobuf first, JSON fallback)."""

    def __init__(self, config: Config, *, prefer_protobuf: bool = True, max_retries: int = 5, backoff: float = 0.2,
                 qps: float | None = None, burst: int = 10, middleware: Sequence[Middleware] = (),
                 http2: bool = False) -> None:
        super().__init__(config, prefer_protobuf=prefer_protobuf, max_retries=max_retries, backoff=backoff,
                         qps=qps, burst=burst, middleware=middleware, http2=http2)
        from k8spb._http1 import Pool

        self._pool = self._t.pool(verify=self._tls, proxy=config.proxy, http2=http2)
        self._http1 = Pool(*self._direct) if self._direct is not None else None

    @classmethod
    def try_default(cls, **kwargs: Any) -> Client:
        """A client from the inferred configuration (KUBECONFIG, ~/.kube/config, in-cluster)."""
        return cls(Config.infer(), **kwargs)

    def close(self) -> None:
        self._pool.close()
        if self._http1 is not None:
            self._http1.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(server={redact_url(self.config.server)!r}, protobuf={self.prefer_protobuf})"

    def _send(self, request: Request, stream: bool, http: httpcore.ConnectionPool | None = None) -> _Reply:
        auth = self.config.auth.headers()
        body = _Body(self.config, request.describe())
        if self._http1 is not None and not stream and http is None:
            status, headers = self._http1.exchange(request.method.encode("ascii"), self._wire(request, auth),
                                                   *self._lean_args(), body)
            return _Reply(status, headers, body.body())
        response = (http or self._pool).handle_request(self._build(request, auth, stream))
        if stream:
            return _Reply(response.status, response.headers, None, response)
        try:
            feed = body(response.status, response.headers)
            for data in response.iter_stream():
                feed(data)
        finally:
            response.close()
        return _Reply(response.status, response.headers, body.body())

    def _exchange(self, request: Request, *, stream: bool = False,
                  http: httpcore.ConnectionPool | None = None) -> tuple[Request, _Reply, str | None]:
        """Send through the request flow (on ``http``, else the client's own connections): the request as
        last sent, its answer, and why an earlier attempt's outcome is unknown (see :meth:`_flow`)."""
        deadline = self._deadline()
        token = self._t.DEADLINE.set(deadline)
        try:
            flow = self._flow(request, deadline)
            action = next(flow)
            while True:
                if isinstance(action, _Sleep):
                    time.sleep(action.seconds)
                    action = next(flow)
                    continue
                current = action.request
                try:
                    reply = self._send(current, stream, http)
                except self._t.HTTP_ERRORS as exc:
                    action = flow.throw(exc)
                    continue
                try:
                    action = flow.send(reply)
                except StopIteration as done:
                    return current, *done.value
                reply.close()
        finally:
            self._t.DEADLINE.reset(token)

    def request(self, request: Request, into: type[Any] | None = None) -> Any:
        """Send a request and decode the response (raising ApiError for error statuses)."""
        sent, reply, lost = self._exchange(request)
        return self._result(sent, reply, lost, into)

    def request_text(self, request: Request) -> str:
        """Send a request whose successful answer is plain text (pods/log)."""
        sent, reply, _ = self._exchange(request)
        return self._text(sent, reply)

    def _stream(self, request: Request) -> tuple[Request, _Reply, Iterator[bytes]]:
        """Send a streamed request; its answer and decoded body (ApiError for an error status)."""
        sent, reply, _ = self._exchange(request, stream=True)
        response = reply.response
        assert response is not None
        try:
            if not 200 <= reply.status < 300:
                body = _Body(self.config, sent.describe())
                feed = body(reply.status, reply.headers)
                for data in response.iter_stream():
                    feed(data)
                raise self._error(sent, reply, body.body())
            raw = self._t.chunked_body(response, _stream_read_timeout(sent))
            return sent, reply, raw if raw is not None else self._decoded(response, self._stream_decoder(reply))
        except BaseException:
            response.close()
            raise

    @staticmethod
    def _decoded(response: httpcore.Response, decoder: BodyDecoder) -> Iterator[bytes]:
        for data in response.iter_stream():
            yield from decoder.feed(data)
        yield from decoder.finish()

    def stream_lines(self, request: Request) -> Iterator[str]:
        """Stream a text response line by line (pods/log with follow)."""
        sent, reply, body = self._stream(request)
        lines = _Lines()
        try:
            for data in body:
                yield from lines.feed(data)
            yield from lines.feed(b"", final=True)
        except (*self._t.HTTP_ERRORS, TransportError) as exc:
            raise self._stream_error(sent, exc) from None
        finally:
            reply.close()

    def watch(self, request: Request, into: type[Any] | None = None, *,
              raw: bool = False) -> Iterator[WatchEvent[Any]]:
        """Stream watch events; an ERROR event is raised as its ApiError (410 Gone: relist).

        A stream that breaks raises TransportError (connection lost) or DecodeError (ended or garbled
        mid-event) after every complete event before the break has been yielded. ``raw``: objects of
        frames laid out as Go writes them come as :class:`~k8spb._codec._watch.RawObject`, unparsed.
        """
        sent, reply, body = self._stream(request)
        try:
            decoder = WatchDecoder(reply.header(b"content-type") or JSON, into, origin=sent.describe(), raw=raw)
            for chunk in body:
                yield from _watch_events(decoder, sent, chunk)
            decoder.close()
        except (*self._t.HTTP_ERRORS, TransportError, DecodeError) as exc:
            raise self._stream_error(sent, exc) from None
        finally:
            reply.close()


class AsyncClient(_Core):
    """An asyncio Kubernetes client (protobuf first, JSON fallback)."""

    def __init__(self, config: Config, *, prefer_protobuf: bool = True, max_retries: int = 5, backoff: float = 0.2,
                 qps: float | None = None, burst: int = 10, middleware: Sequence[Middleware] = (),
                 http2: bool = False) -> None:
        super().__init__(config, prefer_protobuf=prefer_protobuf, max_retries=max_retries, backoff=backoff,
                         qps=qps, burst=burst, middleware=middleware, http2=http2)
        from k8spb._http1 import AsyncPool

        self._pool = self._t.async_pool(verify=self._tls, proxy=config.proxy, http2=http2)
        self._http1 = AsyncPool(*self._direct) if self._direct is not None else None
        import asyncio

        # httpcore's pool rescans every queued request on every change (quadratic in the queue): requests
        # wait here instead, so it never holds more than it has connections for.
        self._slots = asyncio.Semaphore(self._t.CONNECTIONS)

    @classmethod
    def try_default(cls, **kwargs: Any) -> AsyncClient:
        """A client from the inferred configuration (KUBECONFIG, ~/.kube/config, in-cluster)."""
        return cls(Config.infer(), **kwargs)

    async def aclose(self) -> None:
        await self._pool.aclose()
        if self._http1 is not None:
            await self._http1.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncClient(server={redact_url(self.config.server)!r}, protobuf={self.prefer_protobuf})"

    async def _send(self, request: Request, stream: bool, http: httpcore.AsyncConnectionPool | None = None) -> _Reply:
        auth = await self.config.auth.aheaders()
        body = _Body(self.config, request.describe())
        if self._http1 is not None and not stream and http is None:
            status, headers = await self._http1.exchange(request.method.encode("ascii"), self._wire(request, auth),
                                                         *self._lean_args(), body)
            return _Reply(status, headers, body.body())
        hreq = self._build(request, auth, stream)
        if stream:  # a stream holds its connection for long: it does not take a slot
            response = await (http or self._pool).handle_async_request(hreq)
            return _Reply(response.status, response.headers, None, response)
        async with self._slots:
            response = await self._pool.handle_async_request(hreq)
            try:
                feed = body(response.status, response.headers)
                async for data in response.aiter_stream():
                    feed(data)
            finally:
                await response.aclose()
        return _Reply(response.status, response.headers, body.body())

    async def _exchange(self, request: Request, *, stream: bool = False,
                        http: httpcore.AsyncConnectionPool | None = None) -> tuple[Request, _Reply, str | None]:
        """:meth:`Client._exchange`."""
        deadline = self._deadline()
        token = self._t.DEADLINE.set(deadline)
        try:
            flow = self._flow(request, deadline)
            action = next(flow)
            while True:
                if isinstance(action, _Sleep):
                    import asyncio

                    await asyncio.sleep(action.seconds)
                    action = next(flow)
                    continue
                current = action.request
                try:
                    reply = await self._send(current, stream, http)
                except self._t.HTTP_ERRORS as exc:
                    action = flow.throw(exc)
                    continue
                try:
                    action = flow.send(reply)
                except StopIteration as done:
                    return current, *done.value
                await reply.aclose()
        finally:
            self._t.DEADLINE.reset(token)

    async def request(self, request: Request, into: type[Any] | None = None) -> Any:
        """Send a request and decode the response (raising ApiError for error statuses)."""
        sent, reply, lost = await self._exchange(request)
        return self._result(sent, reply, lost, into)

    async def request_text(self, request: Request) -> str:
        """Send a request whose successful answer is plain text (pods/log)."""
        sent, reply, _ = await self._exchange(request)
        return self._text(sent, reply)

    async def _stream(self, request: Request) -> tuple[Request, _Reply, AsyncIterator[bytes]]:
        """Send a streamed request; its answer and decoded body (ApiError for an error status)."""
        sent, reply, _ = await self._exchange(request, stream=True)
        response = reply.response
        assert response is not None
        try:
            if not 200 <= reply.status < 300:
                body = _Body(self.config, sent.describe())
                feed = body(reply.status, reply.headers)
                async for data in response.aiter_stream():
                    feed(data)
                raise self._error(sent, reply, body.body())
            raw = self._t.async_chunked_body(response, _stream_read_timeout(sent))
            return sent, reply, raw if raw is not None else self._decoded(response, self._stream_decoder(reply))
        except BaseException:
            await response.aclose()
            raise

    @staticmethod
    async def _decoded(response: httpcore.Response, decoder: BodyDecoder) -> AsyncIterator[bytes]:
        async for data in response.aiter_stream():
            for piece in decoder.feed(data):
                yield piece
        for piece in decoder.finish():
            yield piece

    async def stream_lines(self, request: Request) -> AsyncIterator[str]:
        """Stream a text response line by line (pods/log with follow)."""
        sent, reply, body = await self._stream(request)
        lines = _Lines()
        try:
            async for data in body:
                for line in lines.feed(data):
                    yield line
            for line in lines.feed(b"", final=True):
                yield line
        except (*self._t.HTTP_ERRORS, TransportError) as exc:
            raise self._stream_error(sent, exc) from None
        finally:
            await reply.aclose()

    async def watch(self, request: Request, into: type[Any] | None = None, *,
                    raw: bool = False) -> AsyncIterator[WatchEvent[Any]]:
        """Stream watch events; an ERROR event is raised as its ApiError (410 Gone: relist).

        A stream that breaks raises TransportError (connection lost) or DecodeError (ended or garbled
        mid-event) after every complete event before the break has been yielded.
        """
        sent, reply, body = await self._stream(request)
        try:
            decoder = WatchDecoder(reply.header(b"content-type") or JSON, into, origin=sent.describe(), raw=raw)
            async for chunk in body:
                for event in _watch_events(decoder, sent, chunk):
                    yield event
            decoder.close()
        except (*self._t.HTTP_ERRORS, TransportError, DecodeError) as exc:
            raise self._stream_error(sent, exc) from None
        finally:
            await reply.aclose()


def _raise_error_event(sent: Request, event: WatchEvent[Any]) -> None:
    """Raise a watch ERROR event as the ApiError its Status describes."""
    from k8spb._errors import api_error

    st = event.object
    code = getattr(st, "code", None) or 500
    err: ApiError = api_error(code, getattr(st, "reason", None) or "", getattr(st, "message", None) or "",
                              request=f"{sent.describe()} (watch ERROR event)", status=st)
    raise err
