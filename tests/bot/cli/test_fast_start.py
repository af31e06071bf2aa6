"""Start-up stays fast: building the parser loads no heavy library, a report loads neither Alembic nor the table
models when the schema is current, and the constants the parser shows agree with the engine's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from config.settings import Settings
from engine.runtime import Runtime
from tests.bot.dataset import load_dataset

REPO = Path(__file__).resolve().parents[3]
HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "alembic", "slack_bolt", "slack_sdk", "genai_prices", "uvicorn",
         "httpx", "apscheduler", "matplotlib", "tqdm")  # fmt: skip


def loaded_after(code: str, env: dict[str, str] | None = None) -> dict[str, bool]:
    """Which heavy top-level modules a fresh interpreter has loaded after running `code`."""
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
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


def test_a_report_on_a_current_schema_loads_neither_alembic_nor_the_models(tmp_path: Path, prices_file: Path) -> None:
    # SQLite only: the import path is the same on PostgreSQL; what is under test is what gets imported.
    book = Runtime(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'b.db'}", prices_file=prices_file))  # type: ignore[call-arg]
    load_dataset(book, tmp_path / "book")
    code = "from bot.cli.main import main\nmain(['margin', 'acme', '--period', '2026-10', '--json'])"
    loaded = loaded_after(code, {"DATABASE_URL": book.settings.database_url})
    assert loaded["sqlalchemy"] and loaded["pydantic"]  # what a report does need
    assert not loaded["alembic"] and not loaded["sqlmodel"] and not loaded["genai_prices"]
    assert not loaded["slack_bolt"] and not loaded["uvicorn"] and not loaded["tqdm"]


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
