"""Server-side printing (k8spb.testing._printers): kube's columns, and cells computed as its printers do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from k8spb.testing._crd import crd_types
from k8spb.testing._printers import human_age, jsonpath, table_cells, table_columns
from k8spb.testing._resources import Resources, ResourceType

RES = Resources()


def rt(group: str, version: str, plural: str) -> ResourceType:
    found = RES.get(group, version, plural)
    assert found is not None
    return found


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cells(resource: ResourceType, obj: dict[str, Any]) -> list[Any]:
    [(row, _)] = table_cells(resource, [obj])
    return row


def names(resource: ResourceType) -> list[str]:
    return [c["name"] for c in table_columns(resource) if c["priority"] == 0]


def wide(resource: ResourceType) -> list[str]:
    return [c["name"] for c in table_columns(resource) if c["priority"] == 1]


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (119, "119s"), (150, "2m30s"), (600, "10m"),
                                               (3 * 3600 + 60, "3h1m"), (9 * 3600, "9h"), (49 * 3600, "2d1h"),
                                               (8 * 86400, "8d"), (800 * 86400, "2y70d"), (3000 * 86400, "8y")])
def test_human_durations(seconds: int, text: str) -> None:
    assert human_age(seconds) == text


def test_common_kinds_have_kubes_columns() -> None:
    assert names(rt("", "v1", "pods")) == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert wide(rt("", "v1", "pods")) == ["IP", "Node", "Nominated Node", "Readiness Gates"]
    assert names(rt("apps", "v1", "deployments")) == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert wide(rt("apps", "v1", "deployments")) == ["Containers", "Images", "Selector"]
    assert names(rt("", "v1", "services")) == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"]
    assert names(rt("", "v1", "configmaps")) == ["Name", "Data", "Age"]
    assert names(rt("", "v1", "secrets")) == ["Name", "Type", "Data", "Age"]
    assert names(rt("", "v1", "nodes")) == ["Name", "Status", "Roles", "Age", "Version"]
    assert names(rt("", "v1", "namespaces")) == ["Name", "Status", "Age"]
    assert names(rt("batch", "v1", "jobs")) == ["Name", "Status", "Completions", "Duration", "Age"]
    assert names(rt("batch", "v1", "cronjobs")) == ["Name", "Schedule", "Timezone", "Suspend", "Active",
                                                    "Last Schedule", "Age"]
    assert names(rt("", "v1", "events")) == ["Last Seen", "Type", "Reason", "Object", "Message"]
    assert names(rt("apps", "v1", "statefulsets")) == ["Name", "Ready", "Age"]
    assert names(rt("apps", "v1", "daemonsets")) == ["Name", "Desired", "Current", "Ready", "Up-to-date",
                                                     "Available", "Node Selector", "Age"]
    assert names(rt("rbac.authorization.k8s.io", "v1", "clusterroles")) == ["Name", "Created At"]  # no printer
    name = table_columns(rt("", "v1", "pods"))[0]
    assert name["format"] == "name" and name["type"] == "string"


def test_pod_status_column() -> None:
    pods = rt("", "v1", "pods")
    base = {"metadata": {"name": "p", "creationTimestamp": ago(minutes=3)},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    assert cells(pods, {**base, "status": {"phase": "Pending"}}) == [
        "p", "0/2", "Pending", "0", "3m", "<none>", "<none>", "<none>", "<none>"]
    running = {**base, "spec": {**base["spec"], "nodeName": "n1", "readinessGates": [{"conditionType": "x"}]},
               "status": {"phase": "Running", "podIPs": [{"ip": "10.1.0.5"}],
                          "conditions": [{"type": "x", "status": "True"}],
                          "containerStatuses": [
                              {"name": "a", "ready": True, "state": {"running": {}}, "restartCount": 0},
                              {"name": "b", "ready": False, "restartCount": 5,
                               "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                               "lastState": {"terminated": {"finishedAt": ago(minutes=2)}}}]}}
    assert cells(pods, running) == ["p", "1/2", "CrashLoopBackOff", "5 (2m ago)", "3m", "10.1.0.5", "n1",
                                    "<none>", "1/1"]
    init = {**base, "spec": {**base["spec"], "initContainers": [{"name": "i"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": {"waiting": {}}}]}}
    assert cells(pods, init)[2] == "Init:0/1"
    failed_init = {**init, "status": {"phase": "Pending", "initContainerStatuses": [
        {"name": "i", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}}
    assert cells(pods, failed_init)[2] == "Init:Error"
    sidecar = {**base, "spec": {"containers": [{"name": "a"}],
                                "initContainers": [{"name": "s", "restartPolicy": "Always"}]},
               "status": {"phase": "Running", "initContainerStatuses": [
                   {"name": "s", "started": True, "ready": True, "state": {"running": {}}}],
                   "containerStatuses": [{"name": "a", "ready": True, "state": {"running": {}}}]}}
    assert cells(pods, sidecar)[1:3] == ["2/2", "Running"]
    exited = {**base, "status": {"phase": "Running", "containerStatuses": [
        {"name": "a", "state": {"terminated": {"exitCode": 3}}}]}}
    assert cells(pods, exited)[2] == "ExitCode:3"
    deleting = {**base, "metadata": {**base["metadata"], "deletionTimestamp": ago()}, "status": {"phase": "Running"}}
    assert cells(pods, deleting)[2] == "Terminating"
    [(_, conditions)] = table_cells(pods, [{**base, "status": {"phase": "Succeeded"}}])
    assert conditions == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                           "message": "The pod has completed successfully."}]


def test_workload_cells() -> None:
    template = {"spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "fluent"}]}}
    deploy = {"metadata": {"name": "d", "creationTimestamp": ago(hours=3, minutes=1)},
              "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "a"},
                                                   "matchExpressions": [{"key": "env", "operator": "In",
                                                                         "values": ["prod", "dev"]}]},
                       "template": template},
              "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert cells(rt("apps", "v1", "deployments"), deploy) == [
        "d", "2/3", 3, 2, "3h1m", "web,log", "nginx:1,fluent", "app=web,env in (dev,prod),tier=a"]
    sts = {"metadata": {"name": "s"}, "spec": {"replicas": 2, "template": template}, "status": {"readyReplicas": 1}}
    assert cells(rt("apps", "v1", "statefulsets"), sts) == ["s", "1/2", "<unknown>", "web,log", "nginx:1,fluent"]
    job = {"metadata": {"name": "j"}, "spec": {"completions": 1, "template": template,
                                               "selector": {"matchLabels": {"u": "1"}}},
           "status": {"succeeded": 1, "startTime": ago(minutes=5), "completionTime": ago(minutes=4),
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    assert cells(rt("batch", "v1", "jobs"), job)[:4] == ["j", "Complete", "1/1", "60s"]
    cron = {"metadata": {"name": "c"}, "spec": {"schedule": "*/5 * * * *", "suspend": False,
                                                "jobTemplate": {"spec": {"template": template}}}}
    assert cells(rt("batch", "v1", "cronjobs"), cron)[:6] == ["c", "*/5 * * * *", "<none>", "False", 0, "<none>"]
    ds = {"metadata": {"name": "ds"}, "spec": {"template": {"spec": {"nodeSelector": {"b": "2", "a": "1"}}}},
          "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2}}
    assert cells(rt("apps", "v1", "daemonsets"), ds)[:7] == ["ds", 3, 3, 2, 0, 0, "a=1,b=2"]


def test_service_node_event_and_endpoint_cells() -> None:
    svc = {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.3.4"],
                                                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                                          {"port": 53, "protocol": "UDP"}]}}
    assert cells(rt("", "v1", "services"), svc)[:5] == ["lb", "LoadBalancer", "10.96.3.4", "<pending>",
                                                         "80:30080/TCP,53/UDP"]
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb.example.com"}]}}
    assert cells(rt("", "v1", "services"), svc)[3] == "1.2.3.4,lb.example.com"
    node = {"metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": "",
                                                 "kubernetes.io/role": "worker"}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "False"}], "nodeInfo": {"kubeletVersion": "v1.36.2"},
                       "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}}
    assert cells(rt("", "v1", "nodes"), node) == ["n", "NotReady,SchedulingDisabled", "control-plane,worker",
                                                   "<unknown>", "v1.36.2", "172.18.0.2", "<none>", "<unknown>",
                                                   "<unknown>", "<unknown>"]
    event = {"metadata": {"name": "e"}, "type": "Warning", "reason": "BackOff", "message": " restarting \n",
             "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{a}"},
             "source": {"component": "kubelet", "host": "node-1"}, "firstTimestamp": ago(minutes=5),
             "lastTimestamp": ago(seconds=30), "count": 4}
    assert cells(rt("", "v1", "events"), event) == ["30s", "Warning", "BackOff", "pod/web", "spec.containers{a}",
                                                     "kubelet, node-1", "restarting", "5m", 4, "e"]
    endpoints = {"metadata": {"name": "ep"}, "subsets": [
        {"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 5)], "ports": [{"port": 80}]}]}
    assert cells(rt("", "v1", "endpoints"), endpoints)[1] == "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..."
    assert cells(rt("", "v1", "endpoints"), {"metadata": {"name": "e"}})[1] == "<none>"


def test_default_table_is_name_and_created_at() -> None:
    role = {"metadata": {"name": "r", "creationTimestamp": "2026-01-02T03:04:05Z"}}
    assert cells(rt("rbac.authorization.k8s.io", "v1", "clusterroles"), role) == ["r", "2026-01-02T03:04:05Z"]
    assert table_columns(rt("rbac.authorization.k8s.io", "v1", "clusterroles"))[1]["type"] == "date"


def test_custom_resource_columns_from_the_crd() -> None:
    crd = {"spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "things", "kind": "Thing"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "additionalPrinterColumns": [
                        {"name": "Ready", "type": "string",
                         "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                        {"name": "Size", "type": "integer", "jsonPath": ".spec.size", "priority": 1},
                        {"name": "Since", "type": "date", "jsonPath": ".status.since"},
                        {"name": "Tags", "type": "string", "jsonPath": ".spec.tags"}]}]}}
    [thing] = crd_types(crd)
    columns = table_columns(thing, crd)
    assert [(c["name"], c["type"], c["priority"]) for c in columns] == [
        ("Name", "string", 0), ("Ready", "string", 0), ("Size", "integer", 1), ("Since", "date", 0),
        ("Tags", "string", 0)]
    obj = {"metadata": {"name": "t"}, "spec": {"size": 3, "tags": ["a", "b"]},
           "status": {"since": ago(minutes=7), "conditions": [{"type": "Other", "status": "False"},
                                                              {"type": "Ready", "status": "True"}]}}
    [(row, _)] = table_cells(thing, [obj], crd)
    assert row == ["t", "True", 3, "7m", '["a","b"]']
    [(empty, _)] = table_cells(thing, [{"metadata": {"name": "u"}}], crd)
    assert empty == ["u", None, None, None, None]
    assert [c["name"] for c in table_columns(thing, None)] == ["Name", "Age"]


def test_jsonpath() -> None:
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert jsonpath(doc, ".a.b[1].c") == [2]
    assert jsonpath(doc, ".a.b[*].c") == [1, 2]
    assert jsonpath(doc, ".a.missing") == [] and jsonpath(doc, "nonsense") == []
