"""Product centre and price service through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import Tenant
from tests.support.relay import run_relay
from zhongtai.catalog.barcodes import ean13
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database


def _product(client: TestClient, t: Tenant, **body: object) -> dict:
    resp = client.post("/v1/products", headers=t.admin, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _events(client: TestClient, t: Tenant, type_: str) -> list[dict]:
    return client.get("/v1/events", headers=t.admin, params={"type": type_, "limit": 500}).json()


def test_the_public_contract_creates_and_scans(client: TestClient, tenant: Tenant) -> None:
    code = ean13("690000900001")
    p = _product(
        client,
        tenant,
        code="MILK",
        name="光明鲜牛奶 Fresh milk",
        category="dairy",
        skus=[
            {"code": "MILK-950", "barcode": code, "price": 1290, "attributes": {"volume": "950ml"}}
        ],
    )
    assert p["skus"][0]["price"] == 1290 and p["skus"][0]["barcodes"][0]["kind"] == "ean13"
    assert client.get(f"/v1/products/{p['id']}", headers=tenant.admin).json() == p
    scan = client.get("/v1/scan", headers=tenant.admin, params={"code": code}).json()
    assert scan["sku"]["code"] == "MILK-950" and scan["quantity"] == 1
    for words in ("牛奶", "fresh MILK", "dairy"):
        found = client.get("/v1/skus", headers=tenant.admin, params={"q": words}).json()
        assert [s["code"] for s in found] == ["MILK-950"], words


def test_apparel_matrix_and_missing_variant_attribute(client: TestClient, tenant: Tenant) -> None:
    cat = client.post(
        "/v1/categories",
        headers=tenant.admin,
        json={
            "code": "shirts",
            "name": "衬衫 Shirts",
            "attributes": [{"name": "colour", "variant": True}, {"name": "size", "variant": True}],
        },
    )
    assert cat.status_code == 201
    p = _product(
        client,
        tenant,
        code="SH1",
        name="衬衫 Shirt",
        category="shirts",
        pack="apparel",
        attributes={"season": "SS26"},
        matrix={"colour": ["white", "blue"], "size": ["M", "L", "XL"]},
        price=19900,
    )
    assert len(p["skus"]) == 6 and {s["price"] for s in p["skus"]} == {19900}
    bad = client.post(
        "/v1/products",
        headers=tenant.admin,
        json={
            "code": "SH2",
            "name": "x",
            "category": "shirts",
            "pack": "apparel",
            "attributes": {"season": "SS26"},
            "skus": [{"attributes": {"colour": "red"}}],
        },
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "skus[0].attributes"
    assert "size" in bad.json()["detail"]


def test_bad_input_names_the_field_and_writes_nothing(client: TestClient, tenant: Tenant) -> None:
    good = ean13("690000900002")
    _product(client, tenant, code="A1", name="a", category="c1", skus=[{"barcode": good}])
    cases = [
        ({"barcode": "6900009000029"}, 422, "skus[1].barcode"),  # wrong check digit
        ({"barcode": good}, 409, "skus[1].barcode"),  # already another SKU's
        ({"price": 12.5}, 422, "skus[1].price"),  # a fraction of a cent
    ]
    for second, status, field in cases:
        resp = client.post(
            "/v1/products",
            headers=tenant.admin,
            json={
                "code": "B1",
                "name": "b",
                "category": "c1",
                "skus": [
                    {"code": "B1-1", "barcode": ean13("690000900003")},
                    {"code": "B1-2", **second},
                ],
            },
        )
        assert resp.status_code == status, resp.text
        found = resp.json().get("field") or resp.json()["errors"][0]["field"]
        assert found == field
    # Nothing of the refused product exists: its code and first barcode are still free.
    assert client.get("/v1/skus", headers=tenant.admin, params={"q": "B1-1"}).json() == []
    _product(
        client,
        tenant,
        code="B1",
        name="b",
        category="c1",
        skus=[{"code": "B1-1", "barcode": ean13("690000900003")}],
    )


def test_category_cycles_are_refused(client: TestClient, tenant: Tenant) -> None:
    def make(code: str, parent: str | None) -> str:
        body = {"code": code, "name": code, "parent_id": parent}
        return client.post("/v1/categories", headers=tenant.admin, json=body).json()["id"]

    root = make("food", None)
    child = make("dairy2", root)
    grandchild = make("yoghurt", child)
    resp = client.patch(
        f"/v1/categories/{root}", headers=tenant.admin, json={"parent_id": grandchild}
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "parent_id"
    moved = client.patch(
        f"/v1/categories/{grandchild}", headers=tenant.admin, json={"parent_id": root}
    )
    assert moved.status_code == 200 and moved.json()["parent_id"] == root


def test_gs1_weighed_and_case_barcodes(client: TestClient, tenant: Tenant) -> None:
    _product(
        client,
        tenant,
        code="CHEESE",
        name="奶酪 Cheese",
        category="dairy",
        skus=[
            {
                "code": "CHEESE-1",
                "barcode": "09501101530003",
                "units": [{"name": "case", "factor": 12, "barcode": ean13("690000900010")}],
            }
        ],
    )
    gs1 = client.get(
        "/v1/scan",
        headers=tenant.admin,
        params={"code": "(01)09501101530003(17)261231(10)LOT7(3103)000450"},
    ).json()
    assert gs1["sku"]["code"] == "CHEESE-1" and gs1["batch"] == "LOT7"
    assert gs1["expiry"] == "2026-12-31" and gs1["weight_g"] == 450
    case = client.get("/v1/scan", headers=tenant.admin, params={"code": ean13("690000900010")})
    assert case.json()["quantity"] == 12
    _product(
        client,
        tenant,
        code="APPLE",
        name="苹果 Apples",
        category="fruit",
        sold_by_weight=True,
        skus=[{"code": "APPLE-1", "weighed_code": "2099001"}],
    )
    label = ean13("209900101234")
    weighed = client.get("/v1/scan", headers=tenant.admin, params={"code": label}).json()
    assert weighed["sku"]["code"] == "APPLE-1" and weighed["weight_g"] == 1234
    unknown_ai = client.get("/v1/scan", headers=tenant.admin, params={"code": "(23)1234"})
    assert unknown_ai.status_code == 422 and unknown_ai.json()["errors"][0]["field"] == "code"
    missing = client.get("/v1/scan", headers=tenant.admin, params={"code": ean13("690000999999")})
    assert missing.status_code == 404


def test_prices_resolve_by_specificity_and_keep_history(client: TestClient, tenant: Tenant) -> None:
    _product(
        client,
        tenant,
        code="TEA",
        name="绿茶 Green tea",
        category="drinks",
        skus=[{"code": "TEA-1", "price": 500}],
    )
    store = tenant.units["SH01"]
    now = datetime.now(UTC)
    for body in (
        {"amount": 450, "store_id": store},
        {"amount": 400, "member_tier": "gold"},
        {
            "amount": 300,
            "valid_from": (now - timedelta(hours=1)).isoformat(),
            "valid_to": (now + timedelta(hours=1)).isoformat(),
            "channel": "mall",
        },
    ):
        assert (
            client.post(
                "/v1/prices", headers=tenant.admin, json={"sku": "TEA-1", **body}
            ).status_code
            == 201
        )

    def price(**params: str) -> int:
        r = client.get(
            "/v1/prices/resolve", headers=tenant.admin, params={"sku": "TEA-1", **params}
        )
        return int(r.json()["amount"])

    assert price() == 500
    assert price(store_id=store) == 450
    assert price(store_id=store, member_tier="gold") == 400
    assert price(channel="mall") == 300
    assert price(channel="mall", at=(now + timedelta(hours=2)).isoformat()) == 500
    again = client.post("/v1/prices", headers=tenant.admin, json={"sku": "TEA-1", "amount": 520})
    same = client.post("/v1/prices", headers=tenant.admin, json={"sku": "TEA-1", "amount": 520})
    assert same.json()["id"] == again.json()["id"]
    sku_id = again.json()["sku_id"]
    history = client.get(f"/v1/skus/{sku_id}/prices", headers=tenant.admin).json()
    base = [h for h in history if not (h["store_id"] or h["member_tier"] or h["channel"])]
    assert [h["amount"] for h in base] == [500, 520]
    assert base[0]["superseded_by"] == base[1]["id"]
    changes = [
        e for e in _events(client, tenant, "price.changed") if e["payload"]["sku_id"] == sku_id
    ]
    assert len(changes) == 5 and changes[-1]["payload"]["previous_amount"] == 500
    bad = client.post(
        "/v1/prices", headers=tenant.admin, json={"sku": "TEA-1", "amount": 1, "channel": "tv"}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "channel"


def test_listing_now_and_scheduled(
    client: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    p = _product(
        client, tenant, code="GUM", name="口香糖 Gum", category="snacks", skus=[{"code": "GUM-1"}]
    )
    sku = p["skus"][0]["id"]
    url = f"/v1/skus/{sku}/listings"

    def state(channel: str, **params: str) -> dict:
        states = client.get(url, headers=tenant.admin, params=params).json()
        return next(s for s in states if s["channel"] == channel and s["store_id"] is None)

    assert state("mall")["listed"] is True
    assert (
        client.post(
            url, headers=tenant.admin, json={"channel": "mall", "listed": False}
        ).status_code
        == 201
    )
    soon = datetime.now(UTC) + timedelta(seconds=1)
    client.post(
        url,
        headers=tenant.admin,
        json={"channel": "mall", "listed": True, "effective_at": soon.isoformat()},
    )
    now_state = state("mall")
    assert now_state["listed"] is False and now_state["next_change"]["listed"] is True
    assert state("mall", at=(soon + timedelta(seconds=1)).isoformat())["listed"] is True
    assert state("pos")["listed"] is True
    assert [e["payload"]["sku_id"] for e in _events(client, tenant, "sku.listing_scheduled")] == [
        sku
    ]
    time.sleep(1.1)
    run_relay(db, settings)
    listed = [e for e in _events(client, tenant, "sku.listed") if e["payload"]["sku_id"] == sku]
    assert len(listed) == 1
    run_relay(db, settings)
    assert (
        len([e for e in _events(client, tenant, "sku.listed") if e["payload"]["sku_id"] == sku])
        == 1
    )


def test_pack_rules(client: TestClient, tenant: Tenant) -> None:
    rx = client.post(
        "/v1/products",
        headers=tenant.admin,
        json={
            "code": "CANDY",
            "name": "糖 Candy",
            "category": "snacks",
            "skus": [{"prescription_only": True}],
        },
    )
    assert rx.status_code == 422 and rx.json()["errors"][0]["field"] == "skus[0].prescription_only"
    phone = client.post(
        "/v1/products",
        headers=tenant.admin,
        json={
            "code": "PH1",
            "name": "手机 Phone",
            "category": "phones",
            "pack": "electronics",
            "skus": [{}],
        },
    )
    assert phone.status_code == 422 and "warranty_months" in phone.json()["detail"]
    ok = _product(
        client,
        tenant,
        code="PH2",
        name="手机 Phone",
        category="phones",
        pack="electronics",
        attributes={"warranty_months": 24},
        skus=[{}],
    )
    assert ok["skus"][0]["serial_required"] is True
    client.post("/v1/catalog/settings", headers=tenant.admin, json={"packs": ["general"]})
    off = client.post(
        "/v1/products",
        headers=tenant.admin,
        json={
            "code": "PH3",
            "name": "x",
            "category": "phones",
            "pack": "electronics",
            "attributes": {"warranty_months": 24},
        },
    )
    assert off.status_code == 422 and off.json()["errors"][0]["field"] == "pack"


def test_search_pages_and_finds_by_code_barcode_and_words(
    client: TestClient, tenant: Tenant
) -> None:
    all_skus = client.get("/v1/skus", headers=tenant.admin, params={"limit": 200}).json()
    assert len(all_skus) >= 30
    page1 = client.get("/v1/skus", headers=tenant.admin, params={"limit": 10}).json()
    page2 = client.get(
        "/v1/skus", headers=tenant.admin, params={"limit": 10, "after": page1[-1]["id"]}
    ).json()
    assert [s["id"] for s in page1 + page2] == [s["id"] for s in all_skus[:20]]
    some = next(s for s in all_skus if s["barcodes"])
    by_barcode = client.get(
        "/v1/skus", headers=tenant.admin, params={"q": some["barcodes"][0]["code"]}
    ).json()
    assert [s["id"] for s in by_barcode] == [some["id"]]
    by_code = client.get("/v1/skus", headers=tenant.admin, params={"q": some["code"]}).json()
    assert [s["id"] for s in by_code] == [some["id"]]


def test_products_filter_by_category_subtree_and_tag(client: TestClient, tenant: Tenant) -> None:
    parent = client.post(
        "/v1/categories", headers=tenant.admin, json={"code": "bev", "name": "饮品 Beverages"}
    ).json()
    client.post(
        "/v1/categories",
        headers=tenant.admin,
        json={"code": "juice", "name": "果汁 Juice", "parent_id": parent["id"]},
    )
    for i in range(3):
        _product(
            client,
            tenant,
            code=f"J{i}",
            name=f"橙汁 Juice {i}",
            category="juice",
            tags=["organic"] if i % 2 == 0 else [],
            skus=[{"code": f"J{i}-1"}],
        )
    by_parent = client.get(
        "/v1/products", headers=tenant.admin, params={"category_id": parent["id"]}
    ).json()
    assert sorted(p["code"] for p in by_parent) == ["J0", "J1", "J2"]
    organic = client.get(
        "/v1/products", headers=tenant.admin, params={"tag": "organic", "limit": 1}
    ).json()
    assert [p["code"] for p in organic] == ["J0"]
    rest = client.get(
        "/v1/products", headers=tenant.admin, params={"tag": "organic", "after": organic[0]["id"]}
    ).json()
    assert [p["code"] for p in rest] == ["J2"]
