#!/usr/bin/env python3
"""Benchmark of k8spb.runtime against lightkube doing the same by hand, over loopback.

    python3 tools/bench_runtime.py [--pods 10000] [--events 10000] [--rounds 3]

The server (k8spb.testing.ApiServer, preloaded with realistic pods, the same as tools/bench.py's) runs
in this process; every client scenario runs in a fresh subprocess, and the scenarios are interleaved
round by round (the host's speed drifts over seconds). Scenarios:

* ``cache``: list every pod into a cache until it is ready (k8spb: ``reflector(Writer(),
  watcher(api))``, pages of 500; lightkube: ``client.list(Pod, chunk_size=500)`` into a dict keyed by
  namespace/name); then the memory the cache holds: Python heap (tracemalloc) and the growth of the
  process's RSS, per pod, after a full collection and malloc_trim (freed heap handed back);
* ``events``: apply N MODIFIED watch events of those pods to the cache, both clients watching from the
  same resourceVersion (k8spb: the watcher's state machine resumed there, as after its list; lightkube:
  ``client.watch(Pod, resource_version=...)`` into the dict);
* ``keep-one``: list the pods, keep one object, drop the rest: what stays in memory (k8spb through the
  store, and straight from ``Api.list``; lightkube's object);
* ``controller``: a no-op reconcile for every pod, from start to the last reconcile (k8spb's Controller;
  lightkube has none: the row is ours alone).

Every scenario reports a checksum over values read from the cache (names, resourceVersions, images), so
both sides are seen to hold the same data.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

KINDS = ("k8spb", "lightkube")


def _rss() -> int:
    """Resident memory, after a full collection and giving freed heap back to the system (glibc)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _crc(*parts: str | None) -> int:
    return zlib.crc32("\x00".join(p or "" for p in parts).encode())


# ---------------------------------------------------------------------------------------------------------
# client side (each call in its own process)


def _k8spb_api(kubeconfig: str) -> Any:
    import k8spb
    from k8spb.api.core.v1 import Pod

    return k8spb.Api(k8spb.Client(k8spb.Config.from_kubeconfig(kubeconfig)), Pod, namespace="default")


def _lightkube(kubeconfig: str) -> Any:
    from lightkube import Client, KubeConfig

    return Client(KubeConfig.from_file(kubeconfig))


def _fill_k8spb(api: Any) -> tuple[Any, str]:
    from k8spb.runtime import InitDone, WatcherConfig, Writer, reflector, watcher

    writer: Writer[Any] = Writer()
    for event in reflector(writer, watcher(api, WatcherConfig(page_size=500))):
        if isinstance(event, InitDone):
            return writer, event.resource_version or ""
    raise AssertionError


def _fill_lightkube(c: Any) -> tuple[dict[tuple[str, str], Any], str]:
    from lightkube.resources.core_v1 import Pod

    cache: dict[tuple[str, str], Any] = {}
    pages = c.list(Pod, namespace="default", chunk_size=500)
    for pod in pages:
        cache[(pod.metadata.namespace, pod.metadata.name)] = pod
    return cache, pages.resourceVersion


def scenario_cache(kind: str, kubeconfig: str) -> dict[str, Any]:
    import tracemalloc

    client = _k8spb_api(kubeconfig) if kind == "k8spb" else _lightkube(kubeconfig)
    gc.collect()
    rss0 = _rss()
    tracemalloc.start()
    heap0 = tracemalloc.get_traced_memory()[0]
    t, cpu = time.perf_counter(), time.process_time()
    if kind == "k8spb":
        writer, _ = _fill_k8spb(client)
        n = len(writer.store)
    else:
        cache, _ = _fill_lightkube(client)
        n = len(cache)
    secs, cpu = time.perf_counter() - t, time.process_time() - cpu
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0] - heap0
    tracemalloc.stop()
    rss = _rss() - rss0
    if kind == "k8spb":
        check = 0
        for pod in writer.store.list():
            check ^= _crc(pod.metadata.name, pod.metadata.resource_version, pod.spec.containers[0].image)
    else:
        check = 0
        for pod in cache.values():
            check ^= _crc(pod.metadata.name, pod.metadata.resourceVersion, pod.spec.containers[0].image)
    return {"seconds": secs, "cpu": cpu, "n": n, "heap_per_pod": heap / n, "rss_per_pod": rss / n,
            "check": check}


