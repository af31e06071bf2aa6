"""Delivering the outbox: each due message claimed, sent, and marked, exactly once, also under long waits.

A row is claimed (so two processes never send it together), sent, and marked sent. A claim lasts CLAIM (five
minutes) and nothing waits while holding one: a send is one bounded API call (its in-call retries wait a few
seconds at most, bot/slack/client.py); every longer wait (a `Retry-After`, a backoff, pacing) happens with the row
released, as `next_attempt_at`, so a claim can never expire under a send still in flight and hand the same row to
a second process. Each claim carries a token and the row is marked only by the claim that sent it. A crash between
Slack accepting a message and marking it sent can still resend that one message once its claim expires (the one
at-least-once window left).

Ordering and pace: each channel's messages go out oldest first, at most one post every PACE seconds (Slack's
~1 message a second per channel); a channel that must wait holds only its own later messages (so a digest's chart
never arrives before its digest), never other channels'. A message set aside after an unexpected failure, and an
update of a message already posted, hold only what belongs to them (their parts and replies: `_hold_own`). A reply
is sent with its parent's ts as `thread_ts`.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, Integer, String, Text, bindparam, column, text

from engine.scrub import scrub
from engine.store.models import UTCDateTime
from engine.store.outbox import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    UPDATES,
    ChannelUnreachable,
    DeliveryReport,
    OutboxMessage,
    Paused,
    Rejected,
    RetryLater,
    utc_now,
)

log = logging.getLogger(__name__)

# A message is retried through a day of Slack being down (backoff doubles to an hour: 8 attempts took 2 hours, and
# an outage that long cost the recoveries, reminders and digest queued in it; announcements are made again anyway).
MAX_ATTEMPTS = 30
# How the last error of a message set aside begins: one that failed in a way neither Slack's answer nor the network's
# explains (see deliver_pending). Its channel does not wait for it.
ASIDE = "set aside: "
CLAIM = timedelta(minutes=5)  # a claimed row is someone's for this long; after that another run may retry it
BACKOFF_FIRST = 30.0  # seconds before the first retry when the server gave no Retry-After
BACKOFF_MAX = 3600.0
IN_RUN_WAIT = 30.0  # a retry due less than this many seconds after the run's start is waited for in the run
PACE = 1.0  # seconds between two posts to one channel

Sender = Callable[[OutboxMessage], str]  # returns what Slack identified it by (message ts, file id)
Clock = Callable[[], datetime]
FailedHook = Callable[[OutboxMessage, str], None]


# Every undelivered row, due or not: a row that is not due yet holds back later rows to the same channel (but one set
# aside, or an update in place: only its own, `_hold_own`).
_UNSENT = text(
    "SELECT id, dedupe_key, channel, kind, payload, attempts, next_attempt_at, reply_to, last_error FROM outbox "
    "WHERE status IN ('pending', 'sending') ORDER BY id LIMIT :limit"
).columns(
    column("id", Integer()),
    column("dedupe_key", String()),
    column("channel", String()),
    column("kind", String()),
    column("payload", Text()),
    column("attempts", Integer()),
    column("next_attempt_at", UTCDateTime()),
    column("reply_to", String()),
    column("last_error", Text()),
)
_CLAIM = text(
    "UPDATE outbox SET status = 'sending', next_attempt_at = :until, claim = :token "
    "WHERE id = :id AND status IN ('pending', 'sending') AND next_attempt_at <= :now AND attempts = :attempts"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime()))
# Only the claim that sent (or tried) a row may record the outcome.
_UPDATE = text(
    "UPDATE outbox SET status = :status, attempts = :attempts, next_attempt_at = :next, sent_at = :sent, "
    "last_error = :err, slack_ts = :ts, claim = '' WHERE id = :id AND claim = :token"
).bindparams(
    bindparam("next", type_=UTCDateTime()),
    bindparam("sent", type_=UTCDateTime()),
    bindparam("status", type_=String()),
    bindparam("attempts", type_=Integer()),
    bindparam("err", type_=Text()),
    bindparam("ts", type_=String()),
)
_PARENT = text("SELECT status, slack_ts FROM outbox WHERE dedupe_key = :k").columns(
    column("status", String()), column("slack_ts", String())
)


def backoff(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failure: 30 s, 1 min, 2 min, … capped at an hour."""
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1)))


class _Timeline:
    """The run's notion of now: the clock, but never behind the waits the run itself slept (a test's clock stands
    still while its injected sleep returns at once)."""

    def __init__(self, clock: Clock, sleep: Callable[[float], None]) -> None:
        self._clock, self._sleep = clock, sleep
        self._floor = clock()

    def now(self) -> datetime:
        self._floor = max(self._floor, self._clock())
        return self._floor

    def wait_until(self, when: datetime) -> None:
        seconds = (when - self.now()).total_seconds()
        if seconds > 0:
            self._sleep(seconds)
            self._floor = max(self._floor, when)


