"""The outbox: messages decided in the database, delivered later by whatever sender the caller hands in.

Why: the decision to speak (an alert state change, this week's digest) and the message are written in ONE
transaction, so a crash can neither lose a message nor send one twice for the same decision. Delivery then
works through pending rows: a row is claimed (so two processes never send it together), sent, and marked sent.
A crash between sending and marking can resend that one message once its claim expires (at-least-once); a
crash anywhere else sends nothing twice. Payloads are JSON data; the sender turns them into Slack calls.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Integer, String, Text, bindparam, column, text

from engine.store.models import UTCDateTime

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
MAX_ATTEMPTS = 8
CLAIM = timedelta(minutes=5)  # a claimed row is someone's for this long; after that another run may retry it
BACKOFF_FIRST = 30.0  # seconds before the first retry when the server gave no Retry-After
BACKOFF_MAX = 3600.0
IN_RUN_WAIT = 30.0  # waits up to this long (in total) are spent inside the run rather than deferred


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
    """The API refused the message itself (invalid blocks, too long). Retrying will not help."""


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    dedupe_key: str
    channel: str
    kind: str
    payload: dict[str, Any]
    attempts: int


Sender = Callable[[OutboxMessage], str]  # returns what Slack identified it by (message ts, file id)
Clock = Callable[[], datetime]


@dataclass
class DeliveryReport:
    sent: list[tuple[int, str, str]] = field(default_factory=list)  # (id, channel, kind)
    deferred: list[tuple[int, str, str]] = field(default_factory=list)  # (id, channel, why)
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # (id, channel, why)

    def summary(self) -> str:
        parts = [f"{len(self.sent)} sent"]
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


def _utc_now() -> datetime:
    return datetime.now(UTC)


_INSERT = text(
    "INSERT INTO outbox (dedupe_key, channel, kind, payload, status, attempts, next_attempt_at, created_at, "
    "last_error, slack_ts) VALUES (:k, :c, :kind, :p, 'pending', 0, :now, :now, '', '') "
    "ON CONFLICT (dedupe_key) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime()))


def enqueue(
    conn: Connection, *, dedupe_key: str, channel: str, kind: str, payload: dict[str, Any], now: datetime
) -> bool:
    """Queue a message inside the caller's transaction. False when `dedupe_key` was queued before (no-op)."""
    if len(dedupe_key) > 300:
        raise ValueError("dedupe_key is longer than 300 characters")
    body = json.dumps(payload, default=_default, separators=(",", ":"), sort_keys=True)
    result = conn.execute(_INSERT, {"k": dedupe_key, "c": channel, "kind": kind, "p": body, "now": now})
    return result.rowcount == 1


def is_queued(conn: Connection, dedupe_key: str) -> bool:
    return conn.execute(text("SELECT 1 FROM outbox WHERE dedupe_key = :k"), {"k": dedupe_key}).first() is not None


def pending_count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")).scalar_one())


# Every undelivered row, due or not: a row that is not due yet holds back later rows to the same channel.
_UNSENT = text(
    "SELECT id, dedupe_key, channel, kind, payload, attempts, next_attempt_at FROM outbox "
    "WHERE status IN ('pending', 'sending') ORDER BY id LIMIT :limit"
).columns(
    column("id", Integer()),
    column("dedupe_key", String()),
    column("channel", String()),
    column("kind", String()),
    column("payload", Text()),
    column("attempts", Integer()),
    column("next_attempt_at", UTCDateTime()),
)
_CLAIM = text(
    "UPDATE outbox SET status = 'sending', next_attempt_at = :until "
    "WHERE id = :id AND status IN ('pending', 'sending') AND next_attempt_at <= :now AND attempts = :attempts"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime()))
_UPDATE = text(
    "UPDATE outbox SET status = :status, attempts = :attempts, next_attempt_at = :next, sent_at = :sent, "
    "last_error = :err, slack_ts = :ts WHERE id = :id"
).bindparams(
    bindparam("next", type_=UTCDateTime()),
    bindparam("sent", type_=UTCDateTime()),
    bindparam("status", type_=String()),
    bindparam("attempts", type_=Integer()),
    bindparam("err", type_=Text()),
    bindparam("ts", type_=String()),
)


