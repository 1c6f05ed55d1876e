"""Kinds known only at run time (custom resources): where they are served, and their objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k8spb._codec._document import model_from_document, parse_json, type_meta
from k8spb._codec._unstructured import DynamicList, DynamicObject
from k8spb._request import ResourceRef

__all__ = ["ApiResource", "DynamicList", "DynamicObject", "OrStatus"]


@dataclass(frozen=True)
class ApiResource(ResourceRef):
    """A resource known at run time (from discovery or by hand); JSON only unless ``protobuf`` is set."""

    protobuf: bool = False
    singular: str = ""
    short_names: tuple[str, ...] = ()
    """Short names kubectl accepts (``po``, ``deploy``), as discovery lists them."""
    categories: tuple[str, ...] = ()
    """Categories the resource belongs to (``all``), as discovery lists them."""
    verbs: tuple[str, ...] = ()


class OrStatus:
    """Decodes a JSON answer that is an object of ``model`` or a meta/v1 Status (what deletes answer)."""

    def __init__(self, model: type[Any]) -> None:
        self.model = model
        self.__name__ = f"{model.__name__} or Status"

    def from_json(self, body: bytes, origin: str = "") -> Any:
        doc = parse_json(body)
        if isinstance(doc, dict) and type_meta(doc, "kind") == "Status" and type_meta(doc, "apiVersion") == "v1":
            return model_from_document(doc, "JSON", origin=origin)
        return model_from_document(doc, "JSON", self.model, origin)
