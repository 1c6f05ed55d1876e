"""The exception tree of k8spb.

::

    Error                      base of everything k8spb raises on purpose
     +-- DecodeError           bytes or dicts that are not a valid Kubernetes object (also ValueError)
     +-- EncodeError           a model that cannot be written in the asked format (also ValueError)
     +-- ConfigError           kubeconfig / in-cluster configuration problems
     +-- ApiError              the API server answered with an error Status (carries it)
     |    +-- BadRequest (400)  Unauthorized (401)  Forbidden (403)  NotFound (404)
     |    +-- NotAcceptable (406)  UnsupportedMediaType (415)
     |    +-- AlreadyExists (409)  Conflict (409)  Gone (410, also "Expired")  Invalid (422)
     |    +-- TooManyRequests (429)  ServerError (5xx)
     +-- TransportError        the request did not get an HTTP answer (connection, TLS, protocol)
          +-- RequestTimeout   ... because a timeout expired
     +-- CommandError          a command run in a container (cp's tar) exited with a non-zero code

Messages name what was wrong and where (kind, field path, file, key) and never carry secrets.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "CommandError",
    "ConfigError",
    "Conflict",
    "DecodeError",
    "EncodeError",
    "Error",
    "Forbidden",
    "Gone",
    "Invalid",
    "NotAcceptable",
    "NotFound",
    "RequestTimeout",
    "ServerError",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "UnsupportedMediaType",
    "api_error",
]


class Error(Exception):
    """Base class of every error k8spb raises on purpose."""


class DecodeError(Error, ValueError):
    """The input is not a valid Kubernetes object of a known kind."""

    def __init__(self, message: str, *, kind: str | None = None, path: str | None = None) -> None:
        self.kind = kind
        self.path = path
        where = " ".join(p for p in (kind, path) if p)
        super().__init__(f"{where}: {message}" if where else message)


class EncodeError(Error, ValueError):
    """The object cannot be represented in the requested format."""

    def __init__(self, message: str, *, kind: str | None = None, path: str | None = None) -> None:
        self.kind = kind
        self.path = path
        where = " ".join(p for p in (kind, path) if p)
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(Error):
    """The client configuration (kubeconfig, in-cluster files) is missing or invalid."""


class ApiError(Error):
    """The API server answered with an error; ``status`` is the decoded meta/v1 Status (or None)."""

    def __init__(self, code: int, reason: str, message: str, *, request: str = "", status: Any = None,
                 retry_after: float | None = None) -> None:
        self.code = code
        self.reason = reason
        self.message = message
        self.request = request
        self.status = status
        self.retry_after = retry_after
        where = f"{request}: " if request else ""
        super().__init__(f"{where}{code} {reason}: {message}" if reason else f"{where}{code}: {message}")

    @property
    def details(self) -> Any:
        """The Status' details (name, kind, causes, retryAfterSeconds), if any."""
        return getattr(self.status, "details", None)


class BadRequest(ApiError):
    """400: the request was malformed."""


class Unauthorized(ApiError):
    """401: authentication failed."""


class Forbidden(ApiError):
    """403: the request is not allowed."""


class NotFound(ApiError):
    """404: the object or resource does not exist."""


class NotAcceptable(ApiError):
    """406: the server cannot answer in any accepted media type."""


class AlreadyExists(ApiError):
    """409 AlreadyExists: an object with that name exists."""


class Conflict(ApiError):
    """409 Conflict: stale resourceVersion, field manager conflict, or a failed precondition."""


class Gone(ApiError):
    """410: the resourceVersion or continue token has expired; relist."""


class UnsupportedMediaType(ApiError):
    """415: the body's content type is not accepted."""


class Invalid(ApiError):
    """422: the object failed validation; ``details.causes`` names the fields."""


class TooManyRequests(ApiError):
    """429: throttled; ``retry_after`` says how long to wait."""


class ServerError(ApiError):
    """5xx: the server failed."""


class TransportError(Error):
    """The request got no HTTP answer (connection refused or reset, TLS failure, broken stream)."""


class RequestTimeout(TransportError):
    """A connect, read or write timeout expired."""


class CommandError(Error):
    """A command k8spb ran in a container failed: ``returncode`` and its ``stderr`` (text)."""

    def __init__(self, message: str, *, returncode: int, stderr: str = "") -> None:
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(message)


_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 406: NotAcceptable, 410: Gone,
    415: UnsupportedMediaType, 422: Invalid, 429: TooManyRequests,
}


def api_error(code: int, reason: str, message: str, **kwargs: Any) -> ApiError:
    """The ApiError subclass for an HTTP code and Status reason."""
    if code == 409:
        cls: type[ApiError] = AlreadyExists if reason == "AlreadyExists" else Conflict
    elif reason in ("Expired", "Gone"):
        cls = Gone
    else:
        cls = _BY_CODE.get(code, ServerError if code >= 500 else ApiError)
    return cls(code, reason, message, **kwargs)
