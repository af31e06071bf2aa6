"""postgres import speed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

Issue 14: PostgreSQL import speed. SQLite is unchanged.

- Migration 0005's trigger keeping `weekly_customer_product` ran a plpgsql upsert for every daily row an import
  folds in (a fold writes tens of thousands at once). It becomes three statement-level triggers reading the
  statement's transition tables: the rows a statement inserted, updated (old and new) or deleted are summed by week
  and upserted in one statement, so the weekly table still equals the days summed by week whoever writes them, for
  one GROUP BY per statement instead of one upsert per row. (SQLite has no transition tables: its row triggers
  stay.)
- `usage_event.event_id` is compared bytewise (collation "C"): its primary key is probed for every event stored,
  and only equality is ever asked of an id (two ids are the same under either collation exactly when their bytes
  are). The column's data is unchanged; its index is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Every cost column as of this revision (as in 0005: a new cost column needs a migration remaking the triggers).
_COST = (
    "cost_uncached_input + cost_cached_input + cost_cache_write + cost_cache_write_1h + cost_output + "
    "cost_request_fee + cost_web_search + cost_source + cost_retrieval + cost_rerank + cost_compute"
)
_WEEKLY = ("events", "unpriced_events", "requests", "tokens", "cost_nano")
_KEY = "week, customer, product"


def _values(row: str) -> list[str]:
    """The weekly measures of a daily row (`row`: a row variable, NEW or OLD, or "" for a table's own columns)."""
    p = f"{row}." if row else ""
    tokens = f"{p}input_tokens + {p}output_tokens"
    return [f"{p}events", f"{p}unpriced_events", f"{p}requests", tokens, _COST.replace("cost_", f"{p}cost_")]


def _week(day: str) -> str:
    """The Monday of `day`'s week (ISO weeks, as the digest and the weekly trend count them)."""
    return f"CAST(date_trunc('week', {day}) AS DATE)"


def _upsert(select: str) -> str:
    """Add `select`'s rows (the key, then the _WEEKLY measures; keys unique) onto the weekly rows."""
    updates = ", ".join(f"{m} = weekly_customer_product.{m} + excluded.{m}" for m in _WEEKLY)
    return (
        f"INSERT INTO weekly_customer_product ({_KEY}, {', '.join(_WEEKLY)}) {select} "
        f"ON CONFLICT ({_KEY}) DO UPDATE SET {updates};"
    )


def _rows(table: str, sign: str = "") -> str:
    """A transition table's rows as weekly keys and measures, negated by `sign`."""
    measures = ", ".join(f"{sign}({v}) AS {m}" for v, m in zip(_values(""), _WEEKLY, strict=True))
    return f"SELECT {_week('day')} AS week, customer, product, {measures} FROM {table}"


def _summed(parts: str) -> str:
    sums = ", ".join(f"SUM({m})" for m in _WEEKLY)
    return f"SELECT {_KEY}, {sums} FROM ({parts}) AS d GROUP BY {_KEY}"


# A week left with no events has no days left (every daily row counts at least one): its row goes.
_EMPTIED = (
    f"DELETE FROM weekly_customer_product w USING (SELECT DISTINCT {_week('day')} AS week, customer, product "
    "FROM old_rows) AS o WHERE w.week = o.week AND w.customer = o.customer AND w.product = o.product "
    "AND w.events = 0;"
)
# (trigger, event, transition tables, body): each statement's rows summed by week and added in one upsert.
_TRIGGERS = (
    ("insert", "INSERT", "NEW TABLE AS new_rows", _upsert(_summed(_rows("new_rows")))),
    (
        "update",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        _upsert(_summed(f"{_rows('new_rows')} UNION ALL {_rows('old_rows', '-')}")) + " " + _EMPTIED,
    ),
    ("delete", "DELETE", "OLD TABLE AS old_rows", _upsert(_summed(_rows("old_rows", "-"))) + " " + _EMPTIED),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("usage_event", "event_id", type_=sa.String(200, collation="C"), existing_nullable=False)
    op.execute("DROP TRIGGER weekly_customer_product_fold ON daily_customer_product")
    op.execute("DROP FUNCTION weekly_customer_product_fold()")
    for name, event, tables, body in _TRIGGERS:
        op.execute(
            f"CREATE FUNCTION weekly_customer_product_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{body} RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER weekly_customer_product_{name} AFTER {event} ON daily_customer_product "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION weekly_customer_product_{name}()"
        )


# Migration 0005's row trigger, as it made it.
def _row_upsert(row: str, values: list[str]) -> str:
    return _upsert(f"VALUES ({_week(f'{row}.day')}, {row}.customer, {row}.product, {', '.join(values)})")


def _row_add(row: str, sign: str) -> str:
    upsert = _row_upsert(row, [f"{sign}({v})" for v in _values(row)])
    if not sign:
        return upsert
    return upsert + (
        f" DELETE FROM weekly_customer_product WHERE week = {_week(f'{row}.day')} AND customer = {row}.customer "
        f"AND product = {row}.product AND events = 0;"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("usage_event", "event_id", type_=sa.String(200), existing_nullable=False)
    for name, _event, _tables, _body in _TRIGGERS:
        op.execute(f"DROP TRIGGER weekly_customer_product_{name} ON daily_customer_product")
        op.execute(f"DROP FUNCTION weekly_customer_product_{name}()")
    same_key = "NEW.day = OLD.day AND NEW.customer = OLD.customer AND NEW.product = OLD.product"
    gained = [f"({new}) - ({old})" for new, old in zip(_values("NEW"), _values("OLD"), strict=True)]
    op.execute(
        "CREATE FUNCTION weekly_customer_product_fold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP = 'UPDATE' THEN IF {same_key} THEN {_row_upsert('NEW', gained)} RETURN NULL; END IF; END IF; "
        f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_row_add('OLD', '-')} END IF; "
        f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {_row_add('NEW', '')} END IF; "
        "RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER weekly_customer_product_fold AFTER INSERT OR UPDATE OR DELETE ON daily_customer_product "
        "FOR EACH ROW EXECUTE FUNCTION weekly_customer_product_fold()"
    )