@dataclass
class _Due:
    message: OutboxMessage
    next_attempt_at: datetime
    aside: bool = False  # set aside after an unexpected failure: while it waits, its channel goes on


def deliver_pending(
    engine: Engine,
    sender: Sender,
    *,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    max_wait: float = IN_RUN_WAIT,
    pace: float = PACE,
    limit: int = 500,
    on_failed: FailedHook | None = None,
) -> DeliveryReport:
    """Send every due message, oldest first per channel, channels interleaved. Returns what was sent, deferred and
    given up; `on_failed(message, why)` hears of every message given up for good.

    A retry due less than `max_wait` seconds after the run's start is waited for in the run (other channels go on);
    a later one is left to a later run. A channel the bot cannot reach fails its messages with the fix in the log,
    and blocks nothing else.
    """
    report = DeliveryReport()
    with engine.connect() as conn:
        rows = conn.execute(_UNSENT, {"limit": limit}).all()
    line = _Timeline(clock, sleep)
    start = line.now()
    deadline = start + timedelta(seconds=max_wait)
    queues: dict[str, deque[_Due]] = {}
    for row in rows:
        message = OutboxMessage(
            row.id, row.dedupe_key, row.channel, row.kind, json.loads(row.payload), row.attempts, row.reply_to or ""
        )
        aside = (row.last_error or "").startswith(ASIDE) or row.kind in UPDATES
        queues.setdefault(row.channel, deque()).append(_Due(message, row.next_attempt_at, aside))
    ready = dict.fromkeys(queues, start)  # when each channel may post next (pace, short retries)

    def give_up(message: OutboxMessage, attempts: int, token: str, why: str) -> None:
        why = scrub(why)
        _set(engine, message.id, token, FAILED, attempts, line.now(), None, why)
        report.failed.append((message.id, message.channel, why))
        if on_failed is not None:
            try:
                on_failed(message, why)
            except Exception:
                log.exception("after giving up on outbox message %s", message.id)

    while queues:
        channel = min(queues, key=lambda c: (ready[c], queues[c][0].message.id))
        line.wait_until(ready[channel])
        due = queues[channel][0]
        message = due.message
        now = line.now()
        if due.next_attempt_at > now:
            # Waiting for its retry time, or claimed by another process: it and what follows wait for a later run.
            # One set aside (below), or an update of a message already posted (UPDATES), waits with its own only.
            queues[channel].popleft()
            if due.aside:
                report.deferred.append((message.id, channel, "waiting for its retry; the channel goes on"))
                _hold_own(queues, channel, report, message)
            else:
                _hold_rest(queues, channel, report)
            continue
        if message.reply_to:
            parent = _parent(engine, message.reply_to)
            if parent is not None and parent[0] in (PENDING, SENDING):
                # Its parent was set aside (a channel waiting for its parent's retry never gets this far) or is
                # being sent by another process: the reply waits for it, and the channel goes on.
                queues[channel].popleft()
                report.deferred.append((message.id, channel, "waiting for the message it replies to"))
                _hold_own(queues, channel, report, message)
                continue
            # Posted: reply in its thread. Failed or gone: the reply stands on its own at the top level.
            message = replace(message, thread_ts=parent[1] if parent and parent[0] == SENT and parent[1] else None)
        token = _claim(engine, message, now)
        if token is None:
            queues[channel].popleft()  # another process has it
            if not queues[channel]:
                queues.pop(channel)
            continue
        attempts = message.attempts
        try:
            ts = sender(message)
        except RetryLater as exc:
            attempts += 1
            wait = exc.retry_after if exc.retry_after is not None else backoff(attempts)
            when = line.now() + timedelta(seconds=wait)
            if attempts >= MAX_ATTEMPTS:
                log.error(
                    "giving up on outbox message %s to %s after %d attempts: %s",
                    message.id,
                    channel,
                    attempts,
                    scrub(exc.reason),
                )
                give_up(message, attempts, token, exc.reason)
                queues[channel].popleft()
            elif when < deadline:
                log.info("outbox message %s to %s: %s; retrying in %.1fs", message.id, channel, scrub(exc.reason), wait)
                # Released while it waits: the claim never outlives a send (see the module docstring).
                _set(engine, message.id, token, PENDING, attempts, when, None, scrub(exc.reason))
                queues[channel][0] = _Due(replace(message, attempts=attempts), when)
                ready[channel] = when
                continue
            else:
                log.warning(
                    "outbox message %s to %s: %s; will retry in %.0fs", message.id, channel, scrub(exc.reason), wait
                )
                _set(engine, message.id, token, PENDING, attempts, when, None, scrub(exc.reason))
                report.deferred.append((message.id, channel, scrub(exc.reason)))
                queues[channel].popleft()
                if message.kind in UPDATES:
                    _hold_own(queues, channel, report, message)
                else:
                    _hold_rest(queues, channel, report)
                continue
        except Paused as exc:
            # Every other message would be refused the same way: stop here. The row is released as it was (still
            # due, no attempt counted), so the first run after the fix sends everything, in order.
            why = scrub(str(exc))
            _set(engine, message.id, token, PENDING, message.attempts, due.next_attempt_at, None, why)
            log.error("outbox paused, nothing sent: %s. Every message waits for the next run after the fix", why)
            report.paused = why
            for left in list(queues):
                _hold_rest(queues, left, report, "paused: " + scrub(exc.reason))
            break
        except ChannelUnreachable as exc:
            log.warning("cannot post to channel %s: %s. Fix: %s", exc.channel, exc.reason, exc.fix)
            give_up(message, attempts + 1, token, str(exc))
            queues[channel].popleft()
        except Rejected as exc:
            log.error("Slack refused outbox message %s to %s: %s", message.id, channel, scrub(str(exc)))
            give_up(message, attempts + 1, token, str(exc))
            queues[channel].popleft()
        except Exception as exc:
            # Unknown failures are retried with backoff rather than lost; the traceback goes to the log (scrubbed).
            # The message is set aside: retried through a day as any other, but its channel does not wait for it. A
            # failure that repeats (a chart that cannot be drawn) held every later message of the channel, breach
            # alerts among them, that whole day. Only what belongs to it waits: its replies and its own parts (a
            # digest's chart, `KEY:chart`, never arrives before its digest).
            log.exception("outbox message %s to %s failed unexpectedly", message.id, channel)
            attempts += 1
            why = scrub(f"{type(exc).__name__}: {exc}")
            queues[channel].popleft()
            if attempts >= MAX_ATTEMPTS:
                give_up(message, attempts, token, why)
            else:
                later = line.now() + timedelta(seconds=backoff(attempts))
                _set(engine, message.id, token, PENDING, attempts, later, None, ASIDE + why)
                report.deferred.append((message.id, channel, type(exc).__name__))
                _hold_own(queues, channel, report, message)
                continue
        else:
            done = line.now()
            if not _set(engine, message.id, token, SENT, attempts + 1, done, done, "", ts):
                log.error(
                    "outbox message %s to %s was sent, but its claim had been taken over meanwhile: it may show twice",
                    message.id,
                    channel,
                )
            report.sent.append((message.id, channel, message.kind))
            queues[channel].popleft()
            ready[channel] = done + timedelta(seconds=pace)
        if not queues[channel]:
            queues.pop(channel)
    return report


