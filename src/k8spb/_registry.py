"""Find the model class for an apiVersion/kind, importing its group-version module on first use."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from k8spb import _generated_kinds as _gen
from k8spb._errors import DecodeError
from k8spb._schema import Model

__all__ = ["KUBERNETES_VERSION", "builtin_group_version", "check_api_version", "class_for", "register",
           "resources"]

KUBERNETES_VERSION: str = _gen.KUBERNETES_VERSION
_META_V1 = "k8spb.apimachinery.pkg.apis.meta.v1"
_CUSTOM: dict[tuple[str, str], type[Model]] = {}
"""Classes defined at run time (custom resources and their lists), by (apiVersion, kind)."""


def register(cls: type[Model], api_version: str, kind: str) -> None:
    """Make ``decode`` (and ``class_for``) know a custom resource class; the last one defined wins."""
    if builtin_group_version(api_version):
        raise ValueError(f"{api_version} is a built-in group-version of Kubernetes {KUBERNETES_VERSION}: "
                         f"{kind} cannot be defined as a custom resource there")
    _CUSTOM[(api_version, kind)] = cls


def builtin_group_version(api_version: str) -> bool:
    """True for the group-versions Kubernetes itself serves (``v1``, ``apps/v1`` ...)."""
    return api_version in _gen.GROUP_VERSIONS


def class_for(api_version: str, kind: str) -> type[Model]:
    """The model class for ``apiVersion``/``kind``; DecodeError if k8spb does not know it."""
    if _CUSTOM and isinstance(api_version, str) and isinstance(kind, str):
        found = _CUSTOM.get((api_version, kind))
        if found is not None:
            return found
    return _builtin_class_for(api_version, kind)


@cache
def _builtin_class_for(api_version: str, kind: str) -> type[Model]:
    if not isinstance(api_version, str) or not api_version:
        raise DecodeError("missing apiVersion", kind=kind if isinstance(kind, str) else None)
    if not isinstance(kind, str) or not kind:
        raise DecodeError(f"missing kind (apiVersion {api_version!r})")
    hit = _gen.KINDS.get((api_version, kind))
    if hit is not None:
        return _load(*hit)
    module = _gen.GROUP_VERSIONS.get(api_version)
    for candidate in (module, _META_V1) if module else ():
        found = getattr(importlib.import_module(candidate), kind, None)
        if isinstance(found, type) and issubclass(found, Model) and hasattr(found, "kind"):
            return found
    if module is None:
        raise DecodeError(f"unknown apiVersion {api_version!r} (not a built-in group-version of "
                          f"Kubernetes {KUBERNETES_VERSION})", kind=kind)
    raise DecodeError(f"unknown kind {kind!r} in {api_version}", kind=kind)


def check_api_version(cls: type[Model], api_version: object) -> None:
    """DecodeError unless an object of ``cls`` may carry ``api_version``.

    That is its own apiVersion, or another group-version that serves the same class (``Status``,
    ``WatchEvent``, ``DeleteOptions`` ... are registered in every group-version).
    """
    own = getattr(cls, "api_version", None)
    kind = getattr(cls, "kind", cls.__name__)
    if own is None or api_version == own:
        return
    if not isinstance(api_version, str):
        raise DecodeError(f"apiVersion must be a string, got {type(api_version).__name__} {api_version!r}",
                          kind=kind)
    try:
        served = class_for(api_version, kind)
    except DecodeError:
        served = None
    if served is not cls:
        raise DecodeError(f"apiVersion {api_version!r} does not match {cls.__name__} ({own})", kind=kind)


def _load(module: str, name: str) -> type[Model]:
    cls: type[Model] = getattr(importlib.import_module(module), name)
    return cls


def resources() -> tuple[tuple[Any, ...], ...]:
    """Every served resource: (group, version, plural, kind, module, class, namespaced, verbs, subresources,
    short names, categories)."""
    return _gen.RESOURCES
