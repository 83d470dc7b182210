"""The tag centre (标签中心) and audiences (标签圈选): define tags, compute them in the
warehouse into each day's bitmaps, and answer boolean questions over them."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pyroaring import BitMap
from sqlalchemy import delete, select

from zhongtai.catalog import service as catalog
from zhongtai.data import warehouse
from zhongtai.data.collector.model import stamp
from zhongtai.data.oneid import service as oneid
from zhongtai.data.tags import clv, model, queries
from zhongtai.data.tags.model import Expr, TagKind
from zhongtai.data.tags.store import Audience, TagBitmap, TagDefinition
from zhongtai.members import service as members
from zhongtai.platform.db import Database
from zhongtai.platform.errors import Conflict, NotFound, ValidationFailed
from zhongtai.platform.ids import utcnow
from zhongtai.platform.tenancy import scope_session
from zhongtai.platform.uow import UnitOfWork
from zhongtai.promotions import service as promotions

EVERYONE = model.EVERYONE


class TagIn(BaseModel):
    code: model.Code
    name: str = Field(min_length=1, max_length=200)
    kind: TagKind
    params: dict[str, Any] = Field(default_factory=dict)
    realtime: bool = Field(
        False, description="Rule tags counting 1+ events: persons join as events arrive"
    )


class ValueOut(BaseModel):
    value: str
    persons: int


class TagOut(BaseModel):
    code: str
    name: str
    kind: TagKind
    params: dict[str, Any]
    realtime: bool
    computed_day: str | None
    fitted: dict[str, Any] | None = Field(None, description="A model tag's fitted parameters")
    values: list[ValueOut]


def _params(kind: TagKind, raw: Mapping[str, Any]) -> BaseModel:
    try:
        return model.PARAMS[kind].model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(["params", *(str(p) for p in error["loc"])])
        raise ValidationFailed(field, error["msg"]) from exc


def define(uow: UnitOfWork, cmd: TagIn) -> TagDefinition:
    """标签定义: a tag's meaning; it is computed at the next refresh (or on request)."""
    params = _params(cmd.kind, cmd.params)
    if cmd.realtime and not _realtime_ok(params):
        raise ValidationFailed("realtime", "only rule tags counting 1 or more events")
    if isinstance(params, model.RuleParams) and params.categories:
        unknown = catalog.unknown_codes(uow, "categories", params.categories)
        if unknown:
            raise ValidationFailed("params.categories", f"unknown categories {unknown}")
    if uow.session.get(TagDefinition, (uow.tenant_id, cmd.code)):
        raise Conflict(f"tag {cmd.code} already exists", field="code")
    row = TagDefinition(
        code=cmd.code,
        name=cmd.name,
        kind=cmd.kind.value,
        params=params.model_dump(),
        realtime=cmd.realtime,
    )
    uow.session.add(row)
    uow.session.flush()
    uow.emit("tag.defined", {"code": row.code, "kind": row.kind})
    return row


def _realtime_ok(params: BaseModel) -> bool:
    # Adding a person on an event is right only when one event is enough.
    return isinstance(params, model.RuleParams) and params.measure == "count" and params.min == 1


def get(uow: UnitOfWork, code: str) -> TagDefinition:
    row = uow.session.get(TagDefinition, (uow.tenant_id, code))
    if row is None:
        raise NotFound(f"no tag {code}")
    return row


def definitions(uow: UnitOfWork) -> list[TagDefinition]:
    return list(uow.session.scalars(select(TagDefinition).order_by(TagDefinition.code)))


def _latest_day(uow: UnitOfWork, tag: str) -> str | None:
    query = select(TagBitmap.day).where(TagBitmap.tag == tag).order_by(TagBitmap.day.desc())
    return uow.session.scalars(query.limit(1)).first()


def _bitmaps(uow: UnitOfWork, tag: str, day: str | None) -> dict[str, BitMap]:
    if day is None:
        return {}
    query = select(TagBitmap).where(TagBitmap.tag == tag, TagBitmap.day == day)
    return {r.value: _cache.get(uow.tenant_id, r) for r in uow.session.scalars(query)}


class _Cache:
    """Deserialised bitmaps by (tenant, tag, day, value, size): an audience count then
    costs the algebra alone. A recomputed or grown bitmap has a new key."""

    def __init__(self, limit: int = 2000) -> None:
        self.items: dict[tuple[str, str, str, str, int, int], BitMap] = {}
        self.limit, self.lock = limit, threading.Lock()

    def get(self, tenant: str, row: TagBitmap) -> BitMap:
        key = (tenant, row.tag, row.day, row.value, row.persons, len(row.bitmap))
        with self.lock:
            found = self.items.get(key)
        if found is None:
            found = BitMap.deserialize(row.bitmap)
            with self.lock:
                if len(self.items) >= self.limit:
                    self.items.clear()
                self.items[key] = found
        return found


