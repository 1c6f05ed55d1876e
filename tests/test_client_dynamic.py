"""Custom resources through the client: discovery, Api[DynamicObject], against k8spb.testing.ApiServer."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import k8spb
from k8spb import Api, Apply, AsyncClient, Client, Config, Merge, PatchParams, Request
from k8spb._dynamic import ApiResource, DynamicList, DynamicObject
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta, PartialObjectMetadataList
from k8spb.testing import ApiServer

GROUP = "stable.example.com"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": f"crontabs.{GROUP}"},
    "spec": {"group": GROUP, "scope": "Namespaced",
             "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"],
                       "categories": ["all", "cron"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]}}


class Statuses:
    """Middleware recording (method, path, Accept, Content-Type, status) of every round trip."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str, int]] = []

    def on_request(self, request: Request) -> Request:
        return request

    def on_response(self, request: Request, status: int, elapsed: float) -> None:
        self.seen.append((request.method, request.path, request.header("Accept") or "",
                          request.header("Content-Type") or "", status))


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as srv:
        with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as c:
            Api(c, CustomResourceDefinition).create(CustomResourceDefinition.from_dict(CRD))
        yield srv


@pytest.fixture
def recorder() -> Statuses:
    return Statuses()


@pytest.fixture
def client(server: ApiServer, recorder: Statuses) -> Iterator[Client]:
    with Client(Config.from_kubeconfig(server.kubeconfig_path), prefer_protobuf=True, backoff=0.01,
                middleware=[recorder]) as c:
        yield c


def _crontab(name: str, **spec: Any) -> DynamicObject:
    return DynamicObject(api_version=f"{GROUP}/v1", kind="CronTab", metadata=ObjectMeta(name=name),
                         body={"spec": spec or {"cronSpec": "* * * * */5", "image": "my-cron:1"}})


def test_discover_uses_aggregated_discovery(client: Client, recorder: Statuses) -> None:
    found = k8spb.discover(client)
    assert [p for _, p, *_ in recorder.seen] == ["/api", "/apis"]
    assert all("apidiscovery.k8s.io" in accept and status == 200 for _, _, accept, _, status in recorder.seen)
    ct = found.resolve("crontabs.stable.example.com")
    assert (ct.group, ct.version, ct.kind, ct.plural, ct.namespaced, ct.protobuf) == \
        (GROUP, "v1", "CronTab", "crontabs", True, False)
    assert found.resolve("CronTab") == ct and found.resolve("crontabs", group=GROUP) == ct
    deploy = found.resolve("Deployment")
    assert (deploy.group, deploy.version, deploy.plural, deploy.protobuf) == ("apps", "v1", "deployments", True)
    assert found.resolve("pods").kind == "Pod" and found.resolve("namespaces").namespaced is False
    with pytest.raises(LookupError):
        found.resolve("nosuchthings")


def test_adiscover(server: ApiServer) -> None:
    async def run() -> k8spb.Discovery:
        async with AsyncClient(Config.from_kubeconfig(server.kubeconfig_path)) as c:
            return await k8spb.adiscover(c)

    found = asyncio.run(run())
    assert found.resolve("crontabs.stable.example.com").kind == "CronTab"


