"""Alerts and the digest say the figures `/margin` says: each rounded once, from the exact value, not from the
payload's text to the cent rounded again (29.745% is 29.7%; "29.75" rounded again would be 29.8%).

The book: Acme Corp on $1 a request, 10 requests a day, with daily costs chosen so that

  alert window 2026-10-16..11-14   revenue $300  COGS $210.765      margin 29.745%
  the 30 days before               revenue $300  COGS $271.485003   margin 9.504999%   change +20.240001 pts
  week 2026-W45 (Nov 2..8)         revenue $70   COGS $49.1785      margin 29.745%
  week 2026-W44 (Oct 26..Nov 1)    revenue $70   COGS $63.3465007   margin 9.504999%

To the cent those margins are "29.75" and "9.50", whose difference "20.25" would show +20.3 pts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from bot.answer import answer_command
from bot.cli.main import main
from bot.grammar import parse
from config.settings import Settings
from engine.runtime import Runtime
from tests.bot.blockkit import all_text, assert_postable
from tests.bot.jobs.support import BOT_TOKEN
from tests.conftest import NOW
from tests.engine.alerts.book import PREVIOUS_START, WINDOW_START, Run, load
from tests.fakes.slack_api import SlackStandIn


def daily_costs() -> list[Decimal]:
    days = [Decimal("6.13999993")] * 10 + [Decimal("9.0495001")] * 7 + [Decimal("7.0255")] * 7
    return days + [Decimal("6.14")] * 6


def knife_edge(rt: Runtime, folder: Path) -> None:
    assert sum(daily_costs()) == Decimal("210.765")
    runs = [
        Run("acme", "agent", PREVIOUS_START, 30, 10, Decimal("9.0495001")),
        Run("acme", "agent", WINDOW_START, 30, 10, daily_costs()),
    ]
    load(rt, folder, runs, [("acme", "Acme Corp", "agent")])


@pytest.fixture
def rt(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> Runtime:
    configured = settings.model_copy(
        update={"slack_api_url": slack.api_url, "slack_bot_token": SecretStr(BOT_TOKEN),
                "alert_channels": ["CALERTS"], "digest_channels": ["CLEAD"]}
    )  # fmt: skip
    runtime = Runtime(configured, now_override=NOW)
    knife_edge(runtime, tmp_path / "book")
    return runtime


def margin_answer(rt: Runtime, words: str, now: datetime = NOW) -> str:
    """What `/margin WORDS` shows at `now`."""
    return all_text(answer_command(rt, parse(words), now=now).answer.blocks)


def test_an_alert_shows_the_margin_and_its_change_as_margin_does(rt: Runtime, slack: SlackStandIn) -> None:
    said = margin_answer(rt, "acme 30d")
    assert "29.7%" in said and "previous 9.5% (+20.2 pts)" in said  # what `/margin` says

    assert main(["alerts", "check"], runtime=rt) == 0
    [post] = slack.calls_to("chat.postMessage")
    assert_postable(post.text, post.blocks)
    shown = all_text(post.blocks)
    assert "*Acme Corp* (customer)\n:red_circle: New breach: margin *29.7%* (+20.2 pts vs previous period)" in shown
    assert "Acme Corp 29.7%" in post.text
    assert "29.8%" not in shown + post.text and "20.3" not in shown


def test_the_digest_shows_the_weeks_margin_as_margin_does(rt: Runtime, slack: SlackStandIn) -> None:
    week = margin_answer(rt, "acme 7d", now=datetime(2026, 11, 9, 12, tzinfo=UTC))
    assert "2026-11-02 to 2026-11-08" in week and "29.7%" in week and "(+20.2 pts)" in week

    assert main(["digest", "send"], runtime=rt) == 0
    [post] = slack.calls_to("chat.postMessage")
    assert_postable(post.text, post.blocks)
    shown = all_text(post.blocks)
    assert "*Blended gross margin*\n29.7% (+20.2 pts)" in shown
    assert "*Acme Corp* (customer) 29.7% · revenue $70.00 · COGS $49.18" in shown  # in breach
    assert "→ 29.7% (2026-W45)" in shown  # the 12-week trend
    assert "29.8%" not in shown and "blended margin 29.7%" in post.text
    with rt.connect() as conn:
        chart = json.loads(conn.execute(text("SELECT payload FROM outbox WHERE kind = 'digest_chart'")).scalar_one())
    assert chart["margin_pct"][-1] == "29.7"  # the chart labels each point with its value as it is