_cache = _Cache()


def describe(uow: UnitOfWork, row: TagDefinition) -> TagOut:
    day = _latest_day(uow, row.code)
    values = [
        ValueOut(value=v, persons=len(b)) for v, b in sorted(_bitmaps(uow, row.code, day).items())
    ]
    return TagOut(
        code=row.code,
        name=row.name,
        kind=TagKind(row.kind),
        params=row.params,
        realtime=row.realtime,
        computed_day=row.computed_day,
        fitted=row.fitted,
        values=values,
    )


# --- computing (标签计算) ---------------------------------------------------------------


def _skus(uow: UnitOfWork, params: BaseModel) -> list[str]:
    if not isinstance(params, model.RuleParams) or not params.categories:
        return []
    return sorted({x for pair in catalog.skus_under(uow, params.categories) for x in pair})


_DAY = "tenant_id = {tenant:String} AND tag = {tag:String} AND day = {day:Date}"


def _fill(
    uow: UnitOfWork, tag: str, day: str, wh: warehouse.Warehouse, query: queries.Query
) -> None:
    """Run a tag's query into the warehouse's long table of tag values for the day."""
    db, args = wh.database, {**query.params, "tenant": uow.tenant_id, "tag": tag, "day": day}
    wh.command(f"DELETE FROM {db}.person_tags WHERE {_DAY}", args)
    wh.command(
        f"INSERT INTO {db}.person_tags SELECT {{tenant:String}}, {{tag:String}}, {{day:Date}},"
        f" value, person FROM ({query.sql})",
        args,
    )


def keep_bitmaps(uow: UnitOfWork, tag: str, day: str, wh: warehouse.Warehouse) -> None:
    """The day's values of a tag, from the long table, as one bitmap per value."""
    args = {"tenant": uow.tenant_id, "tag": tag, "day": day}
    table = wh.arrow(
        f"SELECT value, groupArray(person) AS persons FROM {wh.database}.person_tags"
        f" WHERE {_DAY} GROUP BY value",
        args,
    )
    uow.session.execute(delete(TagBitmap).where(TagBitmap.tag == tag, TagBitmap.day == day))
    values = table.column("value").to_pylist()
    for value, persons in zip(values, table.column("persons"), strict=True):
        bitmap = BitMap(persons.values.to_numpy())
        uow.session.add(
            TagBitmap(tag=tag, day=day, value=value, persons=len(bitmap), bitmap=bitmap.serialize())
        )
    uow.session.flush()


def _model(uow: UnitOfWork, row: TagDefinition, day: str, until: datetime) -> None:
    """A model tag: fitted in-process on the buyers' summary, written to the long table."""
    params = model.ModelParams.model_validate(row.params)
    wh = warehouse.of(uow.db.settings)
    query = queries.purchase_summary(wh.database, params, until)
    summary = wh.arrow(query.sql, {**query.params, "tenant": uow.tenant_id, "until": stamp(until)})
    args = {"tenant": uow.tenant_id, "tag": row.code, "day": day}
    wh.command(f"DELETE FROM {wh.database}.person_tags WHERE {_DAY}", args)
    if summary.num_rows < 20:  # nothing to learn from yet
        row.fitted = {"buyers": summary.num_rows}
        return
    fitted = clv.fit(summary, params)
    long = [
        {"tenant_id": uow.tenant_id, "tag": row.code, "day": day, "value": v, "person": p}
        for p, v in zip(fitted.persons, fitted.values, strict=True)
    ]
    wh.insert("person_tags", long)
    row.fitted = {"buyers": summary.num_rows, **fitted.parameters}


def compute(uow: UnitOfWork, code: str, until: datetime | None = None) -> TagOut:
    """Compute one tag as of `until` (now) into that day's bitmaps, with everyone."""
    row = get(uow, code)
    until = until or utcnow()
    day, kind = until.date().isoformat(), TagKind(row.kind)
    params = _params(kind, row.params)
    wh = warehouse.of(uow.db.settings)
    if kind is TagKind.model:
        _model(uow, row, day, until)
    else:
        query = queries.for_tag(kind, wh.database, params, until, _skus(uow, params))
        _fill(uow, code, day, wh, replace(query, params={**query.params, "until": stamp(until)}))
    keep_bitmaps(uow, code, day, wh)
    everyone = queries.everyone(wh.database)
    _fill(uow, EVERYONE, day, wh, everyone)
    keep_bitmaps(uow, EVERYONE, day, wh)
    row.computed_day = day
    uow.session.flush()
    return describe(uow, row)


