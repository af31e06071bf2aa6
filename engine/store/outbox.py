"""The outbox: messages decided in the database, delivered later (engine/store/delivery.py) by whatever sender
the caller hands in.

Why: the decision to speak (an alert state change, this week's digest) and the message are written in ONE
transaction, so a crash can neither lose a message nor send one twice for the same decision. Payloads are JSON
data; the sender turns them into Slack calls. A message can reply in the thread of an earlier one (`reply_to`, the
parent's dedupe key). Once sent, a row keeps what Slack knows it by (`slack_ts`): `posted` and `find_posted` read
messages back, to reply under them or update them in place.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, String, Text, bindparam, column, text

from engine.store.models import UTCDateTime

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# Kinds that update a message already posted (chat.update), not post one: waiting for a retry, they hold no later
# post of their channel (a 429 on an update says nothing of posting, and an alert must not wait for its buttons).
UPDATES = frozenset({"alert_refresh"})


class DeliveryError(Exception):
    """What a sender raises when a message did not go out."""


class RetryLater(DeliveryError):
    """Rate limited, a 5xx or a network error: try again after `retry_after` seconds (None: our backoff)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ChannelUnreachable(DeliveryError):
    """The bot cannot post in this channel (not a member, no such channel). Retrying will not help."""

    def __init__(self, channel: str, reason: str, fix: str) -> None:
        super().__init__(f"{channel}: {reason}; fix: {fix}")
        self.channel = channel
        self.reason = reason
        self.fix = fix


class Rejected(DeliveryError):
    """The API refused the message itself (invalid blocks, too long), even in its fallback forms."""


class Paused(DeliveryError):
    """Nothing can be sent at all until a person fixes something (the API refused the bot's token): the run stops,
    and every message stays due as it was, no attempt counted, for the first run after the fix."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(f"{reason}; fix: {fix}")
        self.reason = reason
        self.fix = fix


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    dedupe_key: str
    channel: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    reply_to: str = ""  # the dedupe key of the message whose thread this one replies in
    thread_ts: str | None = None  # that message's ts, once it was posted; None: post at the top level


@dataclass
class DeliveryReport:
    sent: list[tuple[int, str, str]] = field(default_factory=list)  # (id, channel, kind)
    deferred: list[tuple[int, str, str]] = field(default_factory=list)  # (id, channel, why)
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # (id, channel, why)
    paused: str = ""  # why the run stopped with everything still due (Paused), with its fix

    def summary(self) -> str:
        parts = [f"{len(self.sent)} sent"]
        if self.paused:
            parts.append(f"paused: {self.paused}")
        if self.deferred:
            parts.append(f"{len(self.deferred)} to retry later")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in an outbox payload")


def utc_now() -> datetime:
    return datetime.now(UTC)


_INSERT = text(
    "INSERT INTO outbox (dedupe_key, channel, kind, payload, status, attempts, next_attempt_at, created_at, "
    "last_error, slack_ts, reply_to, claim) VALUES (:k, :c, :kind, :p, 'pending', 0, :due, :now, '', '', :reply, '') "
    "ON CONFLICT (dedupe_key) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("due", type_=UTCDateTime()))


def enqueue(
    conn: Connection,
    *,
    dedupe_key: str,
    channel: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    reply_to: str = "",
    due: datetime | None = None,
) -> bool:
    """Queue a message inside the caller's transaction. False when `dedupe_key` was queued before (no-op).

    `reply_to` names (by dedupe key) an earlier message to the same channel: this one goes in its thread. `due`: not
    sent before then (a retry Slack asked to wait for), else at once.
    """
    if len(dedupe_key) > 300 or len(reply_to) > 300:
        raise ValueError("dedupe_key and reply_to are at most 300 characters")
    body = json.dumps(payload, default=_default, separators=(",", ":"), sort_keys=True)
    result = conn.execute(
        _INSERT,
        {"k": dedupe_key, "c": channel, "kind": kind, "p": body, "now": now, "due": due or now, "reply": reply_to},
    )
    return result.rowcount == 1


_PAYLOAD = text("UPDATE outbox SET payload = :p WHERE id = :id AND status = 'sending'")


def update_payload(conn: Connection, message_id: int, payload: dict[str, Any]) -> None:
    """Store `payload` on a row being sent (claimed): what a sender records of its progress, for its retry."""
    body = json.dumps(payload, default=_default, separators=(",", ":"), sort_keys=True)
    conn.execute(_PAYLOAD, {"id": message_id, "p": body})


def is_queued(conn: Connection, dedupe_key: str) -> bool:
    return conn.execute(text("SELECT 1 FROM outbox WHERE dedupe_key = :k"), {"k": dedupe_key}).first() is not None


def pending_count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")).scalar_one())


@dataclass(frozen=True, kw_only=True)
class Posted:
    """Where an outbox message stands in Slack: its channel, ts (empty until sent) and delivery status."""

    dedupe_key: str
    channel: str
    kind: str
    payload: dict[str, Any]
    status: str
    slack_ts: str


_POSTED_COLUMNS = (
    column("dedupe_key", String()),
    column("channel", String()),
    column("kind", String()),
    column("payload", Text()),
    column("status", String()),
    column("slack_ts", String()),
)


def posted(conn: Connection, dedupe_keys: list[str]) -> dict[str, Posted]:
    """The messages with these dedupe keys, as they stand now (missing keys are left out)."""
    if not dedupe_keys:
        return {}
    query = text(
        "SELECT dedupe_key, channel, kind, payload, status, slack_ts FROM outbox WHERE dedupe_key IN :keys"
    ).bindparams(bindparam("keys", expanding=True))
    rows = conn.execute(query.columns(*_POSTED_COLUMNS), {"keys": sorted(set(dedupe_keys))})
    return {
        r.dedupe_key: Posted(
            dedupe_key=r.dedupe_key,
            channel=r.channel,
            kind=r.kind,
            payload=json.loads(r.payload),
            status=r.status,
            slack_ts=r.slack_ts or "",
        )
        for r in rows
    }


def find_posted(conn: Connection, channel: str, slack_ts: str) -> Posted | None:
    """The outbox message Slack knows as `slack_ts` in `channel` (a clicked message), if it was ours."""
    if not slack_ts:
        return None
    query = text(
        "SELECT dedupe_key, channel, kind, payload, status, slack_ts FROM outbox "
        "WHERE channel = :c AND slack_ts = :ts ORDER BY id LIMIT 1"
    ).columns(*_POSTED_COLUMNS)
    row = conn.execute(query, {"c": channel, "ts": slack_ts}).first()
    if row is None:
        return None
    return Posted(
        dedupe_key=row.dedupe_key,
        channel=row.channel,
        kind=row.kind,
        payload=json.loads(row.payload),
        status=row.status,
        slack_ts=row.slack_ts or "",
    )
