"""Fault injection: which request a fault is for (kube's RequestInfo), and the queues of pending faults.

A fault may be scoped by verb, path, resource, namespace and name; an unscoped fault takes the very
next request, as before scoping existed.  Faults are taken in the order they were queued, each by the
first request it matches, so a test can fail a controller's list without failing its own polling.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Cut", "Faults", "RequestFilter", "RequestInfo", "request_info"]

VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"})
REASONS = {400: ("BadRequest", "the server rejected our request for an unknown reason (injected failure)"),
           401: ("Unauthorized", "Unauthorized"),
           403: ("Forbidden", "forbidden: injected failure"),
           404: ("NotFound", "the server could not find the requested resource"),
           409: ("Conflict", "the object has been modified; please apply your changes to the latest version "
                             "and try again"),
           410: ("Expired", "too old resource version"),
           422: ("Invalid", "the request is invalid (injected failure)"),
           429: ("TooManyRequests", "Too many requests, please try again later."),
           500: ("InternalError", "Internal error occurred: injected failure"),
           503: ("ServiceUnavailable", "The server is currently unable to handle the request"),
           504: ("Timeout", "The server was unable to return a response in the time allotted")}


@dataclass(frozen=True)
class RequestInfo:
    """What a request does, as kube-apiserver's RequestInfo resolves it from method, path and query."""

    verb: str
    path: str
    resource: str = ""
    """The plural, e.g. ``pods`` (empty for a non-resource path such as ``/version``)."""
    group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def request_info(method: str, path: str, watch: bool) -> RequestInfo:
    """Resolve a request like kube's RequestInfoFactory (``watch`` is the ``watch`` query flag)."""
    segs = [s for s in path.split("/") if s]
    if segs[:2] == ["api", "v1"]:
        group, rest = "", segs[2:]
    elif segs[:1] == ["apis"] and len(segs) >= 3:
        group, rest = segs[1], segs[3:]
    else:
        rest = []
    if not rest:  # discovery and other non-resource paths
        return RequestInfo(method.lower(), path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 2:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):  # a namespace's own subresources
            rest = rest[2:]
    resource, name, sub = rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, "")
    if method in ("GET", "HEAD"):
        verb = "watch" if watch else ("get" if name else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    return RequestInfo(verb or method.lower(), path, resource, group, sub, namespace, name)


@dataclass(frozen=True)
class RequestFilter:
    """Which requests a fault is for; None matches anything.

    ``resource`` is ``plural``, ``plural.group`` or either with ``/subresource`` (``pods/log``,
    ``deployments.apps/scale``); a plain ``pods`` is the resource itself, not its subresources, as in
    RBAC.  ``path`` is the URL path, exactly or as a glob (``/api/v1/namespaces/*/configmaps*``).
    ``namespace`` and ``name`` are those of the object (a namespace's own name is its namespace).
    """

    verbs: frozenset[str] | None = None
    path: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None

    @classmethod
    def of(cls, verb: str | Iterable[str] | None, path: str | None, resource: str | None, namespace: str | None,
           name: str | None) -> RequestFilter:
        verbs = None if verb is None else frozenset([verb] if isinstance(verb, str) else verb)
        if verbs is not None and not verbs <= VERBS:
            raise ValueError(f"unknown verb(s) {sorted(verbs - VERBS)}: use {sorted(VERBS)}")
        return cls(verbs, path, resource, namespace, name)

    def matches(self, info: RequestInfo) -> bool:
        if self.verbs is not None and info.verb not in self.verbs:
            return False
        if self.path is not None and info.path != self.path and not fnmatch.fnmatchcase(info.path, self.path):
            return False
        if self.namespace is not None and info.namespace != self.namespace:
            return False
        if self.name is not None and info.name != self.name:
            return False
        if self.resource is not None:
            resource, _, sub = self.resource.partition("/")
            plural, dot, group = resource.partition(".")
            if plural != info.resource or sub != info.subresource or (dot and group != info.group):
                return False
        return True


@dataclass(frozen=True)
class Cut:
    """Cut a response: after ``after_events`` watch events (or at once), half a frame, then stop."""

    after_events: int
    end_stream: bool


@dataclass(frozen=True)
class Failure:
    status: int
    retry_after: int | None


@dataclass
class _Pending:
    filter: RequestFilter
    fault: Failure | Cut
    left: int


@dataclass
class Faults:
    """The pending faults of one server; thread-safe."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    failures: list[_Pending] = field(default_factory=list)
    cuts: list[_Pending] = field(default_factory=list)
    latencies: dict[RequestFilter, float] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether any fault is pending (requests skip resolving their RequestInfo otherwise)."""
        return bool(self.failures or self.cuts or self.latencies)

    def add(self, queue: list[_Pending], flt: RequestFilter, fault: Failure | Cut, n: int) -> None:
        if n > 0:
            with self.lock:
                queue.append(_Pending(flt, fault, n))

    @staticmethod
    def _take(queue: list[_Pending], info: RequestInfo) -> Failure | Cut | None:
        for i, pending in enumerate(queue):
            if pending.filter.matches(info):
                pending.left -= 1
                if not pending.left:
                    del queue[i]
                return pending.fault
        return None

    def take(self, info: RequestInfo) -> tuple[Failure | None, Cut | None, float]:
        """The failure, cut and delay for a request (each consumed if found)."""
        with self.lock:
            failure = self._take(self.failures, info)
            cut = None if failure is not None else self._take(self.cuts, info)
            delay = max((s for f, s in self.latencies.items() if f.matches(info)), default=0.0)
        assert failure is None or isinstance(failure, Failure)
        assert cut is None or isinstance(cut, Cut)
        return failure, cut, delay

    def pending(self) -> int:
        """How many failures and cuts are still to be served."""
        with self.lock:
            return sum(p.left for p in (*self.failures, *self.cuts))

    def clear(self) -> None:
        with self.lock:
            self.failures.clear()
            self.cuts.clear()
            self.latencies.clear()
