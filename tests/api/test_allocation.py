"""Channel allocation (库存分配): sourcing, holds, quotas and safety stock decide what each
channel may promise, the same way for queries, reservations and the hot path."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.api.test_reservations import _reserve, _stocked
from tests.conftest import Tenant
from zhongtai.catalog.service import sku_by_code
from zhongtai.inventory import model, service
from zhongtai.inventory.hotpath import HoldRequest, ReservationBatcher
from zhongtai.inventory.schemas import ReserveIn, ReserveLine
from zhongtai.platform.db import Database
from zhongtai.platform.errors import ProblemError
from zhongtai.platform.uow import UnitOfWork


def _rule(client: TestClient, t: Tenant, **body: object) -> dict:
    resp = client.post("/v1/stock/allocations", headers=t.admin, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _to(client: TestClient, t: Tenant, sku: str, channel: str) -> dict[str, int]:
    rows = client.get(
        "/v1/stock/availability", headers=t.admin, params={"sku": sku, "channel": channel}
    ).json()
    return {r["location"]: r["available"] for r in rows}


def _as(channel: str, sku: str, location: str, qty: int) -> ReserveIn:
    return ReserveIn(
        owner="c", channel=channel, lines=[ReserveLine(sku=sku, location=location, qty=qty)]
    )


def test_rules_shape_what_each_channel_sees_and_may_reserve(
    client: TestClient, tenant: Tenant
) -> None:
    _stocked(client, tenant, "ALC-A", SH01=100, DC_EAST=40)
    _rule(client, tenant, kind="hold", channel="pos", location="SH01", pct=20)
    quota = _rule(
        client, tenant, kind="quota", channel="live", location="SH01", sku="ALC-A", qty=30
    )
    _rule(client, tenant, kind="source", channel="o2o", location="SH01")
    safety = client.put(
        "/v1/stock/safety-stock",
        headers=tenant.admin,
        json={"sku": "ALC-A", "location": "DC-EAST", "qty": 10},
    )
    assert safety.status_code == 200 and safety.json()["available"] == 30
    # SH01: 100 on hand; live has 30 fenced; pos keeps 20 from everyone else.
    assert _to(client, tenant, "ALC-A", "mall") == {"SH01": 50, "DC-EAST": 30}
    assert _to(client, tenant, "ALC-A", "pos") == {"SH01": 70, "DC-EAST": 30}
    assert _to(client, tenant, "ALC-A", "live") == {"SH01": 30, "DC-EAST": 30}
    assert _to(client, tenant, "ALC-A", "o2o") == {"SH01": 50}  # sources from SH01 only
    # Reservations obey exactly what the query showed.
    assert _reserve(client, tenant.admin, [("ALC-A", "SH01", 51)]).status_code == 409
    assert _reserve(client, tenant.admin, [("ALC-A", "SH01", 50)]).status_code == 201
    live = {
        "owner": "live-1",
        "channel": "live",
        "lines": [{"sku": "ALC-A", "location": "SH01", "qty": 30}],
    }
    held = client.post("/v1/stock/reservations", headers=tenant.admin, json=live)
    assert held.status_code == 201, held.text
    again = client.post("/v1/stock/reservations", headers=tenant.admin, json={**live, "owner": "x"})
    assert again.status_code == 409 and "live" in again.json()["detail"]
    rule = client.get(f"/v1/stock/allocations/{quota['id']}", headers=tenant.admin).json()
    assert rule["used"] == 30
    # Releasing gives the quota its units back; ending it returns them to the pool.
    client.post(f"/v1/stock/reservations/{held.json()['id']}/release", headers=tenant.admin)
    assert (
        client.get(f"/v1/stock/allocations/{quota['id']}", headers=tenant.admin).json()["used"] == 0
    )
    ended = client.post(f"/v1/stock/allocations/{quota['id']}/end", headers=tenant.admin)
    assert ended.status_code == 200 and ended.json()["active"] is False
    assert (
        client.post(f"/v1/stock/allocations/{quota['id']}/end", headers=tenant.admin).status_code
        == 409
    )
    assert _to(client, tenant, "ALC-A", "mall")["SH01"] == 100 - 50 - 20
    listed = client.get(
        "/v1/stock/allocations", headers=tenant.admin, params={"active": True}
    ).json()
    assert quota["id"] not in {r["id"] for r in listed}


def test_available_to_promise_sums_and_filters_by_point(client: TestClient, tenant: Tenant) -> None:
    _stocked(client, tenant, "ALC-B", SH01=8, SH02=5, DC_EAST=100)
    _stocked(client, tenant, "ALC-C", SH02=2)
    got = client.get(
        "/v1/stock/available-to-promise",
        headers=tenant.admin,
        params={"sku": ["ALC-B", "ALC-C"], "channel": "mall"},
    ).json()
    assert [(g["sku"], g["available"]) for g in got] == [("ALC-B", 113), ("ALC-C", 2)]
    # A point in Xuhui: only locations whose radius covers it (SH01, the front warehouse, the DC).
    near = client.get(
        "/v1/stock/available-to-promise",
        headers=tenant.admin,
        params={"sku": "ALC-B", "channel": "mall", "lat": 31.1890, "lng": 121.4370},
    ).json()[0]
    assert "SH02" not in near["locations"] and near["locations"]["SH01"] == 8
    half = client.get(
        "/v1/stock/available-to-promise",
        headers=tenant.admin,
        params={"sku": "ALC-B", "channel": "mall", "lat": 31.2},
    )
    assert half.status_code == 422 and half.json()["errors"][0]["field"] == "lng"


def test_bad_rules_are_refused_with_the_field_named(client: TestClient, tenant: Tenant) -> None:
    _stocked(client, tenant, "ALC-D", SH01=1)
    cases = [
        ({"kind": "hold", "channel": "pos", "location": "SH01"}, "pct"),
        ({"kind": "quota", "channel": "live", "location": "SH01", "qty": 5}, "sku"),
        ({"kind": "quota", "channel": "live", "location": "SH01", "sku": "ALC-D", "qty": 0}, "qty"),
        ({"kind": "hold", "channel": "pos", "location": "SH01", "pct": 101}, "pct"),
        ({"kind": "source", "channel": "nowhere", "location": "SH01"}, "channel"),
        ({"kind": "source", "channel": "mall", "location": "XX99"}, "location"),
        ({"kind": "quota", "channel": "live", "location": "SH01", "sku": "NOPE", "qty": 1}, "sku"),
    ]
    for body, field in cases:
        resp = client.post("/v1/stock/allocations", headers=tenant.admin, json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert field in {e["field"].split(".")[-1] for e in resp.json()["errors"]}, resp.text
    _rule(client, tenant, kind="hold", channel="pos", location="SH01", pct=10)
    twin = client.post(
        "/v1/stock/allocations",
        headers=tenant.admin,
        json={"kind": "hold", "channel": "pos", "location": "SH01", "pct": 30},
    )
    assert twin.status_code == 409
    unsafe = client.put(
        "/v1/stock/safety-stock",
        headers=tenant.admin,
        json={"sku": "ALC-D", "location": "SH01", "qty": -1},
    )
    assert unsafe.status_code == 422


def test_a_lapsed_hold_gives_its_quota_back_at_once(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    _stocked(client, tenant, "ALC-E", SH01=10)
    quota = _rule(client, tenant, kind="quota", channel="live", location="SH01", sku="ALC-E", qty=4)
    body = {
        "owner": "o",
        "channel": "live",
        "ttl_seconds": 1,
        "lines": [{"sku": "ALC-E", "location": "SH01", "qty": 4}],
    }
    assert client.post("/v1/stock/reservations", headers=tenant.admin, json=body).status_code == 201
    assert _to(client, tenant, "ALC-E", "live") == {"SH01": 0}
    time.sleep(1.2)
    assert _to(client, tenant, "ALC-E", "live") == {"SH01": 4}  # before any sweep
    assert service.expire_due(db) >= 1
    assert (
        client.get(f"/v1/stock/allocations/{quota['id']}", headers=tenant.admin).json()["used"] == 0
    )
    assert _to(client, tenant, "ALC-E", "live") == {"SH01": 4}


def test_threads_never_exceed_a_quota_on_either_path(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    """Live callers race mall callers for one level, through single transactions and
    through the group-commit batcher at once: live gets its quota exactly, mall exactly
    what is left, nobody more."""
    _stocked(client, tenant, "ALC-F", SH01=200)
    quota = _rule(
        client, tenant, kind="quota", channel="live", location="SH01", sku="ALC-F", qty=120
    )
    with UnitOfWork(db, tenant.id, write=False) as uow:
        sku_id = sku_by_code(uow, "ALC-F").id
        location_id = service.resolve_location(uow, "SH01")[1].id
    batcher = ReservationBatcher(db)
    won: dict[str, int] = {"live": 0, "mall": 0}
    lock = threading.Lock()

    def attempt(n: int) -> None:
        channel = "live" if n % 2 else "mall"
        try:
            if n % 3:
                batcher.reserve(HoldRequest(tenant.id, "t", sku_id, location_id, 1, channel, "c"))
            else:
                with UnitOfWork(db, tenant.id) as uow:
                    service.reserve(uow, _as(channel, "ALC-F", "SH01", 1))
                    uow.commit()
        except (model.OutOfStockError, ProblemError):
            return
        with lock:
            won[channel] += 1

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(attempt, range(600)))
    batcher.close()
    assert won == {"live": 120, "mall": 80}
    rule = client.get(f"/v1/stock/allocations/{quota['id']}", headers=tenant.admin).json()
    assert rule["used"] == 120
    assert _to(client, tenant, "ALC-F", "mall") == {"SH01": 0}
