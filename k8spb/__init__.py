"""k8spb: a protobuf-native Kubernetes client for Python.

Models live at paths mirroring the Go packages (``from k8spb.api.core.v1 import Pod``) and load per
group-version on first import.
"""

from __future__ import annotations

from k8spb._auth import Auth, BasicAuth, ClientCert, ExecAuth, ExecPlugin, TokenAuth, TokenFileAuth
from k8spb._codec import JSON, PROTOBUF, YAML, decode, decode_all, encode, encode_all
from k8spb._config import Config
from k8spb._errors import ConfigError, DecodeError, EncodeError, Error
from k8spb._registry import KUBERNETES_VERSION
from k8spb._schema import Model
from k8spb._traits import (
    Condition,
    HasConditions,
    HasKind,
    HasMetadata,
    HasSpec,
    HasStatus,
    ListResource,
    Resource,
    SubResource,
)

__all__ = [
    "JSON",
    "KUBERNETES_VERSION",
    "PROTOBUF",
    "YAML",
    "Auth",
    "BasicAuth",
    "ClientCert",
    "Condition",
    "Config",
    "ConfigError",
    "DecodeError",
    "EncodeError",
    "Error",
    "ExecAuth",
    "ExecPlugin",
    "HasConditions",
    "HasKind",
    "HasMetadata",
    "HasSpec",
    "HasStatus",
    "ListResource",
    "Model",
    "Resource",
    "SubResource",
    "TokenAuth",
    "TokenFileAuth",
    "decode",
    "decode_all",
    "encode",
    "encode_all",
]
