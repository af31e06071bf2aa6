"""Alerts end to end against the loopback stand-in for Slack's Web API: what is posted, once, and how failures
are retried. The book is tests/engine/alerts/book.py (acme, dunder, echo, fox and product search need
attention; bluth and cyber do not)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import text

from bot.blocks.alerts import pack_alerts
from bot.cli.main import main
from bot.jobs.delivery import deliver
from bot.slack.client import make_client
from config.settings import Settings
from engine.alerts.evaluate import check_alerts
from engine.runtime import Runtime
from tests.bot.blockkit import all_text, assert_valid_message
from tests.bot.jobs.support import alerts_runtime, plain_client
from tests.conftest import NOW
from tests.fakes.slack_api import Reply, SlackStandIn

CHANNELS = ["CALERTS", "COPS"]


@pytest.fixture
def rt(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> Runtime:
    return alerts_runtime(settings, slack, tmp_path, alert_channels=CHANNELS)


def test_alerts_check_posts_one_message_per_channel_listing_every_new_breach(
    rt: Runtime, slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "check"], runtime=rt) == 0
    posts = slack.calls_to("chat.postMessage")
    assert [p.body["channel"] for p in posts] == CHANNELS
    for post in posts:
        assert_valid_message(post.text, post.blocks)
        shown = all_text(post.blocks)
        for name in ("Acme Corp", "dunder", "Echo Labs", "Fox Media", "search"):
            assert name in shown
        assert "Bluth" not in shown and "Cyberdyne" not in shown
        assert "margin *30.0%*" in shown and "revenue $300.00" in shown and "COGS $210.00" in shown
        assert "biggest cost driver: gpt-4o on agent-run +$150.00 (×3.5)" in shown
        assert "Acme Corp 30.0%" in post.text
    assert post.headers["authorization"] == "Bearer xoxb-test-token"
    out = capsys.readouterr().out
    assert "2 breach, 1 no revenue, 1 trending to breach, 2 unpriced; 2 message(s) queued" in out
    assert "delivery: 2 sent" in out


def test_alert_is_not_repeated_on_a_second_run(rt: Runtime, slack: SlackStandIn) -> None:
    assert main(["alerts", "check"], runtime=rt) == 0
    assert main(["alerts", "check"], runtime=rt) == 0
    assert main(["alerts", "check", "--as-of", "2026-11-15T18:00:00Z"], runtime=rt) == 0
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_dry_run_prints_the_message_and_posts_nothing(
    rt: Runtime, slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "check", "--dry-run"], runtime=rt) == 0
    out = capsys.readouterr().out
    assert "would post to CALERTS, COPS" in out and "Acme Corp (customer): margin 30.0%" in out
    assert slack.calls == []
    assert main(["alerts", "check"], runtime=rt) == 0
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_reminder_then_quiet_with_time_moved_forward(rt: Runtime, slack: SlackStandIn) -> None:
    assert main(["alerts", "check"], runtime=rt) == 0
    assert main(["alerts", "check", "--as-of", "2026-11-18T12:00:00Z"], runtime=rt) == 0
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert main(["alerts", "check", "--as-of", "2026-11-22T12:00:00Z"], runtime=rt) == 0
    reminders = slack.calls_to("chat.postMessage")[2:]
    assert len(reminders) == 2
    shown = all_text(reminders[0].blocks)
    assert "Still unresolved" in shown and "in breach since 2026-11-15 (7 days)" in shown
    assert main(["alerts", "check", "--as-of", "2026-11-23T12:00:00Z"], runtime=rt) == 0
    assert len(slack.calls_to("chat.postMessage")) == 4


def test_a_429_is_retried_after_its_retry_after_while_the_other_channel_goes_on(
    rt: Runtime, slack: SlackStandIn
) -> None:
    slack.queue("chat.postMessage", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}))
    check_alerts(rt, pack=pack_alerts)
    waits: list[float] = []
    report = deliver(rt, plain_client(slack), sleep=waits.append)
    assert len(report.sent) == 2 and waits == [1.0]
    # CALERTS waits its second; COPS does not wait behind it.
    assert [c.body["channel"] for c in slack.calls_to("chat.postMessage")] == ["CALERTS", "COPS", "CALERTS"]
    with rt.connect() as conn:
        rows = conn.execute(text("SELECT channel, status, attempts FROM outbox ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("CALERTS", "sent", 2), ("COPS", "sent", 1)]


def test_the_shared_client_also_rides_out_a_429_and_a_500(rt: Runtime, slack: SlackStandIn) -> None:
    slack.queue(
        "chat.postMessage",
        Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}),
        Reply(500, {"ok": False, "error": "internal_error"}),
    )
    waits: list[float] = []
    check_alerts(rt, pack=pack_alerts)
    deliver(rt, make_client(rt.settings, sleep=waits.append), sleep=lambda s: None)
    assert [c.body["channel"] for c in slack.calls_to("chat.postMessage")] == ["CALERTS"] * 3 + ["COPS"]
    assert len(waits) == 1 and 1.0 <= waits[0] <= 1.1  # Retry-After: 0 at once, then the second retry's backoff


def test_server_errors_and_network_errors_leave_the_message_for_a_later_run(rt: Runtime, slack: SlackStandIn) -> None:
    check_alerts(rt)
    slack.queue("chat.postMessage", *[Reply(503, {"ok": False, "error": "service_unavailable"})] * 2)
    report = deliver(rt, plain_client(slack), max_wait=0)
    assert report.sent == [] and len(report.deferred) == 2  # CALERTS backs off; COPS waits behind nothing
    # Meanwhile the network is down for this process (nothing listens on that port).
    dead = WebClient(token="xoxb-test-token", base_url="http://127.0.0.1:9/api/", timeout=1, retry_handlers=[])
    later = Runtime(rt.settings, now_override=NOW + timedelta(minutes=10))
    assert deliver(later, dead, max_wait=0).sent == []
    recovered = Runtime(rt.settings, now_override=NOW + timedelta(hours=2))
    assert len(deliver(recovered, plain_client(slack)).sent) == 2
    assert len([c for c in slack.calls_to("chat.postMessage")]) == 4


def test_a_crash_between_queueing_and_delivery_sends_each_message_once_on_the_next_run(
    rt: Runtime, slack: SlackStandIn
) -> None:
    run = check_alerts(rt)  # decided and queued; the process dies before delivering
    assert run.queued == 2 and slack.calls == []
    next_process = Runtime(rt.settings.model_copy(), now_override=NOW + timedelta(minutes=1))
    assert len(deliver(next_process, make_client(next_process.settings)).sent) == 2
    after_that = Runtime(rt.settings.model_copy(), now_override=NOW + timedelta(minutes=2))
    assert deliver(after_that, make_client(after_that.settings)).sent == []
    assert check_alerts(after_that).events == []
    assert [c.body["channel"] for c in slack.calls_to("chat.postMessage")] == CHANNELS


def test_not_in_channel_is_logged_with_the_fix_and_does_not_block_other_channels(
    rt: Runtime, slack: SlackStandIn, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": "not_in_channel"}))
    with caplog.at_level(logging.WARNING):
        assert main(["alerts", "check"], runtime=rt) == 1
    assert "invite @marginbot to #general" in caplog.text
    assert "could not post to CALERTS" in capsys.readouterr().err
    assert [c.body["channel"] for c in slack.calls_to("chat.postMessage")] == CHANNELS
    with rt.connect() as conn:
        assert [tuple(r) for r in conn.execute(text("SELECT channel, status FROM outbox ORDER BY id"))] == [
            ("CALERTS", "failed"), ("COPS", "sent")
        ]  # fmt: skip


def test_without_a_token_messages_wait_in_the_outbox(
    rt: Runtime, slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    no_token = Runtime(rt.settings.model_copy(update={"slack_bot_token": None}), now_override=NOW)
    assert main(["alerts", "check"], runtime=no_token) == 0
    assert "2 message(s) wait in the outbox" in capsys.readouterr().out
    assert slack.calls == []
    assert main(["alerts", "check"], runtime=rt) == 0  # nothing new to say, but the waiting messages go out
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_a_bad_as_of_is_a_one_line_error(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "check", "--as-of", "yesterday"], runtime=rt) == 2  # a usage error
    assert capsys.readouterr().err.startswith("marginbot: --as-of: not an ISO 8601 timestamp")


def test_dry_run_without_an_alert_channel_prints_the_messages_it_would_post(
    settings: Settings, slack: SlackStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = alerts_runtime(settings, slack, tmp_path)  # MARGINBOT_ALERT_CHANNELS not set yet
    assert main(["alerts", "check", "--dry-run"], runtime=rt) == 0
    out = capsys.readouterr().out
    assert "would post to each alert channel, once MARGINBOT_ALERT_CHANNELS is set," in out
    assert "[alert channel, at the top level]" in out
    assert "New breach: Acme Corp (customer): margin 30.0%" in out
    assert "Unpriced usage: Echo Labs (customer): 6.25% of events (2 of 32) have no price" in out
    assert slack.calls == []
    with rt.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM outbox")).scalar_one() == 0
