"""The subresources beyond status: ``*/scale``, ``pods/log`` and ``pods/eviction``."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from k8spb._codec import PROTOBUF, decode
from k8spb._errors import DecodeError
from k8spb.testing._patch import PatchError, apply_json_patch, apply_merge_patch
from k8spb.testing._resources import ApiError, ResourceType

if TYPE_CHECKING:
    from k8spb.testing._server import ApiServer, _Request

Obj = dict[str, Any]

SCALABLE = frozenset({("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"),
                      ("", "replicationcontrollers")})
SERVED = frozenset({"scale", "log", "eviction"})
_NOT_ALLOWED = "the server does not allow this method on the requested resource"


def serves(rt: ResourceType, sub: str) -> bool:
    """Whether this module answers ``rt``/``sub``."""
    if sub == "scale":
        return rt.storage_key in SCALABLE
    return sub in ("log", "eviction") and rt.storage_key == ("", "pods")


def handle(api: ApiServer, req: _Request, rt: ResourceType, namespace: str, name: str, sub: str) -> None:
    if sub == "scale":
        _scale(api, req, rt, namespace, name)
    elif sub == "log":
        if req.method != "GET":
            raise ApiError(405, "MethodNotAllowed", _NOT_ALLOWED)
        _log(api, req, rt, namespace, name)
    else:
        if req.method != "POST":
            raise ApiError(405, "MethodNotAllowed", _NOT_ALLOWED)
        _evict(api, req, rt, namespace, name)


def _decode_body(req: _Request, what: str) -> Obj:
    data = req.body
    try:
        if req.content_type == PROTOBUF:
            obj: Any = decode(data, PROTOBUF).to_dict()
        elif req.content_type in ("", "application/json"):
            obj = json.loads(data)
        elif req.content_type == "application/yaml":
            import yaml

            obj = yaml.safe_load(data)
        else:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           "accepted media types include: application/json, application/yaml, "
                           "application/vnd.kubernetes.protobuf")
    except (DecodeError, ValueError) as exc:
        raise ApiError.bad_request(f"error decoding the request body: {exc}") from None
    if not isinstance(obj, dict):
        raise ApiError.bad_request(f"the request body must hold one {what}")
    if obj.get("kind") not in (None, "", what):
        raise ApiError.bad_request(f"the object provided is unrecognized (must be of type {what}): "
                                   f"kind {obj.get('kind')!r}")
    return obj


# --------------------------------------------------------------------------------------------- scale


def _selector_string(rt: ResourceType, obj: Obj) -> str:
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    if rt.storage_key == ("", "replicationcontrollers"):
        labels = selector or ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    if not isinstance(selector, dict):
        return ""
    parts: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator"), sorted(expr.get("values") or [])
        if op == "In":
            parts.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            parts.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            parts.append((key, key))
        elif op == "DoesNotExist":
            parts.append((key, f"!{key}"))
    return ",".join(text for _, text in sorted(parts))


def to_scale(rt: ResourceType, obj: Obj) -> Obj:
    """The autoscaling/v1 Scale of a deployment, replica set, stateful set or replication controller."""
    meta = obj["metadata"]
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    status: Obj = {"replicas": int((obj.get("status") or {}).get("replicas") or 0)}
    selector = _selector_string(rt, obj)
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": replicas} if replicas else {},
        "status": status,
    }


def _qualified(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def _apply_scale(api: ApiServer, req: _Request, rt: ResourceType, namespace: str, name: str, scale: Obj,
                 current_rv: str) -> Obj:
    """Write ``scale``'s spec.replicas into the parent; caller holds the store lock."""
    meta = scale.get("metadata") or {}
    if meta.get("name") not in (None, "", name):
        raise ApiError.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the "
                                   f"URL ({name})")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise ApiError.bad_request(f"spec.replicas must be an integer, not {replicas!r}")
    if replicas < 0:
        raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                       f"{replicas}: must be greater than or equal to 0",
                       {"name": name, "group": "autoscaling", "kind": "Scale",
                        "causes": [{"reason": "FieldValueInvalid", "message": f"Invalid value: {replicas}: must "
                                    "be greater than or equal to 0", "field": "spec.replicas"}]})
    rv = meta.get("resourceVersion")
    if rv and rv != current_rv:
        details: Obj = {"name": name, "kind": rt.plural}
        if rt.group:
            details["group"] = rt.group
        raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(rt)} "{name}": the object '
                       "has been modified; please apply your changes to the latest version and try again", details)
    parent = api.store.get(rt, namespace, name)
    parent.setdefault("spec", {})["replicas"] = replicas
    out = api.store.update(rt, namespace, name, parent, subresource="scale", manager=req.manager,
                           dry_run=req.q("dryRun") == "All")
    return to_scale(rt, out)


