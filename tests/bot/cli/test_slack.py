"""`marginbot ask`: the same answers as Slack, rendered for a terminal."""

from __future__ import annotations

import json

import pytest

from bot.cli.main import main
from bot.render.terminal import mrkdwn
from engine.runtime import Runtime


def test_ask_prints_the_answer_with_its_figures(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "/margin acme corp 2026-10"], runtime=book) == 0
    out = capsys.readouterr().out
    assert out.startswith("Acme Corp · 2026-10\n===")
    assert "● BREACH  gross margin 25.8%, below the 40% breach line" in out
    assert "$1,484.73" in out and "Biggest lever: 62% of COGS is gpt-4o on agent-run" in out
    assert "*" not in out and "&lt;" not in out and ":red_circle:" not in out


def test_ask_accepts_words_without_quotes_and_as_of(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "portfolio", "--as-of", "2026-11-01T00:00:00Z"], runtime=book) == 0
    assert "Portfolio · last 30 days" in capsys.readouterr().out


def test_ask_json_prints_what_slack_would_receive(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--json", "/margin top 2 2026-10"], runtime=book) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["text"].startswith("Top 2 customers by gross margin (2026-10): Globex 70.0%, Initech 50.0%")


def test_ask_exits_1_on_an_unknown_customer_or_bad_words(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "/margin acme crop"], runtime=book) == 1
    assert "No customer “acme crop”; did you mean" in capsys.readouterr().out
    assert main(["ask", "/margin top ten"], runtime=book) == 1
    assert "Ask marginbot" in capsys.readouterr().out


def test_ask_with_a_bad_as_of_is_a_one_line_usage_error(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "acme", "--as-of", "yesterday"], runtime=book) == 2
    assert capsys.readouterr().err.startswith("marginbot: --as-of:")


def test_terminal_rendering_unescapes_and_strips_markup() -> None:
    assert mrkdwn("*Acme &amp; Co* _previous_ `gpt-4o` &lt;x&gt; <https://a.example|docs>") == (
        "Acme & Co previous gpt-4o <x> docs (https://a.example)"
    )


def test_terminal_rendering_drops_code_fences_and_unknown_emoji_but_keeps_times() -> None:
    assert mrkdwn("```\nmonth  margin\n2026-12  40.0%\n```") == "month  margin\n2026-12  40.0%"
    assert mrkdwn(":triangular_ruler: Floor at 09:30 UTC") == " Floor at 09:30 UTC"
