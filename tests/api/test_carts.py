"""Carts shared across a member's devices, guest carts merged at sign-in, checkout."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.api.test_orders import XUHUI, _priced
from tests.api.test_reservations import _avail
from tests.conftest import Tenant


def _put(client: TestClient, t: Tenant, owner: str, sku: str, qty: int):
    return client.put(f"/v1/carts/{owner}/lines/{sku}", headers=t.admin, json={"qty": qty})


def test_two_devices_see_one_cart_and_check_it_out(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "CART-A", 1_500, DC_EAST=10)
    _priced(client, tenant, "CART-B", 800, DC_EAST=10)
    phone = _put(client, tenant, "13911110000", "CART-A", 2)
    assert phone.status_code == 200, phone.text
    tablet = _put(client, tenant, "13911110000", "CART-B", 1).json()
    assert [(x["sku"], x["qty"], x["gross"]) for x in tablet["lines"]] == [
        ("CART-A", 2, 3_000),
        ("CART-B", 1, 800),
    ]
    assert tablet["total"] == 3_800 and tablet["version"] == 2
    assert _put(client, tenant, "13911110000", "CART-B", 0).json()["total"] == 3_000
    seen = client.get("/v1/carts/13911110000", headers=tenant.admin).json()
    assert [x["sku"] for x in seen["lines"]] == ["CART-A"] and seen["version"] == 3
    order = client.post(
        "/v1/carts/13911110000/checkout",
        headers=tenant.admin,
        json={"channel": "mall", "fulfilment": {"type": "delivery", **XUHUI}},
    )
    assert order.status_code == 201, order.text
    assert order.json()["member"] == "13911110000" and order.json()["total"] == 3_000
    assert _avail(client, tenant, "CART-A")["DC-EAST"] == (2, 8)
    after = client.get("/v1/carts/13911110000", headers=tenant.admin).json()
    assert after["lines"] == [] and after["total"] == 0
    empty = client.post(
        "/v1/carts/13911110000/checkout",
        headers=tenant.admin,
        json={"channel": "mall", "fulfilment": {"type": "delivery", **XUHUI}},
    )
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "lines"


def test_a_failed_checkout_leaves_the_cart_as_it_was(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "CART-C", 500, DC_EAST=1)
    _put(client, tenant, "13922220000", "CART-C", 3)
    short = client.post(
        "/v1/carts/13922220000/checkout",
        headers=tenant.admin,
        json={"channel": "mall", "fulfilment": {"type": "delivery", **XUHUI}},
    )
    assert short.status_code == 409 and short.json()["type"].endswith("out-of-stock")
    kept = client.get("/v1/carts/13922220000", headers=tenant.admin).json()
    assert [(x["sku"], x["qty"]) for x in kept["lines"]] == [("CART-C", 3)]
    assert _avail(client, tenant, "CART-C")["DC-EAST"] == (0, 1)


def test_a_guest_cart_joins_the_members_at_sign_in(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "CART-D", 100, DC_EAST=10)
    _priced(client, tenant, "CART-E", 200, DC_EAST=10)
    _put(client, tenant, "13933330000", "CART-D", 1)
    _put(client, tenant, "guest:ipad-7", "CART-D", 2)
    _put(client, tenant, "guest:ipad-7", "CART-E", 1)
    merged = client.post(
        "/v1/carts/13933330000/merge", headers=tenant.admin, json={"source": "guest:ipad-7"}
    )
    assert merged.status_code == 200, merged.text
    assert [(x["sku"], x["qty"]) for x in merged.json()["lines"]] == [
        ("CART-D", 3),
        ("CART-E", 1),
    ]
    assert client.get("/v1/carts/guest:ipad-7", headers=tenant.admin).status_code == 404
    again = client.post(
        "/v1/carts/13933330000/merge", headers=tenant.admin, json={"source": "guest:ipad-7"}
    )
    assert again.status_code == 404


def test_bad_cart_input_is_refused(client: TestClient, tenant: Tenant) -> None:
    assert _put(client, tenant, "13944440000", "NO-SUCH-SKU", 1).status_code == 404
    assert _put(client, tenant, "13944440000", "CART-X", -1).status_code == 422
    assert _put(client, tenant, "has/slash", "CART-X", 1).status_code == 404
    assert client.get("/v1/carts/13944440000", headers=tenant.admin).status_code == 404
    _priced(client, tenant, "CART-F", 100, DC_EAST=1)
    _put(client, tenant, "13944440000", "CART-F", 1)
    own = client.post(
        "/v1/carts/13944440000/merge", headers=tenant.admin, json={"source": "13944440000"}
    )
    assert own.status_code == 422 and own.json()["errors"][0]["field"] == "source"


def test_devices_adding_at_once_lose_no_change(client: TestClient, tenant: Tenant) -> None:
    codes = [f"CART-R{i}" for i in range(8)]
    for code in codes:
        _priced(client, tenant, code, 100, DC_EAST=1)
    start = threading.Barrier(len(codes))

    def add(code: str) -> int:
        start.wait()
        return _put(client, tenant, "13955550000", code, 1).status_code

    with ThreadPoolExecutor(len(codes)) as pool:
        assert list(pool.map(add, codes)) == [200] * len(codes)
    cart = client.get("/v1/carts/13955550000", headers=tenant.admin).json()
    assert sorted(x["sku"] for x in cart["lines"]) == codes and cart["version"] == len(codes)
