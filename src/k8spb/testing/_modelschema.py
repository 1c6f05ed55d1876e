"""A :class:`~k8spb.testing._patch.PatchSchema` read from the generated model classes.

Field names and types come from ``Model._schema``; patch strategies and merge keys, which the
.proto files do not record, come from a small table covering the common lists.
"""

from __future__ import annotations

from typing import Any

from k8spb._schema import Model

__all__ = ["ModelSchema", "schema_for"]

# (model class name, JSON key) -> (patch strategy, merge key)
_MERGE: dict[tuple[str, str], tuple[str, str | None]] = {
    ("PodSpec", "containers"): ("merge", "name"),
    ("PodSpec", "initContainers"): ("merge", "name"),
    ("PodSpec", "ephemeralContainers"): ("merge", "name"),
    ("PodSpec", "volumes"): ("merge,retainKeys", "name"),
    ("PodSpec", "imagePullSecrets"): ("merge", "name"),
    ("PodSpec", "hostAliases"): ("merge", "ip"),
    ("Container", "env"): ("merge", "name"),
    ("Container", "volumeMounts"): ("merge", "mountPath"),
    ("Container", "volumeDevices"): ("merge", "devicePath"),
    ("Container", "ports"): ("merge", "containerPort"),
    ("EphemeralContainer", "env"): ("merge", "name"),
    ("EphemeralContainer", "volumeMounts"): ("merge", "mountPath"),
    ("EphemeralContainer", "ports"): ("merge", "containerPort"),
    ("ServiceSpec", "ports"): ("merge", "port"),
    ("ObjectMeta", "finalizers"): ("merge", None),
    ("ObjectMeta", "ownerReferences"): ("merge", "uid"),
    ("ServiceAccount", "secrets"): ("merge", "name"),
    ("NodeStatus", "addresses"): ("merge", "type"),
    ("PodStatus", "podIPs"): ("merge", "ip"),
    ("EndpointSubset", "addresses"): ("merge", "ip"),
}


_CACHE: dict[str, ModelSchema] = {}


def schema_for(cls: type[Model]) -> ModelSchema:
    """The object schema of a model class."""
    key = f"{cls.__module__}.{cls.__qualname__}"
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = ModelSchema(cls)
    return found


class ModelSchema:
    """One node: an object of a model class, a list or map of such (or of scalars), or a scalar."""

    def __init__(self, cls: type[Model] | None, container: str = "", strategy: str | None = None,
                 merge_key: str | None = None) -> None:
        self._cls = cls
        self._container = container
        self._strategy = strategy
        self._merge_key = merge_key

    @property
    def patch_strategy(self) -> str | None:
        return self._strategy

    @property
    def patch_merge_key(self) -> str | None:
        return self._merge_key

    @property
    def list_type(self) -> str | None:
        if self._container != "l":
            return None
        if self._strategy and "merge" in self._strategy:
            return "map" if self._merge_key else "set"
        return "atomic"

    @property
    def list_map_keys(self) -> tuple[str, ...]:
        return (self._merge_key,) if self._merge_key and self._container == "l" else ()

    @property
    def map_type(self) -> str | None:
        return None

    @property
    def default(self) -> Any:
        return None

    def child(self, field_name: str) -> ModelSchema | None:
        if self._container or self._cls is None:
            return None
        f = self._cls._schema.by_key.get(field_name)
        if f is None:
            return None
        cls = f.cls if f.kind_code == "m" else None
        strategy, key = _MERGE.get((self._cls.__name__, field_name), (None, None))
        if field_name == "conditions" and f.container == "l" and cls is not None and "type" in cls._schema.by_key:
            strategy, key = "merge", "type"
        if not f.container:
            return schema_for(cls) if cls is not None else ModelSchema(None)
        return ModelSchema(cls, f.container, strategy, key)

    def items(self) -> ModelSchema | None:
        if not self._container:
            return None
        return schema_for(self._cls) if self._cls is not None else ModelSchema(None)

    def __repr__(self) -> str:
        name = self._cls.__name__ if self._cls else "scalar"
        return f"ModelSchema({name}, container={self._container!r}, strategy={self._strategy!r})"
