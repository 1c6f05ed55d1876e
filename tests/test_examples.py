"""Every program under examples/ runs against k8spb.testing.ApiServer, as does the README quick start."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from k8spb import Api, Client, Config, Merge
from k8spb.api.core.v1 import ConfigMap, Namespace
from k8spb.api.events.v1 import Event as EventsV1
from k8spb.apimachinery.pkg.apis.meta.v1 import ObjectMeta
from k8spb.testing import ApiServer
from tests.conftest import ROOT

SERVICES = {"mirror_operator.py"}  # run until stopped: driven by their own tests below
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if p.name not in SERVICES)


@pytest.fixture(scope="module")
def kubeconfig() -> Iterator[str]:
    with ApiServer() as srv:
        yield srv.kubeconfig_path


def _run(args: list[str], kubeconfig: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": kubeconfig, "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path: Path, kubeconfig: str) -> None:
    proc = _run([str(path)], kubeconfig)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip()


def test_no_example_shadows_a_standard_module() -> None:
    # ``python examples/x.py`` puts examples/ first on sys.path: an examples/operator.py would be what
    # ``import operator`` finds (datetime, collections ... import it) in a fresh virtualenv
    clashes = [p.name for p in (ROOT / "examples").glob("*.py") if p.stem in sys.stdlib_module_names]
    assert not clashes


def test_readme_quick_start_is_the_example() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\n+```python\n(.*?)```", readme, re.S)
    assert block is not None, "README has no quick start block"
    example = (ROOT / "examples" / "quickstart.py").read_text()
    assert block.group(1).strip() in example


def test_cli_get(kubeconfig: str) -> None:
    _run(["-m", "k8spb", "get", "pods"], kubeconfig)
    proc = _run(["-m", "k8spb", "get", "namespaces", "-o", "name"], kubeconfig)
    assert proc.returncode == 0, proc.stderr
    assert "namespace/default" in proc.stdout
    proc = _run(["-m", "k8spb", "get", "ns", "default", "-o", "yaml"], kubeconfig)
    assert proc.returncode == 0 and "name: default" in proc.stdout
    proc = _run(["-m", "k8spb", "get", "pods", "-A"], kubeconfig)
    assert proc.returncode == 0
    proc = _run(["-m", "k8spb", "get", "nosuchthing"], kubeconfig)
    assert proc.returncode == 1 and "error:" in proc.stderr


# ---------------------------------------------------------------------------------------------------------
# examples/mirror_operator.py: run as a process against the server, driven through its whole life, with faults


def _load_operator() -> Any:
    spec = importlib.util.spec_from_file_location("example_operator", ROOT / "examples" / "mirror_operator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not reached within {timeout} s (last: {value!r})"
        time.sleep(0.05)


def test_operator_example() -> None:
    op = _load_operator()
    with ApiServer() as srv, Client(Config.from_kubeconfig(srv.kubeconfig_path)) as client:
        env = {**os.environ, "KUBECONFIG": srv.kubeconfig_path,
               "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}
        proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "mirror_operator.py")], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "operator: running"
            for ns in ("team-a", "team-b"):
                Api(client, Namespace).create(Namespace(metadata=ObjectMeta(name=ns)))
            sources = Api(client, ConfigMap, namespace="default")
            sources.create(ConfigMap(metadata=ObjectMeta(name="settings"), data={"color": "blue"}))
            mirrors = Api(client, op.ConfigMirror)
            mirrors.create(op.ConfigMirror(metadata=ObjectMeta(name="m1"), spec=op.ConfigMirrorSpec(
                source_namespace="default", source_name="settings", targets=["team-a", "team-b"])))

            def copy(ns: str) -> dict[str, str] | None:
                found = Api(client, ConfigMap, namespace=ns).get_opt("settings")
                return found.data if found is not None else None

            _until(lambda: copy("team-a") == copy("team-b") == {"color": "blue"}, "both copies")
            mirror = _until(lambda: (m := mirrors.get("m1")).status and m.status.copies == 2 and m, "status")
            assert mirror.condition_is_true("Ready") and mirror.metadata.finalizers == [op.FINALIZER]
            assert mirror.find_condition("Ready").reason == "Synced"
            events = Api(client, EventsV1, namespace="default").list()
            assert any(e.reason == "Synced" and e.regarding and e.regarding.name == "m1" for e in events)

            sources.patch("settings", Merge({"data": {"color": "green"}}))  # the source changes: copies follow
            _until(lambda: copy("team-a") == copy("team-b") == {"color": "green"}, "updated copies")
            Api(client, ConfigMap, namespace="team-b").delete("settings")  # an owned copy goes: it comes back
            _until(lambda: copy("team-b") == {"color": "green"}, "the copy restored")

            # the watches break and their resourceVersion expires: the operator lists again and carries on
            srv.latency(0.5, verb="watch")
            srv.drop_watches()
            sources.patch("settings", Merge({"data": {"color": "red"}}))
            srv.compact()
            srv.latency(0, verb="watch")
            _until(lambda: copy("team-a") == copy("team-b") == {"color": "red"}, "copies after 410")

            mirrors.patch("m1", Merge({"spec": {"targets": ["team-a"]}}))  # a target dropped: its copy goes
            _until(lambda: copy("team-b") is None, "the stale copy deleted")
            mirrors.create(op.ConfigMirror(metadata=ObjectMeta(name="m2"), spec=op.ConfigMirrorSpec(
                source_namespace="default", source_name="missing", targets=["team-a"])))
            broken = _until(lambda: (m := mirrors.get("m2")).status and m.status.conditions and m, "m2 status")
            assert broken.find_condition("Ready").reason == "SourceMissing" and not broken.condition_is_true("Ready")

            mirrors.delete("m1")  # the finalizer deletes the copies, then the mirror goes
            _until(lambda: mirrors.get_opt("m1") is None, "m1 gone")
            assert copy("team-a") is None
        finally:
            proc.send_signal(signal.SIGTERM)  # graceful: the controller stops and the process exits
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err[-3000:]
        assert out.strip().endswith("operator: stopped")
        assert "listing again" in err  # the 410 was met, and survived
