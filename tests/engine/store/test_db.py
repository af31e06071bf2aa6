"""Opening the database: a failure is one line naming it (password hidden) and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings


def test_an_unreachable_database_is_one_line_naming_it_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.main import main

    missing = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/no/such/dir/m.db")  # type: ignore[call-arg]
    assert main(["portfolio"], settings=missing) == 1
    assert capsys.readouterr().err == (
        f"marginbot: cannot use the database sqlite:///{tmp_path}/no/such/dir/m.db: unable to open database file; "
        "does its folder exist, and may this user write there?\n"
    )
    refused = Settings(_env_file=None, database_url="postgres://bob:s3cret@127.0.0.1:1/x")  # type: ignore[call-arg]
    assert main(["portfolio"], settings=refused) == 1
    err = capsys.readouterr().err
    assert err.startswith("marginbot: cannot use the database postgresql+psycopg://bob:***@127.0.0.1:1/x: ")
    assert "s3cret" not in err


def test_a_large_transaction_does_not_leave_its_wal_behind_on_a_connection_kept_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from sqlalchemy import text

    from engine.store import db

    monkeypatch.setattr(db, "WAL_SIZE_LIMIT", 256 * 1024)
    engine = db.make_engine(f"sqlite:///{tmp_path}/m.db")
    wal = tmp_path / "m.db-wal"
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x BLOB)"))
        conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": os.urandom(1000)} for _ in range(4000)])
    grown = wal.stat().st_size
    with engine.begin() as conn:  # the next write, after the commit's checkpoint, reuses the WAL from its start
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert grown > 4 * 1000 * 1000
    assert wal.stat().st_size <= 256 * 1024
    engine.dispose()
