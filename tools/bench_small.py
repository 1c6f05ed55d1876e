#!/usr/bin/env python3
"""Small requests and import time, k8spb next to the other Python clients, against k8spb.testing.

    python3 tools/bench_small.py [--gets 2000] [--concurrent 500] [--rounds 3]

Reports, in one run (the API server in its own process, over plain HTTP on loopback):
* ``sequential``: ``--gets`` GETs of one small ConfigMap, one after another, by k8spb (protobuf),
  lightkube and the official ``kubernetes`` client (``_preload_content=False`` + ``json.loads``, its
  fastest documented path);
* ``concurrent``: ``--concurrent`` GETs of that ConfigMap at once (``asyncio.gather``) by k8spb's
  AsyncClient, lightkube's AsyncClient and ``kubernetes_asyncio``; the first gather (connections
  being opened) and the best of the later ones;
* ``import``: ``import k8spb`` + the Pod model, next to ``import lightkube`` + its Pod, in fresh
  interpreters (page cache warm), less a bare interpreter's start.
Every client runs in its own process, one process per client per round, the clients interleaved
round by round; each reads ``data`` from every answer and sums its values' lengths (the checksum must
agree). Seconds are the best over the rounds; the median of the rounds is shown too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
NAME, NAMESPACE = "small", "default"
DATA = {"key": "value", "other": "x" * 100}

SYNC = ("k8spb", "lightkube", "kubernetes")
ASYNC = ("k8spb-async", "lightkube-async", "kubernetes_asyncio")


# python -m k8spb.testing with a listen backlog of 1024 (socketserver's default of 5 makes 500 simultaneous
# connects wait for SYN retransmits, seconds each, whichever client makes them)
SERVER = ("from k8spb.testing import _server; _server._HTTPServer.request_queue_size = 1024; "
          "from k8spb.testing.__main__ import main; main([])")


def _check(data: dict[str, str] | None) -> int:
    return sum(len(v) for v in (data or {}).values())


def sync_gets(kind: str, kubeconfig: str, n: int) -> tuple[list[float], int]:
    """Seconds of two timed runs of ``n`` sequential GETs (after a warm-up GET), and the checksum."""
    if kind == "k8spb":
        from k8spb import Api, Client, Config
        from k8spb.api.core.v1 import ConfigMap

        client = Client(Config.from_kubeconfig(kubeconfig))
        api = Api(client, ConfigMap, namespace=NAMESPACE)

        def get() -> int:
            return _check(api.get(NAME).data)
    elif kind == "lightkube":
        from lightkube import Client as LClient
        from lightkube import KubeConfig
        from lightkube.resources.core_v1 import ConfigMap as LConfigMap

        lclient = LClient(KubeConfig.from_file(kubeconfig))

        def get() -> int:
            return _check(lclient.get(LConfigMap, NAME, namespace=NAMESPACE).data)
    elif kind == "kubernetes":
        from kubernetes import client as kclient
        from kubernetes import config as kconfig

        kconfig.load_kube_config(kubeconfig)
        core = kclient.CoreV1Api()

        def get() -> int:
            resp = core.read_namespaced_config_map(NAME, NAMESPACE, _preload_content=False)
            return _check(json.loads(resp.data)["data"])
    else:
        raise ValueError(kind)
    total = get()
    times = []
    for _ in range(2):
        start = time.perf_counter()
        total = 0
        for _ in range(n):
            total += get()
        times.append(time.perf_counter() - start)
    return times, total


async def async_gets(kind: str, kubeconfig: str, n: int) -> tuple[list[float], int]:
    """Seconds of three gathers of ``n`` concurrent GETs (the first opens the connections), and the checksum."""
    closers: list[Any] = []
    if kind == "k8spb-async":
        from k8spb import AsyncApi, AsyncClient, Config
        from k8spb.api.core.v1 import ConfigMap

        client = AsyncClient(Config.from_kubeconfig(kubeconfig))
        closers.append(client.aclose)
        api = AsyncApi(client, ConfigMap, namespace=NAMESPACE)

        async def get() -> int:
            return _check((await api.get(NAME)).data)
    elif kind == "lightkube-async":
        from lightkube import AsyncClient as LAsyncClient
        from lightkube import KubeConfig
        from lightkube.resources.core_v1 import ConfigMap as LConfigMap

        lclient = LAsyncClient(KubeConfig.from_file(kubeconfig))
        closers.append(lclient.close)

        async def get() -> int:
            return _check((await lclient.get(LConfigMap, NAME, namespace=NAMESPACE)).data)
    elif kind == "kubernetes_asyncio":
        from kubernetes_asyncio import client as kclient
        from kubernetes_asyncio import config as kconfig

        await kconfig.load_kube_config(kubeconfig)
        api_client = kclient.ApiClient()
        closers.append(api_client.close)
        core = kclient.CoreV1Api(api_client)

        async def get() -> int:
            resp = await core.read_namespaced_config_map(NAME, NAMESPACE, _preload_content=False)
            return _check(json.loads(await resp.read())["data"])
    else:
        raise ValueError(kind)
    times, total = [], 0
    for _ in range(3):
        start = time.perf_counter()
        total = sum(await asyncio.gather(*(get() for _ in range(n))))
        times.append(time.perf_counter() - start)
    for close in closers:
        await close()
    return times, total


IMPORTS = {
    "k8spb": "import k8spb; from k8spb.api.core.v1 import Pod",
    "lightkube": "import lightkube; from lightkube.resources.core_v1 import Pod",
    "python": "pass",
}


def import_time(kind: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS[kind]], check=True, env=ENV)
    return time.perf_counter() - start


def child(args: argparse.Namespace) -> None:
    if args.kind in SYNC:
        times, check = sync_gets(args.kind, args.kubeconfig, args.gets)
    else:
        times, check = asyncio.run(async_gets(args.kind, args.kubeconfig, args.concurrent))
    print(json.dumps({"times": times, "check": check}))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--concurrent", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=("sequential", "concurrent", "import"), action="append")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--kind")
    parser.add_argument("--kubeconfig")
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    parts = args.only or ["sequential", "concurrent", "import"]
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert server.stdout is not None
        kubeconfig = server.stdout.readline().strip()
        from k8spb import Api, Client, Config
        from k8spb.api.core.v1 import ConfigMap
        from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta

        with Client(Config.from_kubeconfig(kubeconfig)) as c:
            Api(c, ConfigMap, namespace=NAMESPACE).create(ConfigMap(metadata=ObjectMeta(name=NAME), data=DATA))
        results: dict[str, list[dict[str, Any]]] = {}
        kinds = [*(SYNC if "sequential" in parts else ()), *(ASYNC if "concurrent" in parts else ())]
        for _ in range(args.rounds):
            for kind in kinds:
                proc = subprocess.run([sys.executable, __file__, "--child", "--kind", kind, "--kubeconfig", kubeconfig,
                                       "--gets", str(args.gets), "--concurrent", str(args.concurrent)],
                                      capture_output=True, text=True, env=ENV, timeout=600, check=False)
                if proc.returncode != 0:
                    print(f"{kind} failed:\n{proc.stderr[-300:]}", file=sys.stderr)
                    continue
                results.setdefault(kind, []).append(json.loads(proc.stdout.strip().splitlines()[-1]))
        imports: dict[str, list[float]] = {}
        if "import" in parts:
            for kind in IMPORTS:
                import_time(kind)  # warm the page cache
            for _ in range(5 * args.rounds):
                for kind in IMPORTS:
                    imports.setdefault(kind, []).append(import_time(kind))
    finally:
        server.terminate()
        server.wait(10)

    print("server: k8spb.testing in its own process, plain HTTP on loopback (a shared 2-core machine)")
    print()
    print("| scenario | client | best s | median s | notes |")
    print("|---|---|---:|---:|---|")
    best: dict[str, float] = {}
    for kind, runs in results.items():
        checks = {r["check"] for r in runs}
        if kind in SYNC:
            per_round = [min(r["times"]) for r in runs]
            title, note = f"{args.gets} sequential GETs", ""
        else:
            per_round = [min(r["times"][1:]) for r in runs]
            firsts = [r["times"][0] for r in runs]
            title, note = f"{args.concurrent} concurrent GETs", f"first gather {min(firsts):.3f} s; "
        best[kind] = min(per_round)
        print(f"| {title} | {kind} | {best[kind]:.3f} | {statistics.median(per_round):.3f} | "
              f"{note}checksum {sorted(checks)} |")
    bare = min(imports.get("python", [0.0]))
    for kind in ("k8spb", "lightkube"):
        if kind in imports:
            best[f"import {kind}"] = min(imports[kind]) - bare
            print(f"| import + Pod | {kind} | {best[f'import {kind}']:.3f} | "
                  f"{statistics.median(imports[kind]) - bare:.3f} | less a bare interpreter ({bare:.3f} s) |")
    print()
    if "k8spb" in best:
        other = min(("lightkube", "kubernetes"), key=lambda k: best[k])
        print(f"- sequential GETs: k8spb is {best[other] / best['k8spb']:.2f}x the fastest other client ({other})")
    if "k8spb-async" in best:
        other = min(("lightkube-async", "kubernetes_asyncio"), key=lambda k: best[k])
        print(f"- concurrent GETs: k8spb is {best[other] / best['k8spb-async']:.2f}x the fastest other "
              f"async client ({other})")
    if "import k8spb" in best:
        print(f"- import + Pod: k8spb takes {best['import k8spb'] / best['import lightkube']:.2f}x lightkube's time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
