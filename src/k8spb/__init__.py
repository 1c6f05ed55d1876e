"""k8spb: a protobuf-native Kubernetes client for Python.

Models live at paths mirroring the Go packages (``from k8spb.api.core.v1 import Pod``) and load per
group-version on first import.
"""

from __future__ import annotations

from k8spb._api import Api, AsyncApi
from k8spb._auth import Auth, BasicAuth, ClientCert, ExecAuth, ExecPlugin, TokenAuth, TokenFileAuth
from k8spb._client import AsyncClient, Client, Middleware
from k8spb._codec import JSON, PROTOBUF, YAML, decode, decode_all, encode, encode_all
from k8spb._codec._watch import WatchDecoder, WatchEvent
from k8spb._config import Config
from k8spb._discovery import Discovery, adiscover, discover
from k8spb._dynamic import ApiResource, DynamicList, DynamicObject
from k8spb._errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    ConfigError,
    Conflict,
    DecodeError,
    EncodeError,
    Error,
    Forbidden,
    Gone,
    Invalid,
    NotAcceptable,
    NotFound,
    RequestTimeout,
    ServerError,
    TooManyRequests,
    TransportError,
    Unauthorized,
    UnsupportedMediaType,
)
from k8spb._registry import KUBERNETES_VERSION
from k8spb._request import (
    Apply,
    DeleteParams,
    JsonPatch,
    ListParams,
    LogParams,
    Merge,
    Patch,
    PatchParams,
    PostParams,
    Request,
    ResourceRef,
    Strategic,
    WatchParams,
)
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
    "AlreadyExists",
    "Api",
    "ApiError",
    "ApiResource",
    "Apply",
    "AsyncApi",
    "AsyncClient",
    "Auth",
    "BadRequest",
    "BasicAuth",
    "Client",
    "ClientCert",
    "Condition",
    "Config",
    "ConfigError",
    "Conflict",
    "DecodeError",
    "DeleteParams",
    "Discovery",
    "DynamicList",
    "DynamicObject",
    "EncodeError",
    "Error",
    "ExecAuth",
    "ExecPlugin",
    "Forbidden",
    "Gone",
    "HasConditions",
    "HasKind",
    "HasMetadata",
    "HasSpec",
    "HasStatus",
    "Invalid",
    "JsonPatch",
    "ListParams",
    "ListResource",
    "LogParams",
    "Merge",
    "Middleware",
    "Model",
    "NotAcceptable",
    "NotFound",
    "Patch",
    "PatchParams",
    "PostParams",
    "Request",
    "RequestTimeout",
    "Resource",
    "ResourceRef",
    "ServerError",
    "Strategic",
    "SubResource",
    "TokenAuth",
    "TokenFileAuth",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "UnsupportedMediaType",
    "WatchDecoder",
    "WatchEvent",
    "WatchParams",
    "adiscover",
    "decode",
    "decode_all",
    "discover",
    "encode",
    "encode_all",
]
