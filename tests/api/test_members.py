"""The member centre over HTTP and in the order centre's transactions: registration and
identities, points earned, spent as a tender, taken back and given back with returns,
tiers up at once and down at review, merges that keep every point and order, forgetting,
tickets and the 360 view; bad input is refused naming the field and records nothing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.api.test_orders import _priced
from tests.api.test_promotions import _valid, window
from tests.api.test_promotions import order as place_order
from tests.api.test_returns import _through
from tests.conftest import Tenant
from zhongtai.members import service, workflows
from zhongtai.members.model import ZONE
from zhongtai.members.store import Member, PointsLot
from zhongtai.platform.db import Database
from zhongtai.platform.ids import utcnow
from zhongtai.platform.outbox import OutboxEvent
from zhongtai.platform.uow import UnitOfWork


def _member(client: TestClient, t: Tenant, **body: Any) -> dict[str, Any]:
    resp = client.post("/v1/members", headers=t.admin, json={"channel": "mall", **body})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _order(client: TestClient, t: Tenant, member: str, sku: str, qty: int, **f: Any) -> dict:
    fulfilment = f or {"type": "in_store", "location": "SH01"}
    body = {
        "channel": "pos" if fulfilment["type"] == "in_store" else "mall",
        "member": member,
        "lines": [{"sku": sku, "qty": qty}],
        "fulfilment": fulfilment,
    }
    resp = client.post("/v1/orders", headers=t.admin, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _pay(client: TestClient, t: Tenant, order_id: str, **body: Any):
    return client.post(f"/v1/orders/{order_id}/payments", headers=t.admin, json=body)


def _points(client: TestClient, t: Tenant, member_id: str) -> dict[str, Any]:
    """The member's points, checked: the ledger sums to the balance, the lots hold it."""
    got = client.get(f"/v1/members/{member_id}/points", headers=t.admin, params={"limit": 200})
    assert got.status_code == 200, got.text
    points = got.json()
    assert sum(e["points"] for e in points["entries"]) == points["balance"]
    assert sum(x["remaining"] for x in points["lots"]) == max(points["balance"], 0)
    return points


def _adjust(client: TestClient, t: Tenant, member_id: str, points: int) -> None:
    url = f"/v1/members/{member_id}/points/adjustments"
    resp = client.post(url, headers=t.admin, json={"points": points, "reason": "goodwill"})
    assert resp.status_code == 201, resp.text


def _tiers(client: TestClient, t: Tenant) -> None:
    for code, rank, spend, discount, free in (
        ("regular", 0, None, 0, False),
        ("silver", 1, 10_000, 300, False),
        ("gold", 2, 50_000, 800, True),
    ):
        body = {
            "name": code,
            "rank": rank,
            "min_spend": spend,
            "discount_bp": discount,
            "free_delivery": free,
        }
        resp = client.put(f"/v1/member-tiers/{code}", headers=t.admin, json=body)
        assert resp.status_code == 200, resp.text


def _field(resp: Any) -> str:
    """The field a refusal names: 422s list errors, 409s carry one `field`."""
    body = resp.json()
    return str(body["field"] if "field" in body else body["errors"][0]["field"])