def scenario_events(kind: str, kubeconfig: str, since: str, events: int) -> dict[str, Any]:
    if kind == "k8spb":
        from k8spb.runtime import Apply
        from k8spb.runtime._watcher import _Machine, _run

        api = _k8spb_api(kubeconfig)
        writer, _ = _fill_k8spb(api)
        machine = _Machine(__import__("k8spb.runtime", fromlist=["WatcherConfig"]).WatcherConfig())
        machine.listing, machine.rv = False, since  # as right after a list at ``since``
        gc.collect()
        t, cpu = time.perf_counter(), time.process_time()
        n = 0
        for event in _run(machine, api.list, api._watch_raw, None):  # as watcher(api) drives it
            writer.apply(event)
            if type(event) is Apply:
                n += 1
                if n == events:
                    break
        secs, cpu = time.perf_counter() - t, time.process_time() - cpu
        check = 0
        for pod in writer.store.list():
            check ^= _crc(pod.metadata.name, pod.metadata.resource_version, pod.spec.containers[0].image)
    else:
        from lightkube.resources.core_v1 import Pod

        c = _lightkube(kubeconfig)
        cache, _ = _fill_lightkube(c)
        gc.collect()
        t, cpu = time.perf_counter(), time.process_time()
        n = 0
        for typ, pod in c.watch(Pod, namespace="default", resource_version=since):
            key = (pod.metadata.namespace, pod.metadata.name)
            if typ == "DELETED":
                cache.pop(key, None)
            else:
                cache[key] = pod
                n += 1
                if n == events:
                    break
        secs, cpu = time.perf_counter() - t, time.process_time() - cpu
        check = 0
        for pod in cache.values():
            check ^= _crc(pod.metadata.name, pod.metadata.resourceVersion, pod.spec.containers[0].image)
    return {"seconds": secs, "cpu": cpu, "n": n, "check": check}


def scenario_keep_one(kind: str, kubeconfig: str) -> dict[str, Any]:
    rss0 = _rss()
    if kind == "k8spb":
        writer, _ = _fill_k8spb(_k8spb_api(kubeconfig))
        kept = writer.store.get(writer.store.keys()[0])
        del writer
    elif kind == "k8spb-list":
        pods = list(_k8spb_api(kubeconfig).list())
        kept = pods[0]
        del pods
    else:
        cache, _ = _fill_lightkube(_lightkube(kubeconfig))
        kept = next(iter(cache.values()))
        del cache
    gc.collect()
    return {"kept_mib": (_rss() - rss0) / 2**20, "check": _crc(kept.metadata.name)}


def scenario_controller(kubeconfig: str, pods: int) -> dict[str, Any]:
    import asyncio

    import k8spb
    from k8spb.api.core.v1 import Pod
    from k8spb.runtime import Action, Controller

    async def run() -> dict[str, Any]:
        async with k8spb.AsyncClient(k8spb.Config.from_kubeconfig(kubeconfig)) as client:
            controller = Controller(k8spb.AsyncApi(client, Pod, namespace="default"))
            done = 0
            check = 0
            finished = asyncio.Event()
            ready_at = 0.0

            async def reconcile(pod: Pod) -> Action:
                nonlocal done, check, ready_at
                if done == 0:
                    ready_at = time.perf_counter()
                done += 1
                check ^= _crc(pod.metadata.name)  # type: ignore[union-attr]
                if done == pods:
                    finished.set()
                return Action.await_change()

            t, cpu = time.perf_counter(), time.process_time()
            task = asyncio.create_task(controller.run(reconcile))
            await finished.wait()
            secs, cpu = time.perf_counter() - t, time.process_time() - cpu
            controller.shutdown()
            await task
            return {"seconds": secs, "cpu": cpu, "reconciles": (secs - (ready_at - t)), "n": done, "check": check}

    return asyncio.run(run())