def _hold_rest(
    queues: dict[str, deque[_Due]],
    channel: str,
    report: DeliveryReport,
    why: str = "an earlier message to this channel is waiting",
) -> None:
    """The channel waits: what is left of its queue is deferred, in order, to a later run."""
    for due in queues.pop(channel):
        report.deferred.append((due.message.id, channel, why))


_PART = re.compile(r":\d+/\d+$")  # a part's number in its key (engine/alerts/messages.py): `BASE:2/3`


def _hold_own(queues: dict[str, deque[_Due]], channel: str, report: DeliveryReport, message: OutboxMessage) -> None:
    """A message set aside keeps its own waiting with it, to a later run: what is queued under its key (`KEY:chart`),
    the other parts of the message it is a part of (`BASE:2/3` after `BASE:1/3`, and their replies, `BASE:re-…`),
    and its replies. The rest of the channel goes on (an emptied channel is done)."""
    key = message.dedupe_key
    own = (f"{key}:", f"{_PART.sub('', key)}:")
    left: deque[_Due] = deque()
    for due in queues[channel]:
        if due.message.dedupe_key.startswith(own) or due.message.reply_to == key:
            report.deferred.append((due.message.id, channel, "waiting for the message it belongs to"))
        else:
            left.append(due)
    if left:
        queues[channel] = left
    else:
        queues.pop(channel)


def _parent(engine: Engine, dedupe_key: str) -> tuple[str, str] | None:
    with engine.connect() as conn:
        row = conn.execute(_PARENT, {"k": dedupe_key}).first()
    return None if row is None else (str(row.status), str(row.slack_ts or ""))


def _claim(engine: Engine, message: OutboxMessage, now: datetime) -> str | None:
    """Take the row for one send; the token is what lets only this claim record the outcome."""
    token = uuid.uuid4().hex
    with engine.begin() as conn:
        claimed = conn.execute(
            _CLAIM,
            {"id": message.id, "now": now, "until": now + CLAIM, "attempts": message.attempts, "token": token},
        ).rowcount
    return token if claimed == 1 else None


def _set(
    engine: Engine,
    message_id: int,
    token: str,
    status: str,
    attempts: int,
    next_at: datetime,
    sent_at: datetime | None,
    error: str,
    ts: str = "",
) -> bool:
    with engine.begin() as conn:
        updated = conn.execute(
            _UPDATE,
            {
                "id": message_id,
                "token": token,
                "status": status,
                "attempts": attempts,
                "next": next_at,
                "sent": sent_at,
                "err": scrub(error)[:2000],
                "ts": ts[:50],
            },
        ).rowcount
    return updated == 1
