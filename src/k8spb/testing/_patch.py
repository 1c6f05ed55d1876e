"""JSON patch, JSON merge patch and strategic merge patch on plain dicts, as kube-apiserver does them.

* :func:`apply_json_patch` follows gopkg.in/evanphx/json-patch.v4 as kube-apiserver uses it:
  RFC 6902 operations and ``~0``/``~1`` escapes, ``-`` to append, negative array indexes
  counted from the end, ``replace`` of the whole document (path ``""``) with an object or array,
  ``test`` of ``null`` also passing on a missing member, ``add``/``replace`` without a
  ``value`` storing ``null``.  Like that library it reads a pointer
  as its ``/``-separated segments after the first one, so ``"a/b"`` means ``/b``.
  A patch that is not a list of objects is a 400, more than 10000 operations a 413, and an
  operation that does not apply a 422, as is a patch whose ``copy`` operations add more than 3 MiB.
* :func:`apply_merge_patch` is RFC 7386 as evanphx/json-patch's ``MergePatch`` implements it:
  ``null`` deletes, objects merge, everything else replaces; nulls inside values that replace
  are dropped from the objects within them; a patch that is neither object nor array is a 400.
  :func:`create_merge_patch` builds a patch that turns one document into another.
* :func:`apply_strategic_merge_patch` follows k8s.io/apimachinery ``strategicpatch`` on the
  server side (``StrategicMergeMapPatch``): maps merge, ``null`` deletes, lists whose
  ``x-kubernetes-patch-strategy`` contains ``merge`` merge (maps by the patch merge key,
  primitives as an ordered union), other lists replace; directives ``$patch``
  (``replace``/``delete`` on maps and list elements; ``merge`` is an error as in Kubernetes),
  ``$retainKeys``, ``$deleteFromPrimitiveList/<f>`` and ``$setElementOrder/<f>``; the
  resulting list order is Kubernetes' (patch items first unless the live order says
  otherwise).  Errors carry the status kube-apiserver would answer (400, 422, or 500 for the
  errors it does not classify).

Knowingly different from Kubernetes (where Go and typed decoding would hide the difference, or
where Kubernetes has a bug):

* A value the patch adds where the original has none is itself applied as a patch to an empty
  value, so directives and nulls inside it are processed instead of being stored verbatim
  (kube stores them and its typed decoding then drops them); ``$patch: delete`` on a nested map
  removes the key (kube stores ``{}``); ``$patch: replace`` content is cleaned the same way.
* ``$deleteFromPrimitiveList`` on a missing list is a no-op (kube stores the deletion list).
* Where a list patch both deletes elements (``$patch: delete``) and adds new ones under a
  ``$setElementOrder``, Kubernetes orders the result by a Go slice that the deletion and
  appends have overwritten in place; here live-only elements keep their original positions.
* ``test`` compares numbers by value (``1`` equals ``1.0``); evanphx compares their JSON text.

Schema information comes through :class:`PatchSchema`; ``None`` means "unknown": maps merge
and lists replace.  :class:`DictSchema` reads an OpenAPI-v3-like dict.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "MAX_JSON_PATCH_COPY_BYTES",
    "MAX_JSON_PATCH_OPERATIONS",
    "DictSchema",
    "PatchError",
    "PatchSchema",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
    "create_merge_patch",
    "json_equal",
    "list_semantics",
]

MAX_JSON_PATCH_OPERATIONS = 10000
MAX_JSON_PATCH_COPY_BYTES = 3 << 20
"""kube-apiserver's JSONPatchMaxCopyBytes: the JSON bytes all ``copy`` operations of a patch may add."""
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

_REASONS = {400: "BadRequest", 409: "Conflict", 413: "RequestEntityTooLarge", 422: "Invalid", 500: ""}


