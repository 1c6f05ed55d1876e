"""Typed use of the traits, checked by ``mypy --strict`` (tests/test_traits.py runs it; never imported).

Generic helpers written against the traits must accept the generated classes, and what they return
must carry the precise model types (``Pod`` items, ``PodCondition`` conditions).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

import k8spb
from k8spb import Condition, HasConditions, HasMetadata, HasSpec, HasStatus, ListResource, Resource
from k8spb.api.apps.v1 import Deployment, DeploymentCondition, DeploymentSpec
from k8spb.api.core.v1 import Container, Node, Pod, PodCondition, PodList, PodSpec, PodStatus
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta


def ready(obj: HasConditions[Any]) -> bool:
    return obj.condition_is_true("Ready")


def names(objs: Iterable[HasMetadata]) -> list[str]:
    return [o.metadata.name or "" for o in objs if o.metadata is not None]


def reasons(obj: HasConditions[Condition]) -> list[str]:
    return [c.reason or "" for c in obj.conditions]


def replicas(obj: HasSpec[DeploymentSpec]) -> int:
    spec = obj.spec
    return spec.replicas or 0 if spec is not None else 0


def phase(obj: HasStatus[PodStatus]) -> str | None:
    return obj.status.phase if obj.status is not None else None


def path_of(cls: type[Resource], namespace: str, name: str) -> str:
    return cls.url_path(namespace=namespace, name=name)


def first_image(pods: ListResource[Pod]) -> str | None:
    for pod in pods:  # items are typed as Pod
        if pod.spec is not None and pod.spec.containers:
            return pod.spec.containers[0].image
    return None


def main() -> None:
    pod = Pod(metadata=ObjectMeta(name="web"), spec=PodSpec(containers=[Container(name="c", image="nginx")]),
              status=PodStatus(phase="Running", conditions=[PodCondition(type="Ready", status="True")]))
    deployment = Deployment(metadata=ObjectMeta(name="app"), spec=DeploymentSpec(replicas=2))
    node = Node(metadata=ObjectMeta(name="n1"))

    ok: bool = ready(pod) and not ready(deployment) and not ready(node)
    listed: list[str] = names([pod, deployment, node])
    why: list[str] = reasons(pod) + reasons(deployment)
    count: int = replicas(deployment)
    current: str | None = phase(pod)
    url: str = path_of(Pod, "default", "web") + path_of(Deployment, "default", "app")

    cond: PodCondition | None = pod.find_condition("Ready")
    dcond: DeploymentCondition | None = deployment.find_condition("Available")
    since: datetime.datetime | None = pod.condition_since("Ready")

    pods = PodList(items=[pod])
    image: str | None = first_image(pods)
    size: int = len(pods)
    only: Pod = pods[0]
    kinds: list[str] = [p.kind for p in pods] + [Pod.api_version, Pod.plural, Pod.list_kind]
    namespaced: bool = Pod.namespaced and not Node.namespaced

    decoded: Pod = k8spb.decode(k8spb.encode(pod, k8spb.PROTOBUF), into=Pod)
    built: Deployment = Deployment.from_dict(deployment.to_dict())
    print(ok, listed, why, count, current, url, cond, dcond, since, image, size, only, kinds, namespaced, decoded,
          built)
