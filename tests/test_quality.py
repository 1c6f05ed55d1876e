"""Project-wide checks that run with the test suite: generated code fresh, mypy --strict, ruff."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, SHARED


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)


@pytest.mark.skipif(not (SHARED / "kubernetes" / "protos").is_dir(), reason="upstream protos not available")
def test_generated_code_is_fresh() -> None:
    proc = _run(sys.executable, "build.py", "--check")
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_mypy_strict_on_the_package() -> None:
    proc = _run(sys.executable, "-m", "mypy")  # files = src/k8spb (pyproject.toml)
    assert proc.returncode == 0, proc.stdout[-5000:]


def test_ruff() -> None:
    proc = _run(sys.executable, "-m", "ruff", "check", ".")
    assert proc.returncode == 0, proc.stdout[-5000:]
