"""Reservations (库存锁定): hold, confirm, release, expire; never more than the stock."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.conftest import Tenant
from tests.support.relay import run_relay
from zhongtai.inventory import service
from zhongtai.inventory.schemas import ReserveIn, ReserveLine
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.errors import ProblemError
from zhongtai.platform.uow import UnitOfWork


def _stocked(client: TestClient, t: Tenant, code: str, **at: int) -> None:
    resp = client.post(
        "/v1/products",
        headers=t.admin,
        json={"code": code, "name": code, "category": "inv", "skus": [{"code": code}]},
    )
    assert resp.status_code == 201, resp.text
    _receive(client, t, code, **at)


def _receive(client: TestClient, t: Tenant, code: str, **at: int) -> None:
    for location, qty in at.items():
        r = client.post(
            "/v1/stock/receipts",
            headers=t.admin,
            json={"location": location.replace("_", "-"), "lines": [{"sku": code, "qty": qty}]},
        )
        assert r.status_code == 201, r.text


def _avail(client: TestClient, t: Tenant, code: str) -> dict[str, tuple[int, int]]:
    rows = client.get("/v1/stock/availability", headers=t.admin, params={"sku": code}).json()
    return {r["location"]: (r["reserved"], r["available"]) for r in rows}


def _reserve(
    client: TestClient, headers: dict[str, str], lines: list[tuple[str, str, int]], ttl: int = 900
):
    body = {
        "owner": "cart-1",
        "channel": "mall",
        "ttl_seconds": ttl,
        "lines": [{"sku": s, "location": loc, "qty": q} for s, loc, q in lines],
    }
    return client.post("/v1/stock/reservations", headers=headers, json=body)


def test_reserve_spans_locations_all_or_nothing(client: TestClient, tenant: Tenant) -> None:
    _stocked(client, tenant, "RSV-A", SH01=5, DC_EAST=10)
    held = _reserve(client, tenant.admin, [("RSV-A", "SH01", 3), ("RSV-A", "DC-EAST", 4)])
    assert held.status_code == 201, held.text
    assert len(held.json()["lines"]) == 2
    assert _avail(client, tenant, "RSV-A") == {"SH01": (3, 2), "DC-EAST": (4, 6)}
    too_much = _reserve(client, tenant.admin, [("RSV-A", "DC-EAST", 1), ("RSV-A", "SH01", 3)])
    assert too_much.status_code == 409 and too_much.json()["type"] == "out-of-stock"
    assert too_much.json()["field"] == "lines[1].qty"
    assert _avail(client, tenant, "RSV-A") == {"SH01": (3, 2), "DC-EAST": (4, 6)}
    # Stock promised to a reservation cannot be adjusted away.
    adj = client.post(
        "/v1/stock/adjustments",
        headers=tenant.admin,
        json={"location": "SH01", "reason": "damage", "lines": [{"sku": "RSV-A", "qty": -3}]},
    )
    assert adj.status_code == 409


def test_confirm_release_and_bad_requests(client: TestClient, tenant: Tenant) -> None:
    _stocked(client, tenant, "RSV-B", SH01=4)
    r = _reserve(client, tenant.admin, [("RSV-B", "SH01", 4)]).json()
    url = f"/v1/stock/reservations/{r['id']}"
    confirmed = client.post(f"{url}/confirm", headers=tenant.admin)
    assert confirmed.status_code == 200 and confirmed.json()["expires_at"] is None
    assert client.post(f"{url}/confirm", headers=tenant.admin).status_code == 409
    assert client.post(f"{url}/release", headers=tenant.admin).status_code == 200
    assert _avail(client, tenant, "RSV-B") == {"SH01": (0, 4)}
    again = client.post(f"{url}/release", headers=tenant.admin)
    assert again.status_code == 409 and again.json()["field"] == "status"
    for lines, field in [
        ([("RSV-B", "SH01", 0)], "lines[0].qty"),
        ([("NOPE", "SH01", 1)], "lines[0].sku"),
        ([("RSV-B", "XX9", 1)], "lines[0].location"),
    ]:
        bad = _reserve(client, tenant.admin, lines)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field


def _partner(client: TestClient, t: Tenant, name: str) -> dict[str, str]:
    """A sales channel's integration: may reserve, may not manage stock."""
    role = client.post(
        "/v1/roles",
        headers=t.admin,
        json={"name": name, "permissions": ["stock:reserve", "stock:read"]},
    ).json()
    key = client.post(
        "/v1/api-keys", headers=t.admin, json={"name": name, "role_ids": [role["id"]]}
    ).json()
    token = client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": key["client_id"],
            "client_secret": key["client_secret"],
        },
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_nobody_releases_someone_elses_reservation(client: TestClient, tenant: Tenant) -> None:
    _stocked(client, tenant, "RSV-C", SH01=6)
    mall, live = _partner(client, tenant, "mall_app"), _partner(client, tenant, "live_app")
    mall_hold = _reserve(client, mall, [("RSV-C", "SH01", 2)])
    assert mall_hold.status_code == 201, mall_hold.text
    url = f"/v1/stock/reservations/{mall_hold.json()['id']}"
    assert client.post(f"{url}/release", headers=live).status_code == 404
    assert client.get(url, headers=live).status_code == 404
    assert client.get("/v1/stock/reservations", headers=live).json() == []
    mine = client.get("/v1/stock/reservations", headers=mall, params={"status": "active"}).json()
    assert [r["id"] for r in mine] == [mall_hold.json()["id"]]
    everyone = client.get("/v1/stock/reservations", headers=tenant.admin).json()
    assert mall_hold.json()["id"] in [r["id"] for r in everyone]
    assert _avail(client, tenant, "RSV-C")["SH01"] == (2, 4)
    assert client.post(f"{url}/release", headers=mall).status_code == 200
    admin_hold = _reserve(client, tenant.admin, [("RSV-C", "SH01", 1)]).json()
    admin_url = f"/v1/stock/reservations/{admin_hold['id']}"
    assert client.post(f"{admin_url}/release", headers=mall).status_code == 404
    # Whoever may manage stock (HQ admin) can release any reservation.
    assert client.post(f"{admin_url}/release", headers=tenant.admin).status_code == 200


