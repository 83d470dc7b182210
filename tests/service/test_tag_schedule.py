"""The relay's daily tag job (每日更新) on a database of its own (the session's holds every
test's tenant): each tag not yet computed today is computed once, and the next round
finds nothing due."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.conftest import SECRET
from zhongtai import demo
from zhongtai.data.tags.service import compute_due
from zhongtai.data.tags.store import TagDefinition
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.ids import utcnow
from zhongtai.platform.migrate import upgrade
from zhongtai.platform.tenancy import scope_session


def test_each_tag_is_computed_once_a_day(tmp_path: Path) -> None:
    own = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'zt.db'}",
        secret_key=SECRET,
        run_relay=False,
    )
    db = Database(own)
    try:
        upgrade(db.engine)
        demo.load(db, "schedule", catalog_size=40)
        with db.session(write=False) as session:
            scope_session(session, None)
            defined = len(session.scalars(select(TagDefinition.code)).all())
        assert defined > 0
        rounds = [compute_due(db, limit=4) for _ in range(-(-defined // 4) + 1)]
        assert sum(rounds) == defined and rounds[-1] == 0 and max(rounds) <= 4
        with db.session(write=False) as session:
            scope_session(session, None)
            days = set(session.scalars(select(TagDefinition.computed_day)).all())
        assert days == {utcnow().date().isoformat()}
        assert compute_due(db) == 0
    finally:
        db.dispose()
