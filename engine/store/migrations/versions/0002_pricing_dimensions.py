"""pricing dimensions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Issue 12: usage counted and priced in every dimension providers bill. New usage columns `cache_write_1h_tokens`
(the part of cache writes kept an hour), `web_searches` and `service_tier` on events; their counters and the two
new cost types (`cost_cache_write_1h`, `cost_web_search`) on events and both daily rollups; and the service tier as
a key of daily_rollup, so what-ifs re-price batch usage at batch prices. Rows stored before read as standard-tier
usage with no 1-hour writes or searches, which is what they were priced as.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COUNTERS = ("cache_write_1h_tokens", "web_searches", "cost_cache_write_1h", "cost_web_search")
_ROLLUP_KEYS = ("day", "customer", "product", "feature", "provider", "model")


def _counter(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def _tier(*, key: bool = False) -> sa.Column:
    return sa.Column("service_tier", sa.String(length=20), nullable=False, server_default="standard", primary_key=key)


def upgrade() -> None:
    for table in ("usage_event", "daily_customer_product"):
        for name in _COUNTERS:
            op.add_column(table, _counter(name))
    op.add_column("usage_event", _tier())
    if op.get_bind().dialect.name == "postgresql":
        for name in _COUNTERS:
            op.add_column("daily_rollup", _counter(name))
        op.add_column("daily_rollup", _tier())
        op.drop_constraint("daily_rollup_pkey", "daily_rollup", type_="primary")
        op.create_primary_key("daily_rollup_pkey", "daily_rollup", [*_ROLLUP_KEYS, "service_tier"])
        return
    # SQLite cannot change a primary key in place: the table is rebuilt under the new key and its rows copied.
    _rebuild_sqlite_rollup([*_ROLLUP_KEYS, "service_tier"], add=True)


def downgrade() -> None:
    # Rows that differ only by tier are summed back into one, as the old key requires.
    bind = op.get_bind()
    measures = [
        c["name"]
        for c in sa.inspect(bind).get_columns("daily_rollup")
        if c["name"] not in (*_ROLLUP_KEYS, "service_tier", *_COUNTERS)
    ]
    keys = ", ".join(_ROLLUP_KEYS)
    sums = ", ".join(f"SUM({m}) AS {m}" for m in measures)
    op.execute(f"CREATE TEMP TABLE rollup_merge AS SELECT {keys}, {sums} FROM daily_rollup GROUP BY {keys}")
    op.execute("DELETE FROM daily_rollup")
    if bind.dialect.name == "postgresql":
        op.drop_constraint("daily_rollup_pkey", "daily_rollup", type_="primary")
        op.drop_column("daily_rollup", "service_tier")
        for name in _COUNTERS:
            op.drop_column("daily_rollup", name)
        op.create_primary_key("daily_rollup_pkey", "daily_rollup", list(_ROLLUP_KEYS))
    else:
        _rebuild_sqlite_rollup(list(_ROLLUP_KEYS), add=False)
    op.execute(f"INSERT INTO daily_rollup ({keys}, {', '.join(measures)}) SELECT * FROM rollup_merge")
    op.execute("DROP TABLE rollup_merge")
    op.drop_column("usage_event", "service_tier")
    for table in ("usage_event", "daily_customer_product"):
        for name in _COUNTERS:
            with op.batch_alter_table(table) as batch_op:
                batch_op.drop_column(name)


def _rebuild_sqlite_rollup(keys: list[str], *, add: bool) -> None:
    """daily_rollup made again with primary key `keys`: with the new columns (`add`) or without them."""
    bind = op.get_bind()
    old = [c["name"] for c in sa.inspect(bind).get_columns("daily_rollup")]
    measures = [c for c in old if c not in (*_ROLLUP_KEYS, "service_tier", *_COUNTERS)]
    if add:
        measures += _COUNTERS
    lengths = {"customer": 200, "product": 200, "feature": 200, "provider": 100, "model": 200, "service_tier": 20}
    columns: list[sa.Column] = [
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(k, sa.String(length=lengths[k]), nullable=False) for k in keys if k not in ("day", "service_tier")),
    ]
    if add:
        columns.append(_tier())
    columns += [_counter(m) if m in _COUNTERS else sa.Column(m, sa.BigInteger(), nullable=False) for m in measures]
    op.create_table("daily_rollup_rebuilt", *columns, sa.PrimaryKeyConstraint(*keys))
    copied = [c for c in (*keys, *measures) if c in old]
    names = ", ".join(copied)
    op.execute(f"INSERT INTO daily_rollup_rebuilt ({names}) SELECT {names} FROM daily_rollup")
    _drop_rollup_indexes()
    op.drop_table("daily_rollup")
    op.rename_table("daily_rollup_rebuilt", "daily_rollup")
    _create_rollup_indexes()


def _drop_rollup_indexes() -> None:
    op.drop_index("ix_daily_rollup_unpriced", table_name="daily_rollup")
    op.drop_index("ix_daily_rollup_customer_day", table_name="daily_rollup")


def _create_rollup_indexes() -> None:
    op.create_index("ix_daily_rollup_customer_day", "daily_rollup", ["customer", "day"], unique=False)
    op.create_index(
        "ix_daily_rollup_unpriced",
        "daily_rollup",
        ["day"],
        unique=False,
        sqlite_where=sa.text("unpriced_events > 0"),
        postgresql_where=sa.text("unpriced_events > 0"),
    )
