#!/usr/bin/env python3
"""Custom resources and the JSON path, end to end against k8spb.testing.ApiServer, every client side by side.

    python3 tools/bench_crd.py [--crs 10000] [--pods 10000] [--events 10000] [--rounds 3]
    python3 tools/bench_crd.py --parsers         # JSON parsers alone on the same payloads (why msgspec)

Scenarios, each client in a fresh process per round, rounds interleaved (round 1 runs every client of
every scenario, then round 2 ...), the server in the parent process:

* **CR list**: list ``--crs`` custom resources (~3 KiB of JSON each: labels, annotations, two
  managedFields entries, a spec with env/ports/resources/config, a status with conditions) in one
  request, and read every object's name, namespace, resourceVersion, ``spec.image``, ``spec.replicas``,
  ``spec.env[0].value`` and ``status.phase``. Clients: k8spb with a typed class (``k8spb.crd``) and
  with DynamicObject; lightkube (a generic resource: ``create_namespaced_resource``, its msgspec
  ``decode_list``); the official client (``CustomObjectsApi``, and its ``_preload_content=False`` raw
  body parsed with ``json.loads``); kr8s (``kr8s.get``, APIObjects).
* **pod list, JSON**: list ``--pods`` realistic pods over JSON, read name, namespace, resourceVersion,
  phase and the first container's image: k8spb (``prefer_protobuf=False``) against lightkube's msgspec
  path (``Client.list``, which is ``decoders.decode_list``).
* **pod watch, JSON**: ``--events`` MODIFIED pod events, reading each object's name and resourceVersion.

Every value read goes into a CRC32 chained over the run (a checksum of content, not of lengths); the
table shows it so a reader can see every client read the same data. Seconds are the best of two runs
in each of ``--rounds`` processes (the median of the processes' bests too); memory is what the result
of one more run holds (tracemalloc, after ``gc.collect()``, the objects and the values read still
referenced); client CPU is the process time of the best run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT))

GROUP, VERSION, KIND, PLURAL = "bench.example.com", "v1", "Widget", "widgets"
NAMESPACE = "default"
RUNS = 2



def crd() -> dict[str, Any]:
    """The benchmark's CRD, derived from its typed class (tools/bench_crd_model.py)."""
    return typed_widget().crd_dict()  # type: ignore[no-any-return]


def make_widget(i: int, rnd: random.Random) -> dict[str, Any]:
    """One custom object of about 3 KiB of JSON once stored (managedFields included)."""
    app = ("web", "api", "worker", "cache")[i % 4]
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": KIND,
        "metadata": {"name": f"widget-{i:05d}-{rnd.getrandbits(24):06x}",
                     "labels": {"app": app, "tier": "backend" if i % 3 else "frontend", "team": f"team-{i % 17}",
                                "app.kubernetes.io/managed-by": "widget-operator", "shard": str(i % 8)},
                     "annotations": {"widgets.example.com/checksum": f"{rnd.getrandbits(128):032x}",
                                     "widgets.example.com/owner": f"owner-{i % 41}@example.com"}},
        "spec": {
            "image": f"registry.example.com/{app}:v1.{i % 9}.{i % 31}", "replicas": 1 + i % 5, "paused": i % 7 == 0,
            "resources": {"requests": {"cpu": f"{100 + i % 400}m", "memory": f"{64 + i % 512}Mi"},
                          "limits": {"cpu": "1", "memory": "1Gi"}},
            "env": [{"name": f"VAR_{k}", "value": f"value-{i}-{k}-{rnd.getrandbits(32):08x}"} for k in range(6)],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                      {"name": "metrics", "port": 9090, "protocol": "TCP"}],
            "config": {f"key{k}": f"setting-{rnd.getrandbits(40):010x}" for k in range(6)},
            "schedule": {"cron": f"*/{1 + i % 30} * * * *", "timeZone": "UTC"},
            "tags": [f"tag-{(i + k) % 23}" for k in range(4)],
        },
    }


def widget_status(i: int) -> dict[str, Any]:
    t = f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
    return {"phase": ("Running", "Pending", "Degraded")[i % 3], "observedGeneration": 1, "replicas": 1 + i % 5,
            "readyReplicas": i % 5,
            "conditions": [{"type": c, "status": "True" if (i + n) % 4 else "False", "reason": f"{c}Reason",
                            "message": f"{c} since the last reconcile of widget {i}", "lastTransitionTime": t}
                           for n, c in enumerate(("Available", "Progressing", "Ready"))],
            "endpoints": [f"10.{i % 250}.{k}.{i % 200}:8080" for k in range(2)]}


