"""Reverse orders: partial returns refund exactly the net paid, to the tenders it came
from, once; goods come back at any location, restocked or written off."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_fulfilment import _steps, _stock
from tests.api.test_orders import _order, _priced
from tests.api.test_payments import CARD, _get, _pay
from tests.conftest import Tenant


def _delivered(client: TestClient, t: Tenant, sku: str, qty: int, cash: int) -> dict:
    order = _order(client, t, [(sku, qty)], type="delivery").json()
    _pay(client, t, order["id"], provider="cash", amount=cash)
    _pay(client, t, order["id"], provider="test_card", card_number=CARD)
    [parcel] = client.get(f"/v1/orders/{order['id']}/fulfilments", headers=t.admin).json()
    assert _steps(client, t, parcel["id"], "picked", "packed", "shipped", "delivered") == [200] * 4
    return order


def _return(client: TestClient, t: Tenant, order_id: str, qty: int, reason: str = "changed_mind"):
    return client.post(
        f"/v1/orders/{order_id}/returns",
        headers=t.admin,
        json={"reason": reason, "lines": [{"line_no": 1, "qty": qty}]},
    )


def _through(
    client: TestClient, t: Tenant, return_id: str, location: str, disposition: str
) -> dict:
    base = f"/v1/returns/{return_id}"
    assert client.post(f"{base}/approve", headers=t.admin).status_code == 200
    got = client.post(
        f"{base}/receive", headers=t.admin, json={"location": location, "disposition": disposition}
    )
    assert got.status_code == 200, got.text
    done = client.post(f"{base}/refund", headers=t.admin)
    assert done.status_code == 200, done.text
    return done.json()


def test_partial_returns_refund_exactly_what_was_paid(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "RET-A", 3_333, SH01=3)
    order = _delivered(client, tenant, "RET-A", 3, cash=4_000)  # 99.99 = 40.00 cash + 59.99 card
    first = _return(client, tenant, order["id"], 1).json()
    assert first["refund"] == 3_333
    done = _through(client, tenant, first["id"], "SH02", "restock")
    assert done["status"] == "refunded" and done["location_id"] == tenant.units["SH02"]
    assert _stock(client, tenant, "RET-A") == {"SH01": (0, 0), "SH02": (1, 0)}
    second = _return(client, tenant, order["id"], 2).json()
    assert second["refund"] == 9_999 - 3_333
    _through(client, tenant, second["id"], "DC-EAST", "damaged")
    assert "DC-EAST" not in _stock(client, tenant, "RET-A")  # written off, not restocked
    paid = client.get(f"/v1/orders/{order['id']}/payments", headers=tenant.admin).json()
    assert [(p["provider"], p["refunded"]) for p in paid] == [("cash", 4_000), ("test_card", 5_999)]
    assert _get(client, tenant, order["id"])["paid"] == 0


def test_bad_returns_are_refused(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "RET-B", 1_000, SH01=5)
    order = _order(client, tenant, [("RET-B", 2)], type="delivery").json()
    _pay(client, tenant, order["id"], provider="cash")
    early = _return(client, tenant, order["id"], 1)  # not shipped yet
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "lines[0].qty"
    [parcel] = client.get(f"/v1/orders/{order['id']}/fulfilments", headers=tenant.admin).json()
    _steps(client, tenant, parcel["id"], "picked", "packed", "shipped", "delivered")
    assert _return(client, tenant, order["id"], 3).status_code == 422  # more than bought
    assert _return(client, tenant, order["id"], 1, reason="bored").status_code == 422
    wrong_line = client.post(
        f"/v1/orders/{order['id']}/returns",
        headers=tenant.admin,
        json={"reason": "damaged", "lines": [{"line_no": 9, "qty": 1}]},
    )
    assert (
        wrong_line.status_code == 422
        and wrong_line.json()["errors"][0]["field"] == "lines[0].line_no"
    )
    r = _return(client, tenant, order["id"], 2).json()
    assert _return(client, tenant, order["id"], 1).status_code == 422  # all already asked back
    assert client.post(f"/v1/returns/{r['id']}/refund", headers=tenant.admin).status_code == 409
    _through(client, tenant, r["id"], "SH01", "restock")
    again = client.post(f"/v1/returns/{r['id']}/refund", headers=tenant.admin)
    assert again.status_code == 409  # refunded once only
    rejected = client.post(f"/v1/returns/{r['id']}/reject", headers=tenant.admin)
    assert rejected.status_code == 409
