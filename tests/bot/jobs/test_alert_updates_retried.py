"""An alert message updated in place (a recovery's root losing its buttons) is never lost to one 429 or 5xx: what
Slack cannot take just then is queued as an outbox row of its own and retried like any message, the reply that asked
for it is posted once, and an update Slack refuses for good is not retried."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from bot.cli.main import main
from bot.jobs.delivery import deliver
from bot.slack.client import make_client
from config.settings import Settings
from engine.runtime import Runtime
from tests.bot.blockkit import all_text
from tests.bot.jobs.support import BOT_TOKEN
from tests.conftest import NOW
from tests.engine.alerts.book import CONTRACTS, WINDOW_START, Run, add_usage, load
from tests.fakes.slack_api import Reply, SlackStandIn

CHANNEL = "CALERTS"
LATER = NOW + timedelta(days=60)  # acme is back above the line by then


@pytest.fixture
def rt(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> Runtime:
    configured = settings.model_copy(
        update={"alert_channels": [CHANNEL], "slack_api_url": slack.api_url, "slack_bot_token": SecretStr(BOT_TOKEN)}
    )
    runtime = Runtime(configured, now_override=NOW)
    load(runtime, tmp_path, [Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00"))], CONTRACTS[:1])
    return runtime


def recover(rt: Runtime, tmp_path: Path) -> str:
    """Acme breaches (its alert is posted), then recovers: the ts of the alert message, whose buttons must go."""
    assert main(["alerts", "check"], runtime=rt) == 0
    with rt.connect() as conn:
        root = conn.execute(text("SELECT slack_ts FROM outbox WHERE kind = 'alerts'")).scalar_one()
    add_usage(rt, tmp_path, [Run("acme", "agent", date(2026, 11, 15), 60, 10, Decimal("5.75"))], tag="b")
    assert main(["alerts", "check", "--as-of", LATER.isoformat()], runtime=rt) == 0
    return str(root)


def at(rt: Runtime, seconds: float) -> Runtime:
    return Runtime(rt.settings.model_copy(), now_override=NOW + timedelta(seconds=seconds))


def outbox(rt: Runtime) -> list[tuple[Any, ...]]:
    with rt.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT kind, status, attempts FROM outbox ORDER BY id"))]


def test_a_recoverys_update_of_its_alert_refused_with_a_429_is_made_after_the_retry_after(
    rt: Runtime, slack: SlackStandIn, tmp_path: Path
) -> None:
    slack.queue("chat.update", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}))
    root = recover(rt, tmp_path)
    [_, reply] = slack.calls_to("chat.postMessage")
    assert reply.body["thread_ts"] == root and "Recovered" in all_text(reply.blocks)
    assert len(slack.calls_to("chat.update")) == 1  # refused
    assert outbox(rt) == [("alerts", "sent", 1), ("alerts", "sent", 1), ("alert_refresh", "pending", 0)]
    early = at(rt, 29)
    assert deliver(early, make_client(early.settings), sleep=lambda s: None).sent == []  # honouring Retry-After
    due = at(rt, 31)
    assert len(deliver(due, make_client(due.settings), sleep=lambda s: None).sent) == 1
    [_, update] = slack.calls_to("chat.update")
    assert (update.body["channel"], update.body["ts"]) == (CHANNEL, root)
    assert ":large_green_circle: Recovered" in all_text(update.blocks)
    assert not [b for b in update.blocks if b["type"] == "actions"]  # its buttons are gone
    assert len(slack.calls_to("chat.postMessage")) == 2  # the reply was not posted again
    assert outbox(rt)[-1] == ("alert_refresh", "sent", 1)


def test_an_update_slack_keeps_failing_is_retried_with_backoff_and_one_it_refuses_for_good_is_not(
    rt: Runtime, slack: SlackStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    slack.queue(
        "chat.update",
        Reply(502, {"ok": False, "error": "bad_gateway"}),  # at the recovery
        Reply(502, {"ok": False, "error": "bad_gateway"}),  # its first retry
        Reply(200, {"ok": False, "error": "message_not_found"}),  # someone deleted the alert meanwhile
    )
    recover(rt, tmp_path)
    first = at(rt, 31)  # the outbox's first backoff, 30 seconds
    report = deliver(first, make_client(first.settings), max_wait=0)
    assert report.sent == [] and outbox(rt)[-1] == ("alert_refresh", "pending", 1)
    with caplog.at_level(logging.WARNING):
        second = at(rt, 120)
        assert len(deliver(second, make_client(second.settings), max_wait=0).sent) == 1
    assert "cannot be updated in place" in caplog.text and "message_not_found" in caplog.text
    assert outbox(rt)[-1] == ("alert_refresh", "sent", 2)
    much_later = at(rt, 86400)
    assert deliver(much_later, make_client(much_later.settings)).sent == []
    assert len(slack.calls_to("chat.update")) == 3
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_a_recoverys_update_slack_refuses_for_good_is_not_queued_again(
    rt: Runtime, slack: SlackStandIn, tmp_path: Path
) -> None:
    slack.queue("chat.update", Reply(200, {"ok": False, "error": "message_not_found"}))
    recover(rt, tmp_path)
    assert outbox(rt) == [("alerts", "sent", 1), ("alerts", "sent", 1)]
    assert len(slack.calls_to("chat.postMessage")) == 2
