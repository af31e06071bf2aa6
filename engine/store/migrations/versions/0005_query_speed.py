"""query speed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Placeholder in the agreed chain (issue 14: indexes and tables led by day; data generation).
Filled by that work, or removed with the chain re-linked if unused.
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
