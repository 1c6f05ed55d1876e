"""Project-wide checks that run with the test suite: mypy --strict and ruff (build.py: tests/test_build.py)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)


def test_mypy_strict_on_the_package() -> None:
    proc = _run(sys.executable, "-m", "mypy")  # files = src/k8spb (pyproject.toml)
    assert proc.returncode == 0, proc.stdout[-5000:]


def test_ruff() -> None:
    proc = _run(sys.executable, "-m", "ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout[-5000:]
