"""Migration 0006: on PostgreSQL the weekly sums are kept by statement-level triggers (one set-based upsert per
statement over its transition tables) instead of a plpgsql call per daily row. Whatever a statement does to the
daily rows (insert, an upsert inserting some and updating others, an update moving rows to other weeks, a delete),
each week holds exactly its days' sums and a week left without days has no row; going back to 0005 restores its
row trigger exactly as 0005 made it. Event ids are compared bytewise on PostgreSQL after 0006 (collation "C"), in
the database's collation again before it. On SQLite the row triggers are unchanged and pass the same checks."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, text

from engine.store.db import _alembic_config, make_engine
from tests.engine.store.test_weekly_rollup import by_week, weekly

_MEASURES = (
    "events, requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, retrieval_queries, "
    "rerank_calls, compute_ms, cache_hits, unpriced_events, cost_uncached_input, cost_cached_input, cost_cache_write, "
    "cost_output, cost_request_fee, cost_source, cost_retrieval, cost_rerank, cost_compute, web_searches, "
    "cost_web_search, cache_write_1h_tokens, cost_cache_write_1h"
)
_VALUES = "1, 2, 30, 0, 0, 4, 0, 0, 0, 0, {unpriced}, 250, 0, 0, 100, 0, 0, 0, 0, 0, 0, 7, 0, 3"
_ADDED = ", ".join(f"{m} = daily_customer_product.{m} + excluded.{m}" for m in _MEASURES.split(", "))


def migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    from alembic import command

    (command.downgrade if down else command.upgrade)(_alembic_config(engine), revision)


def upsert(conn: Connection, rows: list[tuple[str, str, str]], unpriced: int = 0) -> None:
    """One statement folding `rows` (day, customer, product) in: new keys inserted, known ones added onto."""
    values = ", ".join(f"('{d}', '{c}', '{p}', {_VALUES.format(unpriced=unpriced)})" for d, c, p in rows)
    conn.execute(
        text(
            f"INSERT INTO daily_customer_product (day, customer, product, {_MEASURES}) VALUES {values} "
            f"ON CONFLICT (day, customer, product) DO UPDATE SET {_ADDED}"
        )
    )


def same(conn: Connection) -> int:
    """Assert the weekly rows are the daily rows summed by week; return how many weeks there are."""
    expected = by_week(conn)
    assert weekly(conn) == expected
    assert conn.execute(text("SELECT COUNT(*) FROM weekly_customer_product WHERE events = 0")).scalar_one() == 0
    return len(expected)


def test_every_kind_of_statement_on_the_daily_rows_keeps_the_weekly_sums(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine, "head")
        with engine.begin() as conn:
            # The weeks of Monday Sep 28 (to Sunday Oct 4) and Monday Oct 5 2026.
            upsert(conn, [("2026-09-28", "acme", "agent"), ("2026-10-04", "acme", "agent"), ("2026-10-05", "b", "")])
            assert same(conn) == 2
            # One statement inserting two new days and adding onto two stored ones (its own week twice).
            upsert(
                conn,
                [
                    ("2026-09-28", "acme", "agent"),
                    ("2026-10-04", "acme", "agent"),
                    ("2026-10-06", "b", ""),
                    ("2026-10-11", "acme", "agent"),
                ],
                unpriced=1,
            )
            assert same(conn) == 3
            # Every row moved two weeks on, in one statement: every week it was in is emptied, two new ones filled.
            later = "day + 14" if engine.dialect.name == "postgresql" else "date(day, '+14 days')"
            conn.execute(text(f"UPDATE daily_customer_product SET day = {later}"))
            assert same(conn) == 3
            # Some rows deleted (b's week emptied), then every row: nothing left behind.
            conn.execute(text("DELETE FROM daily_customer_product WHERE customer = 'b'"))
            assert same(conn) == 2
            conn.execute(text("DELETE FROM daily_customer_product"))
            assert same(conn) == 0
    finally:
        engine.dispose()


def _weekly_triggers(conn: Connection) -> list[tuple[str, str, str, str]]:
    rows = conn.execute(
        text(
            "SELECT trigger_name, event_manipulation, action_orientation, action_statement "
            "FROM information_schema.triggers WHERE event_object_table = 'daily_customer_product' "
            "ORDER BY trigger_name, event_manipulation"
        )
    )
    return [tuple(r) for r in rows]


def _functions(conn: Connection) -> dict[str, str]:
    rows = conn.execute(text("SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'weekly_customer_product%'"))
    return {name: source for name, source in rows}


def _id_collation(conn: Connection) -> str | None:
    return conn.execute(
        text(
            "SELECT collation_name FROM information_schema.columns "
            "WHERE table_name = 'usage_event' AND column_name = 'event_id'"
        )
    ).scalar_one()


def test_postgresql_sums_by_statement_after_0006_and_by_row_again_after_going_back(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has no statement-level triggers: its row triggers are unchanged by 0006")
    engine = make_engine(db_url)
    try:
        migrate(engine, "0005")
        with engine.connect() as conn:
            row_triggers, row_function = _weekly_triggers(conn), _functions(conn)
            assert _id_collation(conn) is None
        assert {orientation for _, _, orientation, _ in row_triggers} == {"ROW"}

        migrate(engine, "0006")
        with engine.begin() as conn:
            triggers = _weekly_triggers(conn)
            assert [(name, event, orientation) for name, event, orientation, _ in triggers] == [
                ("weekly_customer_product_delete", "DELETE", "STATEMENT"),
                ("weekly_customer_product_insert", "INSERT", "STATEMENT"),
                ("weekly_customer_product_update", "UPDATE", "STATEMENT"),
            ]
            assert "weekly_customer_product_fold" not in _functions(conn)
            assert _id_collation(conn) == "C"
            upsert(conn, [("2026-10-01", "acme", "agent"), ("2026-10-02", "acme", "agent")])
            assert same(conn) == 1

        migrate(engine, "0005", down=True)
        with engine.begin() as conn:
            assert _weekly_triggers(conn) == row_triggers
            assert _functions(conn) == row_function
            assert _id_collation(conn) is None
            upsert(conn, [("2026-10-01", "acme", "agent"), ("2026-10-09", "globex", "")])
            assert same(conn) == 2
    finally:
        engine.dispose()
