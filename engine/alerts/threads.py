"""Alert threads: which message announced each subject's episode in each channel, and what each subject in an
alert message shows now (its buttons, or who acknowledged it, or that it recovered).

A subject's thread in a channel is the alert message that first announced its current episode there (the root,
one row of `alert_thread`). Reminders, recoveries and "trending → breach" reply under the root; a recovery closes
the thread and re-renders the root. The root's ts is its outbox row's `slack_ts`, so nothing is written when a
message is delivered; and a root whose outbox row failed (Slack refused it even as plain text, or the bot cannot
post there) means the subject was never announced in that channel: the next alerts check announces it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, String, bindparam, column, text

from engine.alerts.state import State, load_states
from engine.store.models import UTCDateTime
from engine.store.outbox import FAILED

RECOVERED, CLEARED, UNDELIVERED = "recovered", "cleared", "undelivered"
QUIET = "quiet"  # closed with nothing in the window (engine.alerts.evaluate: AlertKind.QUIET)
MOVED = "moved"  # closed: its usage is now another customer's (AlertKind.MOVED)
UNROUTED = "unrouted"  # closed: its channel was taken off MARGINBOT_ALERT_CHANNELS (engine.alerts.messages)
# The event kinds whose message ends its subject's episode, and the outcome its thread is closed with.
ENDED_BY = {"recovered": RECOVERED, "quiet": QUIET, "moved": MOVED}


@dataclass(frozen=True, kw_only=True)
class Thread:
    """An open thread: `root_status` is its root message's outbox status ('' when the row is missing)."""

    root_key: str
    subject_kind: str
    subject: str
    channel: str
    opened_at: datetime
    root_status: str
    root_ts: str

    @property
    def live(self) -> bool:
        """The root was posted, or still may be: replies can go under it."""
        return self.root_status not in (FAILED, "")


_OPEN = text(
    "SELECT t.root_key, t.subject_kind, t.subject, t.channel, t.opened_at, o.status, o.slack_ts "
    "FROM alert_thread t LEFT JOIN outbox o ON o.dedupe_key = t.root_key WHERE t.closed_at IS NULL"
).columns(
    column("root_key", String()),
    column("subject_kind", String()),
    column("subject", String()),
    column("channel", String()),
    column("opened_at", UTCDateTime()),
    column("status", String()),
    column("slack_ts", String()),
)


def open_threads(conn: Connection, subject: tuple[str, str] | None = None) -> dict[tuple[str, str, str], Thread]:
    """Open threads by (subject kind, subject, channel); only one subject's when `subject` is given."""
    found: dict[tuple[str, str, str], Thread] = {}
    for r in conn.execute(_OPEN):
        if subject is not None and (r.subject_kind, r.subject) != subject:
            continue
        found[(r.subject_kind, r.subject, r.channel)] = Thread(
            root_key=r.root_key,
            subject_kind=r.subject_kind,
            subject=r.subject,
            channel=r.channel,
            opened_at=r.opened_at,
            root_status=r.status or "",
            root_ts=r.slack_ts or "",
        )
    return found


_INSERT = text(
    "INSERT INTO alert_thread (root_key, subject_kind, subject, channel, opened_at, closed_at, outcome) "
    "VALUES (:root, :k, :s, :c, :at, NULL, '')"
).bindparams(bindparam("at", type_=UTCDateTime()))
_CLOSE = text(
    "UPDATE alert_thread SET closed_at = :at, outcome = :outcome "
    "WHERE subject_kind = :k AND subject = :s AND channel = :c AND closed_at IS NULL"
).bindparams(bindparam("at", type_=UTCDateTime()))


def open_thread(conn: Connection, *, root_key: str, kind: str, subject: str, channel: str, at: datetime) -> None:
    """Record that `root_key` announces this subject's episode in `channel` (in the caller's transaction)."""
    conn.execute(_INSERT, {"root": root_key, "k": kind, "s": subject, "c": channel, "at": at})


def close_thread(conn: Connection, *, kind: str, subject: str, channel: str, at: datetime, outcome: str) -> None:
    """The episode ended in `channel` (recovered, cleared) or its root never arrived (undelivered)."""
    conn.execute(_CLOSE, {"k": kind, "s": subject, "c": channel, "at": at, "outcome": outcome})


# ---------------------------------------------------------------- what a subject in a message shows


@dataclass(frozen=True, kw_only=True)
class Shown:
    """How one subject of an alert message is shown now. `status`:

    - `open`: its buttons (Acknowledge, Snooze, Open, What-if);
    - `acked` / `snoozed`: who did it and when (`by`, `at`; `until` for a snooze), no buttons;
    - `recovered` / `quiet` / `moved` / `cleared`: the episode this message announced has ended (`at`), no buttons;
    - `resolved`: nothing is open about it any more (a recovery's, a gone-quiet or a moved reply), no buttons.
    """

    status: str
    by: str = ""
    at: datetime | None = None
    until: datetime | None = None


_ROOT_ROWS = text("SELECT subject_kind, subject, closed_at, outcome FROM alert_thread WHERE root_key = :root").columns(
    column("subject_kind", String()),
    column("subject", String()),
    column("closed_at", UTCDateTime()),
    column("outcome", String()),
)


def shown(
    conn: Connection, message_key: str, subjects: Iterable[tuple[str, str]], *, now: datetime
) -> dict[tuple[str, str], Shown]:
    """How each of `subjects` in the message `message_key` should be shown at `now` (read only)."""
    wanted = list(dict.fromkeys(subjects))
    roots = {(r.subject_kind, r.subject): r for r in conn.execute(_ROOT_ROWS, {"root": message_key})}
    states = load_states(conn, wanted)
    out: dict[tuple[str, str], Shown] = {}
    for key in wanted:
        root = roots.get(key)
        if root is not None and root.closed_at is not None:
            out[key] = Shown(status=root.outcome or CLEARED, at=root.closed_at)
            continue
        out[key] = shown_for_state(states.get(key), now=now)
    return out


def shown_for_state(state: State | None, *, now: datetime) -> Shown:
    """How a subject shows given only its state (a thread reply, an App Home row)."""
    if state is None or not state.is_open:
        return Shown(status="resolved")
    if state.acked_by:
        return Shown(status="acked", by=state.acked_by, at=state.acked_at)
    if state.snoozed_until is not None and state.snoozed_until > now:
        return Shown(status="snoozed", by=state.snoozed_by, until=state.snoozed_until)
    return Shown(status="open")
