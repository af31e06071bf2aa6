"""checked weekly sums

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

SQLite's `+` makes an integer sum past 2⁶³ − 1 a REAL, silently (PostgreSQL's BIGINT refuses it), and a figure
read from a REAL is no longer exact. The imports' upserts now add with a check (engine.store.sql.added). The SQLite
triggers keeping `weekly_customer_product` (migration 0005) add with `+` twice: a daily row's cost columns (and its
input and output tokens) into one measure, and that measure into its week. Either can pass the limit where no
column of any day does. They are made again with both checked, so such a sum fails its statement ("integer
overflow") and the import or reprice is refused, as on PostgreSQL, whose triggers (migration 0006) are unchanged.

The triggers are rewritten from their stored text, and a trigger whose text is not the one 0005 made is an error
rather than left unchecked.

A sum an earlier version stored as a REAL is found (one read of each rollup) and recorded in `meta`
(`inexact_rollups`): answers and imports then refuse, saying to run `marginbot reprice`, which rebuilds the rollups
from the events and clears it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Each trigger of migration 0005, the upserts into weekly_customer_product it makes, and whether it adds a NEW row.
_TRIGGERS = {
    "weekly_customer_product_insert": (1, True),
    "weekly_customer_product_update": (1, True),
    "weekly_customer_product_rekey": (2, True),
    "weekly_customer_product_delete": (1, False),
}
_MEASURES = ("events", "unpriced_events", "requests", "tokens", "cost_nano")
# Every cost column as of this revision (as in 0005 and 0006).
_COST = (
    "cost_uncached_input + cost_cached_input + cost_cache_write + cost_cache_write_1h + cost_output + "
    "cost_request_fee + cost_web_search + cost_source + cost_retrieval + cost_rerank + cost_compute"
)
# A NEW daily row whose cost or tokens, summed, are not an integer is refused before anything is added: an OLD row
# taken off was checked when it was added.
_GUARD = (
    "BEGIN SELECT RAISE(ABORT, 'integer overflow') "
    f"WHERE typeof({_COST.replace('cost_', 'NEW.cost_')}) = 'real' "
    "OR typeof(NEW.input_tokens + NEW.output_tokens) = 'real'; "
)


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


def _replacements(name: str) -> list[tuple[str, str, int]]:
    """(0005's text, this revision's, how many times trigger `name` has it)."""
    upserts, adds_new = _TRIGGERS[name]
    pairs = [(_plain(m), _checked(m), upserts) for m in _MEASURES]
    return [("BEGIN ", _GUARD, 1), *pairs] if adds_new else pairs


def _rewrite(*, up: bool) -> None:
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
        for plain, checked, times in _replacements(name):
            old, new = (plain, checked) if up else (checked, plain)
            if sql.count(old) != times:
                raise RuntimeError(f"trigger {name} is not the one this migration rewrites: {sql}")
            sql = sql.replace(old, new)
        op.execute(f"DROP TRIGGER {name}")
        op.execute(sql)


_ROLLUPS = ("daily_rollup", "daily_customer_product", "weekly_customer_product", "task_rollup")
_INEXACT = "inexact_rollups"


def _has_real(bind: sa.Connection) -> bool:
    """Whether any rollup holds a sum stored as a REAL (only SQLite's `+` ever made one)."""
    for table in _ROLLUPS:
        columns = [c["name"] for c in sa.inspect(bind).get_columns(table) if isinstance(c["type"], sa.Integer)]
        where = " OR ".join(f"typeof({c}) = 'real'" for c in columns)
        if bind.execute(sa.text(f"SELECT 1 FROM {table} WHERE {where} LIMIT 1")).first() is not None:
            return True
    return False


def upgrade() -> None:
    _rewrite(up=True)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and _has_real(bind):
        op.execute(f"INSERT INTO meta (key, value) VALUES ('{_INEXACT}', '1')")


def downgrade() -> None:
    _rewrite(up=False)
    op.execute(f"DELETE FROM meta WHERE key = '{_INEXACT}'")
