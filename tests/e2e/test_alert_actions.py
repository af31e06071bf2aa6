"""The alert buttons end to end in HTTP mode: signed block_actions and view_submission payloads into the real HTTP
front, Slack's side played by the stand-in (which refuses messages past 50 blocks or 12,000 characters, as Slack
does). The book is tests/engine/alerts/book.py: acme and product search in breach, dunder with cost and no
revenue, fox trending to breach, echo with unpriced usage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.blocks.alerts import ACK, OPEN, SNOOZE, WHATIF
from bot.blocks.interactive import SHARE, WHATIF_VIEW
from bot.cli.main import main
from config.settings import Settings
from engine.alerts.state import load_states
from engine.runtime import Runtime
from engine.store.meta import bump_generation
from tests.bot.blockkit import all_text, assert_postable
from tests.conftest import NOW
from tests.e2e.conftest import ALLOWED_USER, STRANGER, Bot, bot_settings, run_bot
from tests.engine.alerts.accounts_book import load_accounts
from tests.engine.alerts.book import CONTRACTS, WINDOW_START, Run, add_usage, load, load_book
from tests.fakes.slack_api import Call, SlackStandIn

CHANNEL = "CALERTS"


@dataclass
class AlertBot:
    bot: Bot

    @property
    def rt(self) -> Runtime:
        return self.bot.runtime

    @property
    def slack(self) -> SlackStandIn:
        return self.bot.slack

    def check(self, *extra: str) -> None:
        assert main(["alerts", "check", *extra], runtime=self.rt) == 0

    def posts(self) -> list[Call]:
        return self.slack.calls_to("chat.postMessage")

    def root(self) -> tuple[str, list[dict[str, Any]]]:
        """The ts and blocks of the first alert message."""
        with self.rt.connect() as conn:
            ts = conn.execute(text("SELECT slack_ts FROM outbox WHERE kind = 'alerts' ORDER BY id")).scalar_one()
        return ts, self.posts()[0].blocks

    def click(self, user: str, ts: str, element: dict[str, Any], block_id: str, *, response: str,
              option: dict[str, Any] | None = None) -> httpx.Response:  # fmt: skip
        action = {**element, "block_id": block_id, "action_ts": "1763215200.000200"}
        if option is not None:
            action["selected_option"] = option
        action.pop("options", None)
        payload = {
            "type": "block_actions", "user": {"id": user, "username": "u", "name": "u", "team_id": "T0001"},
            "api_app_id": "A0001", "token": "x", "trigger_id": f"111.222.{response}",
            "team": {"id": "T0001", "domain": "demo"}, "channel": {"id": CHANNEL, "name": "alerts"},
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False},
            "message": {"type": "message", "ts": ts, "text": "", "blocks": []},
            "response_url": self.slack.response_url(response), "state": {"values": {}}, "actions": [action],
        }  # fmt: skip
        reply = self.bot.interact(payload)
        assert reply.status_code == 200
        return reply


def element(blocks: list[dict[str, Any]], block_id: str, action_id: str) -> dict[str, Any]:
    block = next(b for b in blocks if b.get("block_id") == block_id)
    return dict(next(e for e in block["elements"] if e["action_id"] == action_id))


@pytest.fixture
def alerts(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> Iterator[AlertBot]:
    rt = Runtime(bot_settings(settings, slack, alert_channels=[CHANNEL]), now_override=NOW)
    load_book(rt, tmp_path / "book")
    with httpx.Client(timeout=10) as http, run_bot(rt) as url:
        yield AlertBot(Bot(url, rt, slack, http))


def test_acknowledge_by_an_allowed_user_updates_the_alert_in_place_and_silences_its_reminders(
    alerts: AlertBot,
) -> None:
    alerts.check()
    ts, blocks = alerts.root()
    alerts.click(ALLOWED_USER, ts, element(blocks, "alert:customer:acme", ACK), "alert:customer:acme", response="a1")
    [update] = alerts.slack.wait_for(lambda c: c.method == "chat.update")
    assert (update.body["channel"], update.body["ts"]) == (CHANNEL, ts)
    assert_postable(update.text, update.blocks)
    shown = all_text(update.blocks)
    assert ":white_check_mark: Acknowledged by <@UALLOWED> at 2026-11-15 12:00 UTC" in shown
    ids = [b.get("block_id") for b in update.blocks]
    assert "alert:customer:acme" not in ids and "alert:customer:dunder" in ids  # only acme's buttons went
    with alerts.rt.connect() as conn:
        assert load_states(conn)[("customer", "acme")].acked_by == ALLOWED_USER

    # A week later: reminders reply in the alert's thread, and acme's is held.
    alerts.check("--as-of", "2026-11-22T12:00:00Z")
    [reminder] = alerts.posts()[1:]
    assert reminder.body["thread_ts"] == ts and not reminder.body.get("reply_broadcast")
    text_ = all_text(reminder.blocks)
    assert "Still unresolved" in text_ and "*dunder*" in text_ and "*search*" in text_
    assert "Acme" not in text_


def test_a_strangers_acknowledge_is_refused_privately_and_changes_nothing(alerts: AlertBot) -> None:
    alerts.check()
    ts, blocks = alerts.root()
    alerts.click(STRANGER, ts, element(blocks, "alert:customer:acme", ACK), "alert:customer:acme", response="s1")
    [refusal] = alerts.bot.answers("s1")
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert "only people on marginbot's access list" in all_text(refusal["blocks"])
    assert STRANGER in all_text(refusal["blocks"])
    assert alerts.slack.calls_to("chat.update") == []
    with alerts.rt.connect() as conn:
        assert load_states(conn)[("customer", "acme")].acked_by == ""
    alerts.check("--as-of", "2026-11-22T12:00:00Z")
    assert "Acme Corp" in all_text(alerts.posts()[1].blocks)  # still reminded


def test_snooze_for_seven_days_holds_reminders_until_it_ends(alerts: AlertBot) -> None:
    alerts.check()
    ts, blocks = alerts.root()
    alerts.rt.now_override = NOW + timedelta(hours=1)  # snoozed an hour after the alert
    snooze = element(blocks, "alert:customer:dunder", SNOOZE)
    seven = next(o for o in snooze["options"] if o["text"]["text"] == "Snooze 7 days")
    alerts.click(ALLOWED_USER, ts, snooze, "alert:customer:dunder", response="z1", option=seven)
    [update] = alerts.slack.wait_for(lambda c: c.method == "chat.update")
    assert ":zzz: Snoozed by <@UALLOWED> until 2026-11-22 13:00 UTC" in all_text(update.blocks)
    alerts.check("--as-of", "2026-11-22T12:00:00Z")  # reminders are due; dunder's is held
    held = all_text(alerts.posts()[1].blocks)
    assert "*Acme Corp*" in held and "*search*" in held and "dunder" not in held
    alerts.check("--as-of", "2026-11-22T13:00:00Z")  # the snooze is over: dunder's reminder comes at once
    assert "*dunder*" in all_text(alerts.posts()[2].blocks)


def test_open_answers_privately_for_the_alerts_period_and_share_posts_it_for_everyone(alerts: AlertBot) -> None:
    alerts.check()
    ts, blocks = alerts.root()
    alerts.click(ALLOWED_USER, ts, element(blocks, "alert:customer:acme", OPEN), "alert:customer:acme",
                 response="o1")  # fmt: skip
    [answer] = alerts.bot.answers("o1")
    shown = all_text(answer["blocks"])
    assert answer["response_type"] == "ephemeral"
    assert "Acme Corp" in shown and "2026-10-16 to 2026-11-14" in shown  # the alert's own 30-day window
    share = answer["blocks"][-1]["elements"][0]
    assert share["action_id"] == SHARE and share["text"]["text"] == "Share to channel"
    alerts.click(ALLOWED_USER, ts, share, "share", response="o1")
    posted, deleted = alerts.bot.answers("o1", count=3)[1:]
    assert posted["response_type"] == "in_channel" and "Shared by <@UALLOWED>" in all_text(posted["blocks"])
    assert [b for b in posted["blocks"] if b["type"] == "actions"] == []  # no Share button on the shared copy
    assert deleted == {"delete_original": True}


def test_share_after_the_data_changed_is_refused_privately_not_posted_with_other_figures(alerts: AlertBot) -> None:
    """The shared answer is asked again at the moment the user saw; new data since (an import or sync) would post
    other figures under that moment's label. The user is told to ask again; the channel sees nothing."""
    alerts.check()
    ts, blocks = alerts.root()
    alerts.click(ALLOWED_USER, ts, element(blocks, "alert:customer:acme", OPEN), "alert:customer:acme",
                 response="o1")  # fmt: skip
    [answer] = alerts.bot.answers("o1")
    with alerts.rt.engine.begin() as conn:
        bump_generation(conn)  # what every import and sync does when it commits
    alerts.click(ALLOWED_USER, ts, answer["blocks"][-1]["elements"][0], "share", response="o1")
    refused = alerts.bot.answers("o1", count=2)[1]
    assert refused.get("response_type", "ephemeral") == "ephemeral"
    assert "The figures changed since you asked" in all_text(refused["blocks"])
    assert "delete_original" not in refused


