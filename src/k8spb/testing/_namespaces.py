"""Namespace lifecycle as kube-apiserver and kube-controller-manager's namespace controller run it.

Deleting a namespace marks it ``Terminating`` (``deletionTimestamp``, ``status.phase``) and answers with
it; the controller (here run by the store right after each change, through the garbage collector's
queue) deletes everything in it, reports what is left while finalizers hold content back
(``NamespaceContentRemaining`` / ``NamespaceFinalizersRemaining`` conditions), then removes the
``kubernetes`` finalizer and the namespace.  New content in a terminating namespace is refused (403),
and the system namespaces cannot be deleted.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from k8spb.testing._resources import ApiError, ResourceType

if TYPE_CHECKING:
    from k8spb.testing._store import Store

__all__ = ["NamespaceController", "check_deletable", "check_not_terminating"]

Obj = dict[str, Any]
NAMESPACES = ("", "namespaces")
UNDELETABLE = ("default", "kube-system", "kube-public")
_MANAGER = "kube-controller-manager"


def check_deletable(name: str) -> None:
    """The NamespaceLifecycle plugin's refusal to delete the system namespaces."""
    if name in UNDELETABLE:
        raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                       {"name": name, "kind": "namespaces"})


def check_not_terminating(store: Store, rt: ResourceType, namespace: str, name: str) -> None:
    """The NamespaceLifecycle plugin's refusal to create content in a terminating namespace."""
    ns = store.data.get(NAMESPACES, {}).get(("", namespace))
    if ns is not None and (ns.get("status") or {}).get("phase") == "Terminating":
        qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
        details: dict[str, Any] = {"name": name, "group": rt.group, "kind": rt.plural, "causes": [
            {"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
             "field": "metadata.namespace"}]}
        if not rt.group:
            del details["group"]
        raise ApiError(403, "Forbidden", f'{qualified} "{name}" is forbidden: unable to create new content in '
                       f"namespace {namespace} because it is being terminated", details)


def _condition(kind: str, status: str, reason: str, message: str, now: str) -> Obj:
    return {"type": kind, "status": status, "lastTransitionTime": now, "reason": reason, "message": message}


class NamespaceController:
    """Empties and then removes terminating namespaces (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def observe(self, rt: ResourceType, type_: str, obj: Obj) -> None:
        """Note one change (the store holds its lock): a namespace starting to terminate, or content of a
        terminating namespace going away, gets the namespace looked at."""
        meta = obj.get("metadata") or {}
        if rt.storage_key == NAMESPACES:
            if type_ != "DELETED" and meta.get("deletionTimestamp"):
                self.store.gc.defer(self.sync, meta.get("name", ""))
        elif type_ == "DELETED" and rt.namespaced:
            ns = self.store.data.get(NAMESPACES, {}).get(("", meta.get("namespace", "")))
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self.store.gc.defer(self.sync, ns["metadata"]["name"])

    def sync(self, name: str) -> None:
        store = self.store
        ns_rt = store.resources.get("", "v1", "namespaces")
        ns = store.data.get(NAMESPACES, {}).get(("", name))
        if ns_rt is None or ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        finalizers = list((ns.get("spec") or {}).get("finalizers") or ())
        if "kubernetes" in finalizers:
            remaining = self._delete_content(name)
            if remaining:
                self._report(ns_rt, ns, remaining)
                return
            ns = store.data[NAMESPACES][("", name)]
            new = store.served(ns_rt, ns)
            new["spec"]["finalizers"] = [f for f in finalizers if f != "kubernetes"]
            if not new["spec"]["finalizers"]:
                del new["spec"]["finalizers"]
            store._write(ns_rt, ns, new, subresource="finalize", manager="", dry_run=False)
        ns = store.data.get(NAMESPACES, {}).get(("", name))
        if ns is not None and not (ns.get("spec") or {}).get("finalizers") and not ns["metadata"].get("finalizers"):
            store._remove(ns_rt, ns, store.served(ns_rt, ns))

    def _delete_content(self, namespace: str) -> list[tuple[ResourceType, Obj]]:
        """Delete every object in the namespace (in the background, as the controller does); what is left."""
        store = self.store
        for rt in store._storage_types():
            if not rt.namespaced:
                continue
            for (ns, name), obj in sorted(store.data.get(rt.storage_key, {}).items()):
                if ns == namespace and not obj["metadata"].get("deletionTimestamp"):
                    try:
                        store.delete(rt, ns, name, {"propagationPolicy": "Background"})
                    except ApiError:
                        continue  # gone meanwhile
        return [(rt, obj) for rt in store._storage_types() if rt.namespaced
                for (ns, _), obj in sorted(store.data.get(rt.storage_key, {}).items()) if ns == namespace]

    def _conditions(self, ns: Obj, remaining: list[tuple[ResourceType, Obj]]) -> list[Obj]:
        from k8spb.testing._store import now_rfc3339

        now = now_rfc3339()
        previous = {c.get("type"): c for c in (ns.get("status") or {}).get("conditions") or ()}
        resources = Counter(f"{rt.plural}.{rt.group}" for rt, _ in remaining)
        finalizers = Counter(f for _, obj in remaining for f in obj["metadata"].get("finalizers") or ())
        wanted = [
            _condition("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered",
                       "All resources successfully discovered", now),
            _condition("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
                       "All legacy kube types successfully parsed", now),
            _condition("NamespaceDeletionContentFailure", "False", "ContentDeleted",
                       "All content successfully deleted, may be waiting on finalization", now),
            _condition("NamespaceContentRemaining", "True", "SomeResourcesRemain", "Some resources are remaining: "
                       + ", ".join(f"{r} has {n} resource instances" for r, n in sorted(resources.items())), now)
            if resources else _condition("NamespaceContentRemaining", "False", "ContentRemoved",
                                         "All content successfully removed", now),
            _condition("NamespaceFinalizersRemaining", "True", "SomeFinalizersRemain",
                       "Some content in the namespace has finalizers remaining: "
                       + ", ".join(f"{f} in {n} resource instances" for f, n in sorted(finalizers.items())), now)
            if finalizers else _condition("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers",
                                          "All content-preserving finalizers finished", now),
        ]
        for cond in wanted:  # a condition keeps its transition time while its status holds
            old = previous.get(cond["type"])
            if old is not None and old.get("status") == cond["status"]:
                cond["lastTransitionTime"] = old.get("lastTransitionTime", now)
        return wanted

    def _report(self, ns_rt: ResourceType, ns: Obj, remaining: list[tuple[ResourceType, Obj]]) -> None:
        conditions = self._conditions(ns, remaining)
        current = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                   for c in (ns.get("status") or {}).get("conditions") or ()]
        if current == [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conditions]:
            return
        new = self.store.served(ns_rt, ns)
        new.setdefault("status", {})["conditions"] = conditions
        self.store._write(ns_rt, ns, new, subresource="status", manager="", dry_run=False)
