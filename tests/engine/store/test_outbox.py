"""The outbox and its delivery (engine/store/delivery.py): queued once, delivered once, retried with backoff,
unreachable channels failed with the fix, paced per channel, replies in their parent's thread."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from engine.runtime import Runtime
from engine.store.delivery import MAX_ATTEMPTS, backoff, deliver_pending
from engine.store.outbox import ChannelUnreachable, OutboxMessage, Rejected, RetryLater, enqueue, pending_count
from tests.conftest import NOW


def NO_SLEEP(seconds: float) -> None:
    """Tests never wait on the real clock: the outbox's waits go here."""


class Recorder:
    """A sender at the boundary: records what it was asked to send; `script` says how each call goes."""

    def __init__(self, *script: Exception | None) -> None:
        self.script = list(script)
        self.sent: list[OutboxMessage] = []

    def __call__(self, message: OutboxMessage) -> str:
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        self.sent.append(message)
        return f"ts-{len(self.sent)}"


def _queue(rt: Runtime, key: str, channel: str = "C1", kind: str = "alerts", reply_to: str = "") -> bool:
    with rt.engine.connect() as conn:
        queued = enqueue(
            conn, dedupe_key=key, channel=channel, kind=kind, payload={"type": kind, "n": key}, now=NOW,
            reply_to=reply_to,
        )  # fmt: skip
        conn.commit()
    return queued


def _rows(rt: Runtime) -> list[tuple]:
    with rt.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(text("SELECT dedupe_key, status, attempts, slack_ts FROM outbox ORDER BY id"))
        ]


def test_a_dedupe_key_is_queued_once(runtime: Runtime) -> None:
    assert _queue(runtime, "digest:C1:2026-W46") is True
    assert _queue(runtime, "digest:C1:2026-W46") is False
    assert [r[0] for r in _rows(runtime)] == ["digest:C1:2026-W46"]


