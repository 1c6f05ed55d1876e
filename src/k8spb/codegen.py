"""Typed classes from a CustomResourceDefinition: ``python -m k8spb.codegen crd.yaml [-o widgets.py]``.

``--from-server NAME`` reads the CRD from the cluster of the current kubeconfig context instead of a
file; ``--version V`` (repeatable) keeps only those versions. See :mod:`k8spb._codegen`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from k8spb._codegen import generate

__all__ = ["generate", "main"]


def _from_file(path: str, name: str | None) -> dict[str, Any]:
    from k8spb._codec import decode_all

    text = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    crds = [o.to_dict() for o in decode_all(text) if getattr(type(o), "kind", None) == "CustomResourceDefinition"]
    if name is not None:
        crds = [c for c in crds if (c.get("metadata") or {}).get("name") == name]
    if len(crds) != 1:
        found = "no CustomResourceDefinition" if not crds else f"{len(crds)} CustomResourceDefinitions"
        raise ValueError(f"{path} holds {found}{f' named {name!r}' if name else ''}; "
                         + ("pick one with --name" if crds else "give a CRD manifest"))
    return crds[0]


def _from_server(name: str, kubeconfig: str | None, context: str | None) -> dict[str, Any]:
    from k8spb._api import Api
    from k8spb._client import Client
    from k8spb._config import Config
    from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import CustomResourceDefinition

    config = (Config.from_kubeconfig(kubeconfig, context=context) if kubeconfig or context else Config.infer())
    with Client(config) as client:
        return Api(client, CustomResourceDefinition).get(name).to_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m k8spb.codegen", description=__doc__.split("\n\n")[0])
    parser.add_argument("crd", nargs="?", help="a file holding the CRD (YAML or JSON; - for stdin)")
    parser.add_argument("--from-server", metavar="NAME", help="read the CRD NAME (plural.group) from the cluster")
    parser.add_argument("--name", help="the CRD to use when the file holds several")
    parser.add_argument("--version", action="append", help="generate this served version only (repeatable)")
    parser.add_argument("-o", "--output", help="write the module here instead of to stdout")
    parser.add_argument("--kubeconfig")
    parser.add_argument("--context")
    args = parser.parse_args(argv)
    if (args.crd is None) == (args.from_server is None):
        parser.error("give a CRD file or --from-server NAME (one of them)")
    from k8spb._errors import Error

    try:
        if args.from_server:
            crd = _from_server(args.from_server, args.kubeconfig, args.context)
            source = f"the cluster's {args.from_server}"
        else:
            crd, source = _from_file(args.crd, args.name), Path(args.crd).name
        code = generate(crd, source=source, versions=args.version)
    except (Error, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_text(code)
    else:
        sys.stdout.write(code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