def test_what_if_opens_a_modal_for_the_customer_and_shows_the_result_in_it(alerts: AlertBot) -> None:
    alerts.check()
    ts, blocks = alerts.root()
    alerts.click(ALLOWED_USER, ts, element(blocks, "alert:customer:acme", WHATIF), "alert:customer:acme",
                 response="w1")  # fmt: skip
    [opened] = alerts.slack.wait_for(lambda c: c.method == "views.open")
    assert opened.body["trigger_id"] == "111.222.w1"
    view = json.loads(opened.body["view"]) if isinstance(opened.body["view"], str) else opened.body["view"]
    assert view["callback_id"] == WHATIF_VIEW and "*Acme Corp* (`acme`)" in all_text(view["blocks"])
    period = next(b for b in view["blocks"] if b.get("block_id") == "period")
    assert period["element"]["initial_value"] == "30d"

    def submit(values: dict[str, str | None], user: str = ALLOWED_USER) -> httpx.Response:
        state = {block: {"value": {"type": "plain_text_input", "value": v}} for block, v in values.items()}
        payload = {"type": "view_submission", "team": {"id": "T0001", "domain": "demo"},
                   "user": {"id": user, "username": "u", "name": "u", "team_id": "T0001"}, "api_app_id": "A0001",
                   "token": "x", "trigger_id": "111.222.sub", "response_urls": [],
                   "view": {**view, "id": "V0001", "state": {"values": state}, "hash": "1.abc"}}  # fmt: skip
        return alerts.bot.interact(payload)

    bad = submit({"route": None, "cache": "lots", "period": "30d"})
    assert bad.status_code == 200 and bad.json()["response_action"] == "errors"
    assert set(bad.json()["errors"]) == {"cache"}
    good = submit({"cache": "30", "period": "30d"})
    assert good.json()["response_action"] == "update" and "Working it out" in json.dumps(good.json()["view"])
    [update] = alerts.slack.wait_for(lambda c: c.method == "views.update")
    result = json.loads(update.body["view"]) if isinstance(update.body["view"], str) else update.body["view"]
    shown = all_text(result["blocks"])
    assert update.body["view_id"] == "V0001" and "What if · Acme Corp" in shown and "COGS saving" in shown
    refused = submit({"cache": "30", "period": "30d"}, user=STRANGER)
    assert "access list" in json.dumps(refused.json()["view"]) and "Acme" not in json.dumps(refused.json()["view"])


