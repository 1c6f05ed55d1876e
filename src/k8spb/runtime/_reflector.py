"""reflector(): a watcher's events, applied to a Writer's store as they pass."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TypeVar, overload

from k8spb.runtime._store import Writer
from k8spb.runtime._watcher import Event

__all__ = ["reflector"]

K = TypeVar("K")


@overload
def reflector(writer: Writer[K], stream: Iterator[Event[K]]) -> Iterator[Event[K]]: ...
@overload
def reflector(writer: Writer[K], stream: AsyncIterator[Event[K]]) -> AsyncIterator[Event[K]]: ...


def reflector(writer: Writer[K], stream: Iterator[Event[K]] | AsyncIterator[Event[K]]) -> Iterator[
        Event[K]] | AsyncIterator[Event[K]]:
    """Apply every event of ``stream`` to ``writer`` (its store), then pass it on.

    ``for event in reflector(writer, watcher(api)): ...``; the store is ready after the first InitDone.
    """
    if isinstance(stream, AsyncIterator):
        return _areflect(writer, stream)
    return _reflect(writer, stream)


def _reflect(writer: Writer[K], stream: Iterator[Event[K]]) -> Iterator[Event[K]]:
    apply = writer.apply
    for event in stream:
        apply(event)
        yield event


async def _areflect(writer: Writer[K], stream: AsyncIterator[Event[K]]) -> AsyncIterator[Event[K]]:
    apply = writer.apply
    async for event in stream:
        apply(event)
        yield event
