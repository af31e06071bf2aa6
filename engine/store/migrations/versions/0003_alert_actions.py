"""alert actions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Placeholder in the agreed chain (issue 11: alert threads, acknowledgements, snoozes, owners; outbox claims).
Filled by that work, or removed with the chain re-linked if unused.
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