def test_enqueue_rolls_back_with_the_callers_transaction(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn:
        enqueue(conn, dedupe_key="k", channel="C1", kind="alerts", payload={}, now=NOW)
        conn.rollback()
    assert _rows(runtime) == []


def test_delivered_messages_are_never_sent_again(runtime: Runtime) -> None:
    _queue(runtime, "a")
    _queue(runtime, "b")
    sender = Recorder()
    waits: list[float] = []
    report = deliver_pending(runtime.engine, sender, clock=lambda: NOW, sleep=waits.append)
    assert [m.dedupe_key for m in sender.sent] == ["a", "b"] and len(report.sent) == 2
    assert waits == [1.0]  # one channel: a second between its posts
    assert deliver_pending(runtime.engine, sender, clock=lambda: NOW + timedelta(days=1), sleep=NO_SLEEP).sent == []
    assert _rows(runtime) == [("a", "sent", 1, "ts-1"), ("b", "sent", 1, "ts-2")]


def test_a_retry_after_within_the_run_budget_is_waited_out_then_sent(runtime: Runtime) -> None:
    _queue(runtime, "a")
    waits: list[float] = []
    sender = Recorder(RetryLater("rate limited", 3.0))
    report = deliver_pending(runtime.engine, sender, clock=lambda: NOW, sleep=waits.append, max_wait=10)
    assert waits == [3.0] and len(report.sent) == 1
    assert _rows(runtime) == [("a", "sent", 2, "ts-1")]


def test_a_long_retry_after_defers_the_channel_but_not_the_others(runtime: Runtime) -> None:
    _queue(runtime, "a1", "C1")
    _queue(runtime, "a2", "C1")
    _queue(runtime, "b1", "C2")
    sender = Recorder(RetryLater("rate limited", 120.0))
    waits: list[float] = []
    report = deliver_pending(runtime.engine, sender, clock=lambda: NOW, sleep=waits.append, max_wait=10)
    assert waits == [] and [m.dedupe_key for m in sender.sent] == ["b1"]
    assert [d[:2] for d in report.deferred] == [(1, "C1"), (2, "C1")]
    # Not due yet one minute later; due after the Retry-After, and then in order.
    assert deliver_pending(runtime.engine, sender, clock=lambda: NOW + timedelta(seconds=60), sleep=NO_SLEEP).sent == []
    later = deliver_pending(runtime.engine, sender, clock=lambda: NOW + timedelta(seconds=121), sleep=NO_SLEEP)
    assert [m.dedupe_key for m in sender.sent] == ["b1", "a1", "a2"] and len(later.sent) == 2


def test_without_retry_after_the_backoff_doubles_and_gives_up_after_max_attempts(runtime: Runtime) -> None:
    assert [backoff(n) for n in (1, 2, 3, 20)] == [30.0, 60.0, 120.0, 3600.0]
    _queue(runtime, "a")
    sender = Recorder(*[RetryLater("HTTP 503")] * MAX_ATTEMPTS)
    at = NOW
    for _ in range(MAX_ATTEMPTS):
        report = deliver_pending(runtime.engine, sender, clock=lambda at=at: at, sleep=lambda s: None, max_wait=0)
        at += timedelta(hours=2)
    assert report.failed and _rows(runtime) == [("a", "failed", MAX_ATTEMPTS, "")]
    assert sender.sent == []


def test_a_message_outlives_a_slack_outage_of_half_a_day(runtime: Runtime) -> None:
    # Slack answering 503 for 12 hours, each retry when its backoff is due: the message goes out after it (with 8
    # attempts it was failed two hours in, and a recovery or digest queued in the outage was lost).
    _queue(runtime, "a")
    sender = Recorder(*[RetryLater("HTTP 503")] * 19)
    at, tries = NOW, 0
    while not sender.sent and tries < 30:
        deliver_pending(runtime.engine, sender, clock=lambda at=at: at, sleep=lambda s: None, max_wait=0)
        tries += 1
        at += timedelta(hours=1)
    assert tries == 20 and _rows(runtime) == [("a", "sent", 20, "ts-1")]


def test_unreachable_channel_fails_with_the_fix_logged_and_blocks_no_other_channel(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    _queue(runtime, "a", "CGONE")
    _queue(runtime, "b", "C2")
    sender = Recorder(ChannelUnreachable("CGONE", "not_in_channel", "invite @marginbot to #gone"))
    with caplog.at_level(logging.WARNING, logger="engine.store.delivery"):
        report = deliver_pending(runtime.engine, sender, clock=lambda: NOW, sleep=NO_SLEEP)
    assert [m.dedupe_key for m in sender.sent] == ["b"]
    assert report.failed[0][:2] == (1, "CGONE")
    assert "invite @marginbot to #gone" in caplog.text
    assert [r[1] for r in _rows(runtime)] == ["failed", "sent"]


def test_a_refused_message_is_failed_not_retried(runtime: Runtime) -> None:
    _queue(runtime, "a")
    report = deliver_pending(runtime.engine, Recorder(Rejected("invalid_blocks")), clock=lambda: NOW, sleep=NO_SLEEP)
    assert len(report.failed) == 1 and _rows(runtime)[0][1] == "failed"
    with runtime.connect() as conn:
        assert pending_count(conn) == 0


def test_a_message_claimed_by_a_process_that_crashed_is_retried_after_the_claim_expires(runtime: Runtime) -> None:
    _queue(runtime, "a")
    with runtime.engine.begin() as conn:  # what a claim left behind by a process killed mid-send looks like
        conn.execute(text("UPDATE outbox SET status = 'sending'"))
        conn.execute(
            text("UPDATE outbox SET next_attempt_at = :t"),
            {"t": (NOW + timedelta(minutes=5)).replace(tzinfo=None) if runtime.engine.dialect.name == "sqlite"
             else NOW + timedelta(minutes=5)},
        )  # fmt: skip
    sender = Recorder()
    assert deliver_pending(runtime.engine, sender, clock=lambda: NOW, sleep=NO_SLEEP).sent == []
    later = deliver_pending(runtime.engine, sender, clock=lambda: NOW + timedelta(minutes=6), sleep=NO_SLEEP)
    assert len(later.sent) == 1


def test_payloads_must_be_json_data(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn, pytest.raises(TypeError):
        enqueue(conn, dedupe_key="k", channel="C", kind="x", payload={"when": object()}, now=NOW)
    assert isinstance(NOW, datetime)


def test_a_short_wait_on_one_channel_lets_the_other_channel_go_first(runtime: Runtime) -> None:
    _queue(runtime, "a1", "C1")
    _queue(runtime, "b1", "C2")
    _queue(runtime, "b2", "C2")
    waits: list[float] = []
    sender = Recorder(RetryLater("rate limited", 5.0))
    report = deliver_pending(runtime.engine, sender, clock=lambda: NOW, sleep=waits.append, max_wait=10)
    assert [m.dedupe_key for m in sender.sent] == ["b1", "b2", "a1"] and len(report.sent) == 3
    assert waits == [1.0, 4.0]  # C2's pace, then what is left of C1's five seconds
    assert _rows(runtime)[0] == ("a1", "sent", 2, "ts-3")


def test_a_reply_goes_in_its_parents_thread_once_the_parent_is_posted(runtime: Runtime) -> None:
    _queue(runtime, "digest", "C1")
    _queue(runtime, "chart", "C1", reply_to="digest")
    _queue(runtime, "orphan", "C2", reply_to="never-queued")
    sender = Recorder()
    deliver_pending(runtime.engine, sender, clock=lambda: NOW, sleep=NO_SLEEP)
    threads = {m.dedupe_key: m.thread_ts for m in sender.sent}
    assert threads == {"digest": None, "chart": "ts-1", "orphan": None}  # no parent: it stands on its own


def test_a_reply_waits_while_its_parent_waits(runtime: Runtime) -> None:
    _queue(runtime, "digest", "C1")
    _queue(runtime, "chart", "C1", reply_to="digest")
    sender = Recorder(RetryLater("rate limited", 600.0))
    report = deliver_pending(runtime.engine, sender, clock=lambda: NOW, sleep=NO_SLEEP)
    assert sender.sent == [] and [d[0] for d in report.deferred] == [1, 2]
    deliver_pending(runtime.engine, sender, clock=lambda: NOW + timedelta(minutes=11), sleep=NO_SLEEP)
    assert [(m.dedupe_key, m.thread_ts) for m in sender.sent] == [("digest", None), ("chart", "ts-1")]


def test_only_the_claim_that_sent_a_message_marks_it_and_a_lost_claim_is_logged(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """A send that outlived its claim (the thing capped in-call waits prevent) cannot overwrite the row of the
    process that took the claim over, and says the message may show twice."""
    _queue(runtime, "a")
    other = Recorder()

    def slow(message: OutboxMessage) -> str:
        # While this send is in flight its claim expires and another process delivers the same row.
        deliver_pending(runtime.engine, other, clock=lambda: NOW + timedelta(minutes=6), sleep=NO_SLEEP)
        return "ts-slow"

    with caplog.at_level(logging.ERROR, logger="engine.store.delivery"):
        deliver_pending(runtime.engine, slow, clock=lambda: NOW, sleep=NO_SLEEP)
    assert [m.dedupe_key for m in other.sent] == ["a"]
    assert _rows(runtime) == [("a", "sent", 1, "ts-1")]  # the taker's mark stands
    assert "its claim had been taken over meanwhile: it may show twice" in caplog.text


def test_a_message_that_fails_unexpectedly_is_set_aside_and_its_channel_goes_on(runtime: Runtime) -> None:
    # A digest that cannot be drawn (matplotlib refused a model name) was retried 30 times, about a day, and the breach
    # alert queued after it waited all that time ("an earlier message to this channel is waiting"). Now the alert goes
    # at once; the digest is retried as before, and its chart (its own part) waits for it.
    _queue(runtime, "digest:C1:2026-W46", kind="digest")
    _queue(runtime, "digest:C1:2026-W46:chart", kind="digest_chart")
    _queue(runtime, "alerts:C1:1")
    failures = [ValueError("Unknown symbol: \\frac")] * 2

    class Sender(Recorder):
        def __call__(self, message: OutboxMessage) -> str:
            if message.dedupe_key == "digest:C1:2026-W46" and failures:
                raise failures.pop()
            return super().__call__(message)

    sender = Sender()
    first = deliver_pending(runtime.engine, sender, clock=lambda: NOW, sleep=NO_SLEEP, max_wait=0)
    assert [m.dedupe_key for m in sender.sent] == ["alerts:C1:1"] and not first.failed
    assert [d[2] for d in first.deferred] == ["ValueError", "waiting for the message it belongs to"]
    # Its retry, 30 seconds on, fails again: still set aside, nothing given up, nothing else held.
    _queue(runtime, "alerts:C1:2")
    at = NOW + timedelta(seconds=backoff(1))
    deliver_pending(runtime.engine, sender, clock=lambda: at, sleep=NO_SLEEP, max_wait=0)
    assert [m.dedupe_key for m in sender.sent] == ["alerts:C1:1", "alerts:C1:2"]
    # Before its next retry it waits, alone with its chart; then both go, the digest first.
    _queue(runtime, "alerts:C1:3")
    deliver_pending(runtime.engine, sender, clock=lambda: at + timedelta(seconds=1), sleep=NO_SLEEP, max_wait=0)
    later = at + timedelta(seconds=backoff(2))
    deliver_pending(runtime.engine, sender, clock=lambda: later, sleep=NO_SLEEP, max_wait=0)
    assert [m.dedupe_key for m in sender.sent] == [
        "alerts:C1:1", "alerts:C1:2", "alerts:C1:3", "digest:C1:2026-W46", "digest:C1:2026-W46:chart"
    ]  # fmt: skip
    assert [r[1] for r in _rows(runtime)] == ["sent"] * 5


def test_an_unexpected_failure_after_slack_outages_is_still_retried_not_given_up(runtime: Runtime) -> None:
    # Two 503s, then an unexpected error: the message (3 attempts in all) is retried, not failed for good.
    _queue(runtime, "alerts:C1:1")
    sender = Recorder(RetryLater("HTTP 503"), RetryLater("HTTP 503"), RuntimeError("database is locked"))
    at = NOW
    for _ in range(4):
        deliver_pending(runtime.engine, sender, clock=lambda at=at: at, sleep=NO_SLEEP, max_wait=0)
        at += timedelta(hours=1)
    assert _rows(runtime) == [("alerts:C1:1", "sent", 4, "ts-1")]


def test_the_parts_of_a_message_set_aside_keep_their_order(runtime: Runtime) -> None:
    # Part 1/2 set aside let part 2/2 go first.
    _queue(runtime, "alerts:C1:run:1/2")
    _queue(runtime, "alerts:C1:run:2/2")
    _queue(runtime, "alerts:C1:other:1/1")
    failures = [RuntimeError("database is locked")]

    class Sender(Recorder):
        def __call__(self, message: OutboxMessage) -> str:
            if message.dedupe_key == "alerts:C1:run:1/2" and failures:
                raise failures.pop()
            return super().__call__(message)

    sender = Sender()
    deliver_pending(runtime.engine, sender, clock=lambda: NOW, sleep=NO_SLEEP, max_wait=0)
    assert [m.dedupe_key for m in sender.sent] == ["alerts:C1:other:1/1"]
    deliver_pending(runtime.engine, sender, clock=lambda: NOW + timedelta(minutes=1), sleep=NO_SLEEP, max_wait=0)
    assert [m.dedupe_key for m in sender.sent] == ["alerts:C1:other:1/1", "alerts:C1:run:1/2", "alerts:C1:run:2/2"]


def test_an_update_waiting_for_its_retry_holds_no_later_post(runtime: Runtime) -> None:
    # An alert's update in place (alert_refresh) answered 503 six times waits 16 minutes for its next try; a breach
    # alert queued meanwhile waited all that time behind it.
    _queue(runtime, "refresh:1", kind="alert_refresh")
    _queue(runtime, "alerts:C1:1")
    sender = Recorder(RetryLater("HTTP 503"))
    deliver_pending(runtime.engine, sender, clock=lambda: NOW, sleep=NO_SLEEP, max_wait=0)
    assert [m.dedupe_key for m in sender.sent] == ["alerts:C1:1"]
    _queue(runtime, "alerts:C1:2")
    deliver_pending(runtime.engine, sender, clock=lambda: NOW + timedelta(seconds=5), sleep=NO_SLEEP, max_wait=0)
    assert [m.dedupe_key for m in sender.sent] == ["alerts:C1:1", "alerts:C1:2"]
    later = NOW + timedelta(seconds=backoff(1))
    deliver_pending(runtime.engine, sender, clock=lambda: later, sleep=NO_SLEEP, max_wait=0)
    assert [m.dedupe_key for m in sender.sent] == ["alerts:C1:1", "alerts:C1:2", "refresh:1"]
