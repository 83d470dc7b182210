"""Audiences: the bitmap algebra gives the count that plain SQL over the long table of tag
values gives, for random tag values and random expressions (and, or, not, value lists,
numeric ranges, saved audiences)."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhongtai.data import warehouse
from zhongtai.data.tags import model, queries, service
from zhongtai.data.tags.model import Expr
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.uow import UnitOfWork

DAY = "2026-11-01"
PERSONS = range(1, 41)
TAGS: dict[str, list[str]] = {
    "colour": ["red", "green", "blue"],
    "score": ["1", "2", "3", "4", "5"],
    "member": ["yes"],
}

holdings = st.lists(
    st.tuples(st.sampled_from(list(TAGS)), st.sampled_from(PERSONS), st.integers(0, 4)),
    max_size=80,
)


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    def tests(tag: str) -> st.SearchStrategy[dict[str, Any]]:
        values = TAGS[tag]
        forms = [
            st.just({"tag": tag}),
            st.sampled_from(values).map(lambda v: {"tag": tag, "value": v}),
            st.lists(st.sampled_from(values), min_size=1, max_size=3).map(
                lambda vs: {"tag": tag, "values": vs}
            ),
        ]
        if tag == "score":
            forms.append(
                st.tuples(st.integers(0, 6), st.integers(0, 6)).map(
                    lambda r: {"tag": tag, "min": min(r), "max": max(r)}
                )
            )
            forms.append(st.integers(1, 5).map(lambda low: {"tag": tag, "min": low}))
        return st.one_of(*forms)

    return st.sampled_from(list(TAGS)).flatmap(tests)


expressions = st.recursive(
    _leaf() | st.just({"audience": "saved"}),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"and": xs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"or": xs}),
        inner.map(lambda x: {"not": x}),
    ),
    max_leaves=6,
)
SAVED = {"and": [{"tag": "member"}, {"not": {"tag": "colour", "value": "red"}}]}


def _seed(db: Database, wh: warehouse.Warehouse, tenant: str, rows: list[tuple[str, int, int]]):
    long = [
        {
            "tenant_id": tenant,
            "tag": tag,
            "day": DAY,
            "value": TAGS[tag][i % len(TAGS[tag])],
            "person": p,
        }
        for tag, p, i in rows
    ]
    long += [
        {"tenant_id": tenant, "tag": model.EVERYONE, "day": DAY, "value": "all", "person": p}
        for p in PERSONS
    ]
    wh.insert("person_tags", long)
    with UnitOfWork(db, tenant) as uow:
        for tag in TAGS:
            params = {"event_types": ["purchase"]}
            service.define(uow, service.TagIn(code=tag, name=tag, kind="rule", params=params))
        for tag in [*TAGS, model.EVERYONE]:
            service.keep_bitmaps(uow, tag, DAY, wh)
        saved = service.AudienceIn(
            code="saved", name="saved", expression=Expr.model_validate(SAVED)
        )
        service.save(uow, saved)
        uow.commit()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=holdings, raw=expressions)
def test_bitmap_counts_equal_plain_sql(
    db: Database, settings: Settings, rows: list[tuple[str, int, int]], raw: dict[str, Any]
) -> None:
    tenant = uuid.uuid4().hex[:26]
    wh = warehouse.of(settings)
    _seed(db, wh, tenant, rows)
    expr = Expr.model_validate(raw)
    with UnitOfWork(db, tenant, write=False) as uow:
        counted = service.count(uow, service.CountIn(expression=expr))
    days = {tag: DAY for tag in [*TAGS, model.EVERYONE]}
    query = queries.audience_sql(wh.database, expr, days, lambda _code: Expr.model_validate(SAVED))
    [sql] = wh.rows(query.sql, {**query.params, "tenant": tenant})
    assert counted.persons == int(sql["persons"])


def test_a_breakdown_splits_the_count_by_a_tags_values(db: Database, settings: Settings) -> None:
    tenant = uuid.uuid4().hex[:26]
    wh = warehouse.of(settings)
    rows = [("member", p, 0) for p in range(1, 11)] + [("colour", p, p % 3) for p in range(1, 21)]
    _seed(db, wh, tenant, rows)
    with UnitOfWork(db, tenant, write=False) as uow:
        out = service.count(uow, service.CountIn(expression=Expr(tag="member"), breakdown="colour"))
    assert out.persons == 10
    expected = {
        v: sum(1 for p in range(1, 11) if TAGS["colour"][p % 3] == v) for v in TAGS["colour"]
    }
    assert {b.value: b.persons for b in out.breakdown} == expected
    assert out.days == {"member": DAY, "colour": DAY}
