"""The byte LRU behind the server's encoding caches."""

from __future__ import annotations

from k8spb.testing._lru import BytesLRU, identity


def test_identity_needs_uid_and_resource_version() -> None:
    assert identity({"metadata": {"uid": "u", "resourceVersion": "3"}}) == ("u", "3")
    assert identity({"metadata": {"uid": "u"}}) is None
    assert identity({}) is None


def test_least_recently_used_goes_first_and_none_keys_are_never_stored() -> None:
    lru = BytesLRU(2)
    lru.put_many([("a", b"1"), ("b", b"2"), (None, b"x")])
    assert lru.get("a") == b"1"  # refreshes a: b is now the oldest
    lru.put("c", b"3")
    assert lru.get_many(["a", "b", "c", None]) == [b"1", None, b"3", None]
