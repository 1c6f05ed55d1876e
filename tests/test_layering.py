"""Imports flow one way: models <- codec <- requests <- client <- Api <- runtime, CLI; the test server sits on
the codec."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

LAYERS = {
    "k8spb._errors": 0,
    "k8spb._schema": 1, "k8spb._traits": 1, "k8spb._registry": 1, "k8spb._generated_kinds": 1,
    "k8spb._custom": 1, "k8spb.crd": 1,
    "k8spb.api": 1, "k8spb.apimachinery": 1, "k8spb.apiextensions_apiserver": 1, "k8spb.kube_aggregator": 1,
    "k8spb._codec": 2,
    "k8spb._request": 3, "k8spb._dynamic": 3,
    "k8spb._channels": 3,  # exec/attach/port-forward channel protocol, sans-io: shared with k8spb.testing
    "k8spb._config": 4, "k8spb._auth": 4, "k8spb._body": 4, "k8spb._chunked": 4, "k8spb._transport": 4,
    "k8spb._http1": 4, "k8spb._client": 4,
    "k8spb._websocket": 4, "k8spb._exec": 4, "k8spb._portforward": 4, "k8spb._cp": 4,
    "k8spb._api": 5, "k8spb._discovery": 5,
    "k8spb.runtime": 6,
    "k8spb.__main__": 7, "k8spb": 6, "k8spb.codegen": 7, "k8spb._codegen": 1,
    "k8spb.testing": 3,  # a server: codec and request values, never the client
}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        hit = LAYERS.get(".".join(parts[:i]))
        if hit is not None:
            return hit
    return None


def _modules() -> list[tuple[str, ast.Module]]:
    out = []
    for path in sorted((ROOT / "src" / "k8spb").rglob("*.py")):
        rel = path.relative_to(ROOT / "src").with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[:2] in (["k8spb", "api"], ["k8spb", "apimachinery"], ["k8spb", "apiextensions_apiserver"],
                         ["k8spb", "kube_aggregator"]):
            continue  # generated: imports only k8spb._schema/_traits and other generated modules
        out.append((".".join(parts), ast.parse(path.read_text())))
    return out


@pytest.mark.parametrize(("module", "tree"), _modules(), ids=[m for m, _ in _modules()])
def test_module_level_imports_flow_downwards(module: str, tree: ast.Module) -> None:
    own = _layer(module)
    assert own is not None, f"{module} has no layer in tests/test_layering.py"
    for node in tree.body:  # module level only: a function-level import is a deliberate late binding
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = ([f"k8spb.{a.name}" for a in node.names] if node.module == "k8spb" else [node.module])
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if not name.startswith("k8spb"):
                continue
            dep = _layer(name)
            if dep is None or name == module or name.startswith(module + "."):
                continue
            if module.startswith("k8spb.testing") and name.startswith("k8spb.testing"):
                continue
            assert dep <= own, f"{module} (layer {own}) imports {name} (layer {dep})"
