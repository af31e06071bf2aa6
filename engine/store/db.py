"""Database engine and automatic migrations (Alembic), for SQLite and PostgreSQL alike.

Every command opens the database, so the schema check is on the start-up path of every `marginbot` call: it reads
the code's head revision from the migration files themselves (a few lines of text) and the stored one with a single
SELECT, and imports Alembic (a tenth of a second) only when they differ, that is when there is something to migrate.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_ready: dict[str, Engine] = {}
_lock = threading.Lock()
_REVISION = re.compile(r"^revision\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


# Python 3.12 deprecated sqlite3's implicit adapters for dates and datetimes bound to a query. Registering the same
# ISO text forms explicitly keeps every stored and compared value identical on 3.11 and later.
sqlite3.register_adapter(date, date.isoformat)
sqlite3.register_adapter(datetime, lambda value: value.isoformat(" "))


# An import of a million events writes ~400 MB of WAL in its one transaction. Without a limit SQLite keeps the file
# at that size for as long as a connection stays open (`marginbot serve` runs for weeks); with it, the WAL is cut
# back to this once it has been checkpointed and is reused.
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the bot read while an import writes; NORMAL sync is durable across app crashes in WAL mode.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


def hold_writes(conn: Connection) -> None:
    """On SQLite, take the database's write lock now, for the rest of `conn`'s transaction: a write that changes
    nothing. The sqlite3 module begins a transaction only at a connection's first write, so until then each read
    sees whatever was last committed: a reprice would price events read before a sync commits more, and a writer
    would check prices a reprice then replaces. Holding the lock first, every read after it sees all that other
    writers committed, and none commits until this transaction ends. (PostgreSQL writers lock the rows they
    check: engine.store.meta.check_rollups.)"""
    if conn.dialect.name == "sqlite":
        conn.execute(text("UPDATE meta SET value = value WHERE key = ''"))


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for `url`, with the pragmas and pool settings marginbot relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def head_revision(versions: Path = MIGRATIONS / "versions") -> str:
    """The newest migration's id, read from the files (the one no other migration revises), without Alembic."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in versions.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            continue
        revisions.add(found.group(1))
        down = _DOWN.search(source)
        if down:
            revised.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"the migrations in {versions} have {len(heads)} heads ({sorted(heads)}); expected one")
    return heads.pop()


def stored_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for a new database), read without Alembic."""
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
        except DBAPIError as exc:
            if _missing_table(exc):
                return None  # a new, empty database
            raise


def _missing_table(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    return "no such table" in message or "does not exist" in message


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision. Cheap when already there; safe to call from many processes."""
    if stored_revision(engine) == head_revision():
        return
    from alembic import command

    command.upgrade(_alembic_config(engine), "head")


def open_engine(url: str) -> Engine:
    """The process's engine for `url`, migrated on first use (so there is no separate setup step)."""
    with _lock:
        engine = _ready.get(url)
        if engine is None:
            engine = make_engine(url)
            try:
                migrate(engine)
            except BaseException:
                engine.dispose()
                raise
            _ready[url] = engine
        return engine


def forget_engine(url: str) -> None:
    """Dispose of a cached engine (tests that drop and recreate a database use this)."""
    with _lock:
        engine = _ready.pop(url, None)
    if engine is not None:
        engine.dispose()
