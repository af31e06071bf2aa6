"""Start-up stays fast: building the parser loads no heavy library, a report loads neither Alembic nor the table
models (nor anything else it does not use) when the schema is current, the console script keeps the garbage collector
off start-up's objects but on for the command, and the constants the parser shows agree with the engine's."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.main import console, main
from config.settings import Settings
from engine.runtime import Runtime
from tests.bot.dataset import load_dataset

REPO = Path(__file__).resolve().parents[3]
HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "alembic", "slack_bolt", "slack_sdk", "genai_prices", "uvicorn",
         "httpx", "apscheduler", "matplotlib", "tqdm", "polars", "openpyxl")  # fmt: skip
# Ours, but not what a report reads: the tables (SQLModel), the price file's parser, the writer, the Slack blocks.
NOT_FOR_A_REPORT = ("engine.store.models", "engine.pricing.pricefile", "engine.pricing.book", "engine.ingest.writer",
                    "bot.blocks")  # fmt: skip
MARGIN = "['margin', 'acme', '--period', '2026-10', '--json']"


def loaded_after(code: str, env: dict[str, str] | None = None) -> dict[str, bool]:
    """Which heavy modules (HEAVY, NOT_FOR_A_REPORT) a fresh interpreter has loaded after running `code`."""
    names = HEAVY + NOT_FOR_A_REPORT
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps({{m: m in sys.modules for m in {names!r}}}))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_building_the_parser_loads_no_heavy_library() -> None:
    loaded = loaded_after("from bot.cli.main import build_parser\nbuild_parser().format_help()")
    assert [name for name, yes in loaded.items() if yes] == []


@pytest.fixture
def book_url(tmp_path: Path, prices_file: Path) -> str:
    """A SQLite file holding the book's dataset, at the current schema. (SQLite only: the import path is the same on
    PostgreSQL; what is under test is what gets imported and how the process starts.)"""
    book = Runtime(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'b.db'}", prices_file=prices_file))  # type: ignore[call-arg]
    load_dataset(book, tmp_path / "book")
    return book.settings.database_url


def test_a_report_on_a_current_schema_loads_only_what_it_reads(book_url: str) -> None:
    # As the console script runs it; the price fingerprint is read from the files, without the price file's parser.
    loaded = loaded_after(f"from bot.cli.main import console\nconsole({MARGIN})", {"DATABASE_URL": book_url})
    assert loaded["sqlalchemy"] and loaded["pydantic"]  # what a report does need
    assert [name for name, yes in loaded.items() if yes and name not in ("sqlalchemy", "pydantic")] == []


def test_the_console_script_sets_start_up_aside_and_runs_the_command_with_the_collector_on(book_url: str) -> None:
    probe = f"""
import gc, json
from bot.cli import main, reports
seen = []
margin = reports.cmd_margin
def watched(args, rt):
    seen.append([gc.isenabled(), gc.get_freeze_count()])
    return margin(args, rt)
reports.cmd_margin = watched  # registered by build_parser, which runs inside console()
main.console({MARGIN})
print(json.dumps(seen))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": book_url},
        timeout=60,
        check=True,
    )
    [[enabled, frozen]] = json.loads(done.stdout.strip().splitlines()[-1])
    # On for what the command allocates (`serve` runs for days); start-up's objects (pydantic's, SQLAlchemy's: tens
    # of thousands) out of its walks for good.
    assert enabled and frozen > 10_000


def test_only_the_console_script_pauses_the_collector(tmp_path: Path) -> None:
    # main() in-process (the tests, python -m bot) leaves the collector alone: a frozen object is never freed.
    frozen = gc.get_freeze_count()
    with pytest.raises(SystemExit):
        main(["--help"])
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    # A command line the console script refuses (exit 2 before start-up is over) hands the collector back too.
    with pytest.raises(SystemExit):
        console(["no-such-command"])
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_the_head_revision_read_from_the_files_is_alembics() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from engine.store.db import MIGRATIONS, head_revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_the_sync_sources_the_parser_offers_are_the_engines() -> None:
    from engine.ingest.sources import SYNC_SOURCES
    from engine.ingest.sync import SOURCES

    assert SYNC_SOURCES == SOURCES
