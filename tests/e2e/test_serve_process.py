"""`marginbot serve` as a real process, configured through its environment as an operator would: one process, and
`--workers 2`. Signals, the log it writes, the scheduler lease between workers. SQLite only: what is under test is
the process, not the database (the lease itself is tested on PostgreSQL in tests/bot/jobs/test_scheduler.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from config.settings import Settings
from engine.runtime import Runtime
from engine.store.db import forget_engine
from tests.bot.dataset import load_dataset
from tests.e2e.conftest import ALLOWED_USER, SIGNING_SECRET
from tests.e2e.test_http_limits import port_of, post_signed, slash_body
from tests.fakes.slack_api import Reply, SlackStandIn

REPO = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-process-test-token"


class Served:
    """A `marginbot serve` child process and the lines of its log (stderr), read as they come."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli.main", *argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))

    def count(self, pattern: str) -> int:
        return sum(1 for line in list(self.lines) if re.search(pattern, line))

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.close()
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def sqlite_settings(tmp_path: Path, prices_file: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'served.db'}",
        prices_file=prices_file,
        timezone="UTC",
    )


@contextmanager
def serving(settings: Settings, slack: SlackStandIn, tmp_path: Path, *argv: str) -> Iterator[tuple[Served, int]]:
    """The dataset in a SQLite file, then `marginbot serve ARGV` on a free port; yields the process and its port."""
    rt = Runtime(settings)
    load_dataset(rt, tmp_path / "book")
    forget_engine(settings.database_url)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": settings.database_url,
        "MARGINBOT_PRICES_FILE": str(settings.prices_file),
        "SLACK_BOT_TOKEN": BOT_TOKEN,  # in the environment: what used to make Bolt warn "token will be unused"
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "MARGINBOT_ALLOWED_USERS": ALLOWED_USER,
    }
    served = Served(["serve", "--host", "127.0.0.1", "--port", "0", *argv], env, tmp_path)
    try:
        found = served.wait_for(r"marginbot listening on http://127\.0\.0\.1:(\d+)/slack/events")
        yield served, int(found.group(1))
    finally:
        served.close()


def burst(slack: SlackStandIn, port: int, prefix: str, n: int = 20) -> list[int | str]:
    bodies = [slash_body(slack, "globex 2026-10", f"{prefix}{i}") for i in range(n)]
    with ThreadPoolExecutor(10) as pool:
        return [status for status, _ in pool.map(lambda body: post_signed(port, body), bodies)]


def test_one_process_serves_logs_quietly_and_stops_cleanly_on_sigterm(
    sqlite_settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    with serving(sqlite_settings, slack, tmp_path) as (served, port):
        assert burst(slack, port, "p") == [200] * 20
        slack.wait_for(lambda c: c.method == "response_url", count=20, timeout=30)
        served.wait_for(r"alerts: checked")
        assert served.stop(signal.SIGTERM) == 0
    log = "\n".join(served.lines)
    assert "marginbot stopped" in log
    assert "will be unused" not in log  # Bolt's token warning
    assert "Running job" not in log and "executed successfully" not in log  # APScheduler's two lines per run
    assert served.count(r"alerts: checked") == 1  # one line for the alerts run
    assert BOT_TOKEN not in log and SIGNING_SECRET not in log
    assert "Traceback" not in log


def test_workers_share_the_port_and_only_one_runs_the_scheduled_jobs(
    sqlite_settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    with serving(sqlite_settings, slack, tmp_path, "--workers", "2") as (served, port):
        served.wait_for(r"with 2 worker processes")
        served.wait_for(r"now runs the scheduled jobs")
        assert burst(slack, port, "w", n=40) == [200] * 40
        answers = slack.wait_for(lambda c: c.method == "response_url", count=40, timeout=60)
        assert all("70.0%" in c.body["text"] for c in answers)
        served.wait_for(r"alerts: checked")
        time.sleep(1.0)  # the other worker has had its chance to take the lease, and must not have
        assert served.count(r"now runs the scheduled jobs") == 1
        assert served.count(r"alerts: checked") == 1
        assert served.stop(signal.SIGTERM) == 0
    assert "marginbot stopped" in "\n".join(served.lines)
    assert "Traceback" not in "\n".join(served.lines)


def test_a_port_in_use_is_one_line_naming_the_setting(
    sqlite_settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "DATABASE_URL": sqlite_settings.database_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
        }
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"marginbot: cannot listen on 127.0.0.1:{port} (Address already in use): set PORT (or --port) to a free port"
    )
    assert port_of(f"http://127.0.0.1:{port}") == port


def _env(database_url: str, slack: SlackStandIn, settings: Settings) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": database_url,
        "MARGINBOT_PRICES_FILE": str(settings.prices_file),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "MARGINBOT_ALLOWED_USERS": ALLOWED_USER,
    }


def test_workers_with_an_unreachable_database_exit_1_in_one_line_before_listening(
    sqlite_settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as closed:
        db_port = closed.getsockname()[1]
    url = f"postgresql://bob:s3cret-pw@127.0.0.1:{db_port}/margins"
    served = Served(
        ["serve", "--host", "127.0.0.1", "--port", "0", "--workers", "2"], _env(url, slack, sqlite_settings), tmp_path
    )
    try:
        code = served.proc.wait(60)
    finally:
        served.close()
    log = "\n".join(served.lines)
    # Exit 1: systemd's Restart=on-failure restarts it later; exit 0 would read as a clean stop.
    assert code == 1, log
    assert "Traceback" not in log and "s3cret" not in log and "marginbot listening on" not in log
    assert served.lines[-1].startswith(
        f"marginbot: cannot use the database postgresql+psycopg://bob:***@127.0.0.1:{db_port}/"
    )


def test_a_worker_that_cannot_start_stops_serve_with_exit_1_not_a_restart_loop(
    sqlite_settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    # Slack accepts the token when the parent checks it, then refuses it to the workers (revoked in between).
    slack.queue("auth.test", Reply(200, {"ok": True, "user_id": "UBOT", "team_id": "T0001", "bot_id": "B0001"}))
    slack.queue("auth.test", *[Reply(200, {"ok": False, "error": "token_revoked"}) for _ in range(20)])
    rt = Runtime(sqlite_settings)
    load_dataset(rt, tmp_path / "book")
    forget_engine(sqlite_settings.database_url)
    env = _env(sqlite_settings.database_url, slack, sqlite_settings)
    served = Served(["serve", "--host", "127.0.0.1", "--port", "0", "--workers", "2"], env, tmp_path)
    try:
        code = served.proc.wait(60)
    finally:
        served.close()
    log = "\n".join(served.lines)
    assert code == 1, log
    assert "Traceback" not in log and BOT_TOKEN not in log
    assert (
        served.count(r"marginbot worker \d+ could not start: SLACK_BOT_TOKEN was refused by Slack \(token_revoked\)")
        >= 1
    )
    assert served.lines[-1] == (
        "marginbot: a worker process could not start (the log above says why), so every worker was stopped"
    )
