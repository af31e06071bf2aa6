"""Reports kept per data generation, so the Slack path answers a repeated question without reading it again.

The data only changes through an import, a sync, a reprice or a contract import, and each of those bumps the data
generation in the transaction that changes the data (engine.store.meta.bump_generation). A report computed while
the generation was G is therefore right for as long as it is G: the cache keys every entry by the question and
drops everything when the generation moves. Nothing expires by time: "today" is part of every question (its
period), so tomorrow's question is another key.

The generation is read before the report is computed: if an import commits in between, the report (of the newer
data) is kept under the older generation, which no later reader asks for. A stale answer is never served.

Reports handed out are shared between callers: they must be read, never changed (the Block Kit builders only
read them).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Connection

from engine.store.meta import data_generation

T = TypeVar("T")
MAX_ENTRIES = 64  # a workspace asks about a few dozen customers a day; a portfolio of 2,000 customers is megabytes


class ReportCache:
    """Reports by question, for one database, valid while its data generation stays the same. Thread-safe."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max = max_entries
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, conn: Connection, key: Hashable, compute: Callable[[], T]) -> T:
        """The report for `key` at the data's current generation: kept, or computed by `compute` and kept.

        `key` must name everything the report depends on besides the data (its kind, subject, period, bands)."""
        generation = data_generation(conn)
        with self._lock:
            if generation != self._generation:
                self._entries.clear()
                self._generation = generation
            elif key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                found: T = self._entries[key]
                return found
            self.misses += 1
        # Computed outside the lock: two threads asking the same new question both compute it, and neither waits
        # behind the other's unrelated question.
        value = compute()
        with self._lock:
            if self._generation == generation:
                self._entries[key] = value
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation = None
