"""Migration 0007: a week's sum past 2⁶³ − 1 fails its statement on SQLite, as it does on PostgreSQL, instead of being
kept as a REAL (no longer an exact figure). Going back to 0006 restores the triggers' text exactly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from engine.store.db import make_engine
from tests.engine.store.test_migration_0006 import _MEASURES, migrate

# Two days of one week, each within a BIGINT, together past it.
_HALF = 2**62 + 1


def _day(conn: Connection, day: str) -> None:
    """One event of acme's on `day`, costing _HALF nano-USD."""
    columns = _MEASURES.split(", ")
    values = ", ".join({"events": "1", "cost_source": ":cost"}.get(c, "0") for c in columns)
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
