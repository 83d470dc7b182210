"""Channel attribution and the sales cube over the warehouse: first and last touch with
their tie rule and lookback window, and an order placed at a till showing up by store,
day and category with its units and net."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_events import at, drain
from tests.api.test_orders import _priced
from tests.conftest import Tenant
from tests.support.relay import run_relay
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.ids import utcnow

BASE = timedelta(days=200)  # far from the demo tenant's own recent shoppers


def _touch(who: str, channel: str, days: float, type_: str = "page_view") -> dict[str, Any]:
    props = {"url": "/"} if type_ == "page_view" else {"order": f"O-{who}", "amount": 1_000}
    return {
        "type": type_,
        "time": at(-BASE + timedelta(days=days)),
        "anonymous_id": who,
        "channel": channel,
        "properties": props,
    }


def test_first_and_last_touch_credit_the_right_channels(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    events = [
        _touch("p1", "mall", -5),
        _touch("p1", "mini_program", -2),
        _touch("p1", "pos", -1, "purchase"),
        _touch("p2", "pos", -1, "purchase"),  # bought with no touch before
        _touch("p3", "b_app", -3),
        _touch("p3", "a_app", -3),  # the same instant
        _touch("p3", "pos", -1, "purchase"),
        _touch("p4", "mall", -45),
        _touch("p4", "pos", -1, "purchase"),  # too long ago
    ]
    assert (
        client.post("/v1/events", headers=tenant.admin, json={"events": events}).json()["accepted"]
        == 9
    )
    drain(db)
    window = {"since": at(-BASE - timedelta(days=3)), "until": at(-BASE + timedelta(days=1))}

    def credit(model: str) -> dict[str, tuple[int, int]]:
        got = client.post(
            "/v1/analyses/attribution",
            headers=tenant.admin,
            json={**window, "model": model, "lookback_days": 30},
        )
        assert got.status_code == 200, got.text
        return {r["channel"]: (r["conversions"], r["revenue"]) for r in got.json()}

    assert credit("first") == {"mall": (1, 1_000), "a_app": (1, 1_000), "(none)": (2, 2_000)}
    assert credit("last") == {"mini_program": (1, 1_000), "b_app": (1, 1_000), "(none)": (2, 2_000)}
    bad = client.post(
        "/v1/analyses/attribution",
        headers=tenant.admin,
        json={"since": window["until"], "until": window["since"]},
    )
    assert bad.status_code == 422


def test_a_till_sale_shows_in_the_sales_cube(
    client: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    _priced(client, tenant, "CUBE-1", 2_500, SH01=10)
    body = {
        "channel": "pos",
        "lines": [{"sku": "CUBE-1", "qty": 3}],
        "fulfilment": {"type": "in_store", "location": "SH01"},
    }
    placed = client.post("/v1/orders", headers=tenant.admin, json=body)
    assert placed.status_code == 201, placed.text
    net = sum(line["net"] for line in placed.json()["lines"])
    run_relay(db, settings)
    drain(db)
    day = (utcnow() + timedelta(hours=8)).date().isoformat()
    window = {"since": at(-timedelta(days=1)), "until": at(timedelta(minutes=5))}
    got = client.post(
        "/v1/analyses/sales",
        headers=tenant.admin,
        json={**window, "by": ["store", "day", "category"]},
    )
    assert got.status_code == 200, got.text
    rows = {(r["store"], r["day"], r["category"]): r for r in got.json()}
    row = rows[("SH01", day, "inv")]
    assert (row["orders"], row["units"], row["net"]) == (1, 3, net)
    by_channel = client.post(
        "/v1/analyses/sales", headers=tenant.admin, json={**window, "by": ["channel"]}
    ).json()
    assert any(r["channel"] == "pos" and r["units"] >= 3 for r in by_channel)


def test_the_demo_shoppers_funnel_and_retention_answer_over_http(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    drain(db)  # the demo tenant's shoppers' sessions
    steps = [{"type": t} for t in ("product_view", "add_to_cart", "checkout", "purchase")]
    window = {"since": at(-timedelta(days=62)), "until": at(timedelta(minutes=5))}
    got = client.post(
        "/v1/analyses/funnel",
        headers=tenant.admin,
        json={**window, "steps": steps, "window_seconds": 3600},
    )
    assert got.status_code == 200, got.text
    [funnel] = got.json()["funnels"]
    reached = [s["persons"] for s in funnel["steps"]]
    assert reached[0] > 0 and reached == sorted(reached, reverse=True)
    one = client.post(
        "/v1/analyses/funnel",
        headers=tenant.admin,
        json={**window, "steps": steps[:1], "window_seconds": 3600},
    )
    assert one.status_code == 422 and one.json()["errors"][0]["field"] == "steps"
    kept = client.post(
        "/v1/analyses/retention",
        headers=tenant.admin,
        json={
            **window,
            "start": {"type": "product_view"},
            "return": {"type": "product_view"},
            "period": "week",
            "periods": 8,
        },
    )
    assert kept.status_code == 200, kept.text
    cohorts = kept.json()["cohorts"]
    assert cohorts and all(c["retained"][0] == c["size"] for c in cohorts)
