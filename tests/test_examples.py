"""Every program under examples/ runs against k8spb.testing.ApiServer, as does the README quick start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from k8spb.testing import ApiServer
from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


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
