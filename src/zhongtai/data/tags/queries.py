"""The warehouse SQL behind each kind of tag: every query selects (person, value) rows for
one tenant as of one instant, over events joined to OneID's persons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from zhongtai.data.collector.model import stamp
from zhongtai.data.schema import ORDER_KEY, PURCHASE, persons_of_actors
from zhongtai.data.tags import model
from zhongtai.data.tags.model import TagKind


@dataclass
class Query:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def _base(db: str, where: str) -> str:
    return (
        f"FROM {db}.events AS e INNER JOIN {persons_of_actors(db)} AS m ON e.actor = m.actor"
        f" WHERE e.tenant_id = {{tenant:String}} AND e.time < {{until:DateTime64(3)}} AND {where}"
    )


def _since(until: datetime, days: int) -> str:
    return stamp(until - timedelta(days=days))


def rule(db: str, p: model.RuleParams, until: datetime, skus: list[str]) -> Query:
    where = ["e.type IN {types:Array(String)}", "e.time >= {since:DateTime64(3)}"]
    params: dict[str, Any] = {"types": p.event_types, "since": _since(until, p.window_days)}
    for column, values in (("sku", skus), ("channel", p.channels), ("store", p.stores)):
        if values or (column == "sku" and p.categories):
            where.append(f"e.{column} IN {{{column}s:Array(String)}}")
            params[f"{column}s"] = values
    measure = "count()" if p.measure == "count" else "sum(amount)"
    upper = "" if p.max is None else " AND measure <= {max:Int64}"
    params.update(min=p.min, max=p.max or 0)
    sql = (
        f"SELECT person, 'yes' AS value FROM (SELECT person, {measure} AS measure FROM ("
        f" SELECT m.person AS person, {ORDER_KEY} AS key, max(e.amount) AS amount"
        f" {_base(db, ' AND '.join(where))} GROUP BY person, key)"
        f" GROUP BY person HAVING measure >= {{min:Int64}}{upper})"
    )
    return Query(sql, params)


def lifecycle(db: str, p: model.LifecycleParams, until: datetime) -> Query:
    sql = (
        "SELECT person, multiIf(buys = 0, 'prospect', first >= {new_since:DateTime64(3)}, 'new',"
        " last >= {active_since:DateTime64(3)}, 'active', last >= {lost_since:DateTime64(3)},"
        " 'dormant', 'lost') AS value FROM ("
        f" SELECT m.person AS person, countIf({PURCHASE}) AS buys,"
        f" minIf(e.time, {PURCHASE}) AS first, maxIf(e.time, {PURCHASE}) AS last"
        f" {_base(db, '1')} GROUP BY person)"
    )
    params = {
        "new_since": _since(until, p.new_days),
        "active_since": _since(until, p.active_days),
        "lost_since": _since(until, p.lost_days),
    }
    return Query(sql, params)


def _buyers(db: str, days: int, until: datetime) -> tuple[str, dict[str, Any]]:
    """Per buyer in the window: last purchase, orders and amount; then each measure's
    quintile score (ties share a score: by rank, not by row number)."""
    per_order = (
        f"SELECT m.person AS person, {ORDER_KEY} AS key, max(e.time) AS at,"
        f" max(e.amount) AS amount {_base(db, PURCHASE + ' AND e.time >= {since:DateTime64(3)}')}"
        " GROUP BY person, key"
    )
    scores = ", ".join(
        f"least(5, 1 + intDiv(5 * (rank() OVER (ORDER BY {m}) - 1), count() OVER ())) AS {s}"
        for m, s in (("last", "r"), ("orders", "f"), ("total", "m"))
    )
    sql = (
        f"SELECT person, {scores} FROM (SELECT person, max(at) AS last, count() AS orders,"
        f" sum(amount) AS total FROM ({per_order}) GROUP BY person)"
    )
    return sql, {"since": _since(until, days)}


def rfm(db: str, p: model.RfmParams, until: datetime) -> Query:
    buyers, params = _buyers(db, p.window_days, until)
    if p.score != "segment":
        return Query(f"SELECT person, toString({p.score}) AS value FROM ({buyers})", params)
    grid = [(r * 10 + f, model.segment(r, f)) for r in range(1, 6) for f in range(1, 6)]
    params.update(keys=[k for k, _ in grid], names=[n for _, n in grid])
    sql = (
        "SELECT person, transform(toUInt16(r * 10 + f), {keys:Array(UInt16)},"
        f" {{names:Array(String)}}, 'lost') AS value FROM ({buyers})"
    )
    return Query(sql, params)


def preference(db: str, p: model.PreferenceParams, until: datetime) -> Query:
    # Ties go to the greater code: deterministic, whatever order rows come in.
    where = f"{PURCHASE} AND e.time >= {{since:DateTime64(3)}} AND e.{p.of} != ''"
    sql = (
        f"SELECT person, argMax(place, (n, place)) AS value FROM ("
        f" SELECT m.person AS person, e.{p.of} AS place, uniqExact({ORDER_KEY}) AS n"
        f" {_base(db, where)} GROUP BY person, place) GROUP BY person"
    )
    return Query(sql, {"since": _since(until, p.window_days)})


def price_sensitivity(db: str, p: model.PriceSensitivityParams, until: datetime) -> Query:
    placed = "e.type = 'order.created' AND e.time >= {since:DateTime64(3)}"
    sql = (
        "SELECT person, multiIf(share >= {high:Float64}, 'high', share >= {medium:Float64},"
        " 'medium', 'low') AS value FROM (SELECT m.person AS person,"
        " countIf(JSONLength(e.properties, 'promotions') > 0) / count() AS share"
        f" {_base(db, placed)} GROUP BY person)"
    )
    params = {"since": _since(until, p.window_days), "high": p.high_share}
    return Query(sql, {**params, "medium": p.medium_share})


def purchase_summary(db: str, p: model.ModelParams, until: datetime) -> Query:
    """Per buyer, in days as buy-till-you-die models count them: repeat purchase days
    (frequency), first to last purchase (recency), first purchase to now (T), and the
    mean value of the repeat days (monetary, cents)."""
    per_order = (
        f"SELECT m.person AS person, {ORDER_KEY} AS key, min(e.time) AS at,"
        f" max(e.amount) AS amount {_base(db, PURCHASE + ' AND e.time >= {since:DateTime64(3)}')}"
        " GROUP BY person, key"
    )
    per_day = (
        f"SELECT person, toDate(at) AS day, sum(amount) AS value FROM ({per_order})"
        " GROUP BY person, day"
    )
    sql = (
        "SELECT person, toFloat64(count() - 1) AS frequency,"
        " toFloat64(dateDiff('day', min(day), max(day))) AS recency,"
        " toFloat64(dateDiff('day', min(day), toDate({until:DateTime64(3)}))) AS T,"
        " if(count() > 1, (sum(value) - argMin(value, day)) / (count() - 1), 0) AS monetary"
        f" FROM ({per_day}) GROUP BY person ORDER BY person"
    )
    return Query(sql, {"since": _since(until, p.window_days)})


def for_tag(kind: TagKind, db: str, params: BaseModel, until: datetime, skus: list[str]) -> Query:
    if isinstance(params, model.RuleParams):
        return rule(db, params, until, skus)
    builders: dict[TagKind, Any] = {
        TagKind.lifecycle: lifecycle,
        TagKind.rfm: rfm,
        TagKind.preference: preference,
        TagKind.price_sensitivity: price_sensitivity,
    }
    query: Query = builders[kind](db, params, until)
    return query


def everyone(db: str) -> Query:
    """Every person OneID has given the warehouse: what `not` is relative to."""
    sql = f"SELECT DISTINCT person, 'all' AS value FROM {persons_of_actors(db)}"
    return Query(sql, {})


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any, kind: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{kind}}}"


def audience_sql(
    db: str,
    expr: model.Expr,
    days: dict[str, str],
    saved: Callable[[str], model.Expr],
) -> Query:
    """The same question as an audience's bitmaps, asked in plain SQL over the long table
    of tag values (set operations per tag test): the reference and the baseline."""
    params = _Params()
    sql = f"SELECT count() AS persons FROM ({_set(db, expr, days, saved, params)})"
    return Query(sql, params.values)


def _tag_sql(db: str, expr: model.Expr, days: dict[str, str], params: _Params) -> str:
    assert expr.tag is not None
    head = (
        f"SELECT person FROM {db}.person_tags WHERE tenant_id = {{tenant:String}}"
        f" AND tag = {params.add(expr.tag, 'String')}"
        f" AND day = {params.add(days.get(expr.tag, '1970-01-01'), 'Date')}"
    )
    if expr.value is not None:
        return f"{head} AND value = {params.add(expr.value, 'String')}"
    if expr.values is not None:
        return f"{head} AND value IN {params.add(expr.values, 'Array(String)')}"
    low = (
        "" if expr.min is None else f" AND toInt64OrNull(value) >= {params.add(expr.min, 'Int64')}"
    )
    high = (
        "" if expr.max is None else f" AND toInt64OrNull(value) <= {params.add(expr.max, 'Int64')}"
    )
    return head + low + high


def _set(
    db: str,
    expr: model.Expr,
    days: dict[str, str],
    saved: Callable[[str], model.Expr],
    params: _Params,
) -> str:
    def nested(e: model.Expr) -> str:
        return f"({_set(db, e, days, saved, params)})"

    if expr.tag is not None:
        return _tag_sql(db, expr, days, params)
    if expr.all_ is not None:
        return " INTERSECT ".join(nested(e) for e in expr.all_)
    if expr.any_ is not None:
        return " UNION DISTINCT ".join(nested(e) for e in expr.any_)
    if expr.not_ is not None:
        everyone = model.Expr.model_construct(tag=model.EVERYONE)  # not a user's tag code
        return f"{nested(everyone)} EXCEPT {nested(expr.not_)}"
    assert expr.audience is not None
    return _set(db, saved(expr.audience), days, saved, params)
