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
from k8spb.testing._defaults import ServiceIPs, admit, keep_allocations, qos_class, set_defaults
from k8spb.testing._fieldsets import (
    ApplyConflict,
    FieldSet,
    ManagedFieldsError,
    apply,
    compare_fields,
    to_field_set,
    update_managed_fields,
)
from k8spb.testing._fieldvalidation import strip_unknown, unknown_field_error
from k8spb.testing._gc import FOREGROUND, ORPHAN, GarbageCollector
from k8spb.testing._modelschema import schema_for
from k8spb.testing._namespaces import NamespaceController, check_deletable, check_not_terminating
from k8spb.testing._patch import (
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    json_equal,
)
from k8spb.testing._resources import ApiError, Resources, ResourceType
from k8spb.testing._selectors import FieldSelector, LabelSelector, SelectorError
from k8spb.testing._validation import validate_metadata

__all__ = ["Event", "Store", "Watcher", "now_rfc3339"]

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)

MAX_LOG = 100_000
"""Events the log keeps at most (watches from an older resourceVersion get 410)."""
MAX_LOG_BYTES = 256 << 20
"""JSON bytes of the logged objects the log keeps at most (objects of 10 KiB would reach 1 GiB by count)."""
_json_size = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
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
    size: int = 0
    """The JSON size of ``obj``: what the log is capped by."""

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
    wake: Callable[[], None] | None = None
    """Called after each item is queued (by the thread that writes the watch's stream)."""

    def push(self, item: Event | None) -> None:
        """Queue an event (None: end the watch)."""
        self.events.put(item)
        if self.wake is not None:
            self.wake()

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


_BASE64_MAPS = {("", "secrets"): "data", ("", "configmaps"): "binaryData"}


