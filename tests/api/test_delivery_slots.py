"""Same-hour delivery slots: offered within opening hours, booked up to capacity, given
back on cancellation, never overbooked by concurrent checkouts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from tests.api.test_orders import XUHUI, _order, _priced
from tests.conftest import Tenant
from zhongtai.orders.slots import ZONE


def _tomorrow() -> str:
    return (datetime.now(ZONE).date() + timedelta(days=1)).isoformat()


def _slots(client: TestClient, t: Tenant) -> list[dict]:
    resp = client.get("/v1/delivery-slots", headers=t.admin, params={**XUHUI, "day": _tomorrow()})
    assert resp.status_code == 200, resp.text
    return resp.json()


def _capacity(client: TestClient, t: Tenant, location: str, per_slot: int) -> None:
    resp = client.put(
        "/v1/delivery-slots/capacity",
        headers=t.admin,
        json={"location": location, "per_slot": per_slot},
    )
    assert resp.status_code == 200, resp.text


def test_a_slot_is_booked_up_to_its_capacity_and_freed_by_cancelling(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "SLOT-A", 1_000, SH01=10, FW_SH01=10)
    offered = _slots(client, tenant)
    assert len(offered) == 14  # 08:00-22:00 local, hour by hour
    first = offered[0]
    assert datetime.fromisoformat(first["start"]).astimezone(ZONE).hour == 8
    assert set(first["locations"]) == {"SH01", "FW-SH01"} and first["remaining"] == 40
    _capacity(client, tenant, "SH01", 1)
    _capacity(client, tenant, "FW-SH01", 0)
    assert (_slots(client, tenant)[0]["remaining"], _slots(client, tenant)[0]["locations"]) == (
        1,
        ["SH01"],
    )
    slot = first["start"]
    made = _order(client, tenant, [("SLOT-A", 1)], type="o2o", slot=slot, **XUHUI)
    assert made.status_code == 201, made.text
    order = made.json()
    assert datetime.fromisoformat(order["slot_start"]) == datetime.fromisoformat(slot)
    assert datetime.fromisoformat(order["slot_end"]) - datetime.fromisoformat(slot) == timedelta(
        hours=1
    )
    assert [a["location"] for a in order["allocations"]] == ["SH01"]
    full = _order(client, tenant, [("SLOT-A", 1)], type="o2o", slot=slot, **XUHUI)
    assert full.status_code == 409 and full.json()["type"].endswith("slot-full"), full.text
    assert slot not in [s["start"] for s in _slots(client, tenant)]
    cancel = client.post(f"/v1/orders/{order['id']}/cancel", headers=tenant.admin, json={})
    assert cancel.status_code == 200, cancel.text
    again = _order(client, tenant, [("SLOT-A", 1)], type="o2o", slot=slot, **XUHUI)
    assert again.status_code == 201, again.text


def test_a_slot_must_be_one_offered_and_only_for_same_hour_delivery(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "SLOT-B", 1_000, SH01=10)
    start = datetime.fromisoformat(_slots(client, tenant)[0]["start"])
    for bad in (start + timedelta(minutes=30), start - timedelta(days=3)):
        resp = _order(client, tenant, [("SLOT-B", 1)], type="o2o", slot=bad.isoformat(), **XUHUI)
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == "fulfilment.slot"
    home = _order(client, tenant, [("SLOT-B", 1)], type="delivery", slot=start.isoformat(), **XUHUI)
    assert home.status_code == 422 and home.json()["errors"][0]["field"] == "fulfilment.slot"
    naive = _order(client, tenant, [("SLOT-B", 1)], type="o2o", slot="2099-01-01T08:00", **XUHUI)
    assert naive.status_code == 422


def test_concurrent_checkouts_never_overbook_a_slot(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "SLOT-C", 1_000, SH01=50)
    _capacity(client, tenant, "SH01", 3)
    _capacity(client, tenant, "FW-SH01", 0)
    slot = _slots(client, tenant)[1]["start"]
    start = threading.Barrier(8)

    def order(_n: int) -> int:
        start.wait()
        return _order(client, tenant, [("SLOT-C", 1)], type="o2o", slot=slot, **XUHUI).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(order, range(8)))
    assert sorted(codes) == [201] * 3 + [409] * 5
    assert slot not in [s["start"] for s in _slots(client, tenant)]
