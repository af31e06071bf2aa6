"""Migration 0007: a week's sum past 2⁶³ − 1 fails its statement on SQLite, as it does on PostgreSQL, instead of being
kept as a REAL (no longer an exact figure). Going back to 0006 restores the triggers' text exactly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from engine.ingest.files import import_usage_file
from engine.ingest.reprice import reprice
from engine.store.db import make_engine
from engine.store.meta import StaleRollups, check_rollups
from tests.engine.ingest.test_reprice import output_priced, usage_file
from tests.engine.store.test_migration_0006 import _MEASURES, migrate

# Two days of one week, each within a BIGINT, together past it.
_HALF = 2**62 + 1


def _day(conn: Connection, day: str, *columns: str) -> None:
    """One event of acme's on `day` with _HALF in each of `columns` (default: cost_source)."""
    halves = dict.fromkeys(columns or ("cost_source",), ":cost")
    values = ", ".join(({"events": "1"} | halves).get(c, "0") for c in _MEASURES.split(", "))
    conn.execute(
        text(
            f"INSERT INTO daily_customer_product (day, customer, product, {_MEASURES}) VALUES (:day, 'acme', 'agent', {values})"
        ),
        {"day": day, "cost": _HALF},
    )


def _weekly(conn: Connection) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(text("SELECT week, events, cost_nano FROM weekly_customer_product"))]


def _triggers(conn: Connection) -> list[tuple[str, str]]:
    rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"))
    return [(name, sql) for name, sql in rows]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    made = make_engine(db_url)
    yield made
    made.dispose()


def test_a_weeks_sum_past_a_bigint_fails_its_statement_and_nothing_is_kept(engine: Engine) -> None:
    migrate(engine, "head")
    with engine.begin() as conn:
        _day(conn, "2026-10-05")
    with engine.connect() as conn:
        kept = _weekly(conn)
    assert [(events, cost) for _, events, cost in kept] == [(1, _HALF)]
    with pytest.raises(DBAPIError, match=r"integer overflow|out of range"), engine.begin() as conn:
        _day(conn, "2026-10-06")
    with engine.connect() as conn:
        assert _weekly(conn) == kept


@pytest.mark.parametrize("columns", [("cost_source", "cost_output"), ("input_tokens", "output_tokens")])
def test_a_days_columns_summed_past_a_bigint_fail_its_statement(engine: Engine, columns: tuple[str, str]) -> None:
    # Each column holds its value; their sum, the week's cost (or tokens), cannot.
    migrate(engine, "head")
    with pytest.raises(DBAPIError, match=r"integer overflow|out of range"), engine.begin() as conn:
        _day(conn, "2026-10-05", *columns)
    with engine.connect() as conn:
        assert _weekly(conn) == []


def test_a_day_updated_past_a_bigint_fails_its_statement(engine: Engine) -> None:
    # One column near the limit, then another column of the same day raised: the day's cost passes it, though its
    # own columns do not, and the week would lose what the day gained.
    migrate(engine, "head")
    with engine.begin() as conn:
        _day(conn, "2026-10-05", "cost_output")
        conn.execute(text("UPDATE daily_customer_product SET cost_output = :v"), {"v": 2**63 - 101})
    with engine.connect() as conn:
        kept = _weekly(conn)
    with pytest.raises(DBAPIError, match=r"integer overflow|out of range"), engine.begin() as conn:
        conn.execute(text("UPDATE daily_customer_product SET cost_source = 101"))
    with engine.connect() as conn:
        assert _weekly(conn) == kept


def test_sqlite_kept_a_real_before_0007_and_gets_its_triggers_back_going_down(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's triggers are unchanged by 0007: its BIGINT refuses the sum")
    migrate(engine, "0006")
    with engine.connect() as conn:
        before = _triggers(conn)
    migrate(engine, "0007")
    with engine.connect() as conn:
        assert [name for name, _ in _triggers(conn)] == [name for name, _ in before]
        assert _triggers(conn) != before
    migrate(engine, "0006", down=True)
    with engine.begin() as conn:
        assert _triggers(conn) == before
        # What 0007 is for: the same two days made the week's sum a REAL.
        _day(conn, "2026-10-05")
        _day(conn, "2026-10-06")
        assert conn.execute(text("SELECT typeof(cost_nano) FROM weekly_customer_product")).scalar_one() == "real"


def test_a_reprice_makes_right_a_week_a_real_was_stored_in_before_0007(engine: Engine, tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL never stored a REAL")
    migrate(engine, "0006")
    # Imported row by row at $10 per million output tokens: a small day, then two of ~$5.0 billion, and a week
    # 0006's triggers made a REAL of (~$10.0 billion), larger than any integer: a day taken off it by a trigger that
    # checks its sums would fail.
    days = {"2026-10-05": 1, "2026-10-06": 500, "2026-10-07": 500}
    import_usage_file(
        engine, usage_file(tmp_path / "u.csv", days), prices=output_priced("10"), timezone="UTC", columnar=False
    )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT typeof(cost_nano) FROM weekly_customer_product")).scalar_one() == "real"
    migrate(engine, "0007")
    # 0007 found it: answers and imports refuse the inexact sums until a reprice rebuilds them.
    with engine.connect() as conn, pytest.raises(StaleRollups, match="run `marginbot reprice`"):
        check_rollups(conn, "UTC", record=False)
    # Re-priced at $0.60, the rebuild takes no day off the REAL week: it empties the weeks and sums them again.
    assert reprice(engine, prices=output_priced("0.60"), timezone="UTC").changed == 1001
    with engine.connect() as conn:
        check_rollups(conn, "UTC", record=False)
        assert _weekly(conn) == [("2026-10-05", 1001, 1001 * 599_999_999_999_400)]  # SQLite: the day as text
