"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_state",
        sa.Column("subject_kind", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_margin_pct", sa.Numeric(precision=9, scale=4), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("subject_kind", "subject"),
    )
    op.create_table(
        "contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("plan", sa.String(length=10), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=True),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("seat_price_usd", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("platform_fee_usd", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("included_units", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.Column("unit_price_usd", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer", "product", "start", name="uq_contract_customer_product_start"),
    )
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contract_customer"), ["customer"], unique=False)

    op.create_table(
        "customer",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("aliases", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "daily_customer_product",
        sa.Column("customer", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("retrieval_queries", sa.BigInteger(), nullable=False),
        sa.Column("rerank_calls", sa.BigInteger(), nullable=False),
        sa.Column("compute_ms", sa.BigInteger(), nullable=False),
        sa.Column("cache_hits", sa.BigInteger(), nullable=False),
        sa.Column("unpriced_events", sa.BigInteger(), nullable=False),
        sa.Column("cost_uncached_input", sa.BigInteger(), nullable=False),
        sa.Column("cost_cached_input", sa.BigInteger(), nullable=False),
        sa.Column("cost_cache_write", sa.BigInteger(), nullable=False),
        sa.Column("cost_output", sa.BigInteger(), nullable=False),
        sa.Column("cost_request_fee", sa.BigInteger(), nullable=False),
        sa.Column("cost_source", sa.BigInteger(), nullable=False),
        sa.Column("cost_retrieval", sa.BigInteger(), nullable=False),
        sa.Column("cost_rerank", sa.BigInteger(), nullable=False),
        sa.Column("cost_compute", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer", "product", "day"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "daily_rollup",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("customer", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("feature", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("retrieval_queries", sa.BigInteger(), nullable=False),
        sa.Column("rerank_calls", sa.BigInteger(), nullable=False),
        sa.Column("compute_ms", sa.BigInteger(), nullable=False),
        sa.Column("cache_hits", sa.BigInteger(), nullable=False),
        sa.Column("unpriced_events", sa.BigInteger(), nullable=False),
        sa.Column("cost_uncached_input", sa.BigInteger(), nullable=False),
        sa.Column("cost_cached_input", sa.BigInteger(), nullable=False),
        sa.Column("cost_cache_write", sa.BigInteger(), nullable=False),
        sa.Column("cost_output", sa.BigInteger(), nullable=False),
        sa.Column("cost_request_fee", sa.BigInteger(), nullable=False),
        sa.Column("cost_source", sa.BigInteger(), nullable=False),
        sa.Column("cost_retrieval", sa.BigInteger(), nullable=False),
        sa.Column("cost_rerank", sa.BigInteger(), nullable=False),
        sa.Column("cost_compute", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "customer", "product", "feature", "provider", "model"),
    )
    with op.batch_alter_table("daily_rollup", schema=None) as batch_op:
        batch_op.create_index("ix_daily_rollup_customer_day", ["customer", "day"], unique=False)
        batch_op.create_index(
            "ix_daily_rollup_unpriced",
            ["day"],
            unique=False,
            sqlite_where=sa.text("unpriced_events > 0"),
            postgresql_where=sa.text("unpriced_events > 0"),
        )

    op.create_table(
        "import_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_imported", sa.Integer(), nullable=False),
        sa.Column("rows_duplicate", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "lease",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("slack_ts", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_status"), ["status"], unique=False)

    op.create_table(
        "provider_cost",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("line_item", sa.String(length=300), nullable=False),
        sa.Column("amount_usd", sa.Numeric(precision=24, scale=9), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("provider_cost", schema=None) as batch_op:
        batch_op.create_index("ix_provider_cost_provider_day", ["provider", "day"], unique=False)

    op.create_table(
        "revenue_actual",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("customer", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("amount_usd", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("invoice_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("revenue_actual", schema=None) as batch_op:
        batch_op.create_index("ix_revenue_actual_customer", ["customer", "period_start"], unique=False)

    op.create_table(
        "sync_cursor",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "task_rollup",
        sa.Column("customer", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("task_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("cost_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer", "product", "task_id"),
    )
    with op.batch_alter_table("task_rollup", schema=None) as batch_op:
        batch_op.create_index("ix_task_rollup_customer_cost", ["customer", "cost_nano", "day"], unique=False)
        batch_op.create_index("ix_task_rollup_customer_day", ["customer", "day", "product"], unique=False)

    op.create_table(
        "usage_event",
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("customer", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("feature", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("retrieval_queries", sa.BigInteger(), nullable=False),
        sa.Column("rerank_calls", sa.BigInteger(), nullable=False),
        sa.Column("compute_ms", sa.BigInteger(), nullable=False),
        sa.Column("source_cost_nano", sa.BigInteger(), nullable=True),
        sa.Column("task_id", sa.String(length=200), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("prompt_hash", sa.String(length=128), nullable=True),
        sa.Column("priced", sa.Boolean(), nullable=False),
        sa.Column("cost_uncached_input", sa.BigInteger(), nullable=False),
        sa.Column("cost_cached_input", sa.BigInteger(), nullable=False),
        sa.Column("cost_cache_write", sa.BigInteger(), nullable=False),
        sa.Column("cost_output", sa.BigInteger(), nullable=False),
        sa.Column("cost_request_fee", sa.BigInteger(), nullable=False),
        sa.Column("cost_source", sa.BigInteger(), nullable=False),
        sa.Column("cost_retrieval", sa.BigInteger(), nullable=False),
        sa.Column("cost_rerank", sa.BigInteger(), nullable=False),
        sa.Column("cost_compute", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )


def downgrade() -> None:
    op.drop_table("usage_event")
    with op.batch_alter_table("task_rollup", schema=None) as batch_op:
        batch_op.drop_index("ix_task_rollup_customer_day")
        batch_op.drop_index("ix_task_rollup_customer_cost")

    op.drop_table("task_rollup")
    op.drop_table("sync_cursor")
    with op.batch_alter_table("revenue_actual", schema=None) as batch_op:
        batch_op.drop_index("ix_revenue_actual_customer")

    op.drop_table("revenue_actual")
    with op.batch_alter_table("provider_cost", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_cost_provider_day")

    op.drop_table("provider_cost")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_status"))

    op.drop_table("outbox")
    op.drop_table("meta")
    op.drop_table("lease")
    op.drop_table("import_run")
    with op.batch_alter_table("daily_rollup", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_daily_rollup_unpriced",
            sqlite_where=sa.text("unpriced_events > 0"),
            postgresql_where=sa.text("unpriced_events > 0"),
        )
        batch_op.drop_index("ix_daily_rollup_customer_day")

    op.drop_table("daily_rollup")
    op.drop_table("daily_customer_product")
    op.drop_table("customer")
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_customer"))

    op.drop_table("contract")
    op.drop_table("alert_state")
