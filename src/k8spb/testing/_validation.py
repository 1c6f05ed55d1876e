"""Object metadata validation with kube-apiserver's rules and messages: names, labels, annotations.

Names follow each resource's rule (an RFC 1123 subdomain for most, an RFC 1123 label for
namespaces, an RFC 1035 label for services, a path segment where kube allows more, as for RBAC's
``system:`` names); label keys are qualified names with an optional subdomain prefix, label values at
most 63 characters.  A failure is the 422 Invalid kube answers, with one cause per field error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from k8spb.testing._resources import ApiError, ResourceType

__all__ = ["dns1035_label", "dns1123_label", "dns1123_subdomain", "go_quote", "label_value", "path_segment",
           "qualified_name", "validate_metadata"]

_SUBDOMAIN_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1035_FMT = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_QNAME_FMT = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_SUBDOMAIN = re.compile(_SUBDOMAIN_FMT)
_LABEL = re.compile(_LABEL_FMT)
_DNS1035 = re.compile(_DNS1035_FMT)
_QNAME = re.compile(_QNAME_FMT)
_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT)
_MAX_ANNOTATIONS = 256 * 1024


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery's RegexError wording, quirks included (`` or `` after a trailing ``', ``)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    text = msg + " (e.g. "
    for i, example in enumerate(examples):
        if i:
            text += " or "
        text += f"'{example}', "
    return text + f"regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def _blen(value: str) -> int:
    """The length Go measures: UTF-8 bytes."""
    return len(value.encode("utf-8", "surrogatepass"))


def go_quote(value: str) -> str:
    """Quote like Go's ``%q``."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                        "\v": "\\v"}[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable() and ch != " ":
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def dns1123_subdomain(value: str) -> list[str]:
    errs = [_max_len(253)] if _blen(value) > 253 else []
    if not _SUBDOMAIN.fullmatch(value):
        errs.append(_regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                                 "'-' or '.', and must start and end with an alphanumeric character",
                                 _SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1123_label(value: str) -> list[str]:
    errs = [_max_len(63)] if _blen(value) > 63 else []
    if not _LABEL.fullmatch(value):
        errs.append(_regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
                                 "'-', and must start and end with an alphanumeric character", _LABEL_FMT,
                                 "my-name", "123-abc"))
    return errs


def dns1035_label(value: str) -> list[str]:
    errs = [_max_len(63)] if _blen(value) > 63 else []
    if not _DNS1035.fullmatch(value):
        errs.append(_regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                                 "with an alphabetic character, and end with an alphanumeric character",
                                 _DNS1035_FMT, "my-name", "abc-123"))
    return errs


def path_segment(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def qualified_name(value: str) -> list[str]:
    """apimachinery's IsQualifiedName: ``[prefix/]name``."""
    parts = value.split("/")
    errs: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += [f"prefix part {m}" for m in dns1123_subdomain(prefix)]
    else:
        return ["a qualified name " + _regex_error(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
            "character", _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif _blen(name) > 63:
        errs.append("name part " + _max_len(63))
    if not _QNAME.fullmatch(name):
        errs.append("name part " + _regex_error(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
            "character", _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value(value: str) -> list[str]:
    errs = [_max_len(63)] if _blen(value) > 63 else []
    if not _LABEL_VALUE.fullmatch(value):
        errs.append(_regex_error("a valid label must be an empty string or consist of alphanumeric characters, '-', "
                                 "'_' or '.', and must start and end with an alphanumeric character",
                                 _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


# resources whose names kube validates otherwise than as an RFC 1123 subdomain
_NAME_RULES: dict[tuple[str, str], Callable[[str], list[str]]] = {
    ("", "namespaces"): dns1123_label,
    ("", "services"): dns1035_label,
    **{("rbac.authorization.k8s.io", r): path_segment for r in ("roles", "clusterroles", "rolebindings",
                                                                 "clusterrolebindings")},
    ("certificates.k8s.io", "certificatesigningrequests"): path_segment,
    ("flowcontrol.apiserver.k8s.io", "flowschemas"): path_segment,
    ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"): path_segment,
    ("", "events"): path_segment,
    ("events.k8s.io", "events"): path_segment,
}


def validate_metadata(rt: ResourceType, obj: dict[str, Any], *, check_name: bool = True) -> None:
    """422 Invalid, as kube words it, when the name, labels or annotations break kube's rules."""
    meta = obj.get("metadata") or {}
    causes: list[tuple[str, str, str]] = []
    name = str(meta.get("name", ""))
    if check_name and name:
        rule = _NAME_RULES.get(rt.storage_key, dns1123_subdomain)
        for msg in rule(name):
            causes.append(("FieldValueInvalid", "metadata.name", f"Invalid value: {go_quote(name)}: {msg}"))
    for key, value in (meta.get("labels") or {}).items():
        for msg in qualified_name(key):
            causes.append(("FieldValueInvalid", "metadata.labels", f"Invalid value: {go_quote(key)}: {msg}"))
        for msg in label_value(str(value)):
            causes.append(("FieldValueInvalid", "metadata.labels", f"Invalid value: {go_quote(str(value))}: {msg}"))
    annotations = meta.get("annotations") or {}
    for key in annotations:
        for msg in qualified_name(key.lower()):
            causes.append(("FieldValueInvalid", "metadata.annotations", f"Invalid value: {go_quote(key)}: {msg}"))
    size = sum(len(k) + len(str(v)) for k, v in annotations.items())
    if size > _MAX_ANNOTATIONS:
        causes.append(("FieldValueTooLong", "metadata.annotations",
                       f"Too long: may not be more than {_MAX_ANNOTATIONS} bytes"))
    if causes:
        raise ApiError.invalid(rt, name, causes)
