"""Inventory centre, first part: locations, receipts, adjustments, availability, ledger."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select

from tests.conftest import Tenant
from zhongtai.catalog.store import Sku
from zhongtai.inventory import service
from zhongtai.inventory.schemas import AdjustmentIn, AdjustmentLine, ReceiptIn, ReceiptLine
from zhongtai.inventory.store import StockLevel, StockMovement
from zhongtai.platform.db import Database
from zhongtai.platform.errors import ProblemError
from zhongtai.platform.uow import UnitOfWork


def _sku(client: TestClient, t: Tenant, code: str, **extra: object) -> str:
    body = {"code": code, "name": code, "category": "inv", "skus": [{"code": code}], **extra}
    resp = client.post("/v1/products", headers=t.admin, json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["skus"][0]["id"])


def _availability(client: TestClient, t: Tenant, sku: str) -> dict[str, dict]:
    resp = client.get("/v1/stock/availability", headers=t.admin, params={"sku": sku})
    assert resp.status_code == 200, resp.text
    return {row["location"]: row for row in resp.json()}


def test_contract_locations_receipts_availability(client: TestClient, tenant: Tenant) -> None:
    loc = client.post(
        "/v1/locations",
        headers=tenant.admin,
        json={
            "code": "BJ01",
            "name": "北京朝阳店 Beijing Chaoyang",
            "type": "store",
            "lat": 39.9219,
            "lng": 116.4436,
            "service_radius_m": 3000,
        },
    )
    assert loc.status_code == 201 and loc.json()["type"] == "store"
    _sku(client, tenant, "INV-A")
    receipt = client.post(
        "/v1/stock/receipts",
        headers=tenant.admin,
        json={
            "location": "BJ01",
            "lines": [{"sku": "INV-A", "qty": 40}, {"sku": "INV-A", "qty": 2}],
        },
    )
    assert receipt.status_code == 201, receipt.text
    assert receipt.json()["document"].startswith("GR")
    row = _availability(client, tenant, "INV-A")["BJ01"]
    assert (row["on_hand"], row["reserved"], row["available"]) == (42, 0, 42)
    near = client.get(
        "/v1/locations/serving", headers=tenant.admin, params={"lat": 39.93, "lng": 116.45}
    ).json()
    assert [n["code"] for n in near] == ["BJ01"] and near[0]["distance_m"] < 3000
    far = client.get(
        "/v1/locations/serving", headers=tenant.admin, params={"lat": 31.0, "lng": 121.0}
    ).json()
    assert "BJ01" not in [n["code"] for n in far]


def test_bad_input_is_refused_and_changes_nothing(client: TestClient, tenant: Tenant) -> None:
    _sku(client, tenant, "INV-B")
    _sku(
        client,
        tenant,
        "INV-RX",
        pack="pharmacy",
        attributes={"approval_number": "H1", "dosage_form": "tablet"},
    )
    ok = {"sku": "INV-B", "qty": 5}
    cases = [
        ({"location": "SH01", "lines": [{"sku": "INV-B", "qty": 0}]}, 422, "lines[0].qty"),
        ({"location": "SH01", "lines": [{"sku": "INV-B", "qty": -3}]}, 422, "lines[0].qty"),
        ({"location": "SH01", "lines": [ok, {"sku": "NOPE", "qty": 1}]}, 422, "lines[1].sku"),
        ({"location": "XX99", "lines": [ok]}, 422, "location"),
        ({"location": "SH01", "lines": [ok, {"sku": "INV-RX", "qty": 1}]}, 422, "lines[1].batch"),
        (
            {
                "location": "SH01",
                "lines": [
                    {
                        "sku": "INV-B",
                        "qty": 1,
                        "batch": "L1",
                        "expiry": (date.today() - timedelta(days=2)).isoformat(),
                    }
                ],
            },
            422,
            "lines[0].expiry",
        ),
    ]
    for body, status, field in cases:
        resp = client.post("/v1/stock/receipts", headers=tenant.admin, json=body)
        assert resp.status_code == status, resp.text
        assert resp.json()["errors"][0]["field"] == field
    assert _availability(client, tenant, "INV-B") == {}


def test_adjustments_cannot_take_more_than_is_there(client: TestClient, tenant: Tenant) -> None:
    _sku(client, tenant, "INV-C")
    client.post(
        "/v1/stock/receipts",
        headers=tenant.admin,
        json={"location": "SH01", "lines": [{"sku": "INV-C", "qty": 10}]},
    )
    over = client.post(
        "/v1/stock/adjustments",
        headers=tenant.admin,
        json={
            "location": "SH01",
            "reason": "damage",
            "lines": [{"sku": "INV-C", "qty": -4}, {"sku": "INV-C", "qty": -7}],
        },
    )
    assert over.status_code == 409 and over.json()["type"] == "insufficient-stock"
    assert over.json()["field"] == "lines[1].qty"
    assert _availability(client, tenant, "INV-C")["SH01"]["on_hand"] == 10  # first line undone
    bad_reason = client.post(
        "/v1/stock/adjustments",
        headers=tenant.admin,
        json={"location": "SH01", "reason": "whim", "lines": [{"sku": "INV-C", "qty": -1}]},
    )
    assert bad_reason.status_code == 422 and bad_reason.json()["errors"][0]["field"] == "reason"
    fine = client.post(
        "/v1/stock/adjustments",
        headers=tenant.admin,
        json={"location": "SH01", "reason": "damage", "lines": [{"sku": "INV-C", "qty": -10}]},
    )
    assert fine.status_code == 201
    assert _availability(client, tenant, "INV-C")["SH01"]["available"] == 0
    ledger = client.get("/v1/stock/movements", headers=tenant.admin, params={"sku": "INV-C"})
    assert [(m["kind"], m["qty"]) for m in ledger.json()] == [("receipt", 10), ("adjustment", -10)]


def test_store_manager_sees_only_their_stores_stock(client: TestClient, tenant: Tenant) -> None:
    _sku(client, tenant, "INV-D")
    for location in ("SH01", "SH02"):
        client.post(
            "/v1/stock/receipts",
            headers=tenant.admin,
            json={"location": location, "lines": [{"sku": "INV-D", "qty": 3}]},
        )
    mine = client.get("/v1/stock/availability", headers=tenant.manager, params={"sku": "INV-D"})
    assert [r["location"] for r in mine.json()] == ["SH01"]
    theirs = client.post(
        "/v1/stock/receipts",
        headers=tenant.manager,
        json={"location": "SH02", "lines": [{"sku": "INV-D", "qty": 1}]},
    )
    assert theirs.status_code == 422 and theirs.json()["errors"][0]["field"] == "location"


def test_racing_takers_never_drive_stock_below_zero(db: Database, tenant: Tenant) -> None:
    with UnitOfWork(db, tenant.id) as uow:
        uow.session.add(Sku(product_id=_any_product(uow), code="INV-RACE", name="race"))
        uow.commit()
    with UnitOfWork(db, tenant.id) as uow:
        service.receive(
            uow, ReceiptIn(location="SH01", lines=[ReceiptLine(sku="INV-RACE", qty=30)])
        )
        uow.commit()
    barrier = threading.Barrier(8)

    def take(_: int) -> int:
        barrier.wait()
        won = 0
        for _ in range(6):
            try:
                with UnitOfWork(db, tenant.id) as uow:
                    service.adjust(
                        uow,
                        AdjustmentIn(
                            location="SH01",
                            reason="damage",
                            lines=[AdjustmentLine(sku="INV-RACE", qty=-1)],
                        ),
                    )
                    uow.commit()
                    won += 1
            except ProblemError:
                pass
        return won

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(take, range(8))) == 30
    with UnitOfWork(db, tenant.id, write=False) as uow:
        on_hand = uow.session.scalar(
            select(func.sum(StockLevel.on_hand))
            .join(Sku, Sku.id == StockLevel.sku_id)
            .where(Sku.code == "INV-RACE")
        )
    assert on_hand == 0


def _any_product(uow: UnitOfWork) -> str:
    from zhongtai.catalog.store import Product

    return str(uow.session.scalars(select(Product.id)).first())


def test_ledger_always_sums_to_the_balance(db: Database, tenant: Tenant) -> None:
    """Stateful property: random receipts and adjustments at random locations; the
    ledger sums to the balance, which equals a plain model, and refusals are exactly
    the movements that would go below zero. Each example works on SKUs of its own, so
    examples replay the same way."""
    locations = ["SH01", "SH02", "DC-EAST"]
    with UnitOfWork(db, tenant.id, write=False) as uow:
        product_id = _any_product(uow)
    made = iter(range(10**6))

    class Ledger(RuleBasedStateMachine):
        """The database against a plain dict of expected on-hand stock."""

        def __init__(self) -> None:
            super().__init__()
            n = next(made)
            self.skus = [f"LEDGER-{n}-{i}" for i in range(3)]
            with UnitOfWork(db, tenant.id) as uow:
                uow.session.add_all(Sku(product_id=product_id, code=c, name=c) for c in self.skus)
                uow.commit()
            self.expected: dict[tuple[str, str], int] = {}

        def _run(
            self, fn: Callable[[UnitOfWork], object], key: tuple[str, str], delta: int
        ) -> None:
            allowed = self.expected.get(key, 0) + delta >= 0
            try:
                with UnitOfWork(db, tenant.id) as uow:
                    fn(uow)
                    uow.commit()
            except ProblemError:
                assert not allowed, f"refused a movement the rules allow: {key} {delta}"
                return
            assert allowed, f"accepted a movement below zero: {key} {delta}"
            self.expected[key] = self.expected.get(key, 0) + delta

        @rule(i=st.integers(0, 2), loc=st.sampled_from(locations), qty=st.integers(1, 50))
        def receive(self, i: int, loc: str, qty: int) -> None:
            cmd = ReceiptIn(location=loc, lines=[ReceiptLine(sku=self.skus[i], qty=qty)])
            self._run(lambda uow: service.receive(uow, cmd), (self.skus[i], loc), qty)

        @rule(
            i=st.integers(0, 2),
            loc=st.sampled_from(locations),
            qty=st.integers(-60, 60).filter(bool),
        )
        def adjust(self, i: int, loc: str, qty: int) -> None:
            cmd = AdjustmentIn(
                location=loc,
                reason="count_surplus",
                lines=[AdjustmentLine(sku=self.skus[i], qty=qty)],
            )
            self._run(lambda uow: service.adjust(uow, cmd), (self.skus[i], loc), qty)

        @invariant()
        def ledger_equals_balance_equals_model(self) -> None:
            with UnitOfWork(db, tenant.id, write=False) as uow:
                for sku in self.skus:
                    sku_id = uow.session.scalar(select(Sku.id).where(Sku.code == sku))
                    rows = service.availability(uow, sku)
                    assert {(sku, r.location): r.on_hand for r in rows} == {
                        k: v for k, v in self.expected.items() if k[0] == sku
                    }
                    for row in rows:
                        ledger = uow.session.scalar(
                            select(func.sum(StockMovement.qty)).where(
                                StockMovement.sku_id == sku_id,
                                StockMovement.location_id == row.location_id,
                            )
                        )
                        assert ledger == row.on_hand and row.available >= 0

    Ledger.TestCase.settings = settings(
        max_examples=15,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    Ledger.TestCase().runTest()


def test_transfers_go_through_transit_first_expiry_first(
    client: TestClient, tenant: Tenant
) -> None:
    _sku(client, tenant, "INV-T")
    soon, later = date.today() + timedelta(days=10), date.today() + timedelta(days=90)
    client.post(
        "/v1/stock/receipts",
        headers=tenant.admin,
        json={
            "location": "DC-EAST",
            "lines": [
                {"sku": "INV-T", "qty": 5, "batch": "LATE", "expiry": later.isoformat()},
                {"sku": "INV-T", "qty": 4, "batch": "SOON", "expiry": soon.isoformat()},
            ],
        },
    )
    sent = client.post(
        "/v1/stock/transfers",
        headers=tenant.admin,
        json={"from": "DC-EAST", "to": "SH01", "lines": [{"sku": "INV-T", "qty": 6}]},
    )
    assert sent.status_code == 201, sent.text
    assert [(x["batch"], x["qty"]) for x in sent.json()["lines"]] == [("SOON", 4), ("LATE", 2)]
    avail = _availability(client, tenant, "INV-T")
    assert avail["DC-EAST"]["on_hand"] == 3
    assert (avail["SH01"]["on_hand"], avail["SH01"]["in_transit"]) == (0, 6)
    url = f"/v1/stock/transfers/{sent.json()['id']}/receive"
    assert client.post(url, headers=tenant.admin).status_code == 200
    assert client.post(url, headers=tenant.admin).status_code == 409
    avail = _availability(client, tenant, "INV-T")
    assert (avail["SH01"]["on_hand"], avail["SH01"]["in_transit"]) == (6, 0)
    same = client.post(
        "/v1/stock/transfers",
        headers=tenant.admin,
        json={"from": "SH01", "to": "SH01", "lines": [{"sku": "INV-T", "qty": 1}]},
    )
    assert same.status_code == 422 and same.json()["errors"][0]["field"] == "to"
    too_many = client.post(
        "/v1/stock/transfers",
        headers=tenant.admin,
        json={"from": "DC-EAST", "to": "SH02", "lines": [{"sku": "INV-T", "qty": 4}]},
    )
    assert too_many.status_code == 409 and too_many.json()["field"] == "lines[0].qty"
    assert _availability(client, tenant, "INV-T")["DC-EAST"]["on_hand"] == 3


def test_counts_post_variance_once_and_ignore_later_movements(
    client: TestClient, tenant: Tenant
) -> None:
    _sku(client, tenant, "INV-K")
    client.post(
        "/v1/stock/receipts",
        headers=tenant.admin,
        json={"location": "SH02", "lines": [{"sku": "INV-K", "qty": 20}]},
    )
    count = client.post("/v1/stock/counts", headers=tenant.admin, json={"location": "SH02"})
    assert count.status_code == 201
    url = f"/v1/stock/counts/{count.json()['id']}"
    counted = client.post(
        f"{url}/lines", headers=tenant.admin, json={"lines": [{"sku": "INV-K", "counted": 17}]}
    )
    assert counted.json()["lines"][0]["system_qty"] == 20
    # A sale-like movement after the shelf was counted is not variance.
    client.post(
        "/v1/stock/adjustments",
        headers=tenant.admin,
        json={"location": "SH02", "reason": "damage", "lines": [{"sku": "INV-K", "qty": -5}]},
    )
    posted = client.post(f"{url}/post", headers=tenant.admin)
    assert posted.status_code == 200 and posted.json()["status"] == "posted"
    assert _availability(client, tenant, "INV-K")["SH02"]["on_hand"] == 12  # 20 - 5 - 3
    again = client.post(f"{url}/post", headers=tenant.admin)
    assert again.status_code == 409 and again.json()["field"] == "status"
    late = client.post(
        f"{url}/lines", headers=tenant.admin, json={"lines": [{"sku": "INV-K", "counted": 1}]}
    )
    assert late.status_code == 409
    ledger = client.get("/v1/stock/movements", headers=tenant.admin, params={"sku": "INV-K"})
    assert [(m["kind"], m["qty"]) for m in ledger.json()][-1] == ("count_variance", -3)


def test_handheld_counts_by_barcode(client: TestClient, tenant: Tenant) -> None:
    from zhongtai.catalog.barcodes import ean13

    code = ean13("690000777001")
    resp = client.post(
        "/v1/products",
        headers=tenant.admin,
        json={
            "code": "INV-PDA",
            "name": "pda",
            "category": "inv",
            "skus": [{"code": "INV-PDA", "barcode": code}],
        },
    )
    assert resp.status_code == 201
    count = client.post("/v1/stock/counts", headers=tenant.admin, json={"location": "SH01"}).json()
    scanned = client.post(
        f"/v1/stock/counts/{count['id']}/lines",
        headers=tenant.admin,
        json={"lines": [{"sku": code, "counted": 4}]},
    )
    assert scanned.status_code == 200 and scanned.json()["lines"][0]["counted"] == 4
    bad = client.post(
        f"/v1/stock/counts/{count['id']}/lines",
        headers=tenant.admin,
        json={"lines": [{"sku": "NOTHING", "counted": 1}]},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "lines[0].sku"
    client.post(f"/v1/stock/counts/{count['id']}/post", headers=tenant.admin)
    assert _availability(client, tenant, "INV-PDA")["SH01"]["on_hand"] == 4


def test_expiring_batches_are_listed_soonest_first(client: TestClient, tenant: Tenant) -> None:
    _sku(client, tenant, "INV-E")
    days = [40, 5, 12]
    client.post(
        "/v1/stock/receipts",
        headers=tenant.admin,
        json={
            "location": "SH01",
            "lines": [
                {
                    "sku": "INV-E",
                    "qty": 3,
                    "batch": f"E{d}",
                    "expiry": (date.today() + timedelta(days=d)).isoformat(),
                }
                for d in days
            ],
        },
    )
    alerts = client.get(
        "/v1/stock/expiring", headers=tenant.admin, params={"within_days": 30}
    ).json()
    mine = [a for a in alerts if a["batch"].startswith("E")]
    assert [a["batch"] for a in mine] == ["E5", "E12"]
    assert 4 <= mine[0]["days_left"] <= 5


def test_offline_sales_record_an_oversell_online_sales_refuse(
    client: TestClient, tenant: Tenant
) -> None:
    _sku(client, tenant, "INV-POS")
    client.post(
        "/v1/stock/receipts",
        headers=tenant.admin,
        json={"location": "SH01", "lines": [{"sku": "INV-POS", "qty": 3}]},
    )
    online = client.post(
        "/v1/stock/sales",
        headers=tenant.admin,
        json={"location": "SH01", "reference": "T-1", "lines": [{"sku": "INV-POS", "qty": 5}]},
    )
    assert online.status_code == 409 and online.json()["field"] == "lines[0].qty"
    offline = client.post(
        "/v1/stock/sales",
        headers=tenant.admin,
        json={
            "location": "SH01",
            "reference": "T-2",
            "offline": True,
            "lines": [{"sku": "INV-POS", "qty": 5}],
        },
    )
    assert offline.status_code == 201, offline.text
    row = _availability(client, tenant, "INV-POS")["SH01"]
    assert (row["on_hand"], row["available"]) == (-2, 0)
    events = client.get(
        "/v1/events", headers=tenant.admin, params={"type": "stock.oversold", "limit": 500}
    ).json()
    mine = [e for e in events if e["payload"]["sku"] == "INV-POS"]
    assert mine and mine[-1]["payload"]["shortfall"] == 2
    ledger = client.get("/v1/stock/movements", headers=tenant.admin, params={"sku": "INV-POS"})
    assert sum(m["qty"] for m in ledger.json()) == -2
