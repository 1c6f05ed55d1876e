"""The served resource types (from the generated registry), errors as Status, and discovery documents."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from k8spb._registry import KUBERNETES_VERSION, resources
from k8spb._schema import Model

__all__ = ["API_LEVELS", "ApiError", "ResourceType", "Resources"]

# subresource -> (group, version, kind, verbs); None group/version/kind means the parent's
SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None, tuple[str, ...]]] = {
    "status": (None, None, None, ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "log": (None, None, None, ("get",)),
    "exec": ("", "v1", "PodExecOptions", ("create", "get")),
    "attach": ("", "v1", "PodAttachOptions", ("create", "get")),
    "portforward": ("", "v1", "PodPortForwardOptions", ("create", "get")),
    "proxy": (None, None, None, ("create", "delete", "get", "patch", "update")),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "binding": ("", "v1", "Binding", ("create",)),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",)),
    "ephemeralcontainers": (None, None, None, ("get", "patch", "update")),
    "resize": (None, None, None, ("get", "patch", "update")),
    "finalize": (None, None, None, ("update",)),
    "approval": (None, None, None, ("get", "patch", "update")),
}


_DETAILS_ORDER = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")
"""StatusDetails' fields in Go's order."""


class ApiError(Exception):
    """A request kube-apiserver would refuse, with the Status it would answer."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None,
                 retry_after: int | None = None, list_continue: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})
        self.retry_after = retry_after
        self.list_continue = list_continue
        if retry_after:
            self.details["retryAfterSeconds"] = retry_after

    def status(self) -> dict[str, Any]:
        """The ``v1 Status`` body, its fields in the order Go's encoder writes them (``code`` last)."""
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1",
                                "metadata": {"continue": self.list_continue} if self.list_continue else {},
                                "status": "Failure", "message": self.message, "reason": self.reason}
        if self.details:
            body["details"] = {k: self.details[k] for k in _DETAILS_ORDER if k in self.details}
        body["code"] = self.code
        return body

    @classmethod
    def not_found(cls, rt: ResourceType | None, name: str, plural: str | None = None) -> ApiError:
        kind = plural or (rt.plural if rt else "")
        group = rt.group if rt else ""
        qualified = f"{kind}.{group}" if group else kind
        details: dict[str, Any] = {"name": name, "kind": kind}
        if group:
            details["group"] = group
        return cls(404, "NotFound", f'{qualified} "{name}" not found', details)

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)

    @classmethod
    def invalid(cls, rt: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
        """422 Invalid as kube's NewInvalid words it: causes are (reason, field, message), the message
        starting with its type (``Invalid value: ...``, ``Required value: ...``)."""
        texts = list(dict.fromkeys(f"{f}: {m}" for _, f, m in causes))
        text = texts[0] if len(texts) == 1 else f"[{', '.join(texts)}]"
        details: dict[str, Any] = {"name": name, "group": rt.group, "kind": rt.kind,
                                   "causes": [{"reason": r, "message": m, "field": f} for r, f, m in causes]}
        if not rt.group:
            del details["group"]
        qualified = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
        return cls(422, "Invalid", f'{qualified} "{name}" is invalid: {text}', details)


@dataclass(frozen=True)
class ResourceType:
    """One served resource of one group-version."""

    group: str
    version: str
    plural: str
    kind: str
    module: str
    class_name: str
    namespaced: bool
    verbs: tuple[str, ...]
    subresources: tuple[str, ...]
    short_names: tuple[str, ...] = field(default=())
    custom: bool = False
    """Served for a CustomResourceDefinition: JSON/YAML only, stored as plain JSON."""
    singular: str = ""
    categories: tuple[str, ...] = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Versions of one group/resource share storage."""
        return (self.group, self.plural)

    @property
    def model(self) -> type[Model]:
        cls: type[Model] = getattr(importlib.import_module(self.module), self.class_name)
        return cls

    @property
    def list_model(self) -> type[Model] | None:
        cls = getattr(importlib.import_module(self.module), self.class_name + "List", None)
        return cls if isinstance(cls, type) and issubclass(cls, Model) else None

    @cached_property
    def has_spec(self) -> bool:
        return self.custom or "spec" in self.model._schema.by_key

    @property
    def unconditional_update(self) -> bool:
        """An update may leave out metadata.resourceVersion (its strategy's AllowUnconditionalUpdate): true
        for most built-in kinds, false for custom resources and VolumeAttachments."""
        return not self.custom and (self.group, self.plural) != ("storage.k8s.io", "volumeattachments")

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")
API_LEVELS = {"ga": 3, "beta": 2, "all": 1}
"""Which versions a server serves: a default cluster serves GA versions only (beta APIs added since 1.24 are off
by default, and every beta version in 1.36 is such), "beta" adds betas, "all" alphas too."""


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' version order: GA (higher first), then beta, then alpha."""
    m = _VERSION.match(version)
    if not m:
        return (0, 0, 0)
    level = {"": 3, "beta": 2, "alpha": 1}[m.group(2) or ""]
    return (level, int(m.group(1)), int(m.group(3) or 0))


class Resources:
    """Every served built-in resource, indexed for routing and discovery."""

    def __init__(self, api_versions: str = "ga") -> None:
        if api_versions not in API_LEVELS:
            raise ValueError(f"api_versions must be one of {sorted(API_LEVELS)}, got {api_versions!r}")
        lowest = API_LEVELS[api_versions]
        self.by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        self.group_versions: dict[str, list[str]] = {}
        for group, version, plural, kind, module, cls, namespaced, verbs, subs, short, categories in resources():
            if version_priority(version)[0] < lowest:
                continue
            rt = ResourceType(group, version, plural, kind, module, cls, namespaced, tuple(verbs), tuple(subs),
                              tuple(short), categories=tuple(categories))
            self.by_gvr[(group, version, plural)] = rt
            versions = self.group_versions.setdefault(group, [])
            if version not in versions:
                versions.append(version)
        for versions in self.group_versions.values():
            versions.sort(key=version_priority, reverse=True)

    def set_custom(self, group: str, plural: str, types: list[ResourceType]) -> None:
        """Serve ``types`` (one per served version of a CRD) in place of what ``group``/``plural`` had.

        The indexes are replaced, never mutated, so request threads may read them without a lock.
        """
        by_gvr = {k: v for k, v in self.by_gvr.items() if not (v.custom and (k[0], k[2]) == (group, plural))}
        for rt in types:
            if (rt.group, rt.version, rt.plural) in by_gvr and not by_gvr[(rt.group, rt.version, rt.plural)].custom:
                continue  # never shadow a built-in resource
            by_gvr[(rt.group, rt.version, rt.plural)] = rt
        group_versions: dict[str, list[str]] = {}
        for g, v, _ in by_gvr:
            versions = group_versions.setdefault(g, [])
            if v not in versions:
                versions.append(v)
        for g, versions in group_versions.items():
            old = self.group_versions.get(g)
            if old is not None and not any(rt.custom for (gg, _, _), rt in by_gvr.items() if gg == g):
                group_versions[g] = list(old)
            else:
                versions.sort(key=version_priority, reverse=True)
        self.by_gvr, self.group_versions = by_gvr, group_versions

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self.by_gvr.get((group, version, plural))

    def has_group_version(self, group: str, version: str) -> bool:
        return version in self.group_versions.get(group, ())

    def preferred(self, group: str, plural: str) -> ResourceType | None:
        """The resource in the group's preferred version that serves it."""
        for version in self.group_versions.get(group, ()):
            rt = self.by_gvr.get((group, version, plural))
            if rt is not None:
                return rt
        return None

    def version_info(self, git_version: str | None = None) -> dict[str, Any]:
        major, minor, *_ = KUBERNETES_VERSION.split(".")
        return {"major": major, "minor": minor, "gitVersion": git_version or f"v{KUBERNETES_VERSION}",
                "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc",
                "platform": "linux/amd64", "emulationMajor": major, "emulationMinor": minor}

    def api_versions(self, address: str) -> dict[str, Any]:
        return {"kind": "APIVersions", "apiVersion": "v1", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}

    def _group(self, group: str) -> dict[str, Any]:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in self.group_versions[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def api_group_list(self) -> dict[str, Any]:
        groups = [self._group(g) for g in self.group_versions if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_group(self, group: str) -> dict[str, Any]:
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group(group)}

    def resource_list(self, group: str, version: str) -> dict[str, Any]:
        gv = f"{group}/{version}" if group else version
        out: list[dict[str, Any]] = []
        for (g, v, _), rt in sorted(self.by_gvr.items()):
            if (g, v) != (group, version):
                continue
            entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular or rt.kind.lower(),
                                     "namespaced": rt.namespaced, "kind": rt.kind, "verbs": list(rt.verbs)}
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            out.append(entry)
            for sub in rt.subresources:
                sg, sv, sk, verbs = SUBRESOURCES.get(sub, (None, None, None, ("get",)))
                sub_entry: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "",
                                             "namespaced": rt.namespaced, "kind": sk or rt.kind, "verbs": list(verbs)}
                if sg is not None and (sg, sv) != (group, version):
                    sub_entry["group"] = sg
                    sub_entry["version"] = sv
                out.append(sub_entry)
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


def _scope(rt: ResourceType) -> str:
    return "Namespaced" if rt.namespaced else "Cluster"


def aggregated_discovery(resources: Resources, *, legacy: bool, version: str = "v2") -> dict[str, Any]:
    """``GET /api`` (legacy) or ``/apis`` as an apidiscovery.k8s.io APIGroupDiscoveryList."""
    groups: list[dict[str, Any]] = []
    by_gv: dict[tuple[str, str], list[ResourceType]] = {}
    for (g, v, _), rt in sorted(resources.by_gvr.items()):
        by_gv.setdefault((g, v), []).append(rt)
    for group, versions in resources.group_versions.items():
        if (group == "") != legacy:
            continue
        out_versions = []
        for v in versions:
            out_resources = []
            for rt in by_gv.get((group, v), []):
                entry: dict[str, Any] = {
                    "resource": rt.plural,
                    "responseKind": {"group": group, "version": v, "kind": rt.kind},
                    "scope": _scope(rt), "singularResource": rt.singular or rt.kind.lower(),
                    "verbs": list(rt.verbs)}
                if rt.short_names:
                    entry["shortNames"] = list(rt.short_names)
                if rt.categories:
                    entry["categories"] = list(rt.categories)
                subs = []
                for sub in rt.subresources:
                    sg, sv, sk, verbs = SUBRESOURCES.get(sub, (None, None, None, ("get",)))
                    subs.append({"subresource": sub,
                                 "responseKind": {"group": group if sg is None else sg,
                                                  "version": v if sv is None else sv, "kind": sk or rt.kind},
                                 "verbs": list(verbs)})
                if subs:
                    entry["subresources"] = subs
                out_resources.append(entry)
            out_versions.append({"version": v, "resources": out_resources, "freshness": "Current"})
        groups.append({"metadata": {"name": group} if group else {}, "versions": out_versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}", "metadata": {},
            "items": groups}
