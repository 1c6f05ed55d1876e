#!/usr/bin/env python3
"""End-to-end benchmark over loopback against k8spb.testing.ApiServer.

    python3 tools/bench_e2e.py [--pods 10000] [--events 10000] [--tls]

Reports, in one run:
* the server alone: list and watch throughput in each encoding (best of two), read as raw bytes by httpcore in
  another process (so it is known whether it is the bottleneck of the client numbers);
* clients: list N pods and consume N watch events with k8spb (protobuf), k8spb (JSON), the official
  ``kubernetes`` client and lightkube: seconds (best of 2 runs in each of 3 processes, one process
  per round over all scenarios; the median of the processes' bests and the very first run shown too),
  objects/s, the client process's CPU time in its best run (the client's own cost, while seconds also
  wait for the server) and peak RSS; each client is built before the clock starts.
  Watch events come in two shapes: MODIFIED events of the realistic pods (what a controller
  watching pods sees) and ADDED events of small ConfigMaps (~300 bytes, where per-event overhead
  dominates and the encoding matters least).
Each client scenario runs in a fresh subprocess against one shared server process. ``--tls`` serves
HTTPS (every client verifies the server against the kubeconfig's CA), as real clusters do.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

PB = "application/vnd.kubernetes.protobuf"


RUNS = 2
"""Timed runs of a client scenario in one process, one after another on the same client."""

ROUNDS = 3
"""Processes per client scenario, one per round over all scenarios: the host's noise comes and goes
over seconds, so the runs a best is taken from are spread over the whole benchmark."""


def _rss_mib() -> float:
    # VmHWM is reset by exec (ru_maxrss is not: it would report the parent server's peak)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def preload(srv: Any, pods: int) -> None:
    from bench import make_pod_list  # type: ignore[import-not-found]

    rt = srv.resources.get("", "v1", "pods")
    for item in make_pod_list(pods)["items"]:
        item["metadata"].pop("resourceVersion", None)
        item["metadata"].pop("uid", None)
        item["metadata"]["namespace"] = "default"
        created = srv.store.create(rt, "default", {"apiVersion": "v1", "kind": "Pod", **item})
        # the server resets status on create, as kube-apiserver does; the kubelet's status comes next
        created["status"] = item["status"]
        srv.store.update(rt, "default", created["metadata"]["name"], created, subresource="status")


def modify_pods(srv: Any, events: int) -> None:
    """Produce ``events`` MODIFIED events of the preloaded pods (a label change, as on a status update)."""
    rt = srv.resources.get("", "v1", "pods")
    names = sorted(name for _, name in srv.store.data[("", "pods")])
    for i in range(events):
        srv.store.patch(rt, "default", names[i % len(names)], "merge",
                        json.dumps({"metadata": {"labels": {"bench-rev": str(i)}}}).encode())


def churn(srv: Any, events: int) -> None:
    """Produce ``events`` ADDED events: ConfigMaps written straight into the server's store."""
    rt = srv.resources.get("", "v1", "configmaps")
    for i in range(events):
        srv.store.create(rt, "default", {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": f"churn-{i}", "labels": {"bench": "watch"}},
                                         "data": {"i": str(i), "payload": "x" * 200}})


# ---------------------------------------------------------------------------------------------------------
# client scenarios (each in its own process)


def make_client(kind: str, kubeconfig: str) -> Any:
    """The client of one library, configured from the kubeconfig (done before the clock starts)."""
    if kind in ("k8spb-protobuf", "k8spb-json"):
        import k8spb

        return k8spb.Client(k8spb.Config.from_kubeconfig(kubeconfig), prefer_protobuf=kind == "k8spb-protobuf")
    if kind == "kubernetes":
        from kubernetes import client as kclient
        from kubernetes import config as kconfig

        kconfig.load_kube_config(kubeconfig)
        return kclient.CoreV1Api()
    if kind == "lightkube":
        from lightkube import Client as LClient
        from lightkube import KubeConfig

        return LClient(KubeConfig.from_file(kubeconfig))
    raise ValueError(kind)


