"""The tag centre and audiences over HTTP, on events that went through the collector and
OneID: rule, lifecycle, RFM and preference tags computed in the warehouse, a person's
tags, instant counts with breakdowns, saved audiences, CSV export and coupons for the
audience's members; bad definitions are refused naming the field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_events import at, drain
from tests.api.test_promotions import _valid, promotion
from tests.conftest import Tenant
from tests.support.relay import run_relay
from zhongtai.demo import DEMO_MEMBER
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database


def _member(client: TestClient, t: Tenant, phone: str) -> str:
    resp = client.post("/v1/members", headers=t.admin, json={"channel": "mall", "phone": phone})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _buy(member: str, order: str, amount: int, days_ago: int, **where: Any) -> dict[str, Any]:
    return {
        "type": "purchase",
        "time": at(-timedelta(days=days_ago)),
        "member": member,
        "channel": where.pop("channel", "pos"),
        "properties": {"order": order, "amount": amount, **where.pop("props", {})},
        **where,
    }


def _tag(client: TestClient, t: Tenant, code: str, kind: str, **params: Any) -> dict[str, Any]:
    body = {"code": code, "name": code, "kind": kind, "params": params}
    made = client.post("/v1/tags", headers=t.admin, json=body)
    assert made.status_code == 201, made.text
    done = client.post(f"/v1/tags/{code}/compute", headers=t.admin)
    assert done.status_code == 200, done.text
    return {v["value"]: v["persons"] for v in done.json()["values"]}


def test_tags_and_audiences_from_collected_events(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    a, b, c = (_member(client, tenant, f"1390000010{i}") for i in range(3))
    sku = client.get("/v1/skus", headers=tenant.admin, params={"limit": 1}).json()[0]
    product = client.get(f"/v1/products/{sku['product_id']}", headers=tenant.admin).json()
    category = client.get(f"/v1/categories/{product['category_id']}", headers=tenant.admin)
    category = category.json()["code"]
    events = [
        _buy(a, "O1", 5_000, 2, store="SH01", props={"sku": sku["code"]}),
        _buy(a, "O1", 5_000, 2, store="SH01"),  # the same order reported twice
        _buy(a, "O2", 3_000, 10, store="SH01"),
        _buy(a, "O3", 2_000, 40, store="BJ01", channel="mall"),
        _buy(b, "O4", 10_000, 50, store="BJ01"),
        {
            "type": "product_view",
            "time": at(),
            "member": c,
            "channel": "mall",
            "properties": {"sku": sku["code"]},
        },
        {
            "type": "product_view",
            "time": at(),
            "anonymous_id": "visitor-1",
            "channel": "mall",
            "properties": {"sku": sku["code"]},
        },
    ]
    events += [
        {
            "type": "group_joined",
            "time": at(),
            "member": m,
            "channel": "community",
            "properties": {"group": "G-test"},
        }
        for m in (a, b, c)
    ]
    sent = client.post("/v1/events", headers=tenant.admin, json={"events": events})
    assert sent.json()["accepted"] == len(events), sent.text
    drain(db)
    person = {
        m: client.get(
            "/v1/persons", headers=tenant.admin, params={"kind": "member", "value": m}
        ).json()[0]["person"]
        for m in (a, b, c)
    }

    def holds(m: str) -> set[tuple[str, str]]:
        got = client.get(f"/v1/persons/{person[m]}/tags", headers=tenant.admin)
        return {(h["tag"], h["value"]) for h in got.json()}

    # The demo tenant's standard tags (life, pref_store, rfm_r) are computed as they are.
    for code in ("life", "pref_store", "rfm_r"):
        assert client.post(f"/v1/tags/{code}/compute", headers=tenant.admin).status_code == 200
    _tag(client, tenant, "cohort", "rule", event_types=["group_joined"])
    _tag(
        client,
        tenant,
        "three_orders",
        "rule",
        event_types=["purchase"],
        window_days=60,
        min=3,
        max=3,
    )
    _tag(
        client,
        tenant,
        "spent_100",
        "rule",
        event_types=["purchase"],
        window_days=60,
        measure="amount",
        min=10_000,
    )
    _tag(client, tenant, "bought_category", "rule", event_types=["purchase"], categories=[category])
    held = {m: holds(m) for m in (a, b, c)}
    yes = {
        tag: {m for m in (a, b, c) if (tag, "yes") in held[m]}
        for tag in ("cohort", "three_orders", "spent_100", "bought_category")
    }
    assert yes == {
        "cohort": {a, b, c},
        "three_orders": {a},
        "spent_100": {a, b},
        "bought_category": {a},
    }
    assert ("life", "active") in held[a] and ("life", "dormant") in held[b]
    assert ("life", "prospect") in held[c]
    assert ("pref_store", "SH01") in held[a] and ("pref_store", "BJ01") in held[b]
    r = {m: int(v) for m in (a, b) for t, v in held[m] if t == "rfm_r"}
    assert r[a] > r[b]  # a bought more recently

    cohort = {"tag": "cohort"}
    loyal = {
        "and": [cohort, {"tag": "life", "value": "active"}, {"tag": "pref_store", "value": "SH01"}]
    }
    counted = client.post(
        "/v1/audiences/count",
        headers=tenant.admin,
        json={
            "expression": {"or": [loyal, {"and": [cohort, {"tag": "spent_100"}]}]},
            "breakdown": "life",
        },
    )
    assert counted.status_code == 200, counted.text
    assert counted.json()["persons"] == 2
    by_life = {x["value"]: x["persons"] for x in counted.json()["breakdown"]}
    assert by_life["active"] == 1 and by_life["dormant"] == 1 and sum(by_life.values()) == 2
    outside = client.post(
        "/v1/audiences/count",
        headers=tenant.admin,
        json={"expression": {"and": [cohort, {"not": {"tag": "life"}}]}},
    )
    assert outside.json()["persons"] == 0  # everyone known has a lifecycle value

    saved = client.post(
        "/v1/audiences",
        headers=tenant.admin,
        json={"code": "loyal_sh01", "name": "Loyal at SH01", "expression": loyal},
    )
    assert saved.status_code == 201 and saved.json()["persons"] == 1
    assert client.get("/v1/audiences/loyal_sh01", headers=tenant.admin).json()["persons"] == 1
    csv = client.get("/v1/audiences/loyal_sh01/export", headers=tenant.admin)
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == ["person,members", f"{person[a]},{a}"]

    profile = client.get(f"/v1/persons/{person[a]}/profile", headers=tenant.admin).json()
    assert [m["id"] for m in profile["members"]] == [a]
    assert "loyal_sh01" in profile["audiences"]
    assert {("life", "active"), ("cohort", "yes")} <= {
        (t["tag"], t["value"]) for t in profile["tags"]
    }
    assert {e["order_id"] for e in profile["timeline"] if e["type"] == "purchase"} == {
        "O1",
        "O2",
        "O3",
    }

    promotion(client, tenant, "AUD10", "amount_off", benefit={"amount": 1_000}, coupon_only=True)
    template = {"code": "TAUD", "name": "10 off", "promotion": "AUD10", "total": 5, **_valid()}
    assert (
        client.post("/v1/coupon-templates", headers=tenant.admin, json=template).status_code == 201
    )
    handed = client.post(
        "/v1/audiences/loyal_sh01/coupons", headers=tenant.admin, json={"template": "TAUD"}
    )
    assert handed.status_code == 200, handed.text
    assert handed.json() == {"members": 1, "issued": 1, "skipped": 0}
    coupons = client.get("/v1/coupons", headers=tenant.admin, params={"member": a}).json()
    assert len(coupons) == 1


def test_bad_tag_definitions_and_audiences_are_refused(client: TestClient, tenant: Tenant) -> None:
    def post(path: str, body: dict[str, Any]) -> Any:
        return client.post(path, headers=tenant.admin, json=body)

    base = {"code": "t1", "name": "t", "kind": "rule"}
    cases = [
        ({**base, "params": {}}, "params.event_types"),
        ({**base, "params": {"event_types": ["purchase"], "min": 5, "max": 1}}, "params"),
        (
            {**base, "params": {"event_types": ["x"], "categories": ["NO-SUCH"]}},
            "params.categories",
        ),
        ({**base, "kind": "lifecycle", "params": {"lost_days": 10}}, "params"),
        ({**base, "params": {"event_types": ["x"], "min": 3}, "realtime": True}, "realtime"),
        ({**base, "code": "Bad Code", "params": {"event_types": ["x"]}}, "code"),
    ]
    for body, field in cases:
        resp = post("/v1/tags", body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["errors"][0]["field"].startswith(field), resp.text
    assert post("/v1/tags", {**base, "params": {"event_types": ["x"]}}).status_code == 201
    assert post("/v1/tags", {**base, "params": {"event_types": ["x"]}}).status_code == 409
    unknown = post("/v1/audiences/count", {"expression": {"tag": "nope"}})
    assert unknown.status_code == 404
    assert (
        post(
            "/v1/audiences", {"code": "a1", "name": "a", "expression": {"tag": "nope"}}
        ).status_code
        == 422
    )
    loop = post("/v1/audiences", {"code": "a2", "name": "a", "expression": {"audience": "a2"}})
    assert loop.status_code in (404, 422)
    assert client.get("/v1/audiences/none", headers=tenant.admin).status_code == 404
    assert client.get("/v1/tags", headers=tenant.manager).status_code == 403


def test_a_realtime_tag_gains_persons_as_their_events_arrive(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    body = {
        "code": "joined",
        "name": "Joined a group",
        "kind": "rule",
        "realtime": True,
        "params": {"event_types": ["group_joined"], "channels": ["community"]},
    }
    assert client.post("/v1/tags", headers=tenant.admin, json=body).status_code == 201
    joined = [
        {
            "type": "group_joined",
            "time": at(),
            "anonymous_id": f"rt-{i}",
            "channel": channel,
            "properties": {"group": "G1"},
        }
        for i, channel in enumerate(["community", "community", "mall"])
    ]
    client.post("/v1/events", headers=tenant.admin, json={"events": joined})
    drain(db)  # no computation asked for: the ingester adds them
    tag = client.get("/v1/tags/joined", headers=tenant.admin).json()
    assert tag["computed_day"] is None and tag["values"] == [{"value": "yes", "persons": 2}]
    done = client.post("/v1/tags/joined/compute", headers=tenant.admin).json()
    assert done["values"] == [{"value": "yes", "persons": 2}]  # the daily run agrees


def test_a_members_profile_shows_their_orders_and_points(
    client: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    run_relay(db, settings)  # the demo member's registration and orders reach OneID
    [member] = client.get("/v1/members", headers=tenant.admin, params={"q": DEMO_MEMBER}).json()
    lookup = {"kind": "member", "value": member["id"]}
    [person] = client.get("/v1/persons", headers=tenant.admin, params=lookup).json()
    profile = client.get(f"/v1/persons/{person['person']}/profile", headers=tenant.admin)
    assert profile.status_code == 200, profile.text
    body = profile.json()
    assert body["members"][0]["points"] == member["points_balance"] > 0
    assert len(body["orders"]) >= 1 and all(o["total"] > 0 for o in body["orders"])
    kinds = {i["kind"] for i in body["person"]["identities"]}
    assert {"member", "phone", "email", "union_id"} <= kinds
    assert {e["type"] for e in body["timeline"]} >= {"order.created", "member.registered"}
