"""Object storage with kube-apiserver's semantics, on plain Kubernetes-JSON dicts.

One global resourceVersion counter; every write appends an event to a bounded log that watches
replay from and that :meth:`Store.compact` expires.  All methods are thread-safe.

A stored dict is never mutated once it is in a bucket: writes build a new dict and swap it in.  That
lets lists, watch events and the event log share stored objects (:meth:`Store.shared`) instead of
deep-copying every object of a 10,000-item list; only single objects handed to code that edits them
are copied (:meth:`Store.served`).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import itertools
import json
import queue
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from k8spb._codec import PROTOBUF, decode, encode
from k8spb._errors import DecodeError, EncodeError
from k8spb._schema import _json_copy
from k8spb.testing._crd import CRD_KEY, CustomSchema, crd_status, crd_types, normalize_custom, validate_crd
from k8spb.testing._fieldsets import ApplyConflict, FieldSet, ManagedFieldsError, apply, update_managed_fields
from k8spb.testing._gc import FOREGROUND, ORPHAN, GarbageCollector
from k8spb.testing._modelschema import schema_for
from k8spb.testing._patch import (
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    json_equal,
)
from k8spb.testing._resources import ApiError, Resources, ResourceType
from k8spb.testing._selectors import FieldSelector, LabelSelector, SelectorError

__all__ = ["Event", "Store", "Watcher", "now_rfc3339"]

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)

MAX_LOG = 100_000
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

# per (group, plural): selectable fields beyond metadata.name/namespace -> JSON path
FIELD_PATHS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("", "pods"): {
        "spec.nodeName": ("spec", "nodeName"), "spec.restartPolicy": ("spec", "restartPolicy"),
        "spec.schedulerName": ("spec", "schedulerName"), "spec.serviceAccountName": ("spec", "serviceAccountName"),
        "spec.hostNetwork": ("spec", "hostNetwork"), "status.phase": ("status", "phase"),
        "status.podIP": ("status", "podIP"), "status.nominatedNodeName": ("status", "nominatedNodeName"),
    },
    ("", "events"): {
        "involvedObject.kind": ("involvedObject", "kind"), "involvedObject.namespace": ("involvedObject", "namespace"),
        "involvedObject.name": ("involvedObject", "name"), "involvedObject.uid": ("involvedObject", "uid"),
        "involvedObject.apiVersion": ("involvedObject", "apiVersion"),
        "involvedObject.resourceVersion": ("involvedObject", "resourceVersion"),
        "involvedObject.fieldPath": ("involvedObject", "fieldPath"), "reason": ("reason",),
        "reportingComponent": ("reportingComponent",), "source": ("source", "component"), "type": ("type",),
    },
    ("", "secrets"): {"type": ("type",)},
    ("", "namespaces"): {"status.phase": ("status", "phase")},
    ("", "nodes"): {"spec.unschedulable": ("spec", "unschedulable")},
    ("", "replicationcontrollers"): {"status.replicas": ("status", "replicas")},
    ("apps", "replicasets"): {"status.replicas": ("status", "replicas")},
    ("batch", "jobs"): {"status.successful": ("status", "succeeded")},
    ("certificates.k8s.io", "certificatesigningrequests"): {"spec.signerName": ("spec", "signerName")},
}


def now_rfc3339(at: datetime | None = None) -> str:
    """A Kubernetes ``Time``: RFC 3339, UTC, whole seconds."""
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Event:
    """One change: ``type`` ADDED/MODIFIED/DELETED, the new object (last state for DELETED), the old one."""

    rv: int
    storage_key: tuple[str, str]
    type: str
    obj: Obj
    old: Obj | None = None

    namespace: str = field(init=False)

    def __post_init__(self) -> None:
        self.namespace = str(self.obj.get("metadata", {}).get("namespace", ""))


def _event_rv(event: Event) -> int:
    return event.rv


@dataclass(eq=False)
class Watcher:
    """A registered watch: events for one storage key (and namespace) are queued for it."""

    storage_key: tuple[str, str]
    namespace: str
    events: queue.SimpleQueue[Event | None] = field(default_factory=queue.SimpleQueue)

    def wants(self, event: Event) -> bool:
        return event.storage_key == self.storage_key and (not self.namespace or event.namespace == self.namespace)


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def _dig(obj: Any, path: Iterable[str]) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _selector_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def selectable_fields(rt: ResourceType, obj: Obj) -> dict[str, str]:
    """The field-selector values of an object."""
    meta = obj.get("metadata") or {}
    fields = {"metadata.name": str(meta.get("name", ""))}
    if rt.namespaced:
        fields["metadata.namespace"] = str(meta.get("namespace", ""))
    for name, path in FIELD_PATHS.get(rt.storage_key, {}).items():
        fields[name] = _selector_value(_dig(obj, path))
    return fields


def check_field_selector(rt: ResourceType, selector: FieldSelector) -> None:
    allowed = {"metadata.name", "metadata.namespace", *FIELD_PATHS.get(rt.storage_key, {})}
    for name in sorted(selector.fields):
        if name not in allowed:
            raise ApiError.bad_request(f'field label not supported: {name}')


def matches(rt: ResourceType, obj: Obj | None, labels: LabelSelector, fields: FieldSelector) -> bool:
    if obj is None:
        return False
    if not labels.empty and not labels.matches((obj.get("metadata") or {}).get("labels") or {}):
        return False
    return fields.empty or fields.matches(selectable_fields(rt, obj))


def normalize(rt: ResourceType, doc: Obj) -> Obj:
    """The object as the server stores it: through the typed model, unknown fields dropped."""
    if rt.custom:
        return normalize_custom(rt, doc)
    cls = rt.model
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
    try:
        model = cls._from_json_dict(body, rt.kind)
        out = decode(encode(model, PROTOBUF), PROTOBUF, into=cls).to_dict()
    except (DecodeError, EncodeError) as exc:
        raise ApiError.bad_request(f"error decoding {rt.kind}: {exc}") from None
    out["apiVersion"] = rt.api_version
    out["kind"] = rt.kind
    return out


def schema_of(rt: ResourceType) -> Any:
    """The patch/field-set schema of a resource's objects."""
    return CustomSchema() if rt.custom else schema_for(rt.model)


def encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApiError.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                   "(version meta.k8s.io/v1)") from None


class Store:
    """In-memory objects of every built-in resource, with watches."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.lock = threading.RLock()
        self.rv = 1
        self.compacted = 0
        self.data: dict[tuple[str, str], dict[Key, Obj]] = {}
        self.log: list[Event] = []
        self.watchers: set[Watcher] = set()
        self.timers: list[threading.Timer] = []
        self.gc = GarbageCollector(self)
        ns = resources.get("", "v1", "namespaces")
        assert ns is not None
        for name in SYSTEM_NAMESPACES:
            self.create(ns, "", {"metadata": {"name": name}}, manager="kube-apiserver")

    # ------------------------------------------------------------------ internals

    def _bucket(self, rt: ResourceType) -> dict[Key, Obj]:
        return self.data.setdefault(rt.storage_key, {})

    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _emit(self, rt: ResourceType, type_: str, obj: Obj, old: Obj | None = None) -> None:
        event = Event(int(obj["metadata"]["resourceVersion"]), rt.storage_key, type_, obj, old)
        self.log.append(event)
        if len(self.log) > MAX_LOG:
            dropped = self.log[: len(self.log) - MAX_LOG]
            del self.log[: len(dropped)]
            self.compacted = max(self.compacted, dropped[-1].rv)
        for w in list(self.watchers):
            if w.wants(event):
                w.events.put(event)
        if rt.storage_key == CRD_KEY:
            self._crd_changed(type_, obj)
        self.gc.observe(rt, type_, obj, old)

    def _crd_changed(self, type_: str, crd: Obj) -> None:
        """Serve (or stop serving) a CRD's resources; deleting it deletes its objects."""
        spec = crd.get("spec") or {}
        group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
        if type_ == "DELETED":
            old = self.resources.preferred(group, plural)
            if old is not None and old.custom:
                for obj in list(self._bucket(old).values()):
                    self._remove(old, obj, copy.deepcopy(obj))
                self.data.pop(old.storage_key, None)
                for w in list(self.watchers):
                    if w.storage_key == old.storage_key:
                        w.events.put(None)
                        self.watchers.discard(w)
            self.resources.set_custom(group, plural, [])
        else:
            self.resources.set_custom(group, plural, crd_types(crd))

    def _key(self, rt: ResourceType, namespace: str, name: str) -> Key:
        return (namespace if rt.namespaced else "", name)

    def _check_namespace(self, rt: ResourceType, namespace: str) -> None:
        if rt.namespaced and (("", namespace) not in self.data.get(("", "namespaces"), {})):
            raise ApiError.not_found(None, namespace, "namespaces")

    def served(self, rt: ResourceType, obj: Obj) -> Obj:
        """A private deep copy of a stored object, as ``rt``'s version serves it; the caller may edit it."""
        out: Obj = _json_copy(obj)  # a JSON-only deep copy, several times faster than copy.deepcopy
        out["apiVersion"] = rt.api_version
        return out

    @staticmethod
    def shared(rt: ResourceType, obj: Obj) -> Obj:
        """A stored object as ``rt``'s version serves it, sharing everything (or all but the top level): read only."""
        api_version = rt.api_version
        return obj if obj.get("apiVersion") == api_version else {**obj, "apiVersion": api_version}

    # ------------------------------------------------------------------ reads

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self._bucket(rt).get(self._key(rt, namespace, name))
            if obj is None:
                raise ApiError.not_found(rt, name)
            return self.served(rt, obj)

    def list_objects(self, rt: ResourceType, namespace: str, labels: LabelSelector, fields: FieldSelector,
             limit: int = 0, cont: str = "") -> tuple[list[Obj], str, str, int | None]:
        """(items, list resourceVersion, continue token, remainingItemCount); items are read only."""
        check_field_selector(rt, fields)
        with self.lock:
            list_rv, start = self.rv, ""
            if cont:
                list_rv, start = decode_continue(cont)
                if list_rv < self.compacted:
                    fresh = encode_continue(self.rv, start)
                    raise ApiError(410, "Expired", "The provided continue parameter is too old to display a "
                                   "consistent list result. You can start a new list without the continue "
                                   "parameter, or use the continue token in this response to retrieve the "
                                   "remainder of the results. Continuing with the provided token results in an "
                                   "inconsistent list - objects that were created, modified, or deleted between "
                                   "the time the first chunk was returned and now may show up in the list.",
                                   list_continue=fresh)
            keys = sorted(k for k in self._bucket(rt) if not namespace or k[0] == namespace)
            keys = [k for k in keys if f"{k[0]}/{k[1]}" > start] if start else keys
            items: list[Obj] = []
            token, remaining = "", None
            for i, k in enumerate(keys):
                obj = self._bucket(rt)[k]
                if not matches(rt, obj, labels, fields):
                    continue
                if limit and len(items) == limit:
                    token = encode_continue(list_rv, f"{items[-1]['metadata'].get('namespace', '')}/"
                                                     f"{items[-1]['metadata']['name']}")
                    if labels.empty and fields.empty:
                        remaining = len(keys) - i
                    break
                items.append(self.shared(rt, obj))
            return items, str(list_rv), token, remaining

    # ------------------------------------------------------------------ writes

    def create(self, rt: ResourceType, namespace: str, body: Obj, *, manager: str = "", dry_run: bool = False,
               managed_fields: list[Any] | None = None) -> Obj:
        """Store a new object; ``managed_fields`` (from server-side apply) replace the recorded ones."""
        obj = normalize(rt, body)
        meta = _meta(obj)
        if rt.storage_key == CRD_KEY:
            validate_crd(obj, rt)
        with self.lock:
            if rt.namespaced:
                if meta.get("namespace") not in (None, "", namespace):
                    raise ApiError.bad_request("the namespace of the provided object does not match the namespace "
                                               "sent on the request")
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            if not meta.get("name"):
                prefix = meta.get("generateName")
                if not prefix:
                    raise ApiError.invalid(rt, "", [("FieldValueRequired", "metadata.name",
                                                     "name or generateName is required")])
                while True:
                    meta["name"] = prefix + uuid.uuid4().hex[:5]
                    if self._key(rt, namespace, meta["name"]) not in self._bucket(rt):
                        break
            name = meta["name"]
            self._check_namespace(rt, namespace)
            key = self._key(rt, namespace, name)
            if key in self._bucket(rt):
                details: dict[str, Any] = {"name": name, "kind": rt.plural}
                if rt.group:
                    details["group"] = rt.group
                qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
                raise ApiError(409, "AlreadyExists", f'{qualified} "{name}" already exists', details)
            for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
                meta.pop(k, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if rt.has_spec:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            if rt.has_status:
                obj.pop("status", None)  # a reset field: never owned through the main resource
            if managed_fields:
                meta["managedFields"] = managed_fields
            elif manager and "managedFields" not in meta:
                self._record(rt, None, obj, manager)
            self._defaults(rt, obj)
            if dry_run:
                meta["resourceVersion"] = str(self.rv)
                return self.served(rt, obj)
            meta["resourceVersion"] = str(self._next_rv())
            self._bucket(rt)[key] = obj
            self._emit(rt, "ADDED", obj)
            return self.served(rt, obj)

    def _defaults(self, rt: ResourceType, obj: Obj) -> None:
        if rt.has_status:
            obj.pop("status", None)
        if rt.storage_key == ("", "pods"):
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif rt.storage_key == CRD_KEY:
            obj["status"] = crd_status(obj)
        elif rt.storage_key == ("", "namespaces"):
            meta = obj["metadata"]
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}

    def _record(self, rt: ResourceType, old: Obj | None, new: Obj, manager: str, subresource: str = "") -> None:
        try:
            managed = update_managed_fields(old, new, manager, api_version=rt.api_version, subresource=subresource,
                                            schema=schema_of(rt), now=now_rfc3339())
        except ManagedFieldsError:
            return
        if managed:
            new["metadata"]["managedFields"] = managed
        else:
            new["metadata"].pop("managedFields", None)

    def update(self, rt: ResourceType, namespace: str, name: str, body: Obj, *, subresource: str = "",
               manager: str = "", dry_run: bool = False) -> Obj:
        new = normalize(rt, body)
        meta = _meta(new)
        if meta.get("name") not in (None, name):
            raise ApiError.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on "
                                       f"the URL ({name})")
        with self.lock:
            old = self._bucket(rt).get(self._key(rt, namespace, name))
            if old is None:
                raise ApiError.not_found(rt, name)
            rv = meta.get("resourceVersion")
            if not rv:
                raise ApiError.invalid(rt, name, [("FieldValueInvalid", "metadata.resourceVersion",
                                                   "Invalid value: 0x0: must be specified for an update")])
            return self._write(rt, old, new, subresource=subresource, manager=manager, dry_run=dry_run)

    def _write(self, rt: ResourceType, old: Obj, new: Obj, *, subresource: str, manager: str, dry_run: bool,
               managed_done: bool = False) -> Obj:
        """Store ``new`` over ``old`` with the metadata rules of an update; caller holds the lock."""
        meta, old_meta = _meta(new), old["metadata"]
        name = old_meta["name"]
        rv = meta.get("resourceVersion")
        if rv and rv != old_meta["resourceVersion"]:
            qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified} "{name}": the object has '
                           "been modified; please apply your changes to the latest version and try again",
                           {"name": name, "kind": rt.plural, **({"group": rt.group} if rt.group else {})})
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        if rt.has_status:
            if subresource == "status":
                kept = {k: copy.deepcopy(v) for k, v in old.items() if k != "status"}
                kept_meta = kept["metadata"]
                kept["status"] = new.get("status")
                if kept["status"] is None:
                    kept.pop("status")
                if "managedFields" in meta:
                    kept_meta["managedFields"] = meta["managedFields"]
                new, meta = kept, kept_meta
            elif "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace",
                  "name"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        if rt.storage_key == CRD_KEY and subresource != "status":
            validate_crd(new, rt)
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
            if added:
                raise ApiError.invalid(rt, name, [("FieldValueForbidden", "metadata.finalizers",
                                                   "Forbidden: no new finalizers can be added if the object is "
                                                   "being deleted")])
        if rt.has_spec:
            generation = int(old_meta.get("generation") or 1)
            if not json_equal(new.get("spec"), old.get("spec")):
                generation += 1
            meta["generation"] = generation
        else:
            meta.pop("generation", None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if manager and not managed_done:
            meta.pop("managedFields", None)
            meta["managedFields"] = copy.deepcopy(old_meta.get("managedFields", []))
            self._record(rt, old, new, manager, subresource)
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        if json_equal(_without_times(new), _without_times(old)):
            return self.served(rt, old)
        if dry_run:
            return self.served(rt, new)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not self._grace_pending(old):
            return self._remove(rt, old, new)
        meta["resourceVersion"] = str(self._next_rv())
        self._bucket(rt)[self._key(rt, meta.get("namespace", ""), name)] = new
        self._emit(rt, "MODIFIED", new, old)
        return self.served(rt, new)

    def _grace_pending(self, obj: Obj) -> bool:
        meta = obj["metadata"]
        return bool(meta.get("deletionGracePeriodSeconds")) and meta.get("deletionTimestamp", "") > now_rfc3339()

    def patch(self, rt: ResourceType, namespace: str, name: str, patch_type: str, body: bytes, *,
              subresource: str = "", manager: str = "", force: bool = False, dry_run: bool = False) -> Obj:
        from k8spb._codec._document import load_json, load_yaml_documents

        try:
            if patch_type == "apply":
                docs = load_yaml_documents(body)
                if len(docs) != 1:
                    raise ApiError.bad_request("apply patch must hold exactly one object")
                patch: Any = docs[0]
            else:
                patch = load_json(body)
        except DecodeError as exc:
            raise ApiError.bad_request(str(exc)) from None
        schema = schema_of(rt)
        with self.lock:
            old = self._bucket(rt).get(self._key(rt, namespace, name))
            if patch_type == "apply":
                return self._apply(rt, namespace, name, old, patch, manager, force, subresource, dry_run)
            if old is None:
                raise ApiError.not_found(rt, name)
            current = self.served(rt, old)
            try:
                if patch_type == "json":
                    result = apply_json_patch(current, patch)
                elif patch_type == "merge":
                    result = apply_merge_patch(current, patch)
                else:
                    result = apply_strategic_merge_patch(current, patch, schema)
            except PatchError as exc:
                reason = {400: "BadRequest", 409: "Conflict", 413: "RequestEntityTooLarge", 422: "Invalid"}
                raise ApiError(exc.status_code, reason.get(exc.status_code, "InternalError"), str(exc)) from None
            if not isinstance(result, dict):
                raise ApiError.bad_request("the patch did not produce an object")
            sets_rv = isinstance(patch, dict) and "resourceVersion" in (patch.get("metadata") or {})
            same_rv = _meta(result).get("resourceVersion") == old["metadata"]["resourceVersion"]
            if not sets_rv and (patch_type != "json" or same_rv):
                _meta(result).pop("resourceVersion", None)
            new = normalize(rt, result)
            return self._write(rt, old, new, subresource=subresource, manager=manager, dry_run=dry_run)

    def _apply(self, rt: ResourceType, namespace: str, name: str, old: Obj | None, patch: Any, manager: str,
               force: bool, subresource: str, dry_run: bool) -> Obj:
        if not isinstance(patch, dict):
            raise ApiError.bad_request("apply patch must be an object")
        if not manager:
            raise ApiError.bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                                       "is required for apply patch")
        meta = patch.get("metadata") or {}
        if patch.get("kind") not in (None, rt.kind) or patch.get("apiVersion") not in (None, rt.api_version):
            raise ApiError.bad_request(f"the API version in the data ({patch.get('apiVersion')}) does not match "
                                       f"the expected API version ({rt.api_version})")
        if meta.get("name") not in (None, name):
            raise ApiError.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on "
                                       f"the URL ({name})")
        applied = normalize(rt, patch)
        if rt.namespaced:
            applied["metadata"]["namespace"] = namespace
        applied["metadata"]["name"] = name
        schema = schema_of(rt)
        ignored = FieldSet([("f:status",)]) if rt.has_status and subresource != "status" else None
        if subresource == "status":
            ignored = FieldSet([("f:spec",)])
        live = self.served(rt, old) if old is not None else None
        try:
            merged, _ = apply(live, applied, manager, None, force, schema, api_version=rt.api_version,
                              subresource=subresource, now=now_rfc3339(), ignored=ignored)
        except ApplyConflict as exc:
            raise ApiError(409, "Conflict", exc.message, {"causes": exc.causes}) from None
        except ManagedFieldsError as exc:
            raise ApiError(500, "InternalError", f"failed to create typed patch object: {exc}") from None
        if old is None:
            if subresource:
                raise ApiError.not_found(rt, name)
            return self.create(rt, namespace, merged, dry_run=dry_run,
                               managed_fields=merged["metadata"].get("managedFields"))
        new = normalize(rt, merged)
        return self._write(rt, old, new, subresource=subresource, manager=manager, dry_run=dry_run,
                           managed_done=True)

    # ------------------------------------------------------------------ deletes

    def delete(self, rt: ResourceType, namespace: str, name: str, options: dict[str, Any],
               dry_run: bool = False) -> tuple[Obj, bool]:
        """Delete (or start deleting) an object; returns (object, removed now)."""
        with self.lock:
            key = self._key(rt, namespace, name)
            old = self._bucket(rt).get(key)
            if old is None:
                raise ApiError.not_found(rt, name)
            meta = old["metadata"]
            pre = options.get("preconditions") or {}
            for field_name, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                want = pre.get(field_name)
                if want and want != meta.get(field_name):
                    raise ApiError(409, "Conflict", f"Precondition failed: {label} in precondition: {want}, "
                                   f"{label} in object meta: {meta.get(field_name)}",
                                   {"name": name, "kind": rt.plural})
            new = copy.deepcopy(old)
            new_meta = new["metadata"]
            finalizers_changed = _gc_finalizers(new_meta, options)
            if dry_run:
                return self.served(rt, old), False
            if rt.storage_key == ("", "namespaces"):
                self._delete_namespace_contents(name)
            grace = options.get("gracePeriodSeconds")
            pending_grace = (rt.storage_key == ("", "pods") and (grace is None or grace > 0)
                             and bool(_dig(old, ("spec", "nodeName"))))
            if pending_grace and not new_meta.get("deletionTimestamp"):
                seconds = int(grace if grace is not None else _dig(old, ("spec", "terminationGracePeriodSeconds"))
                              or 30)
                new_meta["deletionTimestamp"] = now_rfc3339(datetime.now(UTC) + timedelta(seconds=seconds))
                new_meta["deletionGracePeriodSeconds"] = seconds
                self._schedule(seconds, lambda: self._finish_grace(rt, key, new_meta["uid"]))
            if new_meta.get("finalizers") or pending_grace:
                if meta.get("deletionTimestamp") and not finalizers_changed:
                    return self.served(rt, old), False
                if not meta.get("deletionTimestamp") and int(meta.get("generation") or 0) > 0:
                    new_meta["generation"] = int(meta["generation"]) + 1  # kube's markAsDeleting
                new_meta.setdefault("deletionTimestamp", now_rfc3339())
                new_meta.setdefault("deletionGracePeriodSeconds", 0)
                new_meta["resourceVersion"] = str(self._next_rv())
                self._bucket(rt)[key] = new
                self._emit(rt, "MODIFIED", new, old)
                return self.served(rt, new), False
            return self._remove(rt, old, new), True

    def _remove(self, rt: ResourceType, old: Obj, new: Obj) -> Obj:
        meta = new["metadata"]
        meta["resourceVersion"] = str(self._next_rv())
        self._bucket(rt).pop(self._key(rt, meta.get("namespace", ""), meta["name"]), None)
        self._emit(rt, "DELETED", new, old)
        return self.served(rt, new)

    def _schedule(self, seconds: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        self.timers.append(timer)
        timer.start()

    def _finish_grace(self, rt: ResourceType, key: Key, uid: str) -> None:
        with self.lock:
            obj = self._bucket(rt).get(key)
            if obj is None or obj["metadata"].get("uid") != uid or obj["metadata"].get("finalizers"):
                return
            self._remove(rt, obj, copy.deepcopy(obj))

    def _delete_namespace_contents(self, namespace: str) -> None:
        for rt in self._storage_types():
            if not rt.namespaced:
                continue
            for key, obj in sorted(self._bucket(rt).items()):
                if key[0] == namespace and self._bucket(rt).get(key) is obj:  # not already collected
                    self._remove(rt, obj, copy.deepcopy(obj))

    def _storage_types(self) -> list[ResourceType]:
        seen: dict[tuple[str, str], ResourceType] = {}
        for (group, _v, plural) in self.resources.by_gvr:
            if (group, plural) in self.data and (group, plural) not in seen:
                rt = self.resources.preferred(group, plural)
                if rt is not None:
                    seen[(group, plural)] = rt
        return list(seen.values())

    def delete_collection(self, rt: ResourceType, namespace: str, labels: LabelSelector, fields: FieldSelector,
                          options: dict[str, Any], dry_run: bool = False) -> list[Obj]:
        with self.lock:
            items, _, _, _ = self.list_objects(rt, namespace, labels, fields)
            out = []
            for item in items:
                meta = item["metadata"]
                obj, _ = self.delete(rt, meta.get("namespace", ""), meta["name"], options, dry_run)
                out.append(obj)
            return out

    # ------------------------------------------------------------------ watch and faults

    def watch(self, rt: ResourceType, namespace: str, since: int | None) -> tuple[Watcher, list[Event], int]:
        """Register a watcher; returns it, the logged events after ``since`` and the current RV.

        ``since`` None means "no replay" (the caller sends the current state itself).  Raises
        ApiError 410 when ``since`` is older than the compaction point.
        """
        with self.lock:
            if since is not None and since < self.compacted:
                raise ApiError(410, "Expired", f"too old resource version: {since} ({self.compacted + 1})")
            w = Watcher(rt.storage_key, namespace if rt.namespaced else "")
            replay: list[Event] = []
            if since is not None:  # the log is in resourceVersion order
                start = bisect.bisect_right(self.log, since, key=_event_rv)
                replay = [e for e in itertools.islice(self.log, start, None) if w.wants(e)]
            self.watchers.add(w)
            return w, replay, self.rv

    def snapshot(self, rt: ResourceType, namespace: str) -> tuple[list[Obj], int]:
        """Every object of ``rt`` (in ``namespace``), read only, and the current resourceVersion."""
        with self.lock:
            keys = sorted(k for k in self._bucket(rt) if not namespace or k[0] == namespace)
            return [self.shared(rt, self._bucket(rt)[k]) for k in keys], self.rv

    def unwatch(self, w: Watcher) -> None:
        with self.lock:
            self.watchers.discard(w)

    def drop_watches(self, plural: str | None = None, group: str | None = None,
                     namespace: str | None = None) -> None:
        """End the watches of ``plural`` (in ``group``, if given) and ``namespace``; None: any."""
        with self.lock:
            for w in list(self.watchers):
                if plural is not None and (w.storage_key[1] != plural or (group and w.storage_key[0] != group)):
                    continue
                if namespace is not None and w.namespace != namespace:
                    continue
                w.events.put(None)
                self.watchers.discard(w)

    def compact(self) -> int:
        with self.lock:
            self.compacted = self.rv
            self.log.clear()
            return self.compacted

    def close(self) -> None:
        for t in self.timers:
            t.cancel()
        self.drop_watches()


def _gc_finalizers(meta: dict[str, Any], options: dict[str, Any]) -> bool:
    """Set the ``orphan``/``foregroundDeletion`` finalizers a delete asks for (kube's
    deletionFinalizersForGarbageCollection); whether they changed."""
    current = list(meta.get("finalizers") or ())
    orphan_dependents, policy = options.get("orphanDependents"), options.get("propagationPolicy")
    if orphan_dependents is not None:
        orphan, foreground = bool(orphan_dependents), False
    elif policy:
        orphan, foreground = policy == "Orphan", policy == "Foreground"
    else:  # the object's own finalizers say, else the default (Background) applies
        gc_finalizers = [f for f in current if f in (ORPHAN, FOREGROUND)]
        orphan = gc_finalizers[:1] == [ORPHAN]
        foreground = FOREGROUND in gc_finalizers
    wanted = [f for f in current if f not in (ORPHAN, FOREGROUND)]
    wanted += [ORPHAN] * orphan + [FOREGROUND] * foreground
    if set(wanted) == set(current):
        return False
    if wanted:
        meta["finalizers"] = wanted
    else:
        meta.pop("finalizers", None)
    return True


def _without_times(obj: Obj) -> Obj:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("resourceVersion", None)
    mf = meta.get("managedFields")
    if isinstance(mf, list):
        meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in mf if isinstance(e, dict)]
    out["metadata"] = meta
    return out


def parse_selectors(label: str, field_text: str) -> tuple[LabelSelector, FieldSelector]:
    from k8spb.testing._selectors import parse_field_selector, parse_label_selector

    try:
        return parse_label_selector(label), parse_field_selector(field_text)
    except SelectorError as exc:
        raise ApiError.bad_request(str(exc)) from None
