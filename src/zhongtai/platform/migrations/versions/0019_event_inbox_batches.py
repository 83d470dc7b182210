"""Collector: the inbox holds a batch of events per row

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-28 14:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ARRAY = {"postgresql": "json_build_array({})", "sqlite": "json_array(json({}))"}


def upgrade() -> None:
    with op.batch_alter_table("event_inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("size", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("ids", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("events", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.alter_column("row", new_column_name="rows")
    # Each event still waiting becomes a batch of one.
    array = _ARRAY[op.get_bind().dialect.name]
    op.execute(
        f"UPDATE event_inbox SET rows = {array.format('rows')}, links = {array.format('links')}"
    )


def downgrade() -> None:
    # A batch of one made row goes back as it came; collected batches were not possible
    # before (their events would need their rows made first: ingest before downgrading).
    element = {"postgresql": "{} -> 0", "sqlite": "json_extract({}, '$[0]')"}
    first = element[op.get_bind().dialect.name]
    op.execute(
        f"UPDATE event_inbox SET rows = {first.format('rows')}, links = {first.format('links')}"
    )
    with op.batch_alter_table("event_inbox", schema=None) as batch_op:
        batch_op.alter_column("rows", new_column_name="row")
        batch_op.drop_column("events")
        batch_op.drop_column("ids")
        batch_op.drop_column("size")