def test_dynamic_api_speaks_json_to_the_crd(client: Client, recorder: Statuses) -> None:
    ref = k8spb.discover(client).resolve("crontabs.stable.example.com")
    recorder.seen.clear()
    crontabs: Api[DynamicObject] = Api(client, DynamicObject, namespace="default", resource=ref)
    created = crontabs.create(_crontab("dyn"))
    assert created.kind == "CronTab" and created.metadata.uid and created["spec"]["image"] == "my-cron:1"
    got = crontabs.get("dyn")
    assert got.metadata.resource_version == created.metadata.resource_version and got.get("status") is None
    page = crontabs.list()
    assert isinstance(page, DynamicList) and "dyn" in [o.metadata.name for o in page]
    assert all(o.kind == "CronTab" and o.api_version == f"{GROUP}/v1" for o in page)
    merged = crontabs.patch("dyn", Merge({"spec": {"replicas": 2, "image": None}}))
    assert merged["spec"] == {"cronSpec": "* * * * */5", "replicas": 2}
    applied = crontabs.patch("applied", Apply({"apiVersion": f"{GROUP}/v1", "kind": "CronTab",
                                                "metadata": {"name": "applied"}, "spec": {"image": "a:1"}}),
                             PatchParams(field_manager="k8spb-test"))
    assert applied["spec"] == {"image": "a:1"}
    assert [m.manager for m in applied.metadata.managed_fields or []] == ["k8spb-test"]
    with pytest.raises(k8spb.Conflict):
        crontabs.patch("applied", Apply({"apiVersion": f"{GROUP}/v1", "kind": "CronTab",
                                         "metadata": {"name": "applied"}, "spec": {"image": "b:2"}}),
                       PatchParams(field_manager="other"))
    status = crontabs.patch_status("dyn", Merge({"status": {"lastScheduleTime": "now"}}))
    assert status["status"] == {"lastScheduleTime": "now"}
    assert crontabs.get_status("dyn")["status"] == {"lastScheduleTime": "now"}
    replaced = crontabs.replace("dyn", crontabs.get("dyn"))
    assert replaced.metadata.name == "dyn"
    crontabs.delete("dyn")
    assert crontabs.get_opt("dyn") is None
    statuses = [s for *_, s in recorder.seen]
    assert 406 not in statuses and 415 not in statuses and 400 not in statuses
    assert all("protobuf" not in accept for _, _, accept, _, _ in recorder.seen)
    assert all(ct in ("", "application/json", "application/merge-patch+json", "application/apply-patch+yaml")
               for *_, ct, _ in recorder.seen)
    assert GROUP + "/v1" not in client.json_only