def _scale(api: ApiServer, req: _Request, rt: ResourceType, namespace: str, name: str) -> None:
    store = api.store
    if req.method == "GET":
        neg = api._negotiate(req)
        api._send_obj(req, neg, to_scale(rt, store.get(rt, namespace, name)))
        return
    if req.method == "PUT":
        neg = api._negotiate(req)
        scale = _decode_body(req, "Scale")
        if scale.get("apiVersion") not in (None, "", "autoscaling/v1"):
            raise ApiError.bad_request(f"the API version in the data ({scale.get('apiVersion')}) does not match "
                                       "the expected API version (autoscaling/v1)")
        with store.lock:
            current = to_scale(rt, store.get(rt, namespace, name))
            api._send_obj(req, neg, _apply_scale(api, req, rt, namespace, name, scale,
                                                 current["metadata"]["resourceVersion"]))
        return
    if req.method == "PATCH":
        neg = api._negotiate(req)
        kinds: dict[str, Callable[[Any, Any], Any]] = {
            "application/merge-patch+json": apply_merge_patch,
            "application/strategic-merge-patch+json": apply_merge_patch,  # Scale has no merge keys
            "application/json-patch+json": apply_json_patch,
        }
        patcher = kinds.get(req.content_type)
        if patcher is None:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           f"accepted media types include: {', '.join(kinds)}")
        try:
            patch = json.loads(req.body)
        except ValueError as exc:
            raise ApiError.bad_request(f"error decoding patch: {exc}") from None
        with store.lock:
            current = to_scale(rt, store.get(rt, namespace, name))
            try:
                patched = patcher(copy.deepcopy(current), patch)
            except PatchError as exc:
                reason = {400: "BadRequest", 409: "Conflict", 422: "Invalid"}.get(exc.status_code, "InternalError")
                raise ApiError(exc.status_code, reason, str(exc)) from None
            if not isinstance(patched, dict):
                raise ApiError.bad_request("the patch did not produce an object")
            api._send_obj(req, neg, _apply_scale(api, req, rt, namespace, name, patched,
                                                 current["metadata"]["resourceVersion"]))
        return
    raise ApiError(405, "MethodNotAllowed", _NOT_ALLOWED)


# --------------------------------------------------------------------------------------------- logs


@dataclass
class _Log:
    lines: list[tuple[datetime, str]] = field(default_factory=list)
    generation: int = 0


