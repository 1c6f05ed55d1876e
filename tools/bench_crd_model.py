"""The typed class of tools/bench_crd.py's custom resource (its CRD is derived from it)."""

from __future__ import annotations

import datetime
from dataclasses import field
from typing import Annotated, Literal

from k8spb.crd import CustomResource, Minimum, Object, PrinterColumn, Quantity


class EnvVar(Object):
    name: str
    value: str | None = None


class Port(Object):
    name: str
    port: Annotated[int, Minimum(1)]
    protocol: Literal["TCP", "UDP"] = "TCP"


class Resources(Object):
    requests: dict[str, Quantity] = field(default_factory=dict)
    limits: dict[str, Quantity] = field(default_factory=dict)


class Schedule(Object):
    cron: str
    time_zone: str | None = None


class WidgetSpec(Object):
    """What the widget should be."""

    image: str
    replicas: Annotated[int, Minimum(0)] = 1
    paused: bool = False
    resources: Resources | None = None
    env: list[EnvVar] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    config: dict[str, str] = field(default_factory=dict)
    schedule: Schedule | None = None
    tags: list[str] = field(default_factory=list)


class WidgetCondition(Object):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: datetime.datetime | None = None


class WidgetStatus(Object):
    """What the widget is."""

    phase: str | None = None
    observed_generation: int | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    conditions: list[WidgetCondition] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)


class Widget(CustomResource, group="bench.example.com", version="v1", short_names=("wd",),
             printer_columns=[PrinterColumn("Image", ".spec.image"), PrinterColumn("Phase", ".status.phase")]):
    """A benchmark widget."""

    spec: WidgetSpec
    status: WidgetStatus | None = None
