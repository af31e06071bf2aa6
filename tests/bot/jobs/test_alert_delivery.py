"""Nothing lost to size, nothing posted twice: big runs split into parts Slack takes, refusals fall back to plain
text, an undeliverable announcement is made again by the next run, and a long Retry-After posts once. The Slack
stand-in refuses messages past 50 blocks or 12,000 characters of block text, as Slack does."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.blocks.alerts import alert_fallback, pack_alerts
from bot.cli.main import main
from bot.jobs.delivery import deliver
from bot.slack.client import make_client
from config.settings import Settings
from engine.alerts import evaluate
from engine.alerts.evaluate import check_alerts
from engine.alerts.state import ConcurrentAlertRun
from engine.runtime import Runtime
from tests.bot.blockkit import all_text, assert_postable
from tests.bot.jobs.support import BOT_TOKEN, alerts_runtime, plain_client
from tests.conftest import NOW
from tests.engine.alerts.book import WINDOW_START, Run, load
from tests.fakes.slack_api import Reply, SlackStandIn

CHANNELS = ["CALERTS", "COPS"]
EVIL = "<!channel> & Co"


@pytest.fixture
def rt(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> Runtime:
    return alerts_runtime(settings, slack, tmp_path, alert_channels=CHANNELS)


def seventy_breaches(rt: Runtime, folder: Path) -> list[str]:
    """70 customers at 30% margin (a breach each), with long names; one named to ping the channel."""
    names = [EVIL] + [f"Customer {n:02d} Holdings International Limited" for n in range(1, 70)]
    contracts = [(f"c{n:02d}", name, "agent") for n, name in enumerate(names)]
    runs = [Run(key, "agent", WINDOW_START, 30, 10, Decimal("7.00")) for key, _, _ in contracts]
    load(rt, folder, runs, contracts, tag="big")
    return names


def test_seventy_breaches_reach_slack_in_numbered_parts_and_no_name_pings_the_channel(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    rt = alerts_runtime(settings, slack, tmp_path, alert_channels=["CALERTS"])
    names = seventy_breaches(rt, tmp_path / "big")
    assert main(["alerts", "check"], runtime=rt) == 0
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) >= 3
    for i, post in enumerate(posts, 1):
        assert post.blocks, "posted with its blocks, not the plain-text fallback"
        assert_postable(post.text, post.blocks)  # within 50 blocks and 12,000 characters; no "<!" anywhere
        assert b"<!" not in post.raw
        assert post.text.startswith(f"Margin alerts ({i}/{len(posts)})")
    shown = "\n".join(all_text(p.blocks) for p in posts)
    everyone = ["&lt;!channel&gt; &amp; Co", *names[1:], "agent"]
    assert all(shown.count(f"*{name}* (") == 1 for name in everyone)  # each subject once, whole
    with rt.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM outbox WHERE status = 'sent'")).scalar_one() == len(posts)


def test_a_message_slack_refuses_for_its_size_goes_out_as_plain_text_in_chunks(
    rt: Runtime, slack: SlackStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    names = seventy_breaches(rt, tmp_path / "big")
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": "msg_blocks_too_long"}))
    check_alerts(rt, pack=pack_alerts)
    with caplog.at_level(logging.WARNING):
        report = deliver(rt, plain_client(slack), sleep=lambda s: None)
    assert report.failed == [] and "posting it as plain text instead" in caplog.text
    refused, *rest = slack.calls_to("chat.postMessage")
    fallback = [c for c in rest if not c.blocks]
    assert fallback and all(len(c.text) <= 3000 and "<!" not in c.text for c in fallback)
    first_part = [e for e in refused.blocks if e.get("type") == "section"]
    assert all(s["text"]["text"].split("\n")[0] in "\n".join(c.text for c in fallback) for s in first_part)
    shown = "\n".join(c.text or "" for c in rest) + "\n".join(all_text(c.blocks) for c in rest)
    assert all(name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in shown for name in names)


def test_a_plain_text_chunk_that_must_wait_holds_the_message_and_its_retry_goes_on_from_that_chunk(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    rt = alerts_runtime(settings, slack, tmp_path, alert_channels=["CALERTS"])
    names = seventy_breaches(rt, tmp_path / "big")
    run = check_alerts(rt, pack=pack_alerts)
    chunks = alert_fallback(run.messages[0].payload)
    assert len(chunks) >= 2
    slack.queue(
        "chat.postMessage",
        Reply(200, {"ok": False, "error": "msg_blocks_too_long"}),  # part 1 refused for its size
        Reply(200, {"ok": True, "ts": "1700000000.900001"}),  # its first plain-text chunk
        Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}),  # the second must wait
    )
    waits: list[float] = []
    first = deliver(rt, make_client(rt.settings, sleep=lambda s: None), sleep=waits.append)
    assert first.sent == [] and waits == [1.0, 1.0]  # each post paced a second after the one before; none sent
    with rt.connect() as conn:
        row = conn.execute(text("SELECT status, attempts FROM outbox ORDER BY id")).first()
    assert row is not None and tuple(row) == ("pending", 1)
    early = Runtime(rt.settings.model_copy(), now_override=NOW + timedelta(seconds=29))
    assert deliver(early, make_client(early.settings), sleep=waits.append).sent == []  # honouring Retry-After
    # Half a minute later the retry goes on from chunk 2; the other parts follow, in order.
    due = Runtime(rt.settings.model_copy(), now_override=NOW + timedelta(seconds=31))
    assert len(deliver(due, make_client(due.settings), sleep=waits.append).sent) == len(run.messages)
    posted = [c.text for c in slack.calls_to("chat.postMessage")[1:] if not c.blocks]
    assert posted == [chunks[0], chunks[1], *chunks[1:]]  # chunk 1 once; chunk 2 refused once, then posted
    shown = "\n".join(c.text + all_text(c.blocks) for c in slack.calls_to("chat.postMessage")[1:])
    missing = [n for n in names[1:] if n not in shown]
    assert missing == []
    with rt.connect() as conn:
        rows = conn.execute(text("SELECT status, slack_ts FROM outbox ORDER BY id")).all()
    assert all(status == "sent" for status, _ in rows) and rows[0].slack_ts == "1700000000.900001"  # chunk 1's


def test_an_announcement_that_cannot_be_delivered_is_made_again_by_the_next_run(
    rt: Runtime, slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": "not_in_channel"}))
    with caplog.at_level(logging.ERROR):
        assert main(["alerts", "check"], runtime=rt) == 1
    assert "they stay un-announced there, and the next alerts check posts them again" in caplog.text
    assert [c.body["channel"] for c in slack.calls_to("chat.postMessage")] == CHANNELS
    # The bot is invited; the next run announces it all again, in CALERTS only (COPS had it).
    assert main(["alerts", "check", "--as-of", (NOW + timedelta(hours=1)).isoformat()], runtime=rt) == 0
    again = slack.calls_to("chat.postMessage")[2:]
    assert [c.body["channel"] for c in again] == ["CALERTS"] and "thread_ts" not in again[0].body
    shown = all_text(again[0].blocks)
    for name in ("Acme Corp", "dunder", "Echo Labs", "Fox Media", "search"):
        assert f"*{name}*" in shown
    assert "first announced 2026-11-15; that post did not reach this channel" in shown
    # From then on it is like any other announcement: a week later the reminders go in its thread.
    with rt.connect() as conn:
        root = conn.execute(
            text("SELECT slack_ts FROM outbox WHERE channel = 'CALERTS' AND status = 'sent' ORDER BY id")
        ).scalar_one()
    assert main(["alerts", "check", "--as-of", "2026-11-22T13:00:00Z"], runtime=rt) == 0
    reminders = {c.body["channel"]: c for c in slack.calls_to("chat.postMessage")[3:]}
    assert reminders["CALERTS"].body["thread_ts"] == root


def test_two_checks_at_once_announce_an_undelivered_subject_again_only_once(
    rt: Runtime, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": "not_in_channel"}))
    assert main(["alerts", "check"], runtime=rt) == 1  # un-announced in CALERTS
    # The bot is invited; two checks run at the same moment (cron's beside serve's): the second reads, decides and
    # commits while the first is between its reading and its writing.
    first = Runtime(rt.settings, now_override=NOW + timedelta(hours=1))
    second = Runtime(rt.settings, now_override=NOW + timedelta(hours=1, seconds=5))
    real = evaluate._attach_reports

    def meanwhile(*args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(evaluate, "_attach_reports", real)
        assert check_alerts(second, pack=pack_alerts).queued == 1
        real(*args, **kwargs)

    monkeypatch.setattr(evaluate, "_attach_reports", meanwhile)
    with pytest.raises(ConcurrentAlertRun):
        check_alerts(first, pack=pack_alerts)  # stands down, writing nothing
    deliver(second, plain_client(slack), sleep=lambda s: None)
    again = [c for c in slack.calls_to("chat.postMessage")[2:] if c.body["channel"] == "CALERTS"]
    assert len(again) == 1
    with rt.connect() as conn:
        roots = conn.execute(
            text("SELECT COUNT(*) FROM alert_thread WHERE channel = 'CALERTS' AND closed_at IS NULL GROUP BY subject")
        ).scalars()
        assert set(roots) == {1}


def test_a_retry_after_far_beyond_the_claim_posts_the_message_once(rt: Runtime, slack: SlackStandIn) -> None:
    slack.queue("chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "900"}))
    check_alerts(rt, pack=pack_alerts)
    client = make_client(rt.settings)  # the production client: its in-call retries wait 3 seconds at most
    started = time.monotonic()
    first = deliver(rt, client, sleep=lambda s: None)
    assert time.monotonic() - started < 3  # the 15-minute wait is the outbox's, not the call's
    assert [d[1] for d in first.deferred] == ["CALERTS"] and [s[1] for s in first.sent] == ["COPS"]
    # Another process, after the 5-minute claim would have expired: the message is not due, nothing is sent.
    later = Runtime(rt.settings.model_copy(), now_override=NOW + timedelta(minutes=6))
    assert deliver(later, make_client(later.settings), sleep=lambda s: None).sent == []
    due = Runtime(rt.settings.model_copy(), now_override=NOW + timedelta(minutes=16))
    assert [s[1] for s in deliver(due, make_client(due.settings), sleep=lambda s: None).sent] == ["CALERTS"]
    accepted = [c for c in slack.calls_to("chat.postMessage") if c.body["channel"] == "CALERTS"]
    assert len(accepted) == 2  # the refused attempt and the one post
    with rt.connect() as conn:
        assert [tuple(r) for r in conn.execute(text("SELECT channel, status, attempts FROM outbox ORDER BY id"))] == [
            ("CALERTS", "sent", 2), ("COPS", "sent", 1)
        ]  # fmt: skip


def test_posts_to_one_channel_are_paced_a_second_apart_without_holding_the_other(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    rt = alerts_runtime(settings, slack, tmp_path, alert_channels=CHANNELS)
    seventy_breaches(rt, tmp_path / "big")
    run = check_alerts(rt, pack=pack_alerts)
    parts = len(run.messages) // 2
    waits: list[float] = []
    deliver(rt, plain_client(slack), sleep=waits.append)
    order = [c.body["channel"] for c in slack.calls_to("chat.postMessage")]
    assert order == CHANNELS * parts  # interleaved: each channel's next part while the other one's pace runs
    assert len(waits) == parts - 1 and all(0 < w <= 1.0 for w in waits)


def test_a_slack_error_page_echoing_the_token_leaks_it_nowhere(
    rt: Runtime, slack: SlackStandIn, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    page = f"<html><body>502 Bad Gateway<pre>POST /api/chat.postMessage\nAuthorization: Bearer {BOT_TOKEN}</pre>"
    slack.queue("chat.postMessage", Reply(502, page))
    with caplog.at_level(logging.DEBUG):
        assert main(["alerts", "check"], runtime=rt) == 0
    out = capsys.readouterr()
    with rt.connect() as conn:
        stored = " ".join(conn.execute(text("SELECT last_error FROM outbox")).scalars())
    assert "Slack error 502" in out.err + stored
    for where in (out.out, out.err, caplog.text, stored):
        assert BOT_TOKEN not in where and "xoxb-" not in where
