"""Collecting events (数据采集): accept a batch event by event, keep it durably, and move
it into the warehouse with one ingester."""

from __future__ import annotations

import itertools
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from msgspec import Raw
from prometheus_client import Counter as Metric
from pydantic import BaseModel
from sqlalchemy import Text, bindparam, cast, delete, insert, select, update
from sqlalchemy.orm import Session

from zhongtai.catalog import service as catalog
from zhongtai.data import warehouse
from zhongtai.data.collector import model, stream
from zhongtai.data.collector.store import EventCounter, InboxBatch
from zhongtai.data.oneid import service as oneid
from zhongtai.data.oneid.model import IdKind
from zhongtai.data.tags import service as tags
from zhongtai.members import service as members
from zhongtai.platform import outbox
from zhongtai.platform.db import Database, EncodedJSON, dialect_insert
from zhongtai.platform.errors import ValidationFailed
from zhongtai.platform.ids import new_id, new_ids, utcnow
from zhongtai.platform.outbox import Event
from zhongtai.platform.tenancy import scope_session
from zhongtai.platform.uow import UnitOfWork

log = logging.getLogger("zhongtai.collector")
EVENTS = Metric("zt_events_total", "Behaviour events by outcome", ["outcome"])
INGEST_BATCH = 5000


class FieldError(BaseModel):
    field: str
    message: str


class Rejection(BaseModel):
    index: int
    id: str | None
    reason: str
    errors: list[FieldError]


class CollectOut(BaseModel):
    accepted: int
    rejected: list[Rejection]
    ids: list[str]


class _ClientId(msgspec.Struct):
    id: str | None = None


def _rejection(index: int, text: Raw | None, problems: Sequence[model.Problem]) -> Rejection:
    try:
        client_id = msgspec.json.decode(text, type=_ClientId).id if text is not None else None
    except msgspec.MsgspecError:
        client_id = None
    return Rejection(
        index=index,
        id=client_id,
        reason=problems[0].reason,
        errors=[
            FieldError(field=f"events[{index}].{p.field}", message=p.message) for p in problems
        ],
    )


def collect(
    uow: UnitOfWork,
    events: Sequence[Raw | None],
    now: datetime | None = None,
    key: str | None = None,
) -> CollectOut:
    """采集: keep every good event of the batch (each its JSON text, `model.events_of`),
    say why each bad one was refused. With the request's Idempotency-Key (`key`) the
    batch's and its events' ids come from the key, so a retry after a failure the client
    saw stores nothing twice: the stream drops a batch id it holds, and the inbox never
    kept the failed try."""
    now = now or utcnow()
    kept: list[Raw] = []
    rejected: list[Rejection] = []
    for index, text in enumerate(events):
        checked = model.check(text, now)
        if checked.event is None or text is None:
            rejected.append(_rejection(index, text, checked.problems))
        else:
            kept.append(text)
    seed = None if key is None else f"{uow.tenant_id}:{uow.actor_id}:{key}"
    batch_id, *ids = new_ids(len(kept) + 1, seed)
    if kept:
        _keep(uow, batch_id, stream.Collected(uow.tenant_id, now, ids, kept))
    outcomes = Counter(r.reason for r in rejected)
    outcomes["accepted"] = len(kept)
    _count(uow, now.date().isoformat(), outcomes)
    return CollectOut(accepted=len(kept), rejected=rejected, ids=ids)


# The batch goes in as JSON text made here: SQLAlchemy's JSON type would decode and encode
# it again with the standard library, most of the insert's cost.
_INBOX = insert(InboxBatch.__table__).values(  # type: ignore[arg-type]
    **{column: bindparam(column, type_=EncodedJSON()) for column in ("ids", "events")}
)
_JSON = msgspec.json.Encoder()


def _keep(uow: UnitOfWork, batch_id: str, batch: stream.Collected) -> None:
    """Durably, before the batch is answered: in the NATS stream when there is one (in
    the caller's transaction's stead: a burst does not load the database), else in the
    inbox table."""
    buffer = stream.buffer_of(uow.db.settings)
    if buffer is not None:
        buffer.publish(batch_id, batch)
        return
    values = {
        "id": batch_id,
        "tenant_id": batch.tenant_id,
        "received_at": batch.received_at,
        "size": len(batch.ids),
        "ids": _JSON.encode(batch.ids).decode(),
        "events": _JSON.encode(batch.events).decode(),
        "rows": [],
        "links": [],
    }
    uow.session.execute(_INBOX, values)


def held(batch_id: str, ready: Sequence[stream.Buffered], now: datetime) -> InboxBatch:
    """Warehouse rows made elsewhere (business events, imports) as one inbox row."""
    return InboxBatch(
        id=batch_id,
        tenant_id=ready[0].tenant_id,
        received_at=now,
        size=len(ready),
        rows=[e.row for e in ready],
        links=[e.links for e in ready],
    )


