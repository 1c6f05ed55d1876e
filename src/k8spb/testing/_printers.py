"""Server-side printing (``as=Table``): the columns and cells kube-apiserver's printers give each kind.

Built-in kinds get the columns of kube's printers (pods READY/STATUS/RESTARTS/AGE and their wide
columns, deployments READY/UP-TO-DATE/AVAILABLE, ...), cells computed the way those printers compute
them; kinds without a printer get kube's default NAME/CREATED AT; custom resources get their CRD's
``additionalPrinterColumns`` (JSONPath) or NAME/AGE.  Every column is sent, wide ones with priority 1,
as the server always prints wide and kubectl chooses.  Descriptions come from the models' docstrings
at run time (empty where kube's are its own sentences).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from k8spb.testing._docs import field_doc
from k8spb.testing._resources import ResourceType

__all__ = ["human_age", "table_cells", "table_columns"]

Obj = dict[str, Any]
NONE = "<none>"


# ------------------------------------------------------------------------------------------ helpers


def human_age(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 730:
        return f"{d}d"
    return f"{d // 365}y{d % 365}d" if d < 365 * 8 and d % 365 else f"{d // 365}y"


def _time(stamp: Any) -> datetime | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def since(stamp: Any) -> str:
    """translateTimestampSince: the age of a timestamp, ``<unknown>`` when unset."""
    at = _time(stamp)
    return "<unknown>" if at is None else human_age((datetime.now(UTC) - at).total_seconds())


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.get("metadata") or {}
    return meta


def _age(obj: Obj) -> str:
    return since(_meta(obj).get("creationTimestamp"))


def _d(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def format_labels(labels: Any) -> str:
    """labels.FormatLabels: ``k=v,...`` sorted, ``<none>`` when empty."""
    if not labels:
        return NONE
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def selector_string(selector: Any) -> str:
    """metav1.LabelSelectorAsSelector(...).String(): requirements sorted by key ("" for nil or empty)."""
    if not isinstance(selector, dict):
        return ""
    parts: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key", ""), expr.get("operator"), sorted(expr.get("values") or ())
        text = {"In": f"{key} in ({','.join(values)})", "NotIn": f"{key} notin ({','.join(values)})",
                "Exists": key, "DoesNotExist": f"!{key}"}.get(op or "")
        if text is not None:
            parts.append((key, text))
    return ",".join(text for _, text in sorted(parts))


def _containers(spec: Any) -> tuple[str, str]:
    containers = (spec or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _bool_ptr(value: Any) -> str:
    return "<unset>" if value is None else ("True" if value else "False")


def _load_balancer(status: Any, wide: bool = True) -> str:
    ingress = _d(status, "ingress") or []
    result = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress if i.get("ip") or i.get("hostname"))
    if not wide and len(result) > 16:
        result = result[:13] + "..."
    return result


def _conditions_true(conditions: Any, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions or ())


# -------------------------------------------------------------------------------------------- kinds


def _pod(pod: Obj) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or ()}

    def restartable(name: Any) -> bool:
        return (init_specs.get(name) or {}).get("restartPolicy") == "Always"

    total = len(spec.get("containers") or ()) + sum(1 for name in init_specs if restartable(name))
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last = ""
    reason = status.get("reason") or status.get("phase") or ""
    for cond in status.get("conditions") or ():
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, c in enumerate(init_statuses):
        restarts += _int(c.get("restartCount"))
        finished = _d(c, "lastState", "terminated", "finishedAt") or ""
        last_restart = max(last_restart, finished)
        if restartable(c.get("name")):
            sidecar_restarts += _int(c.get("restartCount"))
            sidecar_last = max(sidecar_last, finished)
        terminated, waiting = _d(c, "state", "terminated"), _d(c, "state", "waiting")
        if terminated and _int(terminated.get("exitCode")) == 0:
            continue
        if restartable(c.get("name")) and c.get("started"):
            ready += 1 if c.get("ready") else 0
            continue
        if terminated:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif _int(terminated.get("signal")):
                reason = f"Init:Signal:{_int(terminated.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or ())}"
        initializing = True
        break
    if not initializing or _conditions_true(status.get("conditions"), "Initialized"):
        restarts, last_restart = sidecar_restarts, sidecar_last
        has_running = False
        for c in reversed(status.get("containerStatuses") or []):
            restarts += _int(c.get("restartCount"))
            last_restart = max(last_restart, _d(c, "lastState", "terminated", "finishedAt") or "")
            waiting, terminated = _d(c, "state", "waiting"), _d(c, "state", "terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                signal = _int(terminated.get("signal"))
                reason = f"Signal:{signal}" if signal else f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif c.get("ready") and _d(c, "state", "running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _conditions_true(status.get("conditions"), "Ready") else "NotReady"
    if _meta(pod).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif status.get("phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({since(last_restart)} ago)"
    ips = status.get("podIPs") or []
    gates = spec.get("readinessGates") or []
    gate_text = NONE
    if gates:
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or ()}
        gate_text = f"{sum(1 for g in gates if conditions.get(g.get('conditionType')) == 'True')}/{len(gates)}"
    return [_meta(pod).get("name", ""), f"{ready}/{total}", reason, restarts_text, _age(pod),
            (ips[0].get("ip") if ips else "") or NONE, spec.get("nodeName") or NONE,
            status.get("nominatedNodeName") or NONE, gate_text]


def _pod_conditions(pod: Obj) -> list[Obj] | None:
    phase = _d(pod, "status", "phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return None


def _workload_wide(obj: Obj, template_spec: Any, selector: str) -> list[Any]:
    names, images = _containers(template_spec)
    return [names, images, selector]


def _deployment(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [_meta(obj).get("name", ""), f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'))}",
            _int(status.get("updatedReplicas")), _int(status.get("availableReplicas")), _age(obj),
            *_workload_wide(obj, _d(spec, "template", "spec"), selector_string(spec.get("selector")))]


def _replica_set(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector")
    text = format_labels(selector) if rt_is_rc(obj) else selector_string(selector)
    return [_meta(obj).get("name", ""), _int(spec.get("replicas")), _int(status.get("replicas")),
            _int(status.get("readyReplicas")), _age(obj), *_workload_wide(obj, _d(spec, "template", "spec"), text)]


def rt_is_rc(obj: Obj) -> bool:
    """A ReplicationController's selector is a plain label map, a ReplicaSet's a LabelSelector."""
    return obj.get("kind") == "ReplicationController"


def _daemon_set(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [_meta(obj).get("name", ""), _int(status.get("desiredNumberScheduled")),
            _int(status.get("currentNumberScheduled")), _int(status.get("numberReady")),
            _int(status.get("updatedNumberScheduled")), _int(status.get("numberAvailable")),
            format_labels(_d(spec, "template", "spec", "nodeSelector")), _age(obj),
            *_workload_wide(obj, _d(spec, "template", "spec"), selector_string(spec.get("selector")))]


def _stateful_set(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(_d(spec, "template", "spec"))
    return [_meta(obj).get("name", ""), f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'))}",
            _age(obj), names, images]


def _job(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    succeeded = _int(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{_int(spec['completions'])}"
    elif _int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {_int(spec['parallelism'])}"
    else:
        completions = f"{succeeded}/1"
    start, end = _time(status.get("startTime")), _time(status.get("completionTime"))
    duration = ""
    if start is not None:
        duration = human_age(((end or datetime.now(UTC)) - start).total_seconds())
    conditions = status.get("conditions")
    if _conditions_true(conditions, "Complete"):
        state = "Complete"
    elif _conditions_true(conditions, "Failed"):
        state = "Failed"
    elif _meta(obj).get("deletionTimestamp"):
        state = "Terminating"
    elif _conditions_true(conditions, "Suspended"):
        state = "Suspended"
    elif _conditions_true(conditions, "FailureTarget"):
        state = "FailureTarget"
    elif _conditions_true(conditions, "SuccessCriteriaMet"):
        state = "SuccessCriteriaMet"
    else:
        state = "Running"
    return [_meta(obj).get("name", ""), state, completions, duration, _age(obj),
            *_workload_wide(obj, _d(spec, "template", "spec"), selector_string(spec.get("selector")))]


def _cron_job(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    last = status.get("lastScheduleTime")
    job = _d(spec, "jobTemplate", "spec") or {}
    return [_meta(obj).get("name", ""), spec.get("schedule", ""), spec.get("timeZone") or NONE,
            _bool_ptr(spec.get("suspend")), len(status.get("active") or ()), since(last) if last else NONE,
            _age(obj), *_workload_wide(obj, _d(job, "template", "spec"),
                                       selector_string(job["selector"]) if job.get("selector") else NONE)]


def _service(obj: Obj) -> list[Any]:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "")
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        external_ip = ",".join(external) or NONE
    elif kind == "LoadBalancer":
        lb = _load_balancer(_d(obj, "status", "loadBalancer"))
        external_ip = ",".join([*([lb] if lb else []), *external]) if external else lb or "<pending>"
    elif kind == "ExternalName":
        external_ip = spec.get("externalName", "")
    else:
        external_ip = "<unknown>"
    ports = ",".join(f"{p.get('port', 0)}:{p['nodePort']}/{p.get('protocol', '')}" if p.get("nodePort")
                     else f"{p.get('port', 0)}/{p.get('protocol', '')}" for p in spec.get("ports") or ())
    return [_meta(obj).get("name", ""), kind, (spec.get("clusterIPs") or [NONE])[0], external_ip, ports or NONE,
            _age(obj), format_labels(spec.get("selector"))]


def _endpoints(obj: Obj) -> list[Any]:
    listed: list[str] = []
    count, more = 0, False
    for subset in obj.get("subsets") or ():
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        pairs = [(a.get("ip", ""), None) for a in addresses] if not ports else [
            (a.get("ip", ""), p.get("port")) for p in ports for a in addresses]
        count += len(pairs)
        for ip, port in pairs:
            if len(listed) == 3:
                more = True
                break
            listed.append(ip if port is None else (f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"))
    text = NONE if not obj.get("subsets") else ",".join(listed) + (f" + {count - 3} more..." if more else "")
    return [_meta(obj).get("name", ""), text, _age(obj)]


def _endpoint_slice(obj: Obj) -> list[Any]:
    ports = ",".join(str(p["port"]) for p in obj.get("ports") or () if p.get("port") is not None) or "<unset>"
    addresses = [a for e in obj.get("endpoints") or () for a in e.get("addresses") or ()]
    text = ",".join(addresses[:3]) + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")
    return [_meta(obj).get("name", ""), obj.get("addressType", ""), ports, text or "<unset>", _age(obj)]


def _node(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready = [c for c in status.get("conditions") or () if c.get("type") == "Ready"]
    states = ["Ready" if ready[-1].get("status") == "True" else "NotReady"] if ready else ["Unknown"]
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    roles: set[str] = set()
    for key, value in (_meta(obj).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key[len("node-role.kubernetes.io/"):]:
            roles.add(key[len("node-role.kubernetes.io/"):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = status.get("nodeInfo") or {}
    addresses = status.get("addresses") or []

    def address(kind: str) -> str:
        return next((a.get("address", "") for a in addresses if a.get("type") == kind), NONE)

    return [_meta(obj).get("name", ""), ",".join(states), ",".join(sorted(roles)) or NONE, _age(obj),
            info.get("kubeletVersion", ""), address("InternalIP"), address("ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def _event(obj: Obj) -> list[Any]:
    first = since(obj.get("firstTimestamp")) if obj.get("firstTimestamp") else since(obj.get("eventTime"))
    last = since(obj.get("lastTimestamp")) if obj.get("lastTimestamp") else first
    count = _int(obj.get("count"))
    series = obj.get("series")
    if series:
        last, count = since(series.get("lastObservedTime")), _int(series.get("count"))
    elif count == 0:
        count = 1
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = obj.get("source") or {}
    if source.get("component"):
        component, instance = source["component"], source.get("host", "")
    else:
        component, instance = obj.get("reportingController") or obj.get("reportingComponent") or "", \
            obj.get("reportingInstance", "")
    return [last, obj.get("type", ""), obj.get("reason", ""), target, involved.get("fieldPath", ""),
            f"{component}, {instance}" if instance else component,
            str(obj.get("message") or obj.get("note") or "").strip(), first, count, _meta(obj).get("name", "")]


def _pvc(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = "Terminating" if _meta(obj).get("deletionTimestamp") else status.get("phase", "")
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = _access_modes(status.get("accessModes"))
        capacity = str(_d(status, "capacity", "storage") or "")
    storage_class = spec.get("storageClassName") or (_meta(obj).get("annotations") or {}).get(
        "volume.beta.kubernetes.io/storage-class", "")
    return [_meta(obj).get("name", ""), phase, spec.get("volumeName", ""), capacity, modes, storage_class,
            spec.get("volumeAttributesClassName") or "<unset>", _age(obj), spec.get("volumeMode") or "<unset>"]


def _access_modes(modes: Any) -> str:
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    present = set(modes or ())
    return ",".join(short[m] for m in short if m in present)


def _pv(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    claim = spec.get("claimRef") or {}
    claim_text = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else ""
    phase = "Terminating" if _meta(obj).get("deletionTimestamp") else status.get("phase", "")
    return [_meta(obj).get("name", ""), str(_d(spec, "capacity", "storage") or ""),
            _access_modes(spec.get("accessModes")), spec.get("persistentVolumeReclaimPolicy", ""), phase,
            claim_text, spec.get("storageClassName", ""), spec.get("volumeAttributesClassName") or "<unset>",
            status.get("reason", ""), _age(obj), spec.get("volumeMode") or "<unset>"]


def _ingress(obj: Obj) -> list[Any]:
    spec = obj.get("spec") or {}
    hosts = [r["host"] for r in spec.get("rules") or () if r.get("host")]
    host_text = ",".join(hosts[:3]) + (f" + {len(hosts) - 3} more..." if len(hosts) > 3 else "") if hosts else "*"
    return [_meta(obj).get("name", ""), spec.get("ingressClassName") or NONE, host_text,
            _load_balancer(_d(obj, "status", "loadBalancer")), "80, 443" if spec.get("tls") else "80", _age(obj)]


def _binding(obj: Obj) -> list[Any]:
    ref = obj.get("roleRef") or {}
    subjects = obj.get("subjects") or []

    def named(kind: str) -> str:
        return ", ".join(s.get("name", "") for s in subjects if s.get("kind") == kind)

    accounts = ", ".join(f"{s.get('namespace', '')}/{s.get('name', '')}" for s in subjects
                         if s.get("kind") == "ServiceAccount")
    return [_meta(obj).get("name", ""), f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(obj),
            named("User"), named("Group"), accounts]


def _pdb(obj: Obj) -> list[Any]:
    spec = obj.get("spec") or {}
    return [_meta(obj).get("name", ""), str(spec["minAvailable"]) if "minAvailable" in spec else "N/A",
            str(spec["maxUnavailable"]) if "maxUnavailable" in spec else "N/A",
            _int(_d(obj, "status", "disruptionsAllowed")), _age(obj)]


def _storage_class(obj: Obj) -> list[Any]:
    name = _meta(obj).get("name", "")
    annotations = _meta(obj).get("annotations") or {}
    if "true" in (annotations.get("storageclass.kubernetes.io/is-default-class"),
                  annotations.get("storageclass.beta.kubernetes.io/is-default-class")):
        name += " (default)"
    return [name, obj.get("provisioner", ""), obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate", bool(obj.get("allowVolumeExpansion")), _age(obj)]


def _hpa(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    metrics = spec.get("metrics") or []
    targets = "<none>" if not metrics else ", ".join(
        f"<unknown>/{_d(m, 'resource', 'target', 'averageUtilization')}%" if _d(m, "resource", "target",
                                                                                  "averageUtilization")
        else "<unknown>" for m in metrics)
    return [_meta(obj).get("name", ""), f"{ref.get('kind', '')}/{ref.get('name', '')}", targets,
            _int(spec.get("minReplicas")) if "minReplicas" in spec else "<unset>", _int(spec.get("maxReplicas")),
            _int(status.get("currentReplicas")), _age(obj)]


def _priority_class(obj: Obj) -> list[Any]:
    return [_meta(obj).get("name", ""), _int(obj.get("value")), bool(obj.get("globalDefault")), _age(obj),
            obj.get("preemptionPolicy") or "<unset>"]


def _controller_revision(obj: Obj) -> list[Any]:
    owner = next((r for r in _meta(obj).get("ownerReferences") or () if r.get("controller")), None)
    controller = NONE
    if owner:
        group = owner.get("apiVersion", "").rpartition("/")[0]
        kind = owner.get("kind", "") + (f".{group}" if group else "")
        controller = f"{kind.lower()}/{owner.get('name', '')}"
    return [_meta(obj).get("name", ""), controller, _int(obj.get("revision")), _age(obj)]


def _resource_quota(obj: Obj) -> list[Any]:
    hard, used = _d(obj, "spec", "hard") or {}, _d(obj, "status", "used") or {}
    request = ", ".join(f"{k}: {used.get(k, '0')}/{v}" for k, v in sorted(hard.items()) if not k.startswith("limits."))
    limit = ", ".join(f"{k}: {used.get(k, '0')}/{v}" for k, v in sorted(hard.items()) if k.startswith("limits."))
    return [_meta(obj).get("name", ""), _age(obj), request, limit]


def _csr(obj: Obj) -> list[Any]:
    spec = obj.get("spec") or {}
    conditions = [c.get("type", "") for c in _d(obj, "status", "conditions") or ()]
    if _d(obj, "status", "certificate"):
        conditions.append("Issued")
    seconds = spec.get("expirationSeconds")
    return [_meta(obj).get("name", ""), _age(obj), spec.get("signerName", ""), spec.get("username", ""),
            human_age(seconds) if seconds else NONE, ",".join(conditions) or "Pending"]


def _pod_template(obj: Obj) -> list[Any]:
    template = obj.get("template") or {}
    names, images = _containers(template.get("spec"))
    return [_meta(obj).get("name", ""), names, images, format_labels(_d(template, "metadata", "labels"))]


def _webhooks(obj: Obj) -> list[Any]:
    return [_meta(obj).get("name", ""), len(obj.get("webhooks") or ()), _age(obj)]


def _api_service(obj: Obj) -> list[Any]:
    spec = obj.get("spec") or {}
    service = spec.get("service")
    available = "Unknown"
    for cond in _d(obj, "status", "conditions") or ():
        if cond.get("type") == "Available":
            available = cond.get("status", "")
            if available != "True" and cond.get("reason"):
                available += f" ({cond['reason']})"
    return [_meta(obj).get("name", ""), f"{service.get('namespace')}/{service.get('name')}" if service else "Local",
            available, _age(obj)]


def _simple(*paths: tuple[str, ...], age_at: int = -1) -> Callable[[Obj], list[Any]]:
    """A printer of the name, the values at ``paths`` and the age (inserted at ``age_at``)."""
    def cells(obj: Obj) -> list[Any]:
        values = [_meta(obj).get("name", "")] + [_d(obj, *p) if _d(obj, *p) is not None else "" for p in paths]
        values.insert(len(values) + 1 + age_at if age_at < 0 else age_at, _age(obj))
        return values
    return cells


# -------------------------------------------------------------------------------------------- table


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    priority: int = 0
    format: str = ""
    doc: tuple[str, str, str] | None = None
    """(module, class, JSON key) whose docstring describes the column."""


_META = "k8spb.apimachinery.pkg.apis.meta.v1"
_CORE, _APPS = "k8spb.api.core.v1", "k8spb.api.apps.v1"
NAME = Column("Name", format="name", doc=(_META, "ObjectMeta", "name"))
AGE = Column("Age", doc=(_META, "ObjectMeta", "creationTimestamp"))
WIDE = (Column("Containers", priority=1), Column("Images", priority=1))


def _wide(selector_doc: tuple[str, str, str] | None) -> tuple[Column, ...]:
    return (*WIDE, Column("Selector", priority=1, doc=selector_doc))


_PRINTERS: dict[tuple[str, str], tuple[tuple[Column, ...], Callable[[Obj], list[Any]]]] = {
    ("", "pods"): ((NAME, Column("Ready"), Column("Status"), Column("Restarts"), AGE,
                    Column("IP", priority=1, doc=(_CORE, "PodStatus", "podIP")),
                    Column("Node", priority=1, doc=(_CORE, "PodSpec", "nodeName")),
                    Column("Nominated Node", priority=1, doc=(_CORE, "PodStatus", "nominatedNodeName")),
                    Column("Readiness Gates", priority=1, doc=(_CORE, "PodSpec", "readinessGates"))), _pod),
    ("", "podtemplates"): ((NAME, Column("Containers"), Column("Images"), Column("Pod Labels")), _pod_template),
    ("", "replicationcontrollers"): (
        (NAME, Column("Desired", "integer", doc=(_CORE, "ReplicationControllerSpec", "replicas")),
         Column("Current", "integer", doc=(_CORE, "ReplicationControllerStatus", "replicas")),
         Column("Ready", "integer", doc=(_CORE, "ReplicationControllerStatus", "readyReplicas")), AGE,
         *_wide((_CORE, "ReplicationControllerSpec", "selector"))), _replica_set),
    ("apps", "replicasets"): (
        (NAME, Column("Desired", "integer", doc=(_APPS, "ReplicaSetSpec", "replicas")),
         Column("Current", "integer", doc=(_APPS, "ReplicaSetStatus", "replicas")),
         Column("Ready", "integer", doc=(_APPS, "ReplicaSetStatus", "readyReplicas")), AGE,
         *_wide((_APPS, "ReplicaSetSpec", "selector"))), _replica_set),
    ("apps", "deployments"): (
        (NAME, Column("Ready"), Column("Up-to-date", doc=(_APPS, "DeploymentStatus", "updatedReplicas")),
         Column("Available", doc=(_APPS, "DeploymentStatus", "availableReplicas")), AGE,
         *_wide((_APPS, "DeploymentSpec", "selector"))), _deployment),
    ("apps", "daemonsets"): (
        (NAME, Column("Desired", "integer", doc=(_APPS, "DaemonSetStatus", "desiredNumberScheduled")),
         Column("Current", "integer", doc=(_APPS, "DaemonSetStatus", "currentNumberScheduled")),
         Column("Ready", "integer", doc=(_APPS, "DaemonSetStatus", "numberReady")),
         Column("Up-to-date", "integer", doc=(_APPS, "DaemonSetStatus", "updatedNumberScheduled")),
         Column("Available", "integer", doc=(_APPS, "DaemonSetStatus", "numberAvailable")),
         Column("Node Selector", doc=(_CORE, "PodSpec", "nodeSelector")), AGE,
         *_wide((_APPS, "DaemonSetSpec", "selector"))), _daemon_set),
    ("apps", "statefulsets"): ((NAME, Column("Ready"), AGE, *WIDE), _stateful_set),
    ("apps", "controllerrevisions"): (
        (NAME, Column("Controller"), Column("Revision", "integer", doc=(_APPS, "ControllerRevision", "revision")),
         AGE), _controller_revision),
    ("batch", "jobs"): ((NAME, Column("Status"), Column("Completions"), Column("Duration"), AGE,
                         *_wide(("k8spb.api.batch.v1", "JobSpec", "selector"))), _job),
    ("batch", "cronjobs"): (
        (NAME, Column("Schedule", doc=("k8spb.api.batch.v1", "CronJobSpec", "schedule")),
         Column("Timezone", doc=("k8spb.api.batch.v1", "CronJobSpec", "timeZone")),
         Column("Suspend", "boolean", doc=("k8spb.api.batch.v1", "CronJobSpec", "suspend")),
         Column("Active", "integer", doc=("k8spb.api.batch.v1", "CronJobStatus", "active")),
         Column("Last Schedule", doc=("k8spb.api.batch.v1", "CronJobStatus", "lastScheduleTime")), AGE,
         *_wide(("k8spb.api.batch.v1", "JobSpec", "selector"))), _cron_job),
    ("", "services"): ((NAME, Column("Type", doc=(_CORE, "ServiceSpec", "type")),
                        Column("Cluster-IP", doc=(_CORE, "ServiceSpec", "clusterIP")),
                        Column("External-IP", doc=(_CORE, "ServiceSpec", "externalIPs")),
                        Column("Port(s)", doc=(_CORE, "ServiceSpec", "ports")), AGE,
                        Column("Selector", priority=1, doc=(_CORE, "ServiceSpec", "selector"))), _service),
    ("", "endpoints"): ((NAME, Column("Endpoints", doc=(_CORE, "Endpoints", "subsets")), AGE), _endpoints),
    ("discovery.k8s.io", "endpointslices"): (
        (NAME, Column("AddressType"), Column("Ports"), Column("Endpoints"), AGE), _endpoint_slice),
    ("", "nodes"): ((NAME, Column("Status"), Column("Roles"), AGE,
                     Column("Version", doc=(_CORE, "NodeSystemInfo", "kubeletVersion")),
                     Column("Internal-IP", priority=1, doc=(_CORE, "NodeStatus", "addresses")),
                     Column("External-IP", priority=1, doc=(_CORE, "NodeStatus", "addresses")),
                     Column("OS-Image", priority=1, doc=(_CORE, "NodeSystemInfo", "osImage")),
                     Column("Kernel-Version", priority=1, doc=(_CORE, "NodeSystemInfo", "kernelVersion")),
                     Column("Container-Runtime", priority=1,
                            doc=(_CORE, "NodeSystemInfo", "containerRuntimeVersion"))), _node),
    ("", "events"): ((Column("Last Seen", doc=(_CORE, "Event", "lastTimestamp")),
                      Column("Type", doc=(_CORE, "Event", "type")), Column("Reason", doc=(_CORE, "Event", "reason")),
                      Column("Object", doc=(_CORE, "Event", "involvedObject")),
                      Column("Subobject", priority=1, doc=(_CORE, "ObjectReference", "fieldPath")),
                      Column("Source", priority=1, doc=(_CORE, "Event", "source")),
                      Column("Message", doc=(_CORE, "Event", "message")),
                      Column("First Seen", priority=1, doc=(_CORE, "Event", "firstTimestamp")),
                      Column("Count", priority=1, doc=(_CORE, "Event", "count")),
                      Column("Name", priority=1, format="name", doc=(_META, "ObjectMeta", "name"))), _event),
    ("", "namespaces"): ((NAME, Column("Status"), AGE), _simple(("status", "phase"))),
    ("", "secrets"): ((NAME, Column("Type", doc=(_CORE, "Secret", "type")),
                       Column("Data", "string", doc=(_CORE, "Secret", "data")), AGE),
                      lambda o: [_meta(o).get("name", ""), o.get("type", ""), len(o.get("data") or {}), _age(o)]),
    ("", "serviceaccounts"): ((NAME, Column("Secrets", "string", doc=(_CORE, "ServiceAccount", "secrets")), AGE),
                              lambda o: [_meta(o).get("name", ""), len(o.get("secrets") or ()), _age(o)]),
    ("", "configmaps"): ((NAME, Column("Data", "string", doc=(_CORE, "ConfigMap", "data")), AGE),
                         lambda o: [_meta(o).get("name", ""),
                                    len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o)]),
    ("", "persistentvolumeclaims"): (
        (NAME, Column("Status"), Column("Volume"), Column("Capacity"), Column("Access Modes"),
         Column("StorageClass"), Column("VolumeAttributesClass"), AGE, Column("VolumeMode", priority=1)), _pvc),
    ("", "persistentvolumes"): (
        (NAME, Column("Capacity"), Column("Access Modes"), Column("Reclaim Policy"), Column("Status"),
         Column("Claim"), Column("StorageClass"), Column("VolumeAttributesClass"), Column("Reason"), AGE,
         Column("VolumeMode", priority=1)), _pv),
    ("", "resourcequotas"): ((NAME, AGE, Column("Request"), Column("Limit")), _resource_quota),
    ("networking.k8s.io", "ingresses"): (
        (NAME, Column("Class"), Column("Hosts"), Column("Address"), Column("Ports"), AGE), _ingress),
    ("networking.k8s.io", "ingressclasses"): (
        (NAME, Column("Controller"), Column("Parameters"), AGE),
        lambda o: [_meta(o).get("name", ""), _d(o, "spec", "controller") or "",
                   NONE if not _d(o, "spec", "parameters") else
                   f"{_d(o, 'spec', 'parameters', 'kind')}/{_d(o, 'spec', 'parameters', 'name')}", _age(o)]),
    ("networking.k8s.io", "networkpolicies"): (
        (NAME, Column("Pod-Selector"), AGE),
        lambda o: [_meta(o).get("name", ""), selector_string(_d(o, "spec", "podSelector")) or NONE, _age(o)]),
    ("rbac.authorization.k8s.io", "rolebindings"): (
        (NAME, Column("Role"), AGE, Column("Users", priority=1), Column("Groups", priority=1),
         Column("ServiceAccounts", priority=1)), _binding),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (
        (NAME, Column("Role"), AGE, Column("Users", priority=1), Column("Groups", priority=1),
         Column("ServiceAccounts", priority=1)), _binding),
    ("policy", "poddisruptionbudgets"): (
        (NAME, Column("Min Available"), Column("Max Unavailable"), Column("Allowed Disruptions", "integer"), AGE),
        _pdb),
    ("coordination.k8s.io", "leases"): (
        (NAME, Column("Holder", doc=("k8spb.api.coordination.v1", "LeaseSpec", "holderIdentity")), AGE),
        _simple(("spec", "holderIdentity"))),
    ("storage.k8s.io", "storageclasses"): (
        (NAME, Column("Provisioner"), Column("ReclaimPolicy"), Column("VolumeBindingMode"),
         Column("AllowVolumeExpansion"), AGE), _storage_class),
    ("scheduling.k8s.io", "priorityclasses"): (
        (NAME, Column("Value", "integer"), Column("Global-Default", "boolean"), AGE, Column("PreemptionPolicy")),
        _priority_class),
    ("autoscaling", "horizontalpodautoscalers"): (
        (NAME, Column("Reference"), Column("Targets"), Column("MinPods"), Column("MaxPods", "integer"),
         Column("Replicas", "integer"), AGE), _hpa),
    ("certificates.k8s.io", "certificatesigningrequests"): (
        (NAME, AGE, Column("SignerName"), Column("Requestor"), Column("RequestedDuration"), Column("Condition")),
        _csr),
    ("node.k8s.io", "runtimeclasses"): ((NAME, Column("Handler"), AGE), _simple(("handler",))),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): (
        (NAME, Column("Webhooks", "integer"), AGE), _webhooks),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): (
        (NAME, Column("Webhooks", "integer"), AGE), _webhooks),
    ("apiregistration.k8s.io", "apiservices"): ((NAME, Column("Service"), Column("Available"), AGE), _api_service),
}
_PRINTERS[("events.k8s.io", "events")] = _PRINTERS[("", "events")]  # one printer for both Event types

_DEFAULT = (NAME, Column("Created At", "date", doc=(_META, "ObjectMeta", "creationTimestamp")))


def _doc(column: Column) -> str:
    if column.doc is None:
        return ""
    module, cls_name, key = column.doc
    try:
        cls = getattr(importlib.import_module(module), cls_name)
    except (ImportError, AttributeError):
        return ""
    return field_doc(cls, key)


def _definition(column: Column) -> Obj:
    return {"name": column.name, "type": column.type, "format": column.format, "description": _doc(column),
            "priority": column.priority}


# ---------------------------------------------------------------------------------- custom resources


_JSONPATH_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_\-.]+)\s*==\s*[\"']([^\"']*)[\"']\)\]"
                            r"|\[\*\]")


def jsonpath(obj: Any, path: str) -> list[Any]:
    """The values a CRD printer column's JSONPath selects (fields, ``[n]``, ``[*]`` and ``[?(@.a=="b")]``)."""
    values = [obj]
    pos = 0
    while pos < len(path):
        m = _JSONPATH_STEP.match(path, pos)
        if m is None:
            return []
        pos = m.end()
        field, index, filter_key, filter_value = m.groups()
        nxt: list[Any] = []
        for value in values:
            if field is not None and isinstance(value, dict) and field in value:
                nxt.append(value[field])
            elif index is not None and isinstance(value, list) and int(index) < len(value):
                nxt.append(value[int(index)])
            elif filter_key is not None and isinstance(value, list):
                nxt += [v for v in value if isinstance(v, dict) and str(_d(v, *filter_key.split("."))) == filter_value]
            elif m.group(0) == "[*]" and isinstance(value, list):
                nxt += value
        values = nxt
    return values


