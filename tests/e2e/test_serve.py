"""`marginbot serve` as an operator runs it: health check, routing, start-up errors, the scheduler hook."""

from __future__ import annotations

import io
import socket
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
from engine.store.db import forget_engine
from tests.bot.dataset import load_dataset
from tests.conftest import NOW
from tests.e2e.conftest import Bot, bot_settings
from tests.e2e.test_http_limits import operator_log
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
        # Blank is unset, also in settings built in code (a blank app token leaves HTTP mode, which needs the secret).
        ({"slack_bot_token": SecretStr("")}, "SLACK_BOT_TOKEN is not set"),
        ({"slack_signing_secret": SecretStr(" ")}, "SLACK_SIGNING_SECRET is not set"),
        ({"slack_app_token": SecretStr(""), "slack_signing_secret": None}, "SLACK_SIGNING_SECRET is not set"),
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
    with operator_log() as log, serving(rt) as where:
        assert where == "socket-mode"
        opened = slack.wait_for(lambda c: c.method == "apps.connections.open")
    assert opened[0].headers["authorization"] == "Bearer xapp-1-e2e"
    assert slack.calls_to("auth.test")[0].headers["authorization"] == "Bearer xoxb-e2e-test-token"
    # The websocket could not be opened: the log must not say it was.
    assert "marginbot connected to Slack" not in log.getvalue()
    assert "marginbot could not connect to Slack in Socket Mode yet and keeps trying" in log.getvalue()


def test_serve_says_it_connected_in_socket_mode_once_the_link_is_open(settings: Settings, slack: SlackStandIn) -> None:
    from tests.fakes.socket_mode import SocketStandIn

    rt = Runtime(
        bot_settings(settings, slack, slack_app_token=SecretStr("xapp-1-e2e"), slack_signing_secret=None),
        now_override=NOW,
    )
    with SocketStandIn() as link:
        slack.socket_url = link.url
        with operator_log() as log, serving(rt):
            link.wait_for_link()
    assert "marginbot connected to Slack in Socket Mode\n" in log.getvalue()
    assert "could not connect" not in log.getvalue()


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


def test_a_port_that_cannot_be_bound_stops_serve_before_the_scheduler_starts(
    settings: Settings, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The scheduler takes the jobs' lease and may run a job at once: it must not start for a server that cannot.
    started: list[str] = []
    monkeypatch.setattr(bot.slack.server, "start_scheduler", lambda runtime, client: started.append("start"))
    rt = Runtime(bot_settings(settings, slack), now_override=NOW)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", "--host", "127.0.0.1", "--port", str(port)], runtime=rt) == 2
    assert capsys.readouterr().err.endswith(
        f"marginbot: cannot listen on 127.0.0.1:{port} (Address already in use): set PORT (or --port) to a free port\n"
    )
    assert started == []


def test_a_host_that_cannot_be_resolved_is_one_line_naming_the_flag(
    settings: Settings, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[str] = []
    monkeypatch.setattr(bot.slack.server, "start_scheduler", lambda runtime, client: started.append("start"))
    rt = Runtime(bot_settings(settings, slack), now_override=NOW)
    # .invalid is reserved (RFC 2606): no resolver answers it.
    assert main(["serve", "--host", "nosuch.invalid", "--port", "0"], runtime=rt) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "marginbot: cannot listen on nosuch.invalid:0: the host 'nosuch.invalid' cannot be resolved ("
    )
    assert line.endswith(
        "): set --host to an address or name of this machine (127.0.0.1, or 0.0.0.0 for all interfaces)"
    )
    assert "Unknown error" not in line and started == []


def test_an_unreachable_database_stops_serve_in_one_line_before_it_listens(
    settings: Settings, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[str] = []
    monkeypatch.setattr(bot.slack.server, "start_scheduler", lambda runtime, client: started.append("start"))
    # Were it to serve anyway, this stops it (instead of the signals it would wait for), and the test fails.
    stop = threading.Event()
    monkeypatch.setattr(bot.slack.server, "stop_on_signals", lambda: stop)
    with socket.create_server(("127.0.0.1", 0)) as closed:
        db_port = closed.getsockname()[1]
    url = f"postgresql+psycopg://bob:s3cret-pw@127.0.0.1:{db_port}/margins"
    rt = Runtime(bot_settings(settings, slack, database_url=url))
    statuses: list[int] = []
    with operator_log() as log:
        run = threading.Thread(
            target=lambda: statuses.append(main(["serve", "--host", "127.0.0.1", "--port", "0"], runtime=rt))
        )
        run.start()
        run.join(20)
        stop.set()
        run.join(10)
    assert statuses == [1], "serve started without its database"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "s3cret" not in err
    assert err.startswith(
        f"marginbot: cannot use the database postgresql+psycopg://bob:***@127.0.0.1:{db_port}/margins"
    )
    assert "marginbot listening on" not in log.getvalue() and started == []


def test_readyz_answers_503_while_the_database_cannot_be_reached_and_healthz_stays_200(
    slack: SlackStandIn, tmp_path: Path, prices_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A SQLite file whatever databases the suite runs on: losing it (its volume gone) is done with files.
    db = tmp_path / "ready.db"
    own = Settings(_env_file=None, database_url=f"sqlite:///{db}", prices_file=prices_file, timezone="UTC")  # type: ignore[call-arg]
    rt = Runtime(bot_settings(own, slack), now_override=NOW)
    monkeypatch.setattr(bot.slack.server, "start_scheduler", lambda runtime, client: None)
    try:
        with serving(rt) as url, httpx.Client(timeout=10) as http, operator_log() as log:
            ready = http.get(f"{url}/readyz")
            assert (ready.status_code, ready.json()) == (200, {"ok": True})
            rt.engine.dispose()  # the pool's connections would keep the old file open
            db.rename(tmp_path / "elsewhere.db")
            db.mkdir()  # a directory where the database was: SQLite cannot open it
            for _ in range(2):  # the reason is logged once, when readiness is lost
                down = http.get(f"{url}/readyz")
                assert (down.status_code, down.text) == (
                    503,
                    '{"ok": false, "error": "the database cannot be reached"}',
                )
            assert http.get(f"{url}/healthz").status_code == 200  # alive: restarting it would not help
            db.rmdir()
            (tmp_path / "elsewhere.db").rename(db)
            assert http.get(f"{url}/readyz").status_code == 200
        assert log.getvalue().splitlines() == [
            "not ready (/readyz answered 503): OperationalError: unable to open database file",
            "ready again: the database answers",
        ]
    finally:
        forget_engine(own.database_url)
