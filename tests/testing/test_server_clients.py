"""k8spb.testing.ApiServer driven by clients nobody here wrote: kubernetes, lightkube and kubectl."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from k8spb.testing import ApiServer
from tests.testing import Kubectl, kubectl_runner

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def srv() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


# --------------------------------------------------------------------------- kubernetes (official client)


def test_kubernetes_client(srv: ApiServer) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    from kubernetes import client, config, watch

    api_client = config.new_client_from_config(config_file=srv.kubeconfig_path)
    try:
        v1 = client.CoreV1Api(api_client)
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}
        created = v1.create_namespaced_pod("default", body)
        assert created.metadata.uid and created.status.phase == "Pending"
        assert [p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="app=web").items] == ["web"]
        got = v1.read_namespaced_pod("web", "default")
        assert got.spec.containers[0].image == "nginx:1"
        patched = v1.patch_namespaced_pod("web", "default", {"metadata": {"labels": {"tier": "front"}}})
        assert patched.metadata.labels == {"app": "web", "tier": "front"}
        with pytest.raises(kubernetes.client.ApiException) as info:
            v1.read_namespaced_pod("nope", "default")
        assert info.value.status == 404
        w = watch.Watch()
        events = []
        for event in w.stream(v1.list_namespaced_pod, "default", timeout_seconds=3):
            events.append((event["type"], event["object"].metadata.name))
            if len(events) == 1:
                v1.delete_namespaced_pod("web", "default")
            else:
                w.stop()
        assert events == [("ADDED", "web"), ("DELETED", "web")]
        apps = client.AppsV1Api(api_client)
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                        "template": {"metadata": {"labels": {"a": "b"}},
                                     "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
        assert apps.create_namespaced_deployment("default", dep).metadata.generation == 1
        scaled = apps.patch_namespaced_deployment("d", "default", {"spec": {"replicas": 3}})
        assert scaled.spec.replicas == 3 and scaled.metadata.generation == 2
    finally:
        api_client.close()


# --------------------------------------------------------------------------- lightkube


def test_lightkube(srv: ApiServer) -> None:
    pytest.importorskip("lightkube")
    from lightkube import Client, KubeConfig
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap, Namespace
    from lightkube.types import PatchType

    c = Client(KubeConfig.from_file(srv.kubeconfig_path), field_manager="lk")
    assert {ns.metadata.name for ns in c.list(Namespace)} >= {"default", "kube-system", "kube-public"}
    c.create(ConfigMap(metadata=ObjectMeta(name="cfg"), data={"a": "1"}))
    assert c.get(ConfigMap, "cfg").data == {"a": "1"}
    c.patch(ConfigMap, "cfg", {"data": {"b": "2"}}, patch_type=PatchType.MERGE)
    applied = c.apply(ConfigMap(apiVersion="v1", kind="ConfigMap", metadata=ObjectMeta(name="cfg2"),
                                  data={"x": "y"}))
    assert applied.metadata.managedFields[0].manager == "lk"
    events = []
    for op, obj in c.watch(ConfigMap, namespace="default", server_timeout=5):
        events.append((op, obj.metadata.name))
        if len(events) == 2:
            break
    assert sorted(events) == [("ADDED", "cfg"), ("ADDED", "cfg2")]
    c.delete(ConfigMap, "cfg")
    assert [cm.metadata.name for cm in c.list(ConfigMap)] == ["cfg2", "kube-root-ca.crt"]


# --------------------------------------------------------------------------- kubectl


@pytest.fixture
def kubectl(srv: ApiServer, tmp_path: Path) -> Kubectl:
    return kubectl_runner(srv.kubeconfig_path, tmp_path)


POD = """apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: app
    image: nginx:1
"""


def test_kubectl_create_get_delete(kubectl: Kubectl) -> None:
    assert kubectl("create", "-f", "-", stdin=POD).stdout.strip() == "pod/web created"
    listed = json.loads(kubectl("get", "pods", "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["web"]
    table = kubectl("get", "pods").stdout.split("\n")
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[1].split()[:4] == ["web", "0/1", "Pending", "0"]
    as_yaml = yaml.safe_load(kubectl("get", "pod", "web", "-o", "yaml").stdout)
    assert as_yaml["kind"] == "Pod" and as_yaml["spec"]["containers"][0]["image"] == "nginx:1"
    assert kubectl("get", "po", "-l", "app=nope", "-o", "name").stdout == ""
    assert "AlreadyExists" in kubectl("create", "-f", "-", stdin=POD, check=False).stderr
    # kubectl 1.37 added " from default namespace" to the message
    deleted = kubectl("delete", "pod", "web").stdout.strip()
    assert re.fullmatch(r'pod "web" deleted( from default namespace)?', deleted), deleted
    assert "NotFound" in kubectl("get", "pod", "web", check=False).stderr


def test_kubectl_apply(kubectl: Kubectl) -> None:
    assert "created" in kubectl("apply", "-f", "-", stdin=POD).stdout
    assert "configured" in kubectl("apply", "-f", "-", stdin=POD.replace("nginx:1", "nginx:2")).stdout
    live = json.loads(kubectl("get", "pod", "web", "-o", "json").stdout)
    assert live["spec"]["containers"][0]["image"] == "nginx:2"
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]
    kubectl("label", "pod", "web", "owner=someone-else")  # a field client-side apply never set
    conflict = kubectl("apply", "--server-side", "-f", "-", check=False,
                       stdin=POD.replace("nginx:1", "nginx:3").replace("{app: web}", "{app: web, owner: me}"))
    assert conflict.returncode != 0
    assert 'conflict with "kubectl-label" using v1: .metadata.labels.owner' in conflict.stderr
    # what client-side apply set, kubectl's server-side apply takes over without conflicts (kube's migration)
    taken = kubectl("apply", "--server-side", "-f", "-", stdin=POD.replace("nginx:1", "nginx:3"))
    assert "serverside-applied" in taken.stdout
    live = json.loads(kubectl("get", "pod", "web", "-o", "json", "--show-managed-fields").stdout)
    assert live["spec"]["containers"][0]["image"] == "nginx:3"
    managers = {m["manager"]: m["operation"] for m in live["metadata"]["managedFields"]}
    assert managers == {"kubectl": "Apply", "kubectl-last-applied": "Apply", "kubectl-label": "Update"}


def test_kubectl_server_side_apply_deployment(kubectl: Kubectl) -> None:
    dep = """apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replicas: 2
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: x}]
"""
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", stdin=dep).stdout
    assert kubectl("get", "deploy", "d", "-o", "jsonpath={.spec.replicas}").stdout == "2"
    kubectl("delete", "-f", "-", stdin=dep)
    assert kubectl("get", "deployments", "-o", "name").stdout == ""
