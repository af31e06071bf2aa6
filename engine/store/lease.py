"""A named lease in the database: among several processes, the one holding it runs the scheduled jobs.

A row in `lease` (name, holder, expires_at). The holder renews it well before it expires; if the holder dies,
the row expires and the next contender takes it. Works the same on SQLite and PostgreSQL: every change is one
conditional UPDATE (or an INSERT that yields on conflict), so two contenders can never both succeed.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, String, TextClause, bindparam, text

from engine.store.models import UTCDateTime

SCHEDULER_LEASE = "scheduler"
DEFAULT_TTL = timedelta(seconds=60)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def new_holder_id() -> str:
    """host:pid:random — readable in the table, unique even for two leases in one process."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One contender for the lease `name`. `acquire()` takes or renews it; `release()` hands it back."""

    def __init__(
        self,
        engine: Engine,
        name: str = SCHEDULER_LEASE,
        *,
        holder: str | None = None,
        ttl: timedelta = DEFAULT_TTL,
        clock: Clock = _utc_now,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("a lease needs a positive time to live")
        self.engine = engine
        self.name = name
        self.holder = holder or new_holder_id()
        self.ttl = ttl
        self.clock = clock

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, or renew it if we hold it. True when we hold it now."""
        now = self.clock()
        expires = now + self.ttl
        bind = {"n": self.name, "h": self.holder, "e": expires, "now": now}
        with self.engine.begin() as conn:
            renewed = conn.execute(
                _typed(
                    "UPDATE lease SET holder = :h, expires_at = :e "
                    "WHERE name = :n AND (holder = :h OR expires_at < :now)"
                ),
                bind,
            ).rowcount
            if renewed:
                return True
            inserted = conn.execute(
                _typed(
                    "INSERT INTO lease (name, holder, expires_at) VALUES (:n, :h, :e) ON CONFLICT (name) DO NOTHING"
                ),
                {k: v for k, v in bind.items() if k != "now"},
            ).rowcount
            return bool(inserted)

    def held(self) -> bool:
        """Whether the database says we hold an unexpired lease (no change made)."""
        row = self._row()
        return row is not None and row[0] == self.holder and row[1] > self.clock()

    def release(self) -> None:
        """Give the lease up (on shutdown): another process takes over at once rather than after the TTL."""
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM lease WHERE name = :n AND holder = :h"), {"n": self.name, "h": self.holder})

    def current_holder(self) -> str | None:
        row = self._row()
        return row[0] if row is not None and row[1] > self.clock() else None

    def _row(self) -> tuple[str, datetime] | None:
        query = text("SELECT holder, expires_at FROM lease WHERE name = :n").columns(
            holder=String(), expires_at=UTCDateTime()
        )
        with self.engine.connect() as conn:
            row = conn.execute(query, {"n": self.name}).first()
        return None if row is None else (row[0], row[1])


def _typed(sql: str) -> TextClause:
    # Bind timestamps through the column type, so SQLite compares the exact text form it stores.
    names = [n for n in ("e", "now") if f":{n}" in sql]
    return text(sql).bindparams(*[bindparam(n, type_=UTCDateTime()) for n in names])
