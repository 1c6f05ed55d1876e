"""A kubectl session against ApiServer whose output is what a real cluster prints.

The expected texts follow kube-apiserver's printers (columns, cells) and kubectl's table layout
(columns three spaces apart); only ages, generated IPs and tokens vary, and are matched loosely.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest

from k8spb.testing import ApiServer
from tests.testing import Kubectl, kubectl_runner

pytestmark = pytest.mark.timeout(120)

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: "nginx:1.27"}]
"""
AGE = r"(\d+s|\d+m\d*s?)"


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    pytest.importorskip("cryptography")
    home = tmp_path_factory.mktemp("kubectl")
    with ApiServer(tls=True) as srv:  # over TLS kubectl sends its token, so it has an identity
        yield kubectl_runner(srv.kubeconfig_path, home)


def table(text: str) -> list[str]:
    """kubectl's table lines, trailing blanks gone."""
    return [line.rstrip() for line in text.strip().split("\n")]


def test_apply_then_server_side_apply_takes_over(kubectl: Kubectl) -> None:
    assert kubectl("apply", "-f", "-", stdin=DEPLOYMENT).stdout == "deployment.apps/web created\n"
    scaled = DEPLOYMENT.replace("replicas: 2", "replicas: 3")
    assert kubectl("apply", "-f", "-", stdin=scaled).stdout == "deployment.apps/web configured\n"
    bumped = scaled.replace("nginx:1.27", "nginx:1.28")
    taken = kubectl("apply", "--server-side", "-f", "-", stdin=bumped)  # no conflict with client-side apply
    assert taken.stdout == "deployment.apps/web serverside-applied\n"
    live = json.loads(kubectl("get", "deploy", "web", "-o", "json", "--show-managed-fields").stdout)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert {m["manager"]: m["operation"] for m in live["metadata"]["managedFields"]} == {
        "kubectl": "Apply", "kubectl-last-applied": "Apply"}
    kubectl_fields = next(m for m in live["metadata"]["managedFields"] if m["manager"] == "kubectl")
    assert kubectl_fields["fieldsV1"]["f:spec"]["f:replicas"] == {}
    last = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"


def test_get_prints_kubes_columns(kubectl: Kubectl) -> None:
    lines = table(kubectl("get", "deployments").stdout)
    assert lines[0] == "NAME   READY   UP-TO-DATE   AVAILABLE   AGE"
    assert re.fullmatch(rf"web    0/3     0            0           {AGE}", lines[1]), lines
    wide = table(kubectl("get", "deployments", "-o", "wide").stdout)
    assert wide[0] == "NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES       SELECTOR"
    assert re.fullmatch(rf"web    0/3     0            0           {AGE}  +nginx        nginx:1.28   app=web", wide[1])
    kubectl("run", "solo", "--image=busybox:1.36", "--restart=Never")
    pods = table(kubectl("get", "pods").stdout)
    assert pods[0] == "NAME   READY   STATUS    RESTARTS   AGE"
    assert re.fullmatch(rf"solo   0/1     Pending   0          {AGE}", pods[1]), pods
    pods_wide = table(kubectl("get", "pods", "-o", "wide").stdout)
    assert pods_wide[0] == ("NAME   READY   STATUS    RESTARTS   AGE   IP       NODE     NOMINATED NODE   "
                            "READINESS GATES")
    assert re.fullmatch(rf"solo   0/1     Pending   0          {AGE}  +<none>   <none>   <none>           <none>",
                        pods_wide[1]), pods_wide
    services = table(kubectl("get", "services").stdout)
    assert services[0] == "NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE"
    assert re.fullmatch(rf"kubernetes   ClusterIP   10\.96\.0\.1    <none>        443/TCP   {AGE}", services[1])
    assert table(kubectl("get", "configmaps").stdout)[0] == "NAME               DATA   AGE"
    assert re.fullmatch(rf"kube-root-ca\.crt   1      {AGE}", table(kubectl("get", "configmaps").stdout)[1])
    namespaces = table(kubectl("get", "namespaces").stdout)
    assert namespaces[0] == "NAME              STATUS   AGE"
    assert [line.split()[:2] for line in namespaces[1:]] == [
        ["default", "Active"], ["kube-node-lease", "Active"], ["kube-public", "Active"], ["kube-system", "Active"]]
    assert table(kubectl("get", "serviceaccounts").stdout)[0] == "NAME      SECRETS   AGE"


