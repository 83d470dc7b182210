"""Exchanges (换货): received goods swapped for others; the new order is linked to the
return and paid first with its refund; the difference is paid or refunded."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_orders import XUHUI, _order, _priced
from tests.api.test_payments import _get, _pay
from tests.api.test_returns import _delivered, _return
from tests.conftest import Tenant


def _received(client: TestClient, t: Tenant, order_id: str, qty: int) -> dict:
    r = _return(client, t, order_id, qty, reason="wrong_item").json()
    base = f"/v1/returns/{r['id']}"
    assert client.post(f"{base}/approve", headers=t.admin).status_code == 200
    got = client.post(
        f"{base}/receive", headers=t.admin, json={"location": "SH01", "disposition": "restock"}
    )
    assert got.status_code == 200, got.text
    return got.json()


def _exchange(client: TestClient, t: Tenant, return_id: str, sku: str, qty: int):
    return client.post(
        f"/v1/returns/{return_id}/exchange",
        headers=t.admin,
        json={
            "lines": [{"sku": sku, "qty": qty}],
            "fulfilment": {"type": "delivery", **XUHUI},
        },
    )


def _payments(client: TestClient, t: Tenant, order_id: str) -> list[tuple[str, int, int]]:
    got = client.get(f"/v1/orders/{order_id}/payments", headers=t.admin).json()
    return [(p["provider"], p["captured"], p["refunded"]) for p in got]


def test_a_dearer_exchange_is_paid_by_the_refund_and_the_difference(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "EXC-M", 5_000, SH01=2)
    _priced(client, tenant, "EXC-L", 6_500, SH01=2)
    order = _delivered(client, tenant, "EXC-M", 1, cash=2_000)
    r = _received(client, tenant, order["id"], 1)
    made = _exchange(client, tenant, r["id"], "EXC-L", 1)
    assert made.status_code == 201, made.text
    swap = made.json()
    assert swap["exchange_for"] == r["id"] and swap["status"] == "pending_payment"
    assert swap["paid"] == 5_000 and swap["member"] == order["member"]
    assert _payments(client, tenant, swap["id"]) == [("exchange_credit", 5_000, 0)]
    settled = client.get(f"/v1/returns/{r['id']}", headers=tenant.admin).json()
    assert settled["status"] == "refunded" and settled["exchange_order_id"] == swap["id"]
    assert _payments(client, tenant, order["id"]) == [("cash", 2_000, 0), ("test_card", 3_000, 0)]
    assert _get(client, tenant, order["id"])["paid"] == 0
    rest = _pay(client, tenant, swap["id"], provider="cash", tendered=2_000)
    assert rest.status_code == 201 and rest.json()["amount"] == 1_500
    assert _get(client, tenant, swap["id"])["status"] == "paid"
    again = _exchange(client, tenant, r["id"], "EXC-L", 1)
    assert again.status_code == 409


def test_a_cheaper_exchange_refunds_the_rest_to_the_original_tenders(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "EXC-X", 5_000, SH01=2)
    _priced(client, tenant, "EXC-S", 1_200, SH01=2)
    order = _delivered(client, tenant, "EXC-X", 1, cash=2_000)
    r = _received(client, tenant, order["id"], 1)
    swap = _exchange(client, tenant, r["id"], "EXC-S", 1).json()
    assert swap["status"] == "paid" and swap["paid"] == 1_200
    assert _payments(client, tenant, order["id"]) == [
        ("cash", 2_000, 2_000),
        ("test_card", 3_000, 1_800),
    ]


def test_an_exchange_needs_received_goods_and_valid_lines(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "EXC-Y", 1_000, SH01=3)
    order = _delivered(client, tenant, "EXC-Y", 2, cash=500)
    asked = _return(client, tenant, order["id"], 1).json()
    early = _exchange(client, tenant, asked["id"], "EXC-Y", 1)
    assert early.status_code == 409  # not received yet
    r = _received(client, tenant, order["id"], 1)
    unknown = _exchange(client, tenant, r["id"], "NO-SUCH", 1)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "lines[0].sku"
    still = client.get(f"/v1/returns/{r['id']}", headers=tenant.admin).json()
    assert still["status"] == "received"  # nothing half done
    unpaid = _order(client, tenant, [("EXC-Y", 1)], type="delivery").json()
    forged = _pay(client, tenant, unpaid["id"], provider="exchange_credit", amount=1)
    assert forged.status_code == 422 and forged.json()["errors"][0]["field"] == "provider"
