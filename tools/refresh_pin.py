#!/usr/bin/env python3
"""Write protos/pin.json from a Kubernetes proto tree and its OpenAPI document.

    python tools/refresh_pin.py --kubernetes 1.36.2 [--protos DIR] [--openapi FILE]

Run it when moving k8spb to another Kubernetes release, then rebuild (python build.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _build_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("k8spb_build", ROOT / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="refresh protos/pin.json")
    parser.add_argument("--kubernetes", required=True, help="the Kubernetes version of the inputs, e.g. 1.36.2")
    parser.add_argument("--protos", help="proto import root (default: as build.py finds it)")
    parser.add_argument("--openapi", help="OpenAPI document (default: as build.py finds it)")
    args = parser.parse_args(argv)
    build = _build_module()
    try:
        root, doc = build.find_inputs(args.protos, args.openapi)
    except build.BuildError as exc:
        print(f"refresh_pin: error: {exc}", file=sys.stderr)
        return 2
    pin = build.compute_pin(root, doc, args.kubernetes)
    build.PIN_FILE.write_text(json.dumps(pin, indent=1, sort_keys=True) + "\n")
    print(f"refresh_pin: pinned {len(pin['protos'])} .proto files and the OpenAPI document "
          f"for Kubernetes {args.kubernetes} in {build.PIN_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