def _rows_of(batch: stream.Collected) -> list[stream.Buffered]:
    """A collected batch's rows, made by the ingester: each event is checked again as at
    its arrival, so it passes as it did then (one that no longer does, after an upgrade
    changed the rules, is logged and left out)."""
    ready = []
    for event_id, text in zip(batch.ids, batch.events, strict=True):
        checked = model.check(text, batch.received_at)
        if checked.event is None:
            log.error("event %s no longer passes: %s", event_id, checked.problems)
            continue
        row = model.behaviour_row(checked, event_id, batch.received_at)
        links = [[kind.value, value] for kind, value in checked.links]
        ready.append(stream.Buffered(event_id, batch.tenant_id, row, links))
    return ready


def _count(uow: UnitOfWork, day: str, outcomes: Counter[str]) -> None:
    for outcome, n in outcomes.items():
        if not n:
            continue
        EVENTS.labels(outcome).inc(n)
        stmt = dialect_insert(uow.db.dialect)(EventCounter).values(
            tenant_id=uow.tenant_id, day=day, outcome=outcome, count=n
        )
        uow.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "day", "outcome"],
                set_={"count": EventCounter.count + n},
            )
        )


class Tally(BaseModel):
    day: str
    outcome: str
    count: int


def tallies(uow: UnitOfWork, since: str) -> list[Tally]:
    """Accepted and rejected events per day and reason, from `since` (a date) on."""
    query = select(EventCounter).where(EventCounter.day >= since)
    rows = uow.session.scalars(query.order_by(EventCounter.day, EventCounter.outcome)).all()
    return [Tally(day=r.day, outcome=r.outcome, count=r.count) for r in rows]


# The member centre's identity kinds that OneID knows (a card number identifies nobody
# outside the member centre).
_MEMBER_IDENTITIES = {
    "phone": IdKind.phone,
    "email": IdKind.email,
    "wechat_union": IdKind.union_id,
    "wechat_open": IdKind.open_id,
}


def _member_links(db: Database, tenant_id: str, member_id: str) -> list[list[str]]:
    """A member's id with the phone, e-mail and WeChat ids the member centre holds."""
    with UnitOfWork(db, tenant_id, write=False) as uow:
        held = [(i.kind, i.value) for i in members.identities_of(uow, member_id)]
    links = [[IdKind.member.value, member_id]]
    return links + [[_MEMBER_IDENTITIES[k].value, v] for k, v in held if k in _MEMBER_IDENTITIES]


def _categories(db: Database, event: Event) -> dict[str, str]:
    """An order's SKUs' categories, as the catalogue has them when the order is placed."""
    lines = event.payload.get("lines") if event.type == "order.created" else None
    ids = [str(x["sku_id"]) for x in lines or [] if isinstance(x, dict) and "sku_id" in x]
    if not ids:
        return {}
    with UnitOfWork(db, event.tenant_id, write=False) as uow:
        return {sku: facets[0] for sku, facets in catalog.sku_facets(uow, ids).items()}


@outbox.subscribe("*", "data.collector")
def keep_business_event(db: Database, event: Event) -> None:
    """Every business event joins the person's behaviour events in the warehouse; a
    member's registration and new identities also feed OneID."""
    categories = _categories(db, event)
    rows = model.business_rows(
        event.type, event.payload, event.id, event.occurred_at, utcnow(), categories
    )
    member = rows[0]["member_id"]
    links = [[IdKind.member.value, member]] if member else []
    if event.type in ("member.registered", "member.identity_added"):
        links = _member_links(db, event.tenant_id, member)

    def work(session: Session) -> None:
        ready = [  # an order's lines link nobody
            stream.Buffered(r["event_id"], event.tenant_id, r, [] if i else links)
            for i, r in enumerate(rows)
        ]
        session.add(held(event.id, ready, utcnow()))

    outbox.consume_once(db, "data.collector", event, work)


def _take_batch(db: Database) -> str | None:
    """The batch to ingest: one left unfinished by a crash first, else a new one of inbox
    rows in arrival order, up to INGEST_BATCH events (at least one row)."""
    with db.session(write=True) as session:
        scope_session(session, None)
        left = session.scalar(select(InboxBatch.batch).where(InboxBatch.batch.is_not(None)))
        if left is not None:
            return left
        waiting = session.execute(
            select(InboxBatch.id, InboxBatch.size)
            .where(InboxBatch.batch.is_(None))
            .order_by(InboxBatch.id)
            .limit(INGEST_BATCH)
        ).all()
        sizes = list(itertools.accumulate(size for _id, size in waiting))
        ids = [row.id for row, total in zip(waiting, sizes, strict=True) if total <= INGEST_BATCH]
        ids = ids or [row.id for row in waiting[:1]]
        if not ids:
            return None
        batch = new_id()
        session.execute(update(InboxBatch).where(InboxBatch.id.in_(ids)).values(batch=batch))
        session.commit()
        return batch


