"""Funnels and retention as warehouse SQL: one scan of the events, one row per person, the
per-person work in array functions, so only the totals leave the warehouse.

User values only ever travel as `{name:Type}` parameters; conditions become parameterised
fragments (`s0_type`, `x1_sku`, ...), and the column names come from `Condition`'s fields.

How the funnel runs (the contract is in `model`'s docstring)
------------------------------------------------------------
Each event the funnel can use becomes one row per step it matches (step 0 only inside
[since, until)), or one row with step -1 when it matches none but still matters (strict
order, exclusions). Its *key* is `t * 4096 + (7 - step) * 256 + exclusion bits`, t being
its millisecond counted from `since` (from 1): sorted keys run in time order and, within
one millisecond, later steps first. Per person, over the sorted keys, one array pass per
step, last step first, builds X[j]: at each step-j row, the greedy chain from it (its time,
then the earliest next step strictly later, and so on), which is its own time followed by
the chain of the first step-(j+1) row after it (`arrayReverseFill`, shifted by one; the key
order makes that row a later millisecond). Greedy-earliest reaches as deep as any chain
from the same start, so each start's depth is read off its chain, and the matched chain is
the one maximising `depth * 2^44 + (2^44 - 1 - t0)` (`arrayMax`, then `arrayFirstIndex`).
With `order="strict"` every event of the person is fed, and a chain only goes on if its next
step lies at the person's next millisecond. Exclusions then test the matched chain with
`arrayExists`; medians are `quantileExactInclusive(0.5)` (the mean of the two middle
values, as the reference). All of it is linear in the person's events.

ClickHouse's windowFunnel, and why it only cross-checks
-------------------------------------------------------
`windowFunnel(window, 'strict_increase')` fed plain times misses chains at ties: it keeps
only the latest chain per level and, at one timestamp, takes step j's event before step
j+1's, so with A@0, A@1, B@1 the start A@1 replaces A@0 and B@1 no longer counts (level 1;
the contract says 2), and A@0, B@1, B@2, C@2 loses C the same way. Fed the keys above,
with the window times 4096, a step only extends chains of earlier milliseconds and the
window still compares whole milliseconds; then its greedy (the latest start reaching each
level) is exact, and the tests hold it equal to the chains and the reference. It is not the
default: the chains are needed for the times to convert anyway and give the level with
them, and windowFunnel on top cost about a third more (30M events, 3M persons: 6.0 against
4.5 CPU seconds). Its 'strict_order' does not fit either: it ends the whole scan at the
first interruption after the first step-0 event, where the contract starts again at the
next step-0 event. Tried and dropped on the way: an `arrayFold` carrying the chains event
by event (same answers, about three times slower), `arrayReduce('max')` over tuples and
`argMin` by a tuple (both slow on generic comparisons).

Retention groups persons by cohort, array-joins the distinct return-period offsets, and
counts per (cohort, offset): one pass. ClickHouse's `retention()` needs each offset as its
own condition on a known cohort start, which is only known after grouping by person.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from zhongtai.data.analysis.model import (
    CohortOut,
    Condition,
    FunnelIn,
    FunnelOrder,
    FunnelOut,
    Period,
    RetentionIn,
    RetentionOut,
    Tally,
    funnel_out,
    ms,
)
from zhongtai.data.collector.model import stamp
from zhongtai.data.schema import persons_of_actors
from zhongtai.data.warehouse import Warehouse

Params = dict[str, Any]
TIME = "DateTime64(3, 'UTC')"
SPREAD = 4096  # key = t * SPREAD + (7 - step) * 256 + exclusion bits; no step: rank 8
RANK = 2**44  # best start = max of depth * RANK + (RANK - 1 - t0); t0 < RANK ms (557 years)


def person_events(db: str, columns: str, where: str) -> str:
    """The tenant's events with their person (自然人): OneID's latest mapping of the actor,
    or the actor itself while unmapped. Every analysis reads events through here."""
    return (
        f"SELECT if(m.person = 0, e.actor, toString(m.person)) AS person, {columns}"
        f" FROM {db}.events AS e LEFT JOIN {persons_of_actors(db)} AS m ON e.actor = m.actor"
        f" WHERE e.tenant_id = {{tenant:String}} AND e.actor != '' AND ({where})"
    )


def condition(cond: Condition, prefix: str, params: Params) -> str:
    """`cond` as a parameterised predicate on `e`; its values go into `params`."""
    parts = []
    for column, value in cond.fields().items():
        params[f"{prefix}_{column}"] = value
        parts.append(f"e.{column} = {{{prefix}_{column}:String}}")
    return "(" + " AND ".join(parts) + ")"


# --- funnel: rows -----------------------------------------------------------------------


def _bits(preds: list[str]) -> str:
    """A UInt8 with bit i set when predicate i holds."""
    terms = " + ".join(f"bitShiftLeft(toUInt8({p}), {i})" for i, p in enumerate(preds))
    return f"toUInt8({terms})"


def _step_lists(n: int) -> str:
    """For each mask of matched steps (+1), its steps; [-1] for none. A constant: cheaper
    than a lambda per row."""
    lists = [[j for j in range(n) if mask >> j & 1] or [-1] for mask in range(2**n)]
    return "CAST([" + ", ".join(str(steps) for steps in lists) + "], 'Array(Array(Int8))')"


def _rows(db: str, request: FunnelIn, params: Params) -> str:
    """One row per (event, step matched): person, key, step, exclusion bits, value."""
    steps = [condition(s, f"s{j}", params) for j, s in enumerate(request.steps)]
    fences = [condition(x.condition, f"x{i}", params) for i, x in enumerate(request.exclusions)]
    bounded = [f"({steps[0]} AND e.time < {{until:{TIME}}})", *steps[1:]]
    value = f"e.{request.breakdown.value}" if request.breakdown else "''"
    columns = (
        f"toUnixTimestamp64Milli(e.time) - {{since_ms:Int64}} + 1 AS t, {_bits(bounded)} AS"
        f" steps, {_bits(fences) if fences else '0'} AS fences, {value} AS value"
    )
    # Strict order needs every event of the person: any of them may break a chain.
    relevant = "1" if request.order is FunnelOrder.strict else " OR ".join(steps + fences)
    where = f"e.time >= {{since:{TIME}}} AND e.time <= {{horizon:{TIME}}} AND ({relevant})"
    split = f"{_step_lists(len(steps))}[steps + 1]"
    return (
        f"SELECT *, step, t * {SPREAD} + (7 - step) * 256 + fences AS key"
        f" FROM ({person_events(db, columns, where)}) ARRAY JOIN {split} AS step"
    )


# --- funnel: chains ---------------------------------------------------------------------


def _zeros(width: int) -> str:
    return "tuple(" + ", ".join(["toInt64(0)"] * width) + ")"


def _shifted(array: str, width: int) -> str:
    """At each row, the first non-empty chain of a later row (the key order makes every
    step-(j+1) row after a step-j row a later millisecond)."""
    filled = f"arrayReverseFill(v -> v.1 != 0, {array})"
    return f"arrayPopFront(arrayPushBack({filled}, {_zeros(width)}))"


def _greedy(j: int, n: int, strict: bool) -> str:
    """x{j}: at each step-j row its greedy chain (times of steps j..n-1, 0 where it ends),
    from x{j+1}; the zero tuple elsewhere."""
    width = n - j
    if j == n - 1:
        return f"arrayMap((t, s) -> if(s = {j}, tuple(t), {_zeros(1)}), ts, ss) AS x{j}"
    # Strict: the chain goes on only if its next step is the person's next millisecond.
    rest = [f"if(f.1 = nx.1, f.{i}, 0)" if strict else f"f.{i}" for i in range(1, width)]
    args = "(t, s, f, nx)" if strict else "(t, s, f)"
    arrays = f"ts, ss, {_shifted(f'x{j + 1}', width - 1)}" + (", nm" if strict else "")
    chain = f"if(s = {j}, tuple(t, {', '.join(rest)}), {_zeros(width)})"
    return f"arrayMap({args} -> {chain}, {arrays}) AS x{j}"


def _chains(n: int, strict: bool) -> list[str]:
    """Aliased columns from `ks` (sorted keys) to `kmax` (depth * RANK + ...) and `chain`
    (the matched chain's times t0..t{n-1}, 0 past its end)."""
    cols = [
        f"arrayMap(k -> intDiv(k, {SPREAD}), ks) AS ts",
        f"arrayMap(k -> 7 - toInt8(intDiv(k % {SPREAD}, 256)), ks) AS ss",
    ]
    if strict:  # the next millisecond the person did anything, at each row
        starts = "arrayMap((a, b) -> if(a != b, a, 0), ts, arrayPushFront(arrayPopBack(ts), 0))"
        cols.append(f"{_shifted(f'arrayMap(v -> tuple(v), {starts})', 1)} AS nm")
    cols += [_greedy(j, n, strict) for j in range(n - 1, -1, -1)]
    window = "{window_ms:Int64}"
    reached = " + ".join(f"(c.{i} BETWEEN 1 AND c.1 + {window})" for i in range(2, n + 1))
    merit = f"if(c.1 = 0, toInt64(-1), (1 + {reached}) * {RANK} + {RANK - 1} - c.1)"
    return [
        *cols,
        f"arrayMap(c -> {merit}, x0) AS merit",
        "arrayMax(merit) AS kmax",
        "x0[arrayFirstIndex(g -> g = kmax, merit)] AS chain",
    ]


def _level(request: FunnelIn) -> str:
    """The person's level: the matched chain's depth, cut short by exclusions."""
    cuts, depth = [], f"intDiv(kmax, {RANK})"
    for i, x in enumerate(request.exclusions):
        low, high = f"chain.{x.from_step + 1}", f"chain.{x.to_step + 1}"
        hit = f"arrayExists((t, k) -> bitTest(k, {i}) AND t > {low} AND t < {high}, ts, ks)"
        cuts.append(f"if({depth} > {x.to_step} AND {hit}, {x.to_step}, 255)")
    return f"least({depth}, {', '.join(cuts)})" if cuts else depth


def window_funnel_fits(request: FunnelIn) -> bool:
    return request.order is FunnelOrder.any and not request.exclusions


def _per_person(db: str, request: FunnelIn, params: Params, window_funnel: bool) -> str:
    """One row per person who started: breakdown value, level, matched chain's times."""
    n = len(request.steps)
    # The earliest start's value, the smallest on ties (argMin by a tuple is slower).
    first = "arraySort(groupArrayIf((t, value), step = 0))[1].2" if request.breakdown else "''"
    grouped = ["person", f"{first} AS bd", "arraySort(groupArray(key)) AS ks"]
    if window_funnel:
        steps = ", ".join(f"step = {j}" for j in range(n))
        funnel = "windowFunnel({wf_window:UInt64}, 'strict_increase')"
        grouped.append(f"{funnel}(toUInt64(key), {steps}) AS wf")
    persons = (
        f"SELECT {', '.join(grouped)} FROM ({_rows(db, request, params)})"
        " GROUP BY person HAVING countIf(step = 0) > 0"
    )
    chains = ", ".join(_chains(n, request.order is FunnelOrder.strict))
    level = "wf" if window_funnel else _level(request)
    cols = ", ".join(f"chain.{k + 1} AS c{k}" for k in range(n))
    return f"SELECT bd, {level} AS level, {cols} FROM (SELECT *, {chains} FROM ({persons}))"


def funnel_sql(
    db: str, tenant: str, request: FunnelIn, window_funnel: bool = False
) -> tuple[str, Params]:
    """The funnel's query and parameters. `window_funnel` takes the levels from ClickHouse's
    windowFunnel instead of the chains (order "any" without exclusions only): the same
    answer at a third more cost, kept as the engine's cross-check."""
    if window_funnel and not window_funnel_fits(request):
        raise ValueError("windowFunnel computes levels only for order=any without exclusions")
    n, window_ms = len(request.steps), request.window_seconds * 1000
    params: Params = {
        "tenant": tenant,
        "since": stamp(request.since),
        "since_ms": ms(request.since),
        "until": stamp(request.until),
        "horizon": stamp(request.until + timedelta(milliseconds=window_ms)),
        "window_ms": window_ms,
        "wf_window": window_ms * SPREAD,
    }
    inner = _per_person(db, request, params, window_funnel)
    counts = [f"countIf(level > {k}) AS p{k}" for k in range(n)]
    medians = [
        f"quantileExactInclusiveIf(0.5)(toFloat64(c{k} - c0), level > {k}) AS m{k}"
        for k in range(1, n)
    ]
    select = ", ".join(["bd", *counts, *medians])
    return f"SELECT {select} FROM ({inner}) WHERE level > 0 GROUP BY bd", params


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _tally(row: Mapping[str, Any], request: FunnelIn) -> Tally:
    n = len(request.steps)
    medians = [_number(row[f"m{k}"]) for k in range(1, n)]
    return Tally(
        breakdown=str(row["bd"]) if request.breakdown else None,
        persons=tuple(int(row[f"p{k}"]) for k in range(n)),
        median_ms=(None, *medians),
    )


def funnel(wh: Warehouse, tenant: str, request: FunnelIn, window_funnel: bool = False) -> FunnelOut:
    """漏斗分析 in the warehouse."""
    sql, params = funnel_sql(wh.database, tenant, request, window_funnel)
    return funnel_out([_tally(r, request) for r in wh.rows(sql, params)], request)


# --- retention --------------------------------------------------------------------------

_PERIOD_START = {Period.day: "toDate", Period.week: "toMonday", Period.month: "toStartOfMonth"}
_PERIOD_NUMBER = {
    Period.day: "toRelativeDayNum",
    Period.week: "toRelativeWeekNum",  # weeks from Monday, as `model.period_start`
    Period.month: "toRelativeMonthNum",
}


def retention_sql(db: str, tenant: str, request: RetentionIn) -> tuple[str, Params]:
    params: Params = {
        "tenant": tenant,
        "since": stamp(request.since),
        "until": stamp(request.until),
        "tz": request.timezone,
        "periods": request.periods,
        # Coarse bounds for return events (a period is at most 31 days); exact offsets are
        # checked per person below.
        "low": stamp(request.since - timedelta(days=32)),
        "high": stamp(request.until + timedelta(days=32 * (request.periods + 1))),
    }
    start = condition(request.start, "c", params)
    start = f"({start} AND e.time >= {{since:{TIME}}} AND e.time < {{until:{TIME}}})"
    back = condition(request.return_, "r", params)
    back = f"({back} AND e.time >= {{low:{TIME}}} AND e.time < {{high:{TIME}}})"
    first, number = _PERIOD_START[request.period], _PERIOD_NUMBER[request.period]
    columns = (
        f"{start} AS is_start, {back} AS is_return, {first}(e.time, {{tz:String}}) AS day,"
        f" toInt64({number}(e.time, {{tz:String}})) AS p"
    )
    events = person_events(db, columns, f"{start} OR {back}")
    persons = (
        "SELECT minIf(day, is_start) AS cohort, minIf(p, is_start) AS cp,"
        f" groupUniqArrayIf(p, is_return) AS back FROM ({events})"
        " GROUP BY person HAVING countIf(is_start) > 0"
    )
    offsets = "arrayFilter(k -> k >= 0 AND k <= {periods:Int64}, arrayMap(q -> q - cp, back))"
    # Offset -1 stands for the cohort's size, so one GROUP BY gives both.
    sql = (
        f"SELECT toString(cohort) AS cohort, k, count() AS persons FROM ({persons})"
        f" ARRAY JOIN arrayPushFront({offsets}, -1) AS k GROUP BY cohort, k"
    )
    return sql, params


def retention(wh: Warehouse, tenant: str, request: RetentionIn) -> RetentionOut:
    """留存分析 in the warehouse."""
    sql, params = retention_sql(wh.database, tenant, request)
    table: dict[str, list[int]] = {}
    for row in wh.rows(sql, params):
        counts = table.setdefault(row["cohort"], [0] * (request.periods + 2))
        counts[int(row["k"]) + 1] = int(row["persons"])
    cohorts = [
        CohortOut.model_validate({"cohort": c, "size": v[0], "retained": v[1:]})
        for c, v in sorted(table.items())
    ]
    return RetentionOut(period=request.period, cohorts=cohorts)