def normalize(rt: ResourceType, doc: Obj, validation: str = "Ignore", warnings: list[str] | None = None) -> Obj:
    """The object as the server stores it: through the typed model, unknown fields dropped as
    ``validation`` says (``Strict``: 400; ``Warn``: a message added to ``warnings``)."""
    if rt.custom:
        return normalize_custom(rt, doc)
    cls = rt.model
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
    body, unknown = strip_unknown(cls, body)
    if unknown:
        if validation == "Strict":
            raise unknown_field_error(unknown)
        if validation == "Warn" and warnings is not None:
            warnings.extend(f'unknown field "{path}"' for path in unknown)
    field = _BASE64_MAPS.get(rt.storage_key)
    if field and isinstance(body.get(field), dict):  # Go's base64 decoder skips line breaks
        body[field] = {k: v.replace("\r", "").replace("\n", "") if isinstance(v, str) else v
                       for k, v in body[field].items()}
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
    """(resourceVersion, start key) of a continue token; 400 for anything but a positive int64 and a string."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, start = data["rv"], data["start"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        rv, start = None, None
    if type(rv) is not int or not 0 < rv < 1 << 63 or not isinstance(start, str):
        raise ApiError.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                   "(version meta.k8s.io/v1)")
    return rv, start


class Store:
    """In-memory objects of every built-in resource, with watches."""

    def __init__(self, resources: Resources, *, max_log: int = MAX_LOG, max_log_bytes: int = MAX_LOG_BYTES,
                 root_ca: str = "") -> None:
        self.resources = resources
        self.lock = threading.RLock()
        self.rv = 1
        self.compacted = 0
        self.data: dict[tuple[str, str], dict[Key, Obj]] = {}
        self.log: list[Event] = []
        self.log_bytes = 0
        self.max_log, self.max_log_bytes = max_log, max_log_bytes
        self.watchers: set[Watcher] = set()
        self.timers: list[threading.Timer] = []
        self.gc = GarbageCollector(self)
        self.namespaces = NamespaceController(self)
        self.service_ips = ServiceIPs()
        self.root_ca = root_ca
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
        event = Event(int(obj["metadata"]["resourceVersion"]), rt.storage_key, type_, obj, old,
                      len(_json_size(obj)))
        self.log.append(event)
        self.log_bytes += event.size
        if len(self.log) > self.max_log or self.log_bytes > self.max_log_bytes:
            self._trim_log()
        for w in list(self.watchers):
            if w.wants(event):
                w.push(event)
        if rt.storage_key == CRD_KEY:
            self._crd_changed(type_, obj)
        self.gc.observe(rt, type_, obj, old)
        self.namespaces.observe(rt, type_, obj)

    def _trim_log(self) -> None:
        """Drop the oldest events down to 90% of both caps (at once, so the list is not shifted per write)."""
        count_goal, bytes_goal = self.max_log * 9 // 10, self.max_log_bytes * 9 // 10
        drop, size = 0, self.log_bytes
        while drop < len(self.log) and (len(self.log) - drop > count_goal or size > bytes_goal):
            size -= self.log[drop].size
            drop += 1
        if drop:
            self.compacted = max(self.compacted, self.log[drop - 1].rv)
            del self.log[:drop]
            self.log_bytes = size

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
                        w.push(None)
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
               managed_fields: list[Any] | None = None, validation: str = "Ignore",
               warnings: list[str] | None = None) -> Obj:
        """Store a new object; ``managed_fields`` (from server-side apply) replace the recorded ones.

        Defaults are set before the managed fields are recorded (the writer owns them), admission's
        additions after (nobody owns them), as kube-apiserver does.
        """
        obj = normalize(rt, body, validation, warnings)
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
                                                     "Required value: name or generateName is required")])
                while True:
                    meta["name"] = prefix + uuid.uuid4().hex[:5]
                    if self._key(rt, namespace, meta["name"]) not in self._bucket(rt):
                        break
            name = meta["name"]
            validate_metadata(rt, obj)
            self._check_namespace(rt, namespace)
            if rt.namespaced:
                check_not_terminating(self, rt, namespace, name)
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
            if not rt.custom:
                set_defaults(rt.storage_key, obj)
            if managed_fields:
                meta["managedFields"] = managed_fields
            elif manager and "managedFields" not in meta:
                self._record(rt, None, obj, manager)
            self._admit(rt, obj)
            if dry_run:  # never stored: no resourceVersion
                return self.served(rt, obj)
            meta["resourceVersion"] = str(self._next_rv())
            self._bucket(rt)[key] = obj
            self._emit(rt, "ADDED", obj)
            if rt.storage_key == ("", "namespaces"):
                self._namespace_added(name)
            return self.served(rt, obj)

    def _admit(self, rt: ResourceType, obj: Obj) -> None:
        """What admission plugins and registry strategies add to a new object (owned by nobody)."""
        if not rt.custom:
            admit(rt.storage_key, obj, ips=self.service_ips, service_accounts=self._service_account)
            if rt.has_status:
                obj.setdefault("status", {})  # Go writes an empty status struct, never omits it
        if rt.storage_key == ("", "pods"):
            obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}
        elif rt.storage_key == CRD_KEY:
            obj["status"] = crd_status(obj)
        elif rt.storage_key == ("", "namespaces"):
            meta = obj["metadata"]
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}

    def _service_account(self, namespace: str, name: str) -> Obj | None:
        return self.data.get(("", "serviceaccounts"), {}).get((namespace, name))

    def _namespace_added(self, namespace: str) -> None:
        """What kube-controller-manager creates in every new namespace: its ``default`` ServiceAccount and
        the ``kube-root-ca.crt`` ConfigMap (with the cluster's CA, when it has one)."""
        accounts, configmaps = self.resources.get("", "v1", "serviceaccounts"), self.resources.get("", "v1",
                                                                                                  "configmaps")
        assert accounts is not None and configmaps is not None
        self.create(accounts, namespace, {"metadata": {"name": "default"}}, manager="kube-controller-manager")
        self.create(configmaps, namespace, {"metadata": {"name": "kube-root-ca.crt"},
                                            "data": {"ca.crt": self.root_ca}}, manager="kube-controller-manager")

    def _record(self, rt: ResourceType, old: Obj | None, new: Obj, manager: str, subresource: str = "",
                managed_fields: list[Any] | None = None) -> None:
        ignored = None  # the fields the endpoint resets are never owned through it
        if rt.has_status:
            ignored = FieldSet([("f:spec",)]) if subresource == "status" else FieldSet([("f:status",)])
        try:
            managed = update_managed_fields(old, new, manager, managed_fields=managed_fields,
                                            api_version=rt.api_version, subresource=subresource,
                                            schema=schema_of(rt), now=now_rfc3339(), ignored=ignored)
        except ManagedFieldsError:
            return
        if managed:
            new["metadata"]["managedFields"] = managed
        else:
            new["metadata"].pop("managedFields", None)

    def update(self, rt: ResourceType, namespace: str, name: str, body: Obj, *, subresource: str = "",
               manager: str = "", dry_run: bool = False, validation: str = "Ignore",
               warnings: list[str] | None = None) -> Obj:
        new = normalize(rt, body, validation, warnings)
        meta = _meta(new)
        if meta.get("name") not in (None, name):
            raise ApiError.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on "
                                       f"the URL ({name})")
        with self.lock:
            old = self._bucket(rt).get(self._key(rt, namespace, name))
            if old is None:
                raise ApiError.not_found(rt, name)
            rv = meta.get("resourceVersion")
            if not rv and not rt.unconditional_update:
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
        if not rt.custom:
            set_defaults(rt.storage_key, new)
            if rt.storage_key == ("", "services"):
                keep_allocations(new, old)
        validate_metadata(rt, new, check_name=False)
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
            sent = meta.pop("managedFields", None)
            base = old_meta.get("managedFields", [])
            if sent and sent != base and not subresource and _decodable(sent):  # a client may set them outright
                base = sent
            meta["managedFields"] = copy.deepcopy(base)
            self._record(rt, old, new, manager, subresource, managed_fields=base)
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        if json_equal(_without_times(new), _without_times(old)):
            return self.served(rt, old)
        if dry_run:
            return self.served(rt, new)
        if (meta.get("deletionTimestamp") and not meta.get("finalizers") and not self._grace_pending(old)
                and rt.storage_key != ("", "namespaces")):  # a namespace goes when its controller says
            return self._remove(rt, old, new)
        meta["resourceVersion"] = str(self._next_rv())
        self._bucket(rt)[self._key(rt, meta.get("namespace", ""), name)] = new
        self._emit(rt, "MODIFIED", new, old)
        return self.served(rt, new)

    def _grace_pending(self, obj: Obj) -> bool:
        meta = obj["metadata"]
        return bool(meta.get("deletionGracePeriodSeconds")) and meta.get("deletionTimestamp", "") > now_rfc3339()

    def patch(self, rt: ResourceType, namespace: str, name: str, patch_type: str, body: bytes, *,
              subresource: str = "", manager: str = "", force: bool = False, dry_run: bool = False,
              validation: str = "Ignore", warnings: list[str] | None = None) -> Obj:
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
            new = normalize(rt, result, validation, warnings)
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
        if not rt.custom:
            _, unknown = strip_unknown(rt.model, patch, apply=True)
            if unknown:
                group = f"{rt.group}/{rt.version}" if rt.group else f"/{rt.version}"
                raise ApiError(500, "InternalError", f"failed to create typed patch object ({group}, Kind={rt.kind}; "
                               f"{namespace}/{name}): {unknown[0]}: field not declared in schema")
        applied = normalize(rt, patch)
        if rt.namespaced:
            applied["metadata"]["namespace"] = namespace
        applied["metadata"]["name"] = name
        schema = schema_of(rt)
        ignored = FieldSet([("f:status",)]) if rt.has_status and subresource != "status" else None
        if subresource == "status":
            ignored = FieldSet([("f:spec",)])
        live = self.served(rt, old) if old is not None else None
        takeover = manager == "kubectl" and live is not None and bool(_last_applied(live))
        try:
            merged, _ = apply(live, applied, manager, None, force, schema, api_version=rt.api_version,
                              subresource=subresource, now=now_rfc3339(), ignored=ignored,
                              allowed=_last_applied_fields(live, schema) if takeover and live is not None else None)
        except ApplyConflict as exc:
            raise ApiError(409, "Conflict", exc.message, {"causes": exc.causes}) from None
        except ManagedFieldsError as exc:
            raise ApiError(500, "InternalError", f"failed to create typed patch object: {exc}") from None
        if takeover:  # kube's lastAppliedUpdater: kubectl's server-side apply keeps the annotation current
            annotations = merged["metadata"].setdefault("annotations", {})
            annotations[LAST_APPLIED] = _last_applied_value(patch)
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
            if rt.storage_key == ("", "namespaces"):
                check_deletable(name)
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
            if rt.storage_key == ("", "namespaces") and (old.get("spec") or {}).get("finalizers"):
                return self._terminate_namespace(rt, old, new, options), False
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
        if rt.storage_key == ("", "services"):
            self.service_ips.release(old)
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

    def _terminate_namespace(self, rt: ResourceType, old: Obj, new: Obj, options: dict[str, Any]) -> Obj:
        """The namespace storage's delete: mark it Terminating (once); its controller does the rest."""
        meta = new["metadata"]
        name = meta["name"]
        if old["metadata"].get("deletionTimestamp"):
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on namespaces "{name}": The system is '
                           "ensuring all content is removed from this namespace.  Upon completion, this namespace "
                           "will automatically be purged by the system.", {"name": name, "kind": "namespaces"})
        meta["finalizers"] = [f for f in old["metadata"].get("finalizers") or ()
                              if not (f == ORPHAN and options.get("orphanDependents") is False)]
        if not meta["finalizers"]:
            del meta["finalizers"]
        meta.pop("deletionGracePeriodSeconds", None)
        meta["deletionTimestamp"] = now_rfc3339()
        new.setdefault("status", {})["phase"] = "Terminating"
        meta["resourceVersion"] = str(self._next_rv())
        self._bucket(rt)[self._key(rt, "", name)] = new
        self._emit(rt, "MODIFIED", new, old)
        return self.served(rt, new)

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
                w.push(None)
                self.watchers.discard(w)

    def compact(self) -> int:
        with self.lock:
            self.compacted = self.rv
            self.log = []
            self.log_bytes = 0
            return self.compacted

    def close(self) -> None:
        for t in self.timers:
            t.cancel()
        self.drop_watches()


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied(obj: Obj) -> Any:
    """The object's client-side apply configuration (decoded), or None."""
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _last_applied_fields(live: Obj, schema: Any) -> FieldSet | None:
    """kube's allowedConflictsFromLastApplied: the fields of the last client-side apply that still hold
    the values it set (a server-side apply by kubectl may take those over)."""
    applied = _last_applied(live)
    if applied is None:
        return None
    try:
        fields = to_field_set(applied, schema)
        added, modified, removed = compare_fields(applied, {k: v for k, v in live.items() if k != "status"}, schema)
    except ManagedFieldsError:
        return None
    return fields - added - modified - removed


def _decodable(managed_fields: Any) -> bool:
    """Whether managed fields sent by a client can be used (kube ignores ones it cannot decode)."""
    if not isinstance(managed_fields, list):
        return False
    try:
        for entry in managed_fields:
            if not isinstance(entry, dict) or not entry.get("manager") or entry.get("fieldsType") != "FieldsV1":
                return False
            FieldSet.from_fields_v1(entry.get("fieldsV1"))
    except ManagedFieldsError:
        return False
    return True


def _last_applied_value(config: Obj) -> str:
    """kube's buildLastApplied: the applied configuration without the annotation, as Go encodes it."""
    config = _json_copy(config)
    annotations = (config.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            del config["metadata"]["annotations"]
    return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


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
