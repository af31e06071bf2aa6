"""margin bridge

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

Placeholder in the agreed chain (issue 15: anything the bridge and the board pack need stored).
Filled by that work, or removed with the chain re-linked if unused.
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
