#!/usr/bin/env python3
"""Compile the pinned Kubernetes .proto files into k8spb's models.

Run by the build backend (build_backend.py) at install time, or by hand::

    python build.py                 # generate into src/k8spb/
    python build.py --check         # exit 1 when the generated code is missing or stale
    python build.py --protos DIR --openapi FILE

Inputs are looked up in this order: ``--protos`` / ``K8SPB_PROTOS``; ``protos/`` when it holds
``.proto`` files (a vendored copy); ``../shared/kubernetes/protos``. The OpenAPI document comes from
``--openapi`` / ``K8SPB_OPENAPI``, else ``swagger.json`` next to the proto root. Both must match the
pin in ``protos/pin.json`` (refresh it with ``tools/refresh_pin.py``).

Output (gitignored, deterministic): one module per Kubernetes Go package under ``src/k8spb/`` holding the
serialized descriptor and the dataclass models, and ``k8spb/_generated_kinds.py`` (the kind and
resource registry).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import keyword
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
PIN_FILE = ROOT / "protos" / "pin.json"
SRC = ROOT / "src"
OUT_PACKAGE = SRC / "k8spb"
GENERATED_TOPS = ("api", "apimachinery", "apiextensions_apiserver", "kube_aggregator")
REGISTRY_FILE = "_generated_kinds.py"


class BuildError(Exception):
    """A problem with the build inputs, reported without a traceback."""


# ---------------------------------------------------------------------------------------------------------
# Inputs and the pin


def find_inputs(protos: str | None, openapi: str | None) -> tuple[Path, Path]:
    """Locate the proto root and the OpenAPI document."""
    candidates: list[tuple[str, Path]] = []
    if protos:
        candidates.append(("--protos", Path(protos)))
    elif os.environ.get("K8SPB_PROTOS"):
        candidates.append(("K8SPB_PROTOS", Path(os.environ["K8SPB_PROTOS"])))
    else:
        vendored = ROOT / "protos"
        if any(vendored.rglob("*.proto")):
            candidates.append(("protos/", vendored))
        candidates.append(("../shared/kubernetes/protos", ROOT.parent / "shared" / "kubernetes" / "protos"))
    root = next((p for _, p in candidates if p.is_dir() and any(p.rglob("*.proto"))), None)
    if root is None:
        tried = ", ".join(f"{how} ({p})" for how, p in candidates)
        raise BuildError(f"no Kubernetes .proto files found; tried {tried}. Pass --protos DIR or set "
                         "K8SPB_PROTOS to a tree holding k8s.io/api/..., k8s.io/apimachinery/...")
    if openapi:
        doc = Path(openapi)
    elif os.environ.get("K8SPB_OPENAPI"):
        doc = Path(os.environ["K8SPB_OPENAPI"])
    else:
        doc = root.parent / "swagger.json"
    if not doc.is_file():
        raise BuildError(f"OpenAPI document not found at {doc}; pass --openapi FILE or set K8SPB_OPENAPI")
    return root.resolve(), doc.resolve()


def proto_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.proto"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compute_pin(root: Path, openapi: Path, version: str) -> dict[str, Any]:
    return {
        "kubernetes": version,
        "openapi": sha256(openapi),
        "protos": {name: sha256(root / name) for name in proto_files(root)},
    }


def check_pin(root: Path, openapi: Path) -> dict[str, Any]:
    """Verify the inputs against protos/pin.json and return the pin."""
    try:
        pin: dict[str, Any] = json.loads(PIN_FILE.read_text())
    except FileNotFoundError:
        raise BuildError(f"{PIN_FILE} is missing; create it with tools/refresh_pin.py") from None
    actual = compute_pin(root, openapi, pin["kubernetes"])
    problems = []
    for name, digest in pin["protos"].items():
        got = actual["protos"].get(name)
        if got is None:
            problems.append(f"missing {name}")
        elif got != digest:
            problems.append(f"changed {name}")
    problems += [f"not pinned {name}" for name in actual["protos"] if name not in pin["protos"]]
    if actual["openapi"] != pin["openapi"]:
        problems.append(f"changed OpenAPI document {openapi}")
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise BuildError(f"inputs in {root} do not match the pin for Kubernetes {pin['kubernetes']} "
                         f"({PIN_FILE.relative_to(ROOT)}): {shown}. Use the pinned files, or refresh the "
                         "pin with tools/refresh_pin.py if you mean to move to another version.")
    return pin


def compile_protos(root: Path) -> Any:
    """Run protoc (grpcio-tools) and return the FileDescriptorSet, source comments included."""
    from google.protobuf import descriptor_pb2

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I", str(root), f"--descriptor_set_out={out}",
               "--include_source_info", *proto_files(root)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BuildError(f"protoc failed ({proc.returncode}):\n{proc.stderr.strip()}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


# ---------------------------------------------------------------------------------------------------------
# The intermediate model

SPECIAL = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": ("time", "datetime.datetime"),
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": ("mtime", "datetime.datetime"),
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": ("dur", "datetime.timedelta"),
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": ("fv1", "dict[str, Any]"),
    "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs": ("strs", "list[str]"),
    "k8s.io.apimachinery.pkg.api.resource.Quantity": ("qty", "str"),
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue": ("qty", "str"),
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": ("ios", "int | str"),
    "k8s.io.apimachinery.pkg.runtime.RawExtension": ("raw", "Any"),
}
for _v in ("v1", "v1beta1"):
    _p = f"k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.{_v}"
    SPECIAL[f"{_p}.JSON"] = ("json", "Any")
    SPECIAL[f"{_p}.JSONSchemaPropsOrBool"] = ("orbool", "JSONSchemaProps | bool")
    SPECIAL[f"{_p}.JSONSchemaPropsOrArray"] = ("orarray", "JSONSchemaProps | list[JSONSchemaProps]")
    SPECIAL[f"{_p}.JSONSchemaPropsOrStringArray"] = ("orstrarray", "JSONSchemaProps | list[str]")
    for _g in ("authentication", "authorization", "certificates"):
        SPECIAL[f"k8s.io.api.{_g}.{_v}.ExtraValue"] = ("strs", "list[str]")

# Groups the OpenAPI document cannot tell (no version of these packages is served by 1.36).
FALLBACK_GROUPS = {
    "k8s.io.api.extensions": "extensions",
    "k8s.io.api.admission": "admission.k8s.io",
    "k8s.io.api.imagepolicy": "imagepolicy.k8s.io",
    "k8s.io.api.apidiscovery": "apidiscovery.k8s.io",
    "k8s.io.apimachinery.pkg.apis.meta": "meta.k8s.io",
}

# Kinds that are registered with the API machinery but not served as REST resources (so not in the
# OpenAPI document): (proto package, message, [apiVersions]).
EXTRA_KINDS = [
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

BUILTIN_TYPES = {"int", "str", "bool", "float", "bytes", "list", "dict"}
ACTION_VERBS = {"get": "get", "list": "list", "watch": "watch", "watchlist": "watch", "post": "create",
                "put": "update", "patch": "patch", "delete": "delete", "deletecollection": "deletecollection"}
VERB_ORDER = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
TRAIT_NAMES = {
    "Model": {"to_dict", "from_dict", "from_pb_bytes"},
    "HasKind": {"api_version", "group", "version", "kind"},
    "Resource": {"api_version", "group", "version", "kind", "plural", "namespaced", "list_kind", "verbs",
                 "subresources", "url_path"},
    "ListResource": {"api_version", "group", "version", "kind", "item_kind"},
    "HasConditions": {"conditions", "find_condition", "condition_is_true", "condition_since"},
}


@dataclass
class FieldInfo:
    proto_name: str
    number: int
    attr: str
    key: str
    path: tuple[str, ...]
    kind: str  # s i b f y m or a SPECIAL code
    container: str  # "", "l", "m"
    ref: str | None  # proto full name of the model type
    annotation: str
    doc: str


@dataclass
class MessageInfo:
    package: str
    name: str
    full_name: str
    doc: str
    fields: list[FieldInfo] = field(default_factory=list)
    kinds: list[tuple[str, str, str]] = field(default_factory=list)  # (group, version, kind)


def snake(key: str) -> str:
    """The Python attribute name for a JSON key: ``podIPs`` -> ``pod_ips``, ``$ref`` -> ``ref``."""
    key = key.lstrip("$").replace("-", "_")
    words: list[str] = []
    for part in key.split("_"):
        words += re.findall(r"[A-Z]+(?=V[0-9])|V[0-9]+(?![a-z])|[A-Z]{2,}s(?![a-z])|[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+"
                            r"|[A-Z]", part)
    name = "_".join(w.lower() for w in words if w)
    if keyword.iskeyword(name):
        name += "_"
    return name


def kebab(text: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", text).lower()


def one_line(comment: str, limit: int = 200) -> str:
    """The first sentence of a proto comment, without +markers."""
    lines = []
    for line in comment.splitlines():
        s = line.strip()
        if not s:
            if lines:
                break
            continue
        if s.startswith("+") or s.startswith("---"):
            continue
        lines.append(s)
    text = " ".join(lines)
    m = re.search(r"(?<=[a-z0-9)\]`'\"])\.(\s|$)", text)
    if m:
        text = text[: m.start() + 1]
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return text


def swagger_name(full_name: str) -> str:
    rest = full_name[len("k8s.io."):]
    rest = rest.replace("apiextensions_apiserver", "apiextensions-apiserver").replace(
        "kube_aggregator", "kube-aggregator")
    return "io.k8s." + rest


def module_of(package: str) -> str:
    return "k8spb." + package[len("k8s.io."):]


def alias_of(package: str) -> str:
    return "_" + package[len("k8s.io."):].replace(".", "_")


class Generator:
    """Turns the descriptor set and the OpenAPI document into Python sources."""

    def __init__(self, fds: Any, swagger: dict[str, Any], version: str) -> None:
        self.fds = fds
        self.swagger = swagger
        self.version = version
        self.defs: dict[str, Any] = swagger["definitions"]
        self.messages: dict[str, Any] = {}  # full name -> DescriptorProto
        self.docs: dict[str, dict[tuple[int, ...], str]] = {}  # file -> path -> comment
        self.package_of: dict[str, str] = {}
        self.files: dict[str, Any] = {}
        for f in fds.file:
            self.files[f.name] = f
            comments = {}
            for loc in f.source_code_info.location:
                if loc.leading_comments:
                    comments[tuple(loc.path)] = loc.leading_comments
            self.docs[f.name] = comments
            for m in f.message_type:
                full = f"{f.package}.{m.name}"
                self.messages[full] = m
                self.package_of[full] = f.package
        self.learned: dict[str, dict[str, str | None]] = {}
        self.warnings: list[str] = []

    # JSON names and inlining ------------------------------------------------------------------------

    def _is_map(self, fd: Any) -> bool:
        if fd.type != 11 or fd.label != 3:
            return False
        nested = self._nested(fd.type_name)
        return nested is not None and nested.options.map_entry

    def _nested(self, type_name: str) -> Any:
        full = type_name.lstrip(".")
        parent, _, child = full.rpartition(".")
        msg = self.messages.get(parent)
        if msg is None:
            return None
        return next((n for n in msg.nested_type if n.name == child), None)

    def json_layout(self, full_name: str) -> dict[str, str | None]:
        """proto field name -> JSON key (None: the field is an inlined, flattened struct)."""
        msg = self.messages[full_name]
        sw = self.defs.get(swagger_name(full_name))
        layout: dict[str, str | None] = {}
        if sw is None or "properties" not in sw:
            learned = self.learned.get(msg.name, {})
            for fd in msg.field:
                layout[fd.name] = learned.get(fd.name, fd.name) if fd.name in learned else fd.name
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
            if fd.type == 11 and not self._is_map(fd) and fd.label != 3:
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

    def learn(self) -> None:
        """Record renames/inlines of served messages so unserved versions of them follow suit."""
        for full in sorted(self.messages):
            if swagger_name(full) not in self.defs:
                continue
            layout = self.json_layout(full)
            name = full.rsplit(".", 1)[1]
            odd = {k: v for k, v in layout.items() if v != k}
            if odd:
                self.learned.setdefault(name, {}).update(odd)

    # fields ---------------------------------------------------------------------------------------

    def field_infos(self, full_name: str, prefix: tuple[str, ...] = ()) -> list[FieldInfo]:
        msg = self.messages[full_name]
        package = self.package_of[full_name]
        file_name = next(f.name for f in self.fds.file if f.package == package)
        msg_index = list(self.files[file_name].message_type).index(msg)
        layout = self.json_layout(full_name)
        out: list[FieldInfo] = []
        for i, fd in enumerate(msg.field):
            key = layout[fd.name]
            doc = one_line(self.docs[file_name].get((4, msg_index, 2, i), ""))
            if key is None:
                out += self.field_infos(fd.type_name.lstrip("."), (*prefix, fd.name))
                continue
            container = ""
            value_type, type_name = fd.type, fd.type_name
            if self._is_map(fd):
                container = "m"
                entry = self._nested(fd.type_name)
                vfd = next(f for f in entry.field if f.name == "value")
                kfd = next(f for f in entry.field if f.name == "key")
                if kfd.type != 9:
                    raise BuildError(f"{full_name}.{fd.name}: map keys that are not strings are not supported")
                value_type, type_name = vfd.type, vfd.type_name
            elif fd.label == 3:
                container = "l"
            kind, ref, ann = self._kind(value_type, type_name, package)
            if container == "l":
                ann = f"list[{ann}]"
            elif container == "m":
                ann = f"dict[str, {ann}]"
            out.append(FieldInfo(fd.name, fd.number, snake(key), key, (*prefix, fd.name), kind, container, ref,
                                 ann, doc))
        return out

    def _kind(self, t: int, type_name: str, package: str) -> tuple[str, str | None, str]:
        scalars = {9: ("s", "str"), 8: ("b", "bool"), 1: ("f", "float"), 2: ("f", "float"), 12: ("y", "bytes")}
        if t in scalars:
            code, ann = scalars[t]
            return code, None, ann
        if t in (3, 4, 5, 6, 7, 13, 15, 16, 17, 18):
            return "i", None, "int"
        if t != 11:
            raise BuildError(f"unsupported proto field type {t} ({type_name})")
        full = type_name.lstrip(".")
        if full in SPECIAL:
            code, ann = SPECIAL[full]
            ref = None
            if code.startswith("or"):
                ref = full.rsplit(".", 1)[0] + ".JSONSchemaProps"
            return code, ref, ann
        return "m", full, self.type_ref(full, package)

    def type_ref(self, full: str, package: str) -> str:
        pkg, _, name = full.rpartition(".")
        return name if pkg == package else f"{alias_of(pkg)}.{name}"

    # kinds and resources -------------------------------------------------------------------------------

    def package_groups(self) -> dict[str, str]:
        groups: dict[str, str] = {}
        for full, d in self.defs.items():
            for gvk in d.get("x-kubernetes-group-version-kind", []):
                for pkg_full in self.messages:
                    if swagger_name(pkg_full) == full and len(d["x-kubernetes-group-version-kind"]) == 1:
                        groups[self.package_of[pkg_full]] = gvk["group"]
        by_base: dict[str, str] = {}
        for pkg, group in groups.items():
            by_base[pkg.rsplit(".", 1)[0]] = group
        result = {}
        for pkg in sorted({self.package_of[m] for m in self.messages}):
            base = pkg.rsplit(".", 1)[0]
            if pkg in groups:
                result[pkg] = groups[pkg]
            elif base in by_base:
                result[pkg] = by_base[base]
            elif base in FALLBACK_GROUPS:
                result[pkg] = FALLBACK_GROUPS[base]
        return result

    def kinds(self) -> dict[str, list[tuple[str, str, str]]]:
        """message full name -> [(group, version, kind)]."""
        found: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        served: set[tuple[str, str]] = set()
        for full in sorted(self.messages):
            d = self.defs.get(swagger_name(full))
            if not d:
                continue
            for gvk in d.get("x-kubernetes-group-version-kind", []):
                found[full].append((gvk["group"], gvk["version"], gvk["kind"]))
                served.add((gvk["group"], gvk["kind"]))
        groups = self.package_groups()
        served_names = {kind for _, kind in served}
        for full in sorted(self.messages):
            pkg = self.package_of[full]
            name = full.rsplit(".", 1)[1]
            group = groups.get(pkg)
            version = pkg.rsplit(".", 1)[1]
            if group is None or found.get(full):
                continue
            # An unserved version of a served kind (apps/v1beta1 Deployment), or a kind served today
            # under another group (extensions/v1beta1 Ingress, apps/v1beta1 Scale).
            has_meta = any(fd.name == "metadata" for fd in self.messages[full].field)
            if (group, name) in served or (name in served_names and has_meta):
                found[full].append((group, version, name))
        for pkg, name, api_versions in EXTRA_KINDS:
            full = f"{pkg}.{name}"
            if full not in self.messages:
                raise BuildError(f"extra kind {full} is not in the protos")
            if api_versions is None:
                group = groups[pkg]
                api_versions = [f"{group}/{pkg.rsplit('.', 1)[1]}" if group else pkg.rsplit(".", 1)[1]]
            for av in api_versions:
                g, _, v = av.rpartition("/")
                if (g, v, name) not in found[full]:
                    found[full].append((g, v, name))
        return {k: sorted(set(v), key=lambda t: (t != ("", "v1", t[2]), t)) for k, v in found.items() if v}

    def resources(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """(group, version, plural) -> facts from the OpenAPI paths."""
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
                gvk = op.get("x-kubernetes-group-version-kind")
                action = op.get("x-kubernetes-action")
                if not gvk or not action:
                    continue
                r = res.setdefault((group, version, plural), {
                    "kind": None, "namespaced": False, "verbs": set(), "subs": {}})
                verb = ACTION_VERBS.get(action, action)
                if action == "connect":
                    verb = {"get": "get", "post": "create", "put": "update", "delete": "delete",
                            "patch": "patch", "head": "get", "options": "get"}.get(method, method)
                if sub is None:
                    r["verbs"].add(verb)
                    r["namespaced"] = r["namespaced"] or namespaced
                    if action in ("get", "list", "post", "put", "patch", "delete"):
                        if action in ("list",):
                            pass
                        elif r["kind"] is None:
                            r["kind"] = gvk["kind"]
                    if action == "list" and r["kind"] is None and gvk["kind"].endswith("List"):
                        r["kind"] = gvk["kind"][: -len("List")]
                else:
                    s = r["subs"].setdefault(sub, {"kind": gvk["kind"], "verbs": set()})
                    s["verbs"].add(verb)
        return res

    # rendering --------------------------------------------------------------------------------------

    def render(self) -> dict[str, str]:
        self.learn()
        kinds = self.kinds()
        resources = self.resources()
        by_kind: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}
        for (g, v, plural), r in resources.items():
            if r["kind"]:
                by_kind[(g, v, r["kind"])] = (plural, r)
        by_group_kind: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        for (g, _v, kind), pr in sorted(by_kind.items()):
            by_group_kind.setdefault((g, kind), pr)

        outputs: dict[str, str] = {}
        registry_kinds: dict[tuple[str, str], tuple[str, str]] = {}
        gv_modules: dict[str, str] = {}
        resource_rows: list[str] = []
        packages = sorted({f.package for f in self.fds.file})
        groups = self.package_groups()
        for pkg in packages:
            group = groups.get(pkg)
            if group is not None:
                v = pkg.rsplit(".", 1)[1]
                gv_modules[f"{group}/{v}" if group else v] = module_of(pkg)
        for f in sorted(self.fds.file, key=lambda f: f.name):
            text, kinds_here, res_here = self.render_file(f, kinds, by_kind, by_group_kind)
            rel = Path(*module_of(f.package).split(".")[1:]) / "__init__.py"
            outputs[str(Path("src") / "k8spb" / rel)] = text
            for full, gvks in kinds_here.items():
                for g, v, k in gvks:
                    av = f"{g}/{v}" if g else v
                    registry_kinds.setdefault((av, k), (module_of(f.package), full.rsplit(".", 1)[1]))
            resource_rows += res_here
        # intermediate packages
        for path in list(outputs):
            parts = Path(path).parts[1:-2]  # ("k8spb", "api", "core") under src/
            for i in range(2, len(parts) + 1):
                pkg_init = str(Path("src", *parts[:i]) / "__init__.py")
                if pkg_init not in outputs:
                    dotted = ".".join(parts[:i])
                    outputs[pkg_init] = (f"{self.header()}\"\"\"Generated namespace package "
                                         f"{dotted}.\"\"\"\n")
        outputs[str(Path("src") / "k8spb" / REGISTRY_FILE)] = self.render_registry(registry_kinds, gv_modules,
                                                                           resource_rows)
        return outputs

    def header(self) -> str:
        return (f"# Generated by k8spb build.py from the Kubernetes {self.version} .proto files and "
                "OpenAPI document.\n# Do not edit: changes are lost when build.py runs again.\n")

    def render_file(self, f: Any, kinds: dict[str, list[tuple[str, str, str]]],
                    by_kind: dict[tuple[str, str, str], tuple[str, dict[str, Any]]],
                    by_group_kind: dict[tuple[str, str], tuple[str, dict[str, Any]]],
                    ) -> tuple[str, dict[str, list[tuple[str, str, str]]], list[str]]:
        from google.protobuf import descriptor_pb2

        pkg = f.package
        stripped = descriptor_pb2.FileDescriptorProto()
        stripped.CopyFrom(f)
        stripped.ClearField("source_code_info")
        blob = stripped.SerializeToString(deterministic=True)

        go_package = f.options.go_package or pkg
        lines: list[str] = [self.header(), f'"""Models of the Kubernetes Go package {go_package}."""\n',
                            "from __future__ import annotations\n",
                            "import builtins  # noqa: F401",
                            "import datetime  # noqa: F401",
                            "from dataclasses import dataclass",
                            "from typing import Any, TypeAlias  # noqa: F401\n",
                            "from k8spb._schema import Model, load_descriptor, model, resolve_module",
                            "from k8spb._traits import (  # noqa: F401",
                            "    HasConditions, HasKind, HasMetadata, HasSpec, HasStatus, ListResource, Resource,",
                            "    SubResource,",
                            ")"]
        for dep in f.dependency:
            dep_pkg = self.files[dep].package
            parent, _, last = module_of(dep_pkg).rpartition(".")
            lines.append(f"from {parent} import {last} as {alias_of(dep_pkg)}  # noqa: F401")
        lines.append("")
        lines.append(f"load_descriptor({blob!r})\n")

        names: list[str] = []
        aliases: list[str] = []
        kinds_here: dict[str, list[tuple[str, str, str]]] = {}
        res_rows: list[str] = []
        body: list[str] = []
        msg_names = {m.name for m in f.message_type}
        for mi, m in enumerate(f.message_type):
            full = f"{pkg}.{m.name}"
            if full in SPECIAL:
                ann = SPECIAL[full][1]
                aliases.append(f"{m.name}: TypeAlias = {ann}")
                aliases.append(f'"""{m.name} in its JSON form."""')
                continue
            names.append(m.name)
            doc = one_line(self.docs[f.name].get((4, mi), "")) or f"{m.name}."
            fields = self.field_infos(full)
            seen: dict[str, str] = {}
            for fi in fields:
                if fi.attr in seen:
                    raise BuildError(f"{full}: JSON keys {seen[fi.attr]!r} and {fi.key!r} both map to "
                                     f"attribute {fi.attr!r}")
                seen[fi.attr] = fi.key
            bases: list[str] = ["Model"]
            cls_attrs: list[str] = []
            gvks = kinds.get(full, [])
            by_name = {fi.attr: fi for fi in fields}
            if gvks:
                kinds_here[full] = gvks
                g, v, k = gvks[0]
                if pkg.startswith("k8s.io.apimachinery.pkg.apis.meta.") and ("", "v1", k) in gvks:
                    g, v = "", "v1"
                elif pkg.startswith("k8s.io.apimachinery.pkg.apis.meta."):
                    g, v = "meta.k8s.io", pkg.rsplit(".", 1)[1]
                av = f"{g}/{v}" if g else v
                cls_attrs += [f"api_version = {av!r}", f"group = {g!r}", f"version = {v!r}", f"kind = {k!r}"]
                res = by_kind.get((g, v, k)) or by_group_kind.get((g, k))
                items = by_name.get("items")
                meta = by_name.get("metadata")
                if (k.endswith("List") and items is not None and items.container == "l" and items.kind == "m"
                        and meta is not None and meta.ref and meta.ref.endswith(".ListMeta")):
                    item_name = items.ref.rsplit(".", 1)[1] if items.ref else "Any"
                    bases.append(f'ListResource["{self.type_ref(items.ref or "", pkg)}"]')
                    cls_attrs.append(f"item_kind = {item_name!r}")
                elif res is not None:
                    plural, r = res
                    bases.append("Resource")
                    list_kind = k + "List" if (k + "List") in msg_names else ""
                    verbs = tuple(sorted(r["verbs"], key=VERB_ORDER.index if all(
                        x in VERB_ORDER for x in r["verbs"]) else str))
                    subs = ", ".join(
                        f"SubResource({s!r}, {sd['kind']!r}, {tuple(sorted(sd['verbs']))!r})"
                        for s, sd in sorted(r["subs"].items()))
                    cls_attrs += [f"plural = {plural!r}", f"namespaced = {r['namespaced']!r}",
                                  f"list_kind = {list_kind!r}", f"verbs = {verbs!r}",
                                  f"subresources = ({subs}{',' if r['subs'] else ''})"]
                    if (g, v, k) in by_kind:
                        res_rows.append(repr((g, v, plural, k, module_of(pkg), m.name, r["namespaced"],
                                              verbs, tuple(sorted(r["subs"])))))
                else:
                    bases.append("HasKind")
            if (meta := by_name.get("metadata")) is not None and meta.ref and meta.ref.endswith("meta.v1.ObjectMeta"):
                bases.append("HasMetadata")
            for trait, attr in (("HasSpec", "spec"), ("HasStatus", "status")):
                fi = by_name.get(attr)
                if fi is not None and fi.kind == "m" and fi.container == "" and fi.ref:
                    bases.append(f'{trait}["{self.type_ref(fi.ref, pkg)}"]')
                    if attr == "status":
                        st = {x.attr: x for x in self.field_infos(fi.ref)}
                        cond = st.get("conditions")
                        if cond is not None and cond.container == "l" and cond.kind == "m" and cond.ref:
                            bases.append(f'HasConditions["{self.type_ref(cond.ref, pkg)}"]')
            taken = set().union(*(TRAIT_NAMES.get(b.split("[")[0], set()) for b in bases))
            for fi in fields:
                if fi.attr in taken:
                    raise BuildError(f"{full}: field {fi.attr!r} collides with a trait attribute")
            specs = ", ".join(
                repr((fi.attr, fi.key, ".".join(fi.path), fi.kind, fi.container, fi.ref)) for fi in fields)
            body.append("")
            body.append("")
            body.append(f"@model({full!r}, ({specs}{',' if len(fields) == 1 else ''}))")
            body.append("@dataclass(eq=True, repr=False, kw_only=True)")
            body.append(f"class {m.name}({', '.join(bases)}):")
            body.append(f"    {_docstring(doc)}")
            if cls_attrs:
                body.append("")
                body += [f"    {a}" for a in cls_attrs]
            if fields:
                body.append("")
            shadowed = {fi.attr for fi in fields} & BUILTIN_TYPES
            for fi in fields:
                ann = fi.annotation
                if shadowed:  # a field named `int` hides the builtin inside the class body
                    ann = re.sub(r"(?<![.\w])(" + "|".join(sorted(shadowed)) + r")\b", r"builtins.\1", ann)
                body.append(f"    {fi.attr}: {ann} | None = None")
                if fi.doc:
                    body.append(f"    {_docstring(fi.doc)}")
        lines.append(f"__all__ = {sorted(names + [a.split(':')[0] for a in aliases if ':' in a])!r}")
        lines += body
        if names:
            lines.append("")
            lines.append("")
            lines.append(f"resolve_module({[f'{pkg}.{n}' for n in names]!r})")
        if aliases:
            lines.append("")
            lines += aliases
        text = "\n".join(lines) + "\n"
        return text, kinds_here, res_rows

    def render_registry(self, kinds: dict[tuple[str, str], tuple[str, str]], gv_modules: dict[str, str],
                        resource_rows: list[str]) -> str:
        out = [self.header(), '"""Registry of kinds and resources (data only; read by k8spb._registry)."""\n',
               f"KUBERNETES_VERSION = {self.version!r}\n",
               "# (apiVersion, kind) -> (module, class name)",
               "KINDS: dict[tuple[str, str], tuple[str, str]] = {"]
        out += [f"    {k!r}: {v!r}," for k, v in sorted(kinds.items())]
        out += ["}\n", "# apiVersion -> module of its Go package",
                "GROUP_VERSIONS: dict[str, str] = {"]
        out += [f"    {k!r}: {v!r}," for k, v in sorted(gv_modules.items())]
        out += ["}\n", "# (group, version, plural, kind, module, class, namespaced, verbs, subresources)",
                "RESOURCES: tuple[",
                "    tuple[str, str, str, str, str, str, bool, tuple[str, ...], tuple[str, ...]], ...",
                "] = ("]
        out += [f"    {row}," for row in sorted(resource_rows)]
        out += [")"]
        return "\n".join(out) + "\n"


def _docstring(text: str) -> str:
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if text.endswith('"'):
        text += " "
    return f'"""{text}"""'


# ---------------------------------------------------------------------------------------------------------
# Writing and checking


def existing_outputs() -> dict[str, str]:
    found = {}
    for top in GENERATED_TOPS:
        base = OUT_PACKAGE / top
        if base.is_dir():
            for p in sorted(base.rglob("*.py")):
                found[str(p.relative_to(ROOT))] = p.read_text()
    reg = OUT_PACKAGE / REGISTRY_FILE
    if reg.exists():
        found[str(reg.relative_to(ROOT))] = reg.read_text()
    return found


def generate(protos: str | None = None, openapi: str | None = None) -> tuple[dict[str, str], list[str]]:
    root, doc = find_inputs(protos, openapi)
    pin = check_pin(root, doc)
    fds = compile_protos(root)
    swagger = json.loads(doc.read_text())
    gen = Generator(fds, swagger, pin["kubernetes"])
    return gen.render(), gen.warnings


def write(outputs: dict[str, str]) -> int:
    import shutil

    for top in GENERATED_TOPS:
        shutil.rmtree(OUT_PACKAGE / top, ignore_errors=True)
    for rel, text in sorted(outputs.items()):
        path = ROOT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return len(outputs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--protos", help="proto import root (holding k8s.io/...)")
    parser.add_argument("--openapi", help="the matching OpenAPI (swagger.json) document")
    parser.add_argument("--check", action="store_true", help="fail when the generated code is stale")
    parser.add_argument("-v", "--verbose", action="store_true", help="print generator warnings")
    args = parser.parse_args(argv)
    try:
        outputs, warnings = generate(args.protos, args.openapi)
    except BuildError as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 2
    if args.verbose:
        for w in warnings:
            print(f"build.py: warning: {w}", file=sys.stderr)
    if args.check:
        current = existing_outputs()
        stale = sorted(set(outputs) ^ set(current) | {k for k in outputs if current.get(k) != outputs[k]})
        if stale:
            print(f"build.py: generated code is stale or missing ({len(stale)} files, e.g. {stale[0]}); "
                  "run `python build.py`", file=sys.stderr)
            return 1
        print(f"build.py: {len(outputs)} generated files are up to date")
        return 0
    n = write(outputs)
    print(f"build.py: wrote {n} files under src/k8spb/")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["BuildError", "Generator", "check_pin", "compute_pin", "find_inputs", "generate", "main", "snake"]
