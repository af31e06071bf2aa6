"""`marginbot serve` as an operator runs it: health check, routing, start-up errors, the scheduler hook."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

import bot.slack.server
from bot.cli.main import main
from bot.slack.http import Limits
from bot.slack.server import serve
from config.settings import Settings
from engine.runtime import Runtime
from tests.bot.dataset import load_dataset
from tests.conftest import NOW
from tests.e2e.conftest import Bot, bot_settings
from tests.fakes.slack_api import Reply, SlackStandIn


@contextmanager
def serving(rt: Runtime) -> Iterator[str]:
    stop, ready = threading.Event(), threading.Event()
    where: list[str] = []

    def on_ready(url: str) -> None:
        where.append(url)
        ready.set()

    errors: list[BaseException] = []

    def run() -> None:
        try:
            serve(rt, host="127.0.0.1", port=0, stop=stop, on_ready=on_ready)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert ready.wait(10) and not errors, errors
        yield where[0]
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive()


def test_serve_answers_health_checks_and_signed_commands_then_stops(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    rt = Runtime(bot_settings(settings, slack), now_override=NOW)
    load_dataset(rt, tmp_path / "book")
    with serving(rt) as url, httpx.Client(timeout=10) as http:
        health = http.get(f"{url}/healthz")
        assert health.status_code == 200 and health.json() == {"ok": True}
        assert http.get(f"{url}/nope").status_code == 404
        assert http.post(f"{url}/elsewhere", content=b"x").status_code == 404
        too_big = http.post(f"{url}/slack/events", content=b"x" * (Limits().max_body + 1))
        assert too_big.status_code == 413
        assert Bot(url, rt, slack, http).command("globex 2026-10").status_code == 200
        [answer] = Bot(url, rt, slack, http).answers()
        assert "70.0%" in answer["text"]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"slack_bot_token": None}, "SLACK_BOT_TOKEN is not set"),
        ({"slack_signing_secret": None}, "SLACK_SIGNING_SECRET is not set"),
        ({"slack_app_token": SecretStr("xoxb-not-an-app-token")}, "SLACK_APP_TOKEN must be an app-level token"),
    ],
)
def test_serve_refuses_to_start_naming_the_missing_setting(
    settings: Settings, slack: SlackStandIn, overrides: dict[str, Any], named: str
) -> None:
    rt = Runtime(bot_settings(settings, slack, **overrides), now_override=NOW)
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["serve", "--host", "127.0.0.1", "--port", "0"], runtime=rt) == 2
    assert named in err.getvalue()
    assert "xoxb-e2e-test-token" not in err.getvalue()
    assert slack.calls == []  # nothing was started, not even auth.test


def test_serve_starts_and_stops_the_scheduler(
    settings: Settings, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    class Scheduler:
        def shutdown(self) -> None:
            events.append("shutdown")

    def start_scheduler(runtime: Runtime, client: Any) -> Scheduler:
        events.append(f"start {client.base_url}")
        return Scheduler()

    monkeypatch.setattr(bot.slack.server, "start_scheduler", start_scheduler)
    with serving(Runtime(bot_settings(settings, slack), now_override=NOW)):
        assert events == [f"start {slack.api_url}"]
    assert events == [f"start {slack.api_url}", "shutdown"]


def test_a_scheduler_that_cannot_start_stops_serve(
    settings: Settings, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No alerts would ever be posted: that must stop the bot, loudly, not pass as a log line.
    def broken(runtime: Runtime, client: Any) -> None:
        raise RuntimeError("the job store is unreachable")

    monkeypatch.setattr(bot.slack.server, "start_scheduler", broken)
    rt = Runtime(bot_settings(settings, slack), now_override=NOW)
    with pytest.raises(RuntimeError, match="job store is unreachable"):
        serve(rt, host="127.0.0.1", port=0, stop=threading.Event())


def test_serve_uses_socket_mode_with_the_app_token_when_it_is_set(settings: Settings, slack: SlackStandIn) -> None:
    # Nothing listens on the websocket URL: enough to see the mode chosen, the right token used and a clean stop.
    slack.queue("apps.connections.open", *[Reply(200, {"ok": True, "url": "ws://127.0.0.1:9/link"}) for _ in range(20)])
    rt = Runtime(
        bot_settings(settings, slack, slack_app_token=SecretStr("xapp-1-e2e"), slack_signing_secret=None),
        now_override=NOW,
    )
    with serving(rt) as where:
        assert where == "socket-mode"
        opened = slack.wait_for(lambda c: c.method == "apps.connections.open")
    assert opened[0].headers["authorization"] == "Bearer xapp-1-e2e"
    assert slack.calls_to("auth.test")[0].headers["authorization"] == "Bearer xoxb-e2e-test-token"


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked"])
def test_a_token_slack_refuses_is_one_line_naming_the_setting(
    settings: Settings, slack: SlackStandIn, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.queue("auth.test", Reply(200, {"ok": False, "error": error}))
    rt = Runtime(bot_settings(settings, slack), now_override=NOW)
    assert main(["serve", "--host", "127.0.0.1", "--port", "0"], runtime=rt) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"marginbot: SLACK_BOT_TOKEN was refused by Slack ({error}): ")
    assert "xoxb-e2e-test-token" not in err and "Traceback" not in err


def test_slack_unreachable_at_start_is_one_line_and_exit_1(
    settings: Settings, slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    rt = Runtime(bot_settings(settings, slack, slack_api_url=f"http://127.0.0.1:{port}/api/"), now_override=NOW)
    assert main(["serve", "--host", "127.0.0.1", "--port", "0"], runtime=rt) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"marginbot: cannot reach Slack at SLACK_API_URL=http://127.0.0.1:{port}/api/ (")
    assert "xoxb-e2e-test-token" not in err


def test_bolt_does_not_warn_about_the_token_in_the_environment(
    settings: Settings, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.slack.app import create_app
    from bot.slack.client import make_client

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-e2e-test-token")
    rt = Runtime(bot_settings(settings, slack), now_override=NOW)
    with caplog.at_level("DEBUG"):
        create_app(rt, make_client(rt.settings))
    assert "will be unused" not in caplog.text
