"""The HTTP layer: routing, content negotiation, encodings, watch streams and fault injection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from k8spb._codec import PROTOBUF, decode
from k8spb._errors import DecodeError, EncodeError
from k8spb.testing import _streams as streams
from k8spb.testing import _subresources as subresources
from k8spb.testing._authn import ADMIN, ANONYMOUS, Tokens, UserInfo
from k8spb.testing._crd import CRD_KEY
from k8spb.testing._faults import REASONS, Cut, Failure, Faults, RequestFilter, request_info
from k8spb.testing._fieldvalidation import check_field_validation
from k8spb.testing._framing import FramingError, check_headers, go_error, read_body
from k8spb.testing._jsoncache import JsonCache
from k8spb.testing._negotiation import (
    SERIALIZERS,
    Negotiated,
    NotAcceptable,
    negotiate,
    negotiate_error,
    parse_accept,
)
from k8spb.testing._openapi import document_bytes, openapi_v2, openapi_v3_group_version, openapi_v3_root
from k8spb.testing._pbcache import ProtobufCache
from k8spb.testing._pki import peer_identity
from k8spb.testing._printers import table_cells, table_columns
from k8spb.testing._resources import (
    ApiError,
    Resources,
    ResourceType,
    aggregated_discovery,
)
from k8spb.testing._reviews import REVIEWS, create_review, token_request
from k8spb.testing._store import MAX_LOG, MAX_LOG_BYTES, Obj, Store, Watcher, matches, parse_selectors
from k8spb.testing._subresources import PodLogs
from k8spb.testing._validation import go_quote
from k8spb.testing._watch import CutHere, WatchHub, WatchStream

__all__ = ["ApiServer"]

_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
_BODY_TYPES = {"": "json", "application/json": "json", "application/yaml": "yaml", PROTOBUF: "protobuf"}
_UNKNOWN_RESOURCE = "the server could not find the requested resource"
_PUBLIC = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})
_INT = re.compile(r"[+-]?[0-9]+")
_LINGER_BYTES = 16 << 20  # the most a lingering close reads before it gives up
_OPTIONS_KIND = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions", "DELETE": "DeleteOptions"}
_RETURNS_DELETED = frozenset({("", "pods"), ("", "services"), ("", "serviceaccounts"), ("", "namespaces"),
                              ("", "persistentvolumes"), ("", "persistentvolumeclaims"),
                              ("storage.k8s.io", "storageclasses")})
"""Resources whose storage sets ReturnDeletedObject: a DELETE answers with the object, not a Status."""


class _EndStream(Exception):
    """Raised inside a watch stream to end it normally (after an ERROR event)."""


def _release_memory() -> None:
    """Give freed heap back to the system (glibc keeps it otherwise); a no-op elsewhere."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if name and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).malloc_trim(0)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    server: _HTTPServer
    cut: Cut | None = None  # the fault to apply to the response being written

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.api.verbose:
            super().log_message(format, *args)

    def parse_request(self) -> bool:
        """http.server's parsing, then what Go's server also refuses (HTTP/0.9, framing headers)."""
        if not super().parse_request():
            return False
        try:
            if self.request_version == "HTTP/0.9":
                raise FramingError(400, "Bad Request")
            check_headers(self.headers, self.request_version)
        except FramingError as exc:
            self.refuse(exc.response())
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (request line, header size, method) in Go's bare form."""
        if code == 414:
            code = 431  # Go counts the request line against its header limit
        self.refuse(go_error(code, HTTPStatus(code).phrase))

    linger = False
    """The request's body was not read to its end: drain what the client still sends before closing, so
    that the response is not lost to a reset (Go's closeWriteAndWait)."""

    def finish(self) -> None:
        super().finish()
        if self.linger:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(0.5)
                drained = 0
                while drained < _LINGER_BYTES and (data := self.connection.recv(65536)):
                    drained += len(data)

    def refuse(self, response: bytes) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.write(response)
            self.wfile.flush()

    def do_GET(self) -> None:
        self.server.api._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.api._handle(self, "POST")

    def do_PUT(self) -> None:
        self.server.api._handle(self, "PUT")

    def do_PATCH(self) -> None:
        self.server.api._handle(self, "PATCH")

    def do_DELETE(self) -> None:
        self.server.api._handle(self, "DELETE")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # the listen backlog: socketserver's 5 makes a burst of connects wait seconds
    api: ApiServer
    ssl_context: ssl.SSLContext | None = None

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        super().__init__(address, handler)
        self._detached: dict[Any, int] = {}
        self._detached_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs in the connection's thread: the TLS handshake happens here, not in the accept loop."""
        if self.ssl_context is None or isinstance(request, ssl.SSLSocket):  # plain, or back from the watch hub
            super().finish_request(request, client_address)
            return
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        tls.settimeout(None)
        super().finish_request(tls, client_address)
        self.shutdown_request(tls)

    def detach(self, conn: Any, n: int = 1) -> None:
        """The watch hub owns ``conn`` now: the request thread must not close it (``n=-1`` undoes that)."""
        with self._detached_lock:
            count = self._detached.get(conn, 0) + n
            if count:
                self._detached[conn] = count
            else:
                self._detached.pop(conn, None)

    def shutdown_request(self, request: Any) -> None:
        with self._detached_lock:
            count = self._detached.get(request, 0)
            if count:
                if count == 1:
                    del self._detached[request]
                else:
                    self._detached[request] = count - 1
                return
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or resets its connection is not an error (others are printed)."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError)):
            return
        super().handle_error(request, client_address)


