"""query speed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Issue 14: queries whose cost follows the window asked about, not the history stored.

- `daily_customer_product` is keyed (and, on SQLite, clustered) by day first: the portfolio, the alerts and the
  digest read every customer over a few weeks, and a key led by customer made each of them read every day ever
  stored. One customer's days are found through a new (customer, day, product) index.
- `weekly_customer_product` holds daily_customer_product summed by week, only the counts and the one cost the
  portfolio reads: a 30-day window is four or five weeks and a few days at its ends. Triggers on
  daily_customer_product keep it, in the writer's own transaction, whoever writes the days (an import's fold, a
  reprice's rebuild): no writer can forget it. (A new cost column must be added to `_COST` in a new migration
  that makes the triggers again.)
- `task_rollup`'s (customer, day) index carries the task's cost, so a customer's task percentiles rank the tasks
  of the window only; the (customer, cost) index that walked every task the customer ever had is dropped.
- `meta` gains the data generation (`data_generation`), bumped by every write that changes what reports say; it
  needs no schema, only a first value.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_DAY_FIRST = ["day", "customer", "product"]
_CUSTOMER_FIRST = ["customer", "product", "day"]  # the key before this revision
# One customer's days: a range of days of that customer (the products of a day are few), whatever the history.
_CUSTOMER_INDEX = ["customer", "day", "product"]
# Every cost column as of this revision: a row's whole cost (engine.store.sql.COST_SUM then).
_COST = (
    "cost_uncached_input + cost_cached_input + cost_cache_write + cost_cache_write_1h + cost_output + "
    "cost_request_fee + cost_web_search + cost_source + cost_retrieval + cost_rerank + cost_compute"
)
_WEEKLY_MEASURES = ("events", "unpriced_events", "requests", "tokens", "cost_nano")


def _values(row: str) -> list[str]:
    """The weekly measures of a daily row (`row` is NEW or OLD in a trigger, "" in a query)."""
    prefix = f"{row}." if row else ""
    return [
        f"{prefix}events",
        f"{prefix}unpriced_events",
        f"{prefix}requests",
        f"{prefix}input_tokens + {prefix}output_tokens",
        _COST.replace("cost_", f"{prefix}cost_"),
    ]


def _measures(row: str, sign: str = "") -> str:
    """`_values` of a row as a VALUES list, negated by `sign`."""
    return ", ".join(f"{sign}({v})" for v in _values(row))


def _upsert(week: str, row: str, values: str) -> str:
    cols = ", ".join(_WEEKLY_MEASURES)
    updates = ", ".join(f"{m} = weekly_customer_product.{m} + excluded.{m}" for m in _WEEKLY_MEASURES)
    return (
        f"INSERT INTO weekly_customer_product (week, customer, product, {cols}) "
        f"VALUES ({week}, {row}.customer, {row}.product, {values}) "
        f"ON CONFLICT (week, customer, product) DO UPDATE SET {updates};"
    )


def _grow(dialect: str) -> str:
    """A daily row updated in place (its day, customer and product unchanged: what every fold does) adds what it
    gained to its week, in one statement."""
    gained = ", ".join(f"({new}) - ({old})" for new, old in zip(_values("NEW"), _values("OLD"), strict=True))
    return _upsert(_week("NEW.day", dialect), "NEW", gained)


_SAME_KEY = "NEW.day = OLD.day AND NEW.customer = OLD.customer AND NEW.product = OLD.product"


def _week(day: str, dialect: str) -> str:
    """The Monday of `day`'s week (ISO weeks, as the digest and the weekly trend count them)."""
    if dialect == "postgresql":
        return f"CAST(date_trunc('week', {day}) AS DATE)"
    return f"date({day}, '-6 days', 'weekday 1')"


def _add(row: str, sign: str, dialect: str) -> str:
    """Add a daily row (NEW, or OLD with sign '-') into its week, then drop the week's row if nothing is left in
    it (every daily row counts at least one event: a week with none has no days)."""
    week = _week(f"{row}.day", dialect)
    upsert = _upsert(week, row, _measures(row, sign))
    if not sign:
        return upsert
    return upsert + (
        f" DELETE FROM weekly_customer_product WHERE week = {week} AND customer = {row}.customer "
        f"AND product = {row}.product AND events = 0;"
    )


