"""pricing dimensions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Placeholder in the agreed chain (issue 12: usage columns and cost types for 1-hour cache writes, web searches,
service tiers).
Filled by that work, or removed with the chain re-linked if unused.
"""

from __future__ import annotations

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