class _Request:
    """One parsed request."""

    def __init__(self, h: _Handler, method: str) -> None:
        self.h = h
        self.method = method
        parts = urlsplit(h.path)
        self.path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.accept = h.headers.get("Accept")
        agent = h.headers.get("User-Agent", "")
        self.agent = agent
        self.pretty = self.q("pretty") in ("true", "1") or agent.startswith(("curl", "Wget", "Mozilla/5.0"))
        self._body: bytes | None = None
        self.user = ANONYMOUS
        self.custom = False
        """The request is for a custom resource (JSON/YAML only)."""

    def q(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default

    def int_param(self, name: str) -> int | None:
        """An int64 query parameter as Go's strconv.ParseInt reads it (None when absent); 400 otherwise."""
        text = self.q(name)
        if not text:
            return None
        if not _INT.fullmatch(text):
            raise ApiError.bad_request(f'strconv.ParseInt: parsing "{text}": invalid syntax')
        value = int(text)
        if not -(1 << 63) <= value < 1 << 63:
            raise ApiError.bad_request(f'strconv.ParseInt: parsing "{text}": value out of range')
        return value

    def dry_run(self, options_kind: str) -> bool:
        """Whether ``dryRun=All`` was asked for; 422 for any other value, as kube validates its options."""
        values = self.query.get("dryRun") or []
        if any(v != "All" for v in values):
            listed = ", ".join(go_quote(v) for v in values)
            raise ApiError(422, "Invalid", f'{options_kind}.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
                           f'[]string{{{listed}}}: supported values: "All"')
        return bool(values)

    def flag(self, name: str) -> bool:
        return self.q(name) in ("true", "1", "True")

    @property
    def body(self) -> bytes:
        if self._body is None:
            try:
                self._body = read_body(self.h.rfile, self.h.headers)
            except (FramingError, ApiError):
                self.h.close_connection = True  # the rest of the body is not read: the connection is done
                self.h.linger = True
                raise
        return self._body

    @property
    def content_type(self) -> str:
        return self.h.headers.get("Content-Type", "").split(";", 1)[0].strip()

    @property
    def manager(self) -> str:
        return self.q("fieldManager") or self.agent.split("/", 1)[0]


class ApiServer:
    """An in-memory Kubernetes API server on 127.0.0.1, speaking the real wire protocol.

    Use as a context manager (``with ApiServer() as srv:`` or ``async with``); ``srv.url`` and
    ``srv.kubeconfig_path`` point clients at it.  A request with an ``Authorization`` header
    must carry ``srv.token`` as a bearer token (else 401); requests without one are served as
    anonymous unless ``require_auth`` (client-go sends no credentials over plain HTTP).
    ``api_versions`` is ``"ga"`` (what a default cluster serves), ``"beta"`` or ``"all"`` (alpha too).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None,
                 require_auth: bool = False, bookmark_interval: float = 60.0, verbose: bool = False,
                 tls: bool = False, client_ca: bool = False, event_log_size: int = MAX_LOG,
                 event_log_bytes: int = MAX_LOG_BYTES, api_versions: str = "ga") -> None:
        self.require_auth = require_auth
        self.tls = tls or client_ca
        self.client_ca = client_ca
        self.ca_pem = b""
        self._ca: Any = None
        if self.tls:
            from k8spb.testing._pki import CertificateAuthority

            self._ca = CertificateAuthority()
            self.ca_pem = self._ca.cert_pem
        self.host = host
        self.port = port
        self.token = token or secrets.token_urlsafe(16)
        self.bookmark_interval = bookmark_interval
        self.verbose = verbose
        self.resources = Resources(api_versions)
        self.store = Store(self.resources, max_log=event_log_size, max_log_bytes=event_log_bytes,
                           root_ca=self.ca_pem.decode("ascii"))
        self._pb_cache = ProtobufCache()
        self._json_cache = JsonCache()
        self._faults = Faults()
        self.tokens = Tokens()
        self._openapi_docs: dict[tuple[Any, ...], bytes] = {}
        self.pod_logs = PodLogs()
        self.streams = streams.Streams()
        self.log_follow_timeout = 300.0
        self._httpd: _HTTPServer | None = None
        self._hub: WatchHub | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: str | None = None
        self.kubeconfig_path = ""

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:40123`` (``https://`` with TLS)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def start(self) -> ApiServer:
        """Listen, serve in a background thread and write the kubeconfig."""
        if self._httpd is not None:
            return self
        self.pod_logs.closed = False
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.api = self
        self._tmpdir = tempfile.mkdtemp(prefix="k8spb-apiserver-")
        if self.tls:
            httpd.ssl_context = self._tls_context(self._tmpdir)
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._hub = WatchHub(self)
        self._publish_endpoints()
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"k8spb-apiserver-{self.port}", daemon=True)
        self._thread.start()
        self.kubeconfig_path = os.path.join(self._tmpdir, "kubeconfig")
        with open(self.kubeconfig_path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(self.kubeconfig(), fh, sort_keys=False)
        return self

    def _publish_endpoints(self) -> None:
        """The ``kubernetes`` Service in ``default`` (10.96.0.1:443), with Endpoints and an EndpointSlice
        naming this server, as kube-apiserver keeps them."""
        store, res = self.store, self.resources
        services, endpoints, slices = (res.get("", "v1", "services"), res.get("", "v1", "endpoints"),
                                       res.get("discovery.k8s.io", "v1", "endpointslices"))
        assert services is not None and endpoints is not None and slices is not None
        labels = {"component": "apiserver", "provider": "kubernetes"}
        port = {"name": "https", "port": self.port, "protocol": "TCP"}
        with store.lock:
            for rt in (services, endpoints, slices):
                with contextlib.suppress(ApiError):
                    store.delete(rt, "default", "kubernetes", {})  # a restart publishes the new port
            store.create(services, "default", {"metadata": {"name": "kubernetes", "labels": labels}, "spec": {
                "clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                                     "targetPort": self.port}]}}, manager="kube-apiserver")
            store.create(endpoints, "default", {"metadata": {"name": "kubernetes", "labels": {
                "endpointslice.kubernetes.io/skip-mirror": "true"}}, "subsets": [
                {"addresses": [{"ip": "127.0.0.1"}], "ports": [port]}]}, manager="kube-apiserver")
            store.create(slices, "default", {"metadata": {"name": "kubernetes", "labels": {
                "kubernetes.io/service-name": "kubernetes"}}, "addressType": "IPv4", "endpoints": [
                {"addresses": ["127.0.0.1"], "conditions": {"ready": True}}], "ports": [port]},
                manager="kube-apiserver")

    def _tls_context(self, directory: str) -> ssl.SSLContext:
        from k8spb.testing._pki import server_context

        cert, key = self._ca.issue_server(self.host, "127.0.0.1", "localhost", "::1")
        cert_file, key_file = os.path.join(directory, "server.crt"), os.path.join(directory, "server.key")
        for path, data in ((cert_file, cert), (key_file, key), (os.path.join(directory, "ca.crt"), self.ca_pem)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
                fh.write(data)
        return server_context(cert_file, key_file, self.ca_pem if self.client_ca else None)

    def client_certificate(self, user: str = "k8spb-admin",
                           groups: tuple[str, ...] = ("system:masters",)) -> tuple[bytes, bytes]:
        """A client certificate the server accepts (needs ``client_ca=True`` and a started server):
        (cert_pem, key_pem)."""
        if not self.client_ca or self._ca is None:
            raise RuntimeError("client certificates need ApiServer(client_ca=True), started")
        cert: tuple[bytes, bytes] = self._ca.issue_client(user, groups)
        return cert

    def kubeconfig(self) -> dict[str, Any]:
        """A kubeconfig (as a dict) for this server with its bearer token (context ``k8spb-testing``)
        and, with ``client_ca``, a client certificate (context ``k8spb-testing-cert``)."""
        import base64

        cluster: dict[str, Any] = {"server": self.url}
        if self.tls:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode("ascii")
        users: list[dict[str, Any]] = [{"name": "k8spb-testing", "user": {"token": self.token}}]
        contexts: list[dict[str, Any]] = [
            {"name": "k8spb-testing",
             "context": {"cluster": "k8spb-testing", "user": "k8spb-testing", "namespace": "default"}}]
        if self.client_ca and self._ca is not None:
            cert, key = self.client_certificate()
            users.append({"name": "k8spb-testing-cert",
                          "user": {"client-certificate-data": base64.b64encode(cert).decode("ascii"),
                                   "client-key-data": base64.b64encode(key).decode("ascii")}})
            contexts.append({"name": "k8spb-testing-cert",
                             "context": {"cluster": "k8spb-testing", "user": "k8spb-testing-cert",
                                         "namespace": "default"}})
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "k8spb-testing", "cluster": cluster}],
            "users": users,
            "contexts": contexts,
            "current-context": "k8spb-testing",
        }

    def stop(self) -> None:
        """Stop serving, end every watch and log stream and remove the kubeconfig."""
        if self._hub is not None:
            self._hub.stop()
            self._hub = None
        self.store.close()
        self.pod_logs.close()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def keep_alive(self, conn: socket.socket, address: Any) -> bool:
        """Serve the next request of a connection whose watch ended (in a new request thread)."""
        httpd = self._httpd
        if httpd is None:
            return False
        try:
            conn.setblocking(True)
            httpd.process_request(conn, address)
        except (OSError, RuntimeError):
            return False
        return True

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> ApiServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------------ pod logs

    def set_log(self, namespace: str, pod: str, text: str, container: str | None = None) -> None:
        """Set the log ``pods/log`` serves for a pod's container (None: whichever container is asked for,
        unless it has its own log); each line is timestamped now."""
        self.pod_logs.set(namespace, pod, text, container)

    def append_log(self, namespace: str, pod: str, text: str, container: str | None = None) -> None:
        """Append lines to a log; ``follow=true`` streams them to the clients following it."""
        self.pod_logs.append(namespace, pod, text, container)

    # ------------------------------------------------------------------ exec, attach, port-forward

    def on_exec(self, namespace: str, pod: str, handler: streams.ExecHandler) -> None:
        """Play the processes ``pods/exec`` starts in ``pod``: ``handler(session)`` returns the exit code."""
        with self.streams.lock:
            self.streams.exec_handlers[(namespace, pod)] = handler

    def on_attach(self, namespace: str, pod: str, handler: streams.ExecHandler) -> None:
        """Play the process ``pods/attach`` reaches in ``pod`` (``session.command`` is empty)."""
        with self.streams.lock:
            self.streams.attach_handlers[(namespace, pod)] = handler

    def forward_port(self, namespace: str, pod: str, port: int, target: int, host: str = "127.0.0.1") -> None:
        """Connect ``pods/portforward`` of the pod's ``port`` to ``host:target`` (unmapped ports go to
        127.0.0.1 on the same port number)."""
        with self.streams.lock:
            self.streams.ports[(namespace, pod, port)] = (host, target)

    # ------------------------------------------------------------------ fault injection

    def compact(self) -> int:
        """Expire every resourceVersion up to now (old watches and continue tokens get 410); the event log
        and the encoding caches are emptied and their memory given back."""
        rv = self.store.compact()
        self._pb_cache.clear()
        self._json_cache.clear()
        _release_memory()
        return rv

    def drop_watches(self, *, resource: str | None = None, namespace: str | None = None) -> None:
        """End open watch streams cleanly, as a server restart would: all of them, or those of one
        ``resource`` (``plural`` or ``plural.group``) and/or ``namespace`` (a watch across all
        namespaces is in none)."""
        group = None
        if resource is not None:
            resource, _, group = resource.partition(".")
        self.store.drop_watches(resource, group, namespace)

    def fail_next(self, n: int = 1, status: int = 500, retry_after: int | None = None, *,
                  verb: str | Sequence[str] | None = None, path: str | None = None, resource: str | None = None,
                  namespace: str | None = None, name: str | None = None) -> None:
        """Answer the next ``n`` API requests that match with an error Status.

        ``status`` is one of 400, 401, 403, 404, 409, 410, 422, 429, 500, 503 and 504.  Without a scope the
        next requests fail whatever they are; ``verb`` (``get``, ``list``, ``watch``, ``create``,
        ``update``, ``patch``, ``delete``, ``deletecollection``, or several), ``path`` (exact or a glob),
        ``resource`` (``pods``, ``deployments.apps``, ``pods/log``), ``namespace`` and ``name`` narrow it
        to matching requests, so that other requests (a test's own polling) pass.
        """
        if status not in REASONS:
            raise ValueError(f"status must be one of {sorted(REASONS)}")
        self._faults.add(self._faults.failures, RequestFilter.of(verb, path, resource, namespace, name),
                         Failure(status, retry_after), n)

    def cut_next(self, n: int = 1, *, after_events: int = 1, end_stream: bool = False,
                 verb: str | Sequence[str] | None = None, path: str | None = None, resource: str | None = None,
                 namespace: str | None = None, name: str | None = None) -> None:
        """Cut the next ``n`` API responses (that match the scope, as for :meth:`fail_next`) in the middle
        of a frame.

        A watch stream sends ``after_events`` events, then the first half of the next event's frame;
        any other response sends the first half of its body.  Then the connection is dropped, or, for a
        watch with ``end_stream=True``, the chunked body is ended cleanly so that only the frame is cut
        (what a proxy that gives up on a stream can do).
        """
        if n < 0 or after_events < 0:
            raise ValueError("n and after_events must not be negative")
        self._faults.add(self._faults.cuts, RequestFilter.of(verb, path, resource, namespace, name),
                         Cut(after_events, end_stream), n)

    def latency(self, seconds: float, *, verb: str | Sequence[str] | None = None, path: str | None = None,
                resource: str | None = None, namespace: str | None = None, name: str | None = None) -> None:
        """Delay every request (in the scope, as for :meth:`fail_next`) by ``seconds``; 0 removes the delay
        of that scope.  A request in several scopes waits the longest of their delays."""
        flt = RequestFilter.of(verb, path, resource, namespace, name)
        with self._faults.lock:
            if seconds > 0:
                self._faults.latencies[flt] = float(seconds)
            else:
                self._faults.latencies.pop(flt, None)

    def pending_faults(self) -> int:
        """How many injected failures and cuts have not yet been served."""
        return self._faults.pending()

    def clear_faults(self) -> None:
        """Forget every pending failure, cut and latency."""
        self._faults.clear()

    # ------------------------------------------------------------------ request handling

    def _handle(self, h: _Handler, method: str) -> None:
        req = _Request(h, method)
        try:
            _ = req.body  # always drain the body, so errors keep the connection usable
            if req.path in ("/healthz", "/livez", "/readyz"):
                self._send(h, 200, "text/plain; charset=utf-8", b"ok")
                return
            req.user = self._authenticate(h)
            if self._faults.active:
                failure, h.cut, delay = self._faults.take(request_info(method, req.path, req.flag("watch")))
                if delay:
                    time.sleep(delay)
                if failure is not None:
                    reason, message = REASONS[failure.status]
                    raise ApiError(failure.status, reason, message, retry_after=failure.retry_after)
            self._route(req)
        except ApiError as exc:
            self._send_error(req, exc)
        except FramingError as exc:
            h.refuse(exc.response())
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        except Exception as exc:  # pragma: no cover - a bug in the server, reported like kube does
            self._send_error(req, ApiError(500, "InternalError", f"Internal error occurred: {exc!r}"))
        finally:
            h.cut = None

    def _authenticate(self, h: _Handler) -> UserInfo:
        """The request's user: the server's token, an issued service account token or a client
        certificate; anonymous without credentials, unless they are required (401)."""
        auth = h.headers.get("Authorization")
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() == "bearer" and token == self.token:
                return ADMIN
            user = self.tokens.user(token, self.account_uid) if scheme.lower() == "bearer" else None
            if user is not None:
                return user
        elif self.client_ca:
            identity = peer_identity(h.connection)
            if identity is not None:
                return UserInfo(identity[0], (*identity[1], "system:authenticated"))
        if auth is not None or self.require_auth or self.tls:
            if h.path.split("?", 1)[0] in _PUBLIC:
                return ANONYMOUS
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return ANONYMOUS

    def account_uid(self, namespace: str, name: str) -> str | None:
        """The uid of a live service account (None if there is none): issued tokens die with it."""
        account = self.store.data.get(("", "serviceaccounts"), {}).get((namespace, name))
        return None if account is None else str(account["metadata"].get("uid", ""))

    def _send(self, h: _Handler, code: int, content_type: str, body: bytes,
              headers: dict[str, str] | None = None, warnings: Sequence[str] = ()) -> None:
        h.send_response(code)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        for text in warnings:  # Go's warning header: code, agent, quoted text
            h.send_header("Warning", "299 - " + json.dumps(text, ensure_ascii=False))
        h.end_headers()
        if h.command != "HEAD":
            if h.cut is not None:
                body, h.close_connection = body[: len(body) // 2], True
            h.wfile.write(body)

    def _encode(self, neg: Negotiated, obj: Obj) -> bytes:
        if neg.format == "json":
            if neg.pretty:
                return json.dumps(obj, indent=2, ensure_ascii=False).encode() + b"\n"
            return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        if neg.format == "yaml":
            return yaml.safe_dump(obj, sort_keys=True, allow_unicode=True, default_flow_style=False).encode()
        return self._protobuf(obj)

    def _protobuf(self, obj: Obj) -> bytes:
        try:
            return self._pb_cache.encode(obj)
        except (DecodeError, EncodeError) as exc:
            raise ApiError(500, "InternalError", f"cannot encode {obj.get('kind')} as protobuf: {exc}") from None

    def _protobuf_frame(self, event_type: str, obj: Obj) -> tuple[bytes, ...]:
        try:
            return self._pb_cache.watch_frame_parts(event_type, obj)
        except (DecodeError, EncodeError) as exc:
            raise ApiError(500, "InternalError", f"cannot encode {obj.get('kind')} as protobuf: {exc}") from None

    def _send_obj(self, req: _Request, neg: Negotiated, obj: Obj, code: int = 200,
                  warnings: Sequence[str] = ()) -> None:
        self._send(req.h, code, neg.media_type, self._encode(neg, obj), warnings=warnings)

    def _send_error(self, req: _Request, exc: ApiError) -> None:
        neg = negotiate_error(req.accept, req.pretty)
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        try:
            body = self._encode(neg, exc.status())
        except ApiError:
            neg = Negotiated("json", "application/json", pretty=True)
            body = self._encode(neg, exc.status())
        try:
            self._send(req.h, exc.code, neg.media_type, body, headers)
        except (BrokenPipeError, ConnectionResetError):
            req.h.close_connection = True

    def _negotiate(self, req: _Request, *, table: bool = False, meta: bool = False, watch: bool = False,
                   protobuf: bool = True) -> Negotiated:
        try:
            return negotiate(req.accept, protobuf=protobuf and not req.custom, allow_table=table, allow_meta=meta,
                             watch=watch, pretty=req.pretty)
        except NotAcceptable as exc:
            raise ApiError(406, "NotAcceptable", str(exc)) from None

    # ------------------------------------------------------------------ routing

    def _route(self, req: _Request) -> None:
        segs = [s for s in req.path.split("/") if s]
        res = self.resources
        if req.path in ("/version", "/version/"):  # kube serves both (kr8s asks with the slash)
            self._send_obj(req, self._negotiate(req, protobuf=False), res.version_info())
            return
        if segs[:1] == ["openapi"] and req.method == "GET":
            self._openapi(req, segs[1:])
            return
        if (segs[:1] == ["api"] and len(segs) <= 2) or (segs[:1] == ["apis"] and len(segs) <= 3):
            if req.method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource")
            aggregated = self._aggregated(req) if len(segs) == 1 else None
            if aggregated is not None:
                self._send_obj(req, aggregated, aggregated_discovery(res, legacy=segs == ["api"],
                                                                     version=aggregated.transform_version))
                return
            neg = self._negotiate(req)
            if segs == ["api"]:
                self._send_obj(req, neg, res.api_versions(f"{self.host}:{self.port}"))
            elif segs == ["apis"]:
                self._send_obj(req, neg, res.api_group_list())
            elif segs == ["api", "v1"]:
                self._send_obj(req, neg, res.resource_list("", "v1"))
            elif len(segs) == 2 and segs[1] in res.group_versions:
                self._send_obj(req, neg, res.api_group(segs[1]))
            elif len(segs) == 3 and res.has_group_version(segs[1], segs[2]):
                self._send_obj(req, neg, res.resource_list(segs[1], segs[2]))
            else:
                raise ApiError(404, "NotFound", _UNKNOWN_RESOURCE)
            return
        if segs[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", segs[2:]
        elif segs[:1] == ["apis"] and len(segs) > 3 and res.has_group_version(segs[1], segs[2]):
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise ApiError(404, "NotFound", _UNKNOWN_RESOURCE)
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = res.get(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        rt = res.get(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise ApiError(404, "NotFound", _UNKNOWN_RESOURCE)
        req.custom = rt.custom
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and sub not in rt.subresources:
            raise ApiError(404, "NotFound", _UNKNOWN_RESOURCE)
        if sub == "token" and rt.storage_key == ("", "serviceaccounts"):
            token_request(self, req, rt, namespace, name)
            return
        if sub in streams.SUBRESOURCES and rt.storage_key == ("", "pods"):
            streams.handle(self, req, rt, namespace, name, sub)
            return
        if sub and subresources.serves(rt, sub):
            subresources.handle(self, req, rt, namespace, name, sub)
            return
        if sub and sub != "status":
            raise ApiError(405, "MethodNotAllowed", f"k8spb.testing does not serve {rt.plural}/{sub}")
        self._resource(req, rt, namespace, name, sub)

    def _openapi(self, req: _Request, segs: list[str]) -> None:
        """``/openapi/v2`` and ``/openapi/v3[/{group-version}]`` (JSON), built once per set of CRDs."""
        self._negotiate(req, protobuf=False)  # 406 for an Accept that JSON does not satisfy
        res = self.resources
        crds = dict(self.store.data.get(CRD_KEY, {}))
        crd_names = {k[1]: v for k, v in crds.items()}
        stamp = tuple(sorted((k, v["metadata"].get("resourceVersion", "")) for k, v in crd_names.items()))
        if segs == ["v3"]:
            self._send_obj(req, self._negotiate(req, protobuf=False), openapi_v3_root(res, crd_names))
            return
        if segs == ["v2"]:
            key: tuple[Any, ...] = ("v2", stamp)
        elif segs[:1] == ["v3"] and segs[1:] == ["api", "v1"]:
            key = ("v3", "", "v1", stamp)
        elif segs[:2] == ["v3", "apis"] and len(segs) == 4 and res.has_group_version(segs[2], segs[3]):
            key = ("v3", segs[2], segs[3], stamp)
        else:
            raise ApiError(404, "NotFound", _UNKNOWN_RESOURCE)
        body = self._openapi_docs.get(key)
        if body is None:
            doc = openapi_v2(res, crd_names) if key[0] == "v2" else openapi_v3_group_version(res, key[1], key[2],
                                                                                            crd_names)
            body = self._openapi_docs[key] = document_bytes(doc)
        self._send(req.h, 200, "application/json", body)

    @staticmethod
    def _aggregated(req: _Request) -> Negotiated | None:
        """The serializer for aggregated discovery when the Accept header asks for it first, else None."""
        for clause in parse_accept(req.accept):
            p = clause.params
            if "as" not in p:
                if any(clause.matches(media) for _, media in SERIALIZERS):
                    return None
                continue
            if p["as"] != "APIGroupDiscoveryList" or p.get("g") != "apidiscovery.k8s.io" \
                    or p.get("v") not in ("v2", "v2beta1"):
                continue
            for fmt, media in SERIALIZERS:
                if clause.matches(media):
                    v = p["v"]
                    return Negotiated(fmt, f"{media};g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList",
                                      "APIGroupDiscoveryList", v, req.pretty)
        return None

    def _verb(self, rt: ResourceType, verb: str, sub: str) -> None:
        allowed = ("get", "update", "patch") if sub == "status" else rt.verbs
        if verb not in allowed:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                           "resource")

    def _resource(self, req: _Request, rt: ResourceType, namespace: str, name: str, sub: str) -> None:
        m = req.method
        dry_run = req.dry_run(_OPTIONS_KIND.get(m, "CreateOptions"))
        if not name:
            if m == "GET":
                if req.flag("watch"):
                    self._verb(rt, "watch", sub)
                    self._watch(req, rt, namespace)
                else:
                    self._verb(rt, "list", sub)
                    self._list(req, rt, namespace)
            elif m == "POST":
                self._verb(rt, "create", sub)
                if rt.namespaced and not namespace:
                    raise ApiError(404, "NotFound", _UNKNOWN_RESOURCE)
                if rt.storage_key in REVIEWS:
                    create_review(self, req, rt, namespace)
                    return
                neg = self._negotiate(req)
                validation = check_field_validation(req.q("fieldValidation"), "CreateOptions")
                warnings: list[str] = []
                obj = self.store.create(rt, namespace, self._read_body(req, rt), manager=req.manager,
                                        dry_run=dry_run, validation=validation, warnings=warnings)
                self._send_obj(req, neg, obj, 201, warnings)
            elif m == "DELETE":
                self._verb(rt, "deletecollection", sub)
                neg = self._negotiate(req)
                labels, fields = parse_selectors(req.q("labelSelector"), req.q("fieldSelector"))
                options = self._delete_options(req)  # may set dryRun from the body
                items = self.store.delete_collection(rt, namespace, labels, fields, options,
                                                     req.dry_run("DeleteOptions"))
                self._send_obj(req, neg, self._list_obj(rt, items, str(self.store.rv), "", None))
            else:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource")
            return
        if m == "GET":
            self._verb(rt, "get", sub)
            neg = self._negotiate(req, table=not sub, meta=True)
            obj = self.store.get(rt, namespace, name)
            self._send_obj(req, neg, self._transform(req, neg, rt, [obj], obj["metadata"]["resourceVersion"],
                                                     single=True))
        elif m == "PUT":
            self._verb(rt, "update", sub)
            neg = self._negotiate(req)
            validation = check_field_validation(req.q("fieldValidation"), "UpdateOptions")
            warnings = []
            obj = self.store.update(rt, namespace, name, self._read_body(req, rt), subresource=sub,
                                    manager=req.manager, dry_run=dry_run, validation=validation, warnings=warnings)
            self._send_obj(req, neg, obj, warnings=warnings)
        elif m == "PATCH":
            self._verb(rt, "patch", sub)
            neg = self._negotiate(req, meta=True)
            patch_type = _PATCH_TYPES.get(req.content_type)
            accepted = [t for t, p in _PATCH_TYPES.items() if not (rt.custom and p == "strategic")]
            if patch_type is None or req.content_type not in accepted:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                               f"accepted media types include: {', '.join(accepted)}")
            force = req.flag("force")
            if force and patch_type != "apply":
                raise ApiError.bad_request("force is only allowed for apply patches")
            existed = patch_type == "apply" and self._exists(rt, namespace, name)
            validation = check_field_validation(req.q("fieldValidation"), "PatchOptions")
            warnings = []
            obj = self.store.patch(rt, namespace, name, patch_type, req.body, subresource=sub,
                                   manager=req.manager if patch_type != "apply" else req.q("fieldManager"),
                                   force=force, dry_run=dry_run, validation=validation, warnings=warnings)
            code = 201 if patch_type == "apply" and not existed else 200
            self._send_obj(req, neg, self._transform(req, neg, rt, [obj], "", single=True), code, warnings)
        elif m == "DELETE":
            self._verb(rt, "delete", sub)
            if sub:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource")
            neg = self._negotiate(req)
            options = self._delete_options(req)
            obj, removed = self.store.delete(rt, namespace, name, options, req.dry_run("DeleteOptions"))
            if removed and rt.storage_key not in _RETURNS_DELETED:
                details: dict[str, Any] = {"name": name, "kind": rt.plural, "uid": obj["metadata"].get("uid", "")}
                if rt.group:
                    details["group"] = rt.group
                self._send_obj(req, neg, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                          "status": "Success", "details": details})
            else:  # 202 when not deleted yet and orphanDependents=false, kube's compatibility rule
                self._send_obj(req, neg, obj, 202 if not removed and options.get("orphanDependents") is False else 200)
        else:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                           "resource")

    def _exists(self, rt: ResourceType, namespace: str, name: str) -> bool:
        try:
            self.store.get(rt, namespace, name)
        except ApiError:
            return False
        return True

    # ------------------------------------------------------------------ bodies

    def _read_body(self, req: _Request, rt: ResourceType) -> Obj:
        fmt = _BODY_TYPES.get(req.content_type)
        if fmt is None:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           "accepted media types include: application/json, application/yaml, "
                           "application/vnd.kubernetes.protobuf")
        data = req.body
        if fmt == "protobuf" and rt.custom:
            raise ApiError.bad_request(f"the object provided is unrecognized (must be of type {rt.kind}): "
                                       f"object *unstructured.Unstructured does not implement the protobuf "
                                       f"marshalling interface and cannot be decoded from a protobuf message")
        try:
            if fmt == "protobuf":
                obj = decode(data, PROTOBUF, into=rt.model).to_dict()
            else:
                from k8spb._codec._document import load_json, load_yaml_documents

                docs = [load_json(data)] if fmt == "json" else load_yaml_documents(data)
                if len(docs) != 1 or not isinstance(docs[0], dict):
                    raise ApiError.bad_request("the request body must hold one object")
                obj = docs[0]
        except DecodeError as exc:
            raise ApiError.bad_request(f"error decoding the request body: {exc}") from None
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version not in (None, "", rt.api_version):
            raise ApiError.bad_request(f"the API version in the data ({api_version}) does not match the expected "
                                       f"API version ({rt.api_version})")
        if kind not in (None, "", rt.kind):
            raise ApiError.bad_request(f"the object provided is unrecognized (must be of type {rt.kind}): "
                                       f"kind {kind!r}")
        return obj

    def _delete_options(self, req: _Request) -> dict[str, Any]:
        options: dict[str, Any] = {}
        data = req.body if req.method == "DELETE" else b""
        if data.strip():
            try:
                options = decode(data, PROTOBUF).to_dict() if data[:4] == b"k8s\x00" else json.loads(data)
            except (DecodeError, ValueError) as exc:
                raise ApiError.bad_request(f"error decoding DeleteOptions: {exc}") from None
            if not isinstance(options, dict):
                raise ApiError.bad_request("DeleteOptions must be an object")
        grace = req.int_param("gracePeriodSeconds")
        if grace is not None:
            options["gracePeriodSeconds"] = grace
        if req.q("propagationPolicy"):
            options["propagationPolicy"] = req.q("propagationPolicy")
        if req.q("orphanDependents"):
            options["orphanDependents"] = req.flag("orphanDependents")
        policy = options.get("propagationPolicy")
        if policy is not None and options.get("orphanDependents") is not None:
            raise ApiError(422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid '
                           f'value: "{policy}": orphanDependents and deletionPropagation cannot be both set')
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise ApiError(422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                           f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan", '
                           f'"nil"')
        if isinstance(options.get("dryRun"), list) and options["dryRun"]:
            req.query["dryRun"] = [str(v) for v in options["dryRun"]]
        return options

    # ------------------------------------------------------------------ lists and transforms

    @staticmethod
    def _list_meta(rv: str, token: str, remaining: int | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": rv}
        if token:
            meta["continue"] = token
        if remaining is not None:
            meta["remainingItemCount"] = remaining
        return meta

    def _list_obj(self, rt: ResourceType, items: list[Obj], rv: str, token: str, remaining: int | None) -> Obj:
        # typed lists carry no TypeMeta per item; custom resources are unstructured and keep theirs
        if not rt.custom:
            items = [{k: v for k, v in i.items() if k not in ("apiVersion", "kind")} for i in items]
        meta = self._list_meta(rv, token, remaining)
        return {"kind": rt.kind + "List", "apiVersion": rt.api_version, "metadata": meta, "items": items}

    def _list(self, req: _Request, rt: ResourceType, namespace: str) -> None:
        neg = self._negotiate(req, table=True, meta=True)
        if req.q("sendInitialEvents"):
            raise ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: '
                           "sendInitialEvents is forbidden for list")
        rvm = req.q("resourceVersionMatch")
        if rvm and not req.q("resourceVersion"):
            raise ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                           "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided")
        labels, fields = parse_selectors(req.q("labelSelector"), req.q("fieldSelector"))
        limit = req.int_param("limit") or 0
        items, rv, token, remaining = self.store.list_objects(rt, namespace, labels, fields, max(limit, 0),
                                                      req.q("continue"))
        if neg.transform is None and neg.format == "json" and not neg.pretty:  # from cached per-object bytes
            cache = self._json_cache
            body = cache.list(rt.kind + "List", rt.api_version, self._list_meta(rv, token, remaining),
                              [(cache.object if rt.custom else cache.item)(i) for i in items])
            self._send(req.h, 200, neg.media_type, body)
            return
        if neg.transform is None:
            self._send_obj(req, neg, self._list_obj(rt, items, rv, token, remaining))
            return
        out = self._transform(req, neg, rt, items, rv, single=False)
        if token:
            out["metadata"]["continue"] = token
        self._send_obj(req, neg, out)

    def _transform(self, req: _Request, neg: Negotiated, rt: ResourceType, items: list[Obj], rv: str,
                   *, single: bool, columns: bool = True) -> Obj:
        meta_api = f"meta.k8s.io/{neg.transform_version}"
        if neg.transform is None:
            return items[0] if single else self._list_obj(rt, items, rv, "", None)
        if neg.transform == "PartialObjectMetadata":
            if not single:
                raise ApiError(406, "NotAcceptable", "you requested PartialObjectMetadata, but the requested object "
                               "is a list")
            return {"kind": "PartialObjectMetadata", "apiVersion": meta_api, "metadata": items[0]["metadata"]}
        if neg.transform == "PartialObjectMetadataList":
            if single:
                raise ApiError(406, "NotAcceptable", "you requested PartialObjectMetadataList, but the requested "
                               "object is not a list")
            return {"kind": "PartialObjectMetadataList", "apiVersion": meta_api, "metadata": {"resourceVersion": rv},
                    "items": [{"kind": "PartialObjectMetadata", "apiVersion": meta_api, "metadata": i["metadata"]}
                              for i in items]}
        include = req.q("includeObject") or "Metadata"
        if include not in ("None", "Metadata", "Object"):
            raise ApiError.bad_request(f"unrecognized includeObject value: {include!r}")
        crd = self._crd_of(rt) if rt.custom else None
        rows = []
        for item, (cells, conditions) in zip(items, table_cells(rt, items, crd), strict=True):
            row: dict[str, Any] = {"cells": cells}
            if conditions:
                row["conditions"] = conditions
            if include == "Object":
                row["object"] = item
            elif include == "Metadata":
                row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": meta_api,
                                 "metadata": item["metadata"]}
            rows.append(row)
        table: Obj = {"kind": "Table", "apiVersion": meta_api, "metadata": {"resourceVersion": rv}}
        if columns:
            table["columnDefinitions"] = table_columns(rt, crd)
        table["rows"] = rows
        if single:
            table["metadata"] = {"resourceVersion": items[0]["metadata"].get("resourceVersion", "")}
        return table

    def _crd_of(self, rt: ResourceType) -> Obj | None:
        return self.store.data.get(CRD_KEY, {}).get(("", f"{rt.plural}.{rt.group}"))

    # ------------------------------------------------------------------ watch

    def _watch(self, req: _Request, rt: ResourceType, namespace: str) -> None:
        neg = self._negotiate(req, table=True, meta=True, watch=True)
        if neg.transform == "PartialObjectMetadataList":
            raise ApiError(406, "NotAcceptable", "you requested PartialObjectMetadataList, but the requested object "
                           "is not a list")
        labels, fields = parse_selectors(req.q("labelSelector"), req.q("fieldSelector"))
        from k8spb.testing._store import check_field_selector

        check_field_selector(rt, fields)
        send_initial = req.q("sendInitialEvents")
        rvm = req.q("resourceVersionMatch")
        bookmarks = req.flag("allowWatchBookmarks")
        rv_param = req.q("resourceVersion")
        if send_initial in ("true", "1") and rvm != "NotOlderThan":
            raise ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                           'Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan')
        if rvm and not send_initial:
            raise ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                           "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
                           "provided")
        initial = send_initial in ("true", "1") or (not send_initial and rv_param in ("", "0"))
        since: int | None = None
        if rv_param not in ("", "0"):
            try:
                since = int(rv_param)
            except ValueError:
                raise ApiError.bad_request(f"invalid resource version: {rv_param}") from None
        timeout = req.int_param("timeoutSeconds") or 1800  # kube picks 30-60 minutes for 0 or none
        deadline = time.monotonic() + timeout
        h = req.h
        h.send_response(200)
        h.send_header("Content-Type", neg.media_type + (";stream=watch" if neg.format == "protobuf" else ""))
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Cache-Control", "no-cache, private")
        h.end_headers()
        h.wfile.flush()
        stream = WatchStream(self, req, neg, rt, labels, fields, deadline=deadline, bookmarks=bookmarks)
        watcher: Watcher | None = None
        try:
            with self.store.lock:
                try:
                    watcher, replay, current = self.store.watch(rt, namespace, None if initial else since)
                except ApiError as exc:
                    stream.send("ERROR", exc.status(), raw=True)
                    stream.flush()
                    raise _EndStream from None  # kube-apiserver ends the stream after an ERROR event
                snapshot = self.store.snapshot(rt, namespace)[0] if initial else []
            stream.watcher = watcher
            if initial and since is not None and since > current:
                current = since
            for obj in snapshot:
                if matches(rt, obj, labels, fields):
                    stream.send("ADDED", obj)
            if initial and bookmarks:
                stream.bookmark(str(current), initial_end=True)
            for event in replay:
                stream.event(event)
            stream.flush()
            hub, httpd = self._hub, self._httpd
            if hub is not None and httpd is not None:
                httpd.detach(h.connection)
                if hub.adopt(stream):  # the hub writes the rest, and ends the stream
                    watcher = None
                    h.close_connection = True
                    return
                httpd.detach(h.connection, -1)
        except _EndStream:
            pass
        except CutHere:
            if not (stream.cut and stream.cut.end_stream):
                h.close_connection = True
                return
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True
            return
        finally:
            if watcher is not None:
                self.store.unwatch(watcher)
        try:
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except OSError:
            h.close_connection = True
