"""alert actions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Issue 11: alert threads (`alert_thread`, one row per subject per announcing message), Acknowledge and Snooze on
`alert_state`, and on `outbox` the thread a message replies in (`reply_to`) and the claim token that alone may
mark a row sent (exactly-once delivery under long waits, issue 16).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acked_by", sa.String(length=50), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("snoozed_by", sa.String(length=50), nullable=False, server_default=""))
    op.create_table(
        "alert_thread",
        sa.Column("root_key", sa.String(length=300), nullable=False),
        sa.Column("subject_kind", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("root_key", "subject_kind", "subject"),
    )
    with op.batch_alter_table("alert_thread", schema=None) as batch_op:
        batch_op.create_index("ix_alert_thread_subject", ["subject_kind", "subject", "channel"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_to", sa.String(length=300), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("claim", sa.String(length=40), nullable=False, server_default=""))
        batch_op.create_index("ix_outbox_channel_slack_ts", ["channel", "slack_ts"], unique=False)
    # The defaults only filled existing rows; like every other column, new rows get their values from the code.
    with op.batch_alter_table("alert_state", schema=None) as batch_op:
        batch_op.alter_column("acked_by", server_default=None)
        batch_op.alter_column("snoozed_by", server_default=None)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("reply_to", server_default=None)
        batch_op.alter_column("claim", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_channel_slack_ts")
        batch_op.drop_column("claim")
        batch_op.drop_column("reply_to")
    with op.batch_alter_table("alert_thread", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_thread_subject")
    op.drop_table("alert_thread")
    with op.batch_alter_table("alert_state", schema=None) as batch_op:
        batch_op.drop_column("snoozed_by")
        batch_op.drop_column("snoozed_until")
        batch_op.drop_column("acked_at")
        batch_op.drop_column("acked_by")