def test_hand_made_resource_and_watch(client: Client, recorder: Statuses) -> None:
    ref = ApiResource(GROUP, "v1", "CronTab", "crontabs", True)
    crontabs: Api[DynamicObject] = Api(client, DynamicObject, namespace="default", resource=ref)
    rv = crontabs.list().metadata.resource_version
    events: list[tuple[str, str]] = []

    def watch() -> None:
        for ev in crontabs.watch(resource_version=rv, timeout_seconds=2):
            events.append((ev.type, ev.object.metadata.name or ""))
            if ev.type == "DELETED":
                return

    t = threading.Thread(target=watch)
    t.start()
    crontabs.create(_crontab("watched"))
    crontabs.patch("watched", Merge({"spec": {"replicas": 1}}))
    crontabs.delete("watched")
    t.join(10)
    assert events == [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")]
    assert 406 not in [s for *_, s in recorder.seen]


def test_metadata_only_list_is_protobuf(client: Client, recorder: Statuses) -> None:
    ref = ApiResource(GROUP, "v1", "CronTab", "crontabs", True)
    crontabs: Api[DynamicObject] = Api(client, DynamicObject, namespace="default", resource=ref)
    crontabs.create(_crontab("meta"))
    recorder.seen.clear()
    metas = crontabs.list_metadata()
    assert isinstance(metas, PartialObjectMetadataList)
    assert "meta" in [m.metadata.name for m in metas.items]
    assert crontabs.get_metadata("meta").metadata.name == "meta"
    assert [s for *_, s in recorder.seen] == [200, 200]
    assert all(accept.startswith("application/vnd.kubernetes.protobuf;as=") for _, _, accept, _, _ in recorder.seen)
    crontabs.delete("meta")


def test_dynamic_objects_ask_json_even_of_protobuf_resources(client: Client, recorder: Statuses) -> None:
    """discover().resolve("pods") says protobuf; a DynamicObject reads JSON, so the Api asks for JSON."""
    pods_ref = k8spb.discover(client).resolve("pods")
    assert pods_ref.protobuf
    recorder.seen.clear()
    pods: Api[DynamicObject] = Api(client, DynamicObject, namespace="default", resource=pods_ref)
    created = pods.create(DynamicObject(api_version="v1", kind="Pod", metadata=ObjectMeta(name="dyn-pod"),
                                        body={"spec": {"containers": [{"name": "c", "image": "nginx"}]}}))
    assert created.kind == "Pod" and created["spec"]["containers"][0]["image"] == "nginx"
    page = pods.list()
    assert isinstance(page, DynamicList)
    assert [(o.api_version, o.kind) for o in page if o.metadata.name == "dyn-pod"] == [("v1", "Pod")]
    assert pods.get("dyn-pod").metadata.uid == created.metadata.uid
    # a CRD wrongly marked protobuf is read as JSON too
    ref = ApiResource(GROUP, "v1", "CronTab", "crontabs", True, protobuf=True)
    assert isinstance(Api(client, DynamicObject, namespace="default", resource=ref).list(), DynamicList)
    deleted = pods.delete("dyn-pod")  # a pod's delete answers with the pod
    assert isinstance(deleted, DynamicObject) and deleted.metadata.uid == created.metadata.uid
    assert [s for *_, s in recorder.seen] == [201, 200, 200, 200, 200]
    assert all(accept == "application/json" for _, _, accept, _, _ in recorder.seen)
    assert all(ct in ("", "application/json") for *_, ct, _ in recorder.seen)


def test_discovery_resolves_like_kubectl(client: Client) -> None:
    found = k8spb.discover(client)
    ct = found.resolve("crontabs")
    assert ct.short_names == ("ct",) and ct.categories == ("all", "cron") and ct.singular == "crontab"
    assert "watch" in ct.verbs
    for name in ("ct", "CT", "crontab", "CronTab", "crontabs.stable.example.com", "ct.stable.example.com",
                 "crontabs.v1.stable.example.com"):
        assert found.resolve(name) == ct, name
    assert found.resolve("deploy") == found.resolve("deployments.apps") == found.resolve("deployments.v1.apps")
    assert found.resolve("po").kind == "Pod" and found.resolve("pod").plural == "pods"
    assert found.resolve("events").group == ""  # core before events.k8s.io, as kubectl picks
    with pytest.raises(LookupError, match="doesn't have a resource type 'crontabs'"):
        found.resolve("crontabs.v2.stable.example.com")
    assert found.category("cron") == [ct]
    everything = {(r.group, r.plural) for r in found.category("all")}
    assert {("", "pods"), ("apps", "deployments"), (GROUP, "crontabs")} <= everything
    assert found.category("nothing") == []


def test_cli_resolves_short_names_and_categories(server: ApiServer, client: Client) -> None:
    crontabs: Api[DynamicObject] = Api(client, DynamicObject, namespace="default",
                                       resource=k8spb.discover(client).resolve("ct"))
    crontabs.create(_crontab("cli"))
    env = {**os.environ, "KUBECONFIG": server.kubeconfig_path}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "k8spb", *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    for name in ("ct", "crontab", "CronTab", "crontabs.stable.example.com"):
        out = cli("get", name, "-o", "name")
        assert out.returncode == 0 and "crontab.stable.example.com/cli" in out.stdout.splitlines(), out.stderr
    out = cli("get", "ct", "cli", "-o", "json")
    assert out.returncode == 0 and json.loads(out.stdout)["spec"]["image"] == "my-cron:1"
    out = cli("get", "cron")  # a category
    assert out.returncode == 0 and "crontab.stable.example.com/cli" in out.stdout
    out = cli("get", "all", "-o", "name")
    assert out.returncode == 0 and "crontab.stable.example.com/cli" in out.stdout.splitlines()
    out = cli("get", "deploy")
    assert out.returncode == 0, out.stderr
    out = cli("get", "nope")
    assert out.returncode == 1 and "doesn't have a resource type 'nope'" in out.stderr
    crontabs.delete("cli")


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
def test_kubectl_get_and_apply_custom_objects(server: ApiServer, tmp_path: Any) -> None:
    assert KUBECTL is not None
    env = {**os.environ, "KUBECONFIG": server.kubeconfig_path, "HOME": str(tmp_path)}
    manifest = tmp_path / "ct.yaml"
    manifest.write_text(f"apiVersion: {GROUP}/v1\nkind: CronTab\nmetadata:\n  name: from-kubectl\n"
                        "spec:\n  cronSpec: '* * * * */5'\n  image: my-cron:1\n")

    def kubectl(*args: str) -> str:
        out = subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "crontab.stable.example.com/from-kubectl created" in kubectl("apply", "-f", str(manifest))
    manifest.write_text(manifest.read_text().replace("my-cron:1", "my-cron:2"))
    assert "configured" in kubectl("apply", "-f", str(manifest))
    assert "from-kubectl" in kubectl("get", "crontabs")
    assert "from-kubectl" in kubectl("get", "ct", "-o", "name")
    assert "my-cron:2" in kubectl("get", "crontab", "from-kubectl", "-o", "yaml")
    assert "from-kubectl" in kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    kubectl("delete", "-f", str(manifest))
