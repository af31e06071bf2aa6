"""`/margin report` end to end: the board pack goes to the asker's direct message through files_upload_v2 (the
Slack stand-in records each step), and the answer says where it went. The workbook opens on its notes, which carry
the notices the answer carries: the file is read, and forwarded, without the message."""

from __future__ import annotations

import io
import json

from openpyxl import load_workbook

from engine.store.meta import STALE_PRICES
from tests.bot.blockkit import all_text, assert_valid_message
from tests.e2e.conftest import ALLOWED_CHANNEL, ALLOWED_USER, Bot
from tests.fakes.slack_api import Reply


def test_the_board_pack_is_uploaded_to_the_askers_direct_message(bot: Bot) -> None:
    bot.slack.queue("conversations.open", Reply(body={"ok": True, "channel": {"id": "DASKER"}}))
    assert bot.command("report 2026-10").status_code == 200
    [answer] = bot.answers()
    assert answer["response_type"] == "ephemeral"
    assert_valid_message(answer["text"], answer["blocks"])
    assert "The workbook was sent to you as a direct message" in all_text(answer["blocks"])
    [opened] = bot.slack.calls_to("conversations.open")
    assert opened.body["users"] == ALLOWED_USER
    [upload] = bot.slack.calls_to("upload")
    workbook = load_workbook(io.BytesIO(upload.raw))
    assert workbook.sheetnames[0] == "Notes"  # the sheet it opens on
    notes = [row[0] for row in workbook["Notes"].iter_rows(min_row=2, values_only=True)]
    assert notes[0].startswith("Unpriced usage of mystery/mystery-1: 1 of 10 events (10.0%) have no price")
    assert STALE_PRICES not in notes
    shown = all_text(answer["blocks"])  # the message says the pack's notes too, each once
    assert shown.count("Unpriced usage of mystery/mystery-1: 1 of 10 events") == 1 and f"Notes ({len(notes)})" in shown
    summary = {row[0]: row[1] for row in workbook["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["revenue_usd"] == 3500.0 and summary["cogs_usd"] == 2034.73
    [complete] = bot.slack.calls_to("files.completeUploadExternal")
    assert complete.body["channel_id"] == "DASKER"
    files = json.loads(complete.body["files"]) if isinstance(complete.body["files"], str) else complete.body["files"]
    assert files[0]["title"] == "marginbot board pack, 2026-10"


def test_prices_changed_since_the_last_reprice_are_in_the_workbook_as_in_the_answer(bot: Bot) -> None:
    prices = bot.runtime.settings.prices_file
    prices.write_text(
        prices.read_text().replace("output_per_mtok = 0.40", "output_per_mtok = 0.50")
    )  # not yet repriced
    bot.slack.queue("conversations.open", Reply(body={"ok": True, "channel": {"id": "DASKER"}}))
    bot.command("report 2026-10")
    [answer] = bot.answers()
    shown = all_text(answer["blocks"])
    assert shown.count(STALE_PRICES) == 1  # every answer carries it (bot.answer.with_notices), once
    [upload] = bot.slack.calls_to("upload")
    workbook = load_workbook(io.BytesIO(upload.raw))
    assert STALE_PRICES in [row[0] for row in workbook["Notes"].iter_rows(min_row=2, values_only=True)]


def test_shared_the_pack_goes_to_the_channel(bot: Bot) -> None:
    bot.command("report 2026-10 share", channel=ALLOWED_CHANNEL)
    [answer] = bot.answers()
    assert answer["response_type"] == "in_channel" and "sent in this channel" in all_text(answer["blocks"])
    assert bot.slack.calls_to("conversations.open") == []
    [complete] = bot.slack.calls_to("files.completeUploadExternal")
    assert complete.body["channel_id"] == ALLOWED_CHANNEL


def test_a_missing_scope_is_one_line_naming_the_scopes(bot: Bot) -> None:
    bot.slack.queue("conversations.open", Reply(body={"ok": False, "error": "missing_scope"}))
    bot.command("report 2026-10")
    [answer] = bot.answers()
    assert answer["response_type"] == "ephemeral"
    assert "could not be sent" in answer["text"] and "files:write and im:write" in answer["text"]
    assert bot.slack.calls_to("upload") == []
