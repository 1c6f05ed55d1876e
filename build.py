#!/usr/bin/env python3
"""Generate k8spb's models from the committed schema snapshot (protos/schema.json).

Run by the build backend (build_backend.py) at install time, or by hand::

    python build.py                 # generate into src/k8spb/
    python build.py --check         # exit 1 when the generated code is missing or stale

The snapshot holds the facts of the pinned Kubernetes release (messages, fields, JSON keys, kinds,
resources); ``tools/refresh_schema.py`` writes it from an upstream tree. Nothing else is needed, so a
fresh clone builds on its own. When the upstream ``.proto`` files of exactly that release are found
(``K8SPB_PROTOS``, else ``../shared/kubernetes/protos``), their comments become the models'
docstrings; they are never committed.

Output (gitignored, deterministic for the same inputs): one module per Kubernetes Go package under
``src/k8spb/`` holding the serialized descriptor and the dataclass models, and
``src/k8spb/_generated_kinds.py`` (the kind and resource registry).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import keyword
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
SNAPSHOT = ROOT / "protos" / "schema.json"
SRC = ROOT / "src"
OUT_PACKAGE = SRC / "k8spb"
GENERATED_TOPS = ("api", "apimachinery", "apiextensions_apiserver", "kube_aggregator")
REGISTRY_FILE = "_generated_kinds.py"
SNAPSHOT_FORMAT = 1


class BuildError(Exception):
    """A problem with the build inputs, reported without a traceback."""


# ---------------------------------------------------------------------------------------------------------
# Inputs


def load_snapshot(path: Path = SNAPSHOT) -> dict[str, Any]:
    try:
        snap: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise BuildError(f"schema snapshot {path} is missing (it is committed; restore it with git, or write "
                         "it from an upstream tree with tools/refresh_schema.py)") from None
    except ValueError as exc:
        raise BuildError(f"schema snapshot {path} is not valid JSON: {exc}") from None
    if snap.get("format") != SNAPSHOT_FORMAT:
        raise BuildError(f"schema snapshot {path} has format {snap.get('format')!r}; this build.py reads "
                         f"format {SNAPSHOT_FORMAT}")
    return snap


def upstream_comments(snap: dict[str, Any]) -> dict[tuple[str, ...], str]:
    """Comments of the upstream .proto files, when exactly the snapshot's files are found; else {}.

    Keys: ``(message full name,)`` and ``(message full name, field name)``.
    """
    env = os.environ.get("K8SPB_PROTOS")
    root = Path(env) if env else ROOT.parent / "shared" / "kubernetes" / "protos"
    pinned: dict[str, str] = snap["sources"]["protos"]
    try:
        for name, digest in pinned.items():
            if hashlib.sha256((root / name).read_bytes()).hexdigest() != digest:
                return {}
    except OSError:
        return {}
    comments: dict[tuple[str, ...], str] = {}
    packages = {f["name"]: f["package"] for f in snap["files"]}
    for name in sorted(pinned):
        comments.update(parse_comments((root / name).read_text(), packages[name]))
    return comments


_MESSAGE = re.compile(r"\s*message\s+(\w+)\s*\{")
_FIELD = re.compile(r"\s*(?:optional\s+|repeated\s+|required\s+)?(?:map\s*<[^>]*>|[\w.]+)\s+(\w+)\s*=\s*\d+")


def parse_comments(text: str, package: str) -> dict[tuple[str, ...], str]:
    """The ``//`` comment block right above each message and field of a .proto file."""
    out: dict[tuple[str, ...], str] = {}
    stack: list[str] = []
    block: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("//"):
            block.append(s[2:])
            continue
        m = _MESSAGE.match(line)
        if m:
            stack.append(m.group(1))
            if len(stack) == 1 and block:
                out[(f"{package}.{m.group(1)}",)] = "\n".join(block)
        elif s.startswith("}"):
            if stack:
                stack.pop()
        elif len(stack) == 1 and (f := _FIELD.match(line)) and block:
            out[(f"{package}.{stack[0]}", f.group(1))] = "\n".join(block)
        block = []
    return out


# ---------------------------------------------------------------------------------------------------------
# Descriptors: the snapshot's files as protoc would describe them (byte for byte)

SCALAR_TYPES = {"double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "fixed64": 6, "fixed32": 7,
                "bool": 8, "string": 9, "bytes": 12, "uint32": 13, "sfixed32": 15, "sfixed64": 16,
                "sint32": 17, "sint64": 18}


