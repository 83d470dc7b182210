"""Budgets and limits under real concurrency (threads through the API, and processes on
the same database): a discount budget, a coupon, a flash-sale quota and a per-member
limit are never exceeded, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_orders import _priced
from tests.api.test_promotions import _valid, order, promotion
from tests.conftest import Tenant


def race(n: int, work: Callable[[int], Any]) -> list[Any]:
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait()
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def _promotion(client: TestClient, t: Tenant, promotion_id: str) -> Any:
    return client.get(f"/v1/promotions/{promotion_id}", headers=t.admin).json()


def test_racing_orders_never_spend_more_than_the_budget(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "RACE-A", 5_000, SH01=50)
    p = promotion(client, tenant, "BUDGET", "amount_off", benefit={"amount": 1_000}, budget=5_000)
    placed = race(10, lambda i: order(client, tenant, [("RACE-A", 1)], member=f"m{i}"))
    assert [r.status_code for r in placed] == [201] * 10
    discounts = sorted(r.json()["discount"] for r in placed)
    assert discounts == [0] * 5 + [1_000] * 5
    assert _promotion(client, tenant, p["id"])["spent"] == 5_000


def test_one_coupon_raced_by_six_orders_is_redeemed_once(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "RACE-B", 5_000, SH01=50)
    promotion(client, tenant, "ONCE", "amount_off", benefit={"amount": 700}, coupon_only=True)
    template = client.post(
        "/v1/coupon-templates",
        headers=tenant.admin,
        json={"code": "ONCE", "name": "once", "promotion": "ONCE", **_valid()},
    ).json()
    coupon = client.post(
        f"/v1/coupon-templates/{template['id']}/issue", headers=tenant.admin, json={"count": 1}
    ).json()[0]["code"]
    placed = race(6, lambda i: order(client, tenant, [("RACE-B", 1)], coupons=[coupon]))
    assert sorted(r.status_code for r in placed) == [201] + [409] * 5
    assert [r.json()["discount"] for r in placed if r.status_code == 201] == [700]


def test_a_flash_sale_quota_and_a_per_member_limit_hold_under_a_race(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "RACE-C", 9_900, SH01=50)
    flash = promotion(
        client,
        tenant,
        "FLASH",
        "fixed_price",
        benefit={"price": 100, "max_units": 1},
        scope={"skus": ["RACE-C"]},
        quota=3,
    )
    placed = race(8, lambda i: order(client, tenant, [("RACE-C", 1)], member=f"f{i}"))
    assert sorted(r.json()["total"] for r in placed) == [100] * 3 + [9_900] * 5
    assert _promotion(client, tenant, flash["id"])["quota_used"] == 3
    client.post(f"/v1/promotions/{flash['id']}/end", headers=tenant.admin)
    promotion(client, tenant, "ONEEACH", "amount_off", benefit={"amount": 300}, per_member=1)
    same = race(6, lambda i: order(client, tenant, [("RACE-C", 1)], member="13700000000"))
    assert sorted(r.json()["discount"] for r in same) == [0] * 5 + [300]


def test_processes_racing_on_one_database_never_exceed_the_budget(
    client: TestClient, tenant: Tenant, database_url: str, tmp_path: Path, repo_root: Path
) -> None:
    _priced(client, tenant, "RACE-D", 2_000, SH01=100)
    p = promotion(client, tenant, "PROC", "amount_off", benefit={"amount": 1_000}, budget=6_000)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.promo_worker"],
            env={
                **os.environ,
                "ZT_DATA_DIR": str(tmp_path),
                "ZT_DATABASE_URL": database_url,
                "ORDER_TENANT": tenant.id,
                "ORDER_SKU": "RACE-D",
                "ORDER_COUNT": "5",
                "MEMBER_PREFIX": f"p{n}-",
                "START_FILE": str(go),
            },
            stdout=subprocess.PIPE,
            text=True,
            cwd=repo_root,
        )
        for n in range(3)
    ]
    go.touch()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0
        results += json.loads(out.strip().splitlines()[-1])
    assert sorted(results) == [0] * 9 + [1_000] * 6
    assert _promotion(client, tenant, p["id"])["spent"] == 6_000
