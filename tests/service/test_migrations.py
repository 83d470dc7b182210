"""The migrations build exactly the tables the code declares, on each backend, and keep
the data they reshape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.conftest import PG_URL
from zhongtai.platform.db import Database, scratch_schema
from zhongtai.platform.migrate import alembic_config, is_current, upgrade
from zhongtai.tables import metadata


def test_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"write a migration for: {diff}"


def test_upgrade_is_repeatable_and_current(db: Database) -> None:
    upgrade(db.engine)
    assert is_current(db.engine)


@pytest.fixture
def blank(db: Database, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database of the session's kind, for migrating step by step."""
    if db.dialect == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'blank.db'}")
        yield engine
        engine.dispose()
        return
    with scratch_schema(PG_URL, "zt_mig") as url:
        engine = sa.create_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _inbox(engine: sa.Engine, columns: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {columns} FROM event_inbox ORDER BY id")).all()
    return [
        tuple(json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v for v in r) for r in rows
    ]


def test_events_waiting_in_the_inbox_survive_its_change_to_batches(blank: sa.Engine) -> None:
    upgrade(blank, "0018")
    row, links = {"event_id": "E1", "type": "order.created"}, [["member", "M1"]]
    with blank.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO event_inbox (id, tenant_id, row, links, received_at)"
                " VALUES ('E1', 'T1', :row, :links, CURRENT_TIMESTAMP)"
            ),
            {"row": json.dumps(row), "links": json.dumps(links)},
        )
    upgrade(blank, "0019")
    assert _inbox(blank, "rows, links, size, ids, events") == [([row], [links], 1, [], [])]
    command.downgrade(alembic_config(blank), "0018")
    assert _inbox(blank, "row, links") == [(row, links)]
