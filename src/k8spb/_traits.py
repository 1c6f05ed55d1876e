"""Resource traits: mixins the generated models carry, in the manner of k8s-pb.

Facts (group, version, kind, plural, scope) are class attributes filled in by the generated
code; behaviour lives here, once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    import datetime

    from k8spb.apimachinery.pkg.apis.meta.v1 import ListMeta, ObjectMeta

__all__ = [
    "Condition",
    "HasConditions",
    "HasKind",
    "HasMetadata",
    "HasSpec",
    "HasStatus",
    "ListResource",
    "Resource",
    "SubResource",
]

S = TypeVar("S")
# Covariant: conditions are only read, so a HasConditions[PodCondition] is a HasConditions[Condition].
C = TypeVar("C", bound="Condition", covariant=True)
T = TypeVar("T")


class HasKind:
    """An object with a Kubernetes apiVersion and kind (a top-level, serializable object)."""

    api_version: ClassVar[str]
    """The apiVersion this class is written with: ``"v1"`` or ``"group/version"``."""
    group: ClassVar[str]
    """The API group (``""`` for core)."""
    version: ClassVar[str]
    """The API version within the group."""
    kind: ClassVar[str]
    """The kind, e.g. ``"Pod"``."""


class SubResource:
    """A subresource of a resource (``status``, ``scale``, ``log`` ...)."""

    __slots__ = ("kind", "name", "verbs")

    def __init__(self, name: str, kind: str | None, verbs: tuple[str, ...]) -> None:
        self.name = name
        self.kind = kind
        self.verbs = verbs

    def __repr__(self) -> str:
        return f"SubResource({self.name!r}, kind={self.kind!r}, verbs={self.verbs!r})"


class Resource(HasKind):
    """A kind served by the API server under a REST path."""

    plural: ClassVar[str]
    """The resource name in URLs, e.g. ``"pods"``."""
    namespaced: ClassVar[bool]
    """True when objects live in a namespace."""
    list_kind: ClassVar[str]
    """The kind of the list type, e.g. ``"PodList"``."""
    verbs: ClassVar[tuple[str, ...]]
    """Verbs the server supports on the collection and its objects."""
    subresources: ClassVar[tuple[SubResource, ...]]
    """Subresources the server serves for this resource."""
    short_names: ClassVar[tuple[str, ...]]
    """Short names kubectl accepts for the resource (``po``), as discovery lists them."""
    categories: ClassVar[tuple[str, ...]]
    """Categories the resource belongs to (``all``), as discovery lists them."""

    @classmethod
    def url_path(cls, *, namespace: str | None = None, name: str | None = None,
                 subresource: str | None = None) -> str:
        """The REST path of the collection, or of one object when ``name`` is given."""
        return resource_path(cls.group, cls.version, cls.plural, cls.namespaced, namespace, name, subresource)


def resource_path(group: str, version: str, plural: str, namespaced: bool, namespace: str | None = None,
                  name: str | None = None, subresource: str | None = None) -> str:
    """``/api[s]/...[/namespaces/{ns}]/{plural}[/{name}[/{subresource}]]``, each segment checked."""
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if namespaced and namespace is not None:
        base = f"{base}/namespaces/{_segment(namespace, 'namespace')}"
    path = f"{base}/{plural}"
    if name is not None:
        path = f"{path}/{_segment(name, 'name')}"
    if subresource is not None:
        if name is None:
            raise ValueError(f"{plural}: subresource {subresource!r} needs an object name")
        path = f"{path}/{_segment(subresource, 'subresource')}"
    return path


def _segment(value: str, what: str) -> str:
    if (not isinstance(value, str) or not value or value in (".", "..")
            or any(c in value for c in "/%?#")):  # '?' and '#' would end the path: a query, a fragment
        raise ValueError(f"invalid {what} for a URL path segment: {value!r}")
    return value


class HasMetadata:
    """An object with standard object metadata."""

    metadata: ObjectMeta | None


class HasSpec(Generic[S]):
    """An object with a desired state in ``spec``."""

    spec: S | None


class HasStatus(Generic[S]):
    """An object with an observed state in ``status``."""

    status: S | None


class Condition(Protocol):
    """What every Kubernetes condition type has in common."""

    @property
    def type(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...


class HasConditions(Generic[C]):
    """An object whose status carries a list of conditions."""

    @property
    def conditions(self) -> list[C]:
        """The object's conditions (``status.conditions``), empty when there are none."""
        status: Any = getattr(self, "status", None)
        found = getattr(status, "conditions", None) if status is not None else None
        return list(found) if found else []

    def find_condition(self, type: str) -> C | None:
        """The condition of the given type, or None."""
        for cond in self.conditions:
            if cond.type == type:
                return cond
        return None

    def condition_is_true(self, type: str) -> bool:
        """True when the condition of the given type exists and its status is ``"True"``."""
        cond = self.find_condition(type)
        return cond is not None and cond.status == "True"

    def condition_since(self, type: str) -> datetime.datetime | None:
        """When the condition of the given type last changed, if the condition records it."""
        cond = self.find_condition(type)
        return getattr(cond, "last_transition_time", None) if cond is not None else None


class ListResource(Generic[T]):
    """A list of objects (``PodList``, a custom resource's list ...): iterable over its items."""

    metadata: ListMeta | None
    items: list[T] | None
    item_kind: ClassVar[str]
    """The kind of the items (``""`` when only the items themselves tell)."""

    @property
    def resource_version(self) -> str | None:
        """The list's resourceVersion: watch from it to see every change after the list."""
        meta = self.metadata
        return meta.resource_version if meta is not None else None

    @property
    def continue_token(self) -> str | None:
        """The token for the next page, or None on the last page."""
        meta = self.metadata
        return (meta.continue_ or None) if meta is not None else None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items or ())

    def __len__(self) -> int:
        return len(self.items or ())

    def __getitem__(self, index: int) -> T:
        items: Sequence[T] = self.items or ()
        return items[index]
