"""Media types k8spb reads and writes, and how a payload's format is recognised."""

from __future__ import annotations

from typing import Literal

from k8spb._errors import DecodeError, EncodeError

__all__ = ["JSON", "MAGIC", "PROTOBUF", "YAML", "Format", "format_for", "media_type", "sniff"]

PROTOBUF = "application/vnd.kubernetes.protobuf"
JSON = "application/json"
YAML = "application/yaml"
MAGIC = b"k8s\x00"

Format = Literal["protobuf", "json", "yaml"]

_BY_TYPE: dict[str, Format] = {
    PROTOBUF: "protobuf",
    JSON: "json",
    YAML: "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
}


def media_type(content_type: str) -> str:
    """The bare, lower-case media type of a Content-Type value (parameters dropped)."""
    return content_type.split(";", 1)[0].strip().lower()


def format_for(content_type: str, *, encoding: bool = False) -> Format:
    """The format named by a content type; DecodeError/EncodeError when k8spb cannot handle it."""
    fmt = _BY_TYPE.get(media_type(content_type)) if isinstance(content_type, str) else None
    if fmt is None:
        supported = ", ".join((PROTOBUF, JSON, YAML))
        message = f"unsupported content type {content_type!r} (supported: {supported})"
        raise EncodeError(message) if encoding else DecodeError(message)
    return fmt


def sniff(data: bytes) -> Format:
    """Guess the format of a payload: the k8s magic means protobuf, a leading ``{`` JSON, else YAML."""
    if data[:4] == MAGIC:
        return "protobuf"
    for byte in data[:256]:
        if byte in b" \t\r\n":
            continue
        return "json" if byte in b"{[" else "yaml"
    return "yaml"