def compute_due(db: Database, limit: int = 20) -> int:
    """Relay job: tags not yet computed today are computed (每日更新), a few per round."""
    due = _due(db, utcnow().date().isoformat(), limit)
    for tenant_id, code in due:
        with UnitOfWork(db, tenant_id) as uow:
            compute(uow, code)
            uow.commit()
    return len(due)


def _due(db: Database, today: str, limit: int) -> list[tuple[str, str]]:
    with db.session(write=False) as session:
        scope_session(session, None)
        query = select(TagDefinition.tenant_id, TagDefinition.code).where(
            (TagDefinition.computed_day.is_(None)) | (TagDefinition.computed_day < today)
        )
        return [(t, c) for t, c in session.execute(query.limit(limit))]


# --- real-time tags (实时标签) -------------------------------------------------------------


def _matches(params: model.RuleParams, row: Mapping[str, Any], skus: set[str]) -> bool:
    return (
        row["type"] in params.event_types
        and (not params.categories or row["sku"] in skus)
        and (not params.channels or row["channel"] in params.channels)
        and (not params.stores or row["store"] in params.stores)
    )


def on_events(uow: UnitOfWork, rows: Sequence[Mapping[str, Any]]) -> int:
    """As events arrive, their persons join today's bitmap of each real-time tag they
    satisfy (the daily computation then confirms it); returns how many joined."""
    live = [r for r in definitions(uow) if r.realtime]
    if not live or not rows:
        return 0
    persons = oneid.persons_of_actors(uow, sorted({r["actor"] for r in rows if r["actor"]}))
    day, joined = utcnow().date().isoformat(), 0
    for tag in live:
        params = model.RuleParams.model_validate(tag.params)
        skus = set(_skus(uow, params))
        found = BitMap(
            persons[r["actor"]] for r in rows if r["actor"] in persons and _matches(params, r, skus)
        )
        joined += _grow(uow, tag.code, day, found)
    return joined


def _grow(uow: UnitOfWork, tag: str, day: str, persons: BitMap) -> int:
    if not persons:
        return 0
    row = uow.session.get(TagBitmap, (uow.tenant_id, tag, day, "yes"), with_for_update=True)
    if row is None:
        latest = _latest_day(uow, tag)
        base = _bitmaps(uow, tag, latest).get("yes", BitMap()) if latest else BitMap()
        row = TagBitmap(tag=tag, day=day, value="yes", persons=0, bitmap=BitMap(base).serialize())
        uow.session.add(row)
    bitmap = BitMap.deserialize(row.bitmap)
    before = len(bitmap)
    bitmap |= persons
    row.bitmap, row.persons = bitmap.serialize(), len(bitmap)
    return len(bitmap) - before


# --- audiences (标签圈选) ------------------------------------------------------------------


class AudienceIn(BaseModel):
    code: model.Code
    name: str = Field(min_length=1, max_length=200)
    expression: Expr


class CountIn(BaseModel):
    expression: Expr
    breakdown: model.Code | None = Field(None, description="A tag: the count per its value")


class CountOut(BaseModel):
    persons: int
    breakdown: list[ValueOut] = Field(default_factory=list)
    days: dict[str, str] = Field(description="The day of each tag's bitmaps used")


class AudienceOut(BaseModel):
    code: str
    name: str
    expression: dict[str, Any]
    persons: int
    days: dict[str, str]


class _Source(model.TagValues):
    """Tag values for one tenant as of each tag's latest computed day."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.days: dict[str, str] = {}
        everyone = _bitmaps(uow, EVERYONE, _latest_day(uow, EVERYONE)).get("all", BitMap())
        super().__init__(self._values, self._audience, everyone)

    def _values(self, tag: str) -> Mapping[str, BitMap]:
        get(self.uow, tag)  # an unknown tag is an error, not an empty set
        day = _latest_day(self.uow, tag)
        if day:
            self.days[tag] = day
        return _bitmaps(self.uow, tag, day)

    def _audience(self, code: str) -> Expr:
        return Expr.model_validate(_audience(self.uow, code).expression)


def _evaluate(uow: UnitOfWork, expr: Expr) -> tuple[BitMap, _Source]:
    source = _Source(uow)
    try:
        return model.evaluate(expr, source), source
    except ValueError as exc:  # a saved audience that refers back to itself
        raise ValidationFailed("expression", str(exc)) from exc


def count(uow: UnitOfWork, cmd: CountIn) -> CountOut:
    """圈选: how many persons an expression selects now, optionally per a tag's value."""
    selected, source = _evaluate(uow, cmd.expression)
    breakdown = []
    if cmd.breakdown:
        values = source.values(cmd.breakdown)
        breakdown = [
            ValueOut(value=v, persons=selected.intersection_cardinality(b))
            for v, b in sorted(values.items())
        ]
    return CountOut(persons=len(selected), breakdown=breakdown, days=source.days)