def client_list(kind: str, c: Any) -> int:
    if kind in ("k8spb-protobuf", "k8spb-json"):
        import k8spb
        from k8spb.api.core.v1 import Pod

        pods = k8spb.Api(c, Pod, namespace="default").list()
        return sum(len(p.metadata.name) + len(p.spec.containers[0].image) for p in pods)
    if kind == "kubernetes":
        out = c.list_namespaced_pod("default")
        return sum(len(p.metadata.name) + len(p.spec.containers[0].image) for p in out.items)
    if kind == "lightkube":
        from lightkube.resources.core_v1 import Pod as LPod

        return sum(len(p.metadata.name) + len(p.spec.containers[0].image) for p in c.list(LPod, namespace="default",
                                                                                        chunk_size=0))
    raise ValueError(kind)


def client_watch(kind: str, c: Any, since: str, events: int, resource: str) -> int:
    from k8spb.api.core.v1 import ConfigMap, Pod

    n = 0
    if kind in ("k8spb-protobuf", "k8spb-json"):
        import k8spb

        model = Pod if resource == "pods" else ConfigMap
        for ev in k8spb.Api(c, model, namespace="default").watch(resource_version=since, timeout_seconds=60):
            n += len(ev.object.metadata.resource_version or "")
            events -= 1
            if events == 0:
                break
        return n
    if kind == "kubernetes":
        from kubernetes import watch as kwatch

        w = kwatch.Watch()
        lister = c.list_namespaced_pod if resource == "pods" else c.list_namespaced_config_map
        for ev in w.stream(lister, "default", resource_version=since, timeout_seconds=60):
            n += len(ev["object"].metadata.resource_version or "")
            events -= 1
            if events == 0:
                w.stop()
                break
        return n
    if kind == "lightkube":
        from lightkube.resources.core_v1 import ConfigMap as LConfigMap
        from lightkube.resources.core_v1 import Pod as LPod

        for _typ, obj in c.watch(LPod if resource == "pods" else LConfigMap, namespace="default",
                                 resource_version=since):
            n += len(obj.metadata.resourceVersion or "")
            events -= 1
            if events == 0:
                break
        return n
    raise ValueError(kind)


def child(args: argparse.Namespace) -> None:
    # libraries are imported and clients built before the clock starts: this measures requests, not
    # imports (building an httpx client imports httpcore, h11 and anyio: ~0.1 s for every httpx library)
    import gc

    import k8spb
    import k8spb.api.core.v1  # noqa: F401
    if args.kind == "kubernetes":
        import kubernetes.client  # noqa: F401
    elif args.kind == "lightkube":
        import lightkube.resources.core_v1  # noqa: F401
    t = time.perf_counter()
    c = make_client(args.kind, args.kubeconfig)
    setup = time.perf_counter() - t
    times, cpus, checks = [], [], set()
    for _ in range(RUNS):
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        if args.child == "list":
            checks.add(client_list(args.kind, c))
        else:
            checks.add(client_watch(args.kind, c, args.since, args.events, args.resource))
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    print(json.dumps({"setup": setup, "times": times, "cpus": cpus, "peak_mib": _rss_mib(),
                      "check": sorted(checks)}))


# ---------------------------------------------------------------------------------------------------------


class _FrameCounter:
    """Counts complete watch events in a byte stream (length-prefixed frames or JSON lines)."""

    def __init__(self, protobuf: bool) -> None:
        self.protobuf, self.buf = protobuf, b""

    def feed(self, data: bytes) -> int:
        if not self.protobuf:
            return data.count(b"\n")
        self.buf += data
        n = pos = 0
        while len(self.buf) - pos >= 4:
            end = pos + 4 + int.from_bytes(self.buf[pos : pos + 4], "big")
            if end > len(self.buf):
                break
            n, pos = n + 1, end
        self.buf = self.buf[pos:]
        return n


