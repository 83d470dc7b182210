"""The migrations build exactly the tables the code declares, on each backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from zhongtai.platform.db import Database
from zhongtai.platform.migrate import is_current, upgrade
from zhongtai.tables import metadata


def test_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"write a migration for: {diff}"


def test_upgrade_is_repeatable_and_current(db: Database) -> None:
    upgrade(db.engine)
    assert is_current(db.engine)