def json_name(name: str) -> str:
    """protoc's default JSON name of a field (underscores dropped, the next letter upper-cased)."""
    out, upper = [], False
    for c in name:
        if c == "_":
            upper = True
        else:
            out.append(c.upper() if upper else c)
            upper = False
    return "".join(out)


def map_entry_name(field: str) -> str:
    """protoc's name of the nested entry message of a map field."""
    return json_name(field)[:1].upper() + json_name(field)[1:] + "Entry"


def split_type(type_: str) -> tuple[str, str, str]:
    """(container, key type, value type): ``string`` -> ("", "", "string"), ``[]pkg.Msg`` -> ("l", "", "pkg.Msg"),
    ``map[string]int32`` -> ("m", "string", "int32")."""
    if type_.startswith("[]"):
        return "l", "", type_[2:]
    if type_.startswith("map["):
        key, _, value = type_[4:].partition("]")
        return "m", key, value
    return "", "", type_


def file_descriptors(snap: dict[str, Any]) -> list[Any]:
    """FileDescriptorProtos for every file of the snapshot."""
    from google.protobuf import descriptor_pb2

    FD = descriptor_pb2.FieldDescriptorProto

    def set_type(fd: Any, type_: str) -> None:
        if type_ in SCALAR_TYPES:
            fd.type = SCALAR_TYPES[type_]
        else:
            fd.type = FD.TYPE_MESSAGE
            fd.type_name = "." + type_

    out = []
    for f in snap["files"]:
        fp = descriptor_pb2.FileDescriptorProto(name=f["name"], package=f["package"])
        fp.dependency.extend(f["dependencies"])
        for m in f["messages"]:
            mp = fp.message_type.add(name=m["name"])
            entries = []
            for name, number, type_, _key in m["fields"]:
                container, key_type, value_type = split_type(type_)
                fd = mp.field.add(name=name, number=number, json_name=json_name(name))
                fd.label = FD.LABEL_REPEATED if container else FD.LABEL_OPTIONAL
                if container == "m":
                    entry = map_entry_name(name)
                    fd.type = FD.TYPE_MESSAGE
                    fd.type_name = f".{f['package']}.{m['name']}.{entry}"
                    entries.append((entry, key_type, value_type))
                else:
                    set_type(fd, value_type)
            for entry, key_type, value_type in entries:
                ep = mp.nested_type.add(name=entry)
                for n, (fname, t) in enumerate((("key", key_type), ("value", value_type)), 1):
                    efd = ep.field.add(name=fname, number=n, json_name=fname, label=FD.LABEL_OPTIONAL)
                    set_type(efd, t)
                ep.options.map_entry = True
        fp.options.go_package = f["go_package"]
        out.append(fp)
    return out


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

BUILTIN_TYPES = {"int", "str", "bool", "float", "bytes", "list", "dict"}
TRAIT_NAMES = {
    "Model": {"to_dict", "from_dict", "from_pb_bytes"},
    "HasKind": {"api_version", "group", "version", "kind"},
    "Resource": {"api_version", "group", "version", "kind", "plural", "namespaced", "list_kind", "verbs",
                 "subresources", "short_names", "categories", "url_path"},
    "ListResource": {"item_kind", "resource_version", "continue_token"},
    "HasConditions": {"conditions", "find_condition", "condition_is_true", "condition_since"},
}
_SCALAR_KINDS = {"string": ("s", "str"), "bool": ("b", "bool"), "double": ("f", "float"), "float": ("f", "float"),
                 "bytes": ("y", "bytes")}


@dataclass
class FieldInfo:
    proto_name: str
    attr: str
    key: str
    path: tuple[str, ...]
    kind: str  # s i b f y m or a SPECIAL code
    container: str  # "", "l", "m"
    ref: str | None  # proto full name of the model type
    annotation: str
    doc: str


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


def module_of(package: str) -> str:
    return "k8spb." + package[len("k8s.io."):]


def alias_of(package: str) -> str:
    return "_" + package[len("k8s.io."):].replace(".", "_")