def preload_widgets(srv: Any, n: int) -> None:
    import k8spb
    from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition

    with k8spb.Client(k8spb.Config.from_kubeconfig(srv.kubeconfig_path)) as c:
        k8spb.Api(c, CustomResourceDefinition).create(CustomResourceDefinition.from_dict(crd()))
    rt = srv.resources.get(GROUP, VERSION, PLURAL)
    rnd = random.Random(7)
    for i in range(n):
        created = srv.store.create(rt, NAMESPACE, make_widget(i, rnd), manager="widget-operator")
        created["status"] = widget_status(i)
        srv.store.update(rt, NAMESPACE, created["metadata"]["name"], created, subresource="status",
                         manager="widget-controller")


# ---------------------------------------------------------------------------------------------------------
# clients (each scenario runs in its own process)


def _crc(crc: int, *values: Any) -> int:
    for v in values:
        crc = zlib.crc32(str(v).encode(), crc)
    return crc


def typed_widget() -> Any:
    """The typed k8spb class of the benchmark's custom resource (k8spb.crd)."""
    from bench_crd_model import Widget  # type: ignore[import-not-found]

    return Widget


def make_client(kind: str, kubeconfig: str) -> Any:
    if kind.startswith("k8spb"):
        import k8spb

        return k8spb.Client(k8spb.Config.from_kubeconfig(kubeconfig), prefer_protobuf=False)
    if kind.startswith("kubernetes"):
        from kubernetes import client as kclient
        from kubernetes import config as kconfig

        kconfig.load_kube_config(kubeconfig)
        return kclient.ApiClient()
    if kind == "lightkube":
        from lightkube import Client as LClient
        from lightkube import KubeConfig

        return LClient(KubeConfig.from_file(kubeconfig))
    if kind == "kr8s":
        import kr8s

        return kr8s.api(kubeconfig=kubeconfig)
    raise ValueError(kind)


def list_crs(kind: str, c: Any) -> tuple[int, Any]:
    crc = 0
    if kind == "k8spb-typed":
        import k8spb

        widgets = k8spb.Api(c, typed_widget(), namespace=NAMESPACE).list()
        for w in widgets:
            m, s = w.metadata, w.spec
            crc = _crc(crc, m.name, m.namespace, m.resource_version, s.image, s.replicas, s.env[0].value,
                       w.status.phase)
        return crc, widgets
    if kind == "k8spb-dynamic":
        import k8spb

        ref = k8spb.ApiResource(GROUP, VERSION, KIND, PLURAL, True)
        objs = k8spb.Api(c, k8spb.DynamicObject, namespace=NAMESPACE, resource=ref).list()
        for o in objs:
            m, s = o.metadata, o["spec"]
            crc = _crc(crc, m.name, m.namespace, m.resource_version, s["image"], s["replicas"], s["env"][0]["value"],
                       o["status"]["phase"])
        return crc, objs
    if kind == "lightkube":
        from lightkube.generic_resource import create_namespaced_resource

        res = create_namespaced_resource(GROUP, VERSION, KIND, PLURAL)
        items = list(c.list(res, namespace=NAMESPACE, chunk_size=0))
        for o in items:
            m, s = o.metadata, o.spec
            crc = _crc(crc, m.name, m.namespace, m.resourceVersion, s["image"], s["replicas"], s["env"][0]["value"],
                       o.status["phase"])
        return crc, items
    if kind == "kubernetes":
        from kubernetes import client as kclient

        doc = kclient.CustomObjectsApi(c).list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
    elif kind == "kubernetes-raw":
        from kubernetes import client as kclient

        resp = kclient.CustomObjectsApi(c).list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL,
                                                                          _preload_content=False)
        doc = json.loads(resp.data)
    elif kind == "kr8s":
        import kr8s

        objs = list(kr8s.get(f"{PLURAL}.{GROUP}", namespace=NAMESPACE, api=c))
        for o in objs:
            s = o.spec
            crc = _crc(crc, o.name, o.namespace, o.metadata.resourceVersion, s.image, s.replicas, s.env[0].value,
                       o.status.phase)
        return crc, objs
    else:
        raise ValueError(kind)
    for o in doc["items"]:
        m, s = o["metadata"], o["spec"]
        crc = _crc(crc, m["name"], m["namespace"], m["resourceVersion"], s["image"], s["replicas"],
                   s["env"][0]["value"], o["status"]["phase"])
    return crc, doc


