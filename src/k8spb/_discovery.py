"""API discovery: which resources a server serves, to resolve a kind or plural at run time.

Aggregated discovery (apidiscovery.k8s.io/v2, one request) is used when the server has it; otherwise
the v1 documents (/api, /api/v1, /apis, /apis/{group}/{version}).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from k8spb._client import AsyncClient, Client
from k8spb._dynamic import ApiResource
from k8spb._errors import ApiError, NotAcceptable, NotFound
from k8spb._generated_kinds import KINDS
from k8spb._request import Request

__all__ = ["Discovery", "adiscover", "discover"]

_AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList, "
               "application/json")


def _get(path: str, accept: str = "application/json") -> Request:
    return Request("GET", path, headers=(("Accept", accept),))


def _builtin(group: str, version: str, kind: str) -> bool:
    return (f"{group}/{version}" if group else version, kind) in KINDS


def parse_aggregated(docs: Iterable[dict[str, Any]]) -> list[ApiResource]:
    """Resources of aggregated discovery documents (APIGroupDiscoveryList, v2)."""
    out = []
    for doc in docs:
        if doc.get("kind") != "APIGroupDiscoveryList":
            raise ValueError("not an aggregated discovery document")
        for group in doc.get("items") or []:
            name = (group.get("metadata") or {}).get("name", "")
            for ver in group.get("versions") or []:
                version = ver.get("version", "")
                for res in ver.get("resources") or []:
                    kind = (res.get("responseKind") or {}).get("kind", "")
                    out.append(ApiResource(name, version, kind, res.get("resource", ""),
                                           res.get("scope") == "Namespaced", _builtin(name, version, kind)))
    return out


def parse_resource_list(doc: dict[str, Any]) -> list[ApiResource]:
    """Resources of a v1 APIResourceList (subresources left out)."""
    gv = doc.get("groupVersion", "")
    group, _, version = gv.rpartition("/")
    return [ApiResource(r.get("group") or group, r.get("version") or version, r.get("kind", ""), r["name"],
                        bool(r.get("namespaced")), _builtin(group, version, r.get("kind", "")))
            for r in doc.get("resources") or [] if "/" not in r.get("name", "/")]


@dataclass(frozen=True)
class Discovery:
    """The resources a server serves."""

    resources: tuple[ApiResource, ...]

    def resolve(self, name: str, *, group: str | None = None, version: str | None = None) -> ApiResource:
        """The resource for a kind (``Deployment``), plural (``deployments``) or ``plural.group``."""
        if group is None and "." in name and not name[0].isupper():
            name, _, group = name.partition(".")
        lname = name.lower()
        hits = [r for r in self.resources
                if (r.kind.lower() == lname or r.plural == lname)
                and (group is None or r.group == group) and (version is None or r.version == version)]
        if not hits:
            raise LookupError(f"the server has no resource named {name!r}"
                              + (f" in group {group!r}" if group is not None else ""))
        return hits[0]


def discover(client: Client) -> Discovery:
    """Discover the resources of the server behind ``client``."""
    try:
        return Discovery(tuple(parse_aggregated(
            json.loads(client.request_text(_get(p, _AGGREGATED))) for p in ("/api", "/apis"))))
    except (ApiError, ValueError, KeyError):
        pass
    docs = [json.loads(client.request_text(_get("/api/v1")))]
    groups = json.loads(client.request_text(_get("/apis")))
    for g in groups.get("groups") or []:
        pref = (g.get("preferredVersion") or {}).get("groupVersion")
        for v in g.get("versions") or []:
            if v.get("groupVersion") == pref or pref is None:
                try:
                    docs.append(json.loads(client.request_text(_get(f"/apis/{v['groupVersion']}"))))
                except (NotFound, NotAcceptable):
                    continue
    return Discovery(tuple(r for d in docs for r in parse_resource_list(d)))


async def adiscover(client: AsyncClient) -> Discovery:
    """Discover the resources of the server behind ``client`` (asyncio)."""
    try:
        docs = [json.loads(await client.request_text(_get(p, _AGGREGATED))) for p in ("/api", "/apis")]
        return Discovery(tuple(parse_aggregated(docs)))
    except (ApiError, ValueError, KeyError):
        pass
    out = [json.loads(await client.request_text(_get("/api/v1")))]
    groups = json.loads(await client.request_text(_get("/apis")))
    for g in groups.get("groups") or []:
        pref = (g.get("preferredVersion") or {}).get("groupVersion")
        for v in g.get("versions") or []:
            if v.get("groupVersion") == pref or pref is None:
                try:
                    out.append(json.loads(await client.request_text(_get(f"/apis/{v['groupVersion']}"))))
                except (NotFound, NotAcceptable):
                    continue
    return Discovery(tuple(r for d in out for r in parse_resource_list(d)))
