#!/usr/bin/env python3
"""Write protos/schema.json, k8spb's facts-only schema snapshot, from an upstream Kubernetes tree.

    python tools/refresh_schema.py [--kubernetes 1.36.2] [--protos DIR] [--openapi FILE]
    python tools/refresh_schema.py --check      # exit 1 when protos/schema.json differs

Inputs: the Kubernetes ``.proto`` files (``--protos`` / ``K8SPB_PROTOS``, else
``../shared/kubernetes/protos``) and the matching OpenAPI document (``--openapi`` / ``K8SPB_OPENAPI``,
else ``swagger.json`` next to the proto root). protoc (grpcio-tools) resolves the protos.

The snapshot holds facts only: per proto file its package, Go package, API group and imports; per
message its fields (name, number, type, JSON key; ``null`` for an embedded struct whose keys are
flattened into its parent) and the kinds it is served as; per resource its plural, scope, verbs,
subresources, short names and categories; and the sha256 of every input. No descriptions. build.py
generates the models from it, so a machine without the upstream tree can install k8spb.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "protos" / "schema.json"
FORMAT = 1

# Groups the OpenAPI document cannot tell (no version of these packages is served).
FALLBACK_GROUPS = {
    "k8s.io.api.extensions": "extensions",
    "k8s.io.api.admission": "admission.k8s.io",
    "k8s.io.api.imagepolicy": "imagepolicy.k8s.io",
    "k8s.io.api.apidiscovery": "apidiscovery.k8s.io",
    "k8s.io.apimachinery.pkg.apis.meta": "meta.k8s.io",
}

# Kinds registered with the API machinery but not served as REST resources (so absent from the
# OpenAPI document): (proto package, message, [apiVersions] or None for the package's own).
EXTRA_KINDS: list[tuple[str, str, list[str] | None]] = [
    ("k8s.io.api.admission.v1", "AdmissionReview", None),
    ("k8s.io.api.admission.v1beta1", "AdmissionReview", None),
    ("k8s.io.api.imagepolicy.v1alpha1", "ImageReview", None),
    ("k8s.io.api.apps.v1beta1", "DeploymentRollback", None),
    ("k8s.io.api.extensions.v1beta1", "DeploymentRollback", None),
    ("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1", "ConversionReview", None),
    ("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1beta1", "ConversionReview", None),
    ("k8s.io.api.apidiscovery.v2", "APIGroupDiscovery", None),
    ("k8s.io.api.apidiscovery.v2", "APIGroupDiscoveryList", None),
    ("k8s.io.api.apidiscovery.v2beta1", "APIGroupDiscovery", None),
    ("k8s.io.api.apidiscovery.v2beta1", "APIGroupDiscoveryList", None),
    *[("k8s.io.api.core.v1", k, None) for k in (
        "PodLogOptions", "PodExecOptions", "PodAttachOptions", "PodPortForwardOptions", "PodProxyOptions",
        "NodeProxyOptions", "ServiceProxyOptions", "PodStatusResult", "RangeAllocation",
        "SerializedReference")],
    *[("k8s.io.apimachinery.pkg.apis.meta.v1", k, ["v1", "meta.k8s.io/v1"]) for k in (
        "CreateOptions", "GetOptions", "ListOptions", "PatchOptions", "UpdateOptions", "DeleteOptions")],
    *[("k8s.io.apimachinery.pkg.apis.meta.v1", k, ["meta.k8s.io/v1"]) for k in (
        "PartialObjectMetadata", "PartialObjectMetadataList")],
    *[("k8s.io.apimachinery.pkg.apis.meta.v1beta1", k, ["meta.k8s.io/v1beta1"]) for k in (
        "PartialObjectMetadataList",)],
    *[("k8s.io.apimachinery.pkg.apis.meta.v1", k, ["v1"]) for k in (
        "Status", "APIVersions", "APIGroupList", "APIGroup", "APIResourceList", "WatchEvent", "List")],
]

# Short names and categories are set by each resource's REST storage in kube-apiserver (its
# ShortNames() and Categories()), not by the protos or the OpenAPI document: (group, plural) -> names.
SHORT_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "componentstatuses"): ("cs",),
    ("", "configmaps"): ("cm",),
    ("", "endpoints"): ("ep",),
    ("", "events"): ("ev",),
    ("", "limitranges"): ("limits",),
    ("", "namespaces"): ("ns",),
    ("", "nodes"): ("no",),
    ("", "persistentvolumeclaims"): ("pvc",),
    ("", "persistentvolumes"): ("pv",),
    ("", "pods"): ("po",),
    ("", "replicationcontrollers"): ("rc",),
    ("", "resourcequotas"): ("quota",),
    ("", "serviceaccounts"): ("sa",),
    ("", "services"): ("svc",),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ("crd", "crds"),
    ("apps", "daemonsets"): ("ds",),
    ("apps", "deployments"): ("deploy",),
    ("apps", "replicasets"): ("rs",),
    ("apps", "statefulsets"): ("sts",),
    ("autoscaling", "horizontalpodautoscalers"): ("hpa",),
    ("batch", "cronjobs"): ("cj",),
    ("certificates.k8s.io", "certificatesigningrequests"): ("csr",),
    ("events.k8s.io", "events"): ("ev",),
    ("networking.k8s.io", "ingresses"): ("ing",),
    ("networking.k8s.io", "networkpolicies"): ("netpol",),
    ("policy", "poddisruptionbudgets"): ("pdb",),
    ("scheduling.k8s.io", "priorityclasses"): ("pc",),
    ("storage.k8s.io", "storageclasses"): ("sc",),
}
CATEGORIES: dict[tuple[str, str], tuple[str, ...]] = {
    (g, p): ("all",) for g, p in (
        ("", "pods"), ("", "replicationcontrollers"), ("", "services"), ("apps", "daemonsets"),
        ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"),
        ("autoscaling", "horizontalpodautoscalers"), ("batch", "cronjobs"), ("batch", "jobs"))
}
CATEGORIES[("apiextensions.k8s.io", "customresourcedefinitions")] = ("api-extensions",)
CATEGORIES[("apiregistration.k8s.io", "apiservices")] = ("api-extensions",)
for _plural in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations",
                "validatingadmissionpolicies", "validatingadmissionpolicybindings",
                "mutatingadmissionpolicies", "mutatingadmissionpolicybindings"):
    CATEGORIES[("admissionregistration.k8s.io", _plural)] = ("api-extensions",)

ACTION_VERBS = {"get": "get", "list": "list", "watch": "watch", "watchlist": "watch", "post": "create",
                "put": "update", "patch": "patch", "delete": "delete", "deletecollection": "deletecollection"}
CONNECT_VERBS = {"get": "get", "post": "create", "put": "update", "delete": "delete", "patch": "patch",
                 "head": "get", "options": "get"}
SCALARS = {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32", 8: "bool",
           9: "string", 12: "bytes", 13: "uint32", 15: "sfixed32", 16: "sfixed64", 17: "sint32", 18: "sint64"}


class RefreshError(Exception):
    """A problem with the upstream inputs."""


# ---------------------------------------------------------------------------------------------------------
# Inputs


def find_inputs(protos: str | None, openapi: str | None) -> tuple[Path, Path]:
    """The proto import root and the OpenAPI document."""
    root = Path(protos or os.environ.get("K8SPB_PROTOS") or ROOT.parent / "shared" / "kubernetes" / "protos")
    if not root.is_dir() or not any(root.rglob("*.proto")):
        raise RefreshError(f"no Kubernetes .proto files under {root}; pass --protos DIR or set K8SPB_PROTOS")
    doc = Path(openapi or os.environ.get("K8SPB_OPENAPI") or root.parent / "swagger.json")
    if not doc.is_file():
        raise RefreshError(f"OpenAPI document not found at {doc}; pass --openapi FILE or set K8SPB_OPENAPI")
    return root.resolve(), doc.resolve()


def proto_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.proto"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compile_protos(root: Path) -> Any:
    """Run protoc (grpcio-tools) and return the FileDescriptorSet (no source comments)."""
    from google.protobuf import descriptor_pb2

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I", str(root), f"--descriptor_set_out={out}",
               *proto_files(root)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RefreshError(f"protoc failed ({proc.returncode}):\n{proc.stderr.strip()}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


# ---------------------------------------------------------------------------------------------------------
# Facts derived from the protos and the OpenAPI document


def swagger_name(full_name: str) -> str:
    rest = full_name[len("k8s.io."):]
    rest = rest.replace("apiextensions_apiserver", "apiextensions-apiserver").replace(
        "kube_aggregator", "kube-aggregator")
    return "io.k8s." + rest


def kebab(text: str) -> str:
    out = []
    for i, c in enumerate(text):
        if c.isupper() and i:
            out.append("-")
        out.append(c.lower())
    return "".join(out)


class Deriver:
    """Derives JSON keys, kinds, groups and resources from a FileDescriptorSet and the OpenAPI document."""

    def __init__(self, fds: Any, swagger: dict[str, Any]) -> None:
        self.fds = fds
        self.swagger = swagger
        self.defs: dict[str, Any] = swagger["definitions"]
        self.messages: dict[str, Any] = {}
        self.package_of: dict[str, str] = {}
        for f in fds.file:
            for m in f.message_type:
                self.messages[f"{f.package}.{m.name}"] = m
                self.package_of[f"{f.package}.{m.name}"] = f.package
        self.learned: dict[str, dict[str, str | None]] = {}
        self.warnings: list[str] = []
        self._learn()

    def is_map(self, fd: Any) -> bool:
        if fd.type != 11 or fd.label != 3:
            return False
        nested = self.nested(fd.type_name)
        return nested is not None and nested.options.map_entry

    def nested(self, type_name: str) -> Any:
        parent, _, child = type_name.lstrip(".").rpartition(".")
        msg = self.messages.get(parent)
        return None if msg is None else next((n for n in msg.nested_type if n.name == child), None)

    def json_layout(self, full_name: str) -> dict[str, str | None]:
        """proto field name -> JSON key (None: an embedded struct whose keys are flattened)."""
        msg = self.messages[full_name]
        sw = self.defs.get(swagger_name(full_name))
        layout: dict[str, str | None] = {}
        if sw is None or "properties" not in sw:
            learned = self.learned.get(msg.name, {})
            for fd in msg.field:
                layout[fd.name] = learned.get(fd.name, fd.name)
            return layout
        props = set(sw["properties"])
        for fd in msg.field:
            name = fd.name
            if name in props:
                layout[name] = name
                continue
            guesses = [name[:1].lower() + name[1:], "$" + name]
            if name.startswith("xKubernetes"):
                guesses.append("x-kubernetes-" + kebab(name[len("xKubernetes"):]))
            hit = next((g for g in guesses if g in props), None)
            if hit is None:
                ci = [p for p in props if p.lower() == name.lower()]
                hit = ci[0] if len(ci) == 1 else None
            if hit is not None:
                layout[name] = hit
                continue
            if fd.type == 11 and not self.is_map(fd) and fd.label != 3:
                keys = self.flat_keys(fd.type_name.lstrip("."))
                if keys and keys <= props:
                    layout[name] = None
                    continue
            self.warnings.append(f"{full_name}.{name}: no JSON property in the OpenAPI document; "
                                 "keeping the proto name")
            layout[name] = name
        return layout

    def flat_keys(self, full_name: str) -> set[str]:
        if full_name not in self.messages:
            return set()
        keys: set[str] = set()
        for name, key in self.json_layout(full_name).items():
            if key is None:
                fd = next(f for f in self.messages[full_name].field if f.name == name)
                keys |= self.flat_keys(fd.type_name.lstrip("."))
            else:
                keys.add(key)
        return keys

    def _learn(self) -> None:
        """Record renames/inlines of served messages so unserved versions of them follow suit."""
        for full in sorted(self.messages):
            if swagger_name(full) not in self.defs:
                continue
            odd = {k: v for k, v in self.json_layout(full).items() if v != k}
            if odd:
                self.learned.setdefault(full.rsplit(".", 1)[1], {}).update(odd)

    def package_groups(self) -> dict[str, str]:
        groups: dict[str, str] = {}
        for full, d in self.defs.items():
            gvks = d.get("x-kubernetes-group-version-kind", [])
            if len(gvks) != 1:
                continue
            for msg_full in self.messages:
                if swagger_name(msg_full) == full:
                    groups[self.package_of[msg_full]] = gvks[0]["group"]
        by_base = {pkg.rsplit(".", 1)[0]: group for pkg, group in groups.items()}
        result = {}
        for pkg in sorted(set(self.package_of.values())):
            base = pkg.rsplit(".", 1)[0]
            if pkg in groups:
                result[pkg] = groups[pkg]
            elif base in by_base:
                result[pkg] = by_base[base]
            elif base in FALLBACK_GROUPS:
                result[pkg] = FALLBACK_GROUPS[base]
        return result

    def kinds(self) -> dict[str, list[tuple[str, str, str]]]:
        """message full name -> [(group, version, kind)], the core group's v1 first."""
        found: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        served: set[tuple[str, str]] = set()
        for full in sorted(self.messages):
            d = self.defs.get(swagger_name(full))
            for gvk in (d or {}).get("x-kubernetes-group-version-kind", []):
                found[full].append((gvk["group"], gvk["version"], gvk["kind"]))
                served.add((gvk["group"], gvk["kind"]))
        groups = self.package_groups()
        served_names = {kind for _, kind in served}
        for full in sorted(self.messages):
            pkg = self.package_of[full]
            name = full.rsplit(".", 1)[1]
            group = groups.get(pkg)
            if group is None or found.get(full):
                continue
            # An unserved version of a served kind (apps/v1beta1 Deployment), or a kind served today
            # under another group (extensions/v1beta1 Ingress, apps/v1beta1 Scale).
            has_meta = any(fd.name == "metadata" for fd in self.messages[full].field)
            if (group, name) in served or (name in served_names and has_meta):
                found[full].append((group, pkg.rsplit(".", 1)[1], name))
        for pkg, name, api_versions in EXTRA_KINDS:
            full = f"{pkg}.{name}"
            if full not in self.messages:
                raise RefreshError(f"extra kind {full} is not in the protos")
            if api_versions is None:
                group, version = groups[pkg], pkg.rsplit(".", 1)[1]
                api_versions = [f"{group}/{version}" if group else version]
            for av in api_versions:
                g, _, v = av.rpartition("/")
                if (g, v, name) not in found[full]:
                    found[full].append((g, v, name))
        return {k: sorted(set(v), key=lambda t: (t != ("", "v1", t[2]), t)) for k, v in found.items() if v}

    def resources(self) -> list[dict[str, Any]]:
        """Every served resource, from the OpenAPI paths."""
        res: dict[tuple[str, str, str], dict[str, Any]] = {}
        for path, item in sorted(self.swagger["paths"].items()):
            segs = path.strip("/").split("/")
            if segs[0] == "api" and len(segs) >= 2:
                group, version, rest = "", segs[1], segs[2:]
            elif segs[0] == "apis" and len(segs) >= 3:
                group, version, rest = segs[1], segs[2], segs[3:]
            else:
                continue
            if rest[:1] == ["watch"]:
                rest = rest[1:]
            namespaced = rest[:2] == ["namespaces", "{namespace}"]
            if namespaced and len(rest) > 2:
                rest = rest[2:]
            if not rest or rest[0].startswith("{"):
                continue
            plural = rest[0]
            sub = rest[2] if len(rest) > 2 and rest[1] == "{name}" else None
            for method, op in item.items():
                if method == "parameters":
                    continue
                gvk, action = op.get("x-kubernetes-group-version-kind"), op.get("x-kubernetes-action")
                if not gvk or not action:
                    continue
                r = res.setdefault((group, version, plural),
                                   {"kind": None, "namespaced": False, "verbs": set(), "subs": {}})
                verb = CONNECT_VERBS.get(method, method) if action == "connect" else ACTION_VERBS.get(action, action)
                if sub is None:
                    r["verbs"].add(verb)
                    r["namespaced"] = r["namespaced"] or namespaced
                    if action in ("get", "post", "put", "patch", "delete") and r["kind"] is None:
                        r["kind"] = gvk["kind"]
                    if action == "list" and r["kind"] is None and gvk["kind"].endswith("List"):
                        r["kind"] = gvk["kind"][: -len("List")]
                else:
                    r["subs"].setdefault(sub, {"kind": gvk["kind"], "verbs": set()})["verbs"].add(verb)
        out = []
        for (group, version, plural), r in sorted(res.items()):
            if not r["kind"]:
                continue
            verbs = sorted(r["verbs"])
            out.append({
                "group": group, "version": version, "plural": plural, "kind": r["kind"],
                "namespaced": r["namespaced"], "verbs": verbs,
                "subresources": [[s, sd["kind"], sorted(sd["verbs"])] for s, sd in sorted(r["subs"].items())],
                "short_names": list(SHORT_NAMES.get((group, plural), ())),
                "categories": list(CATEGORIES.get((group, plural), ())),
            })
        return out


