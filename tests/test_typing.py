"""A user's type checker sees k8spb as installed by the README's editable install.

The programs live outside the source tree and the checkers get no path of ours: they must find k8spb
through the installation (a plain path entry: src layout) and its ``py.typed``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = '''\
from k8spb import Api, AsyncApi, AsyncClient, Client, ListResource, WatchEvent
from k8spb.api.apps.v1 import Deployment
from k8spb.api.autoscaling.v1 import Scale
from k8spb.api.core.v1 import Pod
from k8spb.apimachinery.pkg.apis.meta.v1 import PartialObjectMetadata, Status


def names(client: Client) -> list[str]:
    pods = Api(client, Pod, namespace="default")
    page: ListResource[Pod] = pods.list(limit=10)
    out = [p.metadata.name or "" for p in page if p.metadata is not None]
    out.append(page.resource_version or "")
    gone = pods.delete("web")
    if isinstance(gone, Status):
        out.append(gone.status or "")
    elif gone.metadata is not None:
        out.append(gone.metadata.name or "")
    meta: PartialObjectMetadata = pods.get_metadata("web")
    scale: Scale = Api(client, Deployment, namespace="default").get_scale("app")
    return out + [str(meta.metadata), str(scale.spec)]


async def watch(client: AsyncClient) -> list[str]:
    deployments = AsyncApi(client, Deployment)
    seen: list[str] = []
    async for event in deployments.watch_metadata():
        e: WatchEvent[PartialObjectMetadata] = event
        seen.append(e.type)
    return seen
'''

BAD = '''\
from k8spb import Api, Client
from k8spb.api.core.v1 import Pod


def names(client: Client) -> list[str]:
    pods = Api(client, Pod, namespace="default")
    return [p.metadata.nmae for p in pods.list() if p.metadata is not None]


def phase(client: Client) -> int:
    pod = Api(client, Pod).get("web")
    return pod.status.phase if pod.status else 0


def build() -> Pod:
    return Pod(metdata=None)
'''


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("user-program")
    (where / "good.py").write_text(GOOD)
    (where / "bad.py").write_text(BAD)
    return where


def _check(cmd: list[str], where: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    return subprocess.run(cmd, cwd=where, env=env, capture_output=True, text=True, check=False, timeout=600)


def test_mypy_strict_sees_the_installed_package(programs: Path) -> None:
    proc = _check([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "good.py"], programs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _check([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "bad.py"], programs)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'bad.py:7: error: "ObjectMeta" has no attribute "nmae"' in proc.stdout
    assert "bad.py:12: error: Incompatible return value type" in proc.stdout
    assert 'bad.py:16: error: Unexpected keyword argument "metdata" for "Pod"' in proc.stdout
    assert "Cannot find implementation or library stub" not in proc.stdout


def test_pyright_sees_the_installed_package(programs: Path) -> None:
    pyright = shutil.which("pyright") or pytest.fail("pyright is not installed (the dev extra installs it)")
    proc = _check([pyright, "--pythonpath", sys.executable, "good.py"], programs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _check([pyright, "--pythonpath", sys.executable, "bad.py"], programs)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'bad.py:7:24 - error: Cannot access attribute "nmae" for class "ObjectMeta"' in proc.stdout
    assert "bad.py:12:12 - error" in proc.stdout
    assert 'bad.py:16:16 - error: No parameter named "metdata"' in proc.stdout
    assert "reportMissingImports" not in proc.stdout
