"""The bot's real HTTP surface on loopback, Slack's side played by SlackStandIn, requests signed as Slack does."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from bot.slack.app import create_app
from bot.slack.client import make_client
from bot.slack.http import Limits
from bot.slack.server import http_server
from config.settings import Settings
from engine.runtime import Runtime
from tests.bot.dataset import load_dataset
from tests.conftest import NOW
from tests.fakes.slack_api import SlackStandIn

SIGNING_SECRET = "e2e-signing-secret-8f3a"
ALLOWED_USER = "UALLOWED"
ALLOWED_CHANNEL = "CALLOWED"
STRANGER = "USTRANGER"
OTHER_CHANNEL = "COTHER"


def signed_headers(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """X-Slack-Signature v0: HMAC-SHA256 of `v0:{timestamp}:{body}`. Bolt compares the timestamp with the wall
    clock (that is the point of the check), so this one helper reads it."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Bot:
    url: str
    runtime: Runtime
    slack: SlackStandIn
    http: httpx.Client

    def command(
        self,
        text: str,
        *,
        user: str = ALLOWED_USER,
        channel: str = OTHER_CHANNEL,
        response: str = "r1",
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """Send `/margin text` exactly as Slack posts a slash command."""
        body = urlencode(
            {
                "token": "legacy-verification-token",
                "team_id": "T0001",
                "team_domain": "demo",
                "channel_id": channel,
                "channel_name": "general",
                "user_id": user,
                "user_name": "someone",
                "command": "/margin",
                "text": text,
                "api_app_id": "A0001",
                "is_enterprise_install": "false",
                "response_url": self.slack.response_url(response),
                "trigger_id": "1.2.3",
            }
        ).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(body, secret=secret,
                                                                                         timestamp=timestamp)}  # fmt: skip
        return self.http.post(f"{self.url}/slack/events", content=body, headers=headers)

    def event(self, event: dict[str, Any]) -> httpx.Response:
        body = json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": "T0001",
                "api_app_id": "A0001",
                "event": event,
                "type": "event_callback",
                "event_id": "Ev0001",
                "event_time": 1763208000,
                "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
            }
        ).encode()
        headers = {"Content-Type": "application/json", **signed_headers(body)}
        return self.http.post(f"{self.url}/slack/events", content=body, headers=headers)

    def answers(self, response: str = "r1", count: int = 1, timeout: float = 15) -> list[dict[str, Any]]:
        """What arrived at the response_url (the answer the user sees)."""
        calls = self.slack.wait_for(
            lambda c: c.method == "response_url" and c.path.endswith(f"/{response}"), count=count, timeout=timeout
        )
        return [c.body for c in calls]


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


def bot_settings(settings: Settings, slack: SlackStandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": SecretStr("xoxb-e2e-test-token"),
        "slack_signing_secret": SecretStr(SIGNING_SECRET),
        "slack_api_url": slack.api_url,
        "allowed_users": [ALLOWED_USER],
        "allowed_channels": [ALLOWED_CHANNEL],
    }
    values.update(overrides)
    return settings.model_copy(update=values)


@contextmanager
def run_bot(
    rt: Runtime, workers: ThreadPoolExecutor | None = None, limits: Limits | None = None, keep_alive: int = 5
) -> Iterator[str]:
    """The app behind the production HTTP server (uvicorn and the front) on a free loopback port; yields its URL."""
    workers = workers or ThreadPoolExecutor(8, thread_name_prefix="e2e-answer")
    app = create_app(rt, make_client(rt.settings), workers=workers)
    try:
        served = http_server(
            app, signing_secret=SIGNING_SECRET, host="127.0.0.1", port=0, limits=limits, keep_alive=keep_alive
        )
        with served as (url, _):
            yield url
    finally:
        workers.shutdown(wait=True)


@pytest.fixture
def bot(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> Iterator[Bot]:
    rt = Runtime(bot_settings(settings, slack), now_override=NOW)
    load_dataset(rt, tmp_path / "book")
    with httpx.Client(timeout=10) as http, run_bot(rt) as url:
        yield Bot(url, rt, slack, http)
