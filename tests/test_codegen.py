"""``python -m k8spb.codegen``: typed classes from a CRD (file or server) that give back the CRD they came from."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import k8spb
from k8spb import Api, Client, Config
from k8spb._codegen import generate
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition
from k8spb.crd import merge_crds
from k8spb.testing import ApiServer
from tests.conftest import ROOT

GROUP = "codegen.example.com"

_PORT = {"type": "object", "required": ["port"], "properties": {
    "name": {"type": "string", "description": 'A "name", with quotes\nand a second line \\ and a backslash.'},
    "port": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 65535},
    "protocol": {"type": "string", "enum": ["TCP", "UDP", "SCTP"], "default": "TCP"}}}

_SPEC = {
    "type": "object", "description": "Desired state.", "required": ["engine", "storage"],
    "x-kubernetes-validations": [{"rule": "self.replicas <= 9", "message": "at most 9"}],
    "properties": {
        "engine": {"type": "string", "enum": ["postgres", "mysql"]},
        "replicas": {"type": "integer", "minimum": 0, "default": 1},
        "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "multipleOf": 0.5},
        "storage": {"type": "object", "required": ["size"], "properties": {
            "size": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "class": {"type": "string", "nullable": True}}},
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port"],
                  "maxItems": 4, "items": _PORT},
        "hosts": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "hostname",
                                                            "maxLength": 253, "pattern": "^[a-z.]+$"}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}, "x-kubernetes-map-type": "atomic"},
        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "raw": {"x-kubernetes-preserve-unknown-fields": True},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "x-kubernetes-preserve-unknown-fields": True},
        "backup": {"type": "object", "default": {"schedule": "@daily"}, "properties": {
            "schedule": {"type": "string"}, "keep": {"type": "integer", "default": 7}}},
        "window": {"type": "string", "format": "date-time"},
        "certificate": {"type": "string", "format": "byte"},
        "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "x-vendor-flag": {"type": "boolean", "description": "A key that is no Python name."},
        "from": {"type": "string"},
        "dnsNames": {"type": "array", "items": {"type": "string"}, "default": ["a.example.com"]},
        "weights": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
    },
}
_STATUS = {"type": "object", "properties": {
    "phase": {"type": "string"}, "replicas": {"type": "integer"}, "selector": {"type": "string"},
    "conditions": {"type": "array", "items": {"type": "object", "required": ["type", "status"], "properties": {
        "type": {"type": "string"}, "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "lastTransitionTime": {"type": "string", "format": "date-time"}, "message": {"type": "string"}}}}}}


def _version(name: str, storage: bool, spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "served": True, "storage": storage,
            "schema": {"openAPIV3Schema": {"type": "object", "description": "A database.",
                                           "x-kubernetes-validations": [{"rule": "has(self.spec)",
                                                                         "reason": "FieldValueRequired",
                                                                         "fieldPath": ".spec"}],
                                           "properties": {"apiVersion": {"type": "string"},
                                                          "kind": {"type": "string"},
                                                          "metadata": {"type": "object"},
                                                          "spec": spec, "status": _STATUS},
                                           "required": ["spec"]}},
            "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                     "statusReplicasPath": ".status.replicas",
                                                     "labelSelectorPath": ".status.selector"}},
            "additionalPrinterColumns": [{"name": "Engine", "type": "string", "jsonPath": ".spec.engine"},
                                         {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas",
                                          "priority": 1, "description": "wanted"}],
            "selectableFields": [{"jsonPath": ".spec.engine"}], **extra}


CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": f"databases.{GROUP}"},
       "spec": {"group": GROUP, "scope": "Cluster",
                "names": {"plural": "databases", "singular": "database", "kind": "Database",
                          "listKind": "DatabaseList", "shortNames": ["db"], "categories": ["all", "storage"]},
                "versions": [_version("v1alpha1", False, _SPEC, deprecated=True,
                                      deprecationWarning="use v1"),
                             _version("v1", True, _SPEC)]}}


def _load(code: str, where: Path, name: str) -> ModuleType:
    path = where / f"{name}.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _normal(crd: dict[str, Any]) -> dict[str, Any]:
    """A CRD as k8spb writes it (map keys sorted), for comparing with what classes derive."""
    return CustomResourceDefinition.from_dict(crd).to_dict()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ModuleType]:
    code = generate(copy.deepcopy(CRD), source="databases.yaml")
    return code, _load(code, tmp_path_factory.mktemp("codegen"), "generated_databases")


def test_classes_give_back_the_crd(generated: tuple[str, ModuleType]) -> None:
    code, module = generated
    assert code.startswith("# Generated by `python -m k8spb.codegen` from databases.yaml.")
    v1alpha1, v1 = module.DatabaseV1alpha1, module.DatabaseV1
    assert (v1.kind, v1.api_version, v1.plural, v1.namespaced, v1.short_names) == (
        "Database", f"{GROUP}/v1", "databases", False, ("db",))
    assert v1alpha1.deprecated and v1alpha1.deprecation_warning == "use v1" and not v1alpha1.storage
    merged = merge_crds([v1alpha1.crd(), v1.crd()], storage="v1").to_dict()
    assert merged == _normal(CRD)


def test_generated_types(generated: tuple[str, ModuleType]) -> None:
    code, module = generated
    spec_cls = module.DatabaseSpecV1
    hints = {k: str(v) for k, v in spec_cls.__annotations__.items()}
    assert hints["engine"] == "Literal['postgres', 'mysql']"
    assert hints["storage"] == "DatabaseSpecStorageV1"
    assert hints["ports"] == "Annotated[list[DatabaseSpecPortsItemV1] | None, MaxItems(4), ListType('map', ('port',))]"
    assert hints["raw"] == "Any | None" and hints["config"] == "dict[str, Any] | None"
    assert hints["window"] == "datetime.datetime | None" and hints["certificate"] == "bytes | None"
    assert hints["matrix"] == "list[list[float]] | None"
    assert hints["x_vendor_flag"] == "Annotated[bool | None, Key('x-vendor-flag')]"
    assert hints["from_"] == "str | None"
    assert '    """A key that is no Python name."""' in code
    db = module.DatabaseV1.from_dict({
        "apiVersion": f"{GROUP}/v1", "kind": "Database", "metadata": {"name": "d"},
        "spec": {"engine": "mysql", "storage": {"size": "10Gi"}, "from": "backup-1", "x-vendor-flag": True,
                 "ports": [{"port": 3306}], "window": "2026-01-01T00:00:00Z"}})
    assert db.spec.from_ == "backup-1" and db.spec.x_vendor_flag is True and db.spec.storage.size == "10Gi"
    assert db.spec.ports[0].protocol == "TCP" and db.spec.backup.schedule == "@daily" and db.spec.replicas == 1
    assert db.spec.dns_names == ["a.example.com"]
    with pytest.raises(k8spb.DecodeError, match=r"Database\.spec\.engine: expected one of \['postgres', 'mysql'\]"):
        module.DatabaseV1.from_dict({"apiVersion": f"{GROUP}/v1", "kind": "Database",
                                     "spec": {"engine": "oracle", "storage": {"size": 1}}})


def test_one_version_gets_plain_names_and_unstructured_parts_become_any() -> None:
    crd = copy.deepcopy(CRD)
    crd["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["choice"] = {
        "oneOf": [{"type": "string"}, {"type": "integer"}]}
    code = generate(crd, versions=["v1"])
    assert "class Database(" in code and "class DatabaseSpec(Object" in code and "V1" not in code
    assert "    choice: Any | None = None" in code
    with pytest.raises(ValueError, match=r"no served version among \['v9'\]"):
        generate(crd, versions=["v9"])
    with pytest.raises(ValueError, match="not a CustomResourceDefinition"):
        generate({"kind": "Pod"})


def test_generated_module_passes_mypy_strict(generated: tuple[str, ModuleType], tmp_path: Path) -> None:
    code, _ = generated
    (tmp_path / "databases.py").write_text(code)
    (tmp_path / "use.py").write_text(
        "from databases import DatabaseV1, DatabaseSpecV1, DatabaseSpecStorageV1\n"
        "db = DatabaseV1(spec=DatabaseSpecV1(engine='mysql', storage=DatabaseSpecStorageV1(size=5)))\n"
        "engine: str = db.spec.engine\n")
    env = {**os.environ, "MYPYPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "databases.py", "use.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT)))}
    return subprocess.run([sys.executable, "-m", "k8spb.codegen", *args], env=full, capture_output=True, text=True,
                          timeout=120, check=False)


def test_cli_from_a_file_and_from_the_server(tmp_path: Path) -> None:
    manifest = tmp_path / "crds.yaml"
    manifest.write_text(yaml.safe_dump(CRD) + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    out = tmp_path / "databases.py"
    proc = _cli(str(manifest), "--version", "v1", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == generate(_normal(CRD), source="crds.yaml", versions=["v1"])
    twice = tmp_path / "twice.yaml"
    twice.write_text(yaml.safe_dump(CRD) + "---\n" + yaml.safe_dump(
        {**CRD, "metadata": {"name": f"others.{GROUP}"}}))
    proc = _cli(str(twice))
    assert proc.returncode == 1 and "holds 2 CustomResourceDefinitions; pick one with --name" in proc.stderr
    assert _cli(str(twice), "--name", f"others.{GROUP}").returncode == 0
    proc = _cli(str(tmp_path / "missing.yaml"))
    assert proc.returncode == 1 and "error:" in proc.stderr
    with ApiServer() as srv:
        with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as c:
            Api(c, CustomResourceDefinition).create(CustomResourceDefinition.from_dict(CRD))
        proc = _cli("--from-server", f"databases.{GROUP}", KUBECONFIG=srv.kubeconfig_path)
        assert proc.returncode == 0, proc.stderr
        served = _load(proc.stdout, tmp_path, "served_databases")
        with Client(Config.from_kubeconfig(srv.kubeconfig_path)) as c:
            dbs = Api(c, served.DatabaseV1)
            created = dbs.create(served.DatabaseV1.from_dict({
                "apiVersion": f"{GROUP}/v1", "kind": "Database", "metadata": {"name": "main"},
                "spec": {"engine": "postgres", "storage": {"size": "1Gi"}}}))
            assert created.spec.engine == "postgres" and [d.metadata.name for d in dbs.list()] == ["main"]
        proc = _cli("--from-server", "nothing.example.com", KUBECONFIG=srv.kubeconfig_path)
        assert proc.returncode == 1 and "404" in proc.stderr
    assert json.loads(json.dumps(CRD)) == CRD  # the module-level CRD was not changed by anyone


# ---------------------------------------------------------------------------------------------------------
# random schemas: whatever the generator is given, the classes give it back

_INT = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
_keys = st.from_regex(r"[a-z][a-zA-Z0-9]{0,8}", fullmatch=True) | st.sampled_from(
    ["x-odd-key", "class", "from", "$ref", "a_b", "dnsNames", "URL"])
_scalar_schemas = st.one_of(
    st.builds(lambda fmt: {"type": "string", **fmt}, st.sampled_from([{}, {"format": "email"}, {"maxLength": 9},
                                                                      {"pattern": "^a+$"}, {"enum": ["a", "b"]}])),
    st.builds(lambda fmt: {"type": "integer", **fmt}, st.sampled_from([{}, {"minimum": 0}, {"format": "int32"},
                                                                       {"maximum": 7, "exclusiveMaximum": True}])),
    st.just({"type": "number"}), st.just({"type": "boolean", "default": True}),
    st.just({"type": "integer", "default": 3, "nullable": True}), st.just({"type": "string", "default": "x"}),
    st.just({"type": "array", "items": {"type": "string"}, "default": ["a"]}),
    st.just({"type": "string", "format": "date-time"}), st.just(dict(_INT)),
    st.just({"x-kubernetes-preserve-unknown-fields": True}),
)


def _objects(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    props = st.dictionaries(_keys, inner, min_size=1, max_size=4)
    return st.one_of(
        st.builds(lambda p, req, desc, rules: {"type": "object", "properties": p,
                                               **({"required": sorted(p)[:req]} if req else {}),
                                               **({"description": desc} if desc else {}), **rules},
                  props, st.integers(0, 2), st.sampled_from(["", "An object.", 'Quotes " and \\ and\nlines.']),
                  st.sampled_from([{}, {"x-kubernetes-validations": [{"rule": "size(self) > 0", "message": "m"}]},
                                   {"x-kubernetes-preserve-unknown-fields": True}])),
        st.builds(lambda v: {"type": "object", "additionalProperties": v}, inner),
        st.builds(lambda v, kind: {"type": "array", "items": v, **kind}, inner,
                  st.sampled_from([{}, {"maxItems": 3}, {"x-kubernetes-list-type": "atomic"}])),
    )


_schemas = st.recursive(_scalar_schemas, _objects, max_leaves=8)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.dictionaries(_keys, _schemas, min_size=1, max_size=5))
def test_random_schemas_come_back(spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    crd = _normal({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": f"randoms.{GROUP}"},
                   "spec": {"group": GROUP, "scope": "Namespaced",
                            "names": {"plural": "randoms", "singular": "random", "kind": "Random",
                                      "listKind": "RandomList"},
                            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                                "openAPIV3Schema": {"type": "object", "properties": {
                                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                    "metadata": {"type": "object"},
                                    "spec": {"type": "object", "properties": spec}}}}}]}})
    module = _load(generate(crd), tmp_path_factory.mktemp("random"), "generated_random")
    assert module.Random.crd().to_dict() == crd