def test_a_recovery_replies_in_the_thread_and_updates_the_root(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    rt = Runtime(bot_settings(settings, slack, alert_channels=[CHANNEL]), now_override=NOW)
    load(rt, tmp_path, [Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00"))], CONTRACTS[:1])
    with httpx.Client(timeout=10) as http, run_bot(rt) as url:
        a = AlertBot(Bot(url, rt, slack, http))
        a.check()
        ts, _ = a.root()
        add_usage(rt, tmp_path, [Run("acme", "agent", date(2026, 11, 15), 60, 10, Decimal("5.75"))], tag="b")
        a.check("--as-of", (NOW + timedelta(days=60)).isoformat())
    reply = a.posts()[1]
    assert reply.body["thread_ts"] == ts and "Recovered" in all_text(reply.blocks)
    [update] = slack.calls_to("chat.update")
    assert update.body["ts"] == ts
    shown = all_text(update.blocks)
    assert shown.count(":large_green_circle: Recovered 2027-01-14 12:00 UTC") == 2  # acme and product agent
    assert not [b for b in update.blocks if b["type"] == "actions"]


def test_an_owner_is_mentioned_and_may_acknowledge_their_customer_but_not_another(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    rt = Runtime(bot_settings(settings, slack, alert_channels=[CHANNEL]), now_override=NOW)
    load_accounts(rt, tmp_path)
    with httpx.Client(timeout=10) as http, run_bot(rt) as url:
        a = AlertBot(Bot(url, rt, slack, http))
        a.check()
        ts, blocks = a.root()
        shown = all_text(blocks)
        assert "*Owned Corp* (customer) · owner <@U012PAT>, <@W045SAM>" in shown
        assert "*Strict Inc* (customer) · its own breach line: 50%" in shown
        # U012PAT owns "owned" (and is not on MARGINBOT_ALLOWED_USERS): their click counts on their customer only.
        a.click("U012PAT", ts, element(blocks, "alert:customer:plain", ACK), "alert:customer:plain", response="p1")
        assert "only people on marginbot's access list" in all_text(a.bot.answers("p1")[0]["blocks"])
        a.click("U012PAT", ts, element(blocks, "alert:customer:owned", ACK), "alert:customer:owned", response="p2")
        [update] = slack.wait_for(lambda c: c.method == "chat.update")
    assert "Acknowledged by <@U012PAT>" in all_text(update.blocks)
    with rt.connect() as conn:
        states = load_states(conn)
    assert states[("customer", "owned")].acked_by == "U012PAT" and states[("customer", "plain")].acked_by == ""