class Generator:
    """Turns the schema snapshot into Python sources."""

    def __init__(self, snap: dict[str, Any], comments: dict[tuple[str, ...], str] | None = None) -> None:
        self.snap = snap
        self.version: str = snap["kubernetes"]
        self.comments = comments or {}
        self.files: dict[str, dict[str, Any]] = {f["name"]: f for f in snap["files"]}
        self.descriptors = {fp.name: fp for fp in file_descriptors(snap)}
        self.messages: dict[str, dict[str, Any]] = {}
        self.package_of: dict[str, str] = {}
        for f in snap["files"]:
            for m in f["messages"]:
                full = f"{f['package']}.{m['name']}"
                self.messages[full] = m
                self.package_of[full] = f["package"]

    # fields ---------------------------------------------------------------------------------------

    def field_infos(self, full_name: str, prefix: tuple[str, ...] = ()) -> list[FieldInfo]:
        msg = self.messages[full_name]
        package = self.package_of[full_name]
        out: list[FieldInfo] = []
        for name, _number, type_, key in msg["fields"]:
            container, _key_type, value_type = split_type(type_)
            if key is None:
                out += self.field_infos(value_type, (*prefix, name))
                continue
            if container == "m" and _key_type != "string":
                raise BuildError(f"{full_name}.{name}: map keys that are not strings are not supported")
            kind, ref, ann = self._kind(value_type, package)
            if container == "l":
                ann = f"list[{ann}]"
            elif container == "m":
                ann = f"dict[str, {ann}]"
            doc = one_line(self.comments.get((full_name, name), ""))
            out.append(FieldInfo(name, snake(key), key, (*prefix, name), kind, container, ref, ann, doc))
        return out

    def _kind(self, type_: str, package: str) -> tuple[str, str | None, str]:
        if type_ in _SCALAR_KINDS:
            code, ann = _SCALAR_KINDS[type_]
            return code, None, ann
        if type_ in SCALAR_TYPES:
            return "i", None, "int"
        if type_ in SPECIAL:
            code, ann = SPECIAL[type_]
            ref = type_.rsplit(".", 1)[0] + ".JSONSchemaProps" if code.startswith("or") else None
            return code, ref, ann
        if type_ not in self.messages:
            raise BuildError(f"unknown message type {type_}")
        return "m", type_, self.type_ref(type_, package)

    def type_ref(self, full: str, package: str) -> str:
        pkg, _, name = full.rpartition(".")
        return name if pkg == package else f"{alias_of(pkg)}.{name}"

    # rendering --------------------------------------------------------------------------------------

    def render(self) -> dict[str, str]:
        by_kind: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in self.snap["resources"]:  # sorted by (group, version, plural): the last plural of a kind wins
            by_kind[(r["group"], r["version"], r["kind"])] = r
        by_group_kind: dict[tuple[str, str], dict[str, Any]] = {}
        for (g, _v, kind), r in sorted(by_kind.items()):
            by_group_kind.setdefault((g, kind), r)

        outputs: dict[str, str] = {}
        registry_kinds: dict[tuple[str, str], tuple[str, str]] = {}
        gv_modules: dict[str, str] = {}
        resource_rows: list[str] = []
        for f in self.snap["files"]:
            if "group" in f:
                group, v = f["group"], f["package"].rsplit(".", 1)[1]
                gv_modules[f"{group}/{v}" if group else v] = module_of(f["package"])
        for f in sorted(self.snap["files"], key=lambda f: f["name"]):
            text, kinds_here, res_here = self.render_file(f, by_kind, by_group_kind)
            rel = Path(*module_of(f["package"]).split(".")[1:]) / "__init__.py"
            outputs[str(Path("src") / "k8spb" / rel)] = text
            for full, gvks in kinds_here.items():
                for g, v, k in gvks:
                    av = f"{g}/{v}" if g else v
                    registry_kinds.setdefault((av, k), (module_of(f["package"]), full.rsplit(".", 1)[1]))
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
        return (f"# Generated by k8spb build.py from the schema snapshot of Kubernetes {self.version} "
                "(protos/schema.json).\n# Do not edit: changes are lost when build.py runs again.\n")

    def render_file(self, f: dict[str, Any], by_kind: dict[tuple[str, str, str], dict[str, Any]],
                    by_group_kind: dict[tuple[str, str], dict[str, Any]],
                    ) -> tuple[str, dict[str, list[tuple[str, str, str]]], list[str]]:
        pkg = f["package"]
        blob = self.descriptors[f["name"]].SerializeToString(deterministic=True)

        lines: list[str] = [self.header(), f'"""Models of the Kubernetes Go package {f["go_package"] or pkg}."""\n',
                            "from __future__ import annotations\n",
                            "import builtins  # noqa: F401",
                            "import datetime  # noqa: F401",
                            "from typing import Any, TypeAlias  # noqa: F401\n",
                            "from k8spb._schema import Model, load_descriptor, model, model_class, resolve_module",
                            "from k8spb._traits import (  # noqa: F401",
                            "    HasConditions, HasKind, HasMetadata, HasSpec, HasStatus, ListResource, Resource,",
                            "    SubResource,",
                            ")"]
        for dep in f["dependencies"]:
            dep_pkg = self.files[dep]["package"]
            parent, _, last = module_of(dep_pkg).rpartition(".")
            lines.append(f"from {parent} import {last} as {alias_of(dep_pkg)}  # noqa: F401")
        lines.append("")
        lines.append(f"load_descriptor({blob!r})\n")

        names: list[str] = []
        aliases: list[str] = []
        kinds_here: dict[str, list[tuple[str, str, str]]] = {}
        res_rows: list[str] = []
        body: list[str] = []
        msg_names = {m["name"] for m in f["messages"]}
        for m in f["messages"]:
            full = f"{pkg}.{m['name']}"
            if full in SPECIAL:
                aliases.append(f"{m['name']}: TypeAlias = {SPECIAL[full][1]}")
                aliases.append(f'"""{m["name"]} in its JSON form."""')
                continue
            names.append(m["name"])
            doc = one_line(self.comments.get((full,), "")) or f"{m['name']}."
            fields = self.field_infos(full)
            seen: dict[str, str] = {}
            for fi in fields:
                if fi.attr in seen:
                    raise BuildError(f"{full}: JSON keys {seen[fi.attr]!r} and {fi.key!r} both map to "
                                     f"attribute {fi.attr!r}")
                seen[fi.attr] = fi.key
            bases: list[str] = ["Model"]
            cls_attrs: list[str] = []
            gvks = [(g, v, k) for g, v, k in m.get("kinds", ())]
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
                    bases += ["HasKind", f'ListResource["{self.type_ref(items.ref or "", pkg)}"]']
                    cls_attrs.append(f"item_kind = {item_name!r}")
                elif res is not None:
                    bases.append("Resource")
                    list_kind = k + "List" if (k + "List") in msg_names else ""
                    verbs = tuple(res["verbs"])
                    subs = ", ".join(f"SubResource({s!r}, {sk!r}, {tuple(sv)!r})" for s, sk, sv in res["subresources"])
                    cls_attrs += [f"plural = {res['plural']!r}", f"namespaced = {res['namespaced']!r}",
                                  f"list_kind = {list_kind!r}", f"verbs = {verbs!r}",
                                  f"subresources = ({subs}{',' if res['subresources'] else ''})",
                                  f"short_names = {tuple(res['short_names'])!r}",
                                  f"categories = {tuple(res['categories'])!r}"]
                    if (g, v, k) in by_kind:
                        res_rows.append(repr((g, v, res["plural"], k, module_of(pkg), m["name"], res["namespaced"],
                                              verbs, tuple(s for s, _, _ in res["subresources"]),
                                              tuple(res["short_names"]), tuple(res["categories"]))))
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
            body.append("@model_class")
            body.append(f"class {m['name']}({', '.join(bases)}):")
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
        out += ["}\n",
                "# (group, version, plural, kind, module, class, namespaced, verbs, subresources, short names,",
                "#  categories)",
                "RESOURCES: tuple[",
                "    tuple[str, str, str, str, str, str, bool, tuple[str, ...], tuple[str, ...], tuple[str, ...],",
                "          tuple[str, ...]], ...",
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


def generate(snapshot: Path = SNAPSHOT, *, docstrings: bool = True) -> dict[str, str]:
    snap = load_snapshot(snapshot)
    return Generator(snap, upstream_comments(snap) if docstrings else None).render()


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
    parser.add_argument("--snapshot", default=str(SNAPSHOT), help="the schema snapshot to build from")
    parser.add_argument("--no-docstrings", action="store_true",
                        help="leave out upstream comments even when the upstream protos are found")
    parser.add_argument("--check", action="store_true", help="fail when the generated code is stale")
    args = parser.parse_args(argv)
    try:
        outputs = generate(Path(args.snapshot), docstrings=not args.no_docstrings)
    except BuildError as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 2
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


__all__ = ["BuildError", "Generator", "file_descriptors", "generate", "load_snapshot", "main", "snake"]
