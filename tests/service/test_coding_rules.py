"""Coding rules (编码规则) hand out numbers with no duplicate and no gap, under concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy.exc import OperationalError

from tests.conftest import Tenant
from zhongtai.org import service
from zhongtai.org.schemas import CodingRuleIn
from zhongtai.platform.db import Database
from zhongtai.platform.uow import UnitOfWork


def _take(db: Database, tenant_id: str, kind: str, rollback: bool = False) -> str | None:
    for _ in range(20):
        try:
            with UnitOfWork(db, tenant_id) as uow:
                code = service.next_code(uow, kind)
                if rollback:
                    return None  # leaving the block rolls back: the number is not consumed
                uow.commit()
                return code
        except OperationalError:
            continue  # SQLite busy beyond its timeout: retry, as a client would
    raise AssertionError("could not take a number")


def _seqs(codes: list[str]) -> list[int]:
    return sorted(int(c[-6:]) for c in codes)


def test_concurrent_takers_get_every_number_exactly_once(db: Database, tenant: Tenant) -> None:
    workers, per_worker = 8, 25
    barrier = threading.Barrier(workers)

    def worker(_: int) -> list[str]:
        barrier.wait()
        return [c for _ in range(per_worker) if (c := _take(db, tenant.id, "purchase_order"))]

    with ThreadPoolExecutor(workers) as pool:
        codes = [c for chunk in pool.map(worker, range(workers)) for c in chunk]
    assert len(codes) == workers * per_worker
    assert _seqs(codes) == list(range(1, workers * per_worker + 1))


def test_rolled_back_numbers_leave_no_gap(db: Database, tenant: Tenant) -> None:
    first = _take(db, tenant.id, "return")
    _take(db, tenant.id, "return", rollback=True)
    second = _take(db, tenant.id, "return")
    assert first is not None and second is not None
    assert int(second[-6:]) == int(first[-6:]) + 1


def test_mixed_commits_and_rollbacks_under_concurrency_stay_gap_free(
    db: Database, tenant: Tenant
) -> None:
    def worker(i: int) -> str | None:
        return _take(db, tenant.id, "gap_check", rollback=i % 3 == 0)

    with ThreadPoolExecutor(6) as pool:
        codes = [c for c in pool.map(worker, range(60)) if c]
    assert _seqs(codes) == list(range(1, len(codes) + 1))


def test_tenants_have_their_own_sequences(db: Database, make_tenant) -> None:
    a: Tenant = make_tenant()
    b: Tenant = make_tenant()
    assert _take(db, a.id, "purchase_order") == _take(db, b.id, "purchase_order")


def test_a_custom_rule_shapes_the_number(db: Database, tenant: Tenant) -> None:
    with UnitOfWork(db, tenant.id) as uow:
        service.set_rule(
            uow, CodingRuleIn(kind="purchase_order", prefix="BJ-", date_format="YYMMDD", width=4)
        )
        uow.commit()
    at = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # 01:00 next day in Shanghai
    with UnitOfWork(db, tenant.id) as uow:
        code = service.next_code(uow, "purchase_order", at)
        uow.commit()
    assert code == "BJ-2611260001"
