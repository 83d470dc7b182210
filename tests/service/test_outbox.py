"""Outbox and relay: events exist iff their change does, and arrive at least once, effects once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select, update

from tests.conftest import SECRET, Tenant
from tests.support.relay import run_relay
from zhongtai.org.store import DictionaryEntry
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.outbox import Event, OutboxEvent, consume_once, subscribe
from zhongtai.platform.uow import UnitOfWork

CRASH_EVENT = "crash_test.happened"  # consumed by tests/support/crash_consumer.py


def _emit(db: Database, tenant_id: str, type_: str, count: int) -> list[str]:
    with UnitOfWork(db, tenant_id) as uow:
        for i in range(count):
            uow.emit(type_, {"n": i})
        uow.commit()
    with UnitOfWork(db, tenant_id, write=False) as uow:
        query = select(OutboxEvent.id).where(OutboxEvent.type == type_).order_by(OutboxEvent.id)
        return list(uow.session.scalars(query).all())


def test_an_event_exists_only_if_its_change_commits(db: Database, tenant: Tenant) -> None:
    with UnitOfWork(db, tenant.id) as uow:
        uow.session.add(DictionaryEntry(dict_type="t", code="rolled", label="x"))
        uow.emit("outbox_test.rolled_back", {})
        # no commit: leaving the block rolls back both
    with UnitOfWork(db, tenant.id) as uow:
        uow.session.add(DictionaryEntry(dict_type="t", code="kept", label="x"))
        uow.emit("outbox_test.committed", {"code": "kept"})
        uow.commit()
    with UnitOfWork(db, tenant.id, write=False) as uow:
        types = set(uow.session.scalars(select(OutboxEvent.type)).all())
    assert "outbox_test.committed" in types
    assert "outbox_test.rolled_back" not in types


def test_redelivered_events_take_effect_once(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    seen: list[str] = []
    effects: list[str] = []
    kind = f"once_{tenant.id.lower()}"

    @subscribe(f"{kind}.done", kind)
    def consumer(database: Database, event: Event) -> None:
        seen.append(event.id)
        consume_once(database, kind, event, lambda _s: effects.append(event.id))

    ids = _emit(db, tenant.id, f"{kind}.done", 5)
    run_relay(db, settings)
    # Pretend the relay died before recording delivery: everything is sent again.
    with UnitOfWork(db, tenant.id) as uow:
        uow.session.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(dispatched_at=None)
        )
        uow.commit()
    run_relay(db, settings)
    assert sorted(seen) == sorted(ids * 2)
    assert sorted(effects) == ids


def test_killing_the_relay_mid_batch_loses_nothing_and_doubles_nothing(
    db: Database, database_url: str, tenant: Tenant, tmp_path: Path, repo_root: Path
) -> None:
    ids = _emit(db, tenant.id, CRASH_EVENT, 150)
    deliveries = tmp_path / "deliveries.log"
    deliveries.touch()
    env = {
        **os.environ,
        "ZT_DATABASE_URL": database_url,
        "ZT_DATA_DIR": str(tmp_path),
        "ZT_SECRET_KEY": SECRET,
        "ZT_PLUGINS": "tests.support.crash_consumer",
        "ZT_TEST_DELIVERY_LOG": str(deliveries),
        "ZT_RELAY_LEASE_SECONDS": "1",
        "PYTHONPATH": str(repo_root),
    }
    cmd = [sys.executable, "-m", "zhongtai", "relay"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(deliveries.read_text().split()) < 40:
        assert time.monotonic() < deadline, "relay made no progress"
        assert proc.poll() is None, "relay exited early"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_after = len(deliveries.read_text().split())
    assert killed_after < len(ids), "the relay finished before it could be killed"
    time.sleep(1.2)  # the dead relay's lease on its batch runs out
    subprocess.run([*cmd, "--until-idle"], env=env, check=True, stderr=subprocess.DEVNULL)

    delivered = deliveries.read_text().split()
    assert set(delivered) >= set(ids), "an event was lost"
    assert len(delivered) > len(ids), "the test should have forced redeliveries"
    with UnitOfWork(db, tenant.id, write=False) as uow:
        effects = uow.session.scalars(
            select(DictionaryEntry.code).where(DictionaryEntry.dict_type == "relay_effect")
        ).all()
        pending = uow.session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.id.in_(ids), OutboxEvent.dispatched_at.is_(None))
        )
    assert sorted(effects) == ids, "each event must take effect exactly once"
    assert pending == 0
