"""query speed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Issue 14: queries whose cost follows the window asked about, not the history stored.

- `daily_customer_product` is keyed (and, on SQLite, clustered) by day first: the portfolio, the alerts and the
  digest read every customer over a few weeks, and a key led by customer made each of them read every day ever
  stored. One customer's days are found through a new (customer, product, day) index.
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
_CUSTOMER_FIRST = ["customer", "product", "day"]


def upgrade() -> None:
    _rekey_daily_customer_product(_DAY_FIRST)
    op.create_index("ix_daily_customer_product_customer", "daily_customer_product", _CUSTOMER_FIRST, unique=False)
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
