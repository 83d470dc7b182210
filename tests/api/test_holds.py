"""The hot path over HTTP (秒杀锁定): concurrent one-line holds are group-committed with
their audit entries and idempotency records, and each caller gets its own answer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.api.test_reservations import _avail, _stocked
from tests.conftest import Tenant


def _hold(client: TestClient, t: Tenant, sku: str, key: str | None = None, **extra: object):
    headers = {**t.admin, **({"Idempotency-Key": key} if key else {})}
    body = {"owner": "flash-1", "channel": "live", "sku": sku, "location": "SH01", **extra}
    return client.post("/v1/stock/holds", headers=headers, json=body)


def test_a_hold_is_a_reservation_with_its_audit_and_replay(
    client: TestClient, tenant: Tenant
) -> None:
    _stocked(client, tenant, "HLD-A", SH01=5)
    first = _hold(client, tenant, "HLD-A", key="k-1", qty=2)
    assert first.status_code == 201, first.text
    held = first.json()
    assert held["status"] == "active" and held["lines"][0]["qty"] == 2
    stored = client.get(f"/v1/stock/reservations/{held['id']}", headers=tenant.admin).json()
    assert stored["lines"] == held["lines"] and stored["expires_at"] == held["expires_at"]
    again = _hold(client, tenant, "HLD-A", key="k-1", qty=2)
    assert again.status_code == 201 and again.json() == held
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _hold(client, tenant, "HLD-A", key="k-1", qty=3).status_code == 409  # other body
    assert _avail(client, tenant, "HLD-A") == {"SH01": (2, 3)}
    audit = client.get("/v1/audit-log", headers=tenant.admin, params={"limit": 500}).json()
    mine = [e for e in audit if e["action"] == "hold"]
    assert [e["target_ids"] for e in mine if e["status_code"] == 201] == [[held["id"]]]
    # It is released like any reservation.
    assert (
        client.post(
            f"/v1/stock/reservations/{held['id']}/release", headers=tenant.admin
        ).status_code
        == 200
    )
    assert _avail(client, tenant, "HLD-A") == {"SH01": (0, 5)}


def test_bad_holds_are_refused_and_audited(client: TestClient, tenant: Tenant) -> None:
    _stocked(client, tenant, "HLD-B", SH01=1)
    unknown = _hold(client, tenant, "NOPE")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "sku"
    assert _hold(client, tenant, "HLD-B", qty=0).status_code == 422
    assert _hold(client, tenant, "HLD-B", channel="nowhere").status_code == 422
    nul = _hold(client, tenant, "HLD-B", owner="cart\x00-1")  # would fail its whole batch
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "owner"
    too_many = _hold(client, tenant, "HLD-B", qty=2)
    assert too_many.status_code == 409 and too_many.json()["type"] == "out-of-stock"
    audit = client.get("/v1/audit-log", headers=tenant.admin, params={"limit": 500}).json()
    assert sorted(e["status_code"] for e in audit if e["action"] == "hold") == [409, 422, 422]


def test_racing_http_holds_get_exactly_the_stock(client: TestClient, tenant: Tenant) -> None:
    _stocked(client, tenant, "HLD-C", SH01=25)
    barrier = threading.Barrier(12)

    def buyer(n: int) -> list[int]:
        barrier.wait()
        return [_hold(client, tenant, "HLD-C", key=f"b{n}-{k}").status_code for k in range(4)]

    with ThreadPoolExecutor(12) as pool:
        codes = [c for got in pool.map(buyer, range(12)) for c in got]
    assert codes.count(201) == 25 and codes.count(409) == 48 - 25
    assert _avail(client, tenant, "HLD-C") == {"SH01": (25, 0)}
    audit = client.get("/v1/audit-log", headers=tenant.admin, params={"limit": 500}).json()
    assert sum(1 for e in audit if e["action"] == "hold" and e["status_code"] == 201) == 25


def test_twins_with_one_key_hold_once(client: TestClient, tenant: Tenant) -> None:
    _stocked(client, tenant, "HLD-D", SH01=10)
    barrier = threading.Barrier(6)

    def twin(_n: int):
        barrier.wait()
        return _hold(client, tenant, "HLD-D", key="same-key")

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(twin, range(6)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert _avail(client, tenant, "HLD-D") == {"SH01": (1, 9)}
