"""contract terms

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Placeholder in the agreed chain (issues 10 and 16: per-customer bands and owners on contracts; contract validation).
Filled by that work, or removed with the chain re-linked if unused.
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
