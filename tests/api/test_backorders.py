"""Back-orders (缺货待发): sold short at checkout or found short when picking, sourced
when stock allows (at once, on request or by the relay), or cancelled and refunded."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.api.test_fulfilment import _paid, _steps, _stock
from tests.api.test_orders import XUHUI, _priced
from tests.api.test_payments import CARD, _get, _pay
from tests.api.test_reservations import _receive
from tests.conftest import Tenant
from zhongtai.orders import service
from zhongtai.orders.store import Backorder
from zhongtai.platform.db import Database
from zhongtai.platform.uow import UnitOfWork


def _place(client: TestClient, t: Tenant, sku: str, qty: int, **extra: Any):
    body = {
        "channel": "mall",
        "lines": [{"sku": sku, "qty": qty}],
        "fulfilment": {"type": "delivery", **XUHUI},
        **extra,
    }
    return client.post("/v1/orders", headers=t.admin, json=body)


def _parcels(client: TestClient, t: Tenant, order_id: str) -> list[dict]:
    return client.get(f"/v1/orders/{order_id}/fulfilments", headers=t.admin).json()


def _deliver_all(client: TestClient, t: Tenant, order_id: str) -> None:
    for p in _parcels(client, t, order_id):
        if p["status"] == "created":
            steps = ("picked", "packed", "shipped", "delivered")
            assert _steps(client, t, p["id"], *steps) == [200] * 4


def test_units_short_at_checkout_are_sent_when_stock_arrives(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "BO-A", 1_000, DC_EAST=2)
    refused = _place(client, tenant, "BO-A", 5)
    assert refused.status_code == 409 and refused.json()["type"].endswith("out-of-stock")
    made = _place(client, tenant, "BO-A", 5, backorder=True)
    assert made.status_code == 201, made.text
    order = made.json()
    assert order["total"] == 5_000 and order["backorders"] == [{"sku": "BO-A", "qty": 3}]
    assert [(a["location"], a["qty"]) for a in order["allocations"]] == [("DC-EAST", 2)]
    assert (
        _pay(client, tenant, order["id"], provider="test_card", card_number=CARD).status_code == 201
    )
    assert [p["location_id"] for p in _parcels(client, tenant, order["id"])] == [
        tenant.units["DC-EAST"]
    ]
    still = client.post(f"/v1/orders/{order['id']}/backorders/source", headers=tenant.admin)
    assert still.status_code == 200 and still.json()["backorders"] == [{"sku": "BO-A", "qty": 3}]
    _receive(client, tenant, "BO-A", SH01=3)
    sent = client.post(f"/v1/orders/{order['id']}/backorders/source", headers=tenant.admin)
    assert sent.status_code == 200 and sent.json()["backorders"] == []
    assert len(_parcels(client, tenant, order["id"])) == 2
    _deliver_all(client, tenant, order["id"])
    assert _get(client, tenant, order["id"])["status"] == "completed"
    assert _stock(client, tenant, "BO-A") == {"DC-EAST": (0, 0), "SH01": (0, 0)}


def test_a_short_pick_is_sourced_elsewhere_at_once(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "BO-B", 2_000, SH01=2)
    order = _paid(client, tenant, [("BO-B", 2)], type="delivery", **XUHUI)
    (parcel,) = _parcels(client, tenant, order["id"])
    _receive(client, tenant, "BO-B", DC_EAST=5)
    short = client.post(
        f"/v1/fulfilments/{parcel['id']}/short",
        headers=tenant.admin,
        json={"lines": [{"sku": "BO-B", "qty": 1}]},
    )
    assert short.status_code == 200, short.text
    assert [x["qty"] for x in short.json()["lines"]] == [1]
    parcels = _parcels(client, tenant, order["id"])
    # SH01 still shows one unit on hand, but it came up short there: the DC sends it.
    assert sorted(p["location_id"] for p in parcels) == sorted(
        [tenant.units["SH01"], tenant.units["DC-EAST"]]
    )
    assert _get(client, tenant, order["id"])["backorders"] == []
    assert _stock(client, tenant, "BO-B") == {"SH01": (2, 1), "DC-EAST": (5, 1)}
    _deliver_all(client, tenant, order["id"])
    assert _get(client, tenant, order["id"])["status"] == "completed"
    timeline = client.get(f"/v1/orders/{order['id']}/timeline", headers=tenant.admin).json()
    assert {"fulfilment.short", "order.backorder_sourced"} <= {e["type"] for e in timeline}


def test_owed_units_cancelled_are_refunded_once_and_returns_add_up(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "BO-C", 1_001, SH01=3)
    order = _paid(client, tenant, [("BO-C", 3)], type="delivery", **XUHUI)
    (parcel,) = _parcels(client, tenant, order["id"])
    short = client.post(
        f"/v1/fulfilments/{parcel['id']}/short",
        headers=tenant.admin,
        json={"lines": [{"sku": "BO-C", "qty": 1}]},
    )
    assert short.status_code == 200
    assert _get(client, tenant, order["id"])["backorders"] == [{"sku": "BO-C", "qty": 1}]
    cancelled = client.post(f"/v1/orders/{order['id']}/backorders/cancel", headers=tenant.admin)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["paid"] == 3_003 - 1_001 and cancelled.json()["backorders"] == []
    again = client.post(f"/v1/orders/{order['id']}/backorders/cancel", headers=tenant.admin)
    assert again.status_code == 409
    _deliver_all(client, tenant, order["id"])
    assert _get(client, tenant, order["id"])["status"] == "completed"
    url = f"/v1/orders/{order['id']}/returns"
    too_many = client.post(
        url,
        headers=tenant.admin,
        json={"reason": "changed_mind", "lines": [{"line_no": 1, "qty": 3}]},
    )
    assert too_many.status_code == 422
    back = client.post(
        url,
        headers=tenant.admin,
        json={"reason": "changed_mind", "lines": [{"line_no": 1, "qty": 2}]},
    )
    assert back.status_code == 201, back.text
    assert back.json()["refund"] + 1_001 == 3_003  # all three units refunded: what was paid


def test_the_relay_sources_owed_units_when_stock_arrives(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    _priced(client, tenant, "BO-D", 500, DC_EAST=1)
    order = _place(client, tenant, "BO-D", 2, backorder=True).json()
    assert _pay(client, tenant, order["id"], provider="cash").status_code == 201
    _receive(client, tenant, "BO-D", FW_SH01=4)
    with UnitOfWork(db, tenant.id) as uow:  # the last try was long ago
        uow.session.execute(update(Backorder).values(tried_at=None))
        uow.commit()
    assert service.retry_backorders(db) >= 1
    assert _get(client, tenant, order["id"])["backorders"] == []
    assert len(_parcels(client, tenant, order["id"])) == 2


def test_bad_back_order_requests_are_refused(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "BO-E", 500, SH01=2)
    _priced(client, tenant, "BO-F", 500, SH01=2)
    unpaid = _place(client, tenant, "BO-E", 1).json()
    url = f"/v1/orders/{unpaid['id']}/backorders/source"
    assert client.post(url, headers=tenant.admin).status_code == 409
    order = _paid(client, tenant, [("BO-E", 1)], type="delivery", **XUHUI)
    (parcel,) = _parcels(client, tenant, order["id"])
    short_url = f"/v1/fulfilments/{parcel['id']}/short"
    for lines, field in (
        ([{"sku": "BO-E", "qty": 2}], "lines[0].qty"),
        ([{"sku": "BO-F", "qty": 1}], "lines[0].sku"),
    ):
        resp = client.post(short_url, headers=tenant.admin, json={"lines": lines})
        assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == field
    assert _steps(client, tenant, parcel["id"], "picked", "packed", "shipped") == [200] * 3
    late = client.post(short_url, headers=tenant.admin, json={"lines": [{"sku": "BO-E", "qty": 1}]})
    assert late.status_code == 409
    none_owed = client.post(f"/v1/orders/{order['id']}/backorders/cancel", headers=tenant.admin)
    assert none_owed.status_code == 409
