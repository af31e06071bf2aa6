"""Migration 0002 on a database holding data from before it: events and rollups keep every row (read as standard
tier, no 1-hour writes, no searches), daily_rollup's key gains the tier; going back sums the tiers together."""

from __future__ import annotations

from sqlalchemy import Engine, text

from engine.store.db import _alembic_config, make_engine

ROLLUP = (
    "INSERT INTO daily_rollup (day, customer, product, feature, provider, model, {extra}events, requests, "
    "input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, retrieval_queries, rerank_calls, "
    "compute_ms, cache_hits, unpriced_events, cost_uncached_input, cost_cached_input, cost_cache_write, cost_output, "
    "cost_request_fee, cost_source, cost_retrieval, cost_rerank, cost_compute) "
    "VALUES ('2026-10-01', 'acme', 'p', '', 'openai', 'gpt-4o', {values}1, 1, 100, 0, 0, 10, 0, 0, 0, 0, 0, "
    "250, 0, 0, 100, 0, 0, 0, 0, 0)"
)


def upgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(engine), revision)


def test_rows_stored_before_0002_survive_it_and_the_rollup_key_gains_the_tier(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(text(ROLLUP.format(extra="", values="")))
        upgrade(engine, "0002")
        with engine.begin() as conn:
            row = conn.execute(
                text(
                    "SELECT service_tier, events, cost_uncached_input, cache_write_1h_tokens, cost_web_search FROM daily_rollup"
                )
            ).one()
            assert tuple(row) == ("standard", 1, 250, 0, 0)
            # The same day, customer and model in another tier is another row now.
            conn.execute(text(ROLLUP.format(extra="service_tier, ", values="'batch', ")))
            assert conn.execute(text("SELECT COUNT(*) FROM daily_rollup")).scalar_one() == 2
        downgrade(engine, "0001")
        with engine.begin() as conn:
            assert tuple(conn.execute(text("SELECT events, cost_uncached_input FROM daily_rollup")).one()) == (2, 500)
        upgrade(engine, "head")
    finally:
        engine.dispose()