def test_expiry_counts_at_once_and_the_sweeper_tidies_up(
    client: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    _stocked(client, tenant, "RSV-D", SH01=3)
    r = _reserve(client, tenant.admin, [("RSV-D", "SH01", 3)], ttl=1).json()
    assert _avail(client, tenant, "RSV-D")["SH01"] == (3, 0)
    time.sleep(1.2)
    assert _avail(client, tenant, "RSV-D")["SH01"] == (0, 3)  # before any sweep
    assert (
        client.post(f"/v1/stock/reservations/{r['id']}/confirm", headers=tenant.admin).status_code
        == 409
    )
    again = _reserve(client, tenant.admin, [("RSV-D", "SH01", 3)])
    assert again.status_code == 201
    run_relay(db, settings)
    got = client.get(f"/v1/stock/reservations/{r['id']}", headers=tenant.admin).json()
    assert got["status"] == "expired"
    assert _avail(client, tenant, "RSV-D")["SH01"] == (3, 0)
    events = client.get(
        "/v1/events", headers=tenant.admin, params={"type": "stock.reservation_expired"}
    ).json()
    assert [e["payload"]["reservation_id"] for e in events] == [r["id"]]


def test_racing_threads_get_exactly_the_stock(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    _stocked(client, tenant, "RSV-RACE", SH01=25, SH02=15)
    barrier = threading.Barrier(10)

    def buyer(n: int) -> int:
        barrier.wait()
        won = 0
        for k in range(8):
            location = "SH01" if (n + k) % 2 else "SH02"
            try:
                with UnitOfWork(db, tenant.id) as uow:
                    service.reserve(
                        uow,
                        ReserveIn(
                            owner=f"b{n}",
                            channel="live",
                            lines=[ReserveLine(sku="RSV-RACE", qty=1, location=location)],
                        ),
                    )
                    uow.commit()
                won += 1
            except ProblemError:
                pass
        return won

    with ThreadPoolExecutor(10) as pool:
        assert sum(pool.map(buyer, range(10))) == 40
    assert _avail(client, tenant, "RSV-RACE") == {"SH01": (25, 0), "SH02": (15, 0)}
