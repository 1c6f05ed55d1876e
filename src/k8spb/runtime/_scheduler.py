"""The Controller's work queue, without IO or clocks of its own (times are passed in).

Keys are scheduled at a time; a key scheduled twice keeps the earlier time (deduplication); a key
being reconciled is never handed out again until it is done: what arrives meanwhile waits and is
scheduled when the running reconcile ends.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable

__all__ = ["Scheduler"]


class Scheduler:
    """Keys due at times; at most one reconcile per key at once."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable]] = []
        self._due: dict[Hashable, float] = {}  # key -> the time it is scheduled for (its heap entry)
        self._running: set[Hashable] = set()
        self._held: dict[Hashable, float] = {}  # scheduled while running: handed out after done()
        self._seq = itertools.count()

    def schedule(self, key: Hashable, at: float) -> None:
        """Reconcile ``key`` at ``at`` (or earlier, if it is scheduled earlier already)."""
        if key in self._running:
            held = self._held.get(key)
            if held is None or at < held:
                self._held[key] = at
            return
        due = self._due.get(key)
        if due is None or at < due:
            self._due[key] = at
            heapq.heappush(self._heap, (at, next(self._seq), key))

    def pop_due(self, now: float, limit: int | None = None) -> list[Hashable]:
        """Keys due by ``now`` (at most ``limit``), marked running."""
        out: list[Hashable] = []
        heap = self._heap
        while heap and heap[0][0] <= now and (limit is None or len(out) < limit):
            at, _, key = heapq.heappop(heap)
            if self._due.get(key) != at:
                continue  # superseded by an earlier time
            del self._due[key]
            self._running.add(key)
            out.append(key)
        return out

    def done(self, key: Hashable) -> None:
        """The reconcile of ``key`` ended; what arrived for it meanwhile is scheduled now."""
        self._running.discard(key)
        held = self._held.pop(key, None)
        if held is not None:
            self.schedule(key, held)

    def next_due(self) -> float | None:
        """When the earliest scheduled key is due (None: nothing scheduled)."""
        heap = self._heap
        while heap and self._due.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)  # drop superseded entries
        return heap[0][0] if heap else None

    @property
    def running(self) -> int:
        return len(self._running)

    def __len__(self) -> int:
        """Keys scheduled or held (not counting running ones)."""
        return len(self._due) + len(self._held)
