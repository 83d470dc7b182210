"""Webhooks (signed, retried, dead-lettered) and NATS JetStream, against real servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import nats
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.conftest import Tenant
from tests.support.relay import run_relay
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.outbox import OutboxEvent
from zhongtai.platform.uow import UnitOfWork
from zhongtai.platform.webhooks import SIGNATURE_HEADER, verify

NATS_URL = os.environ.get("ZT_TEST_NATS_URL", "nats://127.0.0.1:4222")


class Receiver:
    """A partner's endpoint on 127.0.0.1 that records what it gets."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, type_: str) -> list[dict[str, Any]]:
        out = [json.loads(body) for _h, body in self.received]
        return [e for e in out if e["type"] == type_]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _emit(db: Database, tenant_id: str, type_: str, payload: dict[str, Any]) -> None:
    with UnitOfWork(db, tenant_id) as uow:
        uow.emit(type_, payload)
        uow.commit()


def test_webhooks_arrive_signed_and_filtered(
    client: TestClient, db: Database, settings: Settings, tenant: Tenant, receiver: Receiver
) -> None:
    hook = client.post(
        "/v1/webhooks",
        headers=tenant.admin,
        json={"url": receiver.url, "event_types": ["hook_test.wanted"]},
    ).json()
    _emit(db, tenant.id, "hook_test.wanted", {"order": "SO1"})
    _emit(db, tenant.id, "hook_test.unwanted", {"order": "SO2"})
    run_relay(db, settings)
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert verify(hook["secret"], headers[SIGNATURE_HEADER], body)
    event = json.loads(body)
    assert event["type"] == "hook_test.wanted" and event["data"] == {"order": "SO1"}
    assert event["tenant_id"] == tenant.id and event["version"] == 1
    assert headers["Zhongtai-Event-Id"] == event["id"]
    deliveries = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=tenant.admin).json()
    assert [d["status"] for d in deliveries] == ["delivered"]


def test_failing_endpoints_are_retried_then_dead_lettered_then_replayed(
    client: TestClient, db: Database, settings: Settings, tenant: Tenant, receiver: Receiver
) -> None:
    receiver.status = 503
    hook = client.post(
        "/v1/webhooks",
        headers=tenant.admin,
        json={"url": receiver.url, "event_types": ["hook_test.flaky"]},
    ).json()
    _emit(db, tenant.id, "hook_test.flaky", {"n": 1})
    run_relay(db, settings)
    attempts = receiver.events("hook_test.flaky")
    assert len(attempts) == settings.webhook_max_attempts
    url = f"/v1/webhooks/{hook['id']}/deliveries?status=dead"
    dead = client.get(url, headers=tenant.admin).json()
    assert len(dead) == 1 and dead[0]["last_status"] == 503
    assert dead[0]["attempts"] == settings.webhook_max_attempts

    receiver.status = 200
    retry = client.post(f"/v1/webhook-deliveries/{dead[0]['id']}/retry", headers=tenant.admin)
    assert retry.status_code == 200 and retry.json()["status"] == "pending"
    run_relay(db, settings)
    assert len(receiver.events("hook_test.flaky")) == settings.webhook_max_attempts + 1
    done = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=tenant.admin).json()
    assert done[0]["status"] == "delivered"
    again = client.post(f"/v1/webhook-deliveries/{dead[0]['id']}/retry", headers=tenant.admin)
    assert again.status_code == 409


def test_inactive_webhooks_receive_nothing(
    client: TestClient, db: Database, settings: Settings, tenant: Tenant, receiver: Receiver
) -> None:
    hook = client.post("/v1/webhooks", headers=tenant.admin, json={"url": receiver.url}).json()
    off = client.patch(f"/v1/webhooks/{hook['id']}", headers=tenant.admin, json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    _emit(db, tenant.id, "hook_test.silent", {})
    run_relay(db, settings)
    assert receiver.events("hook_test.silent") == []


def test_webhook_urls_are_validated(client: TestClient, tenant: Tenant) -> None:
    resp = client.post("/v1/webhooks", headers=tenant.admin, json={"url": "ftp://x/y"})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "url"


async def _read_subject(subject: str, expect: int) -> list[dict[str, Any]]:
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    sub = await js.pull_subscribe(subject, durable=None)
    msgs = []
    try:
        while True:  # fetch until the stream has nothing more for this subject
            msgs += await sub.fetch(expect + 5, timeout=1)
    except nats.errors.TimeoutError:
        pass
    await nc.close()
    return [json.loads(m.data) for m in msgs]


async def _drop_stream(stream: str) -> None:
    nc = await nats.connect(NATS_URL)
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await nc.jetstream().delete_stream(stream)
    await nc.close()


def test_events_reach_nats_jetstream_once_each(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    stream = f"ZT_TEST_{uuid.uuid4().hex[:8].upper()}"
    nats_settings = replace(settings, nats_url=NATS_URL, nats_stream=stream)
    try:
        _emit(db, tenant.id, "nats_test.sent", {"n": 1})
        _emit(db, tenant.id, "nats_test.sent", {"n": 2})
        run_relay(db, nats_settings)
        # Redeliver everything of this tenant: JetStream drops duplicates by event id.
        with UnitOfWork(db, tenant.id) as uow:
            uow.session.execute(update(OutboxEvent).values(dispatched_at=None))
            uow.commit()
        run_relay(db, nats_settings)
        got = asyncio.run(_read_subject(f"zt.{tenant.id}.nats_test.sent", 2))
    finally:
        asyncio.run(_drop_stream(stream))
    assert sorted(e["data"]["n"] for e in got) == [1, 2]
    assert all(e["tenant_id"] == tenant.id for e in got)


def test_an_event_dispatched_twice_is_delivered_to_a_webhook_once(
    client: TestClient, db: Database, settings: Settings, tenant: Tenant, receiver: Receiver
) -> None:
    client.post(
        "/v1/webhooks",
        headers=tenant.admin,
        json={"url": receiver.url, "event_types": ["hook_test.twice"]},
    )
    _emit(db, tenant.id, "hook_test.twice", {})
    run_relay(db, settings)
    with UnitOfWork(db, tenant.id) as uow:
        uow.session.execute(update(OutboxEvent).values(dispatched_at=None))
        uow.commit()
    run_relay(db, settings)
    assert len(receiver.events("hook_test.twice")) == 1