def type_of(d: Deriver, fd: Any) -> str:
    """A field's type in the snapshot's notation: ``string``, ``[]int32``, ``map[string]pkg.Msg`` ..."""
    def base(t: int, type_name: str) -> str:
        if t in SCALARS:
            return SCALARS[t]
        if t != 11:
            raise RefreshError(f"unsupported proto field type {t} ({type_name})")
        return type_name.lstrip(".")

    if d.is_map(fd):
        entry = d.nested(fd.type_name)
        key = next(f for f in entry.field if f.name == "key")
        value = next(f for f in entry.field if f.name == "value")
        return f"map[{base(key.type, key.type_name)}]{base(value.type, value.type_name)}"
    prefix = "[]" if fd.label == 3 else ""
    return prefix + base(fd.type, fd.type_name)


def snapshot(root: Path, openapi: Path, version: str) -> dict[str, Any]:
    """The facts-only snapshot of an upstream tree."""
    fds = compile_protos(root)
    d = Deriver(fds, json.loads(openapi.read_text()))
    kinds = d.kinds()
    groups = d.package_groups()
    files = []
    for f in sorted(fds.file, key=lambda f: f.name):
        messages = []
        for m in f.message_type:
            full = f"{f.package}.{m.name}"
            extra = [n.name for n in m.nested_type if not n.options.map_entry]
            if extra or m.enum_type or m.oneof_decl:
                raise RefreshError(f"{full}: nested messages, enums or oneofs are not supported")
            layout = d.json_layout(full)
            entry: dict[str, Any] = {"name": m.name}
            if full in kinds:
                entry["kinds"] = [list(k) for k in kinds[full]]
            entry["fields"] = [[fd.name, fd.number, type_of(d, fd), layout[fd.name]] for fd in m.field]
            messages.append(entry)
        info: dict[str, Any] = {"name": f.name, "package": f.package, "go_package": f.options.go_package}
        if f.package in groups:
            info["group"] = groups[f.package]
        info["dependencies"] = list(f.dependency)
        info["messages"] = messages
        files.append(info)
    snap = {
        "format": FORMAT,
        "kubernetes": version,
        "sources": {"openapi": sha256(openapi), "protos": {n: sha256(root / n) for n in proto_files(root)}},
        "files": files,
        "resources": d.resources(),
    }
    _check_round_trip(fds, snap)
    return snap


