"""A container played by a test: a directory for its file system, and the few commands exec tests run.

``tar`` is real tar semantics (Python's tarfile) over the directory, as GNU tar prints and unpacks
archives (leading ``/`` dropped from member names), so that ``kubectl cp`` and ``Api.cp_*`` meet the
same bytes a real container sends.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from pathlib import Path
from typing import Any

from k8spb import Api, Client, Config, Merge
from k8spb.api.core.v1 import Pod
from k8spb.testing import ApiServer

POD = "web"


class FakeContainer:
    """``handler(session)`` for ``ApiServer.on_exec``; container paths live under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[list[str]] = []

    def path(self, container_path: str) -> Path:
        clean = posixpath.normpath("/" + container_path).lstrip("/")
        return self.root / clean

    def __call__(self, s: Any) -> int:
        argv: list[str] = list(s.command)
        self.calls.append(argv)
        name = argv[0] if argv else "cat"  # attach: the main process echoes its stdin
        if name == "echo":
            s.stdout.write((" ".join(argv[1:]) + "\n").encode())
            return 0
        if name == "cat":
            while data := s.stdin.read(1 << 16):
                s.stdout.write(data)
            return 0
        if name == "test" and argv[1:2] == ["-d"]:
            return 0 if self.path(argv[2]).is_dir() else 1
        if name == "tar":
            return self.tar(s, argv[1:])
        if name == "sh" and argv[1:2] == ["-c"] and argv[2].startswith("exit "):
            return int(argv[2].split()[1])
        if s.stderr is not None:
            s.stderr.write(f"sh: {name}: not found\n".encode())
        return 127

    def tar(self, s: Any, args: list[str]) -> int:
        mode, rest = args[0].lstrip("-"), args[1:]
        if rest[:1] == ["-"]:
            rest = rest[1:]
        directory = "/"
        if rest[:1] == ["-C"]:
            directory, rest = rest[1], rest[2:]
        if "x" in mode:
            with tarfile.open(fileobj=s.stdin, mode="r|") as tar:
                tar.extractall(self.path(directory), filter="data")
            return 0
        stream = _Sink(s.stdout)
        with tarfile.open(fileobj=stream, mode="w|") as tar:
            for member in rest:
                source = self.path(posixpath.join(directory, member))
                if not source.exists():
                    s.stderr.write(f"tar: {member}: Cannot stat: No such file or directory\n".encode())
                    return 2
                tar.add(source, arcname=posixpath.normpath(member).lstrip("/"))
        return 0


class _Sink:
    def __init__(self, out: Any) -> None:
        self.out = out

    def write(self, data: bytes) -> int:
        return int(self.out.write(data))


def make_pods(srv: ApiServer) -> None:
    """Pods the stream tests use: ``web`` (one container, running), ``multi`` (two), ``pending`` (not
    scheduled), ``stopped`` (its container terminated)."""
    with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
        pods = Api(client, Pod, "default")
        spec = {"nodeName": "node-1", "containers": [{"name": "app", "image": "busybox"}]}
        pods.create(Pod.from_dict({"metadata": {"name": POD}, "spec": spec}))
        pods.patch_status(POD, Merge({"status": {"phase": "Running"}}))
        pods.create(Pod.from_dict({"metadata": {"name": "multi"}, "spec": {
            "nodeName": "node-1", "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]}}))
        pods.create(Pod.from_dict({"metadata": {"name": "pending"},
                                   "spec": {"containers": [{"name": "app", "image": "busybox"}]}}))
        pods.create(Pod.from_dict({"metadata": {"name": "stopped"}, "spec": spec}))
        pods.patch_status("stopped", Merge({"status": {"phase": "Running", "containerStatuses": [
            {"name": "app", "ready": False, "restartCount": 0, "image": "busybox", "imageID": "",
             "state": {"terminated": {"exitCode": 0}}}]}}))


def fs_tree(root: Path) -> dict[str, bytes | None]:
    """Relative path -> content (None for directories)."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = Path(p).read_bytes()
    return out
