"""Exec credential plugins for tests: small Python scripts run with the test's interpreter."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"

# Preamble of every plugin: counts its runs in runs.txt next to it and saves its environment and
# arguments to last_run.json, so tests can see what the client passed.
_PREAMBLE = """\
import json, os, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "runs.txt"), "a") as f:
    f.write("run\\n")
with open(os.path.join(HERE, "last_run.json"), "w") as f:
    json.dump({"argv": sys.argv[1:], "env": dict(os.environ)}, f)
RUN = sum(1 for _ in open(os.path.join(HERE, "runs.txt")))
def emit(status, api_version=%(api_version)r, kind="ExecCredential"):
    print(json.dumps({"apiVersion": api_version, "kind": kind, "status": status}))
"""


def write_plugin(directory: Path, body: str, *, api_version: str = V1, name: str = "plugin.py") -> Path:
    """Write an executable plugin script whose ``body`` runs after the preamble."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    source = f"#!{sys.executable}\n" + _PREAMBLE % {"api_version": api_version} + textwrap.dedent(body)
    path.write_text(source)
    os.chmod(path, 0o755)
    return path


def runs(directory: Path) -> int:
    path = directory / "runs.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def last_run(directory: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((directory / "last_run.json").read_text())
    return result
