"""build.py and the schema snapshot it builds from (protos/schema.json).

A fresh clone has no upstream Kubernetes tree: the committed snapshot must be enough to build the same
models, and it must hold facts only (names, numbers, types), never upstream prose.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import build
from tests.conftest import ROOT, UPSTREAM

SNAPSHOT = ROOT / "protos" / "schema.json"
UPSTREAM_MISSING = (f"the upstream Kubernetes tree is not at {UPSTREAM}: set K8SPB_SHARED to the directory "
                    "holding kubernetes/protos and kubernetes/swagger.json (CI has them)")
needs_upstream = pytest.mark.skipif(not (UPSTREAM / "protos").is_dir(), reason=UPSTREAM_MISSING)


def _run(*cmd: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, timeout=600, env=env)


def test_generated_code_is_fresh() -> None:
    proc = _run(sys.executable, "build.py", "--check")
    assert proc.returncode == 0, proc.stderr + proc.stdout


@needs_upstream
def test_snapshot_matches_the_upstream_tree() -> None:
    # What tools/refresh_schema.py writes from ../shared/kubernetes is what is committed (drift check).
    env = {**os.environ, "K8SPB_PROTOS": str(UPSTREAM / "protos"), "K8SPB_OPENAPI": str(UPSTREAM / "swagger.json")}
    proc = _run(sys.executable, "tools/refresh_schema.py", "--check", env=env)
    assert proc.returncode == 0, proc.stderr + proc.stdout


_FACT = re.compile(r"^(|[A-Za-z0-9_.$/\[\]-]+)$")  # names, types, paths, digests: never a space


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_snapshot_holds_facts_only() -> None:
    text = SNAPSHOT.read_text()
    assert len(text.encode()) < 2 * 1024 * 1024
    snap = json.loads(text)
    prose = [s for s in _strings(snap) if not _FACT.match(s)]
    assert not prose, f"not a name, type, path or digest: {prose[:5]}"
    assert snap["kubernetes"] == build.load_snapshot()["kubernetes"]


def test_snapshot_facts() -> None:
    snap = build.load_snapshot()
    pods = next(r for r in snap["resources"] if (r["group"], r["version"], r["plural"]) == ("", "v1", "pods"))
    assert pods["kind"] == "Pod" and pods["namespaced"] and pods["short_names"] == ["po"]
    assert pods["categories"] == ["all"] and "watch" in pods["verbs"]
    assert ["status", "Pod", ["get", "patch", "update"]] in pods["subresources"]
    core = next(f for f in snap["files"] if f["package"] == "k8s.io.api.core.v1")
    pod = next(m for m in core["messages"] if m["name"] == "Pod")
    assert pod["kinds"] == [["", "v1", "Pod"]]
    assert pod["fields"][0] == ["metadata", 1, "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", "metadata"]
    probe = next(m for m in core["messages"] if m["name"] == "Probe")
    assert ["handler", 1, "k8s.io.api.core.v1.ProbeHandler", None] in probe["fields"]  # embedded: flattened
    meta = next(f for f in snap["files"] if f["package"] == "k8s.io.apimachinery.pkg.apis.meta.v1")
    om = next(m for m in meta["messages"] if m["name"] == "ObjectMeta")
    assert ["labels", 11, "map[string]string", "labels"] in om["fields"]


def test_snapshot_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(build.BuildError, match="is missing"):
        build.load_snapshot(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(build.BuildError, match="not valid JSON"):
        build.load_snapshot(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text('{"format": 0}')
    with pytest.raises(build.BuildError, match="format 0"):
        build.load_snapshot(tmp_path / "old.json")


def test_comment_parser_takes_the_block_right_above() -> None:
    text = ("syntax = \"proto2\";\n// A thing.\n// +marker\nmessage Thing {\n  // The name.\n"
            "  optional string name = 1;\n\n  map<string, string> labels = 2;\n  // Kept apart.\n\n"
            "  repeated Other items = 3;\n}\n")
    got = build.parse_comments(text, "p")
    assert got == {("p.Thing",): " A thing.\n +marker", ("p.Thing", "name"): " The name."}
    assert build.one_line(got[("p.Thing",)]) == "A thing."


def _tracked_files() -> list[str]:
    proc = _run("git", "ls-files", "--cached", "--others", "--exclude-standard")
    if proc.returncode != 0:
        pytest.skip(f"not a git checkout: {proc.stderr.strip()}")
    return [f for f in proc.stdout.splitlines() if (ROOT / f).is_file()]


_DOCSTRING = re.compile(r'^\s*""".*"""$')


def _code(text: str) -> list[str]:
    return [line for line in text.splitlines() if not _DOCSTRING.match(line) and not line.startswith("# Generated")]


def test_a_fresh_clone_builds_from_the_snapshot_alone(tmp_path: Path) -> None:
    # The project's files, and nothing beside them: no ../shared, no upstream tree anywhere.
    clone = tmp_path / "clone" / "k8spb"
    for rel in _tracked_files():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, clone / rel)
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8SPB_")}
    env["K8SPB_PROTOS"] = str(tmp_path / "nowhere")
    proc = _run(sys.executable, "build.py", cwd=clone, env=env)
    assert proc.returncode == 0, proc.stderr
    # The same models as here, but for the upstream docstrings.
    ours = build.existing_outputs()
    for rel, text in ours.items():
        fresh = (clone / rel).read_text()
        assert _code(fresh) == _code(text), rel
    smoke = ("import k8spb\nfrom k8spb.api.core.v1 import Pod\n"
             "p = Pod.from_dict({'metadata': {'name': 'x', 'labels': {'a': 'b'}}, 'spec': {'containers': []}})\n"
             "q = k8spb.decode(k8spb.encode(p, k8spb.PROTOBUF))\n"
             "assert q.metadata.labels == {'a': 'b'} and Pod.short_names == ('po',)\n"
             "print(k8spb.__file__)\n")
    env["PYTHONPATH"] = str(clone / "src")
    proc = _run(sys.executable, "-c", smoke, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(clone / "src" / "k8spb" / "__init__.py")