def list_pods(kind: str, c: Any) -> tuple[int, Any]:
    crc = 0
    if kind == "k8spb":
        import k8spb
        from k8spb.api.core.v1 import Pod

        pods = k8spb.Api(c, Pod, namespace=NAMESPACE).list()
        for p in pods:
            m = p.metadata
            crc = _crc(crc, m.name, m.namespace, m.resource_version, p.status.phase, p.spec.containers[0].image)
        return crc, pods
    if kind == "lightkube":
        from lightkube.resources.core_v1 import Pod as LPod

        items = list(c.list(LPod, namespace=NAMESPACE, chunk_size=0))
        for p in items:
            m = p.metadata
            crc = _crc(crc, m.name, m.namespace, m.resourceVersion, p.status.phase, p.spec.containers[0].image)
        return crc, items
    raise ValueError(kind)


def watch_pods(kind: str, c: Any, since: str, events: int) -> tuple[int, Any]:
    crc, kept = 0, []
    if kind == "k8spb":
        import k8spb
        from k8spb.api.core.v1 import Pod

        for ev in k8spb.Api(c, Pod, namespace=NAMESPACE).watch(resource_version=since, timeout_seconds=60):
            m = ev.object.metadata
            crc = _crc(crc, ev.type, m.name, m.resource_version)
            events -= 1
            if events == 0:
                break
        return crc, kept
    if kind == "lightkube":
        from lightkube.resources.core_v1 import Pod as LPod

        for typ, obj in c.watch(LPod, namespace=NAMESPACE, resource_version=since):
            m = obj.metadata
            crc = _crc(crc, typ, m.name, m.resourceVersion)
            events -= 1
            if events == 0:
                break
        return crc, kept
    raise ValueError(kind)


def parsers(crs: int, pods: int) -> None:
    """How each JSON parser reads the payloads, in this process (no HTTP): why k8spb's JSON path uses msgspec.

    Full parses (json.loads, orjson if installed, msgspec to Python objects) build every dict of the
    list; msgspec can instead keep values encoded (``Raw``), which is what k8spb.decode does, then read
    what is asked for. Best of 3, gc on, after gc.collect().
    """
    import gc

    import msgspec
    from bench import make_pod_list  # type: ignore[import-not-found]

    import k8spb
    from k8spb.api.core.v1 import PodList

    rnd = random.Random(7)
    widgets = []
    for i in range(crs):
        w = make_widget(i, rnd)
        w["status"] = widget_status(i)
        widgets.append(w)
    payloads = {"CR list": (json.dumps({"apiVersion": f"{GROUP}/{VERSION}", "kind": f"{KIND}List", "metadata": {},
                                        "items": widgets}).encode(), typed_widget().List),
                "pod list": (json.dumps(make_pod_list(pods)).encode(), PodList)}
    full: dict[str, Any] = {"json.loads": json.loads, "msgspec.json.decode": msgspec.json.decode}
    try:
        import orjson  # type: ignore[import-not-found]

        full["orjson.loads"] = orjson.loads
    except ImportError:
        pass
    print("| payload | parser | seconds (best of 3) |")
    print("|---|---|---:|")
    for name, (data, cls) in payloads.items():
        runs: dict[str, Any] = {**full, "k8spb.decode (values kept encoded)":
                                lambda d, cls=cls: k8spb.decode(d, k8spb.JSON, into=cls).items}
        for label, fn in runs.items():
            best = float("inf")
            for _ in range(3):
                gc.collect()
                t = time.perf_counter()
                fn(data)
                best = min(best, time.perf_counter() - t)
            print(f"| {name} ({len(data) / 2**20:.1f} MiB) | {label} | {best:.3f} |")


def child(args: argparse.Namespace) -> None:
    import gc
    import tracemalloc

    import k8spb.api.core.v1  # noqa: F401  (imports and client set-up stay out of the clock)

    if args.kind.startswith("kubernetes"):
        import kubernetes.client  # noqa: F401
    elif args.kind == "lightkube":
        import lightkube.resources.core_v1  # noqa: F401
    elif args.kind == "k8spb-typed":
        typed_widget()
    c = make_client(args.kind, args.kubeconfig)

    def run() -> tuple[int, Any]:
        if args.child == "crs":
            return list_crs(args.kind, c)
        if args.child == "pods":
            return list_pods(args.kind, c)
        return watch_pods(args.kind, c, args.since, args.events)

    times, cpus, checks = [], [], set()
    for _ in range(RUNS):
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        check, result = run()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        checks.add(check)
        del result
    held = None
    if args.child != "watch":
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        check, result = run()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        checks.add(check)
        del result
    print(json.dumps({"times": times, "cpus": cpus, "held": held, "check": sorted(checks)}))


# ---------------------------------------------------------------------------------------------------------


