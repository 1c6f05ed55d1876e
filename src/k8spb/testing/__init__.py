"""Helpers for testing against an in-memory Kubernetes API server.

:class:`ApiServer` serves every built-in resource over real HTTP on 127.0.0.1 with the wire
protocol of kube-apiserver (JSON, YAML and protobuf, watches, patches, server-side apply).
"""

from k8spb.testing._resources import ApiError
from k8spb.testing._server import ApiServer
from k8spb.testing._streams import ExecSession

__all__ = ["ApiError", "ApiServer", "ExecSession"]
