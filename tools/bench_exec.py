"""Exec throughput: read N MiB of a command's stdout, and send N MiB to its stdin.

The API server (k8spb.testing, its "container" played by a handler) runs in its own process; clients
take turns in rounds: k8spb (sync and async), the official ``kubernetes`` client (``stream`` with
``_preload_content=False`` and ``binary=True``, reading with ``update``/``read_stdout``: its fastest
documented path) and ``kubectl exec``. Each result is checked by the SHA-256 of the bytes read (or
the one the handler computed of the bytes sent). Python clients are made once; kubectl is a process
per run (its start-up counts).

    python3 tools/bench_exec.py [--mib 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = bytes(range(256)) * 4096  # 1 MiB


def serve(mib: int) -> None:
    """The server process: prints its kubeconfig path, serves until stdin closes."""
    from k8spb import Api, Client, Config, Merge
    from k8spb.api.core.v1 import Pod
    from k8spb.testing import ApiServer

    def handler(s: object) -> int:
        command = s.command  # type: ignore[attr-defined]
        if command[0] == "emit":
            for _ in range(mib):
                s.stdout.write(BLOCK)  # type: ignore[attr-defined]
            return 0
        digest = hashlib.sha256()
        while data := s.stdin.read(1 << 20):  # type: ignore[attr-defined]
            digest.update(data)
        s.stdout.write(digest.hexdigest().encode())  # type: ignore[attr-defined]
        return 0

    with ApiServer() as srv, Client(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
        pods = Api(client, Pod, "default")
        pods.create(Pod.from_dict({"metadata": {"name": "bench"},
                                   "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "x"}]}}))
        pods.patch_status("bench", Merge({"status": {"phase": "Running"}}))
        srv.on_exec("default", "bench", handler)
        print(srv.kubeconfig_path, flush=True)
        sys.stdin.read()


class Clients:
    """One client of each kind, made once: the rounds time streaming, not TLS set-up."""

    def __init__(self, kubeconfig: str) -> None:
        from kubernetes import client, config

        from k8spb import Api, AsyncApi, AsyncClient, Client, Config
        from k8spb.api.core.v1 import Pod

        self.kubeconfig = kubeconfig
        self.pods = Api(Client(Config.from_kubeconfig(kubeconfig)), Pod, "default")
        self.loop = asyncio.new_event_loop()
        self.apods = self.loop.run_until_complete(self._async_api(AsyncClient, AsyncApi, Config, Pod))
        self.official = client.CoreV1Api(config.new_client_from_config(kubeconfig))

    async def _async_api(self, client: type, api: type, config: type, pod: type) -> object:
        return api(client(config.from_kubeconfig(self.kubeconfig)), pod, "default")

    def k8spb_read(self) -> str:
        proc = self.pods.exec("bench", ["emit"], stderr=False)
        digest = hashlib.sha256()
        assert proc.stdout is not None
        while data := proc.stdout.read1(1 << 20):
            digest.update(data)
        assert proc.wait() == 0
        return digest.hexdigest()

    def k8spb_async_read(self) -> str:
        async def main() -> str:
            proc = await self.apods.exec("bench", ["emit"], stderr=False)  # type: ignore[attr-defined]
            digest = hashlib.sha256()
            while data := await proc.stdout.read1(1 << 20):
                digest.update(data)
            assert await proc.wait() == 0
            return digest.hexdigest()

        return self.loop.run_until_complete(main())

    def official_read(self) -> str:
        from kubernetes.stream import stream

        resp = stream(self.official.connect_get_namespaced_pod_exec, "bench", "default", command=["emit"],
                      stdout=True, stderr=False, stdin=False, tty=False, _preload_content=False, binary=True)
        digest = hashlib.sha256()
        while resp.is_open():
            resp.update(timeout=1)
            if resp.peek_stdout():
                digest.update(resp.read_stdout())
        if resp.peek_stdout():
            digest.update(resp.read_stdout())
        assert resp.returncode == 0
        return digest.hexdigest()

    def kubectl_read(self) -> str:
        done = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "exec", "bench", "--", "emit"],
                              capture_output=True, check=True)
        return hashlib.sha256(done.stdout).hexdigest()

    def k8spb_write(self, payload: bytes) -> str:
        out, _ = self.pods.exec("bench", ["sha"], stdin=True).communicate(payload)
        return out.decode()

    def official_write(self, payload: bytes) -> str:
        from kubernetes.stream import stream

        resp = stream(self.official.connect_get_namespaced_pod_exec, "bench", "default", command=["sha"],
                      stdout=True, stderr=False, stdin=True, tty=False, _preload_content=False, binary=True)
        for i in range(0, len(payload), 1 << 20):
            resp.write_stdin(payload[i:i + (1 << 20)])
        # v4.channel.k8s.io, which the official client speaks, cannot close stdin; it closes the connection,
        # so no digest comes back: the time is the time to send.
        resp.close()
        return ""

    def kubectl_write(self, payload: bytes) -> str:
        done = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "exec", "-i", "bench", "--", "sha"],
                              input=payload, capture_output=True, check=True)
        return done.stdout.decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.mib)
        return
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--mib", str(args.mib)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    assert server.stdout is not None
    kubeconfig = server.stdout.readline().strip()
    expected = hashlib.sha256(BLOCK * args.mib).hexdigest()
    payload = os.urandom(args.mib << 20)
    sent = hashlib.sha256(payload).hexdigest()
    c = Clients(kubeconfig)
    readers: dict[str, Callable[[], str]] = {
        "k8spb": c.k8spb_read, "k8spb async": c.k8spb_async_read, "kubernetes": c.official_read}
    writers: dict[str, Callable[[], str]] = {
        "k8spb": lambda: c.k8spb_write(payload), "kubernetes": lambda: c.official_write(payload)}
    if shutil.which("kubectl"):
        readers["kubectl (process)"] = c.kubectl_read
        writers["kubectl (process)"] = lambda: c.kubectl_write(payload)
    times: dict[str, list[float]] = {}
    try:
        for _ in range(args.rounds):
            for name, fn in readers.items():
                started = time.perf_counter()
                assert fn() == expected, name
                times.setdefault(f"stdout {name}", []).append(time.perf_counter() - started)
            for name, fn in writers.items():
                started = time.perf_counter()
                result = fn()
                assert result in (sent, ""), name
                times.setdefault(f"stdin  {name}", []).append(time.perf_counter() - started)
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(10)
    print(f"{args.mib} MiB, {args.rounds} interleaved rounds, median (best) MiB/s")
    for name, values in times.items():
        print(f"  {name:26} {args.mib / statistics.median(values):8.1f} ({args.mib / min(values):.1f})")


if __name__ == "__main__":
    main()