SCENARIOS = (
    ("crs", "CR list", ("k8spb-typed", "k8spb-dynamic", "lightkube", "kubernetes", "kubernetes-raw", "kr8s")),
    ("pods", "pod list, JSON", ("k8spb", "lightkube")),
    ("watch", "pod watch, JSON", ("k8spb", "lightkube")),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--crs", type=int, default=10000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated scenarios (crs, pods, watch)")
    parser.add_argument("--child", choices=("crs", "pods", "watch"))
    parser.add_argument("--kind")
    parser.add_argument("--kubeconfig")
    parser.add_argument("--since", default="")
    parser.add_argument("--parsers", action="store_true", help="only compare JSON parsers on the payloads, no HTTP")
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    if args.parsers:
        parsers(args.crs, args.pods)
        return 0

    from bench_e2e import modify_pods, preload  # type: ignore[import-not-found]

    from k8spb.testing import ApiServer

    only = set(args.only.split(",")) if args.only else {s for s, _, _ in SCENARIOS}
    scenarios = [s for s in SCENARIOS if s[0] in only]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}
    with ApiServer() as srv:
        t = time.perf_counter()
        if "crs" in only:
            preload_widgets(srv, args.crs)
        since = ""
        if only & {"pods", "watch"}:
            preload(srv, args.pods)
            since = str(srv.store.rv)
            if "watch" in only:
                modify_pods(srv, args.events)
        print(f"preloaded in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for _ in range(args.rounds):
            for scenario, _, kinds in scenarios:
                for kind in kinds:
                    cmd = [sys.executable, __file__, "--child", scenario, "--kind", kind, "--kubeconfig",
                           srv.kubeconfig_path, "--since", since, "--events", str(args.events)]
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False, env=env)
                    out = runs.setdefault((scenario, kind), [])
                    if proc.returncode != 0:
                        out.append({"error": proc.stderr.strip()[-300:]})
                    else:
                        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                    print(f"  {scenario} {kind}: {out[-1].get('times') or out[-1].get('error')}", file=sys.stderr)

    n_of = {"crs": args.crs, "pods": args.pods, "watch": args.events}
    print(f"server: k8spb.testing over plain HTTP on loopback; {args.rounds} rounds, {RUNS} runs per process")
    print()
    print("| scenario | client | seconds (best) | median of processes | objects/s | client CPU s | held MiB "
          "| checksum |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    best: dict[tuple[str, str], float] = {}
    median: dict[tuple[str, str], float] = {}
    held: dict[tuple[str, str], float] = {}
    for scenario, title, kinds in scenarios:
        for kind in kinds:
            procs = runs[(scenario, kind)]
            failed = [r["error"] for r in procs if "error" in r]
            if failed:
                print(f"| {title} | {kind} | failed | | | | | {failed[0][-120:]!r} |")
                continue
            timed = sorted((t, c) for r in procs for t, c in zip(r["times"], r["cpus"], strict=True))
            bests = sorted(min(r["times"]) for r in procs)
            best[(scenario, kind)], cpu = timed[0]
            median[(scenario, kind)] = bests[len(bests) // 2]
            helds = [r["held"] for r in procs if r["held"] is not None]
            mib = min(helds) / 2**20 if helds else None
            if mib is not None:
                held[(scenario, kind)] = mib
            checks = sorted({c for r in procs for c in r["check"]})
            print(f"| {title} | {kind} | {timed[0][0]:.3f} | {median[(scenario, kind)]:.3f} | "
                  f"{n_of[scenario] / timed[0][0]:,.0f} | {cpu:.3f} | {'' if mib is None else f'{mib:.1f}'} | "
                  f"{', '.join(f'{c:08x}' for c in checks)} |")
    print()
    for scenario, title, kinds in scenarios:
        ours = [k for k in kinds if k.startswith("k8spb")]
        others = [k for k in kinds if not k.startswith("k8spb") and (scenario, k) in best]
        if not others:
            continue
        fastest = min(others, key=lambda k: best[(scenario, k)])
        by_median = min(others, key=lambda k: median[(scenario, k)])
        for k in ours:
            if (scenario, k) not in best:
                continue
            line = (f"- {title}: {k} is {best[(scenario, fastest)] / best[(scenario, k)]:.2f}x the fastest other "
                    f"client ({fastest}); by the medians of processes "
                    f"{median[(scenario, by_median)] / median[(scenario, k)]:.2f}x ({by_median})")
            lightest = [o for o in others if (scenario, o) in held]
            if (scenario, k) in held and lightest:
                low = min(lightest, key=lambda o: held[(scenario, o)])
                line += (f"; holds {held[(scenario, k)] / held[(scenario, low)]:.2f}x the memory of the "
                         f"leanest other ({low})")
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
