"""The weekly digest end to end against the loopback stand-in for Slack: once per ISO week per channel, with its
chart uploaded through the external-upload flow (files.getUploadURLExternal → upload → completeUploadExternal)."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from bot.cli.main import main
from config.settings import Settings
from engine.alerts.digest import queue_digest
from engine.ingest.sync import write_cursor
from engine.runtime import Runtime
from tests.bot.blockkit import all_text, assert_valid_message
from tests.bot.jobs.support import alerts_runtime
from tests.fakes.slack_api import Reply, SlackStandIn

CHANNELS = ["CLEAD", "CBOARD"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def rt(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> Runtime:
    return alerts_runtime(settings, slack, tmp_path, digest_channels=CHANNELS)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_digest_is_sent_once_per_iso_week_per_channel_with_its_chart(rt: Runtime, slack: SlackStandIn) -> None:
    for as_of in ("2026-11-15T12:00:00Z", "2026-11-15T13:00:00Z", "2026-11-15T23:59:00Z"):
        assert main(["digest", "send", "--as-of", as_of], runtime=rt) == 0

    posts = slack.calls_to("chat.postMessage")
    assert [p.body["channel"] for p in posts] == CHANNELS
    for post in posts:
        assert_valid_message(post.text, post.blocks)
        shown = all_text(post.blocks)
        assert "Weekly margin digest: 2026-W45 (2026-11-02 to 2026-11-08)" in shown
        assert "40.5% (-2.4 pts)" in shown and "$350.00" in shown and "$208.25" in shown
        assert "Acme Corp" in shown and "Top cost drivers by model" in shown and "claude-sonnet-4-5" in shown

    # The chart: three calls of the external-upload flow per channel, in order, after the message.
    urls = slack.calls_to("files.getUploadURLExternal")
    uploads = slack.calls_to("upload")
    completes = slack.calls_to("files.completeUploadExternal")
    assert len(urls) == len(uploads) == len(completes) == 2
    assert [c.body.get("channel_id") for c in completes] == CHANNELS
    for url, upload, complete in zip(urls, uploads, completes, strict=True):
        assert url.at < upload.at < complete.at
        assert url.body["filename"] == "margin-digest-2026-W45.png"
        assert int(url.body["length"]) == len(upload.raw)
        files = complete.body["files"]
        assert json.loads(files)[0]["title"].startswith("Gross margin and COGS by model")
        assert png_size(upload.raw) == (1000, 700)
        assert 20_000 < len(upload.raw) < 1_000_000
    assert posts[0].at < urls[0].at
    # In each digest's thread, with a comment saying what it is: never a loose second post.
    with rt.connect() as conn:
        digests = dict(conn.execute(text("SELECT channel, slack_ts FROM outbox WHERE kind = 'digest'")).all())
    for complete in completes:
        assert complete.body["thread_ts"] == digests[complete.body["channel_id"]]
        assert complete.body["initial_comment"].startswith("Chart for the 2026-W45 digest: weekly gross margin")


def test_the_next_iso_week_gets_its_own_digest(rt: Runtime, slack: SlackStandIn) -> None:
    assert main(["digest", "send"], runtime=rt) == 0
    assert main(["digest", "send", "--as-of", "2026-11-16T09:00:00Z"], runtime=rt) == 0
    assert main(["digest", "send", "--as-of", "2026-11-22T09:00:00Z"], runtime=rt) == 0
    weeks = [all_text(p.blocks).split("\n")[0] for p in slack.calls_to("chat.postMessage")]
    assert [w.split(":")[1].split("(")[0].strip() for w in weeks] == ["2026-W45"] * 2 + ["2026-W46"] * 2


def test_digest_dry_run_prints_and_sends_nothing_and_can_write_the_chart(
    rt: Runtime, slack: SlackStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "new" / "folder" / "chart.png"  # made, as the board pack's --out makes its folders
    assert main(["digest", "send", "--dry-run", "--chart", str(chart)], runtime=rt) == 0
    out = capsys.readouterr().out
    assert "would queue for CLEAD, CBOARD" in out and "Blended gross margin: 40.5% (-2.4 pts)" in out
    assert png_size(chart.read_bytes()) == (1000, 700)
    assert slack.calls == []


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "account_inactive"])
def test_a_refused_token_pauses_the_digest_and_the_next_run_after_the_fix_sends_it(
    settings: Settings, slack: SlackStandIn, tmp_path: Path, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The token was revoked (or the app reinstalled) while marginbot kept the old one: Slack answers every call
    # `{"ok": false, "error": ...}`. Nothing can be sent until a person fixes it; failing the week's digest for good
    # would leave its dedupe key taken, and the week without a digest once the token works again.
    rt = alerts_runtime(settings, slack, tmp_path, digest_channels=["CLEAD"])
    slack.queue("chat.postMessage", Reply(200, {"ok": False, "error": error}))
    assert main(["digest", "send", "--as-of", "2026-11-16T09:00:00Z"], runtime=rt) == 0
    with rt.connect() as conn:
        rows = conn.execute(text("SELECT kind, status, attempts FROM outbox ORDER BY id")).all()
    assert rows and all(status == "pending" and attempts == 0 for _, status, attempts in rows)
    assert f"Slack refused the bot token ({error})" in caplog.text and "SLACK_BOT_TOKEN" in caplog.text
    assert slack.calls_to("files.completeUploadExternal") == []  # the chart waits for its digest
    # The token fixed: the next run of the same week sends the digest, then its chart in its thread.
    assert main(["digest", "send", "--as-of", "2026-11-16T10:00:00Z"], runtime=rt) == 0
    assert len(slack.calls_to("chat.postMessage")) == 2  # the refused post and the one that went out
    [chart] = slack.calls_to("files.completeUploadExternal")
    assert chart.body.get("thread_ts")
    with rt.connect() as conn:
        assert {status for (status,) in conn.execute(text("SELECT status FROM outbox"))} == {"sent"}


@pytest.mark.parametrize(
    ("synced_to", "warned"),
    [("2026-11-05T10:00:00Z", True), ("2026-11-09T00:00:00Z", False), ("2026-11-12T00:00:00Z", False)],
)
def test_a_usage_source_not_synced_to_the_weeks_end_is_named_in_the_digest(
    settings: Settings,
    slack: SlackStandIn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    synced_to: str,
    warned: bool,
) -> None:
    # OpenAI configured and synced only to Thursday of 2026-W45: the week's COGS lacks what it has not read yet.
    rt = alerts_runtime(
        settings, slack, tmp_path, digest_channels=CHANNELS, openai_admin_key=SecretStr("sk-admin-test")
    )
    with rt.engine.begin() as conn:
        write_cursor(conn, "openai", {"until": synced_to, "width": "1d", "grouping": "tiers"}, rt.now())
    assert main(["digest", "send", "--dry-run", "--as-of", "2026-11-15T12:00:00Z"], runtime=rt) == 0
    out = capsys.readouterr().out
    line = "Usage not synced to the week's end: openai (synced to 2026-11-05 10:00 UTC). COGS they have not read is missing"
    assert (line in out) is warned
    assert main(["digest", "send", "--as-of", "2026-11-15T12:00:00Z"], runtime=rt) == 0
    [post, *_] = slack.calls_to("chat.postMessage")
    assert ("openai (synced to 2026-11-05 10:00 UTC)" in all_text(post.blocks)) is warned


def test_a_configured_usage_source_never_synced_is_named_and_stripe_is_not(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    """A source set up and never synced has none of its usage stored: the week's COGS lacks all of it. Stripe reads
    revenue, which contracts stand in for until it syncs, so it is not named."""
    rt = alerts_runtime(
        settings,
        slack,
        tmp_path,
        digest_channels=CHANNELS,
        openai_admin_key=SecretStr("sk-admin-test"),
        anthropic_admin_key=SecretStr("sk-ant-admin-test"),
        stripe_api_key=SecretStr("rk_test_stripe"),
    )
    with rt.engine.begin() as conn:
        write_cursor(conn, "anthropic", {"until": "2026-11-12T00:00:00Z", "width": "1d"}, rt.now())
    dry = queue_digest(rt, as_of=datetime(2026, 11, 15, 12, tzinfo=UTC), dry_run=True)
    assert dry.payload is not None and dry.payload["lagging_sources"] == [{"source": "openai", "synced_to": None}]
    assert main(["digest", "send", "--as-of", "2026-11-15T12:00:00Z"], runtime=rt) == 0
    [post, *_] = slack.calls_to("chat.postMessage")
    assert "Usage not synced to the week's end*: openai (never synced). COGS they have not read" in all_text(
        post.blocks
    )
