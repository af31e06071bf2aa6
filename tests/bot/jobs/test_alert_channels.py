"""A channel added to MARGINBOT_ALERT_CHANNELS hears of the episodes already open at the next check, as new, and
from then on like the channels that had them from the start."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from bot.cli.main import main
from config.settings import Settings
from engine.runtime import Runtime
from tests.bot.blockkit import all_text
from tests.bot.jobs.support import alerts_runtime
from tests.conftest import NOW
from tests.fakes.slack_api import SlackStandIn


def test_a_channel_added_later_is_told_of_open_episodes_at_the_next_check(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    rt = alerts_runtime(settings, slack, tmp_path, alert_channels=["CALERTS"])
    assert main(["alerts", "check"], runtime=rt) == 0
    first = slack.calls_to("chat.postMessage")
    assert [c.body["channel"] for c in first] == ["CALERTS"]
    # COPS is added. The next check had "nothing new", and a week later COPS's first word of Acme was a reminder
    # ("Still unresolved") of an alert it never saw, while CALERTS's reminders went in their thread.
    added = Runtime(rt.settings.model_copy(update={"alert_channels": ["CALERTS", "COPS"]}), now_override=NOW)
    assert main(["alerts", "check", "--as-of", (NOW + timedelta(hours=1)).isoformat()], runtime=added) == 0
    told = slack.calls_to("chat.postMessage")[len(first) :]
    assert [c.body["channel"] for c in told] == ["COPS"] and "thread_ts" not in told[0].body
    shown = all_text(told[0].blocks)
    for name in ("Acme Corp", "dunder", "Echo Labs", "Fox Media", "search"):
        assert f"*{name}*" in shown
    # From then on COPS is like CALERTS: a week later each channel's reminders go in its own thread.
    with rt.connect() as conn:
        roots = dict(conn.execute(text("SELECT channel, slack_ts FROM outbox WHERE status = 'sent' ORDER BY id")).all())
    assert main(["alerts", "check", "--as-of", "2026-11-22T13:00:00Z"], runtime=added) == 0
    reminders = {c.body["channel"]: c for c in slack.calls_to("chat.postMessage")[len(first) + len(told) :]}
    assert {ch: r.body.get("thread_ts") for ch, r in reminders.items()} == roots


def test_a_channel_taken_off_the_alert_channels_has_its_alerts_closed_there_and_their_buttons_removed(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    rt = alerts_runtime(settings, slack, tmp_path, alert_channels=["CALERTS", "COPS"])
    assert main(["alerts", "check"], runtime=rt) == 0
    assert {c.body["channel"] for c in slack.calls_to("chat.postMessage")} == {"CALERTS", "COPS"}
    # COPS is taken off. Its alerts kept their Acknowledge and Snooze buttons for good, on episodes it would never
    # hear end; they are now closed there and drawn again, saying why. CALERTS hears nothing new.
    fewer = Runtime(rt.settings.model_copy(update={"alert_channels": ["CALERTS"]}), now_override=NOW)
    posted = len(slack.calls_to("chat.postMessage"))
    assert main(["alerts", "check", "--as-of", (NOW + timedelta(hours=1)).isoformat()], runtime=fewer) == 0
    assert len(slack.calls_to("chat.postMessage")) == posted
    updates = slack.calls_to("chat.update")
    assert updates and {u.body["channel"] for u in updates} == {"COPS"}
    shown = all_text(updates[-1].blocks)
    assert "this channel no longer gets marginbot's alerts" in shown and "Acknowledge" not in shown
    with rt.connect() as conn:
        left = conn.execute(text("SELECT channel, outcome FROM alert_thread WHERE closed_at IS NULL")).all()
        closed = conn.execute(text("SELECT DISTINCT outcome FROM alert_thread WHERE channel = 'COPS'")).scalars().all()
    assert {channel for channel, _ in left} == {"CALERTS"} and closed == ["unrouted"]
