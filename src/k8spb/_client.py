"""Client and AsyncClient: the only place with sockets (httpx).

Retries, 401 refresh, protobuf->JSON fallback and rate limiting are one generator (:meth:`_Core._flow`)
that yields what to do next ("send this", "sleep this long"); ``Client`` and ``AsyncClient`` are two
short loops that carry it out.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from k8spb._codec import JSON, PROTOBUF
from k8spb._codec._watch import WatchDecoder, WatchEvent
from k8spb._config import Config
from k8spb._errors import ApiError, DecodeError, RequestTimeout, TransportError
from k8spb._registry import KUBERNETES_VERSION
from k8spb._request import ACCEPT_JSON, Request, error_from_response, interpret
from k8spb._schema import Model
from k8spb._transport import async_chunked_body, async_transport, chunked_body, transport

__all__ = ["AsyncClient", "Client", "Middleware"]

M = TypeVar("M", bound=Model)
USER_AGENT = f"k8spb/0.1.0 (kubernetes {KUBERNETES_VERSION})"


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


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class _Core:
    """Configuration and the request flow shared by both clients."""

    def __init__(self, config: Config, *, prefer_protobuf: bool, max_retries: int, backoff: float,
                 qps: float | None, burst: int, middleware: Sequence[Middleware]) -> None:
        self.config = config
        self.prefer_protobuf = prefer_protobuf
        self.max_retries = max_retries
        self.backoff = backoff
        self.limiter = _RateLimiter(qps, burst) if qps else None
        self.middleware = tuple(middleware)
        self.json_only: set[str] = set()
        """Group-versions that refused protobuf (406/415): asked for in JSON from then on."""

    @property
    def namespace(self) -> str:
        return self.config.namespace

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.config.timeout)

    def _client_args(self) -> dict[str, Any]:
        return {
            "base_url": self.config.server,
            "trust_env": False,
            "timeout": self._timeout(),
            "headers": {"User-Agent": USER_AGENT},
        }

    def prepare(self, request: Request) -> Request:
        """Apply the remembered JSON fallback for the request's group-version."""
        if request.group_version in self.json_only and PROTOBUF in (request.header("Accept") or ""):
            request = request.with_header("Accept", ACCEPT_JSON)
        return request

    def _flow(self, request: Request) -> Generator[_Send | _Sleep, httpx.Response, httpx.Response]:
        attempt = 0
        refreshed = False
        fell_back = False
        request = self.prepare(request)
        while True:
            if self.limiter is not None:
                delay = self.limiter.reserve()
                if delay > 0:
                    yield _Sleep(delay)
            for mw in self.middleware:
                request = mw.on_request(request)
            started = time.monotonic()
            try:
                response = yield _Send(request)
            except (httpx.TransportError, TransportError) as exc:
                if request.idempotent and attempt < self.max_retries and not isinstance(exc, httpx.TimeoutException):
                    yield _Sleep(self._delay(attempt, None))
                    attempt += 1
                    continue
                raise
            status = response.status_code
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
            retry_after = _retry_after(response.headers)
            retryable = status == 429 or (status >= 500 and (retry_after is not None or status in (502, 503, 504)))
            if retryable and attempt < self.max_retries and (request.idempotent or status == 429):
                yield _Sleep(self._delay(attempt, retry_after))
                attempt += 1
                continue
            return response

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, 60.0)
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

    def headers(self, request: Request, auth: dict[str, str]) -> list[tuple[str, str]]:
        return [*request.headers, *auth.items(), *self.config.impersonate]

    def to_httpx(self, client: httpx.Client | httpx.AsyncClient, request: Request,
                 auth: dict[str, str], stream_timeout: float | None = None) -> httpx.Request:
        timeout = self._timeout() if stream_timeout is None else httpx.Timeout(self.config.timeout,
                                                                                read=stream_timeout)
        return client.build_request(request.method, request.path, params=list(request.params),
                                    headers=self.headers(request, auth), content=request.body,
                                    timeout=timeout)


def _replace_body(request: Request, body: bytes) -> Request:
    from dataclasses import replace

    return replace(request, body=body)


def _wrap_transport_error(request: Request, exc: Exception) -> TransportError:
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeout(f"{request.describe()}: timed out ({type(exc).__name__})")
    return TransportError(f"{request.describe()}: {type(exc).__name__}: {exc}")


def _stream_read_timeout(request: Request) -> float | None:
    """Read timeout of a stream: the server's own timeoutSeconds plus slack, else none (watch, follow)."""
    for k, v in request.params:
        if k == "timeoutSeconds":
            try:
                return float(v) + 30.0
            except ValueError:
                return None
    return None


