"""The server's JSON cache: hand-joined documents are the JSON of the objects, served from cache."""

from __future__ import annotations

import json
from typing import Any

from k8spb.testing._jsoncache import JsonCache


def _obj(name: str, rv: str = "5", **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"u-{name}", "resourceVersion": rv}, "apiVersion": "v1",
            "kind": "ConfigMap", **extra}


def test_documents_are_the_objects_json() -> None:
    cache = JsonCache()
    obj = _obj("a", data={"k": "välue \u2603", "q": "\"quoted\"\n"})
    full = cache.object(obj)
    assert full.startswith(b'{"apiVersion":"v1","kind":"ConfigMap",') and json.loads(full) == obj
    assert json.loads(cache.item(obj)) == {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    line = b"".join(cache.watch_line("ADDED", obj))
    assert line.endswith(b"}\n") and json.loads(line) == {"type": "ADDED", "object": obj}
    bare = {"apiVersion": "v1", "kind": "Status"}  # nothing but TypeMeta, not cacheable (no uid)
    assert json.loads(cache.object(bare)) == bare and cache.item(bare) == b"{}"
    doc = cache.list("ConfigMapList", "v1", {"resourceVersion": "9"}, [cache.item(obj), cache.item(_obj("b"))])
    assert json.loads(doc)["items"][1]["metadata"]["name"] == "b" and doc.endswith(b"]}\n")


def test_cached_per_uid_and_resource_version() -> None:
    cache = JsonCache(size=1)
    first = cache.object(_obj("a", data={"x": "1"}))
    assert cache.object(_obj("a", data={"x": "changed"})) == first  # same uid+rv: stored content is immutable
    assert b"changed" in cache.object(_obj("a", rv="6", data={"x": "changed"}))
    cache.object(_obj("b"))  # evicts a@6 (size 1)
    assert b"again" in cache.object(_obj("a", rv="6", data={"x": "again"}))
