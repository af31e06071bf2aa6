"""App Home end to end: the app_home_opened event in, views.publish out (through the retrying Web API client)."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.bot.blockkit import all_text, assert_valid_home
from tests.e2e.conftest import ALLOWED_USER, STRANGER, Bot, signed_headers
from tests.fakes.slack_api import Call, Reply


def published(call: Call) -> dict[str, Any]:
    view = call.body["view"]
    return view if isinstance(view, dict) else json.loads(view)


def opened(user: str, tab: str = "home") -> dict[str, str]:
    return {"type": "app_home_opened", "user": user, "channel": "D0001", "tab": tab, "event_ts": "1763208000.1"}


def test_opening_the_home_tab_publishes_the_dashboard(bot: Bot) -> None:
    assert bot.event(opened(ALLOWED_USER)).status_code == 200
    [call] = bot.slack.wait_for(lambda c: c.method == "views.publish")
    assert call.body["user_id"] == ALLOWED_USER
    assert call.headers["authorization"] == "Bearer xoxb-e2e-test-token"
    view = published(call)
    assert_valid_home(view)
    shown = all_text(view["blocks"])
    # NOW is 2026-11-15: the last 30 days are Oct 16 .. Nov 14 (Acme's Oct 17 and 24 events, Globex, Initech).
    assert "blended gross margin" in shown and "last 30 days: 2026-10-16 to 2026-11-14" in shown
    assert "*Acme Corp*" in shown and "Worst " in shown
    # Every customer once: those in breach or on watch are not repeated among the worst.
    assert [shown.count(f"*{name}*") for name in ("Acme Corp", "Globex", "Initech")] == [1, 1, 1]
    assert "Open" in shown and "What-if" in shown  # every row has its buttons
    assert "data last imported" in shown and "(usage, 12 rows)" in shown


def test_someone_without_access_sees_how_to_get_it_and_no_figures(bot: Bot) -> None:
    bot.event(opened(STRANGER))
    [call] = bot.slack.wait_for(lambda c: c.method == "views.publish")
    view = published(call)
    shown = all_text(view["blocks"])
    assert STRANGER in shown and "MARGINBOT_ALLOWED_USERS" in shown
    assert "$" not in shown and "Acme" not in shown


def test_the_messages_tab_publishes_nothing(bot: Bot) -> None:
    bot.event(opened(ALLOWED_USER, tab="messages"))
    time.sleep(0.3)
    assert bot.slack.calls_to("views.publish") == []


def test_a_429_from_the_web_api_is_retried_after_retry_after_then_succeeds(bot: Bot) -> None:
    bot.slack.queue("views.publish", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}))
    bot.event(opened(ALLOWED_USER))
    first, second = bot.slack.wait_for(lambda c: c.method == "views.publish", count=2)
    assert second.at - first.at >= 0.9
    assert first.body == second.body


def test_the_events_url_answers_slacks_url_verification_challenge(bot: Bot) -> None:
    # What Slack sends when `event_subscriptions.request_url` is saved in HTTP mode.
    body = json.dumps({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"}).encode()  # fmt: skip
    reply = bot.http.post(f"{bot.url}/slack/events", content=body,
                          headers={"Content-Type": "application/json", **signed_headers(body)})  # fmt: skip
    assert reply.status_code == 200
    assert reply.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
