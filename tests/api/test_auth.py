"""Sign-in, tokens, API keys, throttling and permissions."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import SECRET, Tenant
from zhongtai import demo
from zhongtai.org.store import Staff
from zhongtai.platform.db import Database
from zhongtai.platform.security import TokenClaims, issue_token
from zhongtai.platform.uow import UnitOfWork


def _login(client: TestClient, tenant: str, user: str, password: str) -> int:
    form = {"tenant": tenant, "username": user, "password": password}
    return client.post("/v1/auth/token", data=form).status_code


def test_token_expires_and_says_so(client: TestClient, tenant: Tenant) -> None:
    me = client.get("/v1/me", headers=tenant.admin)
    assert me.status_code == 200 and me.json()["tenant_id"] == tenant.id
    claims = TokenClaims(tenant.id, "staff", me.json()["actor_id"])
    expired = issue_token(SECRET, timedelta(seconds=-1), claims)
    resp = client.get("/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401
    assert resp.json()["detail"] == "token expired"
    assert resp.headers["content-type"] == "application/problem+json"


def test_forged_or_missing_tokens_are_refused(client: TestClient, tenant: Tenant) -> None:
    claims = TokenClaims(tenant.id, "staff", "x")
    forged = issue_token("another-secret-of-32-bytes-or-more!", timedelta(hours=1), claims)
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert client.get("/v1/me").status_code == 401
    assert client.get("/v1/me", headers={"Authorization": "Bearer junk"}).status_code == 401


def test_passwords_are_stored_as_argon2(db: Database, tenant: Tenant) -> None:
    with UnitOfWork(db, tenant.id, write=False) as uow:
        hashes = uow.session.scalars(select(Staff.password_hash)).all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(demo.DEMO_ADMIN[1] in h for h in hashes)


def test_wrong_password_unknown_user_and_unknown_tenant_look_alike(
    client: TestClient, tenant: Tenant
) -> None:
    for form in (
        {"tenant": tenant.name, "username": "admin", "password": "wrong-pass-1"},
        {"tenant": tenant.name, "username": "nobody", "password": "wrong-pass-1"},
        {"tenant": "no-such-tenant", "username": "admin", "password": "wrong-pass-1"},
    ):
        resp = client.post("/v1/auth/token", data=form)
        assert resp.status_code == 401
        assert resp.json()["detail"] == "invalid credentials"


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    client: TestClient, tenant: Tenant
) -> None:
    user, password = demo.DEMO_MANAGER
    for _ in range(5):
        assert _login(client, tenant.name, user, "wrong-pass-1") == 401
    resp = client.post(
        "/v1/auth/token", data={"tenant": tenant.name, "username": user, "password": password}
    )
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    # Another account of the same tenant is not affected.
    assert _login(client, tenant.name, *demo.DEMO_ADMIN) == 200


def test_a_success_resets_the_failure_count(client: TestClient, tenant: Tenant) -> None:
    user, password = demo.DEMO_MANAGER
    for _ in range(4):
        assert _login(client, tenant.name, user, "wrong-pass-1") == 401
    assert _login(client, tenant.name, user, password) == 200
    for _ in range(4):
        assert _login(client, tenant.name, user, "wrong-pass-1") == 401
    assert _login(client, tenant.name, user, password) == 200


def test_permissions_are_enforced(client: TestClient, tenant: Tenant) -> None:
    # The store manager role may read roles but not change them, nor read the audit log.
    assert client.get("/v1/roles", headers=tenant.manager).status_code == 200
    resp = client.post("/v1/roles", headers=tenant.manager, json={"name": "x"})
    assert resp.status_code == 403
    assert resp.json()["permission"] == "role:write"
    assert client.get("/v1/audit-log", headers=tenant.manager).status_code == 403


def test_no_one_grants_what_they_do_not_hold(client: TestClient, tenant: Tenant) -> None:
    roles = {r["name"]: r["id"] for r in client.get("/v1/roles", headers=tenant.admin).json()}
    resp = client.post(
        "/v1/staff",
        headers=tenant.manager,
        json={
            "username": "sneaky",
            "display_name": "Sneaky",
            "password": "abcd1234",
            "org_unit_id": tenant.units["SH01"],
            "role_ids": [roles["admin"]],
        },
    )
    assert resp.status_code == 403
    assert resp.json()["field"] == "role_ids"


def test_disabling_staff_cuts_access_at_once(client: TestClient, tenant: Tenant) -> None:
    me = client.get("/v1/me", headers=tenant.manager).json()
    resp = client.patch(f"/v1/staff/{me['actor_id']}", headers=tenant.admin, json={"active": False})
    assert resp.status_code == 200
    assert client.get("/v1/me", headers=tenant.manager).status_code == 401
    assert _login(client, tenant.name, *demo.DEMO_MANAGER) == 401


def test_api_key_client_credentials_scoped_by_role(client: TestClient, tenant: Tenant) -> None:
    roles = {r["name"]: r["id"] for r in client.get("/v1/roles", headers=tenant.admin).json()}
    created = client.post(
        "/v1/api-keys",
        headers=tenant.admin,
        json={"name": "POS vendor", "role_ids": [roles["auditor"]]},
    )
    assert created.status_code == 201
    key = created.json()
    form = {
        "grant_type": "client_credentials",
        "client_id": key["client_id"],
        "client_secret": key["client_secret"],
    }
    token = client.post("/v1/auth/token", data=form)
    assert token.status_code == 200
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.get("/v1/staff", headers=headers).status_code == 200
    assert client.post("/v1/roles", headers=headers, json={"name": "x"}).status_code == 403
    listed = client.get("/v1/api-keys", headers=tenant.admin).json()
    assert all("client_secret" not in k and "secret_hash" not in k for k in listed)
    revoke = client.post(f"/v1/api-keys/{key['id']}/revoke", headers=tenant.admin)
    assert revoke.status_code == 200
    assert client.get("/v1/staff", headers=headers).status_code == 401
    assert client.post("/v1/auth/token", data=form).status_code == 401
    bad = {**form, "client_secret": "nope"}
    assert client.post("/v1/auth/token", data=bad).status_code == 401


def test_token_form_names_missing_fields(client: TestClient) -> None:
    resp = client.post("/v1/auth/token", data={"username": "a", "password": "b"})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "tenant"
    resp = client.post("/v1/auth/token", data={"grant_type": "client_credentials"})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "client_id"


def test_a_password_change_ends_older_tokens(client: TestClient, tenant: Tenant) -> None:
    me = client.get("/v1/me", headers=tenant.manager).json()
    resp = client.post(
        f"/v1/staff/{me['actor_id']}/password",
        headers=tenant.admin,
        json={"password": "fresh-pass-9"},
    )
    assert resp.status_code == 200
    old = client.get("/v1/me", headers=tenant.manager)
    assert old.status_code == 401
    assert old.json()["detail"] == "password changed since this token was issued"
    assert _login(client, tenant.name, demo.DEMO_MANAGER[0], demo.DEMO_MANAGER[1]) == 401
    assert _login(client, tenant.name, demo.DEMO_MANAGER[0], "fresh-pass-9") == 200
