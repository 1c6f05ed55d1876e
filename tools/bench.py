#!/usr/bin/env python3
"""Side-by-side decode benchmark: k8spb against raw upb, json, the official client, lightkube, betterproto2.

Builds a realistic PodList (labels, annotations, ownerReferences, managedFields, two containers with
env/resources/probes/volumeMounts, volumes, tolerations, status with conditions and containerStatuses;
names, uids and IPs vary per pod) as a Kubernetes-JSON dict, produces both wire formats with k8spb
itself (``PodList.from_dict`` + ``k8spb.encode(..., PROTOBUF)``; ``json.dumps``), then runs every
scenario in a fresh subprocess and prints one markdown table: best-of-N wall time, pods/s, retained
memory (RSS delta after gc with the result still referenced; tracemalloc too, which cannot see upb's
C allocations) and ratios to the raw upb parse, followed by the project's targets marked met/not met.

    python3 tools/bench.py                    # 10,000 pods, best of 3, every scenario
    python3 tools/bench.py --pods 2000 --runs 2 --only upb,k8spb-pb,lightkube

Timing: ``time.perf_counter``; ``gc.collect()`` before every run and the collector left enabled
during it (what a real program pays). Each scenario first decodes a 10-pod payload to warm caches
(lazily built message classes, descriptor look-ups), so one-time costs are not counted as retained.
Slow scenarios stop repeating once they have used ``--budget`` seconds.

betterproto2 classes are generated at run time into a temporary directory with
``python -m grpc_tools.protoc --python_betterproto2_out=...`` (needs ``betterproto2-compiler``);
when that fails the scenario is reported as not measured, with the reason.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SMALL_PODS = 10
MIB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")
BP2_PACKAGE = "bp2k8s"
BP2_PROTOS = (
    "k8s.io/api/core/v1/generated.proto",
    "k8s.io/apimachinery/pkg/api/resource/generated.proto",
    "k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto",
    "k8s.io/apimachinery/pkg/runtime/generated.proto",
    "k8s.io/apimachinery/pkg/runtime/schema/generated.proto",
    "k8s.io/apimachinery/pkg/util/intstr/generated.proto",
)

if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


# ---------------------------------------------------------------------------------------------------------
# The payload: a PodList shaped like what a real cluster returns


def _ts(base: int, offset: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + offset))


def _fields_v1(obj: Any, atomic: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A managedFields ``fieldsV1`` set covering every field of ``obj``, shaped as the apiserver records it."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in atomic:
            out[f"f:{key}"] = {}
        elif isinstance(value, dict):
            out[f"f:{key}"] = {".": {}, **_fields_v1(value)} if value else {}
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            entry: dict[str, Any] = {".": {}} if key in ("hostIPs", "podIPs") else {}
            for item in value:
                if "containerPort" in item:
                    ident: dict[str, Any] = {"containerPort": item["containerPort"], "protocol": item["protocol"]}
                else:
                    ident = {k: item[k] for k in ("name", "type", "ip") if k in item}
                if not ident:  # a list without merge keys is atomic
                    entry = {}
                    break
                entry["k:" + json.dumps(ident, separators=(",", ":"))] = {".": {}, **_fields_v1(item)}
            out[f"f:{key}"] = entry
        else:
            out[f"f:{key}"] = {}
    return out


def make_pod(i: int, rnd: random.Random) -> dict[str, Any]:
    apps = ("web", "api", "worker", "cache", "ingest", "billing", "search", "auth")
    app = apps[i % len(apps)]
    namespace = f"team-{i % 23:02d}"
    rs_hash = f"{rnd.getrandbits(40):010x}"[:10]
    suffix = "".join(rnd.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
    name = f"{app}-{rs_hash}-{suffix}"
    uid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    rs_uid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    node = f"ip-10-{i % 200}-{(i // 200) % 250}-{i % 7}.eu-west-1.compute.internal"
    pod_ip = f"10.{100 + i % 100}.{(i // 100) % 250}.{i % 250 + 2}"
    host_ip = f"10.0.{(i // 250) % 250}.{i % 250 + 2}"
    base = 1_740_000_000 + i * 37
    version = f"v1.{i % 9}.{i % 31}"
    labels = {
        "app": app,
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": f"{app}-{namespace}",
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/part-of": "shop",
        "pod-template-hash": rs_hash,
        "tier": "backend" if i % 3 else "frontend",
    }
    annotations = {
        "kubectl.kubernetes.io/restartedAt": _ts(base, -86400),
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
        "checksum/config": f"{rnd.getrandbits(256):064x}",
        "kubernetes.io/psp": "restricted",
    }
    image = f"registry.example.com/shop/{app}:{version}"

    def container(cname: str, img: str, port: int, cpu: str, mem: str) -> dict[str, Any]:
        return {
            "name": cname,
            "image": img,
            "args": ["--port", str(port), "--log-level=info"],
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"},
                      {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
            "env": [
                {"name": "APP_NAME", "value": app},
                {"name": "LOG_FORMAT", "value": "json"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE",
                 "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": f"{app}-db", "key": "password"}}},
            ],
            "resources": {"limits": {"cpu": cpu, "memory": mem}, "requests": {"cpu": "100m", "memory": "128Mi"}},
            "volumeMounts": [
                {"name": "config", "mountPath": "/etc/app", "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},
                {"name": "kube-api-access-" + suffix, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                 "readOnly": True},
            ],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
                              "initialDelaySeconds": 10, "timeoutSeconds": 1, "periodSeconds": 10,
                              "successThreshold": 1, "failureThreshold": 3},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"},
                               "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1,
                               "failureThreshold": 3},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True, "runAsUser": 10001,
                                "capabilities": {"drop": ["ALL"]}},
        }

    spec = {
        "volumes": [
            {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "kube-api-access-" + suffix, "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                             "fieldPath": "metadata.namespace"}}]}},
            ], "defaultMode": 420}},
        ],
        "containers": [
            container(app, image, 8080, "1", "512Mi"),
            container("envoy", "registry.example.com/mesh/envoy:v1.31.2", 15001, "500m", "256Mi"),
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": app,
        "serviceAccount": app,
        "nodeName": node,
        "securityContext": {"fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
        ],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }

    def container_status(cname: str, img: str, restarts: int) -> dict[str, Any]:
        return {
            "name": cname,
            "state": {"running": {"startedAt": _ts(base, 20)}},
            "lastState": {},
            "ready": True,
            "restartCount": restarts,
            "image": img,
            "imageID": f"{img.split(':')[0]}@sha256:{rnd.getrandbits(256):064x}",
            "containerID": f"containerd://{rnd.getrandbits(256):064x}",
            "started": True,
        }

    conditions = [
        {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": _ts(base, k * 5)}
        for k, t in enumerate(("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                               "PodScheduled"))
    ]
    status = {
        "phase": "Running" if i % 50 else "Pending",
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": _ts(base, 1),
        "containerStatuses": [container_status(app, image, i % 4),
                              container_status("envoy", "registry.example.com/mesh/envoy:v1.31.2", 0)],
        "qosClass": "Burstable",
    }
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{app}-{rs_hash}", "uid": rs_uid,
             "controller": True, "blockOwnerDeletion": True}
    metadata_fields = {"generateName": "", "labels": labels, "annotations": annotations}
    managed = [
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": _ts(base, 0),
         "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {**_fields_v1(metadata_fields),
                                     "f:ownerReferences": {".": {}, f'k:{{"uid":"{rs_uid}"}}': {}}},
                      "f:spec": _fields_v1({k: v for k, v in spec.items() if k != "nodeName"})}},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": _ts(base, 30),
         "fieldsType": "FieldsV1", "subresource": "status",
         "fieldsV1": {"f:status": _fields_v1(status, frozenset({"containerStatuses", "qosClass"}))}},
    ]
    return {
        "metadata": {
            "name": name,
            "generateName": f"{app}-{rs_hash}-",
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": str(10_000_000 + i * 13),
            "creationTimestamp": _ts(base, 0),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner],
            "managedFields": managed,
        },
        "spec": spec,
        "status": status,
    }


def make_pod_list(n: int, seed: int = 1) -> dict[str, Any]:
    rnd = random.Random(seed)
    return {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": str(20_000_000 + n)},
            "items": [make_pod(i, rnd) for i in range(n)]}


def write_payloads(workdir: Path, name: str, n: int) -> dict[str, float]:
    """Write ``name.pb`` (enveloped protobuf) and ``name.json``; return the seconds each step took."""
    import k8spb
    from k8spb.api.core.v1 import PodList

    t0 = time.perf_counter()
    doc = make_pod_list(n)
    t1 = time.perf_counter()
    obj = PodList.from_dict(doc)
    pb = k8spb.encode(obj, k8spb.PROTOBUF)
    t2 = time.perf_counter()
    js = json.dumps(doc, separators=(",", ":")).encode()
    t3 = time.perf_counter()
    (workdir / f"{name}.pb").write_bytes(pb)
    (workdir / f"{name}.json").write_bytes(js)
    return {"generate": t1 - t0, "k8spb_encode": t2 - t1, "json_dumps": t3 - t2}


# ---------------------------------------------------------------------------------------------------------
# betterproto2 classes, generated at benchmark time


def find_protos(explicit: str | None) -> Path | None:
    candidates = [Path(explicit)] if explicit else []
    if os.environ.get("K8SPB_PROTOS"):
        candidates.append(Path(os.environ["K8SPB_PROTOS"]))
    candidates += [ROOT / "protos", ROOT.parent / "shared" / "kubernetes" / "protos"]
    for c in candidates:
        if (c / BP2_PROTOS[0]).is_file():
            return c
    return None


def generate_betterproto2(workdir: Path, protos: Path | None) -> str | None:
    """Generate betterproto2 classes under ``workdir/bp2k8s``; the reason it failed, or None."""
    if protos is None:
        return "Kubernetes .proto files not found (use --protos or K8SPB_PROTOS)"
    if shutil.which("protoc-gen-python_betterproto2") is None:
        return "betterproto2-compiler is not installed (pip install betterproto2-compiler)"
    out = workdir / BP2_PACKAGE
    out.mkdir()
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{protos}", f"--python_betterproto2_out={out}",
           *(str(protos / p) for p in BP2_PROTOS)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"protoc failed to run: {exc}"
    if proc.returncode != 0:
        return f"protoc exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}"
    return None


# ---------------------------------------------------------------------------------------------------------
# Scenarios (run inside the child process)
#
# Each factory loads what it needs (imports, payload bytes) and returns ``run(payloads) -> (result,
# checksum)``; ``payloads`` maps "pb"/"json"/"raw" to bytes. The checksum proves each client read the
# same values.


def _checksum(name: str, namespace: str, labels: Any, rv: str, phase: str, image: str) -> int:
    return len(name) + len(namespace) + len(labels or ()) + len(rv) + len(phase) + len(image)


def _typical_snake(pods: Any) -> int:
    """The fields a typical controller reads, for clients with snake_case attributes."""
    total = 0
    for p in pods:
        m = p.metadata
        total += _checksum(m.name, m.namespace, m.labels, m.resource_version, p.status.phase,
                           p.spec.containers[0].image)
    return total


def _typical_camel(pods: Any) -> int:
    total = 0
    for p in pods:
        m = p.metadata
        total += _checksum(m.name, m.namespace, m.labels, m.resourceVersion, p.status.phase,
                           p.spec.containers[0].image)
    return total


def _typical_upb(pods: Any) -> int:
    total = 0
    for p in pods:
        m = p.metadata
        total += _checksum(m.name, m.namespace, dict(m.labels), m.resourceVersion, p.status.phase,
                           p.spec.containers[0].image)
    return total


Run = Callable[[dict[str, bytes]], tuple[Any, int]]


def s_upb() -> Run:
    from k8spb.api.core.v1 import PodList

    parse = PodList._pb_class().FromString
    return lambda p: (parse(p["raw"]), 0)


def s_upb_access() -> Run:
    from k8spb.api.core.v1 import PodList

    parse = PodList._pb_class().FromString

    def run(p: dict[str, bytes]) -> tuple[Any, int]:
        msg = parse(p["raw"])
        return msg, _typical_upb(msg.items)
    return run


def s_k8spb_pb() -> Run:
    import k8spb

    def run(p: dict[str, bytes]) -> tuple[Any, int]:
        obj = k8spb.decode(p["pb"])
        return obj, _typical_snake(obj)
    return run


def s_k8spb_pb_decode_only() -> Run:
    import k8spb

    return lambda p: (k8spb.decode(p["pb"]), 0)


def s_k8spb_to_dict() -> Run:
    import k8spb

    def run(p: dict[str, bytes]) -> tuple[Any, int]:
        podlist: Any = k8spb.decode(p["pb"])
        dicts = [pod.to_dict() for pod in podlist]
        return dicts, sum(_checksum(d["metadata"]["name"], d["metadata"]["namespace"], d["metadata"]["labels"],
                                    d["metadata"]["resourceVersion"], d["status"]["phase"],
                                    d["spec"]["containers"][0]["image"]) for d in dicts)
    return run


def s_k8spb_json() -> Run:
    import k8spb

    def run(p: dict[str, bytes]) -> tuple[Any, int]:
        obj = k8spb.decode(p["json"])
        return obj, _typical_snake(obj)
    return run


def s_json_loads() -> Run:
    return lambda p: (json.loads(p["json"]), 0)


def s_kubernetes() -> Run:
    from kubernetes.client import ApiClient

    api = ApiClient()

    def run(p: dict[str, bytes]) -> tuple[Any, int]:
        # What RESTResponse handling does: decode the body, then ApiClient.deserialize (json.loads + models).
        obj = api.deserialize(p["json"].decode("utf-8"), "V1PodList", "application/json")
        return obj, _typical_snake(obj.items)
    return run


def s_lightkube() -> Run:
    from lightkube.models.core_v1 import PodList

    def run(p: dict[str, bytes]) -> tuple[Any, int]:
        obj: Any = PodList.from_dict(json.loads(p["json"]))
        return obj, _typical_camel(obj.items)
    return run


def s_lightkube_client() -> Run:
    from lightkube.core import decoders
    from lightkube.resources.core_v1 import Pod

    def run(p: dict[str, bytes]) -> tuple[Any, int]:
        # lightkube's own list path: msgspec.json.decode straight from the response bytes
        _, _, items = decoders.decode_list(p["json"], Pod)
        return items, _typical_camel(items)
    return run


def s_betterproto2(workdir: Path) -> Run:
    sys.path.insert(0, str(workdir))
    mod = __import__(f"{BP2_PACKAGE}.k8s.io.api.core.v1", fromlist=["PodList"])
    parse = mod.PodList.parse

    def run(p: dict[str, bytes]) -> tuple[Any, int]:
        obj = parse(p["raw"])
        return obj, _typical_snake(obj.items)
    return run


# name -> (label, factory, whether the factory takes the work directory holding the betterproto2 classes)
SCENARIOS: dict[str, tuple[str, Callable[..., Run], bool]] = {
    "upb": ("1. raw upb parse (floor)", s_upb, False),
    "upb-access": ("1b. raw upb parse + typical access (reference)", s_upb_access, False),
    "k8spb-pb": ("2. k8spb protobuf -> typed + typical access", s_k8spb_pb, False),
    "k8spb-pb-decode": ("2b. k8spb protobuf -> typed, no access", s_k8spb_pb_decode_only, False),
    "k8spb-to-dict": ("3. k8spb protobuf -> typed -> to_dict() for every pod", s_k8spb_to_dict, False),
    "k8spb-json": ("4. k8spb JSON -> typed + typical access", s_k8spb_json, False),
    "json-loads": ("5. json.loads alone (reference)", s_json_loads, False),
    "kubernetes": ("6. kubernetes client: ApiClient.deserialize -> V1PodList + access", s_kubernetes, False),
    "lightkube": ("7. lightkube: PodList.from_dict(json.loads) + access", s_lightkube, False),
    "lightkube-client": ("7b. lightkube client path: decoders.decode_list (msgspec) + access",
                         s_lightkube_client, False),
    "betterproto2": ("8. betterproto2: PodList.parse(raw) + access", s_betterproto2, True),
}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _load(workdir: Path, name: str) -> dict[str, bytes]:
    from k8spb.apimachinery.pkg.runtime import Unknown

    pb = (workdir / f"{name}.pb").read_bytes()
    raw = Unknown.from_pb_bytes(pb[4:]).raw or b""
    return {"pb": pb, "json": (workdir / f"{name}.json").read_bytes(), "raw": raw}


def child(scenario: str, workdir: Path, runs: int, budget: float, use_tracemalloc: bool,
          gc_off: bool) -> dict[str, Any]:
    _, factory, needs_bp2 = SCENARIOS[scenario]
    run = factory(workdir) if needs_bp2 else factory()
    small, big = _load(workdir, "small"), _load(workdir, "big")

    def timed() -> tuple[float, Any, int]:
        gc.collect()
        if gc_off:
            gc.disable()
        t0 = time.perf_counter()
        result, checksum = run(big)
        elapsed = time.perf_counter() - t0
        gc.enable()
        return elapsed, result, checksum

    warm: Any = run(small)  # warm-up: lazily built classes and caches
    del warm
    gc.collect()
    before = _rss()
    elapsed, result, checksum = timed()
    gc.collect()
    after = _rss()
    times = [elapsed]
    while len(times) < runs and sum(times) < budget:
        del result
        elapsed, result, _ = timed()
        times.append(elapsed)
    traced = None
    if use_tracemalloc and times[0] * 4 < budget:  # tracemalloc slows allocation-heavy code several-fold
        import tracemalloc

        del result
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        result, _ = run(big)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
    return {"times": times, "rss": after - before, "traced": traced, "checksum": checksum}


# ---------------------------------------------------------------------------------------------------------
# Parent: payloads, subprocesses, report


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    return env


def run_child(scenario: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", scenario, "--workdir", str(workdir),
           "--runs", str(args.runs), "--budget", str(args.budget)]
    if args.no_tracemalloc:
        cmd.append("--no-tracemalloc")
    if args.no_gc:
        cmd.append("--no-gc")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(), check=False)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def import_time(tries: int, pycache: Path | None) -> float:
    """Best wall time of the import in fresh processes.

    ``pycache`` None runs as the environment says (with PYTHONDONTWRITEBYTECODE set, every module is
    compiled from source each time); a directory sets PYTHONPYCACHEPREFIX there, so bytecode is cached
    outside the work tree after the first (discarded) run, as it is for an installed package.
    """
    code = ("import time; t = time.perf_counter(); import k8spb; from k8spb.api.core.v1 import Pod; "
            "print(time.perf_counter() - t)")
    env = _child_env()
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
        subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=True)
    best = float("inf")
    for _ in range(tries):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        best = min(best, float(proc.stdout.strip()))
    return best


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("protobuf", "kubernetes", "lightkube", "msgspec", "pydantic", "betterproto2",
                 "betterproto2-compiler"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    try:
        from google.protobuf.internal import api_implementation

        out["protobuf backend"] = api_implementation.Type()
    except ImportError:
        pass
    return out


def _fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def parent(args: argparse.Namespace) -> int:
    chosen = list(SCENARIOS) if not args.only else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS and s != "import"]
    if unknown:
        print(f"unknown scenarios: {', '.join(unknown)} (known: {', '.join(SCENARIOS)}, import)", file=sys.stderr)
        return 2
    print(f"# k8spb decode benchmark: PodList of {args.pods:,} pods\n")
    versions = _versions()
    print("- machine: " + f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}")
    print("- " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"- load average at start: {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="k8spb-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        build = write_payloads(workdir, "big", args.pods)
        write_payloads(workdir, "small", SMALL_PODS)
        pb_size = (workdir / "big.pb").stat().st_size
        js_size = (workdir / "big.json").stat().st_size
        print(f"- payload: protobuf {pb_size / MIB:.1f} MiB, JSON {js_size / MIB:.1f} MiB "
              f"({js_size / args.pods / 1024:.1f} KiB of JSON per pod); built in "
              f"{build['generate']:.1f} s (dicts) + {build['k8spb_encode']:.1f} s (k8spb from_dict + encode) + "
              f"{build['json_dumps']:.1f} s (json.dumps)")
        gc_mode = "gc DISABLED during it (--no-gc)" if args.no_gc else "gc enabled during it"
        print(f"- timing: best of up to {args.runs} runs (fewer once a scenario has used {args.budget:g} s), "
              f"gc.collect() before each run, {gc_mode}; each scenario in a fresh subprocess")
        print("- retained: RSS delta (/proc/self/statm) after gc with the result referenced; tracemalloc "
              "sees Python allocations only, not upb's arenas\n", flush=True)

        bp2_error = None
        if "betterproto2" in chosen:
            bp2_error = generate_betterproto2(workdir, find_protos(args.protos))

        results: dict[str, dict[str, Any]] = {}
        for name in chosen:
            if name == "import":
                continue
            if name == "betterproto2" and bp2_error:
                results[name] = {"error": [f"not measured: {bp2_error}"]}
            else:
                results[name] = run_child(name, workdir, args)
            r = results[name]
            status = r["error"][0] if "error" in r else f"{min(r['times']):.3f} s"
            print(f"  ran {name}: {status}", file=sys.stderr, flush=True)
        imp: tuple[float, float] | None = None
        if "import" in chosen or not args.only:
            imp = (import_time(args.import_tries, None), import_time(args.import_tries, workdir / "pycache"))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    checks = {r["checksum"] for n, r in results.items() if "error" not in r and r["checksum"]}
    floor = results.get("upb", {})
    floor_t = min(floor["times"]) if "times" in floor else None
    floor_m = floor.get("rss")

    print("| scenario | seconds (best) | runs | pods/s | retained MiB (RSS) | tracemalloc MiB "
          "| time / upb | RSS / upb |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        label = SCENARIOS[name][0]
        if "error" in r:
            print(f"| {label} | {r['error'][0]} | | | | | | |")
            continue
        t = min(r["times"])
        rss = r["rss"] / MIB
        traced = None if r["traced"] is None else r["traced"] / MIB
        tr = t / floor_t if floor_t else None
        mr = r["rss"] / floor_m if floor_m else None
        print(f"| {label} | {t:.3f} | {len(r['times'])} | {args.pods / t:,.0f} | {rss:.1f} | {_fmt(traced, '.1f')} "
              f"| {_fmt(tr, '.2f')}x | {_fmt(mr, '.2f')}x |")
    if imp is not None:
        dont_write = " (PYTHONDONTWRITEBYTECODE is set: compiled from source)" if os.environ.get(
            "PYTHONDONTWRITEBYTECODE") else ""
        print(f"| 9. `import k8spb` + `from k8spb.api.core.v1 import Pod`, fresh process{dont_write} "
              f"| {imp[0]:.3f} | {args.import_tries} | | | | | |")
        print(f"| 9b. the same with bytecode cached (PYTHONPYCACHEPREFIX) | {imp[1]:.3f} | {args.import_tries} "
              "| | | | | |")
    print()
    if len(checks) > 1:
        print(f"**WARNING: clients disagree on the values read (checksums {sorted(checks)})**\n")
    elif checks:
        print(f"All clients read the same values (checksum {checks.pop()}).\n")

    print_targets(results, imp)
    print(f"\n- load average at end: {os.getloadavg()[0]:.2f}; total {time.perf_counter() - started:.0f} s")
    return 0


def print_targets(results: dict[str, dict[str, Any]], imp: tuple[float, float] | None) -> None:
    def t(name: str) -> float | None:
        r = results.get(name, {})
        return min(r["times"]) if "times" in r else None

    def m(name: str) -> float | None:
        r = results.get(name, {})
        value: float | None = r.get("rss")
        return value

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b == 0 else a / b

    rows: list[tuple[str, float | None, str, Callable[[float], bool]]] = [
        ("protobuf typed decode + access within 3x of raw upb (time 2 / time 1)",
         ratio(t("k8spb-pb"), t("upb")), "x", lambda v: v <= 3.0),
        ("protobuf typed decode + access >= 10x faster than lightkube (time 7 / time 2)",
         ratio(t("lightkube"), t("k8spb-pb")), "x", lambda v: v >= 10.0),
        ("retained memory <= 1.5x the upb message's (RSS 2 / RSS 1)",
         ratio(m("k8spb-pb"), m("upb")), "x", lambda v: v <= 1.5),
        ("retained memory <= half of lightkube's (RSS 2 / RSS 7)",
         ratio(m("k8spb-pb"), m("lightkube")), "x", lambda v: v <= 0.5),
        ("JSON -> typed no slower than lightkube (time 4 / time 7)",
         ratio(t("k8spb-json"), t("lightkube")), "x", lambda v: v <= 1.0),
        ("import under 0.3 s (the slower of 9 and 9b)", max(imp) if imp else None, " s", lambda v: v < 0.3),
    ]
    print("| target | measured | met? |")
    print("|---|---:|---|")
    for label, value, unit, ok in rows:
        if value is None:
            print(f"| {label} | n/a | not measured |")
        else:
            print(f"| {label} | {value:.2f}{unit} | {'met' if ok(value) else '**not met**'} |")
    extra = [
        ("k8spb protobuf + access vs lightkube's msgspec client path (time 7b / time 2)",
         ratio(t("lightkube-client"), t("k8spb-pb"))),
        ("k8spb JSON + access vs lightkube's msgspec client path (time 4 / time 7b)",
         ratio(t("k8spb-json"), t("lightkube-client"))),
        ("k8spb protobuf + access vs the kubernetes client (time 6 / time 2)", ratio(t("kubernetes"), t("k8spb-pb"))),
        ("k8spb protobuf + access vs betterproto2 (time 8 / time 2)", ratio(t("betterproto2"), t("k8spb-pb"))),
        ("typed-object overhead over raw upb with the same access (time 2 / time 1b)",
         ratio(t("k8spb-pb"), t("upb-access"))),
        ("k8spb retained memory vs the kubernetes client (RSS 2 / RSS 6)", ratio(m("k8spb-pb"), m("kubernetes"))),
    ]
    print()
    for label, value in extra:
        print(f"- {label}: {_fmt(value, '.2f')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--pods", type=int, default=10_000, help="pods in the PodList (default 10000)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per scenario, best kept (default 3)")
    ap.add_argument("--budget", type=float, default=20.0,
                    help="stop repeating a scenario after this many seconds (default 20)")
    ap.add_argument("--only", help="comma-separated scenarios: " + ", ".join([*SCENARIOS, "import"]))
    ap.add_argument("--import-tries", type=int, default=7, help="fresh processes for the import time (default 7)")
    ap.add_argument("--no-gc", action="store_true",
                    help="disable the cyclic gc during timed runs (default: enabled, as in a real program)")
    ap.add_argument("--no-tracemalloc", action="store_true", help="skip the tracemalloc pass")
    ap.add_argument("--protos", help="Kubernetes .proto tree for betterproto2 (default: as build.py finds it)")
    ap.add_argument("--keep", help="write payloads and generated code here and keep them")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        out = child(args.child, Path(args.workdir), args.runs, args.budget, not args.no_tracemalloc, args.no_gc)
        print(json.dumps(out))
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
