"""unconverted revenue

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

Invoice lines in a currency other than USD (Stripe bills one currency per invoice) are not revenue marginbot can
count, and were only named in the sync's notes: a customer's answers fell back to its contract (or to $0) with
nothing saying an invoice was left out. They are kept here, in their own currency, so every answer over their days
says which were left out (engine.reports.invoicing.unconverted).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revenue_unconverted",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("customer", sa.String(length=200), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("invoice_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("revenue_unconverted", schema=None) as batch_op:
        batch_op.create_index("ix_revenue_unconverted_customer", ["customer", "period_start"], unique=False)


def downgrade() -> None:
    op.drop_table("revenue_unconverted")
