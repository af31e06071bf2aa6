"""checked weekly sums

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

SQLite's `+` makes an integer sum past 2⁶³ − 1 a REAL, silently (PostgreSQL's BIGINT refuses it), and a figure
read from a REAL is no longer exact. The imports' upserts now add with a check (engine.store.sql.added); the
SQLite triggers keeping `weekly_customer_product` (migration 0005) add each daily row into its week with `+`, and
a week's sum can pass the limit where no day's does. They are made again adding with the same check, so such a
sum fails its statement ("integer overflow") and the import is refused, as on PostgreSQL, whose triggers
(migration 0006) are unchanged.

The triggers are rewritten from their stored text: each measure's `+` is replaced, and a trigger whose text is not
the one 0005 made is an error rather than left unchecked.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Each trigger of migration 0005 and the upserts into weekly_customer_product it makes.
_TRIGGERS = {
    "weekly_customer_product_" + name: n for name, n in (("insert", 1), ("update", 1), ("rekey", 2), ("delete", 1))
}
_MEASURES = ("events", "unpriced_events", "requests", "tokens", "cost_nano")


def _plain(m: str) -> str:
    return f"{m} = weekly_customer_product.{m} + excluded.{m}"


def _checked(m: str) -> str:
    """engine.store.sql.added as of this revision: the week's sum compared with what is left above the daily row's
    measure (a negative one, a row taken off, leaves a REAL bound the sum is always under) before it is added."""
    stored, more = f"weekly_customer_product.{m}", f"excluded.{m}"
    return (
        f"{m} = CASE WHEN {stored} <= 9223372036854775807 - {more} THEN {stored} + {more} "
        f"ELSE abs(-9223372036854775807 - ({more} IS NOT NULL)) END"
    )


def _rewrite(old: Callable[[str], str], new: Callable[[str], str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    found = bind.execute(
        sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'daily_customer_product' "
            "ORDER BY rowid"
        )
    ).all()
    triggers = [(name, sql) for name, sql in found if name in _TRIGGERS]
    if sorted(name for name, _ in triggers) != sorted(_TRIGGERS):
        raise RuntimeError(f"weekly_customer_product's triggers are not those migration 0005 made: {sorted(found)}")
    for name, sql in triggers:
        for m in _MEASURES:
            if sql.count(old(m)) != _TRIGGERS[name]:
                raise RuntimeError(f"trigger {name} is not the one this migration rewrites: {sql}")
            sql = sql.replace(old(m), new(m))
        op.execute(f"DROP TRIGGER {name}")
        op.execute(sql)


def upgrade() -> None:
    _rewrite(_plain, _checked)


def downgrade() -> None:
    _rewrite(_checked, _plain)
