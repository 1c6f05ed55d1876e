"""k8spb: a protobuf-native Kubernetes client for Python.

Models live at paths mirroring the Go packages (``from k8spb.api.core.v1 import Pod``) and load per
group-version on first import.
"""

from __future__ import annotations

from k8spb._codec import JSON, PROTOBUF, YAML, decode, decode_all, encode, encode_all
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
    "Condition",
    "ConfigError",
    "DecodeError",
    "EncodeError",
    "Error",
    "HasConditions",
    "HasKind",
    "HasMetadata",
    "HasSpec",
    "HasStatus",
    "ListResource",
    "Model",
    "Resource",
    "SubResource",
    "decode",
    "decode_all",
    "encode",
    "encode_all",
]
