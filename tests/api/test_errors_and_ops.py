"""Problem details for every error; health, readiness, metrics, request ids, JSON logs."""

from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient

from tests.conftest import Tenant
from zhongtai.platform.observability import JsonFormatter, request_id_var

PROBLEM = "application/problem+json"


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    resp = client.get("/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["type"] == "not-found"


def test_wrong_method_is_a_405_problem(client: TestClient) -> None:
    resp = client.delete("/v1/org-units")
    assert resp.status_code == 405
    assert resp.json()["type"] == "method-not-allowed"


def test_malformed_json_is_a_400_problem(client: TestClient, tenant: Tenant) -> None:
    resp = client.post(
        "/v1/org-units",
        headers={**tenant.admin, "Content-Type": "application/json"},
        content=b'{"code": ',
    )
    assert resp.status_code == 400
    assert resp.json()["type"] == "malformed-request"
    assert resp.json()["errors"][0]["field"] == "body"


def test_validation_errors_name_each_field(client: TestClient, tenant: Tenant) -> None:
    resp = client.post(
        "/v1/org-units",
        headers=tenant.admin,
        json={"code": "has space", "name": "", "kind": "castle", "parent_id": tenant.units["HQ"]},
    )
    assert resp.status_code == 422
    body = resp.json()
    assert body["type"] == "validation-error"
    assert {e["field"] for e in body["errors"]} == {"code", "name", "kind"}
    assert "Traceback" not in resp.text


def test_rule_violations_name_the_field(client: TestClient, tenant: Tenant) -> None:
    resp = client.post(
        "/v1/org-units",
        headers=tenant.admin,
        json={"code": "R9", "name": "Region", "kind": "region", "parent_id": tenant.units["SH01"]},
    )
    assert resp.status_code == 422
    assert resp.json()["errors"] == [{"field": "kind", "message": "a store cannot hold a region"}]
    rule = client.post(
        "/v1/coding-rules",
        headers=tenant.admin,
        json={"kind": "order", "prefix": "SO", "date_format": "", "reset": "daily"},
    )
    assert rule.status_code == 422 and rule.json()["errors"][0]["field"] == "reset"


def test_duplicates_are_409_conflicts(client: TestClient, tenant: Tenant) -> None:
    body = {"code": "SH01", "name": "again", "kind": "store", "parent_id": tenant.units["EAST"]}
    resp = client.post("/v1/org-units", headers=tenant.admin, json=body)
    assert resp.status_code == 409
    assert resp.json()["field"] == "code"


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    client.get("/v1/no-such-thing")
    metrics = client.get("/metrics").text
    assert "zt_http_requests_total" in metrics
    assert 'route="unmatched"' in metrics or 'status="404"' in metrics


def test_request_ids_are_echoed_or_made(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/v1/nothing-here")
    assert len(made.headers["x-request-id"]) == 26
    assert made.json()["request_id"] == made.headers["x-request-id"]


def test_log_lines_are_json_with_the_request_id() -> None:
    token = request_id_var.set("req-42")
    try:
        record = logging.LogRecord("zhongtai.test", logging.INFO, "", 0, "hello %s", ("you",), None)
        record.status = 201
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "hello you"
    assert line["request_id"] == "req-42"
    assert line["status"] == 201 and line["level"] == "info"


def test_mutations_are_audited_with_before_and_after(client: TestClient, tenant: Tenant) -> None:
    unit = tenant.units["SH02"]
    resp = client.patch(
        f"/v1/org-units/{unit}",
        headers={**tenant.admin, "Idempotency-Key": "audit-1", "X-Request-ID": "req-audit-1"},
        json={"name": "浦东旗舰店 Pudong flagship"},
    )
    assert resp.status_code == 200
    entries = client.get("/v1/audit-log?limit=500", headers=tenant.admin).json()
    entry = next(e for e in entries if e["request_id"] == "req-audit-1")
    assert entry["action"] == "update_org_unit" and entry["method"] == "PATCH"
    assert entry["target_ids"][0] == unit and entry["idempotency_key"] == "audit-1"
    change = next(c for c in entry["changes"] if c["entity"] == "org_unit")
    assert change["before"]["name"] == "上海浦东店 Shanghai Pudong"
    assert change["after"]["name"] == "浦东旗舰店 Pudong flagship"
    me = client.get("/v1/me", headers=tenant.admin).json()
    assert entry["actor_id"] == me["actor_id"]


def test_secrets_never_reach_the_audit_log(client: TestClient, tenant: Tenant) -> None:
    resp = client.post(
        "/v1/staff",
        headers={**tenant.admin, "X-Request-ID": "req-audit-2"},
        json={
            "username": "audited",
            "display_name": "A",
            "password": "abcd1234",
            "org_unit_id": tenant.units["SH01"],
        },
    )
    assert resp.status_code == 201
    entries = client.get("/v1/audit-log?limit=500", headers=tenant.admin).json()
    entry = next(e for e in entries if e["request_id"] == "req-audit-2")
    assert entry["changes"][0]["after"]["username"] == "audited"
    assert "password_hash" not in json.dumps(entry)


def test_refused_changes_are_audited_too(client: TestClient, tenant: Tenant) -> None:
    resp = client.post(
        "/v1/staff",
        headers={**tenant.manager, "X-Request-ID": "req-audit-3"},
        json={
            "username": "x1",
            "display_name": "x",
            "password": "abcd1234",
            "org_unit_id": tenant.units["GZ01"],
        },
    )
    assert resp.status_code == 422
    entries = client.get("/v1/audit-log?limit=500", headers=tenant.admin).json()
    entry = next(e for e in entries if e["request_id"] == "req-audit-3")
    assert entry["status_code"] == 422 and entry["changes"] == []
