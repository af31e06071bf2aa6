"""Migration 0005 on a database holding data from before it: daily_customer_product keeps every row under a key led
by day (so a window of days is one range of it), task_rollup's (customer, day) index carries the cost, the data
generation starts at 1; going back restores the old key and indexes with the rows unchanged."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from engine.store.db import _alembic_config, make_engine
from engine.store.meta import bump_generation, data_generation

DCP = (
    "INSERT INTO daily_customer_product (customer, product, day, events, requests, input_tokens, "
    "cached_input_tokens, cache_write_tokens, output_tokens, retrieval_queries, rerank_calls, compute_ms, cache_hits, "
    "unpriced_events, cost_uncached_input, cost_cached_input, cost_cache_write, cost_output, cost_request_fee, "
    "cost_source, cost_retrieval, cost_rerank, cost_compute, web_searches, cost_web_search) "
    "VALUES (:c, :p, :d, 1, 2, 3, 0, 0, 4, 0, 0, 0, 0, 0, 250, 0, 0, 100, 0, 0, 0, 0, 0, 5, 7)"
)
ROWS = [("acme", "agent", "2026-10-01"), ("acme", "agent", "2026-10-02"), ("globex", "", "2026-09-30")]
TASKS = "INSERT INTO task_rollup (customer, product, task_id, day, events, cost_nano) VALUES ('acme', 'agent', :t, :d, 1, :n)"


def upgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(engine), revision)


def stored(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(str(v) for v in row)
            for row in conn.execute(
                text(
                    "SELECT customer, product, day, events, requests, output_tokens, cost_uncached_input, "
                    "cost_output, web_searches, cost_web_search FROM daily_customer_product ORDER BY customer, day"
                )
            )
        ]


def test_rows_stored_before_0005_survive_it_under_a_key_led_by_day_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0004")
        with engine.begin() as conn:
            for c, p, d in ROWS:
                conn.execute(text(DCP), {"c": c, "p": p, "d": d})
            for i, (day, cost) in enumerate([("2026-10-01", 5), ("2026-10-02", 9)]):
                conn.execute(text(TASKS), {"t": f"T{i}", "d": day, "n": cost})
        before = stored(engine)
        assert len(before) == 3

        upgrade(engine, "0005")
        assert stored(engine) == before
        schema = inspect(engine)
        assert schema.get_pk_constraint("daily_customer_product")["constrained_columns"] == [
            "day",
            "customer",
            "product",
        ]
        indexes = {ix["name"]: ix["column_names"] for ix in schema.get_indexes("daily_customer_product")}
        assert indexes["ix_daily_customer_product_customer"] == ["customer", "day", "product"]
        tasks = {ix["name"]: ix["column_names"] for ix in schema.get_indexes("task_rollup")}
        assert tasks == {"ix_task_rollup_customer_day": ["customer", "day", "product", "cost_nano"]}
        with engine.begin() as conn:
            assert data_generation(conn) == 1
            bump_generation(conn)
            assert data_generation(conn) == 2
            # The key is the same set of columns: the rollup fold's ON CONFLICT (customer, product, day) still finds it.
            conn.execute(
                text(
                    DCP
                    + " ON CONFLICT (customer, product, day) DO UPDATE SET events = daily_customer_product.events + 1"
                ),
                {"c": "acme", "p": "agent", "d": "2026-10-01"},
            )
            assert conn.execute(text("SELECT SUM(events) FROM daily_customer_product")).scalar_one() == 4
            # The weekly sums were made from the rows already there, and follow the update through the trigger.
            weekly = conn.execute(
                text(
                    "SELECT week, customer, product, events, unpriced_events, requests, tokens, cost_nano "
                    "FROM weekly_customer_product ORDER BY customer"
                )
            ).all()
            assert [(str(w), *rest) for w, *rest in weekly] == [
                ("2026-09-28", "acme", "agent", 3, 0, 4, 14, 2 * (250 + 100 + 7)),
                ("2026-09-28", "globex", "", 1, 0, 2, 7, 250 + 100 + 7),
            ]
            # A row moved to another day (no writer does it, a hand edit might) moves to that day's week.
            conn.execute(text("UPDATE daily_customer_product SET day = '2026-10-14' WHERE customer = 'globex'"))
            moved = conn.execute(
                text("SELECT week, events FROM weekly_customer_product WHERE customer = 'globex'")
            ).all()
            assert [(str(w), e) for w, e in moved] == [("2026-10-12", 1)]
            conn.execute(text("UPDATE daily_customer_product SET day = '2026-09-30' WHERE customer = 'globex'"))

        downgrade(engine, "0004")
        schema = inspect(engine)
        assert "weekly_customer_product" not in schema.get_table_names()
        assert schema.get_pk_constraint("daily_customer_product")["constrained_columns"] == [
            "customer",
            "product",
            "day",
        ]
        tasks = {ix["name"]: ix["column_names"] for ix in schema.get_indexes("task_rollup")}
        assert tasks == {
            "ix_task_rollup_customer_day": ["customer", "day", "product"],
            "ix_task_rollup_customer_cost": ["customer", "cost_nano", "day"],
        }
        assert [r[:3] for r in stored(engine)] == [r[:3] for r in before]
        with engine.connect() as conn:
            assert data_generation(conn) == 0
    finally:
        engine.dispose()
