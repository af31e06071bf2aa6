"""`marginbot -v serve`: debug detail, but never a request's body, its response_url or the answer posted there."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot import logs
from tests.e2e.conftest import Bot


@pytest.fixture
def verbose_log() -> Iterator[io.StringIO]:
    """Everything logged while logging is configured as `marginbot -v` does (before the app is built, as serve does:
    Bolt copies the root level then); the levels it set are put back after."""
    names = ("", *logs.QUIET, "slack_sdk", "slack_bolt.App")
    levels = {name: logging.getLogger(name).level for name in names}
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    # The test's own HTTP client logs each request it makes; that is not the server's log.
    handler.addFilter(lambda record: not record.name.startswith(("httpx", "httpcore")))
    root = logging.getLogger()
    root.addHandler(handler)
    logs.configure("DEBUG")
    root.setLevel(logging.DEBUG)  # (basicConfig leaves the level alone when pytest's handlers are already there)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_verbose_logs_hold_no_response_url_and_no_answer(verbose_log: io.StringIO, bot: Bot) -> None:
    assert bot.command("globex 2026-10", response="SECRET-RESPONSE").status_code == 200
    [answer] = bot.answers("SECRET-RESPONSE")
    assert "70.0%" in answer["text"]
    logged = verbose_log.getvalue()
    assert "Running listener: margin_command" in logged  # it is verbose
    assert "SECRET-RESPONSE" not in logged and "70.0%" not in logged, logged
