"""The exception tree of k8spb.

::

    Error                      base of everything k8spb raises on purpose
     +-- DecodeError           bytes or dicts that are not a valid Kubernetes object (also ValueError)
     +-- EncodeError           a model that cannot be written in the asked format (also ValueError)
     +-- ConfigError           kubeconfig / in-cluster configuration problems

Messages name what was wrong and where (kind, field path, file, key) and never carry secrets.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DecodeError", "EncodeError", "Error"]


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