def backoff(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failure: 30 s, 1 min, 2 min, … capped at an hour."""
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1)))


def deliver_pending(
    engine: Engine,
    sender: Sender,
    *,
    clock: Clock = _utc_now,
    sleep: Callable[[float], None] = time.sleep,
    max_wait: float = IN_RUN_WAIT,
    limit: int = 500,
) -> DeliveryReport:
    """Send every due message, oldest first. Returns what was sent, deferred and given up.

    A channel that must wait (rate limit, outage) keeps its later messages waiting too, so a digest's chart
    never arrives before its message; other channels go on. A channel the bot cannot reach fails its messages
    with the fix in the log, and blocks nothing else.
    """
    report = DeliveryReport()
    with engine.connect() as conn:
        rows = conn.execute(_UNSENT, {"limit": limit}).all()
    waiting: set[str] = set()
    budget = max_wait
    start = clock()
    for row in rows:
        if row.next_attempt_at > start:
            waiting.add(row.channel)  # waiting for its retry time (or claimed by another process)
            continue
        message = OutboxMessage(row.id, row.dedupe_key, row.channel, row.kind, json.loads(row.payload), row.attempts)
        if message.channel in waiting:
            report.deferred.append((message.id, message.channel, "an earlier message to this channel is waiting"))
            continue
        if not _claim(engine, message, clock()):
            continue  # another process has it
        attempts = message.attempts
        while True:
            try:
                ts = sender(message)
            except RetryLater as exc:
                attempts += 1
                wait = exc.retry_after if exc.retry_after is not None else backoff(attempts)
                if attempts >= MAX_ATTEMPTS:
                    log.error(
                        "giving up on outbox message %s to %s after %d attempts: %s",
                        message.id,
                        message.channel,
                        attempts,
                        exc.reason,
                    )
                    _set(engine, message.id, FAILED, attempts, clock(), None, exc.reason)
                    report.failed.append((message.id, message.channel, exc.reason))
                    break
                if wait <= budget:
                    log.info(
                        "outbox message %s to %s: %s; retrying in %.1fs",
                        message.id,
                        message.channel,
                        exc.reason,
                        wait,
                    )
                    _set(engine, message.id, SENDING, attempts, clock() + CLAIM, None, exc.reason)
                    budget -= wait
                    sleep(wait)
                    continue
                log.warning(
                    "outbox message %s to %s: %s; will retry in %.0fs",
                    message.id,
                    message.channel,
                    exc.reason,
                    wait,
                )
                _set(engine, message.id, PENDING, attempts, clock() + timedelta(seconds=wait), None, exc.reason)
                report.deferred.append((message.id, message.channel, exc.reason))
                waiting.add(message.channel)
                break
            except ChannelUnreachable as exc:
                log.warning("cannot post to channel %s: %s. Fix: %s", exc.channel, exc.reason, exc.fix)
                _set(engine, message.id, FAILED, attempts + 1, clock(), None, str(exc))
                report.failed.append((message.id, message.channel, str(exc)))
                break
            except Rejected as exc:
                log.error("Slack refused outbox message %s to %s: %s", message.id, message.channel, exc)
                _set(engine, message.id, FAILED, attempts + 1, clock(), None, str(exc))
                report.failed.append((message.id, message.channel, str(exc)))
                break
            except Exception as exc:
                # Unknown failures are retried with backoff rather than lost; the traceback goes to the log.
                log.exception("outbox message %s to %s failed unexpectedly", message.id, message.channel)
                attempts += 1
                status = FAILED if attempts >= MAX_ATTEMPTS else PENDING
                _set(
                    engine,
                    message.id,
                    status,
                    attempts,
                    clock() + timedelta(seconds=backoff(attempts)),
                    None,
                    f"{type(exc).__name__}: {exc}",
                )
                (report.failed if status == FAILED else report.deferred).append(
                    (message.id, message.channel, type(exc).__name__)
                )
                waiting.add(message.channel)
                break
            else:
                now = clock()
                _set(engine, message.id, SENT, attempts + 1, now, now, "", ts)
                report.sent.append((message.id, message.channel, message.kind))
                break
    return report


def _claim(engine: Engine, message: OutboxMessage, now: datetime) -> bool:
    with engine.begin() as conn:
        claimed = conn.execute(
            _CLAIM, {"id": message.id, "now": now, "until": now + CLAIM, "attempts": message.attempts}
        ).rowcount
    return claimed == 1


def _set(
    engine: Engine,
    message_id: int,
    status: str,
    attempts: int,
    next_at: datetime,
    sent_at: datetime | None,
    error: str,
    ts: str = "",
) -> None:
    with engine.begin() as conn:
        conn.execute(
            _UPDATE,
            {
                "id": message_id,
                "status": status,
                "attempts": attempts,
                "next": next_at,
                "sent": sent_at,
                "err": error[:2000],
                "ts": ts[:50],
            },
        )
