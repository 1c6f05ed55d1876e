"""Shared test fixtures: where the upstream inputs live (never committed to this repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests._hostile import hostile  # noqa: F401  (a fixture: a scripted HTTP server for client tests)

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("K8SPB_SHARED", ROOT.parent / "shared"))
TESTDATA = SHARED / "kubernetes" / "testdata"
UPSTREAM = SHARED / "kubernetes"

FIXTURES_MISSING = (f"Kubernetes' serialization fixtures are not at {TESTDATA}: set K8SPB_SHARED to the directory "
                    "holding kubernetes/testdata (CI has them)")
needs_fixtures = pytest.mark.skipif(not (TESTDATA / "HEAD").is_dir(), reason=FIXTURES_MISSING)
"""For tests that read Kubernetes' fixtures: skipped, with one reason, on a machine without them."""


def fixture_kinds(version: str) -> list[str]:
    """Every ``<group>.<version>.<kind>[.after_roundtrip]`` stem with a .pb file in a fixture set."""
    base = TESTDATA / version
    if not base.is_dir():
        return []
    return sorted(p.name[: -len(".pb")] for p in base.glob("*.pb"))


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not (TESTDATA / "HEAD").is_dir():
        pytest.skip(FIXTURES_MISSING)
    return TESTDATA
