"""User code with typed custom resources, checked by ``mypy --strict`` (tests/test_custom.py runs it).

The class statement's keywords, the synthesized keyword-only constructor, ``Api[Widget]`` and the
traits the class gains must all type-check as a user writes them.
"""

from __future__ import annotations

import enum
from dataclasses import field
from typing import Annotated

from k8spb import Api, Client, HasMetadata, ListResource, WatchEvent
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition
from k8spb.apimachinery.pkg.apis.meta.v1 import Condition, ObjectMeta, Status
from k8spb.crd import CustomResource, Minimum, Object, PrinterColumn, Rule, Scale


class Size(enum.StrEnum):
    SMALL = "small"
    LARGE = "large"


class WidgetSpec(Object, rules=[Rule("self.replicas <= 10")]):
    """Desired state."""

    image: str
    replicas: Annotated[int, Minimum(0)] = 1
    size: Size = Size.SMALL
    tags: list[str] = field(default_factory=list)


class WidgetStatus(Object):
    replicas: int | None = None
    conditions: list[Condition] = field(default_factory=list)


class Widget(CustomResource, group="example.com", version="v1", short_names=("wd",),
             printer_columns=[PrinterColumn("Image", ".spec.image")], scale=Scale()):
    spec: WidgetSpec
    status: WidgetStatus | None = None


def make() -> Widget:
    return Widget(metadata=ObjectMeta(name="w"), spec=WidgetSpec(image="nginx", size=Size.LARGE))


def crd() -> CustomResourceDefinition:
    return Widget.crd()


def images(client: Client) -> list[str]:
    widgets: Api[Widget] = Api(client, Widget, namespace="default")
    page: ListResource[Widget] = widgets.list()
    out = [w.spec.image for w in page]
    created: Widget = widgets.create(make())
    out.append(created.spec.image)
    gone = widgets.delete("w")
    if isinstance(gone, Status):
        out.append(gone.status or "")
    else:
        out.append(gone.spec.image)
    for event in widgets.watch(timeout_seconds=1):
        e: WatchEvent[Widget] = event
        out.append(e.object.spec.size.value)
    return out


def names(objs: list[HasMetadata]) -> list[str]:
    return [o.metadata.name or "" for o in objs if o.metadata is not None]


def ready(w: Widget) -> int:
    names([w])
    return w.status.replicas or 0 if w.status is not None else 0