def ingest(db: Database) -> int:
    """Relay job (入库): move one batch of inbox events, and with NATS the buffered batches
    waiting in the stream, through OneID into the warehouse; returns how many."""
    return _ingest_inbox(db) + _ingest_stream(db)


_HELD = (
    InboxBatch.tenant_id,
    InboxBatch.received_at,
    InboxBatch.rows,
    InboxBatch.links,
    InboxBatch.ids,
)


def _ingest_inbox(db: Database) -> int:
    """OneID is idempotent for links it has seen, and the warehouse insert carries the
    batch id as its token, so a crash anywhere repeats the batch harmlessly."""
    batch = _take_batch(db)
    if batch is None:
        return 0
    events = _inbox_events(db, batch)
    _store(db, events, batch)
    with db.session(write=True) as session:
        scope_session(session, None)
        session.execute(delete(InboxBatch).where(InboxBatch.batch == batch))
        session.commit()
    return len(events)


def _inbox_events(db: Database, batch: str) -> list[stream.Buffered]:
    """The rows of the inbox batches an ingest batch took, made where they were not."""
    with db.session(write=False) as session:
        scope_session(session, None)
        taken = session.execute(
            select(*_HELD, cast(InboxBatch.events, Text).label("events"))
            .where(InboxBatch.batch == batch)
            .order_by(InboxBatch.id)
        ).all()
    events = []
    for h in taken:
        made = zip(h.rows, h.links, strict=True)
        events += [stream.Buffered(row["event_id"], h.tenant_id, row, links) for row, links in made]
        collected = msgspec.json.decode(h.events, type=list[Raw])
        events += _rows_of(stream.Collected(h.tenant_id, h.received_at, h.ids, collected))
    return events


def _ingest_stream(db: Database) -> int:
    """Each message is acked once its events are stored; one delivered again (a crash in
    between) has the same id, its insert token. One that cannot be stored comes back later
    without holding up the rest. NATS down: the batches wait there, the relay goes on."""
    buffer = stream.buffer_of(db.settings)
    if buffer is None:
        return 0
    stored = 0
    try:
        for taken in buffer.take(INGEST_BATCH // 500):
            try:
                ready = _rows_of(taken.batch)
                _store(db, ready, taken.id)
            except Exception:
                log.exception("buffered batch %s not stored; it will come again", taken.id)
                buffer.release(taken)
                continue
            buffer.ack(taken)
            stored += len(ready)
    except stream.BufferUnavailable:
        log.warning("the event stream is unreachable; its batches wait", exc_info=True)
    return stored


def _merge_members(uow: UnitOfWork, merge: dict[str, Any]) -> None:
    """A member merge reaches OneID; one it cannot make is logged, not retried forever."""
    try:
        oneid.merge_members(uow, str(merge["target_id"]), str(merge["source_id"]))
    except (ValidationFailed, KeyError):
        log.warning("member merge %s not applied in OneID", merge.get("id"), exc_info=True)


def _store(db: Database, events: Sequence[stream.Buffered], token: str) -> None:
    """Links through OneID and real-time tags, tenant by tenant, then the warehouse."""
    by_tenant: dict[str, list[stream.Buffered]] = defaultdict(list)
    for e in events:
        by_tenant[e.tenant_id].append(e)
    rows = [{**e.row, "tenant_id": e.tenant_id} for e in events]
    for tenant_id, mine in by_tenant.items():
        with UnitOfWork(db, tenant_id) as uow:
            oneid.link(uow, [[(IdKind(k), v) for k, v in e.links] for e in mine], "events")
            mine_rows = [r for r in rows if r["tenant_id"] == tenant_id]
            for r in mine_rows:  # after the links: a forgotten member's identifiers are erased
                if r["type"] == "member.forgotten":
                    oneid.forget(uow.session, r["member_id"])
                elif r["type"] == "member.merged":
                    _merge_members(uow, json.loads(r["properties"]))
            tags.on_events(uow, mine_rows)
            uow.commit()
    oneid.flush_mappings(db)
    warehouse.of(db.settings).insert("events", rows, token=token)


class EventOut(BaseModel):
    event_id: str
    source: str
    type: str
    name: str
    time: str
    actor: str
    member_id: str
    channel: str
    store: str
    sku: str
    order_id: str
    amount: int
    qty: int
    properties: str


def timeline(
    settings_db: Database, tenant_id: str, actors: Sequence[str], limit: int
) -> list[EventOut]:
    """A person's behaviour timeline (行为轨迹), newest first."""
    wh = warehouse.of(settings_db.settings)
    rows = wh.rows(
        f"SELECT event_id, source, type, name, toString(time) AS time, actor, member_id,"
        f" channel, store, sku, order_id, amount, qty, properties FROM {wh.database}.events"
        " WHERE tenant_id = {tenant:String} AND actor IN {actors:Array(String)}"
        " ORDER BY time DESC, event_id DESC LIMIT {limit:UInt32}",
        {"tenant": tenant_id, "actors": list(actors), "limit": limit},
    )
    return [EventOut.model_validate(r) for r in rows]
