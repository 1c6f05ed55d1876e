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

_SHORT = {"po": "pods", "svc": "services", "deploy": "deployments", "ns": "namespaces", "no": "nodes",
          "cm": "configmaps", "rs": "replicasets", "ds": "daemonsets", "sts": "statefulsets", "sa": "serviceaccounts",
          "pv": "persistentvolumes", "pvc": "persistentvolumeclaims", "ing": "ingresses", "ep": "endpoints",
          "crd": "customresourcedefinitions", "cj": "cronjobs", "hpa": "horizontalpodautoscalers",
          "pdb": "poddisruptionbudgets", "netpol": "networkpolicies", "sc": "storageclasses", "ev": "events"}


def _resolve(client: Client, name: str) -> tuple[type[Any], ResourceRef | None]:
    lname = _SHORT.get(name.lower(), name.lower())
    for group, version, plural, kind, *_ in resources():
        if lname in (plural, kind.lower(), f"{plural}.{group}") and "alpha" not in version and "beta" not in version:
            return class_for(f"{group}/{version}" if group else version, kind), None
    return DynamicObject, discover(client).resolve(name)


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
    get.add_argument("resource", help="kind or plural, e.g. pods, deployments.apps, Node")
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
            model, ref = _resolve(client, args.resource)
            namespace = None if args.all_namespaces else (args.namespace or config.namespace)
            api: Api[Any] = Api(client, model, namespace, resource=ref)
            objs = [api.get(args.name)] if args.name else list(api.list_all(label_selector=args.selector))
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
            print(f"{type(o).__name__.lower() if not isinstance(o, DynamicObject) else o.kind.lower()}/"
                  f"{o.metadata.name}")
    else:
        rows: list[tuple[str, ...]] = [("NAMESPACE", "NAME", "AGE")] if args.all_namespaces else [("NAME", "AGE")]
        for o in objs:
            meta = o.metadata
            row = (meta.name or "", _age(meta.creation_timestamp))
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