def _check_round_trip(fds: Any, snap: dict[str, Any]) -> None:
    """build.py must rebuild every file descriptor byte for byte from the snapshot."""
    sys.path.insert(0, str(ROOT))
    import build  # the generator, which reads snapshots

    rebuilt = {f.name: f for f in build.file_descriptors(snap)}
    for f in fds.file:
        want = f.SerializeToString(deterministic=True)
        got = rebuilt[f.name].SerializeToString(deterministic=True)
        if want != got:
            raise RefreshError(f"{f.name}: the descriptor rebuilt from the snapshot differs from protoc's")


# ---------------------------------------------------------------------------------------------------------
# Writing: JSON laid out for review (one field or resource a line)


def dumps(value: Any, indent: int = 0) -> str:
    compact = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if not isinstance(value, (dict, list)) or not value:
        return compact
    children = list(value.values() if isinstance(value, dict) else value)
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in children):
        return compact  # a field row, a list of names
    if len(compact) <= 110 and not any(isinstance(v, dict) for v in children):
        return compact
    pad = " " * (indent + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + dumps(v, indent + 1) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--protos", help="proto import root (holding k8s.io/...)")
    parser.add_argument("--openapi", help="the matching OpenAPI (swagger.json) document")
    parser.add_argument("--kubernetes", help="the release the inputs are from (default: the snapshot's)")
    parser.add_argument("--check", action="store_true", help="fail when protos/schema.json differs")
    args = parser.parse_args(argv)
    try:
        version = args.kubernetes
        if version is None:
            if not SNAPSHOT.exists():
                raise RefreshError("no snapshot yet: pass --kubernetes X.Y.Z")
            version = json.loads(SNAPSHOT.read_text())["kubernetes"]
        root, doc = find_inputs(args.protos, args.openapi)
        text = dumps(snapshot(root, doc, version)) + "\n"
    except RefreshError as exc:
        print(f"refresh_schema.py: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if not SNAPSHOT.exists() or SNAPSHOT.read_text() != text:
            print(f"refresh_schema.py: {SNAPSHOT.relative_to(ROOT)} differs from what {root} gives; "
                  "run tools/refresh_schema.py", file=sys.stderr)
            return 1
        print(f"refresh_schema.py: {SNAPSHOT.relative_to(ROOT)} matches {root}")
        return 0
    SNAPSHOT.write_text(text)
    print(f"refresh_schema.py: wrote {SNAPSHOT.relative_to(ROOT)} ({len(text.encode()) // 1024} KiB, "
          f"Kubernetes {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
