"""Paying orders: cash with change, cards, split tender, capture later, void, refunds on
cancellation; paying a cancelled order is refused."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_orders import _order, _priced
from tests.api.test_reservations import _avail
from tests.conftest import Tenant

CARD = "4242424242424242"


def _pay(client: TestClient, t: Tenant, order_id: str, **body: object):
    return client.post(f"/v1/orders/{order_id}/payments", headers=t.admin, json=body)


def _get(client: TestClient, t: Tenant, order_id: str) -> dict:
    return client.get(f"/v1/orders/{order_id}", headers=t.admin).json()


def test_split_tender_pays_the_order_and_confirms_its_stock(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "PAY-A", 10_000, SH01=5)
    order = _order(client, tenant, [("PAY-A", 3)], type="pickup", location="SH01").json()
    cash = _pay(client, tenant, order["id"], provider="cash", amount=10_000, tendered=20_000)
    assert cash.status_code == 201 and cash.json()["change"] == 10_000
    assert _get(client, tenant, order["id"])["status"] == "pending_payment"
    too_much = _pay(
        client, tenant, order["id"], provider="test_card", card_number=CARD, amount=30_000
    )
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "amount"
    card = _pay(client, tenant, order["id"], provider="test_card", card_number=CARD)
    assert card.status_code == 201 and card.json()["captured"] == 20_000
    paid = _get(client, tenant, order["id"])
    assert paid["status"] == "paid" and paid["paid"] == 30_000
    hold = client.get(
        f"/v1/stock/reservations/{paid['reservation_id']}", headers=tenant.admin
    ).json()
    assert hold["status"] == "confirmed"
    assert _pay(client, tenant, order["id"], provider="cash").status_code == 409
    listed = client.get(f"/v1/orders/{order['id']}/payments", headers=tenant.admin).json()
    assert [p["provider"] for p in listed] == ["cash", "test_card"]


def test_declined_and_invalid_cards_take_nothing(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "PAY-B", 1_000, SH01=1)
    order = _order(client, tenant, [("PAY-B", 1)], type="delivery").json()
    declined = _pay(
        client, tenant, order["id"], provider="test_card", card_number="4000000000000002"
    )
    assert declined.status_code == 402 and declined.json()["type"] == "payment-declined"
    bad = _pay(client, tenant, order["id"], provider="test_card", card_number="4242424242424241")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "card_number"
    short = _pay(client, tenant, order["id"], provider="cash", tendered=999)
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "tendered"
    unknown = _pay(client, tenant, order["id"], provider="shells")
    assert unknown.status_code == 422
    assert client.get(f"/v1/orders/{order['id']}/payments", headers=tenant.admin).json() == []


def test_authorise_then_capture_or_void(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "PAY-C", 5_000, SH01=2)
    order = _order(client, tenant, [("PAY-C", 1)], type="delivery").json()
    held = _pay(
        client, tenant, order["id"], provider="test_card", card_number=CARD, capture=False
    ).json()
    assert (
        held["status"] == "authorised"
        and _get(client, tenant, order["id"])["status"] == "pending_payment"
    )
    base = f"/v1/orders/{order['id']}/payments/{held['id']}"
    voided = client.post(f"{base}/void", headers=tenant.admin)
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    assert client.post(f"{base}/capture", headers=tenant.admin).status_code == 409
    again = _pay(
        client, tenant, order["id"], provider="test_card", card_number=CARD, capture=False
    ).json()
    done = client.post(
        f"/v1/orders/{order['id']}/payments/{again['id']}/capture", headers=tenant.admin
    )
    assert done.status_code == 200 and _get(client, tenant, order["id"])["status"] == "paid"


def test_cancelling_a_paid_order_refunds_every_tender_and_frees_the_stock(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "PAY-D", 3_000, SH01=2)
    order = _order(client, tenant, [("PAY-D", 2)], type="pickup", location="SH01").json()
    _pay(client, tenant, order["id"], provider="cash", amount=1_000)
    _pay(client, tenant, order["id"], provider="test_card", card_number=CARD)
    assert _get(client, tenant, order["id"])["status"] == "paid"
    cancelled = client.post(
        f"/v1/orders/{order['id']}/cancel", headers=tenant.admin, json={"reason": "out of town"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["paid"] == 0
    refunds = client.get(f"/v1/orders/{order['id']}/payments", headers=tenant.admin).json()
    assert [(p["captured"], p["refunded"]) for p in refunds] == [(1_000, 1_000), (5_000, 5_000)]
    assert _avail(client, tenant, "PAY-D") == {"SH01": (0, 2)}
    late = _pay(client, tenant, order["id"], provider="cash")
    assert late.status_code == 409 and late.json()["field"] == "status"