def test_explain(kubectl: Kubectl) -> None:
    out = kubectl("explain", "deployment.spec.replicas").stdout
    assert out.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\nFIELD: replicas <integer>\n")
    pods = kubectl("explain", "pods").stdout
    assert pods.startswith("KIND:       Pod\nVERSION:    v1\n")
    assert re.search(r"^  spec\t<PodSpec>$", pods, re.M) and re.search(r"^  apiVersion\t<string>$", pods, re.M)
    crd = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: backups.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: backups, singular: backup, kind: Backup}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Schedule, type: string, jsonPath: .spec.schedule}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What to back up, and when.
            properties:
              schedule: {type: string, description: A cron schedule.}
"""
    kubectl("apply", "-f", "-", stdin=crd)
    kubectl("apply", "-f", "-", stdin="apiVersion: example.com/v1\nkind: Backup\nmetadata: {name: nightly}\n"
                                      "spec: {schedule: '0 3 * * *'}\n")
    backups = table(kubectl("get", "backups").stdout)
    assert backups[0] == "NAME      SCHEDULE    AGE"
    assert re.fullmatch(rf"nightly   0 3 \* \* \*   {AGE}", backups[1]), backups
    explained = kubectl("explain", "backup.spec").stdout
    assert "FIELD: spec <Object>" in explained and "What to back up, and when." in explained
    assert re.search(r"^  schedule\t<string>\n    A cron schedule\.$", explained, re.M)
    crds = table(kubectl("get", "crd").stdout)
    assert crds[0] == "NAME                  CREATED AT"
    assert re.fullmatch(r"backups\.example\.com   \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", crds[1])


def test_auth_whoami_can_i_and_create_token(kubectl: Kubectl) -> None:
    assert table(kubectl("auth", "whoami").stdout) == [
        "ATTRIBUTE   VALUE", "Username    k8spb-admin", "Groups      [system:masters system:authenticated]"]
    assert kubectl("auth", "can-i", "delete", "nodes").stdout == "yes\n"
    token = kubectl("create", "token", "default", "--duration=15m").stdout.strip()
    _, body, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert claims["sub"] == "system:serviceaccount:default:default" and claims["exp"] - claims["iat"] == 900
    as_sa = ("--token", token)
    whoami = table(kubectl("auth", "whoami", *as_sa).stdout)
    assert whoami[0] == "ATTRIBUTE                                           VALUE"
    assert whoami[1].split() == ["Username", "system:serviceaccount:default:default"]
    assert whoami[2].split()[0] == "UID"
    assert whoami[3] == ("Groups                                              [system:serviceaccounts "
                         "system:serviceaccounts:default system:authenticated]")
    assert whoami[4] == f"Extra: authentication.kubernetes.io/credential-id   [JTI={claims['jti']}]"
    denied = kubectl("auth", "can-i", "list", "pods", *as_sa, check=False)
    assert (denied.returncode, denied.stdout) == (1, "no\n")
    kubectl("create", "rolebinding", "view-pods", "--clusterrole=pod-viewer", "--serviceaccount=default:default")
    kubectl("create", "clusterrole", "pod-viewer", "--verb=list", "--resource=pods")
    assert kubectl("auth", "can-i", "list", "pods", *as_sa).stdout == "yes\n"


def test_namespace_deletion(kubectl: Kubectl) -> None:
    assert kubectl("create", "namespace", "scratch").stdout == "namespace/scratch created\n"
    kubectl("create", "configmap", "leftover", "-n", "scratch", "--from-literal=a=b")
    held = kubectl("create", "configmap", "held", "-n", "scratch", "-o", "json").stdout
    kubectl("patch", "configmap", "held", "-n", "scratch", "--type=merge", "-p",
            '{"metadata":{"finalizers":["example.com/keep"]}}')
    assert json.loads(held)["metadata"]["name"] == "held"
    out = kubectl("delete", "namespace", "scratch", "--wait=false").stdout
    assert out == 'namespace "scratch" deleted\n'
    assert table(kubectl("get", "namespace", "scratch").stdout)[1].split()[:2] == ["scratch", "Terminating"]
    assert table(kubectl("get", "configmaps", "-n", "scratch").stdout)[0] == "NAME   DATA   AGE"
    assert [line.split()[0] for line in table(kubectl("get", "configmaps", "-n", "scratch").stdout)[1:]] == ["held"]
    refused = kubectl("create", "configmap", "late", "-n", "scratch", check=False)
    assert "because it is being terminated" in refused.stderr
    kubectl("patch", "configmap", "held", "-n", "scratch", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    gone = kubectl("get", "namespace", "scratch", check=False)
    assert gone.returncode == 1 and 'namespaces "scratch" not found' in gone.stderr
