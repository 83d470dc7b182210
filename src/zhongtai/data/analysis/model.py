"""Funnels (漏斗分析) and retention (留存分析): the requests, the answers, and the contract as
pure Python reference implementations (brute force, for tests and for reading).

The warehouse computes the same answers in SQL (see `queries`); the property tests hold
the two equal on random event sets.

Persons (自然人)
----------------
An event belongs to OneID's person of its actor (the latest `person_map` version), or to
the actor itself when OneID has not mapped it. Events without an actor are ignored.

Funnel contract
---------------
Times count in milliseconds, as the warehouse stores them.

* An event *matches* a condition when it has every field the condition names. Step 0 is
  also bounded in time: only events with `since <= time < until` start a funnel.
* A *chain* is events e0, e1, ..., ek matching steps 0, 1, ..., k with
  - strictly increasing times, t0 < t1 < ... < tk (tie rule: two events of the same
    millisecond are never consecutive steps, so one event serves at most one step; this
    is ClickHouse's 'strict_increase');
  - tk - t0 <= window_seconds (the window's edge is inside);
  - with `order="strict"`, no event of the person at all (of any type, a repeat of a step
    included: A, B, B, C reaches B only) strictly between two consecutive steps. Events of
    the same millisecond as a step have no order against it and break nothing. Each
    step-0 event may start a chain, so an interruption only spoils the chains across it.
* A person's *level* is the length of their longest chain (0: no step-0 event in range).
  They reach steps 0 .. level-1.
* Their *matched chain* is, among the longest chains, the earliest: the one with the
  smallest (t0, t1, ...), i.e. the earliest start that reaches that deep, then each step
  as early as possible ("earliest-first"). Times to convert are read off it.
* Exclusions (排除事件) judge the matched chain, they do not search for another one: if
  the person has an event matching an exclusion's condition strictly between the chain's
  `from_step` and `to_step` times, they reach no further than `to_step - 1` (the smallest
  such `to_step` wins when several exclusions fire). A later clean conversion does not
  undo it: the matched chain is what the funnel reports for that person.
* Breakdown (分组): the channel or store of the person's earliest step-0 event in range
  (ties of one millisecond: the smallest value). Each person counts in one funnel.
* Per funnel and step: persons reaching it, conversion from step 0 and from the previous
  step, and the median seconds from t0 to that step's time on the matched chain (the
  middle value, or the mean of the two middle ones; none for step 0).

These rules are the engine's 'strict_increase' windowFunnel where that one is right;
`queries` says where it is not (ties; its 'strict_order') and how the warehouse computes
them instead.

Retention contract
------------------
Periods are days, ISO weeks (from Monday) or calendar months in the request's time zone.
A person's cohort is the period of their first `start` event with `since <= time <
until`; they are retained in period k (0 <= k <= periods) when they have a `return`
event anywhere in period cohort + k (period 0 included, whichever came first inside it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zhongtai.data.collector.model import WarehouseTime

MAX_STEPS = 8
MAX_WINDOW_SECONDS = 90 * 86400
Code = Annotated[str, Field(min_length=1, max_length=64)]


class Condition(BaseModel):
    """Which events a step (or an exclusion, a cohort, a return) means."""

    model_config = ConfigDict(extra="forbid")
    type: Code = Field(description="Event type: 'product_view', 'purchase', 'order.paid', ...")
    name: Code | None = None
    channel: Code | None = None
    store: Code | None = None
    sku: Code | None = None

    def fields(self) -> dict[str, str]:
        """The event fields this condition pins, by column name."""
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def matches(self, event: Event) -> bool:
        return all(getattr(event, k) == v for k, v in self.fields().items())


class Exclusion(BaseModel):
    """排除事件: converting from `from_step` to `to_step` with this event in between does not
    count (steps are 0-based)."""

    model_config = ConfigDict(extra="forbid")
    condition: Condition
    from_step: Annotated[int, Field(ge=0, lt=MAX_STEPS)]
    to_step: Annotated[int, Field(ge=1, lt=MAX_STEPS)]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.from_step >= self.to_step:
            raise ValueError("from_step must come before to_step")
        return self


class FunnelOrder(StrEnum):
    any = "any"  # other events may come between steps (windowFunnel's default)
    strict = "strict"  # no other event of the person between consecutive steps


class Breakdown(StrEnum):
    channel = "channel"
    store = "store"


def _time_range(since: datetime, until: datetime) -> None:
    if since >= until:
        raise ValueError("since must be before until")


class FunnelIn(BaseModel):
    """漏斗分析: how far persons get through 2 to 8 steps within a time window."""

    model_config = ConfigDict(extra="forbid")
    steps: list[Condition] = Field(min_length=2, max_length=MAX_STEPS)
    window_seconds: Annotated[int, Field(ge=1, le=MAX_WINDOW_SECONDS)]
    order: FunnelOrder = FunnelOrder.any
    exclusions: list[Exclusion] = Field(default_factory=list, max_length=MAX_STEPS)
    breakdown: Breakdown | None = None
    since: WarehouseTime = Field(description="First step from (inclusive)")
    until: WarehouseTime = Field(description="First step before (exclusive)")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _time_range(self.since, self.until)
        if any(x.to_step >= len(self.steps) for x in self.exclusions):
            raise ValueError("an exclusion's to_step must be one of the steps")
        return self


class StepOut(BaseModel):
    step: int
    persons: int
    conversion_from_first: float
    conversion_from_previous: float
    median_seconds: float | None = Field(description="From step 0 to this step; none at 0")


class FunnelSeries(BaseModel):
    """One funnel: all persons, or those of one breakdown value."""

    breakdown: str | None
    steps: list[StepOut]


class FunnelOut(BaseModel):
    funnels: list[FunnelSeries]


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class RetentionIn(BaseModel):
    """留存分析: of the persons who started in each period, how many came back later."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: Condition = Field(description="The cohort event, e.g. first purchase or register")
    return_: Condition = Field(alias="return", description="The event that counts as a return")
    period: Period = Period.day
    periods: Annotated[int, Field(ge=1, le=52)]
    since: WarehouseTime = Field(description="Cohort events from (inclusive)")
    until: WarehouseTime = Field(description="Cohort events before (exclusive)")
    timezone: str = Field("Asia/Shanghai", description="Where periods begin and end")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("not a known IANA time zone") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _time_range(self.since, self.until)
        return self


