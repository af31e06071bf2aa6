"""Where each customer or product stands for alerting (`alert_state`), read and written with a compare-and-set.

Every update is conditional on the row being as read, so two concurrent alert runs cannot both post the same change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Numeric, String, Text, bindparam, column, text
from sqlalchemy.exc import IntegrityError

from engine.store.models import UTCDateTime
from engine.vocab import Word


class ConcurrentAlertRun(RuntimeError):
    """Another alerts check changed the same state while this one ran; this run committed nothing."""


class Level(Word):
    """Where a subject stands for alerting. Not the report's Status: a margin between the breach line and healthy
    is `ok` here unless its trend crosses the line (`watch`); `idle` (no revenue, no cost) is never stored."""

    OK = "ok"
    WATCH = "watch"
    BREACH = "breach"
    NO_REVENUE = "no_revenue"
    IDLE = "idle"

    @property
    def is_bad(self) -> bool:
        """A breach or cost without revenue: announced once, reminded, and recovered from with hysteresis."""
        return self in (Level.BREACH, Level.NO_REVENUE)


_LEVEL = {level.value: level for level in Level}


@dataclass(kw_only=True)
class State:
    """One `alert_state` row (or the implicit 'ok' of a subject never alerted on)."""

    status: Level = Level.OK
    since: datetime | None = None
    last_posted_at: datetime | None = None
    last_margin_pct: Decimal | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    raw_detail: str | None = None  # as stored, for the conditional update; None = no row yet

    def stamp(self, key: str) -> datetime | None:
        value = self.detail.get(key)
        return datetime.fromisoformat(value) if value else None

    def copy(self) -> State:
        """The same state with its own `detail`, to change without touching this one."""
        return State(
            status=self.status,
            since=self.since,
            last_posted_at=self.last_posted_at,
            last_margin_pct=self.last_margin_pct,
            detail=dict(self.detail),
            raw_detail=self.raw_detail,
        )


def changed(prev: State, new: State) -> bool:
    return (new.status, new.since, new.last_posted_at, new.detail, new.last_margin_pct) != (
        prev.status,
        prev.since,
        prev.last_posted_at,
        prev.detail,
        prev.last_margin_pct,
    )


_STATE_COLUMNS: dict[str, Any] = {
    "subject_kind": String(),
    "subject": String(),
    "status": String(),
    "since": UTCDateTime(),
    "last_posted_at": UTCDateTime(),
    "last_margin_pct": Numeric(9, 4),
    "detail": Text(),
}


def load_states(conn: Connection) -> dict[tuple[str, str], State]:
    query = text(
        "SELECT subject_kind, subject, status, since, last_posted_at, last_margin_pct, detail FROM alert_state"
    ).columns(*[column(name, type_) for name, type_ in _STATE_COLUMNS.items()])
    states: dict[tuple[str, str], State] = {}
    for kind, subject, status, since, posted, margin, detail in conn.execute(query):
        states[(kind, subject)] = State(
            status=_LEVEL[status],
            since=since,
            last_posted_at=posted,
            last_margin_pct=Decimal(str(margin)) if margin is not None else None,
            detail=json.loads(detail) if detail else {},
            raw_detail=detail or "",
        )
    return states


_STATE_BINDS = (
    bindparam("since", type_=UTCDateTime()),
    bindparam("posted", type_=UTCDateTime()),
    bindparam("margin", type_=Numeric(9, 4)),
)
_INSERT_STATE = text(
    "INSERT INTO alert_state (subject_kind, subject, status, since, last_posted_at, last_margin_pct, detail) "
    "VALUES (:k, :s, :status, :since, :posted, :margin, :detail)"
).bindparams(*_STATE_BINDS)
_UPDATE_STATE = text(
    "UPDATE alert_state SET status = :status, since = :since, last_posted_at = :posted, "
    "last_margin_pct = :margin, detail = :detail WHERE subject_kind = :k AND subject = :s AND detail = :old"
).bindparams(*_STATE_BINDS)


def save_state(conn: Connection, kind: str, subject: str, name: str, prev: State, new: State) -> None:
    """Write one subject's new state, only if nobody changed it since we read it (else ConcurrentAlertRun)."""
    detail = dict(new.detail)
    detail["name"] = name
    detail["rev"] = int(prev.detail.get("rev", 0)) + 1  # makes every stored detail unique: the row's version
    params = {
        "k": kind,
        "s": subject,
        "status": new.status,
        "since": new.since,
        "posted": new.last_posted_at,
        "margin": new.last_margin_pct,
        "detail": json.dumps(detail, sort_keys=True),
        "old": prev.raw_detail,
    }
    if prev.raw_detail is None:
        try:
            conn.execute(_INSERT_STATE, params)
        except IntegrityError:
            raise ConcurrentAlertRun(f"{kind} {subject} was alerted on by another run") from None
    elif conn.execute(_UPDATE_STATE, params).rowcount != 1:
        raise ConcurrentAlertRun(f"{kind} {subject} was alerted on by another run")
