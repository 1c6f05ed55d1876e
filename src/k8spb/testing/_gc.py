"""The garbage collector, as kube-controller-manager's runs it, driven synchronously by the store's events.

kube's collector watches every resource, keeps a graph of ownerReferences and works through two
queues; here the store tells it every change (:meth:`GarbageCollector.observe`, under the store's
lock) and it works its queue before the write that triggered it returns, so a test sees the
outcome at once but in kube's order of events:

- an object whose owners are all gone (or never existed) is deleted, in the background unless its
  own finalizers say ``orphan`` or ``foregroundDeletion``; references to missing owners are removed
  from an object that still has a live owner;
- an owner being deleted with the ``foregroundDeletion`` finalizer has its dependents deleted, and
  loses that finalizer once no dependent with ``blockOwnerDeletion`` is left (then it is removed, or
  stays until its other finalizers go);
- an owner being deleted with the ``orphan`` finalizer has its reference removed from every
  dependent, then loses that finalizer;
- an owner that merely has other finalizers still counts as an owner: its dependents stay until it
  is really gone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from k8spb.testing._resources import ResourceType

if TYPE_CHECKING:
    from k8spb.testing._store import Store

__all__ = ["FOREGROUND", "MANAGER", "ORPHAN", "GarbageCollector"]

Obj = dict[str, Any]
Item = tuple[tuple[str, str], tuple[str, str], str]  # (storage key, (namespace, name), uid)

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
MANAGER = "kube-controller-manager"  # the field manager kube derives from the collector's user agent


def _refs(obj: Obj | None) -> list[Obj]:
    if obj is None:
        return []
    refs = obj["metadata"].get("ownerReferences")
    return refs if isinstance(refs, list) else []


def _deletion_starts_with(old: Obj | None, new: Obj, finalizer: str) -> bool:
    """The object is now being deleted with ``finalizer``, and was not before (kube's transition test)."""
    meta = new["metadata"]
    if not meta.get("deletionTimestamp") or finalizer not in (meta.get("finalizers") or ()):
        return False
    if old is None:
        return True
    old_meta = old["metadata"]
    return not old_meta.get("deletionTimestamp") or finalizer not in (old_meta.get("finalizers") or ())


class GarbageCollector:
    """Cascading deletion through ownerReferences for one :class:`Store` (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dependents: dict[str, set[Item]] = {}
        """owner uid -> the objects whose ownerReferences name it."""
        self._queue: deque[Callable[[], None]] = deque()
        self._running = False
        self._kinds: tuple[int, dict[tuple[str, str], ResourceType]] = (0, {})

    # ------------------------------------------------------------------ events

    def observe(self, rt: ResourceType, type_: str, obj: Obj, old: Obj | None) -> None:
        """Note one change (the store holds its lock) and do what the collector would do about it."""
        new_refs = [] if type_ == "DELETED" else _refs(obj)
        old_refs = _refs(old) if type_ != "DELETED" else _refs(obj)
        meta = obj["metadata"]
        uid = meta.get("uid", "")
        if new_refs or old_refs:
            self._index(rt, obj, uid, old_refs, new_refs)
        queue = self._queue
        if type_ == "DELETED":
            for item in sorted(self.dependents.get(uid, ())):
                queue.append(partial(self._attempt, item))
            for ref in old_refs:
                queue.append(partial(self._check_owner, rt, obj, ref))
        else:
            if meta.get("deletionTimestamp"):
                if _deletion_starts_with(old, obj, ORPHAN):
                    queue.append(partial(self._orphan, rt, obj))
                elif _deletion_starts_with(old, obj, FOREGROUND):
                    for item in sorted(self.dependents.get(uid, ())):
                        queue.append(partial(self._attempt, item))
                    queue.append(partial(self._attempt, self._item(rt, obj)))
            if new_refs != old_refs:
                old_by_uid = {r.get("uid"): r for r in old_refs}
                new_uids = {r.get("uid") for r in new_refs}
                if any(old_by_uid.get(r.get("uid")) is None for r in new_refs):
                    queue.append(partial(self._attempt, self._item(rt, obj)))
                for ref in old_refs:  # an owner a blocking reference is gone from may be done waiting
                    if ref.get("uid") not in new_uids or not any(
                            r.get("blockOwnerDeletion") for r in new_refs if r.get("uid") == ref.get("uid")):
                        queue.append(partial(self._check_owner, rt, obj, ref))
        if queue and not self._running:
            self._running = True
            try:
                while queue:
                    queue.popleft()()
            finally:
                self._running = False
                queue.clear()

    def _index(self, rt: ResourceType, obj: Obj, uid: str, old_refs: list[Obj], new_refs: list[Obj]) -> None:
        meta = obj["metadata"]
        item = (rt.storage_key, self.store._key(rt, meta.get("namespace", ""), meta["name"]), uid)
        new_owners = {r.get("uid", "") for r in new_refs}
        for ref in old_refs:
            owner = ref.get("uid", "")
            if owner not in new_owners and owner in self.dependents:
                self.dependents[owner].discard(item)
                if not self.dependents[owner]:
                    del self.dependents[owner]
        for owner in new_owners:
            self.dependents.setdefault(owner, set()).add(item)

    def _item(self, rt: ResourceType, obj: Obj) -> Item:
        meta = obj["metadata"]
        return rt.storage_key, self.store._key(rt, meta.get("namespace", ""), meta["name"]), meta.get("uid", "")

    # ------------------------------------------------------------------ lookups

    def _live(self, item: Item) -> tuple[ResourceType, Obj] | None:
        (group, plural), key, uid = item
        rt = self.store.resources.preferred(group, plural)
        obj = self.store.data.get((group, plural), {}).get(key)
        if rt is None or obj is None or obj["metadata"].get("uid") != uid:
            return None
        return rt, obj

    def _kind(self, group: str, kind: str) -> ResourceType | None:
        """The resource serving ``kind`` in ``group`` (kube's REST mapping of an ownerReference)."""
        by_gvr = self.store.resources.by_gvr
        if self._kinds[0] != id(by_gvr):
            table: dict[tuple[str, str], ResourceType] = {}
            for (g, _, plural), rt in by_gvr.items():
                preferred = self.store.resources.preferred(g, plural)
                if preferred is not None:
                    table.setdefault((g, rt.kind), preferred)
            self._kinds = (id(by_gvr), table)
        return self._kinds[1].get((group, kind))

    def _owner(self, namespace: str, ref: Obj) -> tuple[ResourceType, Obj] | bool | None:
        """The live owner a reference names; None if it is gone (dangling); False if its kind is unknown."""
        api_version = str(ref.get("apiVersion") or "")
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        rt = self._kind(group, str(ref.get("kind") or ""))
        if rt is None:
            return False  # kube cannot map it and retries forever: the dependent is left alone
        if rt.namespaced and not namespace:
            return None  # a cluster-scoped dependent cannot have a namespaced owner
        obj = self.store.data.get(rt.storage_key, {}).get((namespace if rt.namespaced else "", ref.get("name", "")))
        if obj is None or obj["metadata"].get("uid") != ref.get("uid"):
            return None
        return rt, obj

    @staticmethod
    def _deleting_dependents(obj: Obj) -> bool:
        meta = obj["metadata"]
        return bool(meta.get("deletionTimestamp")) and FOREGROUND in (meta.get("finalizers") or ())

    # ------------------------------------------------------------------ actions

    def _update(self, rt: ResourceType, obj: Obj, change: Callable[[Obj], None]) -> None:
        """Write ``obj`` with ``change`` made to its metadata, as the collector's patches do."""
        new = self.store.served(rt, obj)
        meta = new["metadata"]
        change(meta)
        for name in ("ownerReferences", "finalizers"):
            if name in meta and not meta[name]:
                del meta[name]
        self.store._write(rt, obj, new, subresource="", manager=MANAGER, dry_run=False)

    def _delete(self, rt: ResourceType, obj: Obj, policy: str) -> None:
        meta = obj["metadata"]
        self.store.delete(rt, meta.get("namespace", ""), meta["name"],
                          {"propagationPolicy": policy, "preconditions": {"uid": meta.get("uid")}})

    def _attempt(self, item: Item) -> None:
        """kube's attemptToDeleteItem."""
        live = self._live(item)
        if live is None:
            return
        rt, obj = live
        meta = obj["metadata"]
        if self._deleting_dependents(obj):
            self._process_deleting_dependents(rt, obj)
            return
        if meta.get("deletionTimestamp"):
            return
        refs = _refs(obj)
        if not refs:
            return
        solid, gone = [], []
        waiting = False
        for ref in refs:
            owner = self._owner(meta.get("namespace", ""), ref)
            if owner is False:
                return
            if owner is None:
                gone.append(ref.get("uid"))
            elif isinstance(owner, tuple) and self._deleting_dependents(owner[1]):
                waiting = True
                gone.append(ref.get("uid"))
            else:
                solid.append(ref.get("uid"))
        if solid:
            if gone:
                def drop(m: Obj) -> None:
                    kept = [r for r in m.get("ownerReferences") or () if r.get("uid") not in gone]
                    m["ownerReferences"] = kept
                self._update(rt, obj, drop)
            return
        finalizers = meta.get("finalizers") or ()
        if waiting and self.dependents.get(meta.get("uid", "")):
            policy = "Foreground"
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        self._delete(rt, obj, policy)

    def _blocking(self, owner: Obj) -> list[Item]:
        uid = owner["metadata"].get("uid", "")
        out = []
        for item in sorted(self.dependents.get(uid, ())):
            live = self._live(item)
            if live is not None and any(r.get("uid") == uid and r.get("blockOwnerDeletion")
                                        for r in _refs(live[1])):
                out.append(item)
        return out

    def _process_deleting_dependents(self, rt: ResourceType, owner: Obj) -> None:
        blocking = self._blocking(owner)
        if not blocking:
            self._update(rt, owner, lambda m: m.__setitem__(
                "finalizers", [f for f in m.get("finalizers") or () if f != FOREGROUND]))
            return
        for item in blocking:
            live = self._live(item)
            if live is not None and not self._deleting_dependents(live[1]):
                self._attempt(item)

    def _check_owner(self, rt: ResourceType, dependent: Obj, ref: Obj) -> None:
        """A blocking dependent left ``ref``'s owner: if that owner waits for its dependents, look again."""
        owner = self._owner(dependent["metadata"].get("namespace", ""), ref)
        if isinstance(owner, tuple) and self._deleting_dependents(owner[1]):
            self._process_deleting_dependents(*owner)

    def _orphan(self, rt: ResourceType, owner: Obj) -> None:
        """kube's attemptToOrphanWorker: drop the owner from its dependents, then the orphan finalizer."""
        live = self._live(self._item(rt, owner))
        if live is None:
            return
        rt, owner = live
        uid = owner["metadata"].get("uid", "")
        for item in sorted(self.dependents.get(uid, ())):
            dep = self._live(item)
            if dep is not None:
                self._update(dep[0], dep[1], lambda m: m.__setitem__(
                    "ownerReferences", [r for r in m.get("ownerReferences") or () if r.get("uid") != uid]))
        self._update(rt, owner, lambda m: m.__setitem__(
            "finalizers", [f for f in m.get("finalizers") or () if f != ORPHAN]))
