"""Group commit for hot SKUs: exact under threads, processes and a killed process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from tests.conftest import SECRET, Tenant
from zhongtai.catalog.store import Sku
from zhongtai.inventory import model
from zhongtai.inventory.hotpath import HoldRequest, ReservationBatcher
from zhongtai.inventory.store import (
    Location,
    Reservation,
    ReservationLine,
    StockAllocation,
    StockLevel,
)
from zhongtai.org.store import OrgUnit
from zhongtai.platform.db import Database
from zhongtai.platform.ids import new_id
from zhongtai.platform.uow import UnitOfWork


def _level(db: Database, tenant: Tenant, on_hand: int) -> tuple[str, str]:
    """A fresh SKU with `on_hand` units at SH01."""
    with UnitOfWork(db, tenant.id) as uow:
        product = uow.session.scalar(select(Sku.product_id).limit(1))
        location = uow.session.scalar(
            select(Location.id)
            .join(OrgUnit, OrgUnit.id == Location.id)
            .where(OrgUnit.code == "SH01")
        )
        sku = Sku(id=new_id(), product_id=product, code=f"HOT-{new_id()}", name="hot")
        uow.session.add(sku)
        uow.session.add(
            StockLevel(
                sku_id=sku.id,
                location_id=location,
                on_hand=on_hand,
                reserved=0,
                in_transit=0,
                safety_stock=0,
            )
        )
        uow.commit()
        return sku.id, str(location)


def _state(db: Database, tenant: Tenant, sku: str) -> tuple[int, int, int]:
    """(reserved on the level, units on reservation lines, reservations)."""
    with UnitOfWork(db, tenant.id, write=False) as uow:
        reserved = uow.session.scalar(select(StockLevel.reserved).where(StockLevel.sku_id == sku))
        lines = uow.session.scalar(
            select(func.coalesce(func.sum(ReservationLine.qty), 0)).where(
                ReservationLine.sku_id == sku
            )
        )
        holds = uow.session.scalar(
            select(func.count())
            .select_from(Reservation)
            .join(ReservationLine, ReservationLine.reservation_id == Reservation.id)
            .where(ReservationLine.sku_id == sku)
        )
    return int(reserved or 0), int(lines or 0), int(holds or 0)


def test_threads_through_the_batcher_get_exactly_the_stock(db: Database, tenant: Tenant) -> None:
    sku, location = _level(db, tenant, 100)
    batcher = ReservationBatcher(db)
    won: list[str] = []
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(10):
            try:
                hold = batcher.reserve(HoldRequest(tenant.id, "t", sku, location, 1, "live", "c"))
            except model.OutOfStockError:
                continue
            with lock:
                won.append(hold)

    threads = [threading.Thread(target=caller) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    assert len(won) == len(set(won)) == 100
    assert _state(db, tenant, sku) == (100, 100, 100)
    assert batcher.batches < 240, "requests should have been combined"


def _workers(
    database_url: str,
    tmp: Path,
    repo: Path,
    tenant: Tenant,
    sku: str,
    location: str,
    count: int,
    threads: int,
    per_thread: int,
) -> list[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "ZT_DATABASE_URL": database_url,
        "ZT_DATA_DIR": str(tmp),
        "ZT_SECRET_KEY": SECRET,
        "PYTHONPATH": str(repo),
        "HOLD_TENANT": tenant.id,
        "HOLD_SKU": sku,
        "HOLD_LOCATION": location,
        "HOLD_THREADS": str(threads),
        "HOLD_PER_THREAD": str(per_thread),
    }
    cmd = [sys.executable, "-m", "tests.support.hold_worker"]
    return [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=repo)
        for _ in range(count)
    ]


def test_processes_racing_get_exactly_the_stock(
    db: Database, database_url: str, tenant: Tenant, tmp_path: Path, repo_root: Path
) -> None:
    sku, location = _level(db, tenant, 150)
    procs = _workers(database_url, tmp_path, repo_root, tenant, sku, location, 3, 8, 12)
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    acknowledged = [h for out in outputs for h in out]
    assert len(acknowledged) == len(set(acknowledged)) == 150  # 288 tried, stock 150
    assert _state(db, tenant, sku) == (150, 150, 150)


def test_processes_racing_never_exceed_a_channel_quota(
    db: Database, database_url: str, tenant: Tenant, tmp_path: Path, repo_root: Path
) -> None:
    sku, location = _level(db, tenant, 150)
    with UnitOfWork(db, tenant.id) as uow:
        quota = StockAllocation(
            kind="quota", channel="live", location_id=location, sku_id=sku, qty=60, used=0
        )
        uow.session.add(quota)
        uow.commit()
        quota_id = quota.id
    procs = _workers(database_url, tmp_path, repo_root, tenant, sku, location, 3, 8, 12)
    acknowledged = [h for p in procs for h in p.communicate(timeout=120)[0].split()]
    assert all(p.returncode == 0 for p in procs)
    assert len(acknowledged) == len(set(acknowledged)) == 60  # 288 tried, quota 60 of 150
    assert _state(db, tenant, sku) == (60, 60, 60)
    with UnitOfWork(db, tenant.id, write=False) as uow:
        assert uow.get(StockAllocation, quota_id, "quota").used == 60


def test_a_killed_process_loses_no_acknowledged_hold_and_half_applies_none(
    db: Database, database_url: str, tenant: Tenant, tmp_path: Path, repo_root: Path
) -> None:
    sku, location = _level(db, tenant, 1_000_000)
    [proc] = _workers(database_url, tmp_path, repo_root, tenant, sku, location, 1, 16, 10_000)
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while len(seen) < 300 and time.monotonic() < deadline:
        seen.append(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seen += [line.strip() for line in proc.stdout.read().split()]
    acknowledged = {h for h in seen if h}
    assert len(acknowledged) >= 300
    with UnitOfWork(db, tenant.id, write=False) as uow:
        stored = set(
            uow.session.scalars(
                select(ReservationLine.reservation_id).where(ReservationLine.sku_id == sku)
            ).all()
        )
    assert acknowledged <= stored, "an acknowledged reservation was lost"
    reserved, lines, holds = _state(db, tenant, sku)
    assert reserved == lines == holds == len(stored), "a batch was half applied"
