"""A small kubectl-like command line: ``python -m k8spb get pods -A -o yaml``."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

import yaml

from k8spb._api import Api
from k8spb._client import Client
from k8spb._config import Config
from k8spb._discovery import discover
from k8spb._dynamic import DynamicObject
from k8spb._errors import Error
from k8spb._registry import class_for, resources
from k8spb._request import ResourceRef

Target = tuple[type[Any], ResourceRef | None]


def _builtin(name: str) -> Target | None:
    """A built-in resource by plural, singular, short name, kind or ``plural.group``: no round trip."""
    lname = name.lower()
    for group, version, plural, kind, _module, _cls, _ns, verbs, _subs, short, _cats in resources():
        if "alpha" in version or "beta" in version or "list" not in verbs:
            continue
        if lname in (plural, kind.lower(), f"{plural}.{group}", f"{kind.lower()}.{group}") or lname in short:
            return class_for(f"{group}/{version}" if group else version, kind), None
    return None


def _targets(client: Client, name: str) -> tuple[list[Target], bool]:
    """What ``name`` means, as kubectl reads it: a resource (built-in or discovered), else a category (True)."""
    found = _builtin(name)
    if found is not None:
        return [found], False
    disc = discover(client)
    category = False
    try:
        refs = [disc.resolve(name)]
    except LookupError:
        refs = [r for r in disc.category(name) if "list" in r.verbs]
        if not refs:
            raise
        category = True
    out: list[Target] = []
    for ref in refs:
        typed = _builtin(f"{ref.plural}.{ref.group}" if ref.group else ref.plural) if ref.protobuf else None
        out.append(typed if typed is not None and typed[0].api_version == ref.api_version else (DynamicObject, ref))
    return out, category


def _name_of(obj: Any) -> str:
    kind = obj.kind if isinstance(obj, DynamicObject) else type(obj).kind
    group = obj.api_version.rpartition("/")[0] if isinstance(obj, DynamicObject) else type(obj).group
    return f"{kind.lower()}{'.' + group if group else ''}/{obj.metadata.name}"


def _age(created: Any) -> str:
    if not isinstance(created, datetime.datetime):
        return "<unknown>"
    secs = int((datetime.datetime.now(datetime.UTC) - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{max(secs, 0)}s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m k8spb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("get", help="list or get objects")
    get.add_argument("resource", help="plural, singular, short name or kind (pods, deploy, deployments.apps, "
                     "Node), or a category (all)")
    get.add_argument("name", nargs="?")
    get.add_argument("-n", "--namespace")
    get.add_argument("-A", "--all-namespaces", action="store_true")
    get.add_argument("-l", "--selector", help="label selector")
    get.add_argument("-o", "--output", choices=("wide", "yaml", "json", "name"), default=None)
    get.add_argument("--kubeconfig")
    get.add_argument("--context")
    args = parser.parse_args(argv)
    try:
        config = (Config.from_kubeconfig(args.kubeconfig, context=args.context) if args.kubeconfig or args.context
                  else Config.infer())
        with Client(config) as client:
            targets, category = _targets(client, args.resource)
            if args.name and len(targets) > 1:
                raise ValueError(f"{args.resource!r} names {len(targets)} resources; give one to get by name")
            namespace = None if args.all_namespaces else (args.namespace or config.namespace)
            objs: list[Any] = []
            for model, ref in targets:
                api: Api[Any] = Api(client, model, namespace, resource=ref)
                objs += [api.get(args.name)] if args.name else list(api.list_all(label_selector=args.selector))
    except (Error, LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    docs = [o.to_dict() for o in objs]
    if args.output == "json":
        out = docs[0] if args.name else {"apiVersion": "v1", "kind": "List", "items": docs}
        print(json.dumps(out, indent=2))
    elif args.output == "yaml":
        out = docs[0] if args.name else {"apiVersion": "v1", "kind": "List", "items": docs}
        print(yaml.safe_dump(out, sort_keys=True), end="")
    elif args.output == "name":
        for o in objs:
            print(_name_of(o))
    else:
        rows: list[tuple[str, ...]] = [("NAMESPACE", "NAME", "AGE")] if args.all_namespaces else [("NAME", "AGE")]
        for o in objs:
            meta = o.metadata
            row = (_name_of(o) if category else meta.name or "", _age(meta.creation_timestamp))
            rows.append((meta.namespace or "", *row) if args.all_namespaces else row)
        if len(rows) == 1:
            print("No resources found.", file=sys.stderr)
            return 0
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
