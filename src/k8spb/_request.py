"""Request building and response interpretation, with no IO (shared by the sync and async clients).

A :class:`Request` is a plain value (method, path, query, headers, body); :func:`interpret` turns a
response's (status, content type, body) into a model or raises the matching :class:`ApiError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from k8spb._codec import JSON, PROTOBUF, decode, encode
from k8spb._codec._content import media_type
from k8spb._errors import ApiError, DecodeError, EncodeError, api_error
from k8spb._schema import Model
from k8spb._traits import resource_path

__all__ = [
    "ACCEPT_JSON",
    "ACCEPT_PROTOBUF",
    "Apply",
    "DeleteParams",
    "JsonPatch",
    "ListParams",
    "LogParams",
    "Merge",
    "Patch",
    "PatchParams",
    "PostParams",
    "Request",
    "ResourceRef",
    "Strategic",
    "WatchParams",
    "error_from_response",
    "interpret",
]

ACCEPT_PROTOBUF = f"{PROTOBUF}, {JSON}"
ACCEPT_JSON = JSON
M = TypeVar("M", bound=Model)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, fully described."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    group_version: str = ""
    """The API group-version the request targets (the client remembers JSON fallbacks per group-version)."""
    idempotent: bool = True
    """Safe to resend after a 429/503 or a dropped connection."""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    def with_header(self, name: str, value: str) -> Request:
        lname = name.lower()
        kept = tuple((k, v) for k, v in self.headers if k.lower() != lname)
        return replace(self, headers=(*kept, (name, value)))

    def describe(self) -> str:
        """``METHOD /path`` for messages (the query is left out; it never holds secrets, but is noisy)."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """Where a kind lives on the server: enough to build its URLs and choose an encoding."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    protobuf: bool = True
    """The server can speak protobuf for it (built-in kinds); False for custom resources."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @classmethod
    def of(cls, model: type[Any]) -> ResourceRef:
        """The reference for a Resource class (generated, or a custom resource's)."""
        try:
            return cls(model.group, model.version, model.kind, model.plural, model.namespaced,
                       not getattr(model, "_json_only", False))
        except AttributeError:
            raise TypeError(f"{getattr(model, '__name__', model)!r} is not a served Kubernetes resource") from None

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        return resource_path(self.group, self.version, self.plural, self.namespaced, namespace, name, subresource)


# ---------------------------------------------------------------------------------------------------------
# Parameters


def _add(out: list[tuple[str, str]], key: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        out.append((key, "true" if value else "false"))
    else:
        out.append((key, str(value)))


@dataclass(frozen=True, slots=True)
class ListParams:
    """Options of a list request."""

    label_selector: str | None = None
    field_selector: str | None = None
    limit: int | None = None
    continue_token: str | None = None
    resource_version: str | None = None
    resource_version_match: Literal["Exact", "NotOlderThan"] | None = None
    timeout_seconds: int | None = None

    def query(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        _add(out, "labelSelector", self.label_selector)
        _add(out, "fieldSelector", self.field_selector)
        _add(out, "limit", self.limit)
        _add(out, "continue", self.continue_token)
        _add(out, "resourceVersion", self.resource_version)
        _add(out, "resourceVersionMatch", self.resource_version_match)
        _add(out, "timeoutSeconds", self.timeout_seconds)
        return out


@dataclass(frozen=True, slots=True)
class WatchParams:
    """Options of a watch request. Bookmarks are asked for by default."""

    label_selector: str | None = None
    field_selector: str | None = None
    resource_version: str | None = None
    timeout_seconds: int | None = 290
    allow_bookmarks: bool = True
    send_initial_events: bool = False

    def query(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = [("watch", "1")]
        _add(out, "labelSelector", self.label_selector)
        _add(out, "fieldSelector", self.field_selector)
        _add(out, "resourceVersion", self.resource_version)
        _add(out, "timeoutSeconds", self.timeout_seconds)
        if self.allow_bookmarks:
            out.append(("allowWatchBookmarks", "true"))
        if self.send_initial_events:
            out += [("sendInitialEvents", "true"), ("resourceVersionMatch", "NotOlderThan")]
        return out


@dataclass(frozen=True, slots=True)
class PostParams:
    """Options of create and replace."""

    dry_run: bool = False
    field_manager: str | None = None
    field_validation: Literal["Strict", "Warn", "Ignore"] | None = None

    def query(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.dry_run:
            out.append(("dryRun", "All"))
        _add(out, "fieldManager", self.field_manager)
        _add(out, "fieldValidation", self.field_validation)
        return out


@dataclass(frozen=True, slots=True)
class PatchParams:
    """Options of a patch; ``force`` only for server-side apply."""

    field_manager: str | None = None
    force: bool = False
    dry_run: bool = False
    field_validation: Literal["Strict", "Warn", "Ignore"] | None = None

    def query(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.dry_run:
            out.append(("dryRun", "All"))
        _add(out, "fieldManager", self.field_manager)
        if self.force:
            out.append(("force", "true"))
        _add(out, "fieldValidation", self.field_validation)
        return out


@dataclass(frozen=True, slots=True)
class DeleteParams:
    """Options of delete and delete_collection (sent as a DeleteOptions body)."""

    propagation_policy: Literal["Orphan", "Background", "Foreground"] | None = None
    grace_period_seconds: int | None = None
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False

    def body(self) -> bytes:
        doc: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if self.propagation_policy is not None:
            doc["propagationPolicy"] = self.propagation_policy
        if self.grace_period_seconds is not None:
            doc["gracePeriodSeconds"] = self.grace_period_seconds
        pre = {k: v for k, v in (("uid", self.precondition_uid),
                                 ("resourceVersion", self.precondition_resource_version)) if v is not None}
        if pre:
            doc["preconditions"] = pre
        if self.dry_run:
            doc["dryRun"] = ["All"]
        return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class LogParams:
    """Options of pods/log."""

    container: str | None = None
    follow: bool = False
    previous: bool = False
    since_seconds: int | None = None
    tail_lines: int | None = None
    timestamps: bool = False
    limit_bytes: int | None = None

    def query(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        _add(out, "container", self.container)
        if self.follow:
            out.append(("follow", "true"))
        if self.previous:
            out.append(("previous", "true"))
        _add(out, "sinceSeconds", self.since_seconds)
        _add(out, "tailLines", self.tail_lines)
        if self.timestamps:
            out.append(("timestamps", "true"))
        _add(out, "limitBytes", self.limit_bytes)
        return out


# ---------------------------------------------------------------------------------------------------------
# Patches


def _doc(value: Any) -> Any:
    return value.to_dict() if isinstance(value, Model) else value


@dataclass(frozen=True, slots=True)
class Merge:
    """A JSON merge patch (RFC 7386)."""

    patch: Any
    content_type: str = field(default="application/merge-patch+json", init=False)

    def body(self) -> bytes:
        return _dumps(_doc(self.patch))


@dataclass(frozen=True, slots=True)
class Strategic:
    """A Kubernetes strategic merge patch (built-in kinds only)."""

    patch: Any
    content_type: str = field(default="application/strategic-merge-patch+json", init=False)

    def body(self) -> bytes:
        return _dumps(_doc(self.patch))


@dataclass(frozen=True, slots=True)
class JsonPatch:
    """A JSON patch (RFC 6902): a list of operations."""

    operations: Sequence[Mapping[str, Any]]
    content_type: str = field(default="application/json-patch+json", init=False)

    def body(self) -> bytes:
        return _dumps([dict(op) for op in self.operations])


@dataclass(frozen=True, slots=True)
class Apply:
    """Server-side apply of a (partial) object: only the fields you set are claimed."""

    patch: Any
    content_type: str = field(default="application/apply-patch+yaml", init=False)

    def body(self) -> bytes:
        return _dumps(_doc(self.patch))  # JSON is YAML


Patch = Merge | Strategic | JsonPatch | Apply


def _dumps(value: Any) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"patch is not JSON-serializable: {exc}") from None


# ---------------------------------------------------------------------------------------------------------
# Building


def accept_for(ref: ResourceRef, prefer_protobuf: bool) -> str:
    return ACCEPT_PROTOBUF if (ref.protobuf and prefer_protobuf) else ACCEPT_JSON


def body_for(obj: Any, ref: ResourceRef, protobuf: bool) -> tuple[bytes, str]:
    """Encode a request body: protobuf for built-in kinds when negotiated, JSON otherwise."""
    if not isinstance(obj, (Model, Mapping)) and hasattr(obj, "to_dict"):  # DynamicObject
        return _dumps(obj.to_dict()), JSON
    if isinstance(obj, Model):
        if protobuf and ref.protobuf:
            return encode(obj, PROTOBUF), PROTOBUF
        return encode(obj, JSON), JSON
    return _dumps(dict(obj)), JSON


def build(method: str, path: str, ref: ResourceRef, *, accept: str, query: Sequence[tuple[str, str]] = (),
          body: bytes | None = None, content_type: str | None = None, idempotent: bool = True) -> Request:
    headers: list[tuple[str, str]] = [("Accept", accept)]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return Request(method, path, tuple(query), tuple(headers), body, ref.api_version, idempotent)


# ---------------------------------------------------------------------------------------------------------
# Interpreting


def interpret(request: Request, status: int, content_type: str | None, body: bytes,
              into: type[Any] | None = None) -> Any:
    """The decoded object of a successful response, or raise the ApiError of a failed one."""
    if not 200 <= status < 300:
        raise error_from_response(request, status, content_type, body)
    ct = content_type or JSON
    try:
        if into is not None and not (isinstance(into, type) and issubclass(into, Model)):
            if media_type(ct) != JSON:
                raise DecodeError(f"expected a JSON answer for {getattr(into, '__name__', into)}, got {ct}")
            obj = into.from_json(body, origin=request.describe())  # a delete's object or Status (OrStatus)
        elif into is not None:
            return decode(body, ct, into=into, origin=request.describe())  # fields read later name the request
        else:
            obj = decode(body, ct, origin=request.describe())
    except DecodeError as exc:
        _raise_failure_status(request, status, ct, body)
        raise DecodeError(f"{request.describe()}: undecodable {status} response: {exc}") from None
    if getattr(type(obj), "kind", None) == "Status":
        _raise_failure(request, status, obj)
    return obj


def _raise_failure_status(request: Request, status: int, content_type: str, body: bytes) -> None:
    """Raise the ApiError of a successful answer whose body is a Status that failed (else return)."""
    try:
        obj = decode(body, content_type)
    except DecodeError:
        return
    if getattr(type(obj), "kind", None) == "Status":
        _raise_failure(request, status, obj)


def _raise_failure(request: Request, status: int, st: Any) -> None:
    """A 2xx carrying a Status whose ``status`` is not Success is an error, as client-go reads it."""
    outcome = getattr(st, "status", None)
    if outcome and outcome != "Success":
        code = getattr(st, "code", None) or 500
        raise api_error(code, getattr(st, "reason", None) or "", getattr(st, "message", None) or "",
                        request=f"{request.describe()} (a {status} answer carrying a {outcome} Status)", status=st)


def error_from_response(request: Request, status: int, content_type: str | None, body: bytes,
                        retry_after: float | None = None) -> ApiError:
    """The ApiError for a non-2xx response; the body is decoded by its own Content-Type when it is a Status."""
    reason, message, st = "", "", None
    if body and content_type and media_type(content_type) in (PROTOBUF, JSON, "application/yaml"):
        try:
            st = decode(body, content_type)
        except DecodeError:
            st = None
    if st is not None and getattr(type(st), "kind", None) == "Status":
        reason = getattr(st, "reason", None) or ""
        message = getattr(st, "message", None) or ""
        code = getattr(st, "code", None) or status
        details = getattr(st, "details", None)
        if retry_after is None and details is not None and getattr(details, "retry_after_seconds", None):
            retry_after = float(details.retry_after_seconds)
    else:
        code = status
        text = body[:300].decode("utf-8", "replace").strip()
        message = text or f"HTTP {status} with no body"
    return api_error(code, reason, message, request=request.describe(), status=st, retry_after=retry_after)
