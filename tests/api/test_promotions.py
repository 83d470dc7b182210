"""The marketing centre through the API: promotions priced into checkout for every
channel, coupons redeemed once, bad rules refused, and the explanation of a quote."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_orders import _priced
from tests.conftest import Tenant
from zhongtai.platform.ids import utcnow

PICKUP = {"type": "pickup", "location": "SH01"}


def window(**shift: int) -> dict[str, str]:
    start = utcnow() + timedelta(**shift) - timedelta(hours=1)
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(days=7)).isoformat()}


def promotion(client: TestClient, t: Tenant, code: str, kind: str, **body: Any) -> Any:
    shift = body.pop("shift", {})
    payload = {"code": code, "name": code, "kind": kind, **window(**shift), **body}
    resp = client.post("/v1/promotions", headers=t.admin, json=payload)
    assert resp.status_code == 201, resp.text
    return resp.json()


def order(
    client: TestClient,
    t: Tenant,
    lines: list[tuple[str, int]],
    member: str | None = "13900000001",
    coupons: list[str] | None = None,
    channel: str = "mall",
) -> Any:
    body = {
        "channel": channel,
        "member": member,
        "lines": [{"sku": s, "qty": q} for s, q in lines],
        "fulfilment": PICKUP,
        "coupons": coupons or [],
    }
    return client.post("/v1/orders", headers=t.admin, json=body)


def quote(client: TestClient, t: Tenant, lines: list[tuple[str, int]], **extra: Any) -> Any:
    body = {"channel": "mall", "lines": [{"sku": s, "qty": q} for s, q in lines], **extra}
    resp = client.post("/v1/price-quotes", headers=t.admin, json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def field_of(resp: Any) -> str:
    """The field a problem names: `field` (409s) or the first of `errors` (422s)."""
    problem = resp.json()
    return problem.get("field") or problem["errors"][0]["field"]


TIERS = {
    "tiers": [{"threshold": 19_900, "discount": 2_000}, {"threshold": 29_900, "discount": 5_000}]
}


def test_a_threshold_promotion_prices_checkout_and_splits_to_the_lines(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "PR-A", 15_000, SH01=10)
    _priced(client, tenant, "PR-B", 10_000, SH01=10)
    promotion(client, tenant, "SPEND", "threshold", benefit=TIERS, scope={"skus": ["PR-A", "PR-B"]})
    one = quote(client, tenant, [("PR-A", 1)])
    assert one["discount"] == 0
    assert one["not_applied"] == [
        {
            "promotion": "SPEND",
            "reason": "condition not met",
            "detail": "add 49.00 more to get 20.00 off",
        }
    ]
    placed = order(client, tenant, [("PR-A", 1), ("PR-B", 2)])
    assert placed.status_code == 201, placed.text
    body = placed.json()
    # 350.00 reaches the 299 tier: 50.00 off, split 150:200 by what each line earned.
    assert body["subtotal"] == 35_000 and body["discount"] == 5_000 and body["total"] == 30_000
    assert [(x["discount"], x["net"]) for x in body["lines"]] == [(2_143, 12_857), (2_857, 17_143)]
    assert sum(x["net"] for x in body["lines"]) == body["total"]


def test_the_same_promotion_applies_in_every_channel_it_names_and_nowhere_else(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "PR-C", 10_000, SH01=10)
    promotion(client, tenant, "POS10", "percent_off", benefit={"off_bp": 1_000}, channels=["pos"])
    promotion(client, tenant, "LATER", "amount_off", benefit={"amount": 500}, shift={"days": 2})
    assert order(client, tenant, [("PR-C", 1)], channel="pos").json()["discount"] == 1_000
    assert order(client, tenant, [("PR-C", 1)], channel="mall").json()["discount"] == 0


def test_bad_promotions_are_refused_naming_the_field(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "PR-D", 10_000, SH01=1)

    def refused(code: str, kind: str, **body: Any) -> tuple[int, str]:
        payload = {"code": code, "name": code, "kind": kind, **window(), **body}
        resp = client.post("/v1/promotions", headers=tenant.admin, json=payload)
        assert resp.headers["content-type"].startswith("application/problem+json")
        return resp.status_code, field_of(resp)

    below = {"tiers": [{"threshold": 10_000, "discount": 10_000}]}
    assert refused("X1", "threshold", benefit=below) == (422, "benefit.tiers[0].discount")
    assert refused("X2", "percent_off", benefit={"off_bp": 0}) == (422, "benefit.off_bp")
    assert refused("X3", "amount_off", benefit={"amount": 5}, scope={"skus": ["NOPE"]}) == (
        422,
        "scope.skus",
    )
    late = {**window(), "ends_at": utcnow().isoformat(), "starts_at": utcnow().isoformat()}
    resp = client.post(
        "/v1/promotions",
        headers=tenant.admin,
        json={"code": "X4", "name": "X4", "kind": "amount_off", "benefit": {"amount": 5}, **late},
    )
    assert resp.status_code == 422 and field_of(resp) == "ends_at"
    promotion(client, tenant, "SOLO", "percent_off", benefit={"off_bp": 500}, exclusive=True)
    twin = {"off_bp": 800}
    assert refused("SOLO2", "percent_off", benefit=twin, exclusive=True) == (409, "exclusive")
    promotion(
        client,
        tenant,
        "SOLO3",
        "percent_off",
        benefit=twin,
        exclusive=True,
        channels=["pos"],
        shift={"days": 30},
    )
    listed = client.get("/v1/promotions", headers=tenant.admin).json()
    mine = sorted(p["code"] for p in listed if p["code"].startswith(("X", "SOLO")))
    assert mine == ["SOLO", "SOLO3"]  # nothing half-made


def test_a_coupon_is_redeemed_once_and_given_back_when_the_order_is_cancelled(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "PR-E", 10_000, SH01=10)
    promotion(client, tenant, "C20", "amount_off", benefit={"amount": 2_000}, coupon_only=True)
    template = client.post(
        "/v1/coupon-templates",
        headers=tenant.admin,
        json={"code": "T20", "name": "20 off", "promotion": "C20", "total": 2, **_valid()},
    ).json()
    issued = client.post(
        f"/v1/coupon-templates/{template['id']}/issue",
        headers=tenant.admin,
        json={"members": ["13900000001"]},
    )
    assert issued.status_code == 201, issued.text
    code = issued.json()[0]["code"]
    assert order(client, tenant, [("PR-E", 1)]).json()["discount"] == 0  # not presented
    other = order(client, tenant, [("PR-E", 1)], member="13900000002", coupons=[code])
    assert other.status_code == 409 and "another member" in other.json()["detail"]
    first = order(client, tenant, [("PR-E", 1)], coupons=[code])
    assert first.status_code == 201 and first.json()["discount"] == 2_000
    again = order(client, tenant, [("PR-E", 1)], coupons=[code])
    assert again.status_code == 409 and again.json()["type"].endswith("coupon-unusable")
    assert _coupon(client, tenant, code)["status"] == "redeemed"
    cancel = client.post(
        f"/v1/orders/{first.json()['id']}/cancel", headers=tenant.admin, json={"reason": "test"}
    )
    assert cancel.status_code == 200, cancel.text
    assert _coupon(client, tenant, code)["status"] == "issued"
    gone = client.get(f"/v1/orders/{first.json()['id']}", headers=tenant.admin).json()
    used = {"promotion": "C20", "amount": 2_000, "coupon": code}
    assert first.json()["promotions"] == [{**used, "released": False}]
    assert gone["promotions"] == [{**used, "released": True}]
    assert order(client, tenant, [("PR-E", 1)], coupons=[code]).json()["discount"] == 2_000
    unknown = order(client, tenant, [("PR-E", 1)], coupons=["NOSUCH"])
    assert unknown.status_code == 422 and field_of(unknown) == "coupons[0]"
    beyond = client.post(
        f"/v1/coupon-templates/{template['id']}/issue", headers=tenant.admin, json={"count": 2}
    )
    assert beyond.status_code == 409 and beyond.json()["type"].endswith("limit-reached")


def _coupon(client: TestClient, t: Tenant, code: str) -> Any:
    found = client.get("/v1/coupons", headers=t.admin, params={"code": code}).json()
    assert len(found) == 1
    by_id = client.get(f"/v1/coupons/{found[0]['id']}", headers=t.admin).json()
    assert by_id == found[0]
    return by_id


def _valid(days: int = 30) -> dict[str, str]:
    now = utcnow()
    return {
        "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_to": (now + timedelta(days=days)).isoformat(),
    }


def test_an_expired_coupon_and_a_public_code_beyond_its_member_limit_are_refused(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "PR-F", 10_000, SH01=10)
    promotion(client, tenant, "C5", "amount_off", benefit={"amount": 500}, coupon_only=True)
    gone = {
        "valid_from": (utcnow() - timedelta(days=3)).isoformat(),
        "valid_to": (utcnow() - timedelta(days=1)).isoformat(),
    }
    old = client.post(
        "/v1/coupon-templates",
        headers=tenant.admin,
        json={"code": "OLD", "name": "old", "promotion": "C5", "public_code": "OLD5", **gone},
    )
    assert old.status_code == 201, old.text
    expired = order(client, tenant, [("PR-F", 1)], coupons=["OLD5"])
    assert expired.status_code == 409 and "expired" in expired.json()["detail"]
    client.post(
        "/v1/coupon-templates",
        headers=tenant.admin,
        json={
            "code": "PUB",
            "name": "pub",
            "promotion": "C5",
            "public_code": "SPRING5",
            **_valid(),
        },
    )
    assert order(client, tenant, [("PR-F", 1)], coupons=["SPRING5"]).json()["discount"] == 500
    twice = order(client, tenant, [("PR-F", 1)], coupons=["SPRING5"])
    assert twice.status_code == 409 and twice.json()["type"].endswith("limit-reached")
    guest = order(client, tenant, [("PR-F", 1)], member=None, coupons=["SPRING5"])
    assert guest.status_code == 422
    mine = client.get("/v1/coupons", headers=tenant.admin, params={"member": "13900000001"})
    assert [c["status"] for c in mine.json()] == ["redeemed"]


def test_the_quote_explains_the_best_combination(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "PR-G", 6_000, SH01=10)
    _priced(client, tenant, "PR-H", 4_000, SH01=10)
    promotion(
        client,
        tenant,
        "B2G1",
        "buy_x_get_y",
        benefit={"buy": 2, "get": 1, "off_bp": 10_000},
        scope={"skus": ["PR-H"]},
    )
    promotion(
        client, tenant, "EVERY", "repeat_threshold", benefit={"every": 10_000, "minus": 1_500}
    )
    promotion(client, tenant, "SHIP", "free_delivery", benefit={"min_spend": 5_000})
    got = quote(client, tenant, [("PR-G", 2), ("PR-H", 3)], delivery_fee=800)
    # B2G1 frees one PR-H (40.00); EVERY sees 200.00 left: 2 x 15.00; delivery waived.
    assert {a["promotion"]: a["amount"] for a in got["applied"]} == {
        "B2G1": 4_000,
        "EVERY": 3_000,
        "SHIP": 800,
    }
    assert got["gross"] == 24_000 and got["payable"] == 24_000 - 7_000 and got["exact"]
    assert sum(x["net"] for x in got["lines"]) == got["gross"] - 7_000


def test_effect_against_the_pre_period_and_a_holdout_group(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "PR-I", 10_000, SH01=60)
    p = promotion(
        client,
        tenant,
        "EFF",
        "amount_off",
        benefit={"amount": 500},
        channels=["live"],
        stores=["SH01"],
    )
    placed = [
        order(client, tenant, [("PR-I", 1)], member=f"e{i}", channel="live") for i in range(2)
    ]
    assert [r.json()["discount"] for r in placed] == [500, 500]
    order(client, tenant, [("PR-I", 1)], member="e0", channel="mall")  # elsewhere: not counted
    got = client.get(f"/v1/promotions/{p['id']}/effect", headers=tenant.admin).json()
    # Nothing was sold there in the hour before it started: every fen sold is incremental.
    assert got == {
        "promotion": "EFF",
        "orders": 2,
        "units": 2,
        "sales": 19_000,
        "discount": 1_000,
        "new_members": 2,
        "baseline": "pre_period",
        "baseline_sales": 0,
        "incremental_sales": 19_000,
        "roi": 19.0,
    }
    client.post(f"/v1/promotions/{p['id']}/end", headers=tenant.admin)
    held = promotion(
        client,
        tenant,
        "HOLD",
        "amount_off",
        benefit={"amount": 500},
        channels=["live"],
        holdout_bp=5_000,
        shift={"hours": 1},  # from now: the orders above are before it
    )
    spent = [
        order(client, tenant, [("PR-I", 1)], member=f"h{i}", channel="live").json()["discount"]
        for i in range(20)
    ]
    offered = spent.count(500)
    assert 0 < offered < 20  # the same stable half, more or less, is held out
    again = [
        order(client, tenant, [("PR-I", 1)], member=f"h{i}", channel="live").json()["discount"]
        for i in range(20)
    ]
    assert again == spent  # a member is always in or always out
    got = client.get(
        f"/v1/promotions/{held['id']}/effect", headers=tenant.admin, params={"baseline": "holdout"}
    ).json()
    # Each buyer spent the same twice, 500 less when offered: the discount brought nothing.
    assert got["baseline_sales"] == 2 * 10_000 * offered
    assert got["incremental_sales"] == -2 * 500 * offered and got["roi"] == -1.0


def test_a_gift_joins_the_order_free_while_stocks_last(client: TestClient, tenant: Tenant) -> None:
    _priced(client, tenant, "PR-J", 10_000, SH01=10)
    _priced(client, tenant, "PR-GIFT", 1_500, SH01=1)
    gift = {"gift_sku": "PR-GIFT", "gift_qty": 1, "min_spend": 15_000}
    p = promotion(client, tenant, "MUG", "gift", benefit=gift, scope={"skus": ["PR-J"]})
    assert p["group"] == "gift"
    hint = quote(client, tenant, [("PR-J", 1)])["not_applied"]
    assert hint == [
        {
            "promotion": "MUG",
            "reason": "condition not met",
            "detail": "add 50.00 more to get the gift",
        }
    ]
    first = order(client, tenant, [("PR-J", 2)]).json()
    assert [(x["sku"], x["qty"], x["net"]) for x in first["lines"]] == [
        ("PR-J", 2, 20_000),
        ("PR-GIFT", 1, 0),
    ]
    assert first["total"] == 20_000
    second = order(client, tenant, [("PR-J", 2)])  # the only mug is held by the first order
    assert second.status_code == 201, second.text
    assert [x["sku"] for x in second.json()["lines"]] == ["PR-J"]


def test_a_member_pays_the_tier_price_and_gets_the_tier_discount_in_every_channel(
    client: TestClient, tenant: Tenant
) -> None:
    _priced(client, tenant, "PR-K", 10_000, SH01=10)
    tier = {"name": "Regular", "rank": 0, "discount_bp": 500}  # the entry tier, now with 5% off
    assert (
        client.put("/v1/member-tiers/regular", headers=tenant.admin, json=tier).status_code == 200
    )
    member = {"channel": "pos", "phone": "13600000000"}
    resp = client.post("/v1/members", headers=tenant.admin, json=member)
    assert resp.status_code == 201 and resp.json()["tier"] == "regular", resp.text
    member_price = {"sku": "PR-K", "amount": 9_000, "currency": "CNY", "member_tier": "regular"}
    assert client.post("/v1/prices", headers=tenant.admin, json=member_price).status_code == 201
    for channel in ("pos", "mall"):
        placed = order(client, tenant, [("PR-K", 1)], member="13600000000", channel=channel)
        line = placed.json()["lines"][0]
        assert (line["unit_price"], line["discount"], line["net"]) == (9_000, 450, 8_550)
    stranger = order(client, tenant, [("PR-K", 1)], member="13600000001").json()["lines"][0]
    assert (stranger["unit_price"], stranger["discount"]) == (10_000, 0)
