"""The order centre, first part: place (every fulfilment type), read, search, cancel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import event, select, update

from tests.api.test_reservations import _avail, _stocked
from tests.conftest import Tenant
from zhongtai.inventory.store import Reservation
from zhongtai.orders import service
from zhongtai.orders.store import SalesOrder
from zhongtai.platform.db import Database
from zhongtai.platform.ids import utcnow
from zhongtai.platform.uow import UnitOfWork

XUHUI = {"lat": 31.1890, "lng": 121.4370}  # inside SH01's 3 km, the FW's and the DC's radius


def _priced(client: TestClient, t: Tenant, code: str, price: int, **stock: int) -> None:
    _stocked(client, t, code, **stock)
    resp = client.post(
        "/v1/prices", headers=t.admin, json={"sku": code, "amount": price, "currency": "CNY"}
    )
    assert resp.status_code in (200, 201), resp.text


def _order(
    client: TestClient,
    t: Tenant,
    lines: list[tuple[str, int]],
    key: str | None = None,
    **fulfilment: object,
):
    headers = {**t.admin, **({"Idempotency-Key": key} if key else {})}
    body = {
        "channel": fulfilment.pop("channel", "mall"),
        "member": "13900000001",
        "lines": [{"sku": s, "qty": q} for s, q in lines],
        "fulfilment": fulfilment,
    }
    return client.post("/v1/orders", headers=headers, json=body)


def test_a_delivery_order_is_priced_sourced_held_and_numbered(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "ORD-A", 11_300, SH01=1, DC_EAST=20)
    _priced(client, tenant, "ORD-B", 2_000, DC_EAST=20)
    resp = _order(client, tenant, [("ORD-A", 2), ("ORD-B", 1)], type="delivery", **XUHUI)
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert order["number"].startswith("SO") and order["status"] == "pending_payment"
    assert [(x["sku"], x["qty"], x["gross"]) for x in order["lines"]] == [
        ("ORD-A", 2, 22_600),
        ("ORD-B", 1, 2_000),
    ]
    assert order["total"] == 24_600 and order["tax"] == 2_600 + 230
    # SH01 has one ORD-A, the DC has everything: one parcel from the DC beats two.
    assert {(a["sku"], a["location"], a["qty"]) for a in order["allocations"]} == {
        ("ORD-A", "DC-EAST", 2),
        ("ORD-B", "DC-EAST", 1),
    }
    assert order["sourcing"] == "optimal" and "km away" in order["allocations"][0]["reason"]
    assert _avail(client, tenant, "ORD-A")["DC-EAST"] == (2, 18)
    got = client.get(f"/v1/orders/{order['id']}", headers=tenant.admin).json()
    assert got == order
    mine = client.get("/v1/orders", headers=tenant.admin, params={"member": "13900000001"}).json()
    assert order["id"] in [o["id"] for o in mine]


def test_same_hour_pickup_in_store_and_ship_types_use_their_own_locations(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "ORD-C", 1_000, SH01=5, SH02=5, DC_EAST=50, FW_SH01=5)
    o2o = _order(client, tenant, [("ORD-C", 1)], type="o2o", **XUHUI).json()
    assert {a["location"] for a in o2o["allocations"]} <= {"SH01", "FW-SH01"}
    far = _order(client, tenant, [("ORD-C", 1)], type="o2o", lat=39.90, lng=116.40)
    assert far.status_code == 409 and far.json()["type"] == "no-fulfilment-location"
    pickup = _order(client, tenant, [("ORD-C", 2)], type="pickup", location="SH02").json()
    assert [a["location"] for a in pickup["allocations"]] == ["SH02"]
    assert len(pickup["pickup_code"]) == 6 and pickup["pickup_code"].isdigit()
    till = _order(client, tenant, [("ORD-C", 1)], type="in_store", location="SH01", channel="pos")
    assert [a["location"] for a in till.json()["allocations"]] == ["SH01"]
    ship = _order(client, tenant, [("ORD-C", 3)], type="ship_from_store", **XUHUI).json()
    assert {a["location"] for a in ship["allocations"]} <= {"SH01", "SH02"}
    aisle = _order(client, tenant, [("ORD-C", 10)], type="endless_aisle", location="SH01").json()
    assert {a["location"] for a in aisle["allocations"]} <= {"DC-EAST", "FW-SH01"}
    no_store = _order(client, tenant, [("ORD-C", 1)], type="pickup")
    assert (
        no_store.status_code == 422
        and no_store.json()["errors"][0]["field"] == "fulfilment.location"
    )


def test_bad_orders_change_nothing(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "ORD-D", 500, SH01=2)
    _stocked(client, tenant, "ORD-NOPRICE", SH01=2)
    cases = [
        ([("NOPE", 1)], "lines[0].sku"),
        ([("ORD-D", 1), ("ORD-NOPRICE", 1)], "lines[1].sku"),
    ]
    for lines, field in cases:
        resp = _order(client, tenant, lines, type="delivery")
        assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == field, resp.text
    zero = client.post(
        "/v1/orders",
        headers=tenant.admin,
        json={
            "channel": "mall",
            "lines": [{"sku": "ORD-D", "qty": 0}],
            "fulfilment": {"type": "delivery"},
        },
    )
    assert zero.status_code == 422
    short = _order(client, tenant, [("ORD-D", 3)], type="delivery")
    assert short.status_code == 409 and short.json()["skus"] == ["ORD-D"]
    assert (
        _order(client, tenant, [("ORD-D", 1)], type="delivery", channel="nowhere").status_code
        == 422
    )
    assert _avail(client, tenant, "ORD-D") == {"SH01": (0, 2)}


def test_a_replayed_create_is_the_same_order(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "ORD-E", 500, SH01=5)
    first = _order(client, tenant, [("ORD-E", 1)], key="order-1", type="delivery")
    again = _order(client, tenant, [("ORD-E", 1)], key="order-1", type="delivery")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert _avail(client, tenant, "ORD-E") == {"SH01": (1, 4)}


def test_cancel_frees_the_stock_once(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "ORD-F", 500, SH01=3)
    order = _order(client, tenant, [("ORD-F", 3)], type="delivery").json()
    url = f"/v1/orders/{order['id']}/cancel"
    done = client.post(url, headers=tenant.admin, json={"reason": "changed mind"})
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    assert client.post(url, headers=tenant.admin, json={}).status_code == 409
    assert _avail(client, tenant, "ORD-F") == {"SH01": (0, 3)}


def test_unpaid_orders_are_cancelled_when_their_hold_lapses(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    _priced(client, tenant, "ORD-G", 500, SH01=1)
    order = _order(client, tenant, [("ORD-G", 1)], type="delivery").json()
    with UnitOfWork(db, tenant.id) as uow:
        uow.session.execute(
            update(Reservation)
            .where(Reservation.id == order["reservation_id"])
            .values(expires_at=utcnow())
        )
        uow.commit()
    assert service.cancel_unpaid(db) >= 1
    got = client.get(f"/v1/orders/{order['id']}", headers=tenant.admin).json()
    assert got["status"] == "cancelled" and _avail(client, tenant, "ORD-G") == {"SH01": (0, 1)}


def test_parallel_orders_for_the_last_units_never_both_win(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "ORD-H", 500, SH01=3)
    barrier = threading.Barrier(8)

    def buy(_n: int) -> int:
        barrier.wait()
        return _order(client, tenant, [("ORD-H", 1)], type="delivery").status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(buy, range(8)))
    assert codes.count(201) == 3 and codes.count(409) == 5
    assert _avail(client, tenant, "ORD-H") == {"SH01": (3, 0)}


def test_orders_are_found_by_store_and_date_and_tell_their_timeline(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "ORD-T", 1_000, SH01=5, SH02=5)
    here = _order(client, tenant, [("ORD-T", 1)], type="pickup", location="SH02").json()
    there = _order(client, tenant, [("ORD-T", 1)], type="in_store", location="SH01").json()

    def ids(**params: str) -> set[str]:
        resp = client.get("/v1/orders", headers=tenant.admin, params=params)
        assert resp.status_code == 200, resp.text
        return {o["id"] for o in resp.json()}

    assert here["id"] in ids(store="SH02") and there["id"] not in ids(store="SH02")
    placed = here["created_at"]
    assert here["id"] in ids(placed_from=placed) and here["id"] not in ids(placed_to=placed)
    unknown = client.get("/v1/orders", headers=tenant.admin, params={"store": "NOPE"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "store"
    paid = client.post(
        f"/v1/orders/{there['id']}/payments", headers=tenant.admin, json={"provider": "cash"}
    )
    assert paid.status_code == 201, paid.text
    steps = client.get(f"/v1/orders/{there['id']}/timeline", headers=tenant.admin).json()
    assert [s["type"] for s in steps] == [
        "order.created",
        "payment.authorised",
        "payment.captured",
        "order.paid",
        "fulfilment.created",
        "fulfilment.collected",
        "order.completed",
    ]
    assert [s["at"] for s in steps] == sorted(s["at"] for s in steps)
    other = client.get(f"/v1/orders/{here['id']}/timeline", headers=tenant.admin).json()
    assert [s["type"] for s in other] == ["order.created"]


def test_a_checkout_killed_before_commit_leaves_no_hold_and_no_order(
    client: TestClient,
    tenant: Tenant,
    db: Database,
    database_url: str,
    tmp_path: Path,
    repo_root: Path,
) -> None:
    _priced(client, tenant, "ORD-K", 700, SH01=3)
    env = {
        **os.environ,
        "ZT_DATA_DIR": str(tmp_path),
        "ZT_DATABASE_URL": database_url,
        "ORDER_TENANT": tenant.id,
        "ORDER_SKU": "ORD-K",
    }
    cmd = [sys.executable, "-m", "tests.support.order_worker"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=repo_root)
    assert proc.stdout is not None
    said = ""
    while not said.startswith("placed ") and proc.poll() is None:  # HiGHS's banner first
        said = proc.stdout.readline()
    number = said.split()[-1]
    assert said.startswith("placed ") and number.startswith("SO"), said  # not committed
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with UnitOfWork(db, tenant.id, write=False) as uow:
        holds = uow.session.scalars(select(Reservation).where(Reservation.owner == number)).all()
        orders = uow.session.scalars(select(SalesOrder).where(SalesOrder.number == number)).all()
    assert (holds, orders) == ([], [])
    assert _avail(client, tenant, "ORD-K") == {"SH01": (0, 3)}
    after = _order(client, tenant, [("ORD-K", 3)], type="pickup", location="SH01")
    assert after.status_code == 201, after.text  # every unit still free: nothing orphaned


def test_an_order_page_costs_the_same_statements_however_many_orders(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    _priced(client, tenant, "ORD-P", 100, DC_EAST=20)
    for _ in range(6):
        assert _order(client, tenant, [("ORD-P", 1)], type="delivery", **XUHUI).status_code == 201
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    def page(limit: int) -> list[dict]:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            resp = client.get("/v1/orders", headers=tenant.admin, params={"limit": limit})
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert resp.status_code == 200 and len(resp.json()) == limit
        return resp.json()

    one, one_cost = page(1), len(statements)
    six, six_cost = page(6), len(statements)
    assert six_cost == one_cost  # lines, allocations and what is owed: one query each
    assert six[0] == one[0] and all(o["lines"] and o["allocations"] for o in six)