def _custom_cell(kind: str, values: list[Any]) -> Any:
    """apiextensions' cellForJSONValue: the first value, as the column's type wants it."""
    if not values or values[0] is None:
        return None
    value = values[0]
    if kind == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else (
            int(value) if isinstance(value, float) and value.is_integer() else None)
    if kind == "number":
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "date":
        return since(value) if isinstance(value, str) and _time(value) else (
            "<invalid>" if isinstance(value, str) else None)
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) else str(value).lower() \
        if isinstance(value, bool) else str(value)


def _custom_columns(rt: ResourceType, crd: Obj | None) -> list[Obj]:
    for version in _d(crd, "spec", "versions") or ():
        if version.get("name") == rt.version:
            columns = version.get("additionalPrinterColumns")
            if columns:
                return list(columns)
    return [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]


# ------------------------------------------------------------------------------------------- public


def table_columns(rt: ResourceType, crd: Obj | None = None) -> list[Obj]:
    """The ``columnDefinitions`` of a Table of ``rt`` (``crd``: the CRD of a custom resource)."""
    if rt.custom:
        defs = [_definition(NAME)]
        for col in _custom_columns(rt, crd):
            defs.append({"name": col.get("name", ""), "type": col.get("type", "string"),
                         "format": col.get("format", ""), "description": col.get("description", ""),
                         "priority": int(col.get("priority") or 0)})
        return defs
    columns = _PRINTERS.get(rt.storage_key, (_DEFAULT, None))[0]
    return [_definition(c) for c in columns]


def table_cells(rt: ResourceType, objs: Iterable[Obj], crd: Obj | None = None) -> list[tuple[list[Any],
                                                                                           list[Obj] | None]]:
    """Each object's cells (and row conditions)."""
    out: list[tuple[list[Any], list[Obj] | None]] = []
    if rt.custom:
        columns = _custom_columns(rt, crd)
        for obj in objs:
            cells = [_meta(obj).get("name", "")]
            cells += [_custom_cell(c.get("type", "string"), jsonpath(obj, str(c.get("jsonPath", ""))))
                      for c in columns]
            out.append((cells, None))
        return out
    printer = _PRINTERS.get(rt.storage_key)
    for obj in objs:
        if printer is None:
            stamp = _meta(obj).get("creationTimestamp")
            out.append(([_meta(obj).get("name", ""), stamp if stamp else None], None))
        else:
            out.append((printer[1](obj), _pod_conditions(obj) if rt.storage_key == ("", "pods") else None))
    return out