class CohortOut(BaseModel):
    cohort: date = Field(description="The period's first day")
    size: int
    retained: list[int] = Field(description="Persons returning in period k, k = 0..periods")


class RetentionOut(BaseModel):
    period: Period
    cohorts: list[CohortOut]


# --- shaping the answer (shared by the SQL path and the reference) ------------------------


@dataclass(frozen=True)
class Tally:
    """One funnel's raw numbers: persons per step, median milliseconds to each step."""

    breakdown: str | None
    persons: tuple[int, ...]
    median_ms: tuple[float | None, ...]


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _steps(tally: Tally) -> list[StepOut]:
    first, out = tally.persons[0], []
    for k, (persons, median) in enumerate(zip(tally.persons, tally.median_ms, strict=True)):
        previous = tally.persons[k - 1] if k else first
        seconds = None if k == 0 or median is None else median / 1000
        out.append(
            StepOut(
                step=k,
                persons=persons,
                conversion_from_first=_rate(persons, first),
                conversion_from_previous=_rate(persons, previous),
                median_seconds=seconds,
            )
        )
    return out


def funnel_out(tallies: Iterable[Tally], request: FunnelIn) -> FunnelOut:
    """Biggest funnels first; without a breakdown, always exactly one funnel."""
    series = sorted(tallies, key=lambda t: (-t.persons[0], t.breakdown or ""))
    if request.breakdown is None and not series:
        n = len(request.steps)
        series = [Tally(None, (0,) * n, (None,) * n)]
    return FunnelOut(funnels=[FunnelSeries(breakdown=t.breakdown, steps=_steps(t)) for t in series])


def median(values: Sequence[int]) -> float | None:
    """The middle value, or the mean of the two middle ones."""
    if not values:
        return None
    ordered, half = sorted(values), len(values) // 2
    return float(ordered[half]) if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


# --- the reference ----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """An event as the analyses see it."""

    actor: str
    time: datetime
    type: str
    name: str = ""
    channel: str = ""
    store: str = ""
    sku: str = ""


def ms(at: datetime) -> int:
    """Milliseconds since the epoch, truncated like the warehouse's DateTime64(3)."""
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def by_person(events: Iterable[Event], persons: Mapping[str, str]) -> dict[str, list[Event]]:
    """Each person's events; `persons` maps actors to persons (unmapped: themselves)."""
    out: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.actor:
            out[persons.get(event.actor, event.actor)].append(event)
    return out


@dataclass(frozen=True)
class PersonFunnel:
    level: int
    chain: tuple[int, ...]  # the matched chain's step times (ms)
    breakdown: str | None


