"""VAT per category (inherited by sub-categories) on order lines, and invoice requests."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_orders import _order, _priced
from tests.api.test_payments import _pay
from tests.conftest import Tenant


def test_a_category_rate_reaches_its_sub_categories_lines(
    client: TestClient, tenant: Tenant
) -> None:
    parent = client.post(
        "/v1/categories", headers=tenant.admin, json={"code": "produce", "name": "Produce"}
    )
    assert parent.status_code == 201, parent.text
    child = client.post(
        "/v1/categories",
        headers=tenant.admin,
        json={"code": "veg", "name": "Vegetables", "parent_id": parent.json()["id"]},
    )
    assert child.status_code == 201, child.text
    rate = client.put(
        "/v1/tax-rates", headers=tenant.admin, json={"category": "produce", "rate_bp": 900}
    )
    assert rate.status_code == 200 and rate.json()["rate_bp"] == 900
    client.post(
        "/v1/products",
        headers=tenant.admin,
        json={
            "code": "TAX-VEG",
            "name": "Greens",
            "category": "veg",
            "skus": [{"code": "TAX-VEG"}],
        },
    )
    client.post(
        "/v1/stock/receipts",
        headers=tenant.admin,
        json={"location": "SH01", "lines": [{"sku": "TAX-VEG", "qty": 5}]},
    )
    client.post(
        "/v1/prices",
        headers=tenant.admin,
        json={"sku": "TAX-VEG", "amount": 1_090, "currency": "CNY"},
    )
    _priced(client, tenant, "TAX-STD", 1_130, SH01=5)
    order = _order(client, tenant, [("TAX-VEG", 1), ("TAX-STD", 1)], type="delivery").json()
    assert [(x["tax_rate_bp"], x["tax"]) for x in order["lines"]] == [(900, 90), (1300, 130)]
    assert order["tax"] == 220
    unknown = client.put(
        "/v1/tax-rates", headers=tenant.admin, json={"category": "nope", "rate_bp": 600}
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "category"
    listed = client.get("/v1/tax-rates", headers=tenant.admin).json()
    assert 900 in [r["rate_bp"] for r in listed]


def test_an_invoice_is_requested_once_for_a_paid_order(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "INV-X", 11_300, SH01=2)
    order = _order(client, tenant, [("INV-X", 1)], type="delivery").json()
    url = f"/v1/orders/{order['id']}/invoice"
    body = {
        "title": "示范科技有限公司",
        "tax_number": "91310000MA1FL0001X",
        "email": "ap@example.com",
    }
    assert client.post(url, headers=tenant.admin, json=body).status_code == 409  # not paid
    assert client.get(url, headers=tenant.admin).status_code == 404
    _pay(client, tenant, order["id"], provider="cash")
    made = client.post(url, headers=tenant.admin, json=body)
    assert made.status_code == 201 and (made.json()["amount"], made.json()["tax"]) == (
        11_300,
        1_300,
    )
    assert client.post(url, headers=tenant.admin, json=body).status_code == 409
    assert client.get(url, headers=tenant.admin).json()["id"] == made.json()["id"]
    bad = client.post(url, headers=tenant.admin, json={**body, "tax_number": "123"})
    assert bad.status_code == 422
