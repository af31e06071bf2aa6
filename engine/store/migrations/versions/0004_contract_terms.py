"""contract terms

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Issue 11 item 3: a customer's owners (Slack member IDs) and its own margin bands, on its contracts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=500), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("breach_pct", sa.Numeric(precision=5, scale=2), nullable=True))
        batch_op.add_column(sa.Column("healthy_pct", sa.Numeric(precision=5, scale=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_column("healthy_pct")
        batch_op.drop_column("breach_pct")
        batch_op.drop_column("owner")
