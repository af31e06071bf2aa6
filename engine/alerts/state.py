"""Where each customer or product stands for alerting (`alert_state`), read and written with a compare-and-set.

Every update is conditional on the row being as read, so two concurrent alert runs cannot both post the same change.
Acknowledge and Snooze (the alert buttons) write through the same compare-and-set: an alerts check that read the
row before the click stands down rather than remind someone who just acknowledged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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

    @property
    def is_episode(self) -> bool:
        """Something people were told about and may act on: a breach, cost without revenue, or a trend to breach."""
        return self in (Level.BREACH, Level.NO_REVENUE, Level.WATCH)


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
    acked_by: str = ""  # Slack member ID; set for the rest of the episode
    acked_at: datetime | None = None
    snoozed_until: datetime | None = None
    snoozed_by: str = ""

    def stamp(self, key: str) -> datetime | None:
        value = self.detail.get(key)
        return datetime.fromisoformat(value) if value else None

    @property
    def is_open(self) -> bool:
        """Something about this subject is still unresolved: an episode, or unpriced usage flagged."""
        return self.status.is_episode or bool(self.detail.get("unpriced_since"))

    def silenced(self, at: datetime) -> bool:
        """Reminders are held: the episode was acknowledged, or it is snoozed past `at`."""
        return bool(self.acked_by) or (self.snoozed_until is not None and self.snoozed_until > at)

    def end_actions(self) -> None:
        """An episode ended (or a new one began): its acknowledgement and snooze no longer apply."""
        self.acked_by, self.acked_at, self.snoozed_until, self.snoozed_by = "", None, None, ""

    def copy(self) -> State:
        """The same state with its own `detail`, to change without touching this one."""
        return State(
            status=self.status,
            since=self.since,
            last_posted_at=self.last_posted_at,
            last_margin_pct=self.last_margin_pct,
            detail=dict(self.detail),
            raw_detail=self.raw_detail,
            acked_by=self.acked_by,
            acked_at=self.acked_at,
            snoozed_until=self.snoozed_until,
            snoozed_by=self.snoozed_by,
        )


def _columns(s: State) -> tuple[Any, ...]:
    return (
        s.status,
        s.since,
        s.last_posted_at,
        s.detail,
        s.last_margin_pct,
        s.acked_by,
        s.acked_at,
        s.snoozed_until,
        s.snoozed_by,
    )


def changed(prev: State, new: State) -> bool:
    return _columns(new) != _columns(prev)


_STATE_COLUMNS: dict[str, Any] = {
    "subject_kind": String(),
    "subject": String(),
    "status": String(),
    "since": UTCDateTime(),
    "last_posted_at": UTCDateTime(),
    "last_margin_pct": Numeric(9, 4),
    "detail": Text(),
    "acked_by": String(),
    "acked_at": UTCDateTime(),
    "snoozed_until": UTCDateTime(),
    "snoozed_by": String(),
}
_COLUMN_TYPES = [column(name, type_) for name, type_ in _STATE_COLUMNS.items()]
_SELECT = text(f"SELECT {', '.join(_STATE_COLUMNS)} FROM alert_state").columns(*_COLUMN_TYPES)
_SELECT_SOME = text(f"SELECT {', '.join(_STATE_COLUMNS)} FROM alert_state WHERE subject IN :keys").bindparams(
    bindparam("keys", expanding=True)
)


def load_states(conn: Connection, subjects: list[tuple[str, str]] | None = None) -> dict[tuple[str, str], State]:
    """Every subject's state (or only these subjects'); a subject never alerted on has no entry."""
    if subjects is None:
        rows = conn.execute(_SELECT)
    elif not subjects:
        return {}
    else:
        rows = conn.execute(_SELECT_SOME.columns(*_COLUMN_TYPES), {"keys": sorted({s for _, s in subjects})})
    states: dict[tuple[str, str], State] = {}
    wanted = set(subjects) if subjects is not None else None
    for row in rows:
        key = (row.subject_kind, row.subject)
        if wanted is not None and key not in wanted:
            continue
        states[key] = State(
            status=_LEVEL[row.status],
            since=row.since,
            last_posted_at=row.last_posted_at,
            last_margin_pct=Decimal(str(row.last_margin_pct)) if row.last_margin_pct is not None else None,
            detail=json.loads(row.detail) if row.detail else {},
            raw_detail=row.detail or "",
            acked_by=row.acked_by or "",
            acked_at=row.acked_at,
            snoozed_until=row.snoozed_until,
            snoozed_by=row.snoozed_by or "",
        )
    return states


_STATE_BINDS = (
    bindparam("since", type_=UTCDateTime()),
    bindparam("posted", type_=UTCDateTime()),
    bindparam("margin", type_=Numeric(9, 4)),
    bindparam("acked_at", type_=UTCDateTime()),
    bindparam("snoozed_until", type_=UTCDateTime()),
)
_INSERT_STATE = text(
    "INSERT INTO alert_state (subject_kind, subject, status, since, last_posted_at, last_margin_pct, detail, "
    "acked_by, acked_at, snoozed_until, snoozed_by) "
    "VALUES (:k, :s, :status, :since, :posted, :margin, :detail, :acked_by, :acked_at, :snoozed_until, :snoozed_by)"
).bindparams(*_STATE_BINDS)
_UPDATE_STATE = text(
    "UPDATE alert_state SET status = :status, since = :since, last_posted_at = :posted, "
    "last_margin_pct = :margin, detail = :detail, acked_by = :acked_by, acked_at = :acked_at, "
    "snoozed_until = :snoozed_until, snoozed_by = :snoozed_by "
    "WHERE subject_kind = :k AND subject = :s AND detail = :old"
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
        "acked_by": new.acked_by,
        "acked_at": new.acked_at,
        "snoozed_until": new.snoozed_until,
        "snoozed_by": new.snoozed_by,
    }
    if prev.raw_detail is None:
        try:
            conn.execute(_INSERT_STATE, params)
        except IntegrityError:
            raise ConcurrentAlertRun(f"{kind} {subject} was alerted on by another run") from None
    elif conn.execute(_UPDATE_STATE, params).rowcount != 1:
        raise ConcurrentAlertRun(f"{kind} {subject} was alerted on by another run")


# ---------------------------------------------------------------- Acknowledge and Snooze

SNOOZE_DAYS = (1, 7, 30)
_RETRIES = 3  # an alerts check writing the same row at that moment is rare; three reads settle it


class ActionRefused(ValueError):
    """The subject has nothing to acknowledge or snooze (never alerted on, or already resolved); says so."""


@dataclass(frozen=True, kw_only=True)
class ActionResult:
    """What a click did: `changed` False when it was already so (the first person's action stands)."""

    state: State
    changed: bool


def acknowledge(conn: Connection, kind: str, subject: str, *, user: str, at: datetime) -> ActionResult:
    """Silence this episode's reminders until it ends (recovers, or clears). Commits.

    The first acknowledgement stands: a second click changes nothing and says who was first.
    """

    def apply(state: State) -> bool:
        if state.acked_by:
            return False
        state.acked_by, state.acked_at = user, at
        return True

    return _act(conn, kind, subject, apply)


def snooze(conn: Connection, kind: str, subject: str, *, user: str, at: datetime, days: int) -> ActionResult:
    """Hold this subject's reminders for `days` days from `at` (a later snooze replaces an earlier one). Commits."""
    if days not in SNOOZE_DAYS:
        raise ActionRefused(f"snooze for {', '.join(map(str, SNOOZE_DAYS))} days, not {days}")

    def apply(state: State) -> bool:
        # Acknowledged already, its reminders are off until it ends: a snooze (a click on a copy drawn before the
        # acknowledgement) changes nothing, and the clicker is told whose acknowledgement stands, as a second
        # Acknowledge is. Saved, it went unseen: the message shows the acknowledgement, and nobody was told.
        if state.acked_by:
            return False
        state.snoozed_until, state.snoozed_by = at + timedelta(days=days), user
        return True

    return _act(conn, kind, subject, apply)


def _act(conn: Connection, kind: str, subject: str, apply: Any) -> ActionResult:
    for _ in range(_RETRIES):
        prev = load_states(conn, [(kind, subject)]).get((kind, subject))
        if prev is None or not prev.is_open:
            conn.rollback()
            raise ActionRefused(
                f"{subject} has no open alert (it recovered, went quiet or moved to another customer, or was never "
                "alerted on)"
            )
        new = prev.copy()
        if not apply(new):
            conn.rollback()
            return ActionResult(state=prev, changed=False)
        try:
            save_state(conn, kind, subject, str(prev.detail.get("name") or subject), prev, new)
            conn.commit()
        except ConcurrentAlertRun:
            conn.rollback()
            continue
        return ActionResult(state=new, changed=True)
    raise ConcurrentAlertRun(f"{kind} {subject} kept changing while it was acknowledged; try again")