def _audience(uow: UnitOfWork, code: str) -> Audience:
    row = uow.session.get(Audience, (uow.tenant_id, code))
    if row is None:
        raise NotFound(f"no audience {code}")
    return row


def save(uow: UnitOfWork, cmd: AudienceIn) -> AudienceOut:
    if uow.session.get(Audience, (uow.tenant_id, cmd.code)):
        raise Conflict(f"audience {cmd.code} already exists", field="code")
    for tag in model.tags_of(cmd.expression):
        if uow.session.get(TagDefinition, (uow.tenant_id, tag)) is None:
            raise ValidationFailed("expression", f"no tag {tag}")
    row = Audience(code=cmd.code, name=cmd.name, expression=model.dump(cmd.expression))
    uow.session.add(row)
    uow.session.flush()
    out = audience(uow, cmd.code)  # also proves the expression evaluates (no cycle)
    uow.emit("audience.saved", {"code": row.code, "persons": out.persons})
    return out


def audience(uow: UnitOfWork, code: str) -> AudienceOut:
    """A saved audience as of its tags' latest days: it refreshes with them."""
    row = _audience(uow, code)
    selected, source = _evaluate(uow, Expr.model_validate(row.expression))
    return AudienceOut(
        code=row.code,
        name=row.name,
        expression=row.expression,
        persons=len(selected),
        days=source.days,
    )


def audiences(uow: UnitOfWork) -> list[AudienceOut]:
    codes = uow.session.scalars(select(Audience.code).order_by(Audience.code)).all()
    return [audience(uow, code) for code in codes]


def members_of(uow: UnitOfWork, code: str) -> list[tuple[int, list[str]]]:
    """The audience's persons with their member ids (those OneID knows of)."""
    row = _audience(uow, code)
    selected, _source = _evaluate(uow, Expr.model_validate(row.expression))
    return oneid.members_of_persons(uow, list(selected))


def export_csv(uow: UnitOfWork, code: str) -> str:
    """导出: one line per person: the OneID person and its member ids."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["person", "members"])
    for person, ids in members_of(uow, code):
        writer.writerow([person, " ".join(ids)])
    return out.getvalue()


class CouponsIn(BaseModel):
    template: str = Field(min_length=1, max_length=40, description="The coupon template's code")


class CouponsOut(BaseModel):
    members: int
    issued: int
    skipped: int = Field(description="Members at their limit, or once the total ran out")


def issue_coupons(uow: UnitOfWork, code: str, cmd: CouponsIn) -> CouponsOut:
    """交给营销: one coupon of a template for each member in the audience, within the
    template's limits (those at a limit are skipped, never half-issued)."""
    if not promotions.template_exists(uow, cmd.template):
        raise ValidationFailed("template", f"no coupon template {cmd.template}")
    held = [m for _person, ids in members_of(uow, code) for m in ids]
    known = sorted({found.id for m in held if (found := members.find(uow, m)) is not None})
    issued = sum(promotions.grant(uow, cmd.template, m) is not None for m in known)
    uow.emit("audience.coupons_issued", {"code": code, "template": cmd.template, "issued": issued})
    return CouponsOut(members=len(known), issued=issued, skipped=len(known) - issued)


class HeldOut(BaseModel):
    tag: str
    value: str
    day: str


def held_by(uow: UnitOfWork, person: int) -> list[HeldOut]:
    """画像: the values a person holds on each tag's latest day."""
    held = []
    for row in definitions(uow):
        day = _latest_day(uow, row.code)
        for value, bitmap in sorted(_bitmaps(uow, row.code, day).items()):
            if day and person in bitmap:
                held.append(HeldOut(tag=row.code, value=value, day=day))
    return held


def audiences_holding(uow: UnitOfWork, person: int) -> list[str]:
    """The saved audiences a person falls in now."""
    source = _Source(uow)
    rows = uow.session.scalars(select(Audience).order_by(Audience.code))
    return [
        row.code
        for row in rows
        if person in model.evaluate(Expr.model_validate(row.expression), source)
    ]
