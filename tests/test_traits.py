"""Resource traits: class facts, URL paths, HasMetadata/HasSpec/HasStatus/HasConditions, list types, and
their static typing (``tests/typing_check.py`` under ``mypy --strict``)."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

import k8spb
from k8spb import HasConditions, HasKind, HasMetadata, HasSpec, HasStatus, ListResource, Resource, SubResource
from k8spb.api.apps.v1 import Deployment, DeploymentCondition, DeploymentList, DeploymentStatus
from k8spb.api.core.v1 import (
    ConfigMap,
    Container,
    Namespace,
    NamespaceCondition,
    NamespaceStatus,
    Node,
    NodeCondition,
    NodeStatus,
    Pod,
    PodCondition,
    PodList,
    PodSpec,
    PodStatus,
)
from k8spb.api.rbac.v1 import ClusterRole
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta, Status, WatchEvent
from tests.conftest import ROOT

T0 = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def test_class_facts() -> None:
    assert (Pod.api_version, Pod.group, Pod.version, Pod.kind) == ("v1", "", "v1", "Pod")
    assert (Pod.plural, Pod.namespaced, Pod.list_kind) == ("pods", True, "PodList")
    assert (Deployment.api_version, Deployment.group, Deployment.plural) == ("apps/v1", "apps", "deployments")
    assert (Node.namespaced, Namespace.namespaced, ClusterRole.namespaced) == (False, False, False)
    assert CustomResourceDefinition.api_version == "apiextensions.k8s.io/v1"
    assert CustomResourceDefinition.plural == "customresourcedefinitions"
    assert "watch" in Pod.verbs and "deletecollection" in Pod.verbs
    subs = {s.name: s for s in Pod.subresources}
    assert {"status", "log", "exec", "eviction", "binding"} <= set(subs)
    assert isinstance(subs["eviction"], SubResource) and subs["eviction"].kind == "Eviction"
    assert subs["status"].verbs == ("get", "patch", "update")
    assert (PodList.kind, PodList.item_kind, PodList.api_version) == ("PodList", "Pod", "v1")
    # the facts are class attributes, the same on instances, and never fields
    assert Pod().kind == "Pod" and "kind" not in Pod(metadata=ObjectMeta(name="x")).to_dict()["metadata"]
    assert Pod.to_dict(Pod())["kind"] == "Pod"


def test_url_paths() -> None:
    assert Pod.url_path() == "/api/v1/pods"
    assert Pod.url_path(namespace="default") == "/api/v1/namespaces/default/pods"
    assert Pod.url_path(namespace="default", name="web") == "/api/v1/namespaces/default/pods/web"
    assert Pod.url_path(namespace="ns", name="web", subresource="log") == "/api/v1/namespaces/ns/pods/web/log"
    assert Deployment.url_path(namespace="prod", name="api", subresource="scale") == (
        "/apis/apps/v1/namespaces/prod/deployments/api/scale")
    assert Deployment.url_path() == "/apis/apps/v1/deployments"
    # cluster-scoped: no namespace segment, even when one is passed
    assert Node.url_path(name="n1", subresource="status") == "/api/v1/nodes/n1/status"
    assert Namespace.url_path(name="prod") == "/api/v1/namespaces/prod"
    assert Namespace.url_path(namespace="ignored", name="prod") == "/api/v1/namespaces/prod"
    assert CustomResourceDefinition.url_path(name="widgets.example.com") == (
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"name": ""}, "invalid name"),
    ({"name": "a/b"}, "invalid name"),
    ({"name": ".."}, "invalid name"),
    ({"name": "."}, "invalid name"),
    ({"name": "a%2Fb"}, "invalid name"),
    ({"name": "a?watch=1"}, "invalid name"),
    ({"name": "a#b"}, "invalid name"),
    ({"name": 5}, "invalid name"),
    ({"namespace": "", "name": "x"}, "invalid namespace"),
    ({"namespace": "a/b"}, "invalid namespace"),
    ({"namespace": "ns", "name": "p", "subresource": "log/../exec"}, "invalid subresource"),
    ({"namespace": "ns", "name": "p", "subresource": ""}, "invalid subresource"),
    ({"namespace": "ns", "subresource": "log"}, "needs an object name"),
])
def test_invalid_url_segments(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Pod.url_path(**kwargs)  # type: ignore[arg-type]


def test_traits_on_the_right_classes() -> None:
    for cls in (Pod, Deployment, Node, Namespace, CustomResourceDefinition):
        assert issubclass(cls, Resource) and issubclass(cls, HasKind)
        assert issubclass(cls, HasMetadata) and issubclass(cls, HasSpec) and issubclass(cls, HasStatus)
        assert issubclass(cls, HasConditions), cls
        assert not issubclass(cls, ListResource)
    assert issubclass(ConfigMap, HasMetadata) and issubclass(ConfigMap, Resource)
    assert not issubclass(ConfigMap, HasSpec) and not issubclass(ConfigMap, HasStatus)
    assert not issubclass(ConfigMap, HasConditions)
    assert issubclass(ClusterRole, HasMetadata) and not issubclass(ClusterRole, HasConditions)
    for cls in (PodList, DeploymentList):
        assert issubclass(cls, ListResource) and issubclass(cls, HasKind) and not issubclass(cls, Resource)
    # kinds that are not served resources, and parts of objects
    assert issubclass(Status, HasKind) and not issubclass(Status, Resource)
    assert issubclass(WatchEvent, HasKind) and not issubclass(WatchEvent, Resource)
    for part in (PodSpec, Container, ObjectMeta, PodCondition):
        assert not issubclass(part, HasKind) and not issubclass(part, HasMetadata)
        assert not hasattr(part, "kind")
    assert isinstance(Pod(), HasConditions) and isinstance(Pod(), HasMetadata)


def test_conditions() -> None:
    pod = Pod(status=PodStatus(conditions=[
        PodCondition(type="PodScheduled", status="True", last_transition_time=T0),
        PodCondition(type="Ready", status="False", reason="ContainersNotReady", message="not yet"),
    ]))
    assert [c.type for c in pod.conditions] == ["PodScheduled", "Ready"]
    assert pod.find_condition("Ready") == PodCondition(type="Ready", status="False", reason="ContainersNotReady",
                                                       message="not yet")
    assert pod.find_condition("Missing") is None
    assert pod.condition_is_true("PodScheduled") and not pod.condition_is_true("Ready")
    assert not pod.condition_is_true("Missing")
    assert pod.condition_since("PodScheduled") == T0 and pod.condition_since("Ready") is None
    # no status, no conditions, empty list
    assert Pod().conditions == [] and Pod().find_condition("Ready") is None
    assert Pod(status=PodStatus()).conditions == [] and not Pod(status=PodStatus()).condition_is_true("Ready")
    assert Pod(status=PodStatus(conditions=[])).find_condition("Ready") is None
    # the conditions list is a copy: changing it does not change the object
    pod.conditions.clear()
    assert len(pod.conditions) == 2

    node = Node(status=NodeStatus(conditions=[NodeCondition(type="Ready", status="True")]))
    deployment = Deployment(status=DeploymentStatus(conditions=[DeploymentCondition(type="Available",
                                                                                    status="True")]))
    namespace = Namespace(status=NamespaceStatus(conditions=[NamespaceCondition(type="NamespaceDeletionContentFailure",
                                                                                status="False")]))
    assert node.condition_is_true("Ready") and deployment.condition_is_true("Available")
    assert not namespace.condition_is_true("NamespaceDeletionContentFailure")
    for obj in (pod, node, deployment):  # decoded objects behave the same
        decoded = k8spb.decode(k8spb.encode(obj, k8spb.PROTOBUF))
        assert decoded.conditions == obj.conditions  # type: ignore[attr-defined]


def test_conditions_from_a_decoded_fixture(testdata: Path) -> None:
    pod = k8spb.decode((testdata / "HEAD" / "core.v1.Pod.pb").read_bytes(), into=Pod)
    first = pod.status.conditions[0]  # type: ignore[union-attr,index]
    assert pod.find_condition(first.type) == first  # type: ignore[arg-type]
    assert pod.condition_is_true(first.type) == (first.status == "True")  # type: ignore[arg-type]


def test_list_types_are_iterable() -> None:
    pods = [Pod(metadata=ObjectMeta(name=f"p{i}")) for i in range(3)]
    podlist = PodList(items=pods)
    assert len(podlist) == 3
    assert [p.metadata.name for p in podlist] == ["p0", "p1", "p2"]  # type: ignore[union-attr]
    assert podlist[0] is pods[0] and podlist[-1] is pods[2]
    assert list(podlist) == pods and pods[1] in podlist
    assert len(PodList()) == 0 and list(PodList()) == []
    with pytest.raises(IndexError):
        PodList()[0]
    decoded = k8spb.decode(k8spb.encode(podlist, k8spb.PROTOBUF))
    assert type(decoded) is PodList and len(decoded) == 3  # type: ignore[arg-type]
    assert [p.metadata.name for p in decoded] == ["p0", "p1", "p2"]  # type: ignore[attr-defined]
    assert all(type(p) is Pod for p in decoded)  # type: ignore[attr-defined]
    lazy = k8spb.decode(b'{"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": null}')
    assert len(lazy) == 0  # type: ignore[arg-type]  # "items": null (streaming list encoding)


def test_static_typing_with_mypy_strict() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "tests/typing_check.py"], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


def test_typing_check_also_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from tests import typing_check

    typing_check.main()
    assert capsys.readouterr().out.startswith("True ['web', 'app', 'n1']")


def test_mypy_rejects_misuse(tmp_path: Path) -> None:
    # The same checker must catch a wrong use of the traits, or the check above proves nothing.
    program = (
        "from k8spb import HasMetadata\n"
        "from k8spb.api.core.v1 import Pod, PodSpec\n"
        "def names(objs: list[HasMetadata]) -> list[str]:\n"
        "    return [o.metadata.name or '' for o in objs if o.metadata]\n"
        "names([PodSpec()])\n"
        "x: int = Pod.url_path()\n"
    )
    (tmp_path / "misuse.py").write_text(program)
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(tmp_path / "misuse.py")], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 1, proc.stdout
    assert 'List item 0 has incompatible type "PodSpec"' in proc.stdout
    assert 'Incompatible types in assignment (expression has type "str", variable has type "int")' in proc.stdout
