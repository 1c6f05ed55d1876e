#!/usr/bin/env python3
"""Small requests and import time, k8spb next to the other Python clients, against k8spb.testing.

    python3 tools/bench_small.py [--gets 2000] [--concurrent 500] [--rounds 3]

Reports, in one run (the API server in its own process, over plain HTTP on loopback):
* ``sequential``: ``--gets`` GETs of one small ConfigMap, one after another, by k8spb (protobuf, and
  JSON), lightkube and the official ``kubernetes`` client (``_preload_content=False`` + ``json.loads``,
  its fastest documented path), with each client process's CPU time (its own cost; the wall time also
  waits for the server, whose protobuf answers take longer than its JSON ones);
* ``concurrent``: ``--concurrent`` GETs of that ConfigMap at once (``asyncio.gather``) by k8spb's
  AsyncClient, lightkube's AsyncClient and ``kubernetes_asyncio``; the first gather (connections
  being opened) and the best of the later ones;
* ``floor`` / ``floor-async``: raw sockets sending the same protobuf GET and reading its answer by
  Content-Length, without decoding: what the server allows, so that a ratio can be read against it;
* ``import``: ``import k8spb`` + the Pod model, next to ``import lightkube`` + its Pod, in fresh
  interpreters (page cache warm, bytecode cached as for an installed package), less a bare interpreter's
  start.
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

SYNC = ("k8spb", "k8spb-json", "lightkube", "kubernetes", "floor")
ASYNC = ("k8spb-async", "lightkube-async", "kubernetes_asyncio", "floor-async")
OTHERS, AOTHERS = ("lightkube", "kubernetes"), ("lightkube-async", "kubernetes_asyncio")


def _raw_request(kubeconfig: str) -> tuple[str, int, bytes]:
    """Host, port and the bytes of a protobuf GET of the ConfigMap, for the raw-socket floor."""
    import yaml

    with open(kubeconfig) as fh:
        cfg = yaml.safe_load(fh)
    url, token = cfg["clusters"][0]["cluster"]["server"], cfg["users"][0]["user"]["token"]
    host, port = url.split("//")[1].rsplit(":", 1)
    head = (f"GET /api/v1/namespaces/{NAMESPACE}/configmaps/{NAME} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Accept: application/vnd.kubernetes.protobuf, application/json\r\nAuthorization: Bearer {token}\r\n\r\n")
    return host, int(port), head.encode()


def _body_length(head: bytes) -> int:
    return int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])


# python -m k8spb.testing with a listen backlog of 1024 (socketserver's default of 5 makes 500 simultaneous
# connects wait for SYN retransmits, seconds each, whichever client makes them)
SERVER = ("from k8spb.testing import _server; _server._HTTPServer.request_queue_size = 1024; "
          "from k8spb.testing.__main__ import main; main([])")


def _check(data: dict[str, str] | None) -> int:
    return sum(len(v) for v in (data or {}).values())


def sync_gets(kind: str, kubeconfig: str, n: int) -> tuple[list[float], list[float], int]:
    """Seconds and CPU seconds of two timed runs of ``n`` sequential GETs (after a warm-up), and the checksum."""
    if kind in ("k8spb", "k8spb-json"):
        from k8spb import Api, Client, Config
        from k8spb.api.core.v1 import ConfigMap

        client = Client(Config.from_kubeconfig(kubeconfig), prefer_protobuf=kind == "k8spb")
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
    elif kind == "floor":  # a raw socket, no parsing beyond Content-Length: what the server allows
        import socket

        host, port, request = _raw_request(kubeconfig)
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        held = [b""]

        def get() -> int:
            buf = held[0]
            sock.sendall(request)
            while b"\r\n\r\n" not in buf:
                buf += sock.recv(65536)
            head, _, buf = buf.partition(b"\r\n\r\n")
            n = _body_length(head)
            while len(buf) < n:
                buf += sock.recv(65536)
            held[0] = buf[n:]
            return len(DATA["key"]) + len(DATA["other"])  # the same checksum, without decoding
    else:
        raise ValueError(kind)
    total = get()
    times, cpus = [], []
    for _ in range(2):
        start, cpu = time.perf_counter(), time.process_time()
        total = 0
        for _ in range(n):
            total += get()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return times, cpus, total


async def async_gets(kind: str, kubeconfig: str, n: int) -> tuple[list[float], list[float], int]:
    """Seconds and CPU seconds of three gathers of ``n`` concurrent GETs (the first opens the connections),
    and the checksum."""
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
    elif kind == "floor-async":  # raw sockets, 100 connections, no parsing beyond Content-Length
        host, port, request = _raw_request(kubeconfig)
        idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        slots = asyncio.Semaphore(100)

        async def get() -> int:
            async with slots:
                reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(_body_length(head))
                idle.append((reader, writer))
            return len(DATA["key"]) + len(DATA["other"])

        async def close_all() -> None:
            for _, writer in idle:
                writer.close()

        closers.append(close_all)
    else:
        raise ValueError(kind)
    times, cpus, total = [], [], 0
    for _ in range(3):
        start, cpu = time.perf_counter(), time.process_time()
        total = sum(await asyncio.gather(*(get() for _ in range(n))))
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    for close in closers:
        await close()
    return times, cpus, total


IMPORTS = {
    "k8spb": "import k8spb; from k8spb.api.core.v1 import Pod",
    "lightkube": "import lightkube; from lightkube.resources.core_v1 import Pod",
    "python": "pass",
}


# as an installed package imports: bytecode cached (the warm-up run writes it, whatever the environment says)
IMPORT_ENV = {k: v for k, v in ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}


def import_time(kind: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS[kind]], check=True, env=IMPORT_ENV)
    return time.perf_counter() - start


def child(args: argparse.Namespace) -> None:
    if args.kind in SYNC:
        times, cpus, check = sync_gets(args.kind, args.kubeconfig, args.gets)
    else:
        times, cpus, check = asyncio.run(async_gets(args.kind, args.kubeconfig, args.concurrent))
    print(json.dumps({"times": times, "cpus": cpus, "check": check}))


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
        first = 0 if kind in SYNC else 1  # a gather after the first: connections open
        timed = [(t, c) for r in runs for t, c in zip(r["times"][first:], r["cpus"][first:], strict=True)]
        per_round = [min(r["times"][first:]) for r in runs]
        note = f"client CPU {min(timed)[1]:.3f} s in the best run; "
        if kind in SYNC:
            title = f"{args.gets} sequential GETs"
        else:
            title = f"{args.concurrent} concurrent GETs"
            note += f"first gather {min(r['times'][0] for r in runs):.3f} s; "
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
        other = min(OTHERS, key=lambda k: best[k])
        print(f"- sequential GETs: k8spb (JSON) is {best[other] / best['k8spb-json']:.2f}x the fastest other client "
              f"({other})")
        print(f"- sequential GETs: k8spb (protobuf) is {best[other] / best['k8spb']:.2f}x the fastest other client "
              f"({other})")
    if "k8spb-async" in best:
        other = min(AOTHERS, key=lambda k: best[k])
        print(f"- concurrent GETs: k8spb is {best[other] / best['k8spb-async']:.2f}x the fastest other "
              f"async client ({other}); the raw-socket floor is {best[other] / best['floor-async']:.2f}x it")
    if "import k8spb" in best:
        print(f"- import + Pod: k8spb takes {best['import k8spb'] / best['import lightkube']:.2f}x lightkube's time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
