"""Descriptions of model fields, read at run time from the generated models' docstrings.

The generated modules carry one sentence per field (from the Kubernetes sources); they are made by
``build.py`` and never committed, so the server reads them from there when a Table column or an
OpenAPI document wants a description, and answers "" when a module has none.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect

from k8spb._schema import Model

__all__ = ["class_doc", "field_doc"]


@functools.cache
def _module_docs(module: str) -> dict[str, dict[str, str]]:
    """class name -> attribute -> docstring, for one generated module."""
    try:
        tree = ast.parse(inspect.getsource(importlib.import_module(module)))
    except (OSError, TypeError, SyntaxError, ImportError):
        return {}
    out: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        docs: dict[str, str] = {}
        body = node.body
        for i, stmt in enumerate(body[:-1]):
            nxt = body[i + 1]
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[stmt.target.id] = nxt.value.value
        out[node.name] = docs
    return out


def field_doc(cls: type[Model], json_key: str) -> str:
    """The description of a model's field (by its JSON name), or ""."""
    field = cls._schema.by_key.get(json_key)
    if field is None:
        return ""
    return _module_docs(cls.__module__).get(cls.__name__, {}).get(field.attr, "")


def class_doc(cls: type[Model]) -> str:
    """The description of a model, or ""."""
    return inspect.cleandoc(cls.__doc__ or "") if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "(") \
        else ""
