"""finalizer(): run cleanup before an object goes, with the finalizer only ever added or removed by JSON
patches that check the list they change (kube-rs's semantics).

* not being deleted, without our finalizer: add it (and wait for that change to come back);
* not being deleted, with it: ``apply(obj)``;
* being deleted, with it: ``cleanup(obj)``, then remove it (the object may then go);
* being deleted, without it: nothing (other finalizers are pending).

A patch whose ``test`` fails (someone changed the finalizers meanwhile) raises, so the reconcile is
retried on fresh state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from k8spb._api import Api, AsyncApi
from k8spb._request import JsonPatch
from k8spb.runtime._controller import Action

__all__ = ["afinalizer", "finalizer"]

K = TypeVar("K")


def _plan(name: str, obj: Any) -> tuple[str, JsonPatch | None]:
    """What to do: ("apply" | "cleanup" | "wait", the patch to send after it, or first for "add")."""
    meta = obj.metadata
    if meta is None or not meta.name:
        raise ValueError(f"finalizer {name!r}: the object has no metadata.name")
    finalizers: list[str] = list(meta.finalizers or ())
    deleting = meta.deletion_timestamp is not None
    if not deleting:
        if name in finalizers:
            return "apply", None
        ops: list[dict[str, Any]]
        if finalizers:
            ops = [{"op": "test", "path": "/metadata/finalizers", "value": finalizers},
                   {"op": "add", "path": "/metadata/finalizers/-", "value": name}]
        else:
            ops = [{"op": "test", "path": "/metadata/finalizers", "value": None},
                   {"op": "add", "path": "/metadata/finalizers", "value": [name]}]
        return "add", JsonPatch(ops)
    if name not in finalizers:
        return "wait", None
    i = finalizers.index(name)
    return "cleanup", JsonPatch([{"op": "test", "path": f"/metadata/finalizers/{i}", "value": name},
                                 {"op": "remove", "path": f"/metadata/finalizers/{i}"}])


A = TypeVar("A", Api[Any], AsyncApi[Any])


def _scoped(api: A, obj: Any) -> A:
    """``api`` in the object's namespace (an all-namespaces Api cannot patch one object)."""
    namespace = obj.metadata.namespace
    if api.namespace == namespace or not api.resource.namespaced:
        return api
    return type(api)(api.client, api.model, namespace, resource=api.resource)


def finalizer(api: Api[K], name: str, obj: K, apply: Callable[[K], Action],
              cleanup: Callable[[K], Action]) -> Action:
    """Reconcile ``obj`` behind the finalizer ``name`` (see the module docstring)."""
    step, patch = _plan(name, obj)
    meta: Any = getattr(obj, "metadata", None)
    api = _scoped(api, obj)
    if step == "apply":
        return apply(obj)
    if step == "add":
        assert patch is not None
        api.patch(meta.name, patch)
        return Action.await_change()
    if step == "wait":
        return Action.await_change()
    action = cleanup(obj)
    assert patch is not None
    api.patch(meta.name, patch)
    return action


async def afinalizer(api: AsyncApi[K], name: str, obj: K, apply: Callable[[K], Awaitable[Action]],
                     cleanup: Callable[[K], Awaitable[Action]]) -> Action:
    """:func:`finalizer` for an :class:`~k8spb.AsyncApi` and coroutine ``apply`` / ``cleanup``."""
    step, patch = _plan(name, obj)
    meta: Any = getattr(obj, "metadata", None)
    api = _scoped(api, obj)
    if step == "apply":
        return await apply(obj)
    if step == "add":
        assert patch is not None
        await api.patch(meta.name, patch)
        return Action.await_change()
    if step == "wait":
        return Action.await_change()
    action = await cleanup(obj)
    assert patch is not None
    await api.patch(meta.name, patch)
    return action
