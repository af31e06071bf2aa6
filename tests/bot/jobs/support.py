"""Helpers shared by the scheduler-job tests: a runtime over the alerts book that talks to the Slack stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr
from slack_sdk import WebClient

from config.settings import Settings
from engine.runtime import Runtime
from tests.conftest import NOW
from tests.engine.alerts.book import load_book
from tests.fakes.slack_api import SlackStandIn

BOT_TOKEN = "xoxb-test-token"


def alerts_runtime(settings: Settings, slack: SlackStandIn, tmp_path: Path, **channels: Any) -> Runtime:
    """A runtime talking to the Slack stand-in, over the alerts book (tests/engine/alerts/book.py)."""
    configured = settings.model_copy(
        update={**channels, "slack_api_url": slack.api_url, "slack_bot_token": SecretStr(BOT_TOKEN)}
    )
    runtime = Runtime(configured, now_override=NOW)
    load_book(runtime, tmp_path / "book")
    return runtime


def plain_client(slack: SlackStandIn) -> WebClient:
    """A client without the SDK's own retry handlers, so only marginbot's retries are at work."""
    return WebClient(token=BOT_TOKEN, base_url=slack.api_url, timeout=5)
