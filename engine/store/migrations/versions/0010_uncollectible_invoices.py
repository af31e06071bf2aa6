"""uncollectible invoices

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

An invoice marked uncollectible in Stripe had its lines removed, so a customer's closed months lost revenue they had
earned (September's $5,000 read $0 once October's dunning gave up). Under ASC 606 and IFRS 15 the write-off is a
bad-debt expense, not a reversal of revenue: the lines now stay, marked `uncollectible`, and the answers over their
days say so. Lines removed before this are stored again once their invoice is synced again
(`marginbot sync stripe --since DATE`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("revenue_actual", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uncollectible", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("revenue_actual", schema=None) as batch_op:
        batch_op.drop_column("uncollectible")
