"""Serial numbers (序列号) follow each unit of a serialised SKU; bins (库位) say where a
SKU is put away."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Tenant


def _phone(client: TestClient, t: Tenant, code: str) -> None:
    resp = client.post(
        "/v1/products",
        headers=t.admin,
        json={
            "code": code,
            "name": "Phone",
            "category": "phones",
            "pack": "electronics",
            "attributes": {"warranty_months": 12},
            "skus": [{"code": code}],
        },
    )
    assert resp.status_code == 201, resp.text


def _post(client: TestClient, t: Tenant, url: str, body: dict) -> tuple[int, dict]:
    resp = client.post(url, headers=t.admin, json=body)
    return resp.status_code, resp.json()


def _units(client: TestClient, t: Tenant, sku: str) -> dict[str, tuple[str, str]]:
    rows = client.get("/v1/stock/serials", headers=t.admin, params={"sku": sku}).json()
    return {r["serial"]: (r["status"], r["location_id"]) for r in rows}


def test_serials_follow_units_through_receipt_sale_transfer_and_write_off(
    client: TestClient, tenant: Tenant
) -> None:
    _phone(client, tenant, "SER-A")
    sh01, sh02 = tenant.units["SH01"], tenant.units["SH02"]
    receipt = {
        "location": "SH01",
        "lines": [{"sku": "SER-A", "qty": 3, "serials": ["S1", "S2", "S3"]}],
    }
    assert _post(client, tenant, "/v1/stock/receipts", receipt)[0] == 201
    assert _units(client, tenant, "SER-A") == {s: ("in_stock", sh01) for s in ("S1", "S2", "S3")}
    # The same unit cannot arrive twice, and a serialised SKU needs one serial per unit.
    again = {"location": "SH02", "lines": [{"sku": "SER-A", "qty": 1, "serials": ["S1"]}]}
    status, body = _post(client, tenant, "/v1/stock/receipts", again)
    assert status == 409 and body["field"] == "lines[0].serials"
    short = {"location": "SH01", "lines": [{"sku": "SER-A", "qty": 2, "serials": ["S9"]}]}
    status, body = _post(client, tenant, "/v1/stock/receipts", short)
    assert status == 422 and body["errors"][0]["field"] == "lines[0].serials"
    # Sold at the till: only a unit that is on this store's shelf.
    elsewhere = {
        "location": "SH02",
        "reference": "T-1",
        "lines": [{"sku": "SER-A", "qty": 1, "serials": ["S1"]}],
    }
    assert _post(client, tenant, "/v1/stock/sales", elsewhere)[0] == 409
    sale = {**elsewhere, "location": "SH01"}
    assert _post(client, tenant, "/v1/stock/sales", sale)[0] == 201
    assert _post(client, tenant, "/v1/stock/sales", {**sale, "reference": "T-2"})[0] == 409
    # Sent to another store: on the road, then on its shelf.
    status, transfer = _post(
        client,
        tenant,
        "/v1/stock/transfers",
        {"from": "SH01", "to": "SH02", "lines": [{"sku": "SER-A", "qty": 1, "serials": ["S2"]}]},
    )
    assert status == 201, transfer
    assert _units(client, tenant, "SER-A")["S2"] == ("in_transit", sh02)
    assert _post(client, tenant, f"/v1/stock/transfers/{transfer['id']}/receive", {})[0] == 200
    assert _units(client, tenant, "SER-A")["S2"] == ("in_stock", sh02)
    # Damaged: written off; a customer return of the sold unit brings it back in stock.
    loss = {
        "location": "SH01",
        "reason": "damage",
        "lines": [{"sku": "SER-A", "qty": -1, "serials": ["S3"]}],
    }
    assert _post(client, tenant, "/v1/stock/adjustments", loss)[0] == 201
    back = {"location": "SH01", "lines": [{"sku": "SER-A", "qty": 1, "serials": ["S1"]}]}
    assert _post(client, tenant, "/v1/stock/receipts", back)[0] == 201
    assert _units(client, tenant, "SER-A") == {
        "S1": ("in_stock", sh01),
        "S2": ("in_stock", sh02),
        "S3": ("written_off", sh01),
    }
    one = client.get("/v1/stock/serials", headers=tenant.admin, params={"serial": "S2"}).json()
    assert [r["status"] for r in one] == ["in_stock"]


def test_failed_serial_moves_change_nothing(client: TestClient, tenant: Tenant) -> None:
    _phone(client, tenant, "SER-B")
    receipt = {"location": "SH01", "lines": [{"sku": "SER-B", "qty": 2, "serials": ["X1", "X2"]}]}
    assert _post(client, tenant, "/v1/stock/receipts", receipt)[0] == 201
    # Line two fails: line one's serial and stock stay where they were.
    sale = {
        "location": "SH01",
        "reference": "T-9",
        "lines": [
            {"sku": "SER-B", "qty": 1, "serials": ["X1"]},
            {"sku": "SER-B", "qty": 1, "serials": ["NOPE"]},
        ],
    }
    assert _post(client, tenant, "/v1/stock/sales", sale)[0] == 409
    assert _units(client, tenant, "SER-B") == {
        "X1": ("in_stock", tenant.units["SH01"]),
        "X2": ("in_stock", tenant.units["SH01"]),
    }
    rows = client.get(
        "/v1/stock/availability", headers=tenant.admin, params={"sku": "SER-B"}
    ).json()
    assert rows[0]["on_hand"] == 2
    plain = {"location": "SH01", "lines": [{"sku": "SER-B", "qty": 1}]}
    assert _post(client, tenant, "/v1/stock/receipts", plain)[0] == 422
    # An offline till sold a unit the system never saw: recorded, the goods are gone.
    offline = {**sale, "offline": True, "lines": [{"sku": "SER-B", "qty": 1, "serials": ["Z1"]}]}
    assert _post(client, tenant, "/v1/stock/sales", offline)[0] == 201
    assert _units(client, tenant, "SER-B")["Z1"][0] == "sold"


def test_bins_and_put_away(client: TestClient, tenant: Tenant) -> None:
    dc = tenant.units["DC-EAST"]
    status, made = _post(
        client, tenant, f"/v1/locations/{dc}/bins", {"code": "C-02-01", "zone": "C"}
    )
    assert status == 201 and made["location_id"] == dc
    assert _post(client, tenant, f"/v1/locations/{dc}/bins", {"code": "C-02-01"})[0] == 409
    codes = [b["code"] for b in client.get(f"/v1/locations/{dc}/bins", headers=tenant.admin).json()]
    assert "C-02-01" in codes
    client.post(
        "/v1/products",
        headers=tenant.admin,
        json={"code": "BIN-A", "name": "Boxed", "category": "inv", "skus": [{"code": "BIN-A"}]},
    )
    put = client.put(
        "/v1/stock/slots",
        headers=tenant.admin,
        json={"sku": "BIN-A", "location": "DC-EAST", "bin": "C-02-01"},
    )
    assert put.status_code == 200 and put.json()["bin"] == "C-02-01"
    rows = client.get(
        "/v1/stock/availability", headers=tenant.admin, params={"sku": "BIN-A"}
    ).json()
    assert [(r["location"], r["bin"]) for r in rows] == [("DC-EAST", "C-02-01")]
    wrong = client.put(
        "/v1/stock/slots",
        headers=tenant.admin,
        json={"sku": "BIN-A", "location": "SH01", "bin": "C-02-01"},
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "bin"
    # A store manager sees only their own store's bins.
    assert client.get(f"/v1/locations/{dc}/bins", headers=tenant.manager).status_code == 404