def server_throughput(url: str, token: str, ca_pem: str | None, since: dict[str, str],
                      events: int) -> list[tuple[str, float, int, float]]:
    """Runs in a child process: the server's own process only serves.

    Each row is the best of two reads (the first may encode objects for the first time), with the
    reader's CPU time in that read: what receiving the bytes costs, with httpcore on k8spb's pool
    (bulk reads; watch bodies de-chunked off the socket, as the k8spb client reads them).
    """
    from k8spb._transport import chunked_body, pool

    def best_of_two(read: Callable[[], int]) -> tuple[float, int, float]:
        runs = []
        for _ in range(2):
            t, cpu = time.perf_counter(), time.process_time()
            size = read()
            runs.append((time.perf_counter() - t, size, time.process_time() - cpu))
        return min(runs)

    import ssl

    out = []
    verify = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    auth = {"Authorization": f"Bearer {token}"}
    timeouts = {"timeout": {"connect": 120, "read": 120, "write": 120, "pool": 120}}
    with pool(verify=verify, proxy=None, http2=False) as http:
        for label, accept in (("protobuf", PB), ("json", "application/json")):
            def get(accept: str = accept) -> int:
                return len(http.request("GET", f"{url}/api/v1/namespaces/default/pods",
                                        headers={**auth, "Accept": accept}, extensions=timeouts).content)

            secs, size, cpu = best_of_two(get)
            out.append((f"server list, {label}", secs, size, cpu))
        for resource in ("pods", "configmaps"):
            for label, accept in (("protobuf", PB), ("json", "application/json")):
                def watch(resource: str = resource, label: str = label, accept: str = accept) -> int:
                    got, size = 0, 0
                    target = (f"{url}/api/v1/namespaces/default/{resource}?watch=1&resourceVersion={since[resource]}"
                              "&timeoutSeconds=60")
                    with http.stream("GET", target, headers={**auth, "Accept": accept}, extensions=timeouts) as r:
                        count = _FrameCounter(label == "protobuf")  # counts events without decoding them
                        body = chunked_body(r, 60.0)
                        for chunk in r.iter_stream() if body is None else body:
                            size += len(chunk)
                            got += count.feed(chunk)
                            if got >= events:
                                break
                    return size

                secs, size, cpu = best_of_two(watch)
                out.append((f"server watch {resource}, {label} ({events} events)", secs, size, cpu))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--child", choices=("list", "watch", "server"))
    parser.add_argument("--kind")
    parser.add_argument("--kubeconfig")
    parser.add_argument("--since")
    parser.add_argument("--resource", default="pods")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS")
    args = parser.parse_args()
    if args.child == "server":
        import yaml

        with open(args.kubeconfig) as fh:
            cfg = yaml.safe_load(fh)
        cluster = cfg["clusters"][0]["cluster"]
        url, token = cluster["server"], cfg["users"][0]["user"]["token"]
        ca = cluster.get("certificate-authority-data")
        ca_pem = base64.b64decode(ca).decode() if ca else None
        print(json.dumps(server_throughput(url, token, ca_pem, json.loads(args.since), args.events)))
        return 0
    if args.child:
        child(args)
        return 0

    from k8spb.testing import ApiServer

    kinds = ("k8spb-protobuf", "k8spb-json", "kubernetes", "lightkube")
    with ApiServer(tls=args.tls) as srv:
        t = time.perf_counter()
        preload(srv, args.pods)
        print(f"preloaded {args.pods} pods in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        import k8spb
        from k8spb.api.core.v1 import ConfigMap

        since: dict[str, str] = {}
        with k8spb.Client(k8spb.Config.from_kubeconfig(srv.kubeconfig_path)) as c:
            since["configmaps"] = k8spb.Api(c, ConfigMap, namespace="default").list().metadata.resource_version
            t = time.perf_counter()
            churn(srv, args.events)
            since["pods"] = k8spb.Api(c, ConfigMap, namespace="default").list(limit=1).metadata.resource_version
            modify_pods(srv, args.events)
        print(f"made 2 x {args.events} watch events in {time.perf_counter() - t:.1f} s", file=sys.stderr)

        rows: list[tuple[str, float, float | None, str]] = []
        cmd = [sys.executable, __file__, "--child", "server", "--kubeconfig", srv.kubeconfig_path,
               "--since", json.dumps(since), "--events", str(args.events)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        for label, secs, size, cpu in json.loads(proc.stdout.strip().splitlines()[-1]):
            n = args.pods if "list" in label else args.events
            rows.append((label, secs, None,
                         f"{n / secs:,.0f}/s, {size / 2**20:.1f} MiB; reader CPU {cpu:.3f} s"))
        scenarios = (("list", "pods", f"list {args.pods} pods"),
                     ("watch", "pods", f"watch {args.events} pod events"),
                     ("watch", "configmaps", f"watch {args.events} small ConfigMap events"))
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        medians: dict[str, float] = {}
        for _ in range(ROUNDS):
            for mode, resource, title in scenarios:
                for kind in kinds:
                    cmd = [sys.executable, __file__, "--child", mode, "--kind", kind, "--kubeconfig",
                           srv.kubeconfig_path, "--since", since[resource], "--events", str(args.events),
                           "--resource", resource]
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False,
                                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
                    out = runs.setdefault((title, kind), [])
                    if proc.returncode != 0:
                        out.append({"error": proc.stderr.strip()[-200:]})
                    else:
                        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        for mode, _, title in scenarios:
            n = args.pods if mode == "list" else args.events
            for kind in kinds:
                procs = runs[(title, kind)]
                failed = [r["error"] for r in procs if "error" in r]
                if failed:
                    rows.append((f"{title}, {kind}", float("nan"), None, "failed: " + failed[0]))
                    continue
                timed = [(t, c) for r in procs for t, c in zip(r["times"], r["cpus"], strict=True)]
                best, cpu = min(timed)
                per_process = sorted(min(r["times"]) for r in procs)
                medians[f"{title}, {kind}"] = per_process[len(per_process) // 2]
                rows.append((f"{title}, {kind}", best, max(r["peak_mib"] for r in procs),
                             f"{n / best:,.0f}/s; client CPU {cpu:.3f} s; "
                             f"median of processes {per_process[len(per_process) // 2]:.3f} s; "
                             f"first run {procs[0]['times'][0]:.2f} s; "
                             f"client built in {procs[0]['setup']:.2f} s; "
                             f"checksum {sorted({c for r in procs for c in r['check']})}"))

    print(f"server: k8spb.testing over {'HTTPS' if args.tls else 'plain HTTP'} on loopback")
    print()
    print(f"| scenario | seconds (best of {RUNS} runs x {ROUNDS} processes) | peak RSS MiB | rate, notes |")
    print("|---|---:|---:|---|")
    for label, secs, peak, rate in rows:
        print(f"| {label} | {secs:.3f} | {'' if peak is None else f'{peak:.0f}'} | {rate} |")
    print()
    best = {label: secs for label, secs, _, _ in rows}
    for _, _, title in scenarios:
        ours, ours_median = best[f"{title}, k8spb-protobuf"], medians[f"{title}, k8spb-protobuf"]
        others = {k: best[f"{title}, {k}"] for k in kinds[2:]}
        fastest = min(others, key=lambda k: others[k])
        by_median = min(medians[f"{title}, {k}"] for k in kinds[2:]) / ours_median
        print(f"- {title}: k8spb protobuf is {others[fastest] / ours:.1f}x the fastest other client ({fastest}) "
              f"and {best[f'{title}, k8spb-json'] / ours:.1f}x k8spb JSON (by the medians of processes: "
              f"{by_median:.1f}x and {medians[f'{title}, k8spb-json'] / ours_median:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
