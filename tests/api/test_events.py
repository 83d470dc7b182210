"""The collector over HTTP: a batch keeps its good events and refuses each bad one with
its reason and field, counters show both, the ingester moves events into the warehouse
(chDB) once even when it is retried after a crash, and business events join them."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tenant
from zhongtai.data import warehouse
from zhongtai.data.collector import service
from zhongtai.data.oneid import service as oneid
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.ids import utcnow
from zhongtai.platform.outbox import Event, OutboxEvent
from zhongtai.platform.relay import Relay
from zhongtai.platform.tenancy import scope_session
from zhongtai.platform.uow import UnitOfWork


def at(delta: timedelta = timedelta(0)) -> str:
    return (utcnow() + delta).isoformat()


def event(type_: str = "product_view", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_,
        "time": at(),
        "anonymous_id": "c-1001",
        "channel": "mall",
        "properties": {"sku": "SKU-1"} if type_ == "product_view" else {},
    }
    body.update(over)
    return body


def stored(settings: Settings, tenant_id: str) -> list[dict[str, Any]]:
    wh = warehouse.of(settings)
    return wh.rows(
        f"SELECT type, actor, toString(time) AS time, sku, order_id, member_id, amount, source"
        f" FROM {wh.database}.events WHERE tenant_id = {{t:String}} ORDER BY time, type",
        {"t": tenant_id},
    )


def tally(client: TestClient, tenant: Tenant) -> dict[str, int]:
    stats = client.get("/v1/events/stats", headers=tenant.admin).json()
    return {s["outcome"]: s["count"] for s in stats}


def drain(db: Database) -> None:
    while service.ingest(db):
        pass


def test_a_batch_keeps_its_good_events_and_names_each_bad_one(
    client: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    late = at(-timedelta(days=3))
    batch = [
        event(),  # 0 good
        event("dance"),  # 1 unknown type
        event(properties={}),  # 2 product view without its sku
        event(anonymous_id="undefined"),  # 3 a junk identifier
        event(time=at(timedelta(days=1))),  # 4 a device clock in the future
        event("search", properties={"query": "milk"}, time=late),  # 5 good, three days late
        event(identities={"phone": "12"}),  # 6 a phone that is not one
        event(anonymous_id=None),  # 7 nobody to count it under
        event("add_to_cart", properties={"sku": "SKU-1", "qty": 0}),  # 8 zero quantity
        event("purchase", member="M1", properties={"order": "SO-1", "amount": 1990}),  # 9 good
        "not an object",  # 10
        event("search", properties={"query": "\ud800"}),  # 11 a lone surrogate
        event(identities={"email": "a\ud800b@x.cn"}),  # 12 one in an identifier
    ]
    tally_before = tally(client, tenant)
    # Sent as ASCII JSON text: the lone surrogate arrives as the escape "\\ud800".
    headers = {**tenant.admin, "Content-Type": "application/json"}
    resp = client.post("/v1/events", headers=headers, content=json.dumps({"events": batch}))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["accepted"] == 3 and len(body["ids"]) == 3
    refused = {r["index"]: r for r in body["rejected"]}
    assert sorted(refused) == [1, 2, 3, 4, 6, 7, 8, 10, 11, 12]
    fields = {i: {e["field"] for e in r["errors"]} for i, r in refused.items()}
    assert fields[1] == {"events[1].type"} and refused[1]["reason"] == "unknown_type"
    assert "events[2].properties.sku" in fields[2]
    assert fields[3] == {"events[3].anonymous_id"} and refused[3]["reason"] == "identifier"
    assert fields[4] == {"events[4].time"} and refused[4]["reason"] == "future"
    assert fields[6] == {"events[6].identities.phone"}
    assert fields[7] == {"events[7].anonymous_id"}
    assert "events[8].properties.qty" in fields[8]

    counts = tally(client, tenant)
    demo = counts.pop("accepted") - 3  # the demo tenant's own shoppers came first
    assert demo >= 0 and tally_before == {"accepted": demo}
    assert counts == {"unknown_type": 1, "invalid": 6, "identifier": 2, "future": 1}

    drain(db)
    rows = [r for r in stored(settings, tenant.id) if r["actor"] in ("cookie:c-1001", "member:M1")]
    assert [r["type"] for r in rows] == ["search", "product_view", "purchase"]
    assert rows[0]["time"].startswith(late[:10])  # placed by client time, not arrival
    assert rows[1]["actor"] == "cookie:c-1001" and rows[1]["sku"] == "SKU-1"
    assert rows[2]["actor"] == "member:M1" and rows[2]["amount"] == 1990


def test_oversized_batches_and_callers_without_the_permission_are_refused(
    client: TestClient, tenant: Tenant
) -> None:
    resp = client.post("/v1/events", headers=tenant.admin, json={"events": [event()] * 1001})
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["errors"][0]["field"] == "events"
    empty = client.post("/v1/events", headers=tenant.admin, json={"events": []})
    assert empty.status_code == 422
    headers = {**tenant.admin, "Content-Type": "application/json"}
    for body in (b"{", b'{"events": {"type": "search"}}', b"[]"):
        bad = client.post("/v1/events", headers=headers, content=body)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "events"
    assert (
        client.post("/v1/events", headers=tenant.manager, json={"events": [event()]}).status_code
        == 403
    )
    assert set(tally(client, tenant)) == {"accepted"}  # the demo's events only


def test_a_retried_batch_and_a_retried_ingest_store_each_event_once(
    client: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    headers = {**tenant.admin, "Idempotency-Key": "batch-1"}
    batch = {"events": [event(anonymous_id=f"c-{i}") for i in range(5)]}
    first = client.post("/v1/events", headers=headers, json=batch)
    again = client.post("/v1/events", headers=headers, json=batch)
    assert first.json() == again.json() and again.headers.get("Idempotent-Replayed") == "true"
    drain(db)  # earlier tests' leftovers go first, so the next batch is this test's alone
    client.post("/v1/events", headers=tenant.admin, json={"events": [event(anonymous_id="c-9")]})
    # The ingester dies after writing the warehouse and before clearing its batch:
    batch_id = service._take_batch(db)
    assert batch_id is not None
    rows = [{**e.row, "tenant_id": e.tenant_id} for e in service._inbox_events(db, batch_id)]
    warehouse.of(settings).insert("events", rows, token=batch_id)
    drain(db)  # the restarted ingester finds the batch and repeats it
    actors = sorted(
        r["actor"] for r in stored(settings, tenant.id) if r["actor"][:9] == "cookie:c-"
    )
    assert actors == sorted([f"cookie:c-{i}" for i in range(5)] + ["cookie:c-9"])


def test_business_events_reach_the_warehouse_beside_behaviour(
    client: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    member = client.post(
        "/v1/members", headers=tenant.admin, json={"channel": "mall", "phone": "13900000077"}
    ).json()
    asyncio.run(Relay(db, settings).run_until_idle())
    drain(db)
    rows = [r for r in stored(settings, tenant.id) if r["source"] == "business"]
    mine = [r for r in rows if r["member_id"] == member["id"]]
    assert [r["type"] for r in mine if r["type"] == "member.registered"] == ["member.registered"]
    assert mine[0]["actor"] == f"member:{member['id']}"
    # Delivery is at least once: the same event handed over again is not kept twice.
    with db.session(write=False) as session:
        scope_session(session, tenant.id)
        again = session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "member.registered")
        ).all()
    for row in again:
        service.keep_business_event(db, Event.of(row))
    drain(db)
    kept = [r for r in stored(settings, tenant.id) if r["type"] == "member.registered"]
    assert len(kept) == len(again)


def person_map(settings: Settings, tenant_id: str) -> dict[str, int]:
    wh = warehouse.of(settings)
    rows = wh.rows(
        f"SELECT actor, argMax(person, version) AS person FROM {wh.database}.person_map"
        " WHERE tenant_id = {t:String} GROUP BY actor",
        {"t": tenant_id},
    )
    return {r["actor"]: int(r["person"]) for r in rows}


def test_oneid_puts_a_shoppers_identifiers_and_events_together_and_splits_on_request(
    client: TestClient, make_tenant: Any, db: Database, settings: Settings
) -> None:
    tenant, other = make_tenant(), make_tenant()
    batch = [
        event(anonymous_id="c-77"),
        event(
            "purchase", member="M77", anonymous_id="c-77", properties={"order": "S", "amount": 5}
        ),
        event("search", device_id="d-77", anonymous_id="c-77", properties={"query": "tea"}),
    ]
    assert (
        client.post("/v1/events", headers=tenant.admin, json={"events": batch}).json()["accepted"]
        == 3
    )
    drain(db)
    found = client.get(
        "/v1/persons", headers=tenant.admin, params={"kind": "cookie", "value": "c-77"}
    )
    assert found.status_code == 200, found.text
    [one] = found.json()
    person = one["person"]
    kinds = {(i["kind"], i["value"]) for i in one["identities"]}
    assert kinds == {("cookie", "c-77"), ("member", "M77"), ("device", "d-77")}
    timeline = client.get(f"/v1/persons/{person}/events", headers=tenant.admin).json()
    assert sorted(e["type"] for e in timeline) == ["product_view", "purchase", "search"]
    mapped = person_map(settings, tenant.id)
    assert mapped["cookie:c-77"] == mapped["member:M77"] == mapped["device:d-77"] == person

    # Another tenant cannot see or split this person; the store manager may not read it.
    assert client.get(f"/v1/persons/{person}", headers=other.admin).status_code == 404
    split = {"kind": "device", "value": "d-77", "reason": "a shop's demo tablet"}
    refused = client.post(f"/v1/persons/{person}/split", headers=other.admin, json=split)
    assert refused.status_code == 404
    assert client.get(f"/v1/persons/{person}", headers=tenant.manager).status_code == 403
    junk = client.post(
        f"/v1/persons/{person}/split", headers=tenant.admin, json={**split, "value": "null"}
    )
    assert junk.status_code == 422 and junk.json()["errors"][0]["field"] == "value"

    done = client.post(f"/v1/persons/{person}/split", headers=tenant.admin, json=split)
    assert done.status_code == 200, done.text
    assert done.json()["history"][-1]["kind"] == "detached"
    assert ("device", "d-77") not in {(i["kind"], i["value"]) for i in done.json()["identities"]}
    tablet = client.get(
        "/v1/persons", headers=tenant.admin, params={"kind": "device", "value": "d-77"}
    )
    assert tablet.json()[0]["person"] != person
    drain(db)
    oneid.flush_mappings(db)
    assert person_map(settings, tenant.id)["device:d-77"] == tablet.json()[0]["person"]


def test_a_forgotten_member_leaves_no_personal_identifier_in_oneid(
    client: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    body = {"channel": "mall", "phone": "13900000088", "email": "gone@example.com"}
    member = client.post("/v1/members", headers=tenant.admin, json=body).json()
    asyncio.run(Relay(db, settings).run_until_idle())
    drain(db)
    lookup = {"kind": "phone", "value": "13900000088"}
    person = client.get("/v1/persons", headers=tenant.admin, params=lookup).json()[0]["person"]
    kinds = {
        i["kind"]
        for i in client.get(f"/v1/persons/{person}", headers=tenant.admin).json()["identities"]
    }
    assert {"member", "phone", "email"} <= kinds
    assert (
        client.post(f"/v1/members/{member['id']}/forget", headers=tenant.admin).status_code == 200
    )
    asyncio.run(Relay(db, settings).run_until_idle())
    drain(db)
    assert client.get("/v1/persons", headers=tenant.admin, params=lookup).json() == []
    after = client.get(f"/v1/persons/{person}", headers=tenant.admin).json()
    assert "13900000088" not in str(after) and "gone@example.com" not in str(after)
    assert after["history"][-1]["kind"] == "forgotten"


def test_a_member_merge_brings_the_merged_members_shopper_to_the_survivor(
    client: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    a, b = (
        client.post(
            "/v1/members", headers=tenant.admin, json={"channel": "mall", "phone": phone}
        ).json()
        for phone in ("13900000071", "13900000072")
    )
    batch = [
        event(member=a["id"], anonymous_id="c-71"),
        event(member=b["id"], anonymous_id="c-72"),
        event("search", anonymous_id="c-72", device_id="d-72", properties={"query": "tea"}),
    ]
    client.post("/v1/events", headers=tenant.admin, json={"events": batch})
    asyncio.run(Relay(db, settings).run_until_idle())
    drain(db)

    def person(kind: str, value: str) -> int:
        found = client.get(
            "/v1/persons", headers=tenant.admin, params={"kind": kind, "value": value}
        )
        return int(found.json()[0]["person"])

    assert person("member", b["id"]) != person("member", a["id"])
    merge = client.post(
        f"/v1/members/{a['id']}/merge", headers=tenant.admin, json={"source": b["id"]}
    )
    assert merge.status_code == 200, merge.text
    asyncio.run(Relay(db, settings).run_until_idle())
    drain(db)

    survivor = person("member", a["id"])
    theirs = [("member", b["id"]), ("cookie", "c-72"), ("device", "d-72"), ("phone", "13900000072")]
    assert {person(kind, value) for kind, value in theirs} == {survivor}
    timeline = client.get(f"/v1/persons/{survivor}/events", headers=tenant.admin).json()
    assert {e["type"] for e in timeline} >= {"product_view", "search", "member.merged"}
    history = client.get(f"/v1/persons/{survivor}", headers=tenant.admin).json()["history"]
    assert "merged" in [h["kind"] for h in history]
    with UnitOfWork(db, tenant.id, write=False) as uow:
        assert oneid.persons(uow) == oneid.rebuilt(uow)
