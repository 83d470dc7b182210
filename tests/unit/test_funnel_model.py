"""Funnel and retention references (漏斗分析, 留存分析): the contract on chosen cases, the
request checks, and properties on random persons: the brute force's level equals an
independent greedy (earliest next step from each start), funnels only narrow, strict order
and exclusions never add persons, and a longer window never loses one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from zhongtai.data.analysis.model import (
    Event,
    FunnelIn,
    FunnelOrder,
    FunnelOut,
    RetentionIn,
    Tally,
    funnel_out,
    funnel_reference,
    median,
    ms,
    person_funnel,
    retention_reference,
)

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(seconds: float, type_: str, actor: str = "cookie:a", channel: str = "web") -> Event:
    return Event(actor=actor, time=at(seconds), type=type_, channel=channel)


def request(*types: str, window: int = 10, **extra: Any) -> FunnelIn:
    body = {
        "steps": [{"type": t} for t in types],
        "window_seconds": window,
        "since": at(0),
        "until": at(3600),
        **extra,
    }
    return FunnelIn.model_validate(body)


def persons(out: FunnelOut, breakdown: str | None = None) -> list[int]:
    series = next(f for f in out.funnels if f.breakdown == breakdown)
    return [s.persons for s in series.steps]


def level(events: list[Event], req: FunnelIn) -> int:
    result = person_funnel(events, req)
    return 0 if result is None else result.level


# --- requests ---------------------------------------------------------------------------


def _errors(body: dict[str, Any], model: type[FunnelIn] | type[RetentionIn] = FunnelIn) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    return str(info.value)


BODY = {
    "steps": [{"type": "A"}, {"type": "B"}],
    "window_seconds": 60,
    "since": "2025-03-01T00:00:00+08:00",
    "until": "2025-03-02T00:00:00+08:00",
}


def test_a_funnel_needs_two_to_eight_steps() -> None:
    assert "steps" in _errors({**BODY, "steps": [{"type": "A"}]})
    assert "steps" in _errors({**BODY, "steps": [{"type": "A"}] * 9})


def test_the_window_is_one_second_to_ninety_days() -> None:
    assert "window_seconds" in _errors({**BODY, "window_seconds": 0})
    assert "window_seconds" in _errors({**BODY, "window_seconds": 90 * 86400 + 1})
    FunnelIn.model_validate({**BODY, "window_seconds": 90 * 86400})


def test_exclusions_go_forward_between_existing_steps() -> None:
    backwards = {"condition": {"type": "X"}, "from_step": 1, "to_step": 1}
    assert "from_step must come before to_step" in _errors({**BODY, "exclusions": [backwards]})
    beyond = {"condition": {"type": "X"}, "from_step": 0, "to_step": 2}
    assert "to_step must be one of the steps" in _errors({**BODY, "exclusions": [beyond]})


def test_times_need_a_zone_and_an_order() -> None:
    assert "since" in _errors({**BODY, "since": "2025-03-01T00:00:00"})
    assert "since must be before until" in _errors({**BODY, "until": BODY["since"]})


def test_conditions_name_known_fields_only() -> None:
    assert "colour" in _errors({**BODY, "steps": [{"type": "A", "colour": "red"}, {"type": "B"}]})
    assert "type" in _errors({**BODY, "steps": [{"name": "x"}, {"type": "B"}]})


def test_retention_reads_return_and_checks_its_zone() -> None:
    body = {
        "start": {"type": "S"},
        "return": {"type": "R"},
        "periods": 7,
        "since": "2025-03-01T00:00:00Z",
        "until": "2025-03-08T00:00:00Z",
    }
    assert RetentionIn.model_validate(body).return_.type == "R"
    assert "time zone" in _errors({**body, "timezone": "Mars/Olympus"}, RetentionIn)
    assert "periods" in _errors({**body, "periods": 53}, RetentionIn)


# --- the funnel contract ----------------------------------------------------------------


def test_steps_of_one_millisecond_are_not_consecutive() -> None:
    assert level([ev(5, "A"), ev(5, "B")], request("A", "B")) == 1
    assert level([ev(0, "A"), ev(1, "A"), ev(1, "B")], request("A", "B")) == 2
    assert level([ev(0, "A"), ev(1, "B"), ev(2, "B"), ev(2, "C")], request("A", "B", "C")) == 3


def test_one_event_serves_one_step() -> None:
    assert level([ev(1, "A")], request("A", "A")) == 1
    assert level([ev(1, "A"), ev(1.001, "A")], request("A", "A")) == 2


def test_the_window_edge_is_inside() -> None:
    assert level([ev(0, "A"), ev(10, "B")], request("A", "B", window=10)) == 2
    assert level([ev(0, "A"), ev(10.001, "B")], request("A", "B", window=10)) == 1


def test_the_matched_chain_is_the_earliest_of_the_deepest() -> None:
    events = [ev(t, k) for t, k in [(0, "A"), (1, "B"), (8, "A"), (9, "B"), (15, "C")]]
    result = person_funnel(events, request("A", "B", "C", window=10))
    assert result is not None
    assert result.chain == (ms(at(8)), ms(at(9)), ms(at(15)))
    shallow = person_funnel(events[:2] + events[2:4], request("A", "B", "C", window=10))
    assert shallow is not None and shallow.chain == (ms(at(0)), ms(at(1)))


def test_strict_order_allows_nothing_in_between() -> None:
    strict = request("A", "B", "C", order="strict")
    assert level([ev(0, "A"), ev(1, "X"), ev(2, "B")], strict) == 1
    assert level([ev(0, "A"), ev(1, "B"), ev(1.5, "B"), ev(2, "C")], strict) == 2
    assert level([ev(0, "A"), ev(1, "X"), ev(2, "A"), ev(3, "B")], strict) == 2
    assert level([ev(0, "A"), ev(1, "X"), ev(1, "B")], strict) == 2  # same ms: not between


def test_an_exclusion_judges_the_matched_chain() -> None:
    fence = [{"condition": {"type": "X"}, "from_step": 0, "to_step": 1}]
    req = request("A", "B", exclusions=fence)
    assert level([ev(0, "A"), ev(1, "X"), ev(2, "B")], req) == 1
    assert level([ev(0, "A"), ev(0, "X"), ev(2, "X"), ev(2, "B")], req) == 2
    # The matched chain (A@0 → B@2) saw X; the clean A@3 → B@4 does not undo that.
    assert level([ev(0, "A"), ev(1, "X"), ev(2, "B"), ev(3, "A"), ev(4, "B")], req) == 1


def test_the_first_step_must_fall_in_the_range() -> None:
    req = request("A", "B")
    assert level([ev(-0.001, "A"), ev(1, "B")], req) == 0
    assert level([ev(3600, "A"), ev(3601, "B")], req) == 0
    assert level([ev(3599.999, "A"), ev(3605, "B")], req) == 2


def test_breakdown_counts_each_person_once_under_their_first_value() -> None:
    events = [
        ev(0, "A", channel="app"),
        ev(1, "A", channel="web"),
        ev(2, "B"),
        ev(0, "A", "cookie:b", "web"),
        ev(0, "A", "cookie:b", "app"),
    ]
    out = funnel_reference(events, request("A", "B", breakdown="channel"))
    assert persons(out, "app") == [2, 1]
    assert [f.breakdown for f in out.funnels] == ["app"]


def test_actors_mapped_to_one_person_combine() -> None:
    events = [ev(0, "product_view", "cookie:x"), ev(5, "purchase", "member:y")]
    req = request("product_view", "purchase")
    assert persons(funnel_reference(events, req)) == [1, 0]
    assert persons(funnel_reference(events, req, {"cookie:x": "7", "member:y": "7"})) == [1, 1]


def test_events_without_an_actor_are_nobody() -> None:
    assert persons(funnel_reference([ev(0, "A", actor="")], request("A", "B"))) == [0, 0]


def test_rates_and_medians() -> None:
    tally = Tally(None, (4, 2, 1), (None, 1500.0, 4000.0))
    steps = funnel_out([tally], request("A", "B", "C")).funnels[0].steps
    assert [s.conversion_from_first for s in steps] == [1.0, 0.5, 0.25]
    assert [s.conversion_from_previous for s in steps] == [1.0, 0.5, 0.5]
    assert [s.median_seconds for s in steps] == [None, 1.5, 4.0]
    assert median([3, 1, 2]) == 2.0 and median([4, 1]) == 2.5 and median([]) is None


def test_funnels_come_biggest_first_and_never_empty() -> None:
    small, big = Tally("b", (1, 0), (None, None)), Tally("a", (3, 1), (None, 2.0))
    assert [f.breakdown for f in funnel_out([small, big], request("A", "B")).funnels] == [
        "a",
        "b",
    ]
    empty = funnel_out([], request("A", "B")).funnels
    assert len(empty) == 1 and empty[0].steps[1].conversion_from_first == 0.0
    assert funnel_out([], request("A", "B", breakdown="store")).funnels == []


# --- properties -------------------------------------------------------------------------

timelines = st.lists(
    st.builds(ev, seconds=st.integers(0, 12).map(float), type_=st.sampled_from("ABCX")),
    max_size=12,
)


@st.composite
def requests(draw: st.DrawFn) -> FunnelIn:
    n = draw(st.integers(2, 4))
    return request(
        *draw(st.lists(st.sampled_from("ABC"), min_size=n, max_size=n)),
        window=draw(st.integers(1, 12)),
        until=at(draw(st.integers(1, 12))),
    )


def greedy_level(events: list[Event], req: FunnelIn) -> int:
    """From each start, take the earliest matching event strictly later for each step."""
    times = [[ms(e.time) for e in events if s.matches(e)] for s in req.steps]
    since, until, window = ms(req.since), ms(req.until), req.window_seconds * 1000
    best = 0
    for start in (t for t in times[0] if since <= t < until):
        depth, last = 1, start
        for later in times[1:]:
            nxt = min((t for t in later if last < t <= start + window), default=None)
            if nxt is None:
                break
            depth, last = depth + 1, nxt
        best = max(best, depth)
    return best


@settings(max_examples=150, deadline=None)
@given(events=timelines, req=requests())
def test_brute_force_and_greedy_agree(events: list[Event], req: FunnelIn) -> None:
    assert level(events, req) == greedy_level(events, req)


@settings(max_examples=100, deadline=None)
@given(events=timelines, req=requests(), extra=st.integers(1, 5))
def test_funnels_narrow_and_constraints_only_remove(
    events: list[Event], req: FunnelIn, extra: int
) -> None:
    base = level(events, req)
    strict = req.model_copy(update={"order": FunnelOrder.strict})
    fence = FunnelIn.model_validate(
        {
            **req.model_dump(),
            "exclusions": [
                {"condition": {"type": "X"}, "from_step": 0, "to_step": len(req.steps) - 1}
            ],
        }
    )
    wider = req.model_copy(update={"window_seconds": req.window_seconds + extra})
    assert level(events, strict) <= base
    assert level(events, fence) <= base
    assert level(events, wider) >= base
    counts = persons(funnel_reference(events, req))
    assert counts == sorted(counts, reverse=True)


# --- retention --------------------------------------------------------------------------


def retention(period: str, periods: int = 3, zone: str = "Asia/Shanghai") -> RetentionIn:
    return RetentionIn.model_validate(
        {
            "start": {"type": "S"},
            "return": {"type": "R"},
            "period": period,
            "periods": periods,
            "since": datetime(2025, 3, 1, tzinfo=UTC),
            "until": datetime(2025, 4, 1, tzinfo=UTC),
            "timezone": zone,
        }
    )


def r_ev(actor: str, iso: str, type_: str) -> Event:
    return Event(actor=actor, time=datetime.fromisoformat(iso), type=type_)


def cohorts(events: list[Event], req: RetentionIn) -> list[tuple[date, int, list[int]]]:
    return [(c.cohort, c.size, c.retained) for c in retention_reference(events, req).cohorts]


def test_a_cohort_is_the_period_of_the_first_start() -> None:
    events = [
        r_ev("a", "2025-03-03T10:00:00+08:00", "S"),
        r_ev("a", "2025-03-05T10:00:00+08:00", "S"),
        r_ev("a", "2025-03-04T09:00:00+08:00", "R"),
        r_ev("a", "2025-03-03T08:00:00+08:00", "R"),
        r_ev("b", "2025-03-04T23:30:00+08:00", "S"),
    ]
    assert cohorts(events, retention("day")) == [
        (date(2025, 3, 3), 1, [1, 1, 0, 0]),  # a return before the start still counts in 0
        (date(2025, 3, 4), 1, [0, 0, 0, 0]),
    ]


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    events = [
        r_ev("a", "2025-03-09T12:00:00+08:00", "S"),  # a Sunday
        r_ev("a", "2025-03-10T00:30:00+08:00", "R"),  # Monday: the next week
        r_ev("a", "2025-04-01T00:30:00+08:00", "R"),
    ]
    assert cohorts(events, retention("week")) == [(date(2025, 3, 3), 1, [0, 1, 0, 0])]
    assert cohorts(events, retention("month")) == [(date(2025, 3, 1), 1, [1, 1, 0, 0])]


def test_periods_follow_the_time_zone() -> None:
    events = [r_ev("a", "2025-03-01T20:00:00+00:00", "S")]  # 04:00 on 2 March in Shanghai
    assert cohorts(events, retention("day"))[0][0] == date(2025, 3, 2)
    assert cohorts(events, retention("day", zone="UTC"))[0][0] == date(2025, 3, 1)
