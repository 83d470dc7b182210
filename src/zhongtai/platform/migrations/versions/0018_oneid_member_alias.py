"""OneID: member merges

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-28 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oneid_member_alias",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("survivor", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.String(length=26), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_oneid_member_alias")),
    )


def downgrade() -> None:
    op.drop_table("oneid_member_alias")
