"""one-off charges

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

A Stripe one-off charge (an invoice item: its period starts and ends at the same moment, a $200 setup fee) bills no
service period: it is revenue added to its day, not revenue that replaces the contract's on that day, as a line of a
subscription does. `one_off` tells them apart; lines stored before it are read again as they were (a one-off one is
one once its invoice is synced again: `marginbot sync stripe --since DATE`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("revenue_actual", schema=None) as batch_op:
        batch_op.add_column(sa.Column("one_off", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("revenue_actual", schema=None) as batch_op:
        batch_op.drop_column("one_off")
