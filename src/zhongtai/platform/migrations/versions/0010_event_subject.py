"""event subject, for order timelines

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 22:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sa.String(length=26), nullable=True))
        batch_op.create_index(
            "ix_outbox_event_subject", ["tenant_id", "subject", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_event_subject")
        batch_op.drop_column("subject")
