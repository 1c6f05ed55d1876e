"""Defaulting and admission as a default cluster does them (k8spb.testing._defaults), over HTTP."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from k8spb.testing import ApiServer

pytestmark = pytest.mark.timeout(30)

NS = "/api/v1/namespaces/default"


@pytest.fixture(scope="module")
def srv() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


@pytest.fixture
def http(srv: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=10, headers={"User-Agent": "kubectl-create/v1.36.2"}) as c:
        yield c


def create(http: httpx.Client, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    r = http.post(path, json=obj)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def owned(obj: dict[str, Any]) -> dict[str, Any]:
    [entry] = obj["metadata"]["managedFields"]
    fields: dict[str, Any] = entry["fieldsV1"]
    return fields


def test_service_defaults_and_allocations(http: httpx.Client) -> None:
    svc = create(http, f"{NS}/services", {"metadata": {"name": "web"},
                                          "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    spec = svc["spec"]
    assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
    assert spec["clusterIPs"] == [spec["clusterIP"]] and spec["clusterIP"] != "10.96.0.1"
    assert (spec["type"], spec["sessionAffinity"], spec["internalTrafficPolicy"]) == ("ClusterIP", "None", "Cluster")
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"]) == (["IPv4"], "SingleStack")
    assert svc["status"] == {"loadBalancer": {}}
    # the creator owns what defaulting filled in, not what the registry allocated
    assert set(owned(svc)["f:spec"]) == {"f:internalTrafficPolicy", "f:ports", "f:selector", "f:sessionAffinity",
                                         "f:type"}
    # an update without the allocated values keeps them
    svc["spec"] = {"selector": {"app": "web2"}, "ports": [{"port": 80}]}
    updated = http.put(f"{NS}/services/web", json=svc).json()
    assert updated["spec"]["clusterIP"] == spec["clusterIP"] and updated["spec"]["selector"] == {"app": "web2"}
    node = create(http, f"{NS}/services", {"metadata": {"name": "np"},
                                           "spec": {"type": "NodePort", "ports": [{"port": 81, "targetPort": "web"}]}})
    port = node["spec"]["ports"][0]
    assert 30000 <= port["nodePort"] <= 32767 and port["targetPort"] == "web"
    assert node["spec"]["externalTrafficPolicy"] == "Cluster"
    headless = create(http, f"{NS}/services", {"metadata": {"name": "hl"}, "spec": {"clusterIP": "None"}})
    assert headless["spec"]["clusterIPs"] == ["None"]


def test_the_kubernetes_service_and_its_endpoints(srv: ApiServer, http: httpx.Client) -> None:
    svc = http.get(f"{NS}/services/kubernetes").json()
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"] == [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": srv.port}]
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    endpoints = http.get(f"{NS}/endpoints/kubernetes").json()
    assert endpoints["subsets"][0]["ports"][0]["port"] == srv.port
    assert http.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes").status_code == 200


def test_every_namespace_gets_its_service_account_and_root_ca(http: httpx.Client) -> None:
    create(http, "/api/v1/namespaces", {"metadata": {"name": "fresh"}})
    accounts = http.get("/api/v1/namespaces/fresh/serviceaccounts").json()["items"]
    assert [a["metadata"]["name"] for a in accounts] == ["default"]
    ca = http.get("/api/v1/namespaces/fresh/configmaps/kube-root-ca.crt").json()
    assert list(ca["data"]) == ["ca.crt"]
    for system in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert http.get(f"/api/v1/namespaces/{system}/serviceaccounts/default").status_code == 200


def test_root_ca_holds_the_cluster_ca_over_tls() -> None:
    pytest.importorskip("cryptography")
    with ApiServer(tls=True) as srv, httpx.Client(base_url=srv.url, verify=False,
                                                 headers={"Authorization": f"Bearer {srv.token}"}) as http:
        ca = http.get(f"{NS}/configmaps/kube-root-ca.crt").json()["data"]["ca.crt"]
    assert ca == srv.ca_pem.decode() and ca.startswith("-----BEGIN CERTIFICATE-----")


def test_secret_type_string_data_and_base64_line_breaks(http: httpx.Client) -> None:
    wrapped = base64.encodebytes(b"p" * 100).decode()  # MIME base64: a line break every 76 characters
    assert "\n" in wrapped
    secret = create(http, f"{NS}/secrets", {"metadata": {"name": "s"}, "data": {"wrapped": wrapped},
                                            "stringData": {"plain": "hello", "wrapped-too": "x"}})
    assert secret["type"] == "Opaque" and "stringData" not in secret
    assert base64.b64decode(secret["data"]["wrapped"]) == b"p" * 100
    assert base64.b64decode(secret["data"]["plain"]) == b"hello"
    win = create(http, f"{NS}/secrets", {"metadata": {"name": "w"}, "data": {"k": "aGVs\r\nbG8="}})
    assert base64.b64decode(win["data"]["k"]) == b"hello"


def test_pod_defaults_and_admission(http: httpx.Client) -> None:
    pod = create(http, f"{NS}/pods", {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
         "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
        {"name": "b", "image": "busybox:1.36"}]}})
    spec = pod["spec"]
    a, b = spec["containers"]
    assert (a["imagePullPolicy"], b["imagePullPolicy"]) == ("Always", "IfNotPresent")
    assert a["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert a["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}  # requests default to limits
    assert a["terminationMessagePath"] == "/dev/termination-log" and b["resources"] == {}
    assert (spec["dnsPolicy"], spec["restartPolicy"], spec["schedulerName"]) == (
        "ClusterFirst", "Always", "default-scheduler")
    assert spec["terminationGracePeriodSeconds"] == 30 and spec["enableServiceLinks"] is True
    assert (spec["priority"], spec["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    [volume] = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == len("kube-api-access-") + 5
    assert all(c["volumeMounts"] == [{"name": volume["name"], "readOnly": True,
                                      "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
               for c in (a, b))
    assert spec["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}]
    assert pod["status"]["qosClass"] == "Burstable"
    # admission's additions are nobody's; defaults are the creator's
    assert "f:tolerations" not in owned(pod)["f:spec"] and "f:dnsPolicy" in owned(pod)["f:spec"]
    own = create(http, f"{NS}/pods", {"metadata": {"name": "q"}, "spec": {
        "automountServiceAccountToken": False,
        "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 10}],
        "containers": [{"name": "a", "image": "i@sha256:" + "0" * 64,
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}})
    assert "volumes" not in own["spec"] and own["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert [t["tolerationSeconds"] for t in own["spec"]["tolerations"]] == [10, 300]
    assert own["status"]["qosClass"] == "Guaranteed"


def test_workload_defaults(http: httpx.Client) -> None:
    template = {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
    selector = {"matchLabels": {"app": "w"}}
    deploy = create(http, "/apis/apps/v1/namespaces/default/deployments",
                    {"metadata": {"name": "d"}, "spec": {"selector": selector, "template": template}})
    spec = deploy["spec"]
    assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (1, 10, 600)
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert "tolerations" not in spec["template"]["spec"]  # admission adds those to pods, not templates
    assert deploy["status"] == {}
    sts = create(http, "/apis/apps/v1/namespaces/default/statefulsets", {"metadata": {"name": "s"}, "spec": {
        "selector": selector, "template": template, "serviceName": "s",
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}})
    spec = sts["spec"]
    assert (spec["podManagementPolicy"], spec["replicas"], spec["revisionHistoryLimit"]) == ("OrderedReady", 1, 10)
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    ds = create(http, "/apis/apps/v1/namespaces/default/daemonsets",
                {"metadata": {"name": "ds"}, "spec": {"selector": selector, "template": template}})
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1,
                                                                                       "maxSurge": 0}}
    rs = create(http, "/apis/apps/v1/namespaces/default/replicasets",
                {"metadata": {"name": "rs"}, "spec": {"selector": selector, "template": template}})
    assert rs["spec"]["replicas"] == 1
    job_template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i:1"}]}}
    job = create(http, "/apis/batch/v1/namespaces/default/jobs",
                 {"metadata": {"name": "j"}, "spec": {"template": job_template}})
    spec, uid = job["spec"], job["metadata"]["uid"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert (spec["completionMode"], spec["suspend"], spec["podReplacementPolicy"]) == (
        "NonIndexed", False, "TerminatingOrFailed")
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert spec["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "j",
        "controller-uid": uid, "job-name": "j"}
    pvc = create(http, f"{NS}/persistentvolumeclaims", {"metadata": {"name": "c"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    assert pvc["spec"]["volumeMode"] == "Filesystem" and pvc["status"] == {"phase": "Pending"}
    cron = create(http, "/apis/batch/v1/namespaces/default/cronjobs", {"metadata": {"name": "cj"}, "spec": {
        "schedule": "* * * * *", "jobTemplate": {"spec": {"template": job_template}}}})
    spec = cron["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)


def test_dry_run_create_has_no_resource_version(http: httpx.Client) -> None:
    r = http.post(f"{NS}/configmaps", params={"dryRun": "All"}, json={"metadata": {"name": "dry"}})
    assert r.status_code == 201
    meta = r.json()["metadata"]
    assert "resourceVersion" not in meta and meta["uid"] and meta["creationTimestamp"]
    assert http.get(f"{NS}/configmaps/dry").status_code == 404