def _step_times(events: list[Event], request: FunnelIn) -> list[list[int]]:
    since, until = ms(request.since), ms(request.until)
    times = [sorted({ms(e.time) for e in events if step.matches(e)}) for step in request.steps]
    times[0] = [t for t in times[0] if since <= t < until]
    return times


def _chains(events: list[Event], request: FunnelIn) -> Iterator[tuple[int, ...]]:
    """Every chain, as its step times (events of one millisecond are one choice)."""
    step_times, window = _step_times(events, request), request.window_seconds * 1000
    seen = sorted({ms(e.time) for e in events})

    def clear(a: int, b: int) -> bool:
        return request.order is FunnelOrder.any or not any(a < t < b for t in seen)

    def extend(chain: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        yield chain
        if len(chain) < len(step_times):
            for t in step_times[len(chain)]:
                if chain[-1] < t <= chain[0] + window and clear(chain[-1], t):
                    yield from extend((*chain, t))

    for start in step_times[0]:
        yield from extend((start,))


def _excluded_level(events: list[Event], request: FunnelIn, chain: tuple[int, ...]) -> int:
    level = len(chain)
    for x in request.exclusions:
        if x.to_step < len(chain):
            low, high = chain[x.from_step], chain[x.to_step]
            if any(low < ms(e.time) < high for e in events if x.condition.matches(e)):
                level = min(level, x.to_step)
    return level


def _first_value(events: list[Event], request: FunnelIn) -> str | None:
    if request.breakdown is None:
        return None
    since, until, first = ms(request.since), ms(request.until), request.steps[0]
    starts = [
        (ms(e.time), str(getattr(e, request.breakdown.value)))
        for e in events
        if first.matches(e) and since <= ms(e.time) < until
    ]
    return min(starts)[1]


def person_funnel(events: list[Event], request: FunnelIn) -> PersonFunnel | None:
    """One person's level and matched chain; None without a step-0 event in range."""
    chains = list(_chains(events, request))
    if not chains:
        return None
    deepest = max(len(c) for c in chains)
    chain = min(c for c in chains if len(c) == deepest)
    level = _excluded_level(events, request, chain)
    return PersonFunnel(level, chain[:level], _first_value(events, request))


def _tally(breakdown: str | None, people: list[PersonFunnel], steps: int) -> Tally:
    persons = tuple(sum(p.level > k for p in people) for k in range(steps))
    medians = [
        median([p.chain[k] - p.chain[0] for p in people if p.level > k]) for k in range(1, steps)
    ]
    return Tally(breakdown, persons, (None, *medians))


def funnel_reference(
    events: Iterable[Event], request: FunnelIn, persons: Mapping[str, str] | None = None
) -> FunnelOut:
    """The funnel by brute force: every chain of every person is tried."""
    groups: dict[str | None, list[PersonFunnel]] = defaultdict(list)
    for timeline in by_person(events, persons or {}).values():
        if (result := person_funnel(timeline, request)) is not None:
            groups[result.breakdown].append(result)
    n = len(request.steps)
    return funnel_out([_tally(b, people, n) for b, people in groups.items()], request)


def period_start(at: datetime, period: Period, zone: ZoneInfo) -> date:
    """The first day of the period holding `at`, in `zone`."""
    day = at.astimezone(zone).date()
    if period is Period.day:
        return day
    if period is Period.week:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def periods_between(first: date, later: date, period: Period) -> int:
    """How many periods `later`'s period is after `first`'s (both period starts)."""
    if period is Period.month:
        return (later.year - first.year) * 12 + later.month - first.month
    return (later - first).days // (7 if period is Period.week else 1)


def retention_reference(
    events: Iterable[Event], request: RetentionIn, persons: Mapping[str, str] | None = None
) -> RetentionOut:
    """Retention by brute force, person by person."""
    zone, period = ZoneInfo(request.timezone), request.period
    since, until = ms(request.since), ms(request.until)
    cohorts: dict[date, list[int]] = {}
    for timeline in by_person(events, persons or {}).values():
        starts = [
            e.time for e in timeline if request.start.matches(e) and since <= ms(e.time) < until
        ]
        if not starts:
            continue
        cohort = period_start(min(starts), period, zone)
        row = cohorts.setdefault(cohort, [0] * (request.periods + 2))
        row[0] += 1
        back = {
            periods_between(cohort, period_start(e.time, period, zone), period)
            for e in timeline
            if request.return_.matches(e)
        }
        for k in back & set(range(request.periods + 1)):
            row[k + 1] += 1
    return RetentionOut(
        period=period,
        cohorts=[
            CohortOut(cohort=c, size=r[0], retained=r[1:]) for c, r in sorted(cohorts.items())
        ],
    )
