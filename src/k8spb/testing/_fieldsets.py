"""Managed fields and server-side apply on plain dicts, after sigs.k8s.io/structured-merge-diff.

A :class:`FieldSet` is a set of field paths; a path is a tuple of path elements written as in
the ``fieldsV1`` encoding: ``f:<field>`` (object field or map key), ``k:<json>`` (an item of a
list of type ``map``, its key fields JSON-encoded with sorted keys and compact separators),
``v:<json>`` (an item of a list of type ``set``) and ``i:<index>``.  In ``fieldsV1`` a path that
is both a member and a parent of members carries a ``".": {}`` entry.

:func:`to_field_set` computes what an applied configuration owns, like SMD's ``ToFieldSet``:
every scalar, every atomic list or map, every list item (the item itself, hence ``"."``), every
map entry that is not a declared object field, and every field whose value is ``null`` or
``{}``.  List semantics come from :func:`k8spb.testing._patch.list_semantics` (list type, or
patch strategy ``merge`` with or without a merge key); missing list-map keys take the key
field's schema ``default``.

:func:`apply` implements server-side apply: merge (applied values win, maps merge, keyed lists
merge by key in SMD's order, sets union, atomic values replace), removal of fields the manager
applied before and no longer applies unless someone else owns them (SMD's prune, add back
owned and dangling items), conflicts with other managers owning fields whose value changes
(:class:`ApplyConflict`, 409) unless ``force`` moves the ownership, the ``before-first-apply``
manager for objects without managed fields, and the ``Apply`` entry in ``managedFields``.
:func:`update_managed_fields` records a non-apply write: the writer owns what it added or
changed, and every manager loses what was changed or removed.  Both ignore the identity fields
kube-apiserver strips (``apiVersion``, ``kind``, ``metadata.name`` ...).

Not covered: API version conversion between managers (all versions are compared as one),
the ``kubectl.kubernetes.io/last-applied-configuration`` interplay, the cap of ten ``Update``
managers (``ancient-changes``), unions and ``i:`` paths of keyless associative lists.  Dicts carry
no Go type information, so after an ``Update`` a newly added object-typed field never gets a
``"."`` entry while newly added maps and lists do (kube decides by Go nil-ness), and fields that
end up ``null`` or emptied by removal are dropped from the object (as kube's typed decoding
does for most fields; an applied ``null`` over a non-empty map or list keeps it, as in SMD).
Apply records a ``time`` for a manager's first entry even when the object did not change.
Conflicts are listed by manager, then in SMD's path order.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from k8spb.testing._patch import PatchSchema, json_equal, list_semantics
from k8spb.testing._validation import go_quote as _go_quote

__all__ = [
    "ApplyConflict",
    "Conflict",
    "FieldSet",
    "ManagedFieldsError",
    "apply",
    "compare_fields",
    "format_path",
    "merge",
    "to_field_set",
    "update_managed_fields",
]

Path = tuple[str, ...]


class ManagedFieldsError(ValueError):
    """Managed fields or an object that cannot be turned into field sets (kube-apiserver: 500)."""

    status_code = 500


# --------------------------------------------------------------------------- path elements


def _canonical_json(value: Any) -> str:
    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
            return int(v)
        if isinstance(v, Mapping):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    text = json.dumps(norm(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _canonical_pe(pe: str) -> str:
    if pe.startswith("f:"):
        return pe
    if pe.startswith(("k:", "v:")):
        try:
            decoded = json.loads(pe[2:])
        except ValueError:
            raise ManagedFieldsError(f"invalid path element {pe!r}") from None
        if pe.startswith("k:") and not isinstance(decoded, dict):
            raise ManagedFieldsError(f"invalid path element {pe!r}")
        return pe[:2] + _canonical_json(decoded)
    if pe.startswith("i:") and pe[2:].lstrip("-").isdigit():
        return "i:" + str(int(pe[2:]))
    raise ManagedFieldsError(f"invalid path element {pe!r}")


def _pe_order(pe: str) -> tuple[int, Any]:
    rank = {"f": 0, "k": 1, "v": 2, "i": 3}.get(pe[:1], 4)
    if rank == 3:
        return rank, int(pe[2:])
    return rank, pe[2:]


def _to_string(value: Any) -> str:
    """SMD's ``value.ToString``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, list):
        return "[" + ",".join(_to_string(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "".join(f"{k}={_to_string(value[k])}" for k in sorted(value))
    return str(value)


def format_path(path: Iterable[str]) -> str:
    """Write a path the way kube-apiserver names fields in conflicts: ``.spec.containers[name="a"].image``."""
    out: list[str] = []
    for pe in path:
        if pe.startswith("f:"):
            out.append("." + pe[2:])
        elif pe.startswith("k:"):
            keys = json.loads(pe[2:])
            out.append("[" + ",".join(f"{k}={_to_string(keys[k])}" for k in sorted(keys)) + "]")
        elif pe.startswith("v:"):
            out.append("[=" + _to_string(json.loads(pe[2:])) + "]")
        else:
            out.append("[" + pe[2:] + "]")
    return "".join(out)


# --------------------------------------------------------------------------- field sets


class _Node:
    __slots__ = ("children", "member")

    def __init__(self) -> None:
        self.member = False
        self.children: dict[str, _Node] = {}


def _build_trie(paths: Iterable[Path]) -> _Node:
    root = _Node()
    for path in paths:
        node = root
        for pe in path:
            node = node.children.setdefault(pe, _Node())
        node.member = True
    return root


class FieldSet:
    """An immutable set of field paths with set algebra and the ``fieldsV1`` encoding."""

    __slots__ = ("_paths",)

    def __init__(self, paths: Iterable[Iterable[str]] = ()) -> None:
        self._paths: frozenset[Path] = frozenset(tuple(p) for p in paths)

    @classmethod
    def from_fields_v1(cls, fields: Mapping[str, Any] | None) -> FieldSet:
        """Decode a ``fieldsV1`` object."""
        paths: list[Path] = []

        def walk(node: Mapping[str, Any], prefix: Path) -> None:
            if not isinstance(node, Mapping):
                raise ManagedFieldsError(f"fieldsV1 nodes must be objects, got {type(node).__name__}")
            for raw, child in node.items():
                if raw == ".":
                    if prefix:
                        paths.append(prefix)
                    continue
                path = (*prefix, _canonical_pe(raw))
                if not isinstance(child, Mapping):
                    raise ManagedFieldsError(f"fieldsV1 nodes must be objects, got {type(child).__name__}")
                if child:
                    walk(child, path)
                else:
                    paths.append(path)

        walk(fields or {}, ())
        return cls(paths)

    def to_fields_v1(self) -> dict[str, Any]:
        """Encode as a ``fieldsV1`` object (keys in SMD's order)."""

        def encode(node: _Node) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for pe in sorted(node.children, key=_pe_order):
                child = node.children[pe]
                if child.children:
                    inner: dict[str, Any] = {".": {}} if child.member else {}
                    inner.update(encode(child))
                    out[pe] = inner
                else:
                    out[pe] = {}
            return out

        return encode(_build_trie(self._paths))

    @property
    def paths(self) -> frozenset[Path]:
        """The member paths."""
        return self._paths

    def union(self, *others: FieldSet) -> FieldSet:
        """Paths in this set or any of ``others``."""
        return FieldSet(self._paths.union(*(o._paths for o in others)))

    def difference(self, *others: FieldSet) -> FieldSet:
        """Paths in this set and in none of ``others``."""
        return FieldSet(self._paths.difference(*(o._paths for o in others)))

    def intersection(self, *others: FieldSet) -> FieldSet:
        """Paths in this set and in all of ``others``."""
        return FieldSet(self._paths.intersection(*(o._paths for o in others)))

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Paths neither in ``other`` nor below a member of ``other``."""
        return FieldSet(p for p in self._paths if not any(p[:i] in other._paths for i in range(1, len(p) + 1)))

    def with_prefix(self, *prefix: str) -> FieldSet:
        """The paths under ``prefix``, with the prefix removed."""
        n = len(prefix)
        return FieldSet(p[n:] for p in self._paths if len(p) > n and p[:n] == prefix)

    def __or__(self, other: FieldSet) -> FieldSet:
        return self.union(other)

    def __sub__(self, other: FieldSet) -> FieldSet:
        return self.difference(other)

    def __and__(self, other: FieldSet) -> FieldSet:
        return self.intersection(other)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, tuple) and path in self._paths

    def __iter__(self) -> Iterator[Path]:
        """Paths in SMD's iteration order: at each level members first, then children."""

        def walk(node: _Node, prefix: Path) -> Iterator[Path]:
            ordered = sorted(node.children, key=_pe_order)
            for pe in ordered:
                if node.children[pe].member:
                    yield (*prefix, pe)
            for pe in ordered:
                yield from walk(node.children[pe], (*prefix, pe))

        return walk(_build_trie(self._paths), ())

    def __len__(self) -> int:
        return len(self._paths)

    def __bool__(self) -> bool:
        return bool(self._paths)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and self._paths == other._paths

    def __hash__(self) -> int:
        return hash(self._paths)

    def __repr__(self) -> str:
        return "FieldSet([" + ", ".join(format_path(p) for p in self) + "])"


# --------------------------------------------------------------------------- schema-driven walks

_MISSING: Any = object()


def _sub(schema: PatchSchema | None, key: str) -> PatchSchema | None:
    if schema is None:
        return None
    child = schema.child(key)
    return child if child is not None else schema.items()


def _named(schema: PatchSchema | None, key: str) -> bool:
    """Whether ``key`` is an object field (not a map entry); unknown schemas count as objects."""
    return schema is None or schema.child(key) is not None or schema.items() is None


def _atomic_map(schema: PatchSchema | None) -> bool:
    return schema is not None and schema.map_type == "atomic"


def _items(schema: PatchSchema | None) -> PatchSchema | None:
    return schema.items() if schema is not None else None


def _list_pe(item: Any, list_type: str, keys: tuple[str, ...], items: PatchSchema | None, index: int) -> str:
    if list_type == "map":
        if not isinstance(item, Mapping):
            raise ManagedFieldsError(f"element {index}: associative list with keys may not have non-map elements")
        key_values: dict[str, Any] = {}
        for key in keys:
            if key in item:
                key_values[key] = item[key]
                continue
            key_schema = items.child(key) if items is not None else None
            default = key_schema.default if key_schema is not None else None
            if default is None:
                raise ManagedFieldsError(
                    f"element {index}: associative list with keys has an element that omits key field "
                    f'"{key}" (and doesn\'t have default value)'
                )
            key_values[key] = default
        return "k:" + _canonical_json(key_values)
    if isinstance(item, Mapping | list):
        what = "map" if isinstance(item, Mapping) else "list"
        raise ManagedFieldsError(f"element {index}: associative list without keys has an element that's a {what} type")
    return "v:" + _canonical_json(item)


def _index_list(value: list[Any], schema: PatchSchema | None, where: Path) -> tuple[list[str], dict[str, Any]]:
    list_type, keys = list_semantics(schema)
    items = _items(schema)
    order: list[str] = []
    seen: dict[str, Any] = {}
    for i, item in enumerate(value):
        try:
            pe = _list_pe(item, list_type, keys, items, i)
        except ManagedFieldsError as e:
            raise ManagedFieldsError(f"{format_path(where)}: {e}") from None
        if pe not in seen:
            seen[pe] = item
            order.append(pe)
    return order, seen


def to_field_set(value: Mapping[str, Any], schema: PatchSchema | None = None) -> FieldSet:
    """The fields an applied configuration sets (SMD ``ToFieldSet``)."""
    out: set[Path] = set()

    def walk(v: Any, s: PatchSchema | None, path: Path) -> None:
        if isinstance(v, Mapping):
            if _atomic_map(s):
                out.add(path)
                return
            for k, child in v.items():
                p = (*path, "f:" + k)
                walk(child, _sub(s, k), p)
                if child is None or (isinstance(child, Mapping) and not child) or not _named(s, k):
                    out.add(p)
        elif isinstance(v, list):
            if list_semantics(s)[0] == "atomic":
                out.add(path)
                return
            order, items = _index_list(v, s, path)
            for pe in order:
                walk(items[pe], _items(s), (*path, pe))
                out.add((*path, pe))
        elif path:
            out.add(path)

    walk(value, schema, ())
    return FieldSet(out)


def _ensure_named_members(fields: FieldSet, schema: PatchSchema | None) -> FieldSet:
    """Also make members of the object fields that have members below them."""
    extra: list[Path] = []

    def walk(node: _Node, s: PatchSchema | None, prefix: Path) -> None:
        for pe, child in node.children.items():
            if pe.startswith("f:"):
                name = pe[2:]
                if child.children and _named(s, name):
                    extra.append((*prefix, pe))
                walk(child, _sub(s, name), (*prefix, pe))
            else:
                walk(child, _items(s), (*prefix, pe))

    walk(_build_trie(fields.paths), schema, ())
    return fields.union(FieldSet(extra))


def _remove_items(value: Any, fields: FieldSet, schema: PatchSchema | None) -> Any:
    """``value`` without the members of ``fields`` (and what lies below them); SMD ``RemoveItems``."""

    def walk(v: Any, node: _Node, s: PatchSchema | None, path: Path) -> Any:
        if isinstance(v, Mapping):
            if not v or _atomic_map(s):
                return v
            out: dict[str, Any] = {}
            for k, child in v.items():
                sub_node = node.children.get("f:" + k)
                if sub_node is None:
                    out[k] = child
                    continue
                if sub_node.member:
                    continue
                kept = walk(child, sub_node, _sub(s, k), (*path, "f:" + k))
                if kept is not _MISSING:
                    out[k] = kept
            return out if out else _MISSING
        if isinstance(v, list):
            if not v or list_semantics(s)[0] == "atomic":
                return v
            list_type, keys = list_semantics(s)
            items = _items(s)
            kept_items: list[Any] = []
            for i, item in enumerate(v):
                pe = _list_pe(item, list_type, keys, items, i)
                sub_node = node.children.get(pe)
                if sub_node is None:
                    kept_items.append(item)
                    continue
                if sub_node.member:
                    continue
                kept = walk(item, sub_node, items, (*path, pe))
                if kept is not _MISSING:
                    kept_items.append(kept)
            return kept_items if kept_items else _MISSING
        return v

    result = walk(value, _build_trie(fields.paths), schema, ())
    return {} if result is _MISSING else result


def merge(live: Any, applied: Any, schema: PatchSchema | None = None) -> Any:
    """Merge an applied configuration into a live object (SMD ``Merge`` keeping the applied side)."""
    if applied is _MISSING:
        return copy.deepcopy(live)
    if live is _MISSING:
        return copy.deepcopy(applied)
    if isinstance(live, Mapping) and (isinstance(applied, Mapping) or applied is None):
        right: Mapping[str, Any] = applied or {}
        if _atomic_map(schema) or (not live and not right):
            return copy.deepcopy(applied)
        out: dict[str, Any] = {}
        for k in [*live, *(k for k in right if k not in live)]:
            out[k] = merge(live.get(k, _MISSING), right.get(k, _MISSING), _sub(schema, k))
        return out
    if isinstance(live, list) and (isinstance(applied, list) or applied is None):
        rlist: list[Any] = applied or []
        if list_semantics(schema)[0] == "atomic" or (not live and not rlist):
            return copy.deepcopy(applied)
        return _merge_lists(live, rlist, schema)
    return copy.deepcopy(applied)


def _merge_lists(live: list[Any], applied: list[Any], schema: PatchSchema | None) -> list[Any]:
    """SMD's order: live items in place, applied items in applied order, shared items merged."""
    items = _items(schema)
    r_order, r_seen = _index_list(applied, schema, ())
    l_order, l_seen = _index_list(live, schema, ())
    shared = [pe for pe in r_order if pe in l_seen]
    next_shared = shared.pop(0) if shared else None
    out: list[Any] = []
    li = ri = 0
    while li < len(l_order) or ri < len(r_order):
        if li < len(l_order) and ri < len(r_order):
            pe = l_order[li]
            if pe == r_order[ri]:
                out.append(merge(l_seen[pe], r_seen[pe], items))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in r_seen and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(l_order) and l_order[li] not in r_seen:
            out.append(copy.deepcopy(l_seen[l_order[li]]))
            li += 1
            continue
        if ri < len(r_order):
            pe = r_order[ri]
            out.append(merge(l_seen.get(pe, _MISSING), r_seen[pe], items))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
        else:
            li += 1  # a shared live item already emitted with its applied twin
    return out


def _compare(old: Any, new: Any, schema: PatchSchema | None) -> tuple[FieldSet, FieldSet, FieldSet]:
    """(added, modified, removed) paths from ``old`` to ``new`` (SMD ``Compare``)."""
    added: set[Path] = set()
    modified: set[Path] = set()
    removed: set[Path] = set()

    def leaf(a: Any, b: Any, path: Path) -> None:
        if a is _MISSING:
            added.add(path)
        elif b is _MISSING:
            removed.add(path)
        elif not json_equal(a, b):
            modified.add(path)

    def walk(a: Any, b: Any, s: PatchSchema | None, path: Path, hook: bool) -> None:
        present = [x for x in (a, b) if x is not _MISSING]
        if all(isinstance(x, Mapping) for x in present) and not _atomic_map(s):
            am: Mapping[str, Any] = a if a is not _MISSING else {}
            bm: Mapping[str, Any] = b if b is not _MISSING else {}
            if not am and not bm:
                leaf(a, b, path)
                return
            for k in [*am, *(k for k in bm if k not in am)]:
                sub = _sub(s, k)
                av, bv = am.get(k, _MISSING), bm.get(k, _MISSING)
                struct_field = _named(s, k) and (sub is None or sub.items() is None)
                walk(av, bv, sub, (*path, "f:" + k), not struct_field)
        elif all(isinstance(x, list) for x in present) and list_semantics(s)[0] != "atomic":
            al: list[Any] = a if a is not _MISSING else []
            bl: list[Any] = b if b is not _MISSING else []
            if not al and not bl:
                leaf(a, b, path)
                return
            a_order, a_seen = _index_list(al, s, path)
            b_order, b_seen = _index_list(bl, s, path)
            for pe in [*a_order, *(pe for pe in b_order if pe not in a_seen)]:
                walk(a_seen.get(pe, _MISSING), b_seen.get(pe, _MISSING), _items(s), (*path, pe), True)
        else:
            leaf(a, b, path)
            return
        if hook and path:
            if a is _MISSING:
                added.add(path)
            elif b is _MISSING:
                removed.add(path)

    walk(old, new, schema, (), False)
    return FieldSet(added), FieldSet(modified), FieldSet(removed)


# --------------------------------------------------------------------------- managed fields

_STRIP = FieldSet(
    [
        ("f:apiVersion",),
        ("f:kind",),
        ("f:metadata",),
        *(
            ("f:metadata", "f:" + name)
            for name in (
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "clusterName",
                "generation",
                "managedFields",
                "resourceVersion",
            )
        ),
    ]
)
_STRIP_TREE = FieldSet([("f:metadata", "f:managedFields")])


def compare_fields(old: Any, new: Any, schema: PatchSchema | None = None) -> tuple[FieldSet, FieldSet, FieldSet]:
    """The fields (added, modified, removed) going from ``old`` to ``new``."""
    return _compare(old, new, schema)


def _strip(fields: FieldSet, ignored: FieldSet | None) -> FieldSet:
    fields = fields.difference(_STRIP).recursive_difference(_STRIP_TREE)
    return fields.recursive_difference(ignored) if ignored else fields


@dataclass(frozen=True, order=True)
class _Id:
    manager: str
    operation: str
    subresource: str
    api_version: str  # only for Update managers

    def identifier(self) -> str:
        data: dict[str, str] = {"manager": self.manager, "operation": self.operation}
        if self.api_version:
            data["apiVersion"] = self.api_version
        if self.subresource:
            data["subresource"] = self.subresource
        return json.dumps(data, separators=(",", ":"))

    def describe(self) -> str:
        text = _go_quote(self.manager)
        if self.subresource:
            text += f" with subresource {_go_quote(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


@dataclass
class _Entry:
    fields: FieldSet
    api_version: str
    time: str | None


def _decode(managed_fields: Iterable[Mapping[str, Any]] | None) -> dict[_Id, _Entry]:
    managers: dict[_Id, _Entry] = {}
    for entry in managed_fields or ():
        if not isinstance(entry, Mapping):
            raise ManagedFieldsError("managedFields entries must be objects")
        manager = entry.get("manager", "")
        operation = entry.get("operation", "")
        api_version = entry.get("apiVersion", "")
        subresource = entry.get("subresource", "")
        fields_type = entry.get("fieldsType", "FieldsV1")
        if not all(isinstance(x, str) for x in (manager, operation, api_version, subresource)):
            raise ManagedFieldsError("managedFields manager, operation, apiVersion and subresource must be strings")
        if operation not in ("Apply", "Update"):
            raise ManagedFieldsError(f"invalid managedFields operation {operation!r}")
        if fields_type != "FieldsV1":
            raise ManagedFieldsError(f"unsupported managedFields fieldsType {fields_type!r}")
        ident = _Id(manager, operation, subresource, api_version if operation == "Update" else "")
        fields = FieldSet.from_fields_v1(entry.get("fieldsV1"))
        time = entry.get("time")
        if ident in managers:
            managers[ident].fields = managers[ident].fields | fields
        else:
            managers[ident] = _Entry(fields, api_version, time if isinstance(time, str) else None)
    return managers


def _encode(managers: Mapping[_Id, _Entry]) -> list[dict[str, Any]]:
    def sort_key(item: tuple[_Id, _Entry]) -> tuple[str, float, str, str, str]:
        ident, entry = item
        seconds = 0.0
        if entry.time:
            try:
                seconds = datetime.fromisoformat(entry.time.replace("Z", "+00:00")).timestamp()
            except ValueError:
                seconds = 0.0
        return ident.operation, seconds, ident.manager, entry.api_version, ident.subresource

    out: list[dict[str, Any]] = []
    for ident, entry in sorted(managers.items(), key=sort_key):
        if not entry.fields:
            continue
        encoded: dict[str, Any] = {"manager": ident.manager, "operation": ident.operation}
        if entry.api_version:
            encoded["apiVersion"] = entry.api_version
        if entry.time:
            encoded["time"] = entry.time
        encoded["fieldsType"] = "FieldsV1"
        encoded["fieldsV1"] = entry.fields.to_fields_v1()
        if ident.subresource:
            encoded["subresource"] = ident.subresource
        out.append(encoded)
    return out


def _timestamp(now: datetime | str | None) -> str:
    if isinstance(now, str):
        return now
    moment = now or datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _without_managed_fields(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    out = copy.deepcopy(dict(obj or {}))
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return out


def _managed_fields_of(obj: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    meta = (obj or {}).get("metadata")
    entries = meta.get("managedFields") if isinstance(meta, Mapping) else None
    return list(entries) if isinstance(entries, list) else []


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _with_managed_fields(obj: dict[str, Any], managed: list[dict[str, Any]]) -> dict[str, Any]:
    if managed:
        obj.setdefault("metadata", {})["managedFields"] = managed
    elif isinstance(obj.get("metadata"), dict):
        obj["metadata"].pop("managedFields", None)
    return obj


@dataclass(frozen=True)
class Conflict:
    """One field another manager owns with a different value."""

    manager: str
    """How kube-apiserver names the manager, e.g. ``"kubectl" using apps/v1``."""
    field: str
    """The field path, e.g. ``.spec.replicas``."""


class ApplyConflict(Exception):
    """Server-side apply conflicts (HTTP 409 Conflict) with kube-apiserver's message and causes."""

    status_code = 409
    reason = "Conflict"

    def __init__(self, conflicts: Iterable[Conflict], grouped: Mapping[str, list[str]] | None = None) -> None:
        self.conflicts = tuple(conflicts)
        if len(self.conflicts) == 1:
            only = self.conflicts[0]
            message = f"Apply failed with 1 conflict: conflict with {only.manager}: {only.field}"
        else:
            lines: list[str] = []
            groups: dict[str, list[str]] = dict(grouped or {})
            if not groups:
                for c in self.conflicts:
                    groups.setdefault(c.manager, []).append(c.field)
            for manager, fields in groups.items():
                lines.append(f"conflicts with {manager}:")
                lines.extend(f"- {f}" for f in fields)
            message = f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)
        super().__init__(message)
        self.message = message

    @property
    def causes(self) -> list[dict[str, str]]:
        """``details.causes`` of the Status: one ``FieldManagerConflict`` per field."""
        return [
            {"reason": "FieldManagerConflict", "message": f"conflict with {c.manager}", "field": c.field}
            for c in self.conflicts
        ]

    def status(self) -> dict[str, Any]:
        """The ``meta/v1 Status`` kube-apiserver answers."""
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": {"causes": self.causes},
            "code": self.status_code,
        }


def _raise_conflicts(conflicts: Mapping[_Id, FieldSet]) -> None:
    ordered = sorted(conflicts, key=lambda i: i.identifier())
    items: list[Conflict] = []
    grouped: dict[str, list[str]] = {}
    for ident in ordered:
        for path in conflicts[ident]:
            text = format_path(path)
            items.append(Conflict(ident.describe(), text))
            grouped.setdefault(ident.describe(), []).append(text)
    raise ApplyConflict(items, grouped)


def _prune(
    merged: dict[str, Any], managers: Mapping[_Id, _Entry], last: FieldSet, schema: PatchSchema | None
) -> dict[str, Any]:
    """Remove what the applier owned before and nobody owns now (SMD prune and add-back)."""
    last_e = _ensure_named_members(last, schema)
    pruned = _remove_items(merged, last_e, schema)
    managed = FieldSet().union(*(e.fields for e in managers.values()))
    merged_set = _ensure_named_members(to_field_set(merged, schema), schema)
    pruned_set = _ensure_named_members(to_field_set(pruned, schema), schema)
    owned = _ensure_named_members(managed, schema)
    pruned = _remove_items(merged, merged_set - (pruned_set | owned), schema)
    pruned_set = _ensure_named_members(to_field_set(pruned, schema), schema)
    result: dict[str, Any] = _remove_items(merged, (merged_set - pruned_set) & last_e, schema)
    return result


def apply(
    live: Mapping[str, Any] | None,
    applied: Mapping[str, Any],
    manager: str,
    managed_fields: Iterable[Mapping[str, Any]] | None,
    force: bool = False,
    schema: PatchSchema | None = None,
    *,
    api_version: str | None = None,
    subresource: str = "",
    now: datetime | str | None = None,
    ignored: FieldSet | None = None,
    allowed: FieldSet | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Server-side apply ``applied`` by ``manager`` to ``live`` (``None`` or ``{}`` to create).

    ``managed_fields`` is the live object's ``metadata.managedFields`` (``None``: read them from
    ``live``); ``ignored`` lists fields
    (with everything below them) the manager cannot own here, e.g. ``status`` on the main
    resource.  Returns the new object (with ``metadata.managedFields`` set) and its managed
    fields; raises :class:`ApplyConflict` unless ``force``, and :class:`ManagedFieldsError` for
    undecodable managed fields or list items without their keys.  Conflicts all within ``allowed``
    are forced through (kube's takeover of client-side-applied fields); the others are reported.
    """
    stamp = _timestamp(now)
    if managed_fields is None:
        managed_fields = _managed_fields_of(live)
    live_obj = _without_managed_fields(live)
    applied_obj = _without_managed_fields(applied)
    version = api_version if api_version is not None else str(applied_obj.get("apiVersion", ""))
    managers = _decode(managed_fields)

    if not managers and live_obj:
        before, changed, _ = _compare({}, live_obj, schema)
        owned = _strip(before | changed, ignored)
        if owned:
            live_version = str(live_obj.get("apiVersion", version))
            managers[_Id("before-first-apply", "Update", "", live_version)] = _Entry(owned, live_version, stamp)

    me = _Id(manager, "Apply", subresource, "")
    applied_set = _strip(to_field_set(applied_obj, schema), ignored)
    previous = managers.get(me)
    merged = merge(live_obj, applied_obj, schema)
    managers[me] = _Entry(applied_set, version, previous.time if previous else stamp)
    if previous is not None and previous.fields:
        merged = _prune(merged, managers, previous.fields, schema)
    merged = _drop_nulls(merged)

    added, modified, removed = _compare(live_obj, merged, schema)
    changed = _strip(added | modified, ignored)
    removed = _strip(removed, ignored)
    conflicts = {
        ident: entry.fields & changed for ident, entry in managers.items() if ident != me and entry.fields & changed
    }
    if conflicts and not force:
        if allowed is None:
            _raise_conflicts(conflicts)
        takeover = allowed or FieldSet()
        beyond = {ident: fields - takeover for ident, fields in conflicts.items() if fields - takeover}
        if beyond:
            _raise_conflicts(beyond)
    for ident, entry in managers.items():
        if ident != me:
            entry.fields = entry.fields - conflicts.get(ident, FieldSet()) - removed
    if not json_equal(live_obj, merged):
        managers[me].time = stamp
    managed = _encode(managers)
    return _with_managed_fields(merged, managed), managed


def update_managed_fields(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    manager: str,
    operation: str = "Update",
    *,
    managed_fields: Iterable[Mapping[str, Any]] | None = None,
    api_version: str | None = None,
    subresource: str = "",
    schema: PatchSchema | None = None,
    now: datetime | str | None = None,
    ignored: FieldSet | None = None,
) -> list[dict[str, Any]]:
    """The managed fields after ``manager`` wrote ``new`` over ``old`` (``None`` for a create).

    ``managed_fields`` defaults to ``old``'s ``metadata.managedFields``.  The writer gains every
    field it added or changed and keeps its earlier fields; every manager loses the fields that
    were changed or removed.
    """
    if managed_fields is None:
        managed_fields = _managed_fields_of(old)
    managers = _decode(managed_fields)
    old_obj = _without_managed_fields(old)
    new_obj = _without_managed_fields(new)
    version = api_version if api_version is not None else str(new_obj.get("apiVersion", ""))
    added, modified, removed = _compare(old_obj, new_obj, schema)
    touched = added | modified
    for entry in managers.values():
        entry.fields = entry.fields - touched - removed
    mine = _strip(touched, ignored)
    if mine:
        ident = _Id(manager, operation, subresource, version if operation == "Update" else "")
        previous = managers.get(ident)
        fields = mine | previous.fields if previous else mine
        managers[ident] = _Entry(fields, version, _timestamp(now))
    return _encode(managers)
