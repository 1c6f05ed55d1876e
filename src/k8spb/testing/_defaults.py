"""Defaulting and admission as a default cluster does them, on Kubernetes-JSON dicts.

:func:`set_defaults` is the defaulting kube-apiserver applies when it decodes a built-in object
(before managedFields are recorded, so the writer owns the defaulted fields); :func:`admit` is what
the default admission plugins then add (ServiceAccount, DefaultTolerationSeconds, Priority) and what
registry strategies fill in on create (a Service's cluster IP and node ports, a Job's selector),
none of it owned by the writer.  Only fields the server controls are touched: a value the client set
is kept.
"""

from __future__ import annotations

import base64
import ipaddress
import random
from collections.abc import Callable
from typing import Any

__all__ = ["ServiceIPs", "admit", "keep_allocations", "qos_class", "set_defaults"]

Obj = dict[str, Any]

_SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_RAND_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand's alphabet


def _d(obj: Obj, key: str) -> Obj:
    """``obj[key]`` as a dict, created empty if missing."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = obj[key] = {}
    return value


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(_RAND_CHARS) for _ in range(n))


# ------------------------------------------------------------------------------------------- pods


def _image_tag(image: str) -> str:
    """The tag of an image reference as kube's parser reads it (``latest`` when none, "" with a digest)."""
    if "@" in image:
        return ""
    name = image.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[1] if ":" in name else "latest"


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        probe.setdefault(key, value)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _container(c: Any, host_network: bool) -> None:
    if not isinstance(c, dict):
        return
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = "Always" if _image_tag(str(c.get("image", ""))) == "latest" else "IfNotPresent"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if host_network and "hostPort" not in port and "containerPort" in port:
                port["hostPort"] = port["containerPort"]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(probe))
    for env in c.get("env") or ():
        ref = (env.get("valueFrom") or {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")


def _volume(v: Any) -> None:
    if not isinstance(v, dict):
        return
    for source in ("secret", "configMap", "projected", "downwardAPI"):
        if isinstance(v.get(source), dict):
            v[source].setdefault("defaultMode", 420)
    for item in (v.get("downwardAPI") or {}).get("items") or ():
        ref = item.get("fieldRef") if isinstance(item, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")
    if isinstance(v.get("hostPath"), dict):
        v["hostPath"].setdefault("type", "")


def pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and the defaults of its containers and volumes."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    host_network = bool(spec.get("hostNetwork"))
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            _container(c, host_network)
    for v in spec.get("volumes") or ():
        _volume(v)


def _template(obj: Obj) -> None:
    template = _d(_d(obj, "spec"), "template")
    pod_spec(_d(template, "spec"))


def _pvc_spec(spec: Obj) -> None:
    spec.setdefault("volumeMode", "Filesystem")


# ---------------------------------------------------------------------------------------- kinds


def _deployment(obj: Obj) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _d(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _d(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(obj)


def _replica_set(obj: Obj) -> None:
    _d(obj, "spec").setdefault("replicas", 1)
    _template(obj)


def _replication_controller(obj: Obj) -> None:
    spec = _d(obj, "spec")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if labels:
        spec.setdefault("selector", dict(labels))
        meta = _d(obj, "metadata")
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    spec.setdefault("replicas", 1)
    _template(obj)


def _stateful_set(obj: Obj) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _d(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {})
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        strategy["rollingUpdate"].setdefault("partition", 0)
    retention = _d(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    for claim in spec.get("volumeClaimTemplates") or ():
        if isinstance(claim, dict):
            _pvc_spec(_d(claim, "spec"))
            _d(claim, "status").setdefault("phase", "Pending")
    _template(obj)


def _daemon_set(obj: Obj) -> None:
    spec = _d(obj, "spec")
    strategy = _d(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _d(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(obj)


def _job_spec(spec: Obj) -> None:
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 2147483647 if "backoffLimitPerIndex" in spec else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "Failed" if "podFailurePolicy" in spec else "TerminatingOrFailed")
    pod_spec(_d(_d(spec, "template"), "spec"))


def _job(obj: Obj) -> None:
    spec = _d(obj, "spec")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    meta = _d(obj, "metadata")
    if labels and not meta.get("labels"):
        meta["labels"] = dict(labels)
    _job_spec(spec)


def _cron_job(obj: Obj) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job = _d(_d(spec, "jobTemplate"), "spec")
    pod_spec(_d(_d(job, "template"), "spec"))


def _pod(obj: Obj) -> None:
    spec = _d(obj, "spec")
    pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    for c in spec.get("containers") or ():  # requests default to limits, for pods only
        resources = c.get("resources") if isinstance(c, dict) else None
        if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
            requests = _d(resources, "requests")
            for name, value in resources["limits"].items():
                requests.setdefault(name, value)


def _service(obj: Obj) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = _d(_d(spec, "sessionAffinityConfig"), "clientIP")
        client_ip.setdefault("timeoutSeconds", 10800)
    spec.setdefault("type", "ClusterIP")
    for port in spec.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port", 0)
    kind = spec["type"]
    external = kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and spec.get("externalIPs"))
    if external:
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    _d(_d(obj, "status"), "loadBalancer")


def _secret(obj: Obj) -> None:
    """The type defaults to Opaque; ``stringData`` is merged into ``data`` (its values win) and dropped."""
    if not obj.get("type"):
        obj["type"] = "Opaque"
    strings = obj.pop("stringData", None)
    if isinstance(strings, dict) and strings:
        data = _d(obj, "data")
        for key, value in strings.items():
            data[key] = base64.b64encode(str(value).encode()).decode("ascii")


def _pvc(obj: Obj) -> None:
    _pvc_spec(_d(obj, "spec"))
    _d(obj, "status").setdefault("phase", "Pending")


def _pv(obj: Obj) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    _d(obj, "status").setdefault("phase", "Pending")


_DEFAULTS: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("", "pods"): _pod,
    ("", "services"): _service,
    ("", "secrets"): _secret,
    ("", "persistentvolumeclaims"): _pvc,
    ("", "persistentvolumes"): _pv,
    ("", "replicationcontrollers"): _replication_controller,
    ("", "podtemplates"): lambda obj: pod_spec(_d(_d(obj, "template"), "spec")),
    ("apps", "deployments"): _deployment,
    ("apps", "replicasets"): _replica_set,
    ("apps", "statefulsets"): _stateful_set,
    ("apps", "daemonsets"): _daemon_set,
    ("batch", "jobs"): _job,
    ("batch", "cronjobs"): _cron_job,
}


def set_defaults(storage_key: tuple[str, str], obj: Obj) -> None:
    """Apply kube's defaulting for a built-in resource's object, in place."""
    fn = _DEFAULTS.get(storage_key)
    if fn is not None:
        fn(obj)


# ----------------------------------------------------------------------------------------- admission


class ServiceIPs:
    """Cluster IPs from 10.96.0.0/12 (10.96.0.1 is the ``kubernetes`` Service's) and node ports from
    30000-32767, as the service registry allocates them."""

    def __init__(self) -> None:
        self.cidr = ipaddress.ip_network("10.96.0.0/12")
        self.used_ips: set[str] = set()
        self.used_ports: set[int] = set()

    def ip(self, wanted: str | None = None) -> str:
        if wanted:
            self.used_ips.add(wanted)
            return wanted
        while True:
            candidate = str(self.cidr[random.randrange(2, self.cidr.num_addresses - 1)])
            if candidate not in self.used_ips:
                self.used_ips.add(candidate)
                return candidate

    def node_port(self) -> int:
        while True:
            port = random.randrange(30000, 32768)
            if port not in self.used_ports:
                self.used_ports.add(port)
                return port

    def release(self, service: Obj) -> None:
        spec = service.get("spec") or {}
        for ip in spec.get("clusterIPs") or ():
            self.used_ips.discard(ip)
        for port in spec.get("ports") or ():
            self.used_ports.discard(port.get("nodePort"))


def _allocate_service(spec: Obj, ips: ServiceIPs) -> None:
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return
    if spec.get("clusterIP") == "None" or spec.get("clusterIPs") == ["None"]:
        spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
    elif not spec.get("clusterIP"):
        spec["clusterIP"] = ips.ip((spec.get("clusterIPs") or [None])[0])
        spec["clusterIPs"] = [spec["clusterIP"]]
    else:
        ips.ip(spec["clusterIP"])
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    if kind in ("NodePort", "LoadBalancer") and spec.get("allocateLoadBalancerNodePorts", True):
        for port in spec.get("ports") or ():
            if isinstance(port, dict) and not port.get("nodePort"):
                port["nodePort"] = ips.node_port()
    if kind == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local" and not spec.get(
            "healthCheckNodePort"):
        spec["healthCheckNodePort"] = ips.node_port()


def _pod_admission(obj: Obj, service_accounts: Callable[[str, str], Obj | None]) -> None:
    spec = _d(obj, "spec")
    meta = obj.get("metadata") or {}
    # ServiceAccount: the pod runs as "default" unless told otherwise, with its API token mounted
    spec["serviceAccountName"] = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccount"] = spec["serviceAccountName"]
    account = service_accounts(str(meta.get("namespace", "")), spec["serviceAccountName"]) or {}
    automount = spec.get("automountServiceAccountToken", account.get("automountServiceAccountToken", True))
    containers = [c for key in ("initContainers", "containers") for c in spec.get(key) or ()
                  if isinstance(c, dict)]
    mounted = any(m.get("mountPath") == _SA_PATH for c in containers for m in c.get("volumeMounts") or ())
    if automount is not False and not mounted:
        name = f"kube-api-access-{random_suffix()}"
        spec.setdefault("volumes", []).append({"name": name, "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                        "path": "namespace"}]}}]}})
        for c in containers:
            c.setdefault("volumeMounts", []).append({"name": name, "readOnly": True, "mountPath": _SA_PATH})
    # DefaultTolerationSeconds: tolerate a not-ready or unreachable node for 5 minutes
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key and t.get("effect") in ("NoExecute", None, "") for t in tolerations
                   if isinstance(t, dict)):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    # Priority: no priority class means priority 0
    if not spec.get("priorityClassName"):
        spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")


def keep_allocations(new: Obj, old: Obj) -> None:
    """An update that leaves out a Service's allocated values keeps them (they are immutable)."""
    spec, old_spec = _d(new, "spec"), old.get("spec") or {}
    if spec.get("type", "ClusterIP") == "ExternalName":
        return
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "healthCheckNodePort"):
        if key not in spec and key in old_spec:
            spec[key] = old_spec[key]
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in old_spec.get("ports") or ()}
    for port in spec.get("ports") or ():
        previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
        if previous is not None and "nodePort" in previous and "nodePort" not in port:
            port["nodePort"] = previous["nodePort"]


def qos_class(spec: Obj) -> str:
    """A pod's QoS class from its containers' requests and limits (Guaranteed, Burstable, BestEffort)."""
    containers = [c for key in ("initContainers", "containers") for c in spec.get(key) or () if isinstance(c, dict)]
    any_set, guaranteed = False, True
    for c in containers:
        resources = c.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _job_admission(obj: Obj) -> None:
    """The job strategy's generated selector and labels (unless ``manualSelector``)."""
    spec = _d(obj, "spec")
    if spec.get("manualSelector"):
        return
    meta = obj["metadata"]
    uid, name = meta.get("uid", ""), meta.get("name", "")
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = _d(_d(_d(spec, "template"), "metadata"), "labels")
    labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                   "controller-uid": uid, "job-name": name})


def admit(storage_key: tuple[str, str], obj: Obj, *, ips: ServiceIPs,
          service_accounts: Callable[[str, str], Obj | None]) -> None:
    """What a default cluster's admission plugins and registry strategies add to a new object."""
    if storage_key == ("", "pods"):
        _pod_admission(obj, service_accounts)
    elif storage_key == ("", "services"):
        _allocate_service(_d(obj, "spec"), ips)
    elif storage_key == ("batch", "jobs"):
        _job_admission(obj)
