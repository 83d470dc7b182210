"""Funnels and retention in real chDB equal the pure reference, on random and chosen cases."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_funnel_model import persons, request
from zhongtai.data import schema
from zhongtai.data.analysis import model, queries
from zhongtai.data.analysis.model import Event, FunnelIn, FunnelOut, RetentionIn
from zhongtai.data.collector.model import warehouse_row
from zhongtai.data.warehouse import Chdb

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
ACTORS = ["cookie:p1", "cookie:p2", "member:p3", "member:p4"]
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Chdb:
    warehouse = Chdb(tmp_path_factory.mktemp("chdb"), "zt_test")
    schema.ensure(warehouse)
    return warehouse


def _row(tenant: str, e: Event) -> dict[str, Any]:
    row = warehouse_row(
        uuid.uuid4().hex,
        "test",
        e.type,
        e.time,
        e.time,
        name=e.name,
        actor=e.actor,
        channel=e.channel,
        store=e.store,
        sku=e.sku,
    )
    return {**row, "tenant_id": tenant}


def load(wh: Chdb, events: Sequence[Event], persons: Mapping[str, int] | None = None) -> str:
    """The events (and OneID's mapping) in a tenant of their own."""
    tenant = f"t{uuid.uuid4().hex[:12]}"
    wh.insert("events", [_row(tenant, e) for e in events])
    rows = [
        {"tenant_id": tenant, "actor": a, "person": p, "version": 1}
        for a, p in (persons or {}).items()
    ]
    wh.insert("person_map", rows)
    return tenant


def funnel_both(
    wh: Chdb, events: Sequence[Event], request: FunnelIn, window_funnel: bool = False
) -> FunnelOut:
    tenant = load(wh, events)
    expected = model.funnel_reference(events, request)
    assert queries.funnel(wh, tenant, request, window_funnel) == expected
    return expected


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(actor: str, seconds: float, type_: str, channel: str = "web", store: str = "") -> Event:
    return Event(actor=actor, time=at(seconds), type=type_, channel=channel, store=store)


# --- random event sets ------------------------------------------------------------------


def _timeline(actor: str) -> st.SearchStrategy[list[Event]]:
    # A dozen seconds for a dozen events: ties of one millisecond are common.
    seconds = st.integers(0, 12).map(float) | st.sampled_from([0.5, 3.001, 7.999])
    event = st.builds(
        ev,
        actor=st.just(actor),
        seconds=seconds,
        type_=st.sampled_from("ABCX"),
        channel=st.sampled_from(["web", "app"]),
        store=st.sampled_from(["", "s1", "s2"]),
    )
    return st.lists(event, max_size=12)


events_st = st.integers(3, 4).flatmap(
    lambda n: st.tuples(*(_timeline(a) for a in ACTORS[:n])).map(lambda ts: [*chain(*ts)])
)


@st.composite
def funnels(draw: st.DrawFn, order: str | None = None, exclusions: bool | None = None) -> FunnelIn:
    n = draw(st.integers(2, 4))
    steps = [{"type": t} for t in draw(st.lists(st.sampled_from("ABC"), min_size=n, max_size=n))]
    if draw(st.booleans()):
        steps[draw(st.integers(0, n - 1))]["channel"] = "web"
    fences = []
    if exclusions is not False and (exclusions or draw(st.booleans())):
        for _ in range(draw(st.integers(1, 2))):
            low = draw(st.integers(0, n - 2))
            high = draw(st.integers(low + 1, n - 1))
            kind = draw(st.sampled_from("XXB"))
            fences.append({"condition": {"type": kind}, "from_step": low, "to_step": high})
    since = draw(st.integers(0, 4))
    return FunnelIn.model_validate(
        {
            "steps": steps,
            "window_seconds": draw(st.integers(1, 12)),
            "order": order or draw(st.sampled_from(["any", "strict"])),
            "exclusions": fences,
            "breakdown": draw(st.sampled_from([None, None, "channel", "store"])),
            "since": at(since),
            "until": at(since + draw(st.integers(1, 12))),
        }
    )


@SETTINGS
@given(events=events_st, request=funnels())
def test_every_mode_equals_the_reference(wh: Chdb, events: list[Event], request: FunnelIn) -> None:
    funnel_both(wh, events, request)


@SETTINGS
@given(events=events_st, request=funnels(order="any", exclusions=False))
def test_window_funnel_and_the_chains_agree_with_the_reference(
    wh: Chdb, events: list[Event], request: FunnelIn
) -> None:
    assert queries.window_funnel_fits(request)
    tenant = load(wh, events)
    expected = model.funnel_reference(events, request)
    assert queries.funnel(wh, tenant, request, window_funnel=True) == expected
    assert queries.funnel(wh, tenant, request, window_funnel=False) == expected


@SETTINGS
@given(events=events_st, request=funnels(order="strict"))
def test_strict_order_equals_the_reference(
    wh: Chdb, events: list[Event], request: FunnelIn
) -> None:
    funnel_both(wh, events, request)


@SETTINGS
@given(events=events_st, request=funnels(exclusions=True))
def test_exclusions_equal_the_reference(wh: Chdb, events: list[Event], request: FunnelIn) -> None:
    funnel_both(wh, events, request)


# --- chosen cases -----------------------------------------------------------------------


def test_ties_never_make_consecutive_steps(wh: Chdb) -> None:
    same_ms = [ev("cookie:a", 5, "A"), ev("cookie:a", 5, "B")]
    assert persons(funnel_both(wh, same_ms, request("A", "B"))) == [1, 0]
    # windowFunnel fed plainly answers 1 here: the start A@1 hides A@0 from B@1.
    earlier_start = [ev("cookie:a", 0, "A"), ev("cookie:a", 1, "A"), ev("cookie:a", 1, "B")]
    for wf in (True, False):
        assert persons(funnel_both(wh, earlier_start, request("A", "B"), wf)) == [1, 1]
    later_step = [ev("cookie:b", t, k) for t, k in [(0, "A"), (1, "B"), (2, "B"), (2, "C")]]
    assert persons(funnel_both(wh, later_step, request("A", "B", "C"))) == [1, 1, 1]


def test_plain_window_funnel_misses_a_tied_chain(wh: Chdb) -> None:
    """Why `queries` feeds windowFunnel keys, not times (if this fails, ClickHouse changed)."""
    sql = (
        "SELECT windowFunnel(10, 'strict_increase')(t, e = 'A', e = 'B') AS level FROM"
        " (SELECT arrayJoin([(0, 'A'), (1, 'A'), (1, 'B')]) AS p, toUInt64(p.1) AS t, p.2 AS e)"
    )
    assert wh.rows(sql) == [{"level": 1}]


def test_one_event_serves_one_step(wh: Chdb) -> None:
    once = [ev("cookie:a", 1, "A")]
    assert persons(funnel_both(wh, once, request("A", "A"))) == [1, 0]
    twice = [ev("cookie:a", 1, "A"), ev("cookie:a", 2, "A")]
    assert persons(funnel_both(wh, twice, request("A", "A"))) == [1, 1]


def test_the_window_edge_is_inside(wh: Chdb) -> None:
    edge = [ev("cookie:a", 1, "A"), ev("cookie:a", 11, "B")]
    out = funnel_both(wh, edge, request("A", "B", window=10))
    assert persons(out) == [1, 1]
    assert out.funnels[0].steps[1].median_seconds == 10.0
    past = [ev("cookie:a", 1, "A"), ev("cookie:a", 11.001, "B")]
    assert persons(funnel_both(wh, past, request("A", "B", window=10))) == [1, 0]


def test_a_later_start_can_still_convert(wh: Chdb) -> None:
    events = [ev("cookie:a", t, k) for t, k in [(0, "A"), (8, "A"), (9, "B"), (15, "C")]]
    out = funnel_both(wh, events, request("A", "B", "C", window=10))
    assert persons(out) == [1, 1, 1]
    # The matched chain is the one starting at 8, the earliest that reaches step 2.
    assert [s.median_seconds for s in out.funnels[0].steps] == [None, 1.0, 7.0]


def test_strict_order_is_broken_by_any_event_in_between(wh: Chdb) -> None:
    events = [ev("cookie:a", 0, "A"), ev("cookie:a", 1, "X"), ev("cookie:a", 2, "B")]
    assert persons(funnel_both(wh, events, request("A", "B", order="strict"))) == [1, 0]
    assert persons(funnel_both(wh, events, request("A", "B"))) == [1, 1]
    # windowFunnel's 'strict_order' would stop at X for good; a later start still counts.
    again = [*events, ev("cookie:a", 3, "A"), ev("cookie:a", 4, "B")]
    assert persons(funnel_both(wh, again, request("A", "B", order="strict"))) == [1, 1]
    # A repeated step is another event too ('strict_order' would count A, B, B, C to C).
    repeat = [ev("cookie:c", t, k) for t, k in [(0, "A"), (1, "B"), (2, "B"), (3, "C")]]
    assert persons(funnel_both(wh, repeat, request("A", "B", "C", order="strict"))) == [1, 1, 0]
    # An event of the same millisecond as a step is not between two steps.
    tied = [ev("cookie:b", 0, "A"), ev("cookie:b", 2, "X"), ev("cookie:b", 2, "B")]
    assert persons(funnel_both(wh, tied, request("A", "B", order="strict"))) == [1, 1]


def test_an_exclusion_between_steps_stops_the_person(wh: Chdb) -> None:
    fence = [{"condition": {"type": "X"}, "from_step": 0, "to_step": 1}]
    events = [ev("cookie:a", t, k) for t, k in [(0, "A"), (1, "X"), (2, "B"), (3, "C")]]
    out = funnel_both(wh, events, request("A", "B", "C", exclusions=fence))
    assert persons(out) == [1, 0, 0]
    clean = [ev("cookie:b", t, k) for t, k in [(0, "A"), (2, "B"), (2.5, "X"), (3, "C")]]
    assert persons(funnel_both(wh, clean, request("A", "B", "C", exclusions=fence))) == [1, 1, 1]
    # On the matched chain's own milliseconds an exclusion is not "between".
    edge = [ev("cookie:c", t, k) for t, k in [(0, "A"), (0, "X"), (2, "X"), (2, "B")]]
    assert persons(funnel_both(wh, edge, request("A", "B", exclusions=fence))) == [1, 1]


def test_only_first_steps_inside_the_range_start_a_funnel(wh: Chdb) -> None:
    events = [
        ev("cookie:a", -1, "A"),
        ev("cookie:a", 1, "B"),
        ev("cookie:b", 3600, "A"),
        ev("cookie:c", 3599.999, "A"),
        ev("cookie:c", 3605, "B"),
    ]
    assert persons(funnel_both(wh, events, request("A", "B"))) == [1, 1]


def test_breakdown_takes_the_first_step_events_value(wh: Chdb) -> None:
    events = [
        ev("cookie:a", 0, "A", "app"),
        ev("cookie:a", 1, "A", "web"),
        ev("cookie:a", 2, "B"),
        ev("cookie:b", 0, "A", "web"),
    ]
    out = funnel_both(wh, events, request("A", "B", breakdown="channel"))
    assert [f.breakdown for f in out.funnels] == ["app", "web"]
    assert persons(out, "app") == [1, 1]
    assert persons(out, "web") == [1, 0]


def test_no_events_still_answer_one_empty_funnel(wh: Chdb) -> None:
    out = funnel_both(wh, [], request("A", "B"))
    assert persons(out) == [0, 0]
    assert out.funnels[0].steps[1].conversion_from_first == 0.0


def test_actors_of_one_person_combine(wh: Chdb) -> None:
    events = [
        ev("cookie:x", 0, "product_view"),
        ev("member:y", 5, "purchase"),
        ev("cookie:z", 1, "product_view"),
    ]
    tenant = load(wh, events, {"cookie:x": 7, "member:y": 7})
    req = request("product_view", "purchase")
    out = queries.funnel(wh, tenant, req)
    assert persons(out) == [2, 1]
    assert out == model.funnel_reference(events, req, {"cookie:x": "7", "member:y": "7"})


def test_the_latest_person_mapping_wins(wh: Chdb) -> None:
    events = [ev("cookie:x", 0, "A"), ev("member:y", 5, "B")]
    tenant = load(wh, events, {"cookie:x": 7, "member:y": 8})
    wh.insert("person_map", [{"tenant_id": tenant, "actor": "member:y", "person": 7, "version": 2}])
    assert persons(queries.funnel(wh, tenant, request("A", "B"))) == [1, 1]


# --- retention --------------------------------------------------------------------------

retention_events = st.lists(
    st.builds(
        lambda actor, hours, kind: Event(actor=actor, time=at(hours * 3600), type=kind),
        actor=st.sampled_from(ACTORS),
        hours=st.integers(-24 * 10, 24 * 80) | st.sampled_from([-12, 12, 36, 60]),
        kind=st.sampled_from(["S", "R", "Z"]),
    ),
    max_size=40,
)


@st.composite
def retentions(draw: st.DrawFn) -> RetentionIn:
    since = draw(st.integers(-5, 30))
    return RetentionIn.model_validate(
        {
            "start": {"type": "S"},
            "return": {"type": draw(st.sampled_from(["R", "S"]))},
            "period": draw(st.sampled_from(["day", "week", "month"])),
            "periods": draw(st.integers(1, 6)),
            "since": at(since * 86400),
            "until": at(
                (since + draw(st.integers(1, 40))) * 86400 + draw(st.integers(0, 23)) * 3600
            ),
            "timezone": draw(st.sampled_from(["Asia/Shanghai", "UTC", "America/New_York"])),
        }
    )


@SETTINGS
@given(events=retention_events, request=retentions())
def test_retention_equals_the_reference(
    wh: Chdb, events: list[Event], request: RetentionIn
) -> None:
    tenant = load(wh, events)
    assert queries.retention(wh, tenant, request) == model.retention_reference(events, request)


def test_retention_counts_periods_in_the_time_zone(wh: Chdb) -> None:
    # 20:00 UTC on 1 March is 04:00 on 2 March in Shanghai.
    events = [
        Event("member:a", at(8 * 3600), "S"),
        Event("member:a", at(86400), "R"),
        Event("member:b", at(3600), "S"),
        Event("member:b", at(2 * 86400), "R"),
    ]
    req = RetentionIn.model_validate(
        {
            "start": {"type": "S"},
            "return": {"type": "R"},
            "period": "day",
            "periods": 2,
            "since": at(0),
            "until": at(86400),
        }
    )
    tenant = load(wh, events)
    out = queries.retention(wh, tenant, req)
    assert out == model.retention_reference(events, req)
    assert [(str(c.cohort), c.size, c.retained) for c in out.cohorts] == [
        ("2025-03-01", 1, [0, 0, 1]),
        ("2025-03-02", 1, [1, 0, 0]),
    ]


def test_a_bulk_load_from_arrow_lands_every_row(wh: Chdb) -> None:
    """`insert_arrow`, the embedded warehouse's bulk path (the audience benchmark loads
    ten million persons per tag through it): every person once, constants beside them."""
    tenant = f"t{uuid.uuid4().hex[:12]}"
    people = pa.array(range(1, 10_001), type=pa.uint64())
    select = f"'{tenant}', 'vip', toDate('2026-11-01'), 'yes', person"
    wh.insert_arrow("person_tags", select, pa.table({"person": people}))
    [got] = wh.rows(
        "SELECT count() AS n, uniqExact(person) AS persons, max(person) AS top"
        " FROM zt_test.person_tags WHERE tenant_id = {t:String} AND value = 'yes'",
        {"t": tenant},
    )
    assert (int(got["n"]), int(got["persons"]), int(got["top"])) == (10_000, 10_000, 10_000)
