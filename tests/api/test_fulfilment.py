"""Fulfilment (履约): a paid order splits per location; pick, pack, ship or hand over;
stock leaves at the hand-over; the order completes when every parcel is delivered."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_orders import XUHUI, _order, _priced
from tests.api.test_payments import CARD, _get, _pay
from tests.conftest import Tenant


def _stock(client: TestClient, t: Tenant, sku: str) -> dict[str, tuple[int, int]]:
    rows = client.get("/v1/stock/availability", headers=t.admin, params={"sku": sku}).json()
    return {r["location"]: (r["on_hand"], r["reserved"]) for r in rows}


def _paid(
    client: TestClient, t: Tenant, lines: list[tuple[str, int]], **fulfilment: object
) -> dict:
    order = _order(client, t, lines, **fulfilment).json()
    assert _pay(client, t, order["id"], provider="test_card", card_number=CARD).status_code == 201
    return order


def _steps(
    client: TestClient, t: Tenant, fulfilment_id: str, *steps: str, code: str | None = None
) -> list[int]:
    url = f"/v1/fulfilments/{fulfilment_id}/advance"
    return [
        client.post(url, headers=t.admin, json={"to": s, "pickup_code": code}).status_code
        for s in steps
    ]


def test_a_split_delivery_ships_from_each_location_and_then_completes(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "FUL-A", 1_000, SH01=2)
    _priced(client, tenant, "FUL-B", 1_000, FW_SH01=2)
    order = _paid(client, tenant, [("FUL-A", 2), ("FUL-B", 1)], type="delivery", **XUHUI)
    parcels = client.get(f"/v1/orders/{order['id']}/fulfilments", headers=tenant.admin).json()
    assert sorted(p["location_id"] for p in parcels) == sorted(
        [tenant.units["SH01"], tenant.units["FW-SH01"]]
    )
    first, second = parcels
    assert _steps(client, tenant, first["id"], "packed") == [409]  # pick first
    assert _steps(client, tenant, first["id"], "picked", "packed", "shipped") == [200, 200, 200]
    assert _get(client, tenant, order["id"])["status"] == "paid"
    assert (
        _steps(client, tenant, second["id"], "picked", "packed", "shipped", "delivered")
        == [200] * 4
    )
    assert _steps(client, tenant, first["id"], "delivered") == [200]
    done = _get(client, tenant, order["id"])
    assert done["status"] == "completed"
    assert _stock(client, tenant, "FUL-A") == {"SH01": (0, 0)}
    assert _stock(client, tenant, "FUL-B") == {"FW-SH01": (1, 0)}
    hold = client.get(f"/v1/stock/reservations/{order['reservation_id']}", headers=tenant.admin)
    assert hold.json()["status"] == "fulfilled"
    ledger = client.get(
        "/v1/stock/movements", headers=tenant.admin, params={"sku": "FUL-A", "location": "SH01"}
    ).json()
    assert [(m["kind"], m["qty"], m["document"]) for m in ledger][-1] == (
        "sale",
        -2,
        order["number"],
    )


def test_a_shipped_order_is_not_cancelled(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "FUL-C", 1_000, SH01=1)
    order = _paid(client, tenant, [("FUL-C", 1)], type="delivery")
    [parcel] = client.get(f"/v1/orders/{order['id']}/fulfilments", headers=tenant.admin).json()
    _steps(client, tenant, parcel["id"], "picked", "packed", "shipped")
    refused = client.post(f"/v1/orders/{order['id']}/cancel", headers=tenant.admin, json={})
    assert refused.status_code == 409 and "return" in refused.json()["detail"]


def test_pickup_is_handed_over_against_its_code(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "FUL-D", 1_000, SH02=3)
    order = _paid(client, tenant, [("FUL-D", 2)], type="pickup", location="SH02")
    [parcel] = client.get(f"/v1/orders/{order['id']}/fulfilments", headers=tenant.admin).json()
    assert _steps(client, tenant, parcel["id"], "picked", "packed", "ready") == [200] * 3
    assert _stock(client, tenant, "FUL-D") == {"SH02": (3, 2)}  # still on the shelf, held
    assert _steps(client, tenant, parcel["id"], "collected", code="000000x") == [422]
    assert _steps(client, tenant, parcel["id"], "collected", code=order["pickup_code"]) == [200]
    assert _get(client, tenant, order["id"])["status"] == "completed"
    assert _stock(client, tenant, "FUL-D") == {"SH02": (1, 0)}


def test_a_till_sale_is_handed_over_when_paid(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "FUL-E", 700, SH01=4)
    order = _order(
        client, tenant, [("FUL-E", 3)], type="in_store", location="SH01", channel="pos"
    ).json()
    _pay(client, tenant, order["id"], provider="cash", tendered=5_000)
    assert _get(client, tenant, order["id"])["status"] == "completed"
    assert _stock(client, tenant, "FUL-E") == {"SH01": (1, 0)}


def test_store_staff_see_their_own_pick_list(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "FUL-F", 1_000, SH01=1, SH02=1)
    mine = _paid(client, tenant, [("FUL-F", 1)], type="pickup", location="SH01")
    other = _paid(client, tenant, [("FUL-F", 1)], type="pickup", location="SH02")
    queue = client.get(
        "/v1/fulfilments", headers=tenant.manager, params={"status": "created"}
    ).json()
    orders = {f["order_id"] for f in queue}
    assert mine["id"] in orders and other["id"] not in orders
    theirs = client.get(f"/v1/orders/{other['id']}/fulfilments", headers=tenant.admin).json()[0]
    assert client.get(f"/v1/fulfilments/{theirs['id']}", headers=tenant.manager).status_code == 404
