"""API discovery: which resources a server serves, to resolve a kind or plural at run time.

Aggregated discovery (apidiscovery.k8s.io/v2, one request) is used when the server has it; otherwise
the v1 documents (/api, /api/v1, /apis, /apis/{group}/{version}).
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterable
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


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value or () if isinstance(v, str))


def parse_aggregated(docs: Iterable[dict[str, Any]]) -> list[ApiResource]:
    """Resources of aggregated discovery documents (APIGroupDiscoveryList, v2), preferred versions first."""
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
                                           res.get("scope") == "Namespaced", _builtin(name, version, kind),
                                           res.get("singularResource") or "", _strings(res.get("shortNames")),
                                           _strings(res.get("categories")), _strings(res.get("verbs"))))
    return out


def parse_resource_list(doc: dict[str, Any]) -> list[ApiResource]:
    """Resources of a v1 APIResourceList (subresources left out)."""
    gv = doc.get("groupVersion", "")
    group, _, version = gv.rpartition("/")
    out = []
    for r in doc.get("resources") or []:
        if "/" in r.get("name", "/"):
            continue
        g, v, kind = r.get("group") or group, r.get("version") or version, r.get("kind", "")
        out.append(ApiResource(g, v, kind, r["name"], bool(r.get("namespaced")), _builtin(g, v, kind),
                               r.get("singularName") or "", _strings(r.get("shortNames")),
                               _strings(r.get("categories")), _strings(r.get("verbs"))))
    return out


_VERSION = re.compile(r"v\d+((alpha|beta)\d+)?$")


@dataclass(frozen=True)
class Discovery:
    """The resources a server serves (preferred versions first, as discovery lists them)."""

    resources: tuple[ApiResource, ...]

    def resolve(self, name: str, *, group: str | None = None, version: str | None = None) -> ApiResource:
        """The resource for a name as kubectl takes it.

        A plural (``deployments``), singular (``deployment``), short name (``deploy``) or kind
        (``Deployment``), case-insensitive; optionally qualified as ``plural.group`` or
        ``plural.version.group`` (``deployments.v1.apps``). When several groups serve the name, the first
        in discovery order wins (the core group first), as kubectl picks.
        """
        if group is None and "." in name:
            name, _, rest = name.partition(".")
            head, _, tail = rest.partition(".")
            if version is None and tail and _VERSION.match(head) and any(r.group == tail for r in self.resources):
                version, group = head, tail
            else:
                group = rest
        lname = name.lower()
        candidates = [r for r in self.resources
                      if (group is None or r.group == group) and (version is None or r.version == version)]
        for match in (lambda r: r.plural == lname, lambda r: r.singular == lname,
                      lambda r: lname in r.short_names, lambda r: r.kind.lower() == lname):
            hits = [r for r in candidates if match(r)]
            if hits:
                return hits[0]
        raise LookupError(f"the server doesn't have a resource type {name!r}"
                          + (f" in group {group!r}" if group is not None else ""))

    def category(self, name: str) -> list[ApiResource]:
        """Every resource in a category (``all``), one version each (the preferred), in discovery order."""
        seen: set[tuple[str, str]] = set()
        out = []
        for r in self.resources:
            if name in r.categories and (r.group, r.plural) not in seen:
                seen.add((r.group, r.plural))
                out.append(r)
        return out


def _steps() -> Generator[Request, str | None, Discovery]:
    """Discovery as requests to send; each answer's text is sent back (None: 404 or 406, skip it)."""
    try:
        docs = []
        for path in ("/api", "/apis"):
            text = yield _get(path, _AGGREGATED)
            docs.append(json.loads(text or ""))
        return Discovery(tuple(parse_aggregated(docs)))
    except (ValueError, KeyError, TypeError, AttributeError):  # not aggregated: the v1 documents
        pass
    lists = [json.loads((yield _get("/api/v1")) or "{}")]
    groups = json.loads((yield _get("/apis")) or "{}")
    for g in groups.get("groups") or []:
        pref = (g.get("preferredVersion") or {}).get("groupVersion")
        for v in g.get("versions") or []:
            if v.get("groupVersion") == pref or pref is None:
                text = yield _get(f"/apis/{v['groupVersion']}")
                if text is not None:
                    lists.append(json.loads(text))
    return Discovery(tuple(r for d in lists for r in parse_resource_list(d)))


def _skipped(request: Request, exc: ApiError) -> str | None:
    """None (go on without this document) for what discovery may miss, else raise."""
    if not isinstance(exc, (NotFound, NotAcceptable)) and request.header("Accept") != _AGGREGATED:
        raise exc
    return None


def discover(client: Client) -> Discovery:
    """Discover the resources of the server behind ``client``."""
    steps = _steps()
    request = next(steps)
    while True:
        try:
            text: str | None = client.request_text(request)
        except ApiError as exc:
            text = _skipped(request, exc)
        try:
            request = steps.send(text)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def adiscover(client: AsyncClient) -> Discovery:
    """Discover the resources of the server behind ``client`` (asyncio)."""
    steps = _steps()
    request = next(steps)
    while True:
        try:
            text: str | None = await client.request_text(request)
        except ApiError as exc:
            text = _skipped(request, exc)
        try:
            request = steps.send(text)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