class Client(_Core):
    """A synchronous Kubernetes client (protobuf first, JSON fallback)."""

    def __init__(self, config: Config, *, prefer_protobuf: bool = True, max_retries: int = 5, backoff: float = 0.2,
                 qps: float | None = None, burst: int = 10, middleware: Sequence[Middleware] = (),
                 http2: bool = False) -> None:
        super().__init__(config, prefer_protobuf=prefer_protobuf, max_retries=max_retries, backoff=backoff,
                         qps=qps, burst=burst, middleware=middleware)
        self._http = httpx.Client(transport=transport(verify=config.ssl_context(), proxy=config.proxy, http2=http2),
                                  **self._client_args())

    @classmethod
    def try_default(cls, **kwargs: Any) -> Client:
        """A client from the inferred configuration (KUBECONFIG, ~/.kube/config, in-cluster)."""
        return cls(Config.infer(), **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(server={self.config.server!r}, protobuf={self.prefer_protobuf})"

    def _exchange(self, request: Request, *, stream: bool = False,
                  http: httpx.Client | None = None) -> tuple[Request, httpx.Response]:
        """Send through the request flow (on ``http``, else the client's own connections)."""
        http = http or self._http
        flow = self._flow(request)
        action = next(flow)
        current = request
        while True:
            if isinstance(action, _Sleep):
                time.sleep(action.seconds)
                action = next(flow)
                continue
            current = action.request
            try:
                hreq = self.to_httpx(http, current, self.config.auth.headers(),
                                     _stream_read_timeout(current) if stream else None)
                response = http.send(hreq, stream=stream)  # a body cut short is retried too
            except httpx.HTTPError as exc:
                try:
                    action = flow.throw(exc)
                except httpx.HTTPError as final:
                    raise _wrap_transport_error(current, final) from None
                continue
            try:
                action = flow.send(response)
            except StopIteration:
                return current, response
            response.close()

    def request(self, request: Request, into: type[Any] | None = None) -> Any:
        """Send a request and decode the response (raising ApiError for error statuses)."""
        sent, response = self._exchange(request)
        try:
            body = response.read()
        except httpx.HTTPError as exc:
            raise _wrap_transport_error(sent, exc) from None
        finally:
            response.close()
        return interpret(sent, response.status_code, response.headers.get("content-type"), body, into)

    def request_text(self, request: Request) -> str:
        """Send a request whose successful answer is plain text (pods/log)."""
        sent, response = self._exchange(request)
        try:
            body = response.read()
        finally:
            response.close()
        if not 200 <= response.status_code < 300:
            raise error_from_response(sent, response.status_code, response.headers.get("content-type"), body)
        return body.decode("utf-8", "replace")

    def stream_lines(self, request: Request) -> Iterator[str]:
        """Stream a text response line by line (pods/log with follow)."""
        sent, response = self._exchange(request, stream=True)
        try:
            self._raise_for_status(sent, response)
            yield from response.iter_lines()
        except httpx.HTTPError as exc:
            raise _wrap_transport_error(sent, exc) from None
        finally:
            response.close()

    def watch(self, request: Request, into: type[Any] | None = None) -> Iterator[WatchEvent[Any]]:
        """Stream watch events; an ERROR event is raised as its ApiError (410 Gone: relist).

        A stream that breaks raises TransportError (connection lost) or DecodeError (ended or garbled
        mid-event) after every complete event before the break has been yielded.
        """
        sent, response = self._exchange(request, stream=True)
        try:
            self._raise_for_status(sent, response)
            decoder = WatchDecoder(response.headers.get("content-type") or JSON, into, origin=sent.describe())
            body = chunked_body(response, _stream_read_timeout(sent))
            for chunk in response.iter_raw() if body is None else body:
                for piece in decoder.pieces(chunk):
                    for event in decoder.feed(piece):
                        if event.type == "ERROR":
                            _raise_error_event(sent, event)
                        yield event
            decoder.close()
        except httpx.HTTPError as exc:
            raise _wrap_transport_error(sent, exc) from None
        except DecodeError as exc:
            raise DecodeError(f"{sent.describe()}: {exc}") from None
        except TransportError as exc:  # malformed chunked framing
            raise TransportError(f"{sent.describe()}: {exc}") from None
        finally:
            response.close()

    @staticmethod
    def _raise_for_status(sent: Request, response: httpx.Response) -> None:
        if not 200 <= response.status_code < 300:
            body = response.read()
            raise error_from_response(sent, response.status_code, response.headers.get("content-type"), body,
                                      _retry_after(response.headers))


class AsyncClient(_Core):
    """An asyncio Kubernetes client (protobuf first, JSON fallback)."""

    def __init__(self, config: Config, *, prefer_protobuf: bool = True, max_retries: int = 5, backoff: float = 0.2,
                 qps: float | None = None, burst: int = 10, middleware: Sequence[Middleware] = (),
                 http2: bool = False) -> None:
        super().__init__(config, prefer_protobuf=prefer_protobuf, max_retries=max_retries, backoff=backoff,
                         qps=qps, burst=burst, middleware=middleware)
        self._http = httpx.AsyncClient(
            transport=async_transport(verify=config.ssl_context(), proxy=config.proxy, http2=http2),
            **self._client_args())

    @classmethod
    def try_default(cls, **kwargs: Any) -> AsyncClient:
        """A client from the inferred configuration (KUBECONFIG, ~/.kube/config, in-cluster)."""
        return cls(Config.infer(), **kwargs)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncClient(server={self.config.server!r}, protobuf={self.prefer_protobuf})"

    async def _exchange(self, request: Request, *, stream: bool = False,
                        http: httpx.AsyncClient | None = None) -> tuple[Request, httpx.Response]:
        http = http or self._http
        flow = self._flow(request)
        action = next(flow)
        current = request
        while True:
            if isinstance(action, _Sleep):
                await asyncio.sleep(action.seconds)
                action = next(flow)
                continue
            current = action.request
            try:
                hreq = self.to_httpx(http, current, await self.config.auth.aheaders(),
                                     _stream_read_timeout(current) if stream else None)
                response = await http.send(hreq, stream=stream)
            except httpx.HTTPError as exc:
                try:
                    action = flow.throw(exc)
                except httpx.HTTPError as final:
                    raise _wrap_transport_error(current, final) from None
                continue
            try:
                action = flow.send(response)
            except StopIteration:
                return current, response
            await response.aclose()

    async def request(self, request: Request, into: type[Any] | None = None) -> Any:
        """Send a request and decode the response (raising ApiError for error statuses)."""
        sent, response = await self._exchange(request)
        try:
            body = await response.aread()
        except httpx.HTTPError as exc:
            raise _wrap_transport_error(sent, exc) from None
        finally:
            await response.aclose()
        return interpret(sent, response.status_code, response.headers.get("content-type"), body, into)

    async def request_text(self, request: Request) -> str:
        """Send a request whose successful answer is plain text (pods/log)."""
        sent, response = await self._exchange(request)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        if not 200 <= response.status_code < 300:
            raise error_from_response(sent, response.status_code, response.headers.get("content-type"), body)
        return body.decode("utf-8", "replace")

    async def stream_lines(self, request: Request) -> AsyncIterator[str]:
        """Stream a text response line by line (pods/log with follow)."""
        sent, response = await self._exchange(request, stream=True)
        try:
            await self._raise_for_status(sent, response)
            async for line in response.aiter_lines():
                yield line
        except httpx.HTTPError as exc:
            raise _wrap_transport_error(sent, exc) from None
        finally:
            await response.aclose()

    async def watch(self, request: Request, into: type[Any] | None = None) -> AsyncIterator[WatchEvent[Any]]:
        """Stream watch events; an ERROR event is raised as its ApiError (410 Gone: relist).

        A stream that breaks raises TransportError (connection lost) or DecodeError (ended or garbled
        mid-event) after every complete event before the break has been yielded.
        """
        sent, response = await self._exchange(request, stream=True)
        try:
            await self._raise_for_status(sent, response)
            decoder = WatchDecoder(response.headers.get("content-type") or JSON, into, origin=sent.describe())
            body = async_chunked_body(response, _stream_read_timeout(sent))
            async for chunk in response.aiter_raw() if body is None else body:
                for piece in decoder.pieces(chunk):
                    for event in decoder.feed(piece):
                        if event.type == "ERROR":
                            _raise_error_event(sent, event)
                        yield event
            decoder.close()
        except httpx.HTTPError as exc:
            raise _wrap_transport_error(sent, exc) from None
        except DecodeError as exc:
            raise DecodeError(f"{sent.describe()}: {exc}") from None
        except TransportError as exc:  # malformed chunked framing
            raise TransportError(f"{sent.describe()}: {exc}") from None
        finally:
            await response.aclose()

    @staticmethod
    async def _raise_for_status(sent: Request, response: httpx.Response) -> None:
        if not 200 <= response.status_code < 300:
            body = await response.aread()
            raise error_from_response(sent, response.status_code, response.headers.get("content-type"), body,
                                      _retry_after(response.headers))


def _raise_error_event(sent: Request, event: WatchEvent[Any]) -> None:
    """Raise a watch ERROR event as the ApiError its Status describes."""
    from k8spb._errors import api_error

    st = event.object
    code = getattr(st, "code", None) or 500
    err: ApiError = api_error(code, getattr(st, "reason", None) or "", getattr(st, "message", None) or "",
                              request=f"{sent.describe()} (watch ERROR event)", status=st)
    raise err
