"""Accept header negotiation as kube-apiserver does it (wire doc §1.2)."""

from __future__ import annotations

from dataclasses import dataclass

from k8spb._codec import JSON, PROTOBUF, YAML

__all__ = ["Clause", "Negotiated", "NotAcceptable", "negotiate", "negotiate_error", "parse_accept"]

# The server's serializers, in its fixed order.
SERIALIZERS: tuple[tuple[str, str], ...] = (("json", JSON), ("yaml", YAML), ("protobuf", PROTOBUF))
STREAMING = frozenset({"json", "protobuf"})
TRANSFORMS = frozenset({"Table", "PartialObjectMetadata", "PartialObjectMetadataList"})


@dataclass(frozen=True)
class Clause:
    """One ``type/subtype;k=v`` element of an Accept header."""

    type: str
    subtype: str
    params: dict[str, str]
    q: float
    order: int

    def matches(self, media: str) -> bool:
        t, s = media.split("/", 1)
        return (self.type == "*" or self.type == t) and (self.subtype == "*" or self.subtype == s)


@dataclass(frozen=True)
class Negotiated:
    """The chosen serializer, the transform (``as``) and its meta.k8s.io version, and pretty-printing."""

    format: str
    media_type: str
    transform: str | None = None
    transform_version: str = "v1"
    pretty: bool = False


class NotAcceptable(Exception):
    """No Accept clause can be served (406)."""


def parse_accept(header: str | None) -> list[Clause]:
    """The clauses of an Accept header, sorted by q (highest first), then concrete before wildcard."""
    clauses: list[Clause] = []
    for i, raw in enumerate((header or "").split(",")):
        parts = [p.strip() for p in raw.split(";")]
        if not parts[0]:
            continue
        if "/" not in parts[0]:
            continue
        t, s = parts[0].split("/", 1)
        params: dict[str, str] = {}
        q = 1.0
        for p in parts[1:]:
            if "=" not in p:
                continue
            k, v = (x.strip() for x in p.split("=", 1))
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
            else:
                params[k] = v
        if q <= 0:
            continue
        clauses.append(Clause(t, s, params, q, i))
    clauses.sort(key=lambda c: (-c.q, c.type == "*", c.subtype == "*", c.order))
    return clauses


def _transform(params: dict[str, str], fmt: str, *, allow_table: bool, allow_meta: bool) -> tuple[bool, str | None]:
    """Whether a clause's ``as``/``g``/``v`` params are acceptable, and the transform they ask for."""
    target = params.get("as")
    if target is None:
        return True, None
    if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
        return False, None
    if target == "Table":
        return allow_table and fmt in ("json", "yaml"), target
    if target in ("PartialObjectMetadata", "PartialObjectMetadataList"):
        return allow_meta, target
    return False, None


def negotiate(
    header: str | None,
    *,
    protobuf: bool = True,
    allow_table: bool = False,
    allow_meta: bool = False,
    watch: bool = False,
    pretty: bool = False,
) -> Negotiated:
    """Pick the response serializer for an endpoint; :class:`NotAcceptable` when nothing fits."""
    clauses = parse_accept(header)
    if not clauses:
        return Negotiated("json", JSON, pretty=pretty)
    for clause in clauses:
        for fmt, media in SERIALIZERS:
            if fmt == "protobuf" and not protobuf and "as" not in clause.params:
                continue
            if not clause.matches(media):
                continue
            ok, target = _transform(clause.params, fmt, allow_table=allow_table, allow_meta=allow_meta)
            if not ok:
                continue
            if watch and fmt not in STREAMING:
                raise NotAcceptable(_accepted(watch=True, protobuf=protobuf))
            pretty_param = clause.params.get("pretty") == "1"
            return Negotiated(fmt, media, target, clause.params.get("v", "v1"), pretty or pretty_param)
    raise NotAcceptable(_accepted(watch=watch, protobuf=True))


def _accepted(*, watch: bool, protobuf: bool) -> str:
    if watch:
        types = [JSON + ";stream=watch"] + ([PROTOBUF + ";stream=watch"] if protobuf else [])
    else:
        types = [JSON, YAML, PROTOBUF]
    return "only the following media types are accepted: " + ", ".join(types)


def negotiate_error(header: str | None, pretty: bool = False) -> Negotiated:
    """The serializer for a Status error: clauses with ``as`` are skipped; JSON when nothing else fits."""
    for clause in parse_accept(header):
        if "as" in clause.params:
            continue
        for fmt, media in SERIALIZERS:
            if clause.matches(media):
                return Negotiated(fmt, media, pretty=pretty)
    return Negotiated("json", JSON, pretty=True if header and parse_accept(header) else pretty)