class PodLogs:
    """Container logs set by tests; followers wait on one condition."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.logs: dict[tuple[str, str, str], _Log] = {}
        self.closed = False

    @staticmethod
    def _lines(text: str) -> list[tuple[datetime, str]]:
        now = datetime.now(UTC)
        return [(now, line if line.endswith("\n") else line + "\n") for line in text.splitlines(keepends=True)]

    def set(self, namespace: str, pod: str, text: str, container: str | None) -> None:
        with self.cond:
            log = self.logs.setdefault((namespace, pod, container or ""), _Log())
            log.lines = self._lines(text)
            log.generation += 1
            self.cond.notify_all()

    def append(self, namespace: str, pod: str, text: str, container: str | None) -> None:
        with self.cond:
            self.logs.setdefault((namespace, pod, container or ""), _Log()).lines.extend(self._lines(text))
            self.cond.notify_all()

    def find(self, namespace: str, pod: str, container: str) -> _Log:
        """The log of ``container``, else the one set without a container name; caller holds ``cond``."""
        log = self.logs.get((namespace, pod, container)) or self.logs.get((namespace, pod, ""))
        return log if log is not None else _Log()

    def forget(self, namespace: str, pod: str) -> None:
        with self.cond:
            for key in [k for k in self.logs if k[:2] == (namespace, pod)]:
                del self.logs[key]
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def _int_param(req: _Request, name: str) -> int | None:
    raw = req.q(name)
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError.bad_request(f"{name} must be an integer: {raw!r}") from None
    if value < 0 or (value == 0 and name in ("limitBytes", "sinceSeconds")):
        raise ApiError(422, "Invalid", f'PodLogOptions "" is invalid: {name}: Invalid value: {value}: must be '
                       "greater than 0")
    return value


def _container(pod: Obj, name: str, requested: str) -> str:
    spec = pod.get("spec") or {}
    containers = [c.get("name", "") for c in spec.get("containers") or []]
    others = [c.get("name", "") for key in ("initContainers", "ephemeralContainers") for c in spec.get(key) or []]
    if requested:
        if requested not in containers and requested not in others:
            raise ApiError.bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return str(containers[0])
    message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
    if others:
        message += f" or one of the init containers: [{' '.join(others)}]"
    raise ApiError.bad_request(message)


def _render(lines: list[tuple[datetime, str]], timestamps: bool) -> bytes:
    if timestamps:
        return "".join(f"{t.strftime('%Y-%m-%dT%H:%M:%S.%f')}000Z {line}" for t, line in lines).encode()
    return "".join(line for _, line in lines).encode()


def _log(api: ApiServer, req: _Request, rt: ResourceType, namespace: str, name: str) -> None:
    pod = api.store.get(rt, namespace, name)
    container = _container(pod, name, req.q("container"))
    tail, limit, since = _int_param(req, "tailLines"), _int_param(req, "limitBytes"), _int_param(req, "sinceSeconds")
    timestamps = req.flag("timestamps")
    if req.flag("previous"):
        raise ApiError.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
    logs = api.pod_logs
    with logs.cond:
        log = logs.find(namespace, name, container)
        lines, generation = list(log.lines), log.generation
    seen = len(lines)
    if since is not None:
        cutoff = datetime.now(UTC) - timedelta(seconds=since)
        lines = [entry for entry in lines if entry[0] >= cutoff]
    if tail is not None:
        lines = lines[len(lines) - tail:] if tail else []
    body = _render(lines, timestamps)
    if limit is not None:
        body = body[:limit]
    if not req.flag("follow"):
        api._send(req.h, 200, "text/plain", body)
        return
    h = req.h
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Transfer-Encoding", "chunked")
    h.send_header("Cache-Control", "no-cache, private")
    h.end_headers()
    _follow(api, req, namespace, name, pod["metadata"]["uid"], container, body, seen, generation, timestamps,
            limit)


def _follow(api: ApiServer, req: _Request, namespace: str, name: str, uid: str, container: str, first: bytes,
            seen: int, generation: int, timestamps: bool, limit: int | None) -> None:
    from k8spb.testing._watch import closed_by_peer

    h = req.h
    sent = len(first)
    deadline = time.monotonic() + api.log_follow_timeout
    logs = api.pod_logs
    pods = api.resources.get("", "v1", "pods")
    assert pods is not None

    def chunk(data: bytes) -> None:
        if data:
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

    try:
        chunk(first)
        while limit is None or sent < limit:
            with logs.cond:
                log = logs.find(namespace, name, container)
                if log.generation != generation:
                    generation, seen = log.generation, min(seen, len(log.lines))
                fresh = log.lines[seen:]
                if not fresh and not logs.closed:
                    logs.cond.wait(min(0.2, max(deadline - time.monotonic(), 0)))
                    log = logs.find(namespace, name, container)
                    fresh = log.lines[seen:] if log.generation == generation else []
                seen += len(fresh)
                stopped = logs.closed
            data = _render(fresh, timestamps)
            if limit is not None:
                data = data[: limit - sent]
            chunk(data)
            sent += len(data)
            if stopped or time.monotonic() >= deadline or closed_by_peer(h.connection):
                break
            try:
                current = api.store.get(pods, namespace, name)
            except ApiError:
                break
            if current["metadata"].get("uid") != uid:
                break
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()
    except OSError:
        h.close_connection = True


# --------------------------------------------------------------------------------------------- eviction


def _matches_selector(selector: Any, labels: dict[str, str]) -> bool:
    if not isinstance(selector, dict):
        return False
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return True  # policy/v1: an empty selector selects every pod in the namespace
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def _check_budget(api: ApiServer, namespace: str, pod: Obj) -> None:
    """Refuse (429) an eviction a PodDisruptionBudget trivially forbids; kube ignores budgets for pods
    that are not Running or already terminating."""
    if (pod.get("status") or {}).get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
        return
    pdbs_rt = api.resources.preferred("policy", "poddisruptionbudgets")
    pods_rt = api.resources.get("", "v1", "pods")
    if pdbs_rt is None or pods_rt is None:
        return
    labels = pod["metadata"].get("labels") or {}
    budgets, _ = api.store.snapshot(pdbs_rt, namespace)
    budgets = [b for b in budgets if _matches_selector((b.get("spec") or {}).get("selector"), labels)]
    if not budgets:
        return
    if len(budgets) > 1:
        raise ApiError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction "
                       "subresource does not support.")
    budget = budgets[0]
    spec = budget.get("spec") or {}
    pods, _ = api.store.snapshot(pods_rt, namespace)
    healthy = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running"
                  and not p["metadata"].get("deletionTimestamp")
                  and _matches_selector(spec.get("selector"), p["metadata"].get("labels") or {}))
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is not None:
        blocked = max_unavailable in (0, "0", "0%")
        needed = healthy if blocked else healthy - 1
    elif isinstance(min_available, int):
        blocked, needed = healthy - 1 < min_available, min_available
    elif min_available == "100%":
        blocked, needed = True, healthy
    else:
        return
    if blocked:
        bname = budget["metadata"]["name"]
        raise ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                       {"causes": [{"reason": "DisruptionBudget",
                                    "message": f"The disruption budget {bname} needs {needed} healthy pods and "
                                               f"has {healthy} currently"}]})


def _evict(api: ApiServer, req: _Request, rt: ResourceType, namespace: str, name: str) -> None:
    neg = api._negotiate(req)
    eviction = _decode_body(req, "Eviction")
    if eviction.get("apiVersion") not in (None, "", "policy/v1", "policy/v1beta1"):
        raise ApiError.bad_request(f"the API version in the data ({eviction.get('apiVersion')}) does not match "
                                   "the expected API version (policy/v1)")
    ev_name = (eviction.get("metadata") or {}).get("name")
    if ev_name not in (None, "", name):
        raise ApiError.bad_request("name in URL does not match name in Eviction object")
    options = eviction.get("deleteOptions") or {}
    if not isinstance(options, dict):
        raise ApiError.bad_request("deleteOptions must be an object")
    dry_run = req.q("dryRun") == "All" or options.get("dryRun") == ["All"]
    with api.store.lock:
        pod = api.store.get(rt, namespace, name)
        _check_budget(api, namespace, pod)
        api.store.delete(rt, namespace, name, options, dry_run)
    api._send_obj(req, neg, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}, 201)