def test_members_register_in_any_channel_and_are_found_by_any_identity(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    _tiers(client, tenant)
    m = _member(
        client,
        tenant,
        channel="pos",
        store="SH01",
        name="李雷",
        phone="+86 139-1111-0001",
        email="Li.Lei@Example.com",
        wechat_union_id="oUnion-li",
        consents=[{"purpose": "marketing_sms", "granted": True}],
    )
    assert m["code"].startswith("M") and m["tier"] == "regular" and m["points_balance"] == 0
    assert m["store_id"] == tenant.units["SH01"]
    assert {(x["kind"], x["value"]) for x in m["identities"]} == {
        ("phone", "13911110001"),
        ("email", "li.lei@example.com"),
        ("wechat_union", "oUnion-li"),
    }
    assert [(c["purpose"], c["granted"]) for c in m["consents"]] == [("marketing_sms", True)]
    for ref in ("13911110001", "+8613911110001", "LI.LEI@example.com", "oUnion-li", m["code"]):
        found = client.get("/v1/members", headers=tenant.admin, params={"q": ref}).json()
        assert [x["id"] for x in found] == [m["id"]], ref
    with UnitOfWork(db, tenant.id) as uow:
        profile = service.profile(uow, "139 1111 0001")
        assert profile is not None and (profile.member_id, profile.tier) == (m["id"], "regular")
        assert service.profile(uow, "13999999999") is None
    added = client.post(
        f"/v1/members/{m['id']}/identities",
        headers=tenant.admin,
        json={"kind": "wechat_open", "value": "oOpen-li"},
    )
    assert added.status_code == 201 and len(added.json()["identities"]) == 4
    withdrawn = client.post(
        f"/v1/members/{m['id']}/consents",
        headers=tenant.admin,
        json={"purpose": "marketing_sms", "granted": False, "channel": "mall"},
    )
    assert withdrawn.json()["consents"][0]["granted"] is False  # the latest holds
    patched = client.patch(
        f"/v1/members/{m['id']}", headers=tenant.admin, json={"birthday": "1990-02-03"}
    )
    assert patched.json()["birthday"] == "1990-02-03" and patched.json()["name"] == "李雷"


def test_bad_and_duplicate_identities_are_refused_and_nothing_is_recorded_twice(
    client: TestClient, tenant: Tenant
) -> None:
    m = _member(client, tenant, phone="13922220001")
    before = client.get("/v1/members", headers=tenant.admin).json()
    cases = [
        ({"phone": "139-2222-0001"}, 409, "phone"),
        ({"email": "not-an-address"}, 422, "email"),
        ({"name": "nobody"}, 422, "phone"),
        ({"phone": "13922220002", "channel": "teleport"}, 422, "channel"),
    ]
    for body, status, field in cases:
        resp = client.post("/v1/members", headers=tenant.admin, json={"channel": "mall", **body})
        assert resp.status_code == status and _field(resp) == field, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert client.get("/v1/members", headers=tenant.admin).json() == before
    other = _member(client, tenant, email="other@example.com")
    taken = client.post(
        f"/v1/members/{other['id']}/identities",
        headers=tenant.admin,
        json={"kind": "phone", "value": "13922220001"},
    )
    assert taken.status_code == 409 and _field(taken) == "value"
    again = client.post(
        f"/v1/members/{m['id']}/identities",
        headers=tenant.admin,
        json={"kind": "phone", "value": "+86 13922220001"},
    )
    assert again.status_code == 201 and len(again.json()["identities"]) == 1
    key = {**tenant.admin, "Idempotency-Key": "reg-1"}
    body = {"channel": "mall", "phone": "13922220003"}
    first = client.post("/v1/members", headers=key, json=body)
    replay = client.post("/v1/members", headers=key, json=body)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"


def test_a_paid_order_earns_points_by_the_rules_and_lifts_the_tier_at_once(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    _tiers(client, tenant)
    _priced(client, tenant, "MEM-A", 5_050, SH01=10)  # category "inv"
    m = _member(client, tenant, phone="13933330001")
    order = _order(client, tenant, "13933330001", "MEM-A", 2)  # 101.00: silver's 100.00
    assert _pay(client, tenant, order["id"], provider="cash").status_code == 201
    points = _points(client, tenant, m["id"])
    assert points["balance"] == 101  # a point a yuan
    [earned] = points["entries"]
    assert (earned["kind"], earned["order_id"]) == ("earn", order["id"])
    [lot] = points["lots"]
    assert lot["expires_at"] > (utcnow() + timedelta(days=330)).isoformat()
    assert client.get(f"/v1/members/{m['id']}", headers=tenant.admin).json()["tier"] == "silver"
    rule = {"points_per_yuan": 3, "category": "inv"}
    resp = client.put("/v1/points/rules/inv_triple", headers=tenant.admin, json=rule)
    assert resp.status_code == 200, resp.text
    bad = client.put("/v1/points/rules/x", headers=tenant.admin, json={**rule, "category": "no"})
    assert bad.status_code == 422 and _field(bad) == "category"
    second = _order(client, tenant, "13933330001", "MEM-A", 1)  # silver's 3% off at checkout
    assert second["total"] == 5_050 - 151  # 151.5 rounded down
    _pay(client, tenant, second["id"], provider="cash")
    assert _points(client, tenant, m["id"])["balance"] == 101 + 146  # 48.98 x 3, rounded down
    with UnitOfWork(db, tenant.id) as uow:
        profile = service.profile(uow, m["code"])
        assert profile is not None
        assert (profile.tier, profile.discount_bp, profile.free_delivery) == ("silver", 300, False)
    events = [e for e in _events(db, tenant, "member.tier_changed") if e["id"] == m["id"]]
    assert [(e["from"], e["to"]) for e in events] == [(None, "regular"), ("regular", "silver")]
    stranger = _order(client, tenant, "13933339999", "MEM-A", 1)  # not a member
    assert _pay(client, tenant, stranger["id"], provider="cash").status_code == 201


def _events(db: Database, t: Tenant, kind: str) -> list[dict[str, Any]]:
    with UnitOfWork(db, t.id) as uow:
        query = select(OutboxEvent).where(OutboxEvent.type == kind).order_by(OutboxEvent.id)
        return [e.payload for e in uow.session.scalars(query)]


def test_returned_units_take_back_their_points_and_the_review_brings_the_tier_down(
    client: TestClient, tenant: Tenant
) -> None:
    _tiers(client, tenant)
    _priced(client, tenant, "MEM-R", 3_333, SH01=10)
    m = _member(client, tenant, phone="13944440001")
    order = _order(client, tenant, "13944440001", "MEM-R", 3)  # 99.99: 99 points
    _pay(client, tenant, order["id"], provider="cash")
    assert _points(client, tenant, m["id"])["balance"] == 99
    for qty, balance in ((1, 66), (2, 0)):  # 33 back, then the rest: exactly 99
        ret = client.post(
            f"/v1/orders/{order['id']}/returns",
            headers=tenant.admin,
            json={"reason": "changed_mind", "lines": [{"line_no": 1, "qty": qty}]},
        ).json()
        _through(client, tenant, ret["id"], "SH01", "restock")
        assert _points(client, tenant, m["id"])["balance"] == balance
    url = f"/v1/members/{m['id']}"
    assert client.get(url, headers=tenant.admin).json()["tier"] == "regular"  # never reached
    big = _order(client, tenant, "13944440001", "MEM-R", 6)  # 199.98: silver at once
    _pay(client, tenant, big["id"], provider="cash")
    assert client.get(url, headers=tenant.admin).json()["tier"] == "silver"
    ret = client.post(
        f"/v1/orders/{big['id']}/returns",
        headers=tenant.admin,
        json={"reason": "changed_mind", "lines": [{"line_no": 1, "qty": 5}]},
    ).json()
    _through(client, tenant, ret["id"], "SH01", "restock")
    assert client.get(url, headers=tenant.admin).json()["tier"] == "silver"  # until review
    reviewed = client.post(f"{url}/tier-review", headers=tenant.admin)
    assert reviewed.status_code == 200 and reviewed.json()["tier"] == "regular"


def test_points_pay_at_checkout_and_come_back_with_a_refund(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "MEM-P", 2_000, SH01=10, DC_EAST=10)
    m = _member(client, tenant, phone="13955550001")
    _adjust(client, tenant, m["id"], 1_000)
    order = _order(client, tenant, "13955550001", "MEM-P", 1)
    too_much = _pay(client, tenant, order["id"], provider="points", amount=1_500)
    assert too_much.status_code == 409 and too_much.json()["type"] == "not-enough-points"
    assert _field(too_much) == "amount"
    later = _pay(client, tenant, order["id"], provider="points", amount=100, capture=False)
    assert later.status_code == 422 and _field(later) == "capture"
    payments = client.get(f"/v1/orders/{order['id']}/payments", headers=tenant.admin).json()
    assert payments == [] and _points(client, tenant, m["id"])["balance"] == 1_000
    paid = _pay(client, tenant, order["id"], provider="points", amount=500)
    assert paid.status_code == 201 and paid.json()["provider"] == "points"
    _pay(client, tenant, order["id"], provider="cash")
    points = _points(client, tenant, m["id"])
    assert points["balance"] == 1_000 - 500 + 15  # the 15.00 paid in cash earns 15
    assert [e["kind"] for e in points["entries"]] == ["earn", "burn", "adjust"]
    ret = client.post(
        f"/v1/orders/{order['id']}/returns",
        headers=tenant.admin,
        json={"reason": "changed_mind", "lines": [{"line_no": 1, "qty": 1}]},
    ).json()
    _through(client, tenant, ret["id"], "SH01", "restock")
    points = _points(client, tenant, m["id"])
    assert points["balance"] == 1_000  # 500 given back, 15 taken back
    assert [e["kind"] for e in points["entries"][:2]] == ["reverse", "restore"]
    cancelled = _order(client, tenant, "13955550001", "MEM-P", 1, type="delivery")
    _pay(client, tenant, cancelled["id"], provider="points", amount=1_000)
    _pay(client, tenant, cancelled["id"], provider="cash")
    assert _points(client, tenant, m["id"])["balance"] == 10
    resp = client.post(f"/v1/orders/{cancelled['id']}/cancel", headers=tenant.admin, json={})
    assert resp.status_code == 200, resp.text
    assert _points(client, tenant, m["id"])["balance"] == 1_000
    stranger = _order(client, tenant, "13955559999", "MEM-P", 1)
    refused = _pay(client, tenant, stranger["id"], provider="points", amount=100)
    assert refused.status_code == 422 and _field(refused) == "provider"


def test_concurrent_burns_never_overdraw_a_member(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "MEM-C", 6_000, SH01=20)
    m = _member(client, tenant, phone="13966660001")
    _adjust(client, tenant, m["id"], 100)
    start = threading.Barrier(8)

    def redeem(_n: int) -> int:
        start.wait()
        url = f"/v1/members/{m['id']}/points/redemptions"
        body = {"points": 40, "reason": "gift"}
        return client.post(url, headers=tenant.admin, json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(redeem, range(8)))
    assert sorted(codes) == [201] * 2 + [409] * 6
    assert _points(client, tenant, m["id"])["balance"] == 20
    _adjust(client, tenant, m["id"], 80)  # 100 again
    orders = [_order(client, tenant, "13966660001", "MEM-C", 1) for _ in range(4)]
    start = threading.Barrier(4)

    def tender(order: dict[str, Any]) -> int:
        start.wait()
        return _pay(client, tenant, order["id"], provider="points", amount=60).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(tender, orders))
    assert sorted(codes) == [201] + [409] * 3
    assert _points(client, tenant, m["id"])["balance"] == 40


def test_a_merge_keeps_every_point_order_and_identity_and_is_audited(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    _tiers(client, tenant)
    _priced(client, tenant, "MEM-M", 12_000, SH01=10)
    a = _member(client, tenant, phone="13977770001", name="韩梅梅")
    b = _member(
        client, tenant, channel="community", wechat_open_id="oOpen-han", birthday="1991-07-01"
    )
    _adjust(client, tenant, a["id"], 300)
    _adjust(client, tenant, b["id"], 200)
    mine = _order(client, tenant, "13977770001", "MEM-M", 1)
    theirs = _order(client, tenant, "oOpen-han", "MEM-M", 1)
    for order in (mine, theirs):
        _pay(client, tenant, order["id"], provider="cash")
    b_lots = _points(client, tenant, b["id"])["lots"]
    ticket = client.post(
        "/v1/tickets", headers=tenant.admin, json={"subject": "where is it", "member": "oOpen-han"}
    ).json()
    merged = client.post(
        f"/v1/members/{a['id']}/merge", headers=tenant.admin, json={"source": b["id"]}
    )
    assert merged.status_code == 200, merged.text
    audit = merged.json()
    assert (audit["target_id"], audit["source_id"]) == (a["id"], b["id"])
    assert audit["moved"]["orders"] == 1 and audit["moved"]["points"] == 320
    points = _points(client, tenant, a["id"])
    assert points["balance"] == 300 + 120 + 200 + 120
    assert {(x["remaining"], x["expires_at"]) for x in b_lots} <= {
        (x["remaining"], x["expires_at"]) for x in points["lots"]
    }  # the lots kept their expiry
    assert _points(client, tenant, b["id"])["balance"] == 0
    view = client.get(f"/v1/members/{a['id']}/360", headers=tenant.admin).json()
    assert {o["id"] for o in view["orders"]} == {mine["id"], theirs["id"]}
    assert [t["id"] for t in view["tickets"]] == [ticket["id"]]
    assert {x["value"] for x in view["member"]["identities"]} == {"13977770001", "oOpen-han"}
    assert view["member"]["birthday"] == "1991-07-01" and view["merges"][0]["id"] == audit["id"]
    assert view["tier"]["code"] == "silver"  # 240.00 spent between them
    source = client.get(f"/v1/members/{b['id']}", headers=tenant.admin).json()
    assert (source["status"], source["merged_into"]) == ("merged", a["id"])
    found = client.get("/v1/members", headers=tenant.admin, params={"q": b["code"]}).json()
    assert [x["id"] for x in found] == [a["id"]]  # the old card still finds the member
    merges = _events(db, tenant, "member.merged")
    assert [e["source_id"] for e in merges if e["target_id"] == a["id"]] == [b["id"]]
    c = _member(client, tenant, email="c@example.com")
    for target, body, status, field in (
        (a["id"], {"source": a["id"]}, 422, "source"),
        (a["id"], {"source": b["id"]}, 409, "source"),
        (b["id"], {"source": c["id"]}, 409, "member_id"),
        (a["id"], {"source": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, 422, "source"),
    ):
        resp = client.post(f"/v1/members/{target}/merge", headers=tenant.admin, json=body)
        assert resp.status_code == status and _field(resp) == field, resp.text
    assert _points(client, tenant, a["id"])["balance"] == 740  # nothing moved twice


def test_forgetting_erases_the_person_and_keeps_the_money(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    _priced(client, tenant, "MEM-F", 5_000, SH01=10)
    m = _member(client, tenant, phone="13988880001", name="张三", birthday="1985-01-01")
    order = _order(client, tenant, "13988880001", "MEM-F", 1)
    _pay(client, tenant, order["id"], provider="cash")
    client.post(
        "/v1/tickets", headers=tenant.admin, json={"subject": "张三 13988880001", "member": m["id"]}
    )
    gone = client.post(f"/v1/members/{m['id']}/forget", headers=tenant.admin)
    assert gone.status_code == 200, gone.text
    body = gone.json()
    assert (body["status"], body["name"], body["birthday"], body["identities"]) == (
        "forgotten",
        None,
        None,
        [],
    )
    assert {c["granted"] for c in body["consents"]} == {False}
    assert _points(client, tenant, m["id"])["balance"] == 50  # the ledger stays
    kept = client.get(f"/v1/orders/{order['id']}", headers=tenant.admin).json()
    assert (kept["total"], kept["paid"], kept["member"]) == (5_000, 5_000, m["id"])
    view = client.get(f"/v1/members/{m['id']}/360", headers=tenant.admin).text
    assert "13988880001" not in view and "张三" not in view
    assert client.get("/v1/members", headers=tenant.admin, params={"q": "13988880001"}).json() == []
    again = client.post(f"/v1/members/{m['id']}/forget", headers=tenant.admin)
    assert again.status_code == 409
    fresh = _member(client, tenant, phone="13988880001")  # the number is free again
    assert fresh["id"] != m["id"]


def test_tickets_link_member_and_order_and_move_along_allowed_paths(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "MEM-T", 1_000, SH01=5)
    m = _member(client, tenant, phone="13900990001")
    order = _order(client, tenant, "13900990001", "MEM-T", 1)
    opened = client.post(
        "/v1/tickets",
        headers=tenant.admin,
        json={"subject": "发票 Invoice", "order_id": order["id"], "channel": "pos"},
    )
    assert opened.status_code == 201, opened.text
    ticket = opened.json()
    assert ticket["number"].startswith("CS") and ticket["status"] == "open"
    assert (ticket["member_id"], ticket["order_id"]) == (m["id"], order["id"])  # from the order
    url = f"/v1/tickets/{ticket['id']}"
    noted = client.post(f"{url}/notes", headers=tenant.admin, json={"text": "called back"})
    assert noted.status_code == 201 and noted.json()["notes"][0]["text"] == "called back"
    for to, status in (("closed", 409), ("in_progress", 200), ("resolved", 200), ("closed", 200)):
        resp = client.post(f"{url}/status", headers=tenant.admin, json={"to": to})
        assert resp.status_code == status, resp.text
    final = client.get(url, headers=tenant.admin).json()
    assert final["status"] == "closed" and [n["status"] for n in final["notes"]] == [
        None,
        "in_progress",
        "resolved",
        "closed",
    ]
    for body, field in (
        ({"subject": "x", "order_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "order_id"),
        ({"subject": "x", "member": "nobody@example.com"}, "member"),
    ):
        resp = client.post("/v1/tickets", headers=tenant.admin, json=body)
        assert resp.status_code == 422 and _field(resp) == field
    listed = client.get("/v1/tickets", headers=tenant.admin, params={"member_id": m["id"]}).json()
    assert [x["id"] for x in listed] == [ticket["id"]]


def test_relay_jobs_expire_points_first_in_first_out_and_review_tiers(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    _tiers(client, tenant)
    m = _member(client, tenant, phone="13900880001")
    _adjust(client, tenant, m["id"], 100)
    _adjust(client, tenant, m["id"], 50)
    with UnitOfWork(db, tenant.id) as uow:
        old = uow.session.scalars(
            select(PointsLot).where(PointsLot.member_id == m["id"]).order_by(PointsLot.id)
        ).first()
        assert old is not None
        old.expires_at = utcnow() + timedelta(days=1)  # earlier than the other: spent first
        uow.commit()
    url = f"/v1/members/{m['id']}/points/redemptions"
    client.post(url, headers=tenant.admin, json={"points": 30, "reason": "gift"})
    with UnitOfWork(db, tenant.id) as uow:
        uow.session.execute(
            update(PointsLot).where(PointsLot.id == old.id).values(expires_at=utcnow())
        )
        uow.commit()
    assert service.expire_due(db) >= 1
    points = _points(client, tenant, m["id"])
    assert points["balance"] == 50 and points["entries"][0]["kind"] == "expire"
    assert points["entries"][0]["points"] == -70  # what was left of the first lot
    silver = client.put(
        "/v1/member-tiers/regular",
        headers=tenant.admin,
        json={"name": "regular", "rank": 0, "min_spend": 1, "window_days": 30},
    )
    assert silver.status_code == 200
    with UnitOfWork(db, tenant.id) as uow:
        uow.session.execute(
            update(Member).where(Member.id == m["id"]).values(tier_review_at=utcnow())
        )
        uow.commit()
    assert service.review_due(db) >= 1
    assert client.get(f"/v1/members/{m['id']}", headers=tenant.admin).json()["tier"] is None


def test_a_birthday_brings_the_tiers_coupon_once_a_year(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    _priced(client, tenant, "BDAY-SKU", 5_000, SH01=5)
    gift = {"code": "BDAY-OFF", "name": "birthday", "kind": "amount_off", **window()}
    gift |= {"benefit": {"amount": 1_000}, "coupon_only": True}
    assert client.post("/v1/promotions", headers=tenant.admin, json=gift).status_code == 201
    template = {"code": "BDAY", "name": "生日礼券", "promotion": "BDAY-OFF", **_valid()}
    resp = client.post("/v1/coupon-templates", headers=tenant.admin, json=template)
    assert resp.status_code == 201, resp.text
    tier = {"name": "regular", "rank": 0, "birthday_coupon": "BDAY"}
    assert client.put("/v1/member-tiers/regular", headers=tenant.admin, json=tier).is_success
    today = utcnow().astimezone(ZONE).date()
    born = today.replace(year=1992)  # a leap year, for those born on 29 February
    m = _member(client, tenant, phone="13900770001", birthday=born.isoformat())
    assert workflows.birthday_coupons(db) >= 1
    workflows.birthday_coupons(db)  # once a year
    granted = _events(db, tenant, "member.birthday_coupon_granted")
    mine = [e for e in granted if e["id"] == m["id"]]
    assert [e["coupon_template"] for e in mine] == ["BDAY"]
    held = client.get("/v1/coupons", headers=tenant.admin, params={"member": "13900770001"})
    assert [c["code"] for c in held.json()] == [mine[0]["coupon"]]
    placed = place_order(
        client, tenant, [("BDAY-SKU", 1)], member="13900770001", coupons=[mine[0]["coupon"]]
    )
    assert placed.json()["discount"] == 1_000
