"""Data scope (数据权限): a store manager sees and changes only their stores; HQ sees all."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Tenant, token_for


def _staff_in(client: TestClient, tenant: Tenant, unit: str, username: str) -> str:
    resp = client.post(
        "/v1/staff",
        headers=tenant.admin,
        json={
            "username": username,
            "display_name": username,
            "password": "abcd1234",
            "org_unit_id": tenant.units[unit],
        },
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def test_store_manager_sees_only_their_store(client: TestClient, tenant: Tenant) -> None:
    other = _staff_in(client, tenant, "SH02", "cashier.sh02")
    mine = _staff_in(client, tenant, "SH01", "cashier.sh01")
    listed = {s["id"] for s in client.get("/v1/staff", headers=tenant.manager).json()}
    assert mine in listed and other not in listed
    units = [u["code"] for u in client.get("/v1/org-units", headers=tenant.manager).json()]
    assert units == ["SH01"]
    assert client.get(f"/v1/staff/{other}", headers=tenant.manager).status_code == 404
    assert client.get(f"/v1/staff/{mine}", headers=tenant.manager).status_code == 200


def test_store_manager_cannot_change_another_stores_records(
    client: TestClient, tenant: Tenant
) -> None:
    other = _staff_in(client, tenant, "SH02", "cashier2.sh02")
    for method, url, body in [
        ("PATCH", f"/v1/staff/{other}", {"display_name": "renamed"}),
        ("POST", f"/v1/staff/{other}/password", {"password": "newpass123"}),
    ]:
        resp = client.request(method, url, headers=tenant.manager, json=body)
        assert resp.status_code == 404, resp.text
    unchanged = client.get(f"/v1/staff/{other}", headers=tenant.admin).json()
    assert unchanged["display_name"] == "cashier2.sh02"
    resp = client.post(
        "/v1/staff",
        headers=tenant.manager,
        json={
            "username": "planted",
            "display_name": "x",
            "password": "abcd1234",
            "org_unit_id": tenant.units["SH02"],
        },
    )
    assert resp.status_code == 422


def test_store_manager_cannot_move_their_staff_out_of_scope(
    client: TestClient, tenant: Tenant
) -> None:
    mine = _staff_in(client, tenant, "SH01", "mover.sh01")
    resp = client.patch(
        f"/v1/staff/{mine}", headers=tenant.manager, json={"org_unit_id": tenant.units["SH02"]}
    )
    assert resp.status_code == 422
    assert (
        client.get(f"/v1/staff/{mine}", headers=tenant.admin).json()["org_unit_id"]
        == (tenant.units["SH01"])
    )


def test_region_manager_sees_the_whole_region(client: TestClient, tenant: Tenant) -> None:
    roles = {r["name"]: r["id"] for r in client.get("/v1/roles", headers=tenant.admin).json()}
    resp = client.post(
        "/v1/staff",
        headers=tenant.admin,
        json={
            "username": "east.lead",
            "display_name": "East lead",
            "password": "abcd1234",
            "org_unit_id": tenant.units["EAST"],
            "role_ids": [roles["store_manager"]],
        },
    )
    assert resp.status_code == 201
    headers = token_for(client, tenant.name, "east.lead", "abcd1234")
    codes = {u["code"] for u in client.get("/v1/org-units", headers=headers).json()}
    assert codes == {"EAST", "SH01", "SH02", "HZ01", "DC-EAST", "FW-SH01"}
    hq = {u["code"] for u in client.get("/v1/org-units", headers=tenant.admin).json()}
    assert {"HQ", "SOUTH", "GZ01"} <= hq