def child(args: argparse.Namespace) -> None:
    import lightkube.resources.core_v1  # noqa: F401  (imports before the clock)

    import k8spb.api.core.v1
    import k8spb.runtime  # noqa: F401

    if args.child == "cache":
        out = scenario_cache(args.kind, args.kubeconfig)
    elif args.child == "events":
        out = scenario_events(args.kind, args.kubeconfig, args.since, args.events)
    elif args.child == "keep-one":
        out = scenario_keep_one(args.kind, args.kubeconfig)
    else:
        out = scenario_controller(args.kubeconfig, args.pods)
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=("cache", "events", "keep-one", "controller"))
    parser.add_argument("--kind")
    parser.add_argument("--kubeconfig")
    parser.add_argument("--since")
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    from bench_e2e import modify_pods, preload  # type: ignore[import-not-found]

    import k8spb
    from k8spb.api.core.v1 import Pod
    from k8spb.testing import ApiServer

    with ApiServer() as srv:
        t = time.perf_counter()
        preload(srv, args.pods)
        with k8spb.Client(k8spb.Config.from_kubeconfig(srv.kubeconfig_path)) as c:
            since = k8spb.Api(c, Pod, namespace="default").list(limit=1).resource_version or ""
        modify_pods(srv, args.events)
        print(f"preloaded {args.pods} pods and {args.events} events in {time.perf_counter() - t:.1f} s",
              file=sys.stderr)
        plan = [("cache", k) for k in KINDS] + [("events", k) for k in KINDS] + \
            [("keep-one", k) for k in ("k8spb", "k8spb-list", "lightkube")] + [("controller", "k8spb")]
        results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for _ in range(args.rounds):
            for scenario, kind in plan:
                cmd = [sys.executable, __file__, "--child", scenario, "--kind", kind, "--kubeconfig",
                       srv.kubeconfig_path, "--since", since, "--events", str(args.events), "--pods", str(args.pods)]
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False,
                                      env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
                if proc.returncode != 0:
                    print(proc.stderr[-2000:], file=sys.stderr)
                    raise SystemExit(f"{scenario} {kind} failed")
                results.setdefault((scenario, kind), []).append(json.loads(proc.stdout.strip().splitlines()[-1]))

    def best(scenario: str, kind: str, key: str = "seconds") -> dict[str, Any]:
        return min(results[(scenario, kind)], key=lambda r: r[key])

    print(f"{args.pods} realistic pods, {args.events} MODIFIED events; best of {args.rounds} processes each")
    print()
    print("| scenario | client | seconds | client CPU s | per pod | checksum |")
    print("|---|---|---:|---:|---|---|")
    for kind in KINDS:
        r = best("cache", kind)
        print(f"| list into a cache | {kind} | {r['seconds']:.3f} | {r['cpu']:.3f} | "
              f"heap {r['heap_per_pod'] / 1000:.1f} kB, RSS {r['rss_per_pod'] / 1000:.1f} kB | {r['check']} |")
    for kind in KINDS:
        r = best("events", kind)
        print(f"| apply {r['n']} watch events | {kind} | {r['seconds']:.3f} | {r['cpu']:.3f} | "
              f"{r['seconds'] / r['n'] * 1e6:.1f} us | {r['check']} |")
    for kind in ("k8spb", "k8spb-list", "lightkube"):
        r = best("keep-one", kind, "kept_mib")
        label = {"k8spb": "k8spb (Store.get)", "k8spb-list": "k8spb (Api.list)"}.get(kind, kind)
        print(f"| keep 1 pod of the list | {label} | | | {r['kept_mib']:.1f} MiB stay | {r['check']} |")
    r = best("controller", "k8spb")
    print(f"| no-op Controller over every pod | k8spb | {r['seconds']:.3f} | {r['cpu']:.3f} | "
          f"{r['reconciles'] / r['n'] * 1e6:.1f} us a reconcile after the store is ready | {r['check']} |")
    print()
    cache = {k: best("cache", k) for k in KINDS}
    events = {k: best("events", k) for k in KINDS}
    print(f"- cache fill: k8spb {cache['lightkube']['seconds'] / cache['k8spb']['seconds']:.1f}x faster, "
          f"{cache['lightkube']['heap_per_pod'] / cache['k8spb']['heap_per_pod']:.1f}x less heap per pod")
    print(f"- watch events into the cache: k8spb {events['lightkube']['seconds'] / events['k8spb']['seconds']:.1f}x "
          "faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