class PatchError(ValueError):
    """A patch kube-apiserver would refuse; ``status_code`` is the HTTP status it would answer."""

    def __init__(self, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    @property
    def reason(self) -> str:
        """The ``metav1.Status`` reason matching ``status_code`` (``""`` for 500: StatusReasonUnknown)."""
        return _REASONS.get(self.status_code, "")


# --------------------------------------------------------------------------- JSON value helpers


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def json_equal(a: Any, b: Any) -> bool:
    """Deep JSON equality: ``true`` is not ``1``, ``1`` equals ``1.0``, key order is ignored."""
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka == "map":
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if ka == "list":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _scalar_key(value: Any) -> tuple[str, Any]:
    """A hashable identity for a JSON scalar (Go interface equality on decoded JSON)."""
    kind = _kind(value)
    if kind in ("map", "list"):
        return kind, json.dumps(value, sort_keys=True)
    return kind, value


def _go_fmt(value: Any) -> str:
    """Format a decoded JSON value like Go's ``%v``."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_go_fmt(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(_go_fmt(v) for v in value) + "]"
    return str(value)


def _go_type(value: Any) -> str:
    return {
        "null": "<nil>",
        "bool": "bool",
        "number": "float64",
        "string": "string",
        "map": "map[string]interface {}",
        "list": "[]interface {}",
    }.get(_kind(value), type(value).__name__)


def _json_type(value: Any) -> str:
    return {"map": "object", "list": "array", "null": "null"}.get(_kind(value), _kind(value))


# --------------------------------------------------------------------------- schema


@runtime_checkable
class PatchSchema(Protocol):
    """What the patch and field-set algorithms need to know about one node of a type.

    A node describes an object (fields via :meth:`child`, map values via :meth:`items`), a list
    (elements via :meth:`items`) or a scalar.  Attributes mirror the OpenAPI extensions
    ``x-kubernetes-patch-strategy`` (e.g. ``"merge"``, ``"retainKeys"``, ``"merge,retainKeys"``),
    ``x-kubernetes-patch-merge-key``, ``x-kubernetes-list-type`` (``atomic``/``set``/``map``),
    ``x-kubernetes-list-map-keys`` and ``x-kubernetes-map-type`` (``atomic``/``granular``);
    ``default`` is the schema default (used for missing list-map keys).
    """

    @property
    def patch_strategy(self) -> str | None: ...

    @property
    def patch_merge_key(self) -> str | None: ...

    @property
    def list_type(self) -> str | None: ...

    @property
    def list_map_keys(self) -> tuple[str, ...]: ...

    @property
    def map_type(self) -> str | None: ...

    @property
    def default(self) -> Any: ...

    def child(self, field_name: str) -> PatchSchema | None:
        """The schema of a declared field of an object, or ``None``."""
        ...

    def items(self) -> PatchSchema | None:
        """The schema of a list's elements or of a map's values, or ``None``."""
        ...


class DictSchema:
    """A :class:`PatchSchema` read from an OpenAPI-v3-like dict.

    Understood keys: ``properties``, ``items``, ``additionalProperties``, ``default`` and the
    ``x-kubernetes-*`` extensions above; ``$ref`` (``#/components/schemas/N`` or
    ``#/definitions/N``, looked up by its last segment in ``definitions``) and ``allOf`` are
    merged into the node, the node's own keys winning.
    """

    def __init__(self, node: Mapping[str, Any], definitions: Mapping[str, Any] | None = None) -> None:
        self._definitions: Mapping[str, Any] = definitions or {}
        self._node = self._resolve(node, 0)

    def _resolve(self, node: Mapping[str, Any], depth: int) -> dict[str, Any]:
        if depth > 64:
            raise ValueError("schema $ref nesting too deep")
        merged: dict[str, Any] = {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = self._definitions.get(ref.rsplit("/", 1)[-1])
            if target is None:
                raise ValueError(f"unknown schema reference {ref!r}")
            merged.update(self._resolve(target, depth + 1))
        for part in node.get("allOf") or ():
            if isinstance(part, Mapping):
                merged.update(self._resolve(part, depth + 1))
        merged.update({k: v for k, v in node.items() if k not in ("$ref", "allOf")})
        return merged

    def _sub(self, node: Any) -> DictSchema | None:
        if not isinstance(node, Mapping):
            return None
        return DictSchema(node, self._definitions)

    @property
    def patch_strategy(self) -> str | None:
        value = self._node.get("x-kubernetes-patch-strategy")
        return value if isinstance(value, str) else None

    @property
    def patch_merge_key(self) -> str | None:
        value = self._node.get("x-kubernetes-patch-merge-key")
        return value if isinstance(value, str) else None

    @property
    def list_type(self) -> str | None:
        value = self._node.get("x-kubernetes-list-type")
        return value if isinstance(value, str) else None

    @property
    def list_map_keys(self) -> tuple[str, ...]:
        return tuple(self._node.get("x-kubernetes-list-map-keys") or ())

    @property
    def map_type(self) -> str | None:
        value = self._node.get("x-kubernetes-map-type")
        return value if isinstance(value, str) else None

    @property
    def default(self) -> Any:
        return self._node.get("default")

    def child(self, field_name: str) -> DictSchema | None:
        props = self._node.get("properties")
        if isinstance(props, Mapping):
            return self._sub(props.get(field_name))
        return None

    def items(self) -> DictSchema | None:
        return self._sub(self._node.get("items")) or self._sub(self._node.get("additionalProperties"))

    def __repr__(self) -> str:
        return f"DictSchema({self._node!r})"


def _strategies(schema: PatchSchema | None) -> tuple[bool, str]:
    """Split a patch strategy into (has retainKeys, the other strategy or "")."""
    if schema is None or not schema.patch_strategy:
        return False, ""
    parts = [p.strip() for p in schema.patch_strategy.split(",") if p.strip()]
    others = [p for p in parts if p != "retainKeys"]
    if len(others) > 1 or len(parts) > 2:
        raise PatchError(f"unexpected patch strategy: [{' '.join(parts)}]", 500)
    return len(others) != len(parts), (others[0] if others else "")


def list_semantics(schema: PatchSchema | None) -> tuple[str, tuple[str, ...]]:
    """How server-side apply treats a list: ``("atomic"|"set"|"map", map keys)``.

    ``x-kubernetes-list-type`` wins; otherwise a ``merge`` patch strategy makes a map keyed by
    the patch merge key, or a set without one (as kube-openapi's schema conversion does).
    """
    if schema is None:
        return "atomic", ()
    list_type = schema.list_type
    merge_key = schema.patch_merge_key
    if list_type == "atomic":
        return "atomic", ()
    if list_type == "set":
        return "set", ()
    if list_type == "map":
        keys = tuple(schema.list_map_keys) or ((merge_key,) if merge_key else ())
        return ("map", keys) if keys else ("set", ())
    _, strategy = _strategies(schema)
    if strategy == "merge":
        return ("map", (merge_key,)) if merge_key else ("set", ())
    return "atomic", ()


def _field_schema(schema: PatchSchema | None, key: str) -> PatchSchema | None:
    if schema is None:
        return None
    child = schema.child(key)
    return child if child is not None else schema.items()


# --------------------------------------------------------------------------- JSON patch

_POINTER_ESCAPE = re.compile("~[01]")
_INT_RE = re.compile(r"[+-]?[0-9]+")


class _OpError(Exception):
    pass


def _decode_token(token: str) -> str:
    return _POINTER_ESCAPE.sub(lambda m: "/" if m.group() == "~1" else "~", token)


def _atoi(key: str) -> int:
    if not _INT_RE.fullmatch(key):
        raise _OpError(f'strconv.Atoi: parsing "{key}": invalid syntax')
    return int(key)


def _index(key: str, length: int) -> int:
    """An existing index of a list of ``length`` elements (negative counts from the end)."""
    idx = _atoi(key)
    if idx >= length or idx < -length:
        raise _OpError(f"Unable to access invalid index: {idx}: invalid index referenced")
    return idx + length if idx < 0 else idx


def _find(doc: Any, path: str) -> tuple[dict[str, Any] | list[Any], str] | None:
    """The container of ``path`` and the last token, or None when a parent is missing."""
    tokens = path.split("/")
    if len(tokens) < 2:
        return None
    cur: Any = doc
    for raw in tokens[1:-1]:
        token = _decode_token(raw)
        if isinstance(cur, dict):
            nxt = cur.get(token)
        elif isinstance(cur, list):
            try:
                nxt = cur[_index(token, len(cur))]
            except _OpError:
                return None
        else:
            return None
        if not isinstance(nxt, dict | list):
            return None
        cur = nxt
    if not isinstance(cur, dict | list):
        return None
    return cur, _decode_token(tokens[-1])


def _get(container: dict[str, Any] | list[Any], key: str) -> Any:
    if isinstance(container, dict):
        if key not in container:
            raise _OpError(f"unable to get nonexistent key: {key}: missing value")
        return container[key]
    return container[_index(key, len(container))]


def _add(container: dict[str, Any] | list[Any], key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
        return
    if key == "-":
        container.append(value)
        return
    try:
        idx = _atoi(key)
    except _OpError as e:
        raise _OpError(f"value was not a proper array index: '{key}': {e}") from None
    size = len(container) + 1
    if idx >= size or idx < -size:
        raise _OpError(f"Unable to access invalid index: {idx}: invalid index referenced")
    container.insert(idx + size if idx < 0 else idx, value)


def _remove(container: dict[str, Any] | list[Any], key: str) -> None:
    if isinstance(container, dict):
        if key not in container:
            raise _OpError(f"Unable to remove nonexistent key: {key}: missing value")
        del container[key]
        return
    del container[_index(key, len(container))]


def _op_string(op: Mapping[str, Any], field: str) -> str:
    value = op.get(field)
    if value is None:
        raise _OpError(f"operation missing {field} field: missing value")
    if not isinstance(value, str):
        raise _OpError(f"json: cannot unmarshal {_json_type(value)} into Go value of type string")
    return value


def _apply_op(doc: Any, op: Mapping[str, Any], copied: list[int]) -> Any:
    kind = op.get("op")
    kind = kind if isinstance(kind, str) else "unknown"
    value = copy.deepcopy(op.get("value"))
    if kind in ("add", "remove", "replace", "test"):
        try:
            path = _op_string(op, "path")
        except _OpError as e:
            raise _OpError(f"{kind} operation failed to decode path: {e}") from None
        if kind == "replace" and path == "":
            if not isinstance(value, dict | list):
                raise _OpError("replace operation value must be object or array")
            return value
        found = _find(doc, path)
        if found is None:
            if kind == "test":
                raise _OpError(f"test operation does not apply: is missing path: {path}: missing value")
            quoted = f'"{path}"' if kind in ("add", "remove") else path
            raise _OpError(f"{kind} operation does not apply: doc is missing path: {quoted}: missing value")
        container, key = found
        if kind == "add":
            try:
                _add(container, key, value)
            except _OpError as e:
                raise _OpError(f"error in add for path: '{path}': {e}") from None
        elif kind == "remove":
            try:
                _remove(container, key)
            except _OpError as e:
                raise _OpError(f"error in remove for path: '{path}': {e}") from None
        elif kind == "replace":
            try:
                _get(container, key)
            except _OpError:
                raise _OpError(f"replace operation does not apply: doc is missing key: {path}: missing value") from None
            if isinstance(container, dict):
                container[key] = value
            else:
                container[_index(key, len(container))] = value
        else:
            try:
                current = _get(container, key)
            except _OpError as e:
                if isinstance(container, list):
                    raise _OpError(f"error in test for path: '{path}': {e}") from None
                current = None
            if current is None and value is None:
                return doc
            if current is None or value is None or not json_equal(current, value):
                raise _OpError(f"testing value {path} failed: test failed")
        return doc
    if kind in ("move", "copy"):
        try:
            src = _op_string(op, "from")
        except _OpError as e:
            raise _OpError(f"{kind} operation failed to decode from: {e}") from None
        found = _find(doc, src)
        if found is None:
            raise _OpError(f"{kind} operation does not apply: doc is missing from path: {src}: missing value")
        container, key = found
        size = 0
        try:
            moved = _get(container, key)
            if kind == "move":
                _remove(container, key)
            else:
                size = len(_compact(moved).encode())
                if copied[0] + size <= MAX_JSON_PATCH_COPY_BYTES:  # else it fails below, never copied
                    moved = copy.deepcopy(moved)
        except _OpError as e:
            where = f"path: '{key}'" if kind == "move" else f"from: '{src}'"
            raise _OpError(f"error in {kind} for {where}: {e}") from None
        try:
            path = _op_string(op, "path")
        except _OpError as e:
            raise _OpError(f"{kind} operation failed to decode path: {e}") from None
        found = _find(doc, path)
        if found is None:
            raise _OpError(f"{kind} operation does not apply: doc is missing destination path: {path}: missing value")
        if kind == "copy":  # evanphx's AccumulatedCopySizeLimit, which kube-apiserver sets: no copy bombs
            copied[0] += size
            if copied[0] > MAX_JSON_PATCH_COPY_BYTES:
                raise _OpError(f"Unable to complete the copy, the accumulated size increase of copy is {copied[0]}, "
                               f"exceeding the limit {MAX_JSON_PATCH_COPY_BYTES}")
        try:
            _add(found[0], found[1], moved)
        except _OpError as e:
            what = f"error in move for path: '{path}'" if kind == "move" else "error while adding value during copy"
            raise _OpError(f"{what}: {e}") from None
        return doc
    raise _OpError(f"Unexpected kind: {kind}")


def apply_json_patch(doc: Any, patch: Any) -> Any:
    """Apply an RFC 6902 JSON patch (the decoded request body) to a copy of ``doc``."""
    if patch is None:
        patch = []
    if not isinstance(patch, list):
        raise PatchError(f"json: cannot unmarshal {_json_type(patch)} into Go value of type jsonpatch.Patch", 400)
    for op in patch:
        if op is not None and not isinstance(op, Mapping):
            raise PatchError(f"json: cannot unmarshal {_json_type(op)} into Go value of type jsonpatch.Operation", 400)
    if len(patch) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(patch)}",
            413,
        )
    if not isinstance(doc, dict | list):
        raise PatchError(f"json: cannot unmarshal {_json_type(doc)} into Go value of type jsonpatch.partialDoc")
    result = copy.deepcopy(doc)
    copied = [0]
    for op in patch:
        try:
            result = _apply_op(result, op or {}, copied)
        except _OpError as e:
            raise PatchError(str(e), 422) from None
    return result


# --------------------------------------------------------------------------- JSON merge patch


def _prune_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def _merge_docs(doc: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif not isinstance(doc.get(key), dict):
            doc[key] = _prune_nulls(value)
        elif not isinstance(value, Mapping):
            doc[key] = copy.deepcopy(value)
        else:
            _merge_docs(doc[key], value)
    return doc


def apply_merge_patch(doc: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch to a copy of ``doc``."""
    if isinstance(patch, Mapping):
        base = copy.deepcopy(doc) if isinstance(doc, dict) else {}
        return _merge_docs(base, patch)
    if isinstance(patch, list):
        return _prune_nulls(patch)
    raise PatchError("Invalid JSON Patch", 400)


def create_merge_patch(original: Any, modified: Any) -> Any:
    """A JSON merge patch that turns ``original`` into ``modified``.

    Exact for object documents without ``null`` members (a merge patch cannot set a member to
    ``null``).
    """
    if not isinstance(original, Mapping) or not isinstance(modified, Mapping):
        return copy.deepcopy(modified)
    patch: dict[str, Any] = {}
    for key in original:
        if key not in modified:
            patch[key] = None
    for key, value in modified.items():
        if key not in original:
            patch[key] = copy.deepcopy(value)
        elif json_equal(original[key], value):
            continue
        elif isinstance(original[key], Mapping) and isinstance(value, Mapping):
            patch[key] = create_merge_patch(original[key], value)
        else:
            patch[key] = copy.deepcopy(value)
    return patch


# --------------------------------------------------------------------------- strategic merge patch

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER = "$setElementOrder"

_ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
_ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
_ERR_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"


def _bad_arg_type(expected: str, actual: Any) -> PatchError:
    return PatchError(f"expected a {expected}, but received a {_go_type(actual)}", 500)


def _no_merge_key(item: Any, key: str) -> PatchError:
    return PatchError(f"map: {_go_fmt(item)} does not contain declared merge key: {key}", 500)


def _extract_key(key: str, prefix: str, error: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise PatchError(error, 400)
    return rest


def _element_kind(*lists: list[Any]) -> str | None:
    kind: str | None = None
    for items in lists:
        for item in items:
            k = _kind(item)
            if kind is None:
                kind = k
                if k == "list":
                    raise PatchError("lists of lists are not supported", 422)
            elif k != kind:
                raise PatchError("list element types are not identical: " + " ".join(_go_fmt(x) for x in lists), 500)
    return kind


def _merge_value(item: Any, merge_key: str | None) -> tuple[str, Any]:
    if merge_key and isinstance(item, Mapping):
        return _scalar_key(item.get(merge_key))
    return _scalar_key(item)


def _position(order: list[Any], item: Any, merge_key: str | None) -> int:
    want = _merge_value(item, merge_key)
    for i, candidate in enumerate(order):
        if _merge_value(candidate, merge_key) == want:
            return i
    return -1


def _sort_by(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    def rank(item: Any) -> int:
        pos = _position(order, item, merge_key)
        return pos if pos >= 0 else len(order)

    return sorted(items, key=rank)


def _normalize_order(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str | None,
) -> list[Any]:
    """Kubernetes' list order: patch items in patch order, server-only items slotted by live order."""
    if merge_key:
        for item in [*patch_items, *server_only, *patch_order]:
            if not isinstance(item, Mapping):
                raise _bad_arg_type("map[string]interface {}", item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
    left = _sort_by(server_only, server_order, merge_key)
    right = _sort_by(patch_items, patch_order, merge_key)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _position(server_order, left[i], merge_key)
            ri = _position(server_order, right[j], merge_key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _partition(merged: list[Any], by: list[Any], merge_key: str | None) -> tuple[list[Any], list[Any]]:
    wanted = set()
    for item in by:
        if merge_key and (not isinstance(item, Mapping) or merge_key not in item):
            raise _no_merge_key(item, merge_key)
        wanted.add(_merge_value(item, merge_key))
    inside: list[Any] = []
    outside: list[Any] = []
    for item in merged:
        if merge_key and (not isinstance(item, Mapping) or merge_key not in item):
            raise _no_merge_key(item, merge_key)
        (inside if _merge_value(item, merge_key) in wanted else outside).append(item)
    return inside, outside


def _dedupe(items: list[Any]) -> list[Any]:
    seen: set[tuple[str, Any]] = set()
    out: list[Any] = []
    for item in items:
        key = _scalar_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _clean(value: Any, schema: PatchSchema | None) -> Any:
    """A patch value applied to nothing; ``None`` means "delete"."""
    if isinstance(value, Mapping):
        return _smp_map({}, dict(value), schema)
    if isinstance(value, list):
        _, strategy = _strategies(schema)
        if strategy == "merge":
            return _merge_slice([], value, schema)
        return value
    return value


def _merge_slice(original: list[Any], patch: list[Any], schema: PatchSchema | None) -> list[Any]:
    """Merge two lists of a field whose patch strategy is ``merge``."""
    if not original and not patch:
        return []
    kind = _element_kind(original, patch)
    items = schema.items() if schema is not None else None
    if kind != "map":
        merged = _dedupe(original + patch)
        inside, outside = _partition(merged, patch, None)
        return _normalize_order(inside, outside, patch, original, None)
    merge_key = schema.patch_merge_key if schema is not None else None
    if not merge_key:
        raise PatchError("cannot merge lists without merge key for type struct", 500)
    # special elements: $patch delete / replace / merge
    rest: list[dict[str, Any]] = []
    replace = False
    for element in patch:
        if _DIRECTIVE not in element:
            rest.append(element)
            continue
        directive = element[_DIRECTIVE]
        if directive == "delete":
            if merge_key not in element:
                raise _no_merge_key(element, merge_key)
            doomed = _scalar_key(element[merge_key])
            original = [o for o in original if not (merge_key in o and _scalar_key(o[merge_key]) == doomed)]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch", 500)
        else:
            raise PatchError(f"unknown patch type: {_go_fmt(directive)} in map: {_go_fmt(element)}", 500)
    if replace:
        original = [c for c in (_clean(e, items) for e in rest) if c is not None]
        rest = []
    merged = list(original)
    for element in rest:
        if merge_key not in element:
            raise _no_merge_key(element, merge_key)
        want = _scalar_key(element[merge_key])
        pos = next((i for i, m in enumerate(merged) if merge_key in m and _scalar_key(m[merge_key]) == want), -1)
        if pos >= 0:
            result = _smp_map(merged[pos], dict(element), items)
            merged[pos] = {} if result is None else result
        else:
            added = _clean(element, items)
            if added is not None:
                merged.append(added)
    inside, outside = _partition(merged, rest, merge_key)
    return _normalize_order(inside, outside, rest, original, merge_key)


def _check_set_element_order(patch_list: list[Any], order: list[Any], merge_key: str | None) -> None:
    if not order or not patch_list:
        return
    if merge_key:
        for item in patch_list:
            if not isinstance(item, Mapping):
                raise _bad_arg_type("map[string]interface {}", item)
        candidates = [p for p in patch_list if p.get(_DIRECTIVE) != "delete"]
    else:
        candidates = list(patch_list)
    pi = oi = 0
    while pi < len(candidates) and oi < len(order):
        item = candidates[pi]
        if isinstance(item, Mapping) and _DIRECTIVE in item:
            pi += 1
            continue
        if merge_key:
            if not isinstance(order[oi], Mapping):
                raise _bad_arg_type("map[string]interface {}", order[oi])
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            if merge_key not in order[oi]:
                raise _no_merge_key(order[oi], merge_key)
            equal = _scalar_key(item[merge_key]) == _scalar_key(order[oi][merge_key])
        else:
            equal = _scalar_key(item) == _scalar_key(order[oi])
        if equal:
            pi += 1
        oi += 1
    if pi < len(candidates):
        raise PatchError(
            f"The order in patch list:\n{_go_fmt(patch_list)}\n doesn't match "
            f"{_SET_ELEMENT_ORDER} list:\n{_go_fmt(order)}\n",
            500,
        )


def _apply_set_element_order(original: dict[str, Any], patch: dict[str, Any], schema: PatchSchema | None) -> None:
    for directive_key in [k for k in patch if k.startswith(_SET_ELEMENT_ORDER)]:
        order = patch.pop(directive_key)
        if not isinstance(order, list):
            raise _bad_arg_type("[]interface {}", order)
        key = _extract_key(directive_key, _SET_ELEMENT_ORDER, _ERR_SET_ELEMENT_ORDER)
        sub = _field_schema(schema, key)
        if key in patch and patch[key] is None:
            continue  # the field is deleted below
        in_original = key in original and original[key] is not None
        in_patch = key in patch
        original_list = original.get(key) if in_original else []
        patch_list = patch.get(key) if in_patch else []
        if not isinstance(original_list, list):
            raise _bad_arg_type("[]interface {}", original_list)
        if not isinstance(patch_list, list):
            raise _bad_arg_type("[]interface {}", patch_list)
        _, strategy = _strategies(sub)
        merge_key = sub.patch_merge_key if sub is not None else None
        _check_set_element_order(patch_list, order, merge_key)
        if not in_original and not in_patch:
            continue
        if in_original and in_patch:
            merged = _merge_slice(original_list, patch_list, sub) if strategy == "merge" else list(patch_list)
        elif in_patch:
            merged = _clean(patch_list, sub)
        else:
            merged = list(original_list)
        patch.pop(key, None)
        kind = _element_kind(original_list, patch_list)
        if kind is None or (kind == "map" and not merge_key):
            original[key] = merged
            continue
        key_for_order = merge_key if kind == "map" else None
        inside, outside = _partition(merged, order, key_for_order)
        original[key] = _normalize_order(inside, outside, order, original_list, key_for_order)


def _smp_map(original: dict[str, Any], patch: dict[str, Any], schema: PatchSchema | None) -> dict[str, Any] | None:
    """Merge ``patch`` into ``original`` (both owned by the caller); ``None`` means delete."""
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            return _smp_map({}, {k: v for k, v in patch.items() if k != _DIRECTIVE}, schema)
        if directive == "delete":
            return None
        raise PatchError(f"unknown patch type: {_go_fmt(directive)} in map: {_go_fmt(patch)}", 500)

    if _RETAIN_KEYS in patch:
        retain = patch.pop(_RETAIN_KEYS)
        if not isinstance(retain, list):
            raise PatchError(_ERR_RETAIN_KEYS, 400)
        keep = {_scalar_key(k) for k in retain}
        for key, value in patch.items():
            if value is None or key.startswith((_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)):
                continue
            if _scalar_key(key) not in keep:
                raise PatchError(_ERR_RETAIN_KEYS, 400)
        for key in [k for k in original if _scalar_key(k) not in keep]:
            del original[key]

    _apply_set_element_order(original, patch, schema)

    for raw_key, value in patch.items():
        key = raw_key
        if raw_key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            key = _extract_key(raw_key, _DELETE_FROM_PRIMITIVE_LIST, _ERR_PRIMITIVE_LIST)
            if value is None:
                continue
            if not isinstance(value, list):
                raise _bad_arg_type("[]interface {}", value)
            current = original.get(key)
            if current is None:
                continue
            if not isinstance(current, list):
                raise _bad_arg_type("[]interface {}", current)
            doomed = {_scalar_key(v) for v in value}
            original[key] = [v for v in current if _scalar_key(v) not in doomed]
            continue
        if value is None:
            original.pop(key, None)
            continue
        sub = _field_schema(schema, key)
        current = original.get(key)
        if key not in original or _kind(current) != _kind(value):
            cleaned = _clean(value, sub)
            if cleaned is None:
                original.pop(key, None)
            else:
                original[key] = cleaned
            continue
        _, strategy = _strategies(sub)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merged = _clean(value, sub) if strategy == "replace" else _smp_map(current, dict(value), sub)
            if merged is None:
                del original[key]
            else:
                original[key] = merged
        elif isinstance(value, list) and isinstance(current, list):
            original[key] = _merge_slice(current, value, sub) if strategy == "merge" else _clean(value, sub)
        else:
            original[key] = value
    return original


def apply_strategic_merge_patch(original: Mapping[str, Any], patch: Any, schema: PatchSchema | None) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch to a copy of ``original``."""
    if not isinstance(patch, Mapping):
        raise PatchError(
            f"json: cannot unmarshal {_json_type(patch)} into Go value of type map[string]interface {{}}", 400
        )
    result = _smp_map(copy.deepcopy(dict(original)), copy.deepcopy(dict(patch)), schema)
    return {} if result is None else result