_SQLITE_TRIGGERS = (  # (name, event, WHEN and body)
    ("insert", "INSERT", f"BEGIN {_add('NEW', '', 'sqlite')} END"),
    ("update", "UPDATE", f"WHEN {_SAME_KEY} BEGIN {_grow('sqlite')} END"),
    ("rekey", "UPDATE", f"WHEN NOT ({_SAME_KEY}) BEGIN {_add('OLD', '-', 'sqlite')} {_add('NEW', '', 'sqlite')} END"),
    ("delete", "DELETE", f"BEGIN {_add('OLD', '-', 'sqlite')} END"),
)


def _create_weekly(dialect: str) -> None:
    op.create_table(
        "weekly_customer_product",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("customer", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        *(sa.Column(m, sa.BigInteger(), nullable=False) for m in _WEEKLY_MEASURES),
        sa.PrimaryKeyConstraint("week", "customer", "product"),
        sqlite_with_rowid=False,
    )
    cols = ", ".join(_WEEKLY_MEASURES)
    sums = ", ".join(f"SUM({v})" for v in _measures("").split(", ", 4))
    op.execute(
        f"INSERT INTO weekly_customer_product (week, customer, product, {cols}) "
        f"SELECT {_week('day', dialect)} AS week, customer, product, {sums} FROM daily_customer_product "
        f"GROUP BY {_week('day', dialect)}, customer, product"
    )
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION weekly_customer_product_fold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP = 'UPDATE' THEN IF {_SAME_KEY} THEN {_grow(dialect)} RETURN NULL; END IF; END IF; "
            f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_add('OLD', '-', dialect)} END IF; "
            f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {_add('NEW', '', dialect)} END IF; "
            "RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER weekly_customer_product_fold AFTER INSERT OR UPDATE OR DELETE ON daily_customer_product "
            "FOR EACH ROW EXECUTE FUNCTION weekly_customer_product_fold()"
        )
        return
    for name, event, body in _SQLITE_TRIGGERS:
        op.execute(f"CREATE TRIGGER weekly_customer_product_{name} AFTER {event} ON daily_customer_product {body}")


def _drop_weekly(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("DROP TRIGGER weekly_customer_product_fold ON daily_customer_product")
        op.execute("DROP FUNCTION weekly_customer_product_fold()")
    else:
        for name, _event, _body in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER weekly_customer_product_{name}")
    op.drop_table("weekly_customer_product")


def upgrade() -> None:
    _rekey_daily_customer_product(_DAY_FIRST)
    op.create_index("ix_daily_customer_product_customer", "daily_customer_product", _CUSTOMER_INDEX, unique=False)
    _create_weekly(op.get_bind().dialect.name)
    with op.batch_alter_table("task_rollup") as batch_op:
        batch_op.drop_index("ix_task_rollup_customer_cost")
        batch_op.drop_index("ix_task_rollup_customer_day")
        batch_op.create_index("ix_task_rollup_customer_day", ["customer", "day", "product", "cost_nano"], unique=False)
    op.execute("INSERT INTO meta (key, value) VALUES ('data_generation', '1')")


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key = 'data_generation'")
    with op.batch_alter_table("task_rollup") as batch_op:
        batch_op.drop_index("ix_task_rollup_customer_day")
        batch_op.create_index("ix_task_rollup_customer_day", ["customer", "day", "product"], unique=False)
        batch_op.create_index("ix_task_rollup_customer_cost", ["customer", "cost_nano", "day"], unique=False)
    _drop_weekly(op.get_bind().dialect.name)
    op.drop_index("ix_daily_customer_product_customer", table_name="daily_customer_product")
    _rekey_daily_customer_product(_CUSTOMER_FIRST)


def _rekey_daily_customer_product(keys: list[str]) -> None:
    """daily_customer_product with primary key `keys`, its rows unchanged."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint("daily_customer_product_pkey", "daily_customer_product", type_="primary")
        op.create_primary_key("daily_customer_product_pkey", "daily_customer_product", keys)
        return
    # SQLite cannot change a primary key in place, and a table without rowid is stored in its key's order: the
    # table is made again under the new key (every column as it is now) and its rows copied.
    old = sa.inspect(bind).get_columns("daily_customer_product")
    columns = [
        sa.Column(
            c["name"],
            c["type"],
            nullable=False,
            server_default=sa.text(c["default"]) if c["default"] is not None else None,
        )
        for c in old
    ]
    op.create_table("dcp_rekeyed", *columns, sa.PrimaryKeyConstraint(*keys), sqlite_with_rowid=False)
    names = ", ".join(c["name"] for c in old)
    op.execute(f"INSERT INTO dcp_rekeyed ({names}) SELECT {names} FROM daily_customer_product")
    op.drop_table("daily_customer_product")
    op.rename_table("dcp_rekeyed", "daily_customer_product")
