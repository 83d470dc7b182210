"""Idempotency-Key: a replay returns the first answer and does the work once."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tenant
from tests.support.openapi import routes
from zhongtai.org.store import DictionaryEntry
from zhongtai.platform.db import Database
from zhongtai.platform.outbox import OutboxEvent
from zhongtai.platform.uow import UnitOfWork


def _count(db: Database, tenant_id: str, model: type, **where: str) -> int:
    with UnitOfWork(db, tenant_id, write=False) as uow:
        query = select(func.count()).select_from(model).filter_by(**where)
        return int(uow.session.scalar(query) or 0)


def test_every_mutating_route_accepts_an_idempotency_key(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    mutating = [r for r in routes(spec) if r.method != "get"]
    assert mutating
    missing = [
        f"{r.method} {r.path}" for r in mutating if "Idempotency-Key" not in r.header_names()
    ]
    assert not missing, f"routes without Idempotency-Key: {missing}"


def test_replay_returns_the_first_answer_and_does_nothing_twice(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    headers = {**tenant.admin, "Idempotency-Key": str(uuid.uuid4())}
    body = {"code": "late", "label": "到货延迟 Late delivery"}
    events_before = _count(db, tenant.id, OutboxEvent)
    first = client.post("/v1/dictionaries/return_reason/entries", headers=headers, json=body)
    second = client.post("/v1/dictionaries/return_reason/entries", headers=headers, json=body)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert _count(db, tenant.id, DictionaryEntry, dict_type="return_reason", code="late") == 1
    assert _count(db, tenant.id, OutboxEvent) == events_before + 1
    # Without the key the same request is a new request, and conflicts with the first.
    third = client.post("/v1/dictionaries/return_reason/entries", headers=tenant.admin, json=body)
    assert third.status_code == 409


def test_same_key_different_body_is_a_conflict(client: TestClient, tenant: Tenant) -> None:
    headers = {**tenant.admin, "Idempotency-Key": "key-1"}
    url = "/v1/dictionaries/return_reason/entries"
    assert client.post(url, headers=headers, json={"code": "a1", "label": "A"}).status_code == 201
    resp = client.post(url, headers=headers, json={"code": "a2", "label": "A"})
    assert resp.status_code == 409
    assert resp.json()["field"] == "Idempotency-Key"
    # Another path with the same key is a different request too.
    other = client.post("/v1/coding-rules/order/next", headers=headers)
    assert other.status_code == 409


def test_keys_belong_to_their_caller(client: TestClient, make_tenant) -> None:
    a: Tenant = make_tenant()
    b: Tenant = make_tenant()
    url = "/v1/dictionaries/return_reason/entries"
    body = {"code": "shared", "label": "same key, other tenant"}
    ra = client.post(url, headers={**a.admin, "Idempotency-Key": "k"}, json=body)
    rb = client.post(url, headers={**b.admin, "Idempotency-Key": "k"}, json=body)
    assert ra.status_code == rb.status_code == 201
    assert ra.json()["id"] != rb.json()["id"]


def test_a_failed_request_does_not_burn_its_key(client: TestClient, tenant: Tenant) -> None:
    headers = {**tenant.admin, "Idempotency-Key": "retry-me"}
    url = "/v1/org-units"
    bad = {
        "code": "BJ01",
        "name": "Beijing",
        "kind": "store",
        "parent_id": "01NOSUCHPARENT0000000000",
    }
    assert client.post(url, headers=headers, json=bad).status_code == 404
    good = {**bad, "parent_id": tenant.units["HQ"]}
    # A failed attempt stored nothing, but a fixed body is a different request: new key.
    resp = client.post(url, headers={**tenant.admin, "Idempotency-Key": "retry-2"}, json=good)
    assert resp.status_code == 201
    again = client.post(url, headers=headers, json=bad)
    assert again.status_code == 404


def test_concurrent_replays_do_the_work_once(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    headers = {**tenant.admin, "Idempotency-Key": "race-1"}
    body = {"code": "race", "label": "racing"}
    barrier = threading.Barrier(6)

    def send(_: int) -> tuple[int, str]:
        barrier.wait()
        r = client.post("/v1/dictionaries/adjustment_reason/entries", headers=headers, json=body)
        return r.status_code, r.text

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(send, range(6)))
    assert {s for s, _ in results} == {201}, results
    assert len({t for _, t in results}) == 1
    assert _count(db, tenant.id, DictionaryEntry, dict_type="adjustment_reason", code="race") == 1
