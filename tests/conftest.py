"""Shared fixtures: a real database (a SQLite file, and PostgreSQL when MARGINBOT_TEST_POSTGRES_URL is set),
settings built for the test, and a runtime with a pinned clock. Fixtures build on each other:
db_url → settings → runtime → (loaded scenarios in each test module)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from config.settings import Settings
from engine.runtime import Runtime
from engine.store.db import forget_engine

PG_URL = os.environ.get("MARGINBOT_TEST_POSTGRES_URL", "")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"  # vendor payloads, kept in the repository
# Tests never read the clock: "now" is this moment unless a test moves it.
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def _pg(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A private PostgreSQL database for this test session (so parallel runs never collide)."""
    if not PG_URL:
        pytest.skip("MARGINBOT_TEST_POSTGRES_URL is not set")
    admin = create_engine(_pg(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"marginbot_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = _pg(PG_URL).rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # At the end, where `make test`'s `pytest -q` still prints it (a report header is hidden under -q): the one line
    # that says which databases ran, instead of a skip per PostgreSQL variant.
    if PG_URL:
        terminalreporter.write_line("databases: SQLite and PostgreSQL (MARGINBOT_TEST_POSTGRES_URL)")
    else:
        terminalreporter.write_line(
            "databases: SQLite only (set MARGINBOT_TEST_POSTGRES_URL to run every test on PostgreSQL too)"
        )


# Without a PostgreSQL URL the PostgreSQL variants are not collected at all (rather than reported as 200 skips).
@pytest.fixture(params=["sqlite", "postgres"] if PG_URL else ["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a clean schema in the session's PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'marginbot.db'}"
    else:
        url = request.getfixturevalue("pg_database")
        eng = create_engine(url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        eng.dispose()
    forget_engine(url)
    yield url
    forget_engine(url)


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    """A price file with a self-hosted model, an OpenAI discount from June and unit costs."""
    path = tmp_path / "prices.toml"
    path.write_text(
        """
[[models]]
provider = "self-hosted"
model = "acme-distill-8b"
effective_from = 2026-01-01
input_per_mtok = 0.10
cached_input_per_mtok = 0.02
output_per_mtok = 0.40

[[discounts]]
provider = "openai"
percent = 10
effective_from = 2026-06-01

[unit_costs]
retrieval_query = 0.0002
rerank_call = 0.001
compute_second = 0.0005
cache_lookup = 0.00005
"""
    )
    return path


@pytest.fixture
def settings(db_url: str, prices_file: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        prices_file=prices_file,
        timezone="UTC",
    )


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    return Runtime(settings, now_override=NOW)
