"""`marginbot digest send --chart FILE`: a chart that cannot be written stops the command before the digest is
queued, so fixing the path and running it again sends the week's digest (queueing marks the week as sent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from config.settings import Settings
from engine.runtime import Runtime
from tests.bot.cli.support import cli
from tests.bot.jobs.support import alerts_runtime
from tests.fakes.slack_api import SlackStandIn


@pytest.fixture
def rt(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> Runtime:
    return alerts_runtime(settings, slack, tmp_path, digest_channels=["CLEAD"])


def queued_digests(rt: Runtime) -> int:
    with rt.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM outbox WHERE kind = 'digest'")).scalar_one())


def test_a_chart_that_cannot_be_written_queues_nothing_and_the_rerun_sends_the_digest(
    rt: Runtime, slack: SlackStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plainfile"
    plain.write_text("not a folder")
    code, out, err = cli(rt, capsys, "digest", "send", "--chart", str(plain / "chart.png"))
    assert (code, out, err) == (1, "", f"marginbot: {plain / 'chart.png'}: Not a directory\n")
    assert queued_digests(rt) == 0 and slack.calls == []

    # A directory where the file goes is a mistake on the command line: exit 2, and nothing queued either.
    code, out, err = cli(rt, capsys, "digest", "send", "--chart", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (f"marginbot: --chart {tmp_path} is a directory: name the PNG file, e.g. {tmp_path / 'digest.png'}\n")
    assert queued_digests(rt) == 0 and slack.calls == []

    chart = tmp_path / "chart.png"
    code, out, err = cli(rt, capsys, "digest", "send", "--chart", str(chart))
    assert code == 0 and "queued for CLEAD" in out and "already sent" not in out
    assert f"chart written to {chart}" in out and chart.read_bytes().startswith(b"\x89PNG")
    assert [c.body["channel"] for c in slack.calls_to("chat.postMessage")] == ["CLEAD"]
